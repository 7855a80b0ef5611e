// The ledger's TypeScript side against the C layout: the shared vectors in
// test/fixtures/ledger/ were written by build/ledger-vectors from gs_ledger.h.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  LIMITS, USAGE, LIMITS_MAGIC, USAGE_MAGIC, MAX_DEVICES, MAX_SLOTS, decodeLimits, decodeUsage, encodeLimits, initUsage,
  readLimits, readUsage, reclaimDeadSlots, writeLimits, type Limits,
} from '../../src/vgpu/ledger.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const fixtures = join(root, 'test/fixtures/ledger');
const vectors = join(root, 'build/ledger-vectors');
const GiB = 1024 ** 3;

function tmp(t: { after: (fn: () => void) => void }): string {
  const d = mkdtempSync(join(tmpdir(), `gs-ledger-${process.pid}-`));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function cJson(...args: string[]): any {
  return JSON.parse(execFileSync(vectors, args, { encoding: 'utf8' }));
}

// the limits the C sample vector holds (ledger-vectors.c sample_limits)
const sampleLimits: Limits = {
  periodUs: 100_000,
  devices: [
    { memoryBytes: GiB, computeShare: 0.25, memoryPolicy: 'fail', waitTimeoutMs: 0 },
    null,
    { memoryBytes: null, computeShare: 0.75, memoryPolicy: 'wait', waitTimeoutMs: 30_000 },
  ],
};

test('layout: the TypeScript offsets are the C header\'s', () => {
  const l = JSON.parse(readFileSync(join(fixtures, 'layout-v2.json'), 'utf8'));
  assert.equal(l.limitsSize, LIMITS.size);
  assert.equal(l.usageSize, USAGE.size);
  assert.equal(l.limitsMagic, LIMITS_MAGIC);
  assert.equal(l.usageMagic, USAGE_MAGIC);
  assert.equal(l.maxDevices, MAX_DEVICES);
  assert.equal(l.maxSlots, MAX_SLOTS);
  assert.deepEqual(l.limits, { magic: 0, version: 4, ndev: 6, size: 8, period_us: 12, gen: 16, dev: 32 });
  assert.equal(l.limits.dev, LIMITS.dev);
  assert.deepEqual(l.limitsDevice, { mem_limit: LIMITS.d.memLimit, compute_ppm: LIMITS.d.computePpm, mem_policy: LIMITS.d.memPolicy, wait_timeout_ms: LIMITS.d.waitTimeoutMs, flags: LIMITS.d.flags });
  assert.deepEqual(l.usage, { magic: 0, version: 4, nslots: 6, size: 8, stall_state: USAGE.stallState, some_us: USAGE.someUs, full_us: USAGE.fullUs, dev: USAGE.dev, slot: USAGE.slot });
  assert.deepEqual(l.usageDevice, { mem_used: USAGE.d.memUsed, tokens_ns: USAGE.d.tokensNs, refill_ns: USAGE.d.refillNs, mem_peak: USAGE.d.memPeak, retired_launches: USAGE.d.retiredLaunches, retired_gpu_ns: USAGE.d.retiredGpuNs, retired_stall_ns: USAGE.d.retiredStallNs });
  assert.deepEqual(l.slot, { owner: USAGE.s.owner, start_time: USAGE.s.startTime, pidns: USAGE.s.pidns, nthreads: USAGE.s.nthreads, nstalled: USAGE.s.nstalled, exe_dev: USAGE.s.exeDev, exe_ino: USAGE.s.exeIno, dev: USAGE.s.dev });
  assert.deepEqual(l.slotDevice, { mem: USAGE.sd.mem, launches: USAGE.sd.launches, gpu_ns: USAGE.sd.gpuNs, stall_ns: USAGE.sd.stallNs });
  assert.equal(l.usageDeviceSize, USAGE.devSize);
  assert.equal(l.slotSize, USAGE.slotSize);
});

test('layout: the fixtures are what the current C header produces', (t) => {
  if (!existsSync(vectors)) return t.skip('build/ledger-vectors not built (run make)');
  const d = tmp(t);
  assert.equal(execFileSync(vectors, ['layout'], { encoding: 'utf8' }), readFileSync(join(fixtures, 'layout-v2.json'), 'utf8'));
  execFileSync(vectors, ['limits', join(d, 'l')]);
  execFileSync(vectors, ['usage', join(d, 'u')]);
  assert.ok(readFileSync(join(d, 'l')).equals(readFileSync(join(fixtures, 'limits-v2.bin'))));
  assert.ok(readFileSync(join(d, 'u')).equals(readFileSync(join(fixtures, 'usage-v2.bin'))));
});

test('limits vector: TypeScript decodes the C bytes and encodes the same bytes', () => {
  const c = readFileSync(join(fixtures, 'limits-v2.bin'));
  const l = decodeLimits(c);
  assert.equal(l.generation, 42n);
  assert.equal(l.periodUs, 100_000);
  assert.deepEqual(l.devices, sampleLimits.devices);
  assert.ok(encodeLimits(sampleLimits, 42n).equals(c));
});

test('usage vector: TypeScript decodes the C bytes', () => {
  const u = decodeUsage(readFileSync(join(fixtures, 'usage-v2.bin')), 123456789n);
  assert.equal(u.devices[0].memoryBytes, 768 * 2 ** 20);
  assert.equal(u.devices[0].memoryPeakBytes, 900 * 2 ** 20);
  // totals = retired + live slots
  assert.equal(u.devices[0].launches, 10 + 100 + 3);
  assert.equal(u.devices[0].gpuTimeNs, 2_000_000 + 5_000_000 + 30_000);
  assert.equal(u.devices[0].stallNs, 300_000 + 250_000);
  assert.deepEqual(u.slots.map((s) => [s.index, s.pid, s.startTime, s.threads, s.stalledThreads]), [[0, 4242, 99999n, 2, 1], [5, 777, 1234n, 1, 0]]);
  assert.equal(u.slots[0].pidNs, 4026531836n);
  assert.equal(u.slots[0].devices[0].memoryBytes, 512 * 2 ** 20);
  // 2 of 3 threads stalled since t=123456789µs, read at that very time
  assert.deepEqual(u.stall, { someUs: 5000, fullUs: 1500, stalledThreads: 2, gpuThreads: 3 });
  const later = decodeUsage(readFileSync(join(fixtures, 'usage-v2.bin')), 123456789n + 700n);
  assert.equal(later.stall.someUs, 5700);
  assert.equal(later.stall.fullUs, 1500); // not all stalled: no full time
});

test('writeLimits: C reads what TypeScript wrote; updates happen in place with an even generation', async (t) => {
  if (!existsSync(vectors)) return t.skip('build/ledger-vectors not built (run make)');
  const d = tmp(t);
  const g1 = await writeLimits(d, sampleLimits);
  const path = join(d, 'vgpu.limits');
  assert.equal(statSync(path).mode & 0o777, 0o644);
  const ino = statSync(path).ino;
  let c = cJson('dump-limits', path);
  assert.equal(c.valid, true);
  assert.equal(c.dev[0].mem_limit, String(GiB));
  assert.equal(c.dev[0].compute_ppm, 250000);
  assert.equal(c.dev[2].mem_policy, 1);
  const g2 = await writeLimits(d, { devices: [{ memoryBytes: 2 * GiB, computeShare: 0.5 }] });
  assert.equal(g2, g1 + 2n);
  assert.equal(statSync(path).ino, ino, 'updated in place, so MAP_SHARED readers see it');
  c = cJson('dump-limits', path);
  assert.equal(c.gen, Number(g2));
  assert.equal(c.ndev, 1);
  assert.equal(c.dev[0].mem_limit, String(2 * GiB));
  const r = await readLimits(d);
  assert.deepEqual(r.devices, [{ memoryBytes: 2 * GiB, computeShare: 0.5, memoryPolicy: 'fail', waitTimeoutMs: 30_000 }]);
});

test('writeLimits: a generation left odd by a killed writer is recovered', async (t) => {
  const d = tmp(t);
  await writeLimits(d, sampleLimits);
  const path = join(d, 'vgpu.limits');
  const b = readFileSync(path);
  b.writeBigUInt64LE(7n, LIMITS.gen);
  writeFileSync(path, b);
  await assert.rejects(readLimits(d), { code: 'GS_ERR_LEDGER_FORMAT' });
  assert.equal(await writeLimits(d, sampleLimits), 10n);
  assert.equal((await readLimits(d)).generation, 10n);
});

const bad: Array<[string, Limits]> = [
  ['negative memory', { devices: [{ memoryBytes: -1, computeShare: 0.5 }] }],
  ['absurd memory', { devices: [{ memoryBytes: 2 ** 51, computeShare: 0.5 }] }],
  ['fractional bytes', { devices: [{ memoryBytes: 1.5, computeShare: 0.5 }] }],
  ['share above 1', { devices: [{ memoryBytes: GiB, computeShare: 1.01 }] }],
  ['share 0', { devices: [{ memoryBytes: GiB, computeShare: 0 }] }],
  ['negative share', { devices: [{ memoryBytes: GiB, computeShare: -0.2 }] }],
  ['NaN share', { devices: [{ memoryBytes: GiB, computeShare: Number.NaN }] }],
  ['17 devices', { devices: Array.from({ length: 17 }, () => ({ memoryBytes: GiB, computeShare: 0.1 })) }],
  ['unknown policy', { devices: [{ memoryBytes: GiB, computeShare: 0.1, memoryPolicy: 'maybe' as 'fail' }] }],
  ['negative timeout', { devices: [{ memoryBytes: GiB, computeShare: 0.1, waitTimeoutMs: -5 }] }],
  ['period too short', { periodUs: 10, devices: [] }],
];

for (const [name, limits] of bad) {
  test(`writeLimits refuses ${name} and leaves the file as it was`, async (t) => {
    const d = tmp(t);
    await writeLimits(d, sampleLimits);
    const before = readFileSync(join(d, 'vgpu.limits'));
    await assert.rejects(writeLimits(d, limits), { code: 'GS_ERR_LEDGER_LIMITS' });
    assert.ok(readFileSync(join(d, 'vgpu.limits')).equals(before));
  });
}

test('readLimits / readUsage refuse wrong magic, version, size and truncated files', async (t) => {
  const d = tmp(t);
  const good = encodeLimits(sampleLimits, 2n);
  const cases: Array<[string, Buffer]> = [
    ['magic', Buffer.from(good).fill(0, 0, 4)],
    ['version', (() => { const b = Buffer.from(good); b.writeUInt16LE(9, 4); return b; })()],
    ['size field', (() => { const b = Buffer.from(good); b.writeUInt32LE(100, 8); return b; })()],
    ['truncated', good.subarray(0, 100)],
    ['too long', Buffer.concat([good, Buffer.alloc(8)])],
  ];
  for (const [, b] of cases) {
    writeFileSync(join(d, 'vgpu.limits'), b);
    await assert.rejects(readLimits(d), { code: 'GS_ERR_LEDGER_FORMAT' });
  }
  writeFileSync(join(d, 'vgpu.usage'), Buffer.alloc(USAGE.size));
  await assert.rejects(readUsage(d), { code: 'GS_ERR_LEDGER_FORMAT' });
  await assert.rejects(readLimits(join(d, 'missing')), { code: 'GS_ERR_LEDGER_IO', errno: 'ENOENT' });
});

test('initUsage creates a 0666 file, keeps a valid one, replaces an invalid one', async (t) => {
  const d = tmp(t);
  await initUsage(d);
  const path = join(d, 'vgpu.usage');
  assert.equal(statSync(path).mode & 0o777, 0o666);
  const b = readFileSync(path);
  b.writeBigUInt64LE(12345n, USAGE.dev + USAGE.d.memUsed);
  writeFileSync(path, b);
  await initUsage(d);
  assert.equal((await readUsage(d)).devices[0].memoryBytes, 12345);
  writeFileSync(path, 'garbage');
  await initUsage(d);
  assert.equal((await readUsage(d)).devices[0].memoryBytes, 0);
});

function startTime(pid: number): bigint {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return BigInt(s.slice(s.lastIndexOf(')') + 2).split(' ')[19]);
}

test('reclaimDeadSlots frees the memory of dead and pid-reused processes, keeps live ones', async (t) => {
  if (!existsSync(vectors)) return t.skip('build/ledger-vectors not built (run make)');
  const d = tmp(t);
  await initUsage(d);
  const MiB = 2 ** 20;
  // a process that has exited
  const dead = spawn('true');
  await new Promise((r) => dead.on('exit', r));
  execFileSync(vectors, ['fake-slot', d, String(dead.pid), '12345', '0', String(100 * MiB)]);
  // a live pid whose start time is not the slot's: the slot's process died, the pid was reused
  const live = spawn('sleep', ['30']);
  t.after(() => live.kill('SIGKILL'));
  execFileSync(vectors, ['fake-slot', d, String(live.pid), '1', '0', String(200 * MiB)]);
  // the live process itself
  execFileSync(vectors, ['fake-slot', d, String(live.pid), String(startTime(live.pid!)), '0', String(300 * MiB)]);
  let u = await readUsage(d);
  assert.equal(u.devices[0].memoryBytes, 600 * MiB);
  assert.equal(u.stall.gpuThreads, 3);
  assert.equal(reclaimDeadSlots(d), 2);
  u = await readUsage(d);
  assert.equal(u.devices[0].memoryBytes, 300 * MiB);
  assert.deepEqual(u.slots.map((s) => s.pid), [live.pid]);
  assert.equal(u.stall.gpuThreads, 1);
  assert.equal(reclaimDeadSlots(d), 0, 'reclaiming twice subtracts nothing twice');
  live.kill('SIGKILL');
  await new Promise((r) => live.on('exit', r));
  assert.equal(reclaimDeadSlots(d), 1);
  u = await readUsage(d);
  assert.equal(u.devices[0].memoryBytes, 0);
  assert.equal(u.slots.length, 0);
});
