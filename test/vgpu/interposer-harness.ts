// Runs gpuload under the interposer on a simulated GPU in a temp dir: the fixture
// programs of the interposer tests and benchmark. Real processes, real LD_PRELOAD.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initUsage, writeLimits, type Limits } from '../../src/vgpu/ledger.js';
import type { GpuloadReport } from './simgpu-helpers.js';
import { nvidiaEnv, probeNvidia, selectedDriver, type TestDriver } from './test-driver.js';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const INTERPOSER = join(REPO, 'build/libgpuslice-vgpu.so');
export const GPULOAD = join(REPO, 'build/gpuload');
export const SIMLIB = join(REPO, 'build/simgpu');
export const GiB = 1024 ** 3;
export const MiB = 1024 ** 2;
export const ENTRIES = ['linked', 'dlsym', 'procaddress'] as const;

/** Why the interposer tests cannot run here, or null. */
export function missingBuild(): string | null {
  for (const f of [INTERPOSER, GPULOAD, join(SIMLIB, 'libcuda.so.1'), join(SIMLIB, 'libnvidia-ml.so.1')]) {
    if (!existsSync(f)) return `${f} not built (run make)`;
  }
  return null;
}

/** Why the tests on the selected driver (see test-driver.ts) cannot run here, or null. */
export function missingGpu(): string | null {
  const m = missingBuild();
  if (m || selectedDriver() === 'simgpu') return m;
  const gpu = probeNvidia(GPULOAD);
  return typeof gpu === 'string' ? gpu : null;
}

export interface Sim {
  dir: string;
  driver: TestDriver;
  /** the whole device's memory, as the driver reports it without the interposer */
  deviceMemory: number;
  /** a fresh directory for one container's ledger, limits written, usage initialised */
  ledger(limits: Limits): Promise<string>;
  env(ledger: string | null, extra?: Record<string, string>): NodeJS.ProcessEnv;
}

/**
 * A simulated GPU of `memory` bytes. The device node is a plain file: these tests are
 * about the interposer, not the device gate, and a plain file needs no mknod (root).
 */
export function makeSim(t: { after: (fn: () => void) => void }, memory = 8 * GiB): Sim {
  const dir = mkdtempSync(join(tmpdir(), `gs-vgpu-${process.pid}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'simgpu/dev'), { recursive: true });
  writeFileSync(join(dir, 'simgpu/config'), `count=1\nmemory=${memory}\n`);
  writeFileSync(join(dir, 'simgpu/dev/nvidia0'), '');
  return {
    dir,
    driver: 'simgpu',
    deviceMemory: memory,
    ledger: ledgers(dir),
    env(ledger, extra = {}) {
      const e: NodeJS.ProcessEnv = {
        ...process.env,
        LD_PRELOAD: INTERPOSER,
        LD_LIBRARY_PATH: SIMLIB,
        SIMGPU_DIR: join(dir, 'simgpu'),
        GPUSLICE_STATE_DIR: join(dir, 'state'),
        ...extra,
      };
      delete e.GPUSLICE_LEDGER;
      if (ledger) e.GPUSLICE_LEDGER = ledger;
      return e;
    },
  };
}

function ledgers(dir: string): Sim['ledger'] {
  let n = 0;
  return async (limits) => {
    const d = join(dir, `ledger${n++}`);
    await writeLimits(d, limits);
    await initUsage(d);
    return d;
  };
}

/**
 * GPU 0 of the driver the test run selected: a simulated GPU of `memory` bytes, or,
 * under GPUSLICE_TEST_DRIVER=nvidia, the machine's real one (use with missingGpu()).
 */
export function makeGpu(t: { after: (fn: () => void) => void }, memory = 8 * GiB): Sim {
  if (selectedDriver() === 'simgpu') return makeSim(t, memory);
  const gpu = probeNvidia(GPULOAD);
  if (typeof gpu === 'string') throw new Error(gpu);
  const dir = mkdtempSync(join(tmpdir(), `gs-vgpu-${process.pid}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    driver: 'nvidia',
    deviceMemory: gpu.memoryBytes,
    ledger: ledgers(dir),
    env(ledger, extra = {}) {
      const e: NodeJS.ProcessEnv = { ...nvidiaEnv(), LD_PRELOAD: INTERPOSER, GPUSLICE_STATE_DIR: join(dir, 'state'), ...extra };
      if (ledger) e.GPUSLICE_LEDGER = ledger;
      return e;
    },
  };
}

// gpuload's --json line, as simgpu's own tests read it
export type { GpuloadReport };

export interface Run {
  proc: ChildProcess;
  /** resolves with the JSON report as soon as it is printed (before --hold ends) */
  report: Promise<GpuloadReport>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

export function gpuload(args: string[], env: NodeJS.ProcessEnv, t?: { after: (fn: () => void) => void }): Run {
  const proc = spawn(GPULOAD, [...args, '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  t?.after(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (b) => (err += b));
  const report = new Promise<GpuloadReport>((resolve, reject) => {
    proc.stdout!.on('data', (b) => {
      out += b;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)));
    });
    // 'close', not 'exit': the last of stdout may arrive after the process is gone
    proc.on('close', (code) => reject(new Error(`gpuload exited ${code} without a report: ${err}`)));
  });
  report.catch(() => {});
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    proc.on('close', (code, signal) => resolve({ code, signal, stderr: err }));
  });
  return { proc, report, exit };
}

export async function gpuloadDone(args: string[], env: NodeJS.ProcessEnv): Promise<GpuloadReport & { stderr: string }> {
  const r = gpuload(args, env);
  const [rep, ex] = await Promise.all([r.report, r.exit]);
  if (ex.code !== 0) throw new Error(`gpuload ${args.join(' ')} exited ${ex.code}: ${ex.stderr}`);
  return { ...rep, stderr: ex.stderr };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
