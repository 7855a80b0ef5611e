// The daemon's side of the ledger against a hostile or careless container: a usage
// file truncated under its mapping, a zombie holding a slot, a daemon killed in the
// middle of a limits update. Real processes, real files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  LIMITS, initUsage, readLimits, readUsage, reclaimDeadSlots, writeLimits, type Limits,
} from '../../src/vgpu/ledger.js';
import { isGpusliceError } from '../../src/errors.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const vectors = join(root, 'build/ledger-vectors');
const lib = join(root, 'build/libgpuslice-ledger.so');
const skip = [vectors, lib].find((f) => !existsSync(f));
const MiB = 2 ** 20;

function tmp(t: { after: (fn: () => void) => void }): string {
  const d = mkdtempSync(join(tmpdir(), `gs-ledger-guard-${process.pid}-`));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function procStat(pid: number): { state: string; start: bigint } {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return { state: f[0], start: BigInt(f[19]) };
}

test('a usage file truncated in a loop under reclaimDeadSlots: the daemon survives, each failure is GS_ERR_LEDGER_FORMAT', { skip: skip ? `${skip} not built` : false }, async (t) => {
  const d = tmp(t);
  await initUsage(d);
  const path = join(d, 'vgpu.usage');
  const image = readFileSync(path);
  // a workload that truncates the file and writes it back, as fast as it can
  const src = `const fs=require('fs');const b=fs.readFileSync(process.argv[1]);const fd=fs.openSync(process.argv[1],'r+');` +
    `const pp=process.ppid;process.stdout.write('go\\n');` +
    // orphaned (this test process died): stop
    `for(let i=0;;i++){fs.ftruncateSync(fd,0);fs.writeSync(fd,b,0,b.length,0);if(!(i&1023)&&process.ppid!==pp)process.exit();}`;
  const child = spawn(process.execPath, ['-e', src, path], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.after(() => child.kill('SIGKILL'));
  await new Promise((r) => child.stdout!.once('data', r));
  let ok = 0;
  let truncated = 0;
  let invalid = 0;
  const deadline = Date.now() + 20_000;
  for (let i = 0; i < 20_000 && Date.now() < deadline; i++) {
    try {
      reclaimDeadSlots(d);
      ok++;
    } catch (err) {
      assert.ok(isGpusliceError(err, 'GS_ERR_LEDGER_FORMAT'), `unexpected ${String(err)}`);
      if (/truncated while in use/.test((err as Error).message)) truncated++;
      else invalid++;
    }
  }
  child.kill('SIGKILL');
  console.log(`reclaims: ${ok} ok, ${invalid} saw an invalid file, ${truncated} hit a truncation while mapped`);
  assert.ok(ok + invalid + truncated > 1000, 'the loop ran');
  // the file, written back whole, is still usable afterwards
  writeFileSync(path, image);
  assert.equal(reclaimDeadSlots(d), 0);
});

test('reclaimDeadSlots takes a zombie for dead: its memory is given back before its parent reaps it', { skip: skip ? `${skip} not built` : false }, async (t) => {
  const d = tmp(t);
  await initUsage(d);
  // sh forks sleep, then becomes a sleep that never waits: the child stays a zombie
  const parent = spawn('sh', ['-c', 'sleep 30 & echo $!; exec sleep 60'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => parent.kill('SIGKILL'));
  const pid = Number(await new Promise<string>((r) => parent.stdout!.once('data', (b) => r(String(b).trim()))));
  const start = procStat(pid).start;
  execFileSync(vectors, ['fake-slot', d, String(pid), String(start), '0', String(512 * MiB)]);
  assert.equal(reclaimDeadSlots(d), 0, 'a live process keeps its slot');
  process.kill(pid, 'SIGKILL');
  const deadline = Date.now() + 5000;
  while (procStat(pid).state !== 'Z' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(procStat(pid).state, 'Z');
  assert.equal(reclaimDeadSlots(d), 1);
  const u = await readUsage(d);
  assert.equal(u.devices[0].memoryBytes, 0);
  assert.equal(u.slots.length, 0);
});

const limits = (mem: number): Limits => ({ periodUs: 100_000, devices: [{ memoryBytes: mem, computeShare: 0.5 }] });

test('writeLimits goes through after a writer died mid-update (odd generation), and the dirs are 0711', { skip: skip ? `${skip} not built` : false }, async (t) => {
  const d = join(tmp(t), 'cgroup/some.slice/ctr');
  assert.equal(await writeLimits(d, limits(256 * MiB)), 2n);
  assert.equal(statSync(d).mode & 0o777, 0o711);
  assert.equal(statSync(join(d, '..')).mode & 0o777, 0o711);
  await initUsage(d);
  assert.equal(statSync(join(d, 'vgpu.usage')).mode & 0o777, 0o666);
  // a daemon killed between "generation odd" and "generation even"
  const path = join(d, 'vgpu.limits');
  const b = readFileSync(path);
  b.writeBigUInt64LE(3n, LIMITS.gen);
  writeFileSync(path, b);
  assert.equal(await writeLimits(d, limits(512 * MiB)), 6n);
  const l = await readLimits(d);
  assert.equal(l.generation, 6n);
  assert.equal(l.devices[0]?.memoryBytes, 512 * MiB);
  // in place: the same inode the interposers have mapped
  const ino = statSync(path).ino;
  assert.equal(await writeLimits(d, limits(MiB)), 8n);
  assert.equal(statSync(path).ino, ino);
  assert.equal((await readLimits(d)).devices[0]?.memoryBytes, MiB);
});
