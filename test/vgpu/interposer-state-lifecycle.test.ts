// The interposer's view of its container across a process's life: exec, a zombie,
// a daemon killed mid-update, which ledger a process may use, CUDA_VISIBLE_DEVICES.
// Real gpuload processes under LD_PRELOAD on a simulated GPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { need } from '../helpers/capabilities.js';
import { join } from 'node:path';
import { LIMITS, readUsage, writeLimits, initUsage } from '../../src/vgpu/ledger.js';
import { GPULOAD, GiB, MiB, gpuloadDone, makeSim, missingBuild, sleep, type GpuloadReport } from './interposer-harness.js';

const skip = missingBuild() ?? false;
// another build of the interposer to hold to the same tests (a baseline), if given
const PRELOAD: Record<string, string> = process.env.GS_TEST_INTERPOSER ? { LD_PRELOAD: process.env.GS_TEST_INTERPOSER } : {};

/** gpuload (or a shell around it) printing several lines: JSON reports and anything else */
function lines(cmd: string, args: string[], env: NodeJS.ProcessEnv, t: { after: (fn: () => void) => void }) {
  const proc = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => proc.kill('SIGKILL'));
  let out = '';
  let err = '';
  const waiters: Array<() => void> = [];
  proc.stdout!.on('data', (b) => {
    out += b;
    waiters.splice(0).forEach((w) => w());
  });
  proc.stderr!.on('data', (b) => (err += b));
  const exit = new Promise<number | null>((r) => proc.on('close', (c) => r(c)));
  const all = () => out.split('\n').filter((l) => l.length > 0);
  return {
    proc, exit, stderr: () => err,
    async line(n: number): Promise<string> {
      const deadline = Date.now() + 20_000;
      while (all().length <= n) {
        if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`no line ${n}: ${out} ${err}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 100);
        });
      }
      return all()[n];
    },
    reports: (): GpuloadReport[] => all().filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)),
  };
}

test('exec: the new image does not see the old image\'s 512 MiB as used', { skip }, async (t) => {
  const sim = makeSim(t);
  const led = await sim.ledger({ devices: [{ memoryBytes: 768 * MiB, computeShare: 1 }] });
  const p = lines(GPULOAD, ['--alloc', '512M', '--json', '--exec-self', '--', '--alloc', '512M', '--json', '--hold', '20'], sim.env(led, PRELOAD), t);
  await p.line(1);
  const [before, after] = p.reports();
  assert.equal(before.allocated_bytes, 512 * MiB);
  assert.equal(after.alloc_error, null, `the new image was refused: ${JSON.stringify(after)}`);
  assert.equal(after.allocated_bytes, 512 * MiB);
  assert.equal(after.mem_free, 256 * MiB);
  const u = await readUsage(led);
  assert.equal(u.devices[0].memoryBytes, 512 * MiB);
  assert.equal(u.slots.length, 1);
  p.proc.kill('SIGTERM');
  await p.exit;
});

test('a SIGKILLed process left unreaped (a zombie) holds no memory: the interposer and simgpu give it back', { skip }, async (t) => {
  const sim = makeSim(t, GiB);
  const led = await sim.ledger({ devices: [{ memoryBytes: GiB, computeShare: 1 }] });
  // sh starts gpuload, then becomes a sleep that never reaps it
  const p = lines('sh', ['-c', '"$0" "$@" & echo "pid $!"; exec sleep 60', GPULOAD, '--alloc', '768M', '--json', '--hold', '60'], sim.env(led, PRELOAD), t);
  const pidLine = (await p.line(0)).startsWith('pid') ? await p.line(0) : await p.line(1);
  await p.line(1);
  const pid = Number(pidLine.split(' ')[1]);
  assert.equal(p.reports()[0].allocated_bytes, 768 * MiB);
  process.kill(pid, 'SIGKILL');
  const state = () => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0];
  for (let i = 0; i < 500 && state() !== 'Z'; i++) await sleep(10);
  assert.equal(state(), 'Z', 'gpuload is a zombie');
  const r = await gpuloadDone(['--alloc', '768M'], sim.env(led, PRELOAD));
  assert.equal(r.alloc_error, null, JSON.stringify(r));
  assert.equal(r.allocated_bytes, 768 * MiB);
  assert.equal(r.mem_free, 256 * MiB);
});

test('limits left mid-update by a killed daemon (odd generation) still hold a new process', { skip }, async (t) => {
  const sim = makeSim(t);
  const led = await sim.ledger({ devices: [{ memoryBytes: GiB, computeShare: 1 }] });
  const path = join(led, 'vgpu.limits');
  const b = readFileSync(path);
  b.writeBigUInt64LE(b.readBigUInt64LE(LIMITS.gen) + 1n, LIMITS.gen);
  writeFileSync(path, b);
  const r = await gpuloadDone(['--alloc', '3G', '--chunk', '64M'], sim.env(led, PRELOAD));
  assert.equal(r.alloc_error, 'CUDA_ERROR_OUT_OF_MEMORY');
  assert.equal(r.allocated_bytes, GiB);
  assert.equal(r.mem_total, GiB);
  assert.match(r.stderr, /mid-update/);
});

/** where cgroup2 is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts) */
function cgroup2Mount(): string {
  const l = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((x) => / - cgroup2 /.test(x));
  return l!.split(' ')[4];
}

test('the ledger of the process\'s cgroup wins over a GPUSLICE_LEDGER of its choosing', { skip }, async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const name = `gs-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const cgdir = join(cgroup2Mount(), name);
  mkdirSync(cgdir);
  t.after(async () => {
    for (let i = 0; i < 50; i++) {
      try {
        rmdirSync(cgdir);
        return;
      } catch {
        await sleep(20);
      }
    }
  });
  const sim = makeSim(t);
  const own = join(sim.dir, 'state/cgroup', name);
  await writeLimits(own, { devices: [{ memoryBytes: 256 * MiB, computeShare: 1 }] });
  await initUsage(own);
  const mine = await sim.ledger({ devices: [{ memoryBytes: null, computeShare: 1 }] });
  // gpuload in the cgroup, pointing GPUSLICE_LEDGER at an unlimited ledger of its own
  const p = lines('sh', ['-c', `echo $$ > ${cgdir}/cgroup.procs && exec "$0" "$@"`, GPULOAD, '--alloc', '1G', '--chunk', '64M', '--json'],
    sim.env(mine, PRELOAD), t);
  await p.line(0);
  assert.equal(await p.exit, 0, p.stderr());
  const r = p.reports()[0];
  assert.equal(r.allocated_bytes, 256 * MiB);
  assert.equal(r.mem_total, 256 * MiB);
  // without a ledger for its cgroup, GPUSLICE_LEDGER is what it uses
  const lone = makeSim(t);
  const led = await lone.ledger({ devices: [{ memoryBytes: 128 * MiB, computeShare: 1 }] });
  assert.equal((await gpuloadDone(['--alloc', '1G'], lone.env(led, PRELOAD))).mem_total, 128 * MiB);
});

test('CUDA_VISIBLE_DEVICES with a UUID entry still maps ordinals to the ledger\'s devices', { skip }, async (t) => {
  const sim = makeSim(t);
  writeFileSync(join(sim.dir, 'simgpu/config'), `count=2\nmemory=${8 * GiB}\n`);
  mkdirSync(join(sim.dir, 'simgpu/dev'), { recursive: true });
  writeFileSync(join(sim.dir, 'simgpu/dev/nvidia1'), '');
  // the container was given device 1 only
  const led = await sim.ledger({ devices: [null, { memoryBytes: GiB, computeShare: 1 }] });
  const env = sim.env(led, { ...PRELOAD, CUDA_VISIBLE_DEVICES: '1,GPU-00000000-0000-0000-0000-000000000000' });
  const r = await gpuloadDone(['--alloc', '3G', '--chunk', '64M'], env);
  assert.equal(r.alloc_error, 'CUDA_ERROR_OUT_OF_MEMORY', JSON.stringify(r));
  assert.equal(r.allocated_bytes, GiB);
  assert.equal(r.mem_total, GiB);
});
