// `gpuslice demo`: the product end to end on simulated GPUs, in a temporary state
// dir and cgroup subtree of its own, then everything is cleaned up. Each step runs
// the real commands (shown as typed) and reads back what they did.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GpusliceError } from '../errors.js';
import { GPULOAD_BIN } from '../paths.js';
import { findCgroup2Mount, CgroupTree } from '../cgroups/index.js';
import { pinDirFor } from '../daemon/enforce-gate.js';
import { removeSimGpu } from '../vgpu/simgpu.js';

const CLI = process.argv[1];
const say = (s = '') => process.stdout.write(s + '\n');
const step = (n: number, title: string) => say(`\n[${n}/5] ${title}`);

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function gpuslice(args: string[], stateDir: string): Promise<Ran> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args.slice(0, 1), '--state-dir', stateDir, ...args.slice(1)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const shown = (args: string[]) => say(`  $ gpuslice ${args.map((a) => (/[\s<>']/.test(a) ? `'${a}'` : a)).join(' ').replace(GPULOAD_BIN, 'gpuload')}`);

// A step whose command failed stops the demo with that command's own words, not a parse error.
function lastJson(args: string[], ran: Ran): Record<string, any> {
  const last = ran.stdout.trim().split('\n').pop() ?? '';
  try {
    if (ran.code === 0) return JSON.parse(last);
  } catch {
    // reported below with the command's output
  }
  throw new GpusliceError('GS_ERR_DEMO_STEP', `demo step failed: gpuslice ${args.join(' ')} exited ${ran.code}\n${ran.stderr.trim()}\n${ran.stdout.trim()}`);
}
const MiB = 2 ** 20;

