// What the interposer reports (cuMemGetInfo, NVML), and how it finds its ledger or
// passes through: real processes under LD_PRELOAD on a simulated GPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LIMITS, encodeLimits, initUsage, readUsage, writeLimits } from '../../src/vgpu/ledger.js';
import { need } from '../helpers/capabilities.js';
import { GiB, MiB, REPO, gpuload, gpuloadDone, makeGpu, makeSim, missingBuild, missingGpu } from './interposer-harness.js';

const skip = missingBuild();
const run = promisify(execFile);

// NVML through koffi, i.e. dlopen + dlsym(handle, ...), as monitoring agents do
const nvmlScript = `
import koffi from ${JSON.stringify(join(REPO, 'node_modules/koffi/index.js'))};
const lib = koffi.load('libnvidia-ml.so.1');
const Mem = koffi.struct('nvmlMemory_t', { total: 'uint64', free: 'uint64', used: 'uint64' });
const Mem2 = koffi.struct('nvmlMemory_v2_t', { version: 'uint32', total: 'uint64', reserved: 'uint64', free: 'uint64', used: 'uint64' });
const init = lib.func('int nvmlInit_v2()');
const get = lib.func('int nvmlDeviceGetHandleByIndex_v2(unsigned int, _Out_ void **)');
const info = lib.func('int nvmlDeviceGetMemoryInfo(void *, _Out_ nvmlMemory_t *)');
const info2 = lib.func('int nvmlDeviceGetMemoryInfo_v2(void *, _Inout_ nvmlMemory_v2_t *)');
if (init() !== 0) throw new Error('nvmlInit');
const h = [null];
if (get(0, h) !== 0) throw new Error('handle');
const m = {}; const m2 = { version: 40 | (2 << 24), total: 0, reserved: 0, free: 0, used: 0 };
const r1 = info(h[0], m); const r2 = info2(h[0], m2);
console.log(JSON.stringify({ r1, r2, v1: [m.total, m.used, m.free].map(Number), v2: [m2.total, m2.used, m2.free].map(Number) }));
`;

async function nvml(env: NodeJS.ProcessEnv): Promise<{ r1: number; r2: number; v1: number[]; v2: number[] }> {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', nvmlScript], { env });
  return JSON.parse(stdout);
}

test('cuMemGetInfo and NVML report the virtual GPU: total = limit, used = the container\'s', { skip: missingGpu() ?? false }, async (t) => {
  const sim = makeGpu(t);
  const led = await sim.ledger({ devices: [{ memoryBytes: GiB, computeShare: 1 }] });
  const holder = gpuload(['--alloc', '300M', '--chunk', '100M', '--hold', '30'], sim.env(led), t);
  const h = await holder.report;
  assert.deepEqual([h.mem_total, h.mem_free], [GiB, GiB - 300 * MiB]);
  const n = await nvml(sim.env(led));
  assert.deepEqual(n, { r1: 0, r2: 0, v1: [GiB, 300 * MiB, GiB - 300 * MiB], v2: [GiB, 300 * MiB, GiB - 300 * MiB] });
  // without the interposer the same call shows the whole device (NVIDIA's NVML also
  // counts memory its driver keeps for itself, which cuMemGetInfo leaves out)
  const bare = await nvml({ ...sim.env(null), LD_PRELOAD: '' });
  if (sim.driver === 'simgpu') assert.equal(bare.v1[0], sim.deviceMemory);
  else assert.ok(bare.v1[0] >= sim.deviceMemory, `NVML total ${bare.v1[0]}, driver total ${sim.deviceMemory}`);
  // a limit lowered under current use: free is 0, never a wrapped-around huge number
  await writeLimits(led, { devices: [{ memoryBytes: 200 * MiB, computeShare: 1 }] });
  const low = await nvml(sim.env(led));
  assert.deepEqual(low.v1, [200 * MiB, 300 * MiB, 0]);
  const g = await gpuloadDone(['--alloc', '0'], sim.env(led));
  assert.deepEqual([g.mem_total, g.mem_free], [200 * MiB, 0]);
  holder.proc.kill('SIGKILL');
  await holder.exit;
});

