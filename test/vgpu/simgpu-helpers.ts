// Helpers for the simgpu tests: a simulated GPU set up in a temp dir, and
// gpuload run against it as a real process.
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setupSimGpu, removeSimGpu, type SimGpu, type SimGpuOptions } from '../../src/vgpu/simgpu.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const GPULOAD = join(REPO, 'build/gpuload');
export const MiB = 1n << 20n;
export const GiB = 1n << 30n;

export async function makeSimGpu(t: TestContext, opts: SimGpuOptions): Promise<SimGpu> {
  assert.ok(existsSync(GPULOAD), `${GPULOAD} is missing: run make first`);
  const dir = mkdtempSync(join(tmpdir(), `gpuslice-simgpu-${process.pid}-`));
  t.after(() => removeSimGpu(dir));
  return setupSimGpu(dir, opts);
}

export interface GpuloadReport {
  device: number;
  allocated_bytes: number;
  alloc_error: string | null;
  mem_total: number;
  mem_free: number;
  kernels: number;
  elapsed_s: number;
  kernels_per_s: number;
}

export interface GpuloadRun {
  child: ChildProcess;
  /** resolves with the first stdout line (gpuload reports before --hold) */
  report: Promise<GpuloadReport>;
  /** resolves with the exit code (or the signal name) and all output */
  exit: Promise<{ code: number | string; stdout: string; stderr: string }>;
}

/** Starts gpuload on the simulated GPUs; killed at the end of the test. */
export function startGpuload(
  t: TestContext,
  sg: SimGpu,
  args: string[],
  opts: { uid?: number; gid?: number; wrap?: (argv: string[]) => string[] } = {},
): GpuloadRun {
  const argv = [GPULOAD, ...args];
  const [cmd, ...rest] = opts.wrap ? opts.wrap(argv) : argv;
  const child = spawn(cmd, rest, {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...sg.env },
    uid: opts.uid,
    gid: opts.gid,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  let onLine: ((l: string) => void) | undefined;
  const firstLine = new Promise<string>((res) => (onLine = res));
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    const nl = stdout.indexOf('\n');
    if (nl >= 0) onLine?.(stdout.slice(0, nl));
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<{ code: number | string; stdout: string; stderr: string }>((res) =>
    child.on('close', (code, signal) => res({ code: code ?? signal ?? -1, stdout, stderr })),
  );
  const report = Promise.race([
    firstLine.then((l) => JSON.parse(l) as GpuloadReport),
    exit.then((e) => {
      throw new Error(`gpuload ${args.join(' ')} exited ${e.code} before reporting: ${e.stderr}`);
    }),
  ]);
  report.catch(() => {});
  return { child, report, exit };
}

/** Runs gpuload to the end and returns its report, exit code and stderr. */
export async function gpuload(
  t: TestContext,
  sg: SimGpu,
  args: string[],
  opts: Parameters<typeof startGpuload>[3] = {},
): Promise<{ code: number | string; stdout: string; stderr: string; report?: GpuloadReport }> {
  const r = startGpuload(t, sg, args, opts);
  const e = await r.exit;
  const line = e.stdout.split('\n')[0];
  return { ...e, report: line ? (JSON.parse(line) as GpuloadReport) : undefined };
}
