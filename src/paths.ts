// Where the built parts live. dist/src/paths.js sits two levels below the repository
// root; the C and BPF parts are built by make into <root>/build.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BUILD_DIR = join(REPO_ROOT, 'build');
export const DEVGATE_OBJECT = join(BUILD_DIR, 'devgate.bpf.o');
export const INTERPOSER_LIB = join(BUILD_DIR, 'libgpuslice-vgpu.so');
export const SIMGPU_LIB_DIR = join(BUILD_DIR, 'simgpu');
export const GPULOAD_BIN = join(BUILD_DIR, 'gpuload');
