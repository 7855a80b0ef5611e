// NVML through koffi: the few calls the daemon needs to size real GPUs. An NVIDIA
// device's NVML index is not always its /dev/nvidiaN minor, so both are read.
// The same binding runs against simgpu's libnvidia-ml.so.1, which is how it is tested.
import koffi from 'koffi';
import { GpusliceError } from '../errors.js';

export interface NvmlGpu {
  index: number;
  /** N of /dev/nvidiaN */
  minor: number;
  name: string;
  memoryBytes: number;
}

const NVML_SUCCESS = 0;

let memoryType: ReturnType<typeof koffi.struct> | undefined;

/**
 * Lists the GPUs NVML sees (nvmlInit_v2, nvmlDeviceGetCount_v2, …GetMemoryInfo).
 * Returns null when the NVML library is not installed; throws GS_ERR_GPU_UNKNOWN
 * when it is there but fails, with NVML's own message.
 */
export function listNvmlGpus(library = 'libnvidia-ml.so.1'): NvmlGpu[] | null {
  let lib: ReturnType<typeof koffi.load>;
  try {
    lib = koffi.load(library);
  } catch {
    return null;
  }
  memoryType ??= koffi.struct('gs_nvmlMemory_t', { total: 'uint64_t', free: 'uint64_t', used: 'uint64_t' });
  const init = lib.func('int nvmlInit_v2(void)');
  const shutdown = lib.func('int nvmlShutdown(void)');
  const errorString = lib.func('const char *nvmlErrorString(int)');
  const count = lib.func('int nvmlDeviceGetCount_v2(_Out_ unsigned int *count)');
  const byIndex = lib.func('int nvmlDeviceGetHandleByIndex_v2(unsigned int index, _Out_ void **device)');
  const memory = lib.func('int nvmlDeviceGetMemoryInfo(void *device, _Out_ gs_nvmlMemory_t *memory)');
  const name = lib.func('int nvmlDeviceGetName(void *device, _Out_ uint8_t *name, unsigned int length)');
  const minor = lib.func('int nvmlDeviceGetMinorNumber(void *device, _Out_ unsigned int *minor)');
  const check = (rc: number, what: string) => {
    if (rc !== NVML_SUCCESS) throw new GpusliceError('GS_ERR_GPU_UNKNOWN', `NVML ${what} failed: ${errorString(rc)} (${rc})`, { op: what });
  };
  check(init(), 'nvmlInit_v2');
  try {
    const n = [0];
    check(count(n), 'nvmlDeviceGetCount_v2');
    const gpus: NvmlGpu[] = [];
    for (let index = 0; index < n[0]; index++) {
      const dev = [null];
      check(byIndex(index, dev), `nvmlDeviceGetHandleByIndex_v2(${index})`);
      const mem = { total: 0n, free: 0n, used: 0n };
      check(memory(dev[0], mem), `nvmlDeviceGetMemoryInfo(${index})`);
      const buf = Buffer.alloc(96);
      check(name(dev[0], buf, buf.length), `nvmlDeviceGetName(${index})`);
      const m = [0];
      check(minor(dev[0], m), `nvmlDeviceGetMinorNumber(${index})`);
      gpus.push({ index, minor: m[0], name: buf.toString('utf8', 0, Math.max(0, buf.indexOf(0))), memoryBytes: Number(mem.total) });
    }
    return gpus;
  } finally {
    shutdown();
  }
}
