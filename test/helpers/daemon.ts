// Starts a real `gpuslice daemon` in a temporary state dir and a unique managed
// cgroup subtree, for end-to-end tests through the product's own command line.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pinDirFor } from '../../src/daemon/enforce-gate.js';
import { findCgroup2Mount } from '../../src/cgroups/index.js';

export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export interface TestDaemon {
  stateDir: string;
  cgroupRoot: string;
  proc: ChildProcess;
  log: () => string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

export async function waitUntil(pred: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export interface TestDaemonOptions {
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** reuse a state dir and subtree, as a restarted daemon does */
  stateDir?: string;
  cgroupRoot?: string;
}

export async function startTestDaemon(opts: TestDaemonOptions = {}): Promise<TestDaemon> {
  const extraArgs = [...(opts.args ?? [])];
  const env = opts.env ?? {};
  const stateDir = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'gs-state-'));
  const cgroupRoot = opts.cgroupRoot ?? uniqueName('gpuslice-test');
  // the shipped policy on two simulated 16 GiB GPUs: the same on a machine with an
  // NVIDIA GPU as without, and blind to an /etc/gpuslice/policy.yaml of the host
  if (!extraArgs.includes('--config')) {
    const policy = join(stateDir, 'test-policy.yaml');
    writeFileSync(policy, `${readFileSync(join(REPO, 'config/policy.yaml'), 'utf8')}\ndevices:\n  simulate: { count: 2, memory: 16G }\n`);
    extraArgs.push('--config', policy);
  }
  let out = '';
  const proc = spawn(process.execPath, [CLI, 'daemon', '--state-dir', stateDir, '--cgroup-root', cgroupRoot, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, GPUSLICE_LOG_LEVEL: 'debug', ...env },
  });
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  let exited = false;
  proc.once('exit', () => (exited = true));
  const fail = (why: string): never => {
    // a daemon that did not come up leaves nothing behind either
    if (!exited) proc.kill('SIGKILL');
    if (!opts.stateDir) rmSync(stateDir, { recursive: true, force: true });
    throw new Error(`${why}\ndaemon output:\n${out}`);
  };
  await waitUntil(() => exited || out.includes('gpuslice daemon ready'), 20_000, 'the daemon to be ready').catch((e: Error) => fail(e.message));
  if (exited) fail('the daemon exited at start');
  return {
    stateDir,
    cgroupRoot,
    proc,
    log: () => out,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (!exited) {
        proc.kill(signal);
        await waitUntil(() => exited, 10_000, 'the daemon to exit');
      }
    },
  };
}

/** Removes what a test daemon left: its cgroup subtree (killing processes), gate pins and state dir. */
export function cleanupDaemon(d: TestDaemon, mount: string): void {
  rmSync(pinDirFor(d.stateDir), { recursive: true, force: true });
  spawnSync('umount', [join(d.stateDir, 'simgpu', 'dev')], { stdio: 'ignore' });
  const root = join(mount, d.cgroupRoot);
  if (existsSync(root)) {
    // kill anything left, then remove deepest first
    spawnSync('/bin/sh', ['-c', `for f in $(find "${root}" -name cgroup.kill); do echo 1 > "$f"; done; sleep 0.2; find "${root}" -depth -type d -exec rmdir {} \\; 2>/dev/null`]);
  }
  rmSync(d.stateDir, { recursive: true, force: true });
}

/** A test daemon stopped and cleaned up when the test ends. */
export async function daemonForTest(t: { after: (fn: () => Promise<void>) => void }, opts: TestDaemonOptions = {}): Promise<TestDaemon> {
  const d = await startTestDaemon(opts);
  t.after(async () => {
    await d.stop();
    cleanupDaemon(d, findCgroup2Mount());
  });
  return d;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    // 'close': every byte of stdout and stderr is in by then
    p.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
