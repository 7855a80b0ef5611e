// The shared device state of the simulated GPUs, <SIMGPU_DIR>/state, as
// src/vgpu/c/simgpu/simgpu_state.h lays it out: little-endian, u64 counters,
// one device record per simulated GPU and one slot per process that attached.
// The static assertions in that header pin the offsets used here.
import { readFile } from 'node:fs/promises';
import { GpusliceError } from '../errors.js';

export const SIM_STATE_MAGIC = 0x55504753; // "SGPU"
export const SIM_STATE_VERSION = 1;
export const SIM_MAX_DEVICES = 16;
export const SIM_MAX_PROCS = 256;
const OFF_DEV = 128;
const DEV_SIZE = 64;
const OFF_PROC = OFF_DEV + SIM_MAX_DEVICES * DEV_SIZE;
const PROC_SIZE = 416;
export const SIM_STATE_SIZE = OFF_PROC + SIM_MAX_PROCS * PROC_SIZE;

export interface SimGpuDeviceState {
  index: number;
  /** bytes of memory the device has (from the config) */
  capacity: bigint;
  /** bytes allocated by processes not yet known dead */
  used: bigint;
  peakUsed: bigint;
  /** CLOCK_MONOTONIC ns at which the last booked kernel ends */
  busyUntilNs: bigint;
  /** device time booked by all kernels ever launched, ns */
  busyNs: bigint;
  launches: bigint;
}

export interface SimGpuProcessState {
  slot: number;
  pid: number;
  /** field 22 of /proc/PID/stat: with the pid, the process's identity */
  startTicks: bigint;
  attachNs: bigint;
  /** per device, indexed by device */
  memory: bigint[];
  busyNs: bigint[];
  launches: bigint[];
}

export interface SimGpuState {
  count: number;
  /** slots of dead processes reclaimed so far */
  reclaimed: bigint;
  devices: SimGpuDeviceState[];
  processes: SimGpuProcessState[];
}

function bad(message: string, path?: string): GpusliceError {
  return new GpusliceError('GS_ERR_SIMGPU_STATE', message, { op: 'parse', path });
}

/** Decodes the bytes of a state file (pure); throws GS_ERR_SIMGPU_STATE. */
export function parseSimGpuState(buf: Buffer, path?: string): SimGpuState {
  const where = path ?? 'simgpu state';
  if (buf.length !== SIM_STATE_SIZE) {
    throw bad(`${where}: ${buf.length} bytes, expected ${SIM_STATE_SIZE} (another simgpu version?)`, path);
  }
  const magic = buf.readUInt32LE(0);
  const version = buf.readUInt32LE(4);
  if (magic !== SIM_STATE_MAGIC || version !== SIM_STATE_VERSION || buf.readUInt32LE(8) !== SIM_STATE_SIZE) {
    throw bad(`${where}: magic 0x${magic.toString(16)} version ${version}, expected 0x${SIM_STATE_MAGIC.toString(16)} version ${SIM_STATE_VERSION}`, path);
  }
  const count = buf.readUInt32LE(20);
  if (count < 1 || count > SIM_MAX_DEVICES) throw bad(`${where}: device count ${count} out of range`, path);
  const u64 = (off: number) => buf.readBigUInt64LE(off);
  const devices: SimGpuDeviceState[] = [];
  for (let i = 0; i < count; i++) {
    const o = OFF_DEV + i * DEV_SIZE;
    devices.push({
      index: i,
      capacity: u64(o),
      used: u64(o + 8),
      busyUntilNs: u64(o + 16),
      busyNs: u64(o + 24),
      launches: u64(o + 32),
      peakUsed: u64(o + 40),
    });
  }
  const processes: SimGpuProcessState[] = [];
  for (let s = 0; s < SIM_MAX_PROCS; s++) {
    const o = OFF_PROC + s * PROC_SIZE;
    if (u64(o) === 0n) continue;
    const perDev = (base: number) => Array.from({ length: count }, (_, d) => u64(o + base + d * 8));
    processes.push({
      slot: s,
      pid: buf.readUInt32LE(o + 8),
      startTicks: u64(o + 16),
      attachNs: u64(o + 24),
      memory: perDev(32),
      busyNs: perDev(160),
      launches: perDev(288),
    });
  }
  return { count, reclaimed: u64(24), devices, processes };
}

/**
 * Reads <dir>/state (a plain read of the shared file: counters may be a few
 * updates apart from each other). Returns null while no process has
 * attached yet (file missing or still empty).
 */
export async function readSimGpuState(dir: string): Promise<SimGpuState | null> {
  const path = `${dir}/state`;
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new GpusliceError('GS_ERR_SIMGPU_STATE', `cannot read ${path}`, { op: 'read', path, cause: err });
  }
  if (buf.length === 0) return null;
  return parseSimGpuState(buf, path);
}

/** Whether the process of a slot still runs: same pid and same start time. */
export async function simGpuProcessAlive(p: Pick<SimGpuProcessState, 'pid' | 'startTicks'>): Promise<boolean> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${p.pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // comm may contain spaces and parentheses: fields count from the last ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19] !== undefined && BigInt(fields[19]) === p.startTicks;
}