function badLedgers(): Array<[string, Buffer, RegExp]> {
  const good = encodeLimits({ devices: [{ memoryBytes: GiB, computeShare: 0.5 }] }, 2n);
  const patch = (f: (b: Buffer) => void) => {
    const b = Buffer.from(good);
    f(b);
    return b;
  };
  return [
    ['wrong magic', patch((b) => b.writeUInt32LE(0xdeadbeef, 0)), /wrong magic/],
    ['wrong version', patch((b) => b.writeUInt16LE(7, 4)), /unsupported version/],
    ['wrong size field', patch((b) => b.writeUInt32LE(100, 8)), /wrong size/],
    ['truncated', good.subarray(0, 200), /truncated/],
    ['absurd memory limit', patch((b) => b.writeBigUInt64LE(1n << 60n, LIMITS.dev)), /absurd memory limit/],
    ['share above one', patch((b) => b.writeUInt32LE(2_000_000, LIMITS.dev + LIMITS.d.computePpm)), /compute share/],
  ];
}

for (const [name, bytes, why] of badLedgers()) {
  test(`a ledger with ${name} is passed through safely, said once`, { skip: skip ?? false }, async (t) => {
    const sim = makeSim(t);
    const led = join(sim.dir, 'bad');
    mkdirSync(led);
    writeFileSync(join(led, 'vgpu.limits'), bytes);
    await initUsage(led);
    const r = await gpuloadDone(['--alloc', '3G', '--chunk', '512M', '--kernels', '20', '--kernel-us', '100'], sim.env(led));
    assert.equal(r.allocated_bytes, 3 * GiB, 'no limit applied');
    assert.equal(r.mem_total, 8 * GiB);
    const lines = r.stderr.split('\n').filter((l) => l.includes('gpuslice-vgpu'));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], why);
    assert.match(lines[0], /passing CUDA calls through/);
  });
}

test('no ledger: everything passes through, said once', { skip: skip ?? false }, async (t) => {
  const sim = makeSim(t);
  const r = await gpuloadDone(['--alloc', '3G', '--chunk', '512M', '--kernels', '10', '--kernel-us', '100'], sim.env(null));
  assert.equal(r.allocated_bytes, 3 * GiB);
  const lines = r.stderr.split('\n').filter((l) => l.includes('gpuslice-vgpu'));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /no ledger/);
});

test('the ledger is found from /proc/self/cgroup, walking up from a nested cgroup', { skip: skip ?? false }, async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const mount = (await run('findmnt', ['-n', '-o', 'TARGET', '-t', 'cgroup2'])).stdout.split('\n')[0].trim();
  const sim = makeSim(t);
  const name = `gs-vgpu-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const cg = join(mount, name);
  mkdirSync(join(cg, 'inner/deeper'), { recursive: true });
  t.after(() => {
    for (const d of [join(cg, 'inner/deeper'), join(cg, 'inner'), cg]) {
      try {
        rmdirSync(d); // cgroupfs: rmdir, never a recursive rm
      } catch {
        /* already gone */
      }
    }
  });
  // the container is /<name>; the process runs two levels below it
  const state = join(sim.dir, 'state');
  const led = join(state, 'cgroup', name);
  await writeLimits(led, { devices: [{ memoryBytes: 512 * MiB, computeShare: 1 }] });
  await initUsage(led);
  const env = sim.env(null);
  const { stdout } = await run('sh', ['-c', `echo $$ > ${join(cg, 'inner/deeper/cgroup.procs')} && exec ${join(REPO, 'build/gpuload')} --alloc 1G --chunk 64M --json`], { env });
  const r = JSON.parse(stdout);
  assert.equal(r.mem_total, 512 * MiB);
  assert.equal(r.allocated_bytes, 512 * MiB);
  assert.equal((await readUsage(led)).devices[0].memoryPeakBytes, 512 * MiB);
});
