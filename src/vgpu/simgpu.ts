// Sets up the simulated GPUs (simgpu) in a directory, SIMGPU_DIR:
//   config          count and memory per device, read by libcuda.so.1 and
//                   libnvidia-ml.so.1 of build/simgpu at cuInit/nvmlInit
//   dev/nvidiaN     char device 195:N, opened when a context is created, so
//                   the cgroup device gate decides who may use which GPU
//                   (no driver behind 195:N: open gives ENXIO = granted)
//   state           the shared device state (see simgpu-state.ts)
// Touches the filesystem with mkdir, rename, and the mknod(1) and mount(8)
// binaries (Node has no mknod).
import { execFile } from 'node:child_process';
import { chmod, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { GpusliceError } from '../errors.js';
import { SIM_MAX_DEVICES } from './simgpu-state.js';

const run = promisify(execFile);

export const SIMGPU_DEFAULT_DIR = '/run/gpuslice/simgpu';
/** the character major of /dev/nvidiaN */
export const NVIDIA_MAJOR = 195;

export interface SimGpuOptions {
  /** simulated devices, 1..16 */
  count: number;
  /** memory of each device in bytes */
  memoryBytes: number | bigint;
  /** per-device overrides of memoryBytes, by index */
  memoryPerDevice?: Array<number | bigint | undefined>;
  /** device name (cuDeviceGetName, nvmlDeviceGetName) */
  name?: string;
  /** device time of a kernel other than gpuload's gs_spin, in microseconds */
  kernelDefaultUs?: number;
  /** directory holding libcuda.so.1 and libnvidia-ml.so.1 (default <repo>/build/simgpu) */
  libDir?: string;
}

export interface SimGpu {
  dir: string;
  /** what a workload needs in its environment to run on these GPUs */
  env: { SIMGPU_DIR: string; LD_LIBRARY_PATH: string };
  /** device nodes, by index */
  nodes: string[];
  /** true when a tmpfs was mounted on dir/dev because dir is on a nodev mount */
  mountedDev: boolean;
}

/** <repo>/build/simgpu, found from this module's place in dist/src/vgpu/. */
export function simGpuLibDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../../build/simgpu');
}

function invalid(message: string, value: unknown): GpusliceError {
  return new GpusliceError('GS_ERR_INVALID_ARGUMENT', message, { value: String(value) });
}

/** The config file's text (pure); throws GS_ERR_INVALID_ARGUMENT on bad options. */
export function formatSimGpuConfig(opts: SimGpuOptions): string {
  const { count } = opts;
  if (!Number.isInteger(count) || count < 1 || count > SIM_MAX_DEVICES) {
    throw invalid(`simulated GPU count ${count} out of range: give 1 to ${SIM_MAX_DEVICES}`, count);
  }
  const bytes = (v: number | bigint, what: string): bigint => {
    const b = typeof v === 'bigint' ? v : Number.isSafeInteger(v) ? BigInt(v) : -1n;
    if (b <= 0n || b >= 1n << 62n) throw invalid(`${what}: ${v} is not a byte count between 1 and 2^62`, v);
    return b;
  };
  const lines = ['# simulated GPUs, written by gpuslice (src/vgpu/simgpu.ts)', `count=${count}`];
  lines.push(`memory=${bytes(opts.memoryBytes, 'memory')}`);
  (opts.memoryPerDevice ?? []).forEach((m, i) => {
    if (m === undefined) return;
    if (i >= count) throw invalid(`memory of device ${i}, but only ${count} devices`, i);
    lines.push(`memory.${i}=${bytes(m, `memory of device ${i}`)}`);
  });
  if (opts.name !== undefined) {
    if (!/^[\x20-\x7e]{1,63}$/.test(opts.name)) throw invalid('device name: 1 to 63 printable ASCII characters', opts.name);
    lines.push(`name=${opts.name}`);
  }
  if (opts.kernelDefaultUs !== undefined) {
    if (!Number.isInteger(opts.kernelDefaultUs) || opts.kernelDefaultUs < 0) {
      throw invalid('kernelDefaultUs: a whole number of microseconds', opts.kernelDefaultUs);
    }
    lines.push(`kernel_default_us=${opts.kernelDefaultUs}`);
  }
  return lines.join('\n') + '\n';
}

function setupError(message: string, path: string, op: string, cause?: unknown): GpusliceError {
  return new GpusliceError('GS_ERR_SIMGPU_SETUP', message, { op, path, cause });
}

