// The CUDA driver under the interposer's end-to-end tests. simgpu by default, on any
// machine; `GPUSLICE_TEST_DRIVER=nvidia npm test` puts NVIDIA's own libcuda.so.1 (from
// the system's library path) under the same tests, on GPU 0, so the interposer is
// checked against the real driver wherever there is one.
import { spawnSync } from 'node:child_process';

export type TestDriver = 'simgpu' | 'nvidia';

export function selectedDriver(env: NodeJS.ProcessEnv = process.env): TestDriver {
  const v = env.GPUSLICE_TEST_DRIVER || 'simgpu';
  if (v !== 'simgpu' && v !== 'nvidia') throw new Error(`GPUSLICE_TEST_DRIVER=${v}: expected simgpu or nvidia`);
  return v;
}

/** The environment that reaches NVIDIA's driver: the system's, with nothing of simgpu in it. */
export function nvidiaEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...base, CUDA_VISIBLE_DEVICES: '0', CUDA_DEVICE_ORDER: 'PCI_BUS_ID' };
  delete e.SIMGPU_DIR;
  delete e.LD_PRELOAD;
  delete e.GPUSLICE_LEDGER;
  return e;
}

export interface NvidiaGpu {
  /** what the driver reports as GPU 0's total memory, without the interposer */
  memoryBytes: number;
}

let probed: NvidiaGpu | string | undefined;

/**
 * Asks the real driver, without the interposer, for GPU 0: its memory, or why the
 * tests cannot use it (no libcuda.so.1, or cuInit's error where there is no GPU).
 */
export function probeNvidia(gpuload: string): NvidiaGpu | string {
  if (probed !== undefined) return probed;
  const r = spawnSync(gpuload, ['--alloc', '0', '--json'], { env: nvidiaEnv(), encoding: 'utf8', timeout: 60_000 });
  if (r.status === 0) {
    probed = { memoryBytes: JSON.parse(r.stdout.trim().split('\n').pop()!).mem_total };
  } else {
    const why = (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n')[0];
    probed = `GPUSLICE_TEST_DRIVER=nvidia, but NVIDIA's driver has no GPU 0 here: ${why}`;
  }
  return probed;
}