async function startDaemon(stateDir: string, cgroupRoot: string, policy: string): Promise<{ proc: ChildProcess; log: () => string }> {
  let log = '';
  const proc = spawn(process.execPath, [CLI, 'daemon', '--state-dir', stateDir, '--cgroup-root', cgroupRoot, '--config', policy], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (d) => (log += d));
  proc.stderr!.on('data', (d) => (log += d));
  const deadline = Date.now() + 20_000;
  while (!log.includes('gpuslice daemon ready')) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new GpusliceError('GS_ERR_STATE_DIR', `the demo daemon did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, log: () => log };
}

export async function demoCommand(_argv: string[]): Promise<number> {
  if (process.getuid?.() !== 0) throw new GpusliceError('GS_ERR_USAGE', 'the demo manages cgroups and BPF programs: run it as root');
  const stateDir = await mkdtemp(join(tmpdir(), 'gpuslice-demo-'));
  const cgroupRoot = `gpuslice-demo-${process.pid}`;
  const policy = join(stateDir, 'policy.yaml');
  await writeFile(policy, 'devices:\n  simulate: { count: 2, memory: 4G }\n');
  say('gpuslice demo: the daemon on two simulated 4 GiB GPUs, containers with vGPU limits and compute shares, the BPF device gate.');
  let daemon: Awaited<ReturnType<typeof startDaemon>> | undefined;
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    say('cleaning up: daemon stopped, containers, gate pins and the state dir removed');
    if (daemon && daemon.proc.exitCode === null) {
      const exited = new Promise((r) => daemon!.proc.once('exit', r));
      daemon.proc.kill('SIGTERM');
      await exited;
    }
    try {
      const tree = await CgroupTree.open({ root: cgroupRoot });
      await tree.root.remove({ kill: true, timeoutMs: 5000 });
    } catch {
      // nothing left to remove
    }
    await rm(pinDirFor(stateDir), { recursive: true, force: true });
    await removeSimGpu(join(stateDir, 'simgpu')).catch(() => {});
    await rm(stateDir, { recursive: true, force: true });
  };
  // interrupted, the demo still leaves nothing behind
  const onSignal = () => void cleanup().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    step(1, 'start the daemon');
    say(`  $ gpuslice daemon --state-dir ${stateDir} --cgroup-root ${cgroupRoot}`);
    daemon = await startDaemon(stateDir, cgroupRoot, policy);
    say(`  ready: containers go under ${join(findCgroup2Mount(), cgroupRoot)}`);

    step(2, 'a memory limit: a container with --memory 1G tries to allocate 3 GiB');
    const alloc = ['run', '--gpus', '0', '--memory', '1G', '--', GPULOAD_BIN, '--alloc', '3G', '--chunk', '64M', '--json'];
    shown(alloc);
    const a = lastJson(alloc, await gpuslice(alloc, stateDir));
    say(`  → allocated ${a.allocated_bytes / MiB} MiB, then ${a.alloc_error}; the GPU it sees has ${a.mem_total / MiB} MiB in all`);

    step(3, 'compute shares: two containers saturate GPU 0 for 5 s with shares 25% and 75%');
    const share = (name: string, pct: string) => ['run', '--name', name, '--gpus', '0', '--compute', pct, '--', GPULOAD_BIN, '--kernel-us', '1000', '--duration', '5', '--json'];
    shown(share('small', '25%'));
    shown(share('large', '75%'));
    const [small, large] = await Promise.all([gpuslice(share('small', '25%'), stateDir), gpuslice(share('large', '75%'), stateDir)]);
    const s = lastJson(share('small', '25%'), small);
    const l = lastJson(share('large', '75%'), large);
    say(`  → small: ${s.kernels} kernels of 1 ms (${(s.kernels * 0.1 / s.elapsed_s).toFixed(0)}% of the GPU), large: ${l.kernels} (${(l.kernels * 0.1 / l.elapsed_s).toFixed(0)}%); ratio 1:${(l.kernels / Math.max(1, s.kernels)).toFixed(2)}`);

    step(4, 'the device gate: a container given GPU 0 opens GPU 0, then GPU 1');
    for (const i of [0, 1]) {
      const gate = ['run', '--gpus', '0', '--', 'sh', '-c', `exec 3<${join(stateDir, 'simgpu/dev', `nvidia${i}`)}`];
      shown(gate);
      const g = await gpuslice(gate, stateDir);
      const why = /Operation not permitted/.test(g.stderr) ? 'Operation not permitted: the BPF gate refused it' : /No such device or address/.test(g.stderr) ? 'No such device or address: the gate let it through to the (absent) driver' : g.stderr.trim();
      say(`  → ${why}`);
    }
    // the daemon reads denials from the gate's ring buffer a poll later
    const findDenial = () => daemon!.log().split('\n').find((l) => l.includes('device access denied'));
    for (let i = 0; i < 40 && !findDenial(); i++) await new Promise((r) => setTimeout(r, 50));
    const denial = findDenial();
    if (denial) {
      const d = JSON.parse(denial);
      say(`  daemon log: device access denied: container ${d.container}, pid ${d.pid} (${d.comm}), device ${d.device}, access ${d.access}`);
    }

    step(5, 'status while a container holds 1.5 GiB of its 2 GiB on GPU 1');
    const hold = spawn(process.execPath, [CLI, 'run', '--state-dir', stateDir, '--name', 'holder', '--gpus', '1', '--memory', '2G', '--compute', '50%', '--', GPULOAD_BIN, '--alloc', '1536M', '--chunk', '512M', '--hold', '30'], { stdio: 'ignore' });
    const held = new Promise((r) => hold.once('exit', r));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && hold.exitCode === null) {
      const st = JSON.parse((await gpuslice(['status', '--json'], stateDir)).stdout || '{"containers":[]}');
      if (st.containers.some((c: { name: string; usage: { gpuMemoryBytes?: number } }) => c.name === 'holder' && (c.usage.gpuMemoryBytes ?? 0) >= 1536 * MiB)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    say('  $ gpuslice status');
    say((await gpuslice(['status'], stateDir)).stdout.trimEnd().replace(/^/gm, '  '));
    hold.kill('SIGTERM');
    await held;
    say('\nThe demo is done. The elastic controller and the gpu.pressure files come in later releases.');
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}