async function isNode(path: string, minor: number): Promise<boolean> {
  try {
    const st = await stat(path);
    return st.isCharacterDevice() && st.rdev === ((NVIDIA_MAJOR << 8) | minor);
  } catch {
    return false;
  }
}

/** mknod PATH c 195 MINOR, mode 0666 (the gate, not the mode, decides access) */
async function makeNode(path: string, minor: number): Promise<void> {
  if (await isNode(path, minor)) return;
  await rm(path, { force: true });
  try {
    await run('mknod', ['-m', '0666', path, 'c', String(NVIDIA_MAJOR), String(minor)]);
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '').trim();
    throw setupError(`cannot make device node ${path} (c ${NVIDIA_MAJOR}:${minor}): ${stderr || String(err)} (mknod needs root)`, path, 'mknod', err);
  }
}

/** What opening a node gives: ENXIO is the answer of a node with no driver. */
async function probeOpen(path: string): Promise<string> {
  try {
    const fh = await open(path, 'r+');
    await fh.close();
    return 'OK';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'EIO';
  }
}

async function isMountPoint(path: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').some((l) => l.split(' ')[4] === path);
}

async function makeNodes(devDir: string, count: number): Promise<string[]> {
  const nodes: string[] = [];
  for (let i = 0; i < count; i++) {
    nodes.push(join(devDir, `nvidia${i}`));
    await makeNode(nodes[i], i);
  }
  // nodes of devices no longer configured would still be openable
  for (const name of await readdir(devDir)) {
    const m = /^nvidia(\d+)$/.exec(name);
    if (m && Number(m[1]) >= count) await rm(join(devDir, name), { force: true });
  }
  return nodes;
}

/**
 * Writes <dir>/config, makes <dir>/dev/nvidia0..count-1 and an empty,
 * world-writable <dir>/state, and returns the environment a workload needs.
 * Idempotent: a rerun rewrites the config and keeps live state. Where dir
 * is on a nodev mount (e.g. /run), device nodes cannot be opened at all, so
 * a small tmpfs is mounted on <dir>/dev. Needs root (mknod, mount).
 */
export async function setupSimGpu(dir: string, opts: SimGpuOptions): Promise<SimGpu> {
  const text = formatSimGpuConfig(opts);
  const abs = resolve(dir);
  const devDir = join(abs, 'dev');
  try {
    await mkdir(devDir, { recursive: true });
    // workloads of any user read the config and open the nodes
    await chmod(abs, 0o755);
    const tmp = join(abs, `.config.${process.pid}`);
    await writeFile(tmp, text, { mode: 0o644 });
    await rename(tmp, join(abs, 'config'));
  } catch (err) {
    throw setupError(`cannot write the simulated GPU config in ${abs}`, abs, 'write', err);
  }
  let nodes = await makeNodes(devDir, opts.count);
  let mountedDev = false;
  const probe = await probeOpen(nodes[0]);
  if (probe === 'EACCES') {
    if (!(await isMountPoint(devDir))) {
      try {
        await run('mount', ['-t', 'tmpfs', '-o', 'mode=0755,nosuid,size=64k', 'gpuslice-simgpu', devDir]);
      } catch (err) {
        throw setupError(`${abs} is on a nodev mount and a tmpfs could not be mounted on ${devDir}`, devDir, 'mount', err);
      }
    }
    mountedDev = true;
    nodes = await makeNodes(devDir, opts.count);
  }
  const after = mountedDev ? await probeOpen(nodes[0]) : probe;
  if (after !== 'ENXIO' && after !== 'OK') {
    throw setupError(`opening ${nodes[0]} gives ${after}, expected ENXIO (a node with no driver behind it)`, nodes[0], 'open');
  }
  const statePath = join(abs, 'state');
  try {
    const fh = await open(statePath, 'a', 0o666);
    await fh.close();
    await chmod(statePath, 0o666);
  } catch (err) {
    throw setupError(`cannot create ${statePath}`, statePath, 'create', err);
  }
  const libDir = opts.libDir ?? simGpuLibDir();
  return { dir: abs, env: { SIMGPU_DIR: abs, LD_LIBRARY_PATH: libDir }, nodes, mountedDev };
}

/** Unmounts <dir>/dev if setupSimGpu mounted it, and removes dir. */
export async function removeSimGpu(dir: string): Promise<void> {
  const devDir = join(resolve(dir), 'dev');
  if (await isMountPoint(devDir)) {
    try {
      await run('umount', [devDir]);
    } catch (err) {
      throw setupError(`cannot unmount ${devDir}`, devDir, 'umount', err);
    }
  }
  await rm(dir, { recursive: true, force: true });
}
