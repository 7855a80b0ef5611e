// The ledger's byte layout, mirrored from src/vgpu/c/include/gs_ledger.h (the one
// definition). Pure: encode and decode Buffers, no I/O. The shared test vectors in
// test/fixtures/ledger/ (written by build/ledger-vectors from the C header) hold
// these offsets to the C ones.
import { GpusliceError } from '../errors.js';

export const LEDGER_VERSION = 2;
export const MAX_DEVICES = 16;
export const MAX_SLOTS = 128;
export const LIMITS_FILE = 'vgpu.limits';
export const USAGE_FILE = 'vgpu.usage';
export const LIMITS_MAGIC = 0x4d4c5347; // "GSLM"
export const USAGE_MAGIC = 0x53555347; // "GSUS"
export const MEM_UNLIMITED = 0xffff_ffff_ffff_ffffn;
export const MEM_LIMIT_MAX = 2 ** 50; // 1 PiB: anything above is a typo
export const SHARE_ONE = 1_000_000; // compute share in parts per million
export const PERIOD_US_DEFAULT = 100_000;
export const PERIOD_US_MIN = 1_000;
export const PERIOD_US_MAX = 10_000_000;
export const WAIT_TIMEOUT_MS_MAX = 24 * 3600 * 1000;
export const DEV_PRESENT = 1;

export const LIMITS = {
  size: 544,
  magic: 0, version: 4, ndev: 6, sizeField: 8, periodUs: 12, gen: 16, dev: 32,
  devSize: 32,
  d: { memLimit: 0, computePpm: 8, memPolicy: 12, waitTimeoutMs: 16, flags: 20 },
} as const;

export const USAGE = {
  size: 72768,
  magic: 0, version: 4, nslots: 6, sizeField: 8, stallState: 16, someUs: 24, fullUs: 32, dev: 64, slot: 1088,
  devSize: 64,
  d: { memUsed: 0, tokensNs: 8, refillNs: 16, memPeak: 24, retiredLaunches: 32, retiredGpuNs: 40, retiredStallNs: 48 },
  slotSize: 560,
  s: { owner: 0, startTime: 8, pidns: 16, nthreads: 24, nstalled: 28, exeDev: 32, exeIno: 40, dev: 48 },
  slotDevSize: 32,
  sd: { mem: 0, launches: 8, gpuNs: 16, stallNs: 24 },
} as const;

export const STALL_COUNT_BITS = 12n;
export const STALL_COUNT_MASK = (1n << STALL_COUNT_BITS) - 1n;
export const STALL_TIME_SHIFT = 24n;
export const STALL_TIME_MASK = (1n << 40n) - 1n;

export type MemoryPolicy = 'fail' | 'wait';

/** What the daemon grants one device; absent devices get nothing. */
export interface DeviceLimits {
  /** bytes; null = not limited (the device's own size) */
  memoryBytes: number | null;
  /** fraction of the device's time, in (0, 1]; 1 = not paced */
  computeShare: number;
  /** over the memory limit: fail at once, or wait (as stall) for room */
  memoryPolicy?: MemoryPolicy;
  /** policy wait: give up after this many ms (default 30 s) */
  waitTimeoutMs?: number;
}

export interface Limits {
  /** index = the device's index (NVML index, /dev/nvidiaN minor); null = not given */
  devices: Array<DeviceLimits | null>;
  /** control period in µs (default 100 ms): burst size and how fast changes apply */
  periodUs?: number;
}

export interface LimitsRead extends Limits {
  devices: Array<DeviceLimits | null>;
  periodUs: number;
  generation: bigint;
}

function refuse(field: string, value: unknown, why: string): never {
  throw new GpusliceError('GS_ERR_LEDGER_LIMITS', `refusing to write vGPU limits: ${field} ${why} (got ${String(value)})`, {
    op: 'writeLimits', value: String(value),
  });
}

/** Throws GS_ERR_LEDGER_LIMITS naming the first bad field. */
export function validateLimits(limits: Limits): void {
  if (!limits || !Array.isArray(limits.devices)) refuse('devices', limits?.devices, 'must be an array');
  if (limits.devices.length > MAX_DEVICES) refuse('devices', limits.devices.length, `must list at most ${MAX_DEVICES} devices`);
  const p = limits.periodUs ?? PERIOD_US_DEFAULT;
  if (!Number.isInteger(p) || p < PERIOD_US_MIN || p > PERIOD_US_MAX) refuse('periodUs', p, `must be an integer in [${PERIOD_US_MIN}, ${PERIOD_US_MAX}]`);
  limits.devices.forEach((d, i) => {
    if (d === null || d === undefined) return;
    const m = d.memoryBytes;
    if (m !== null && (typeof m !== 'number' || !Number.isInteger(m) || m < 0 || m > MEM_LIMIT_MAX)) {
      refuse(`devices[${i}].memoryBytes`, m, 'must be null or an integer number of bytes in [0, 1 PiB]');
    }
    const s = d.computeShare;
    if (typeof s !== 'number' || !Number.isFinite(s) || s <= 0 || s > 1) refuse(`devices[${i}].computeShare`, s, 'must be in (0, 1]');
    if (Math.round(s * SHARE_ONE) < 1) refuse(`devices[${i}].computeShare`, s, 'is below one part per million');
    if (d.memoryPolicy !== undefined && d.memoryPolicy !== 'fail' && d.memoryPolicy !== 'wait') {
      refuse(`devices[${i}].memoryPolicy`, d.memoryPolicy, "must be 'fail' or 'wait'");
    }
    const w = d.waitTimeoutMs ?? 30_000;
    if (!Number.isInteger(w) || w < 0 || w > WAIT_TIMEOUT_MS_MAX) refuse(`devices[${i}].waitTimeoutMs`, w, 'must be an integer in [0, 24 h]');
  });
}

/** The device records and header fields the seqlock protects (all but magic/version/size/gen). */
export function encodeLimits(limits: Limits, generation: bigint): Buffer {
  validateLimits(limits);
  const b = Buffer.alloc(LIMITS.size);
  b.writeUInt32LE(LIMITS_MAGIC, LIMITS.magic);
  b.writeUInt16LE(LEDGER_VERSION, LIMITS.version);
  b.writeUInt16LE(limits.devices.length, LIMITS.ndev);
  b.writeUInt32LE(LIMITS.size, LIMITS.sizeField);
  b.writeUInt32LE(limits.periodUs ?? PERIOD_US_DEFAULT, LIMITS.periodUs);
  b.writeBigUInt64LE(generation, LIMITS.gen);
  limits.devices.forEach((d, i) => {
    if (!d) return;
    const o = LIMITS.dev + i * LIMITS.devSize;
    b.writeBigUInt64LE(d.memoryBytes === null ? MEM_UNLIMITED : BigInt(d.memoryBytes), o + LIMITS.d.memLimit);
    b.writeUInt32LE(Math.round(d.computeShare * SHARE_ONE), o + LIMITS.d.computePpm);
    b.writeUInt32LE(d.memoryPolicy === 'wait' ? 1 : 0, o + LIMITS.d.memPolicy);
    b.writeUInt32LE(d.waitTimeoutMs ?? 30_000, o + LIMITS.d.waitTimeoutMs);
    b.writeUInt32LE(DEV_PRESENT, o + LIMITS.d.flags);
  });
  return b;
}

function badFormat(what: string, path: string | undefined, why: string): never {
  throw new GpusliceError('GS_ERR_LEDGER_FORMAT', `${what}${path ? ` ${path}` : ''} is not a valid ledger file: ${why}`, { path });
}

/** Parses a vgpu.limits image; GS_ERR_LEDGER_FORMAT on wrong magic, version or size. */
export function decodeLimits(b: Buffer, path?: string): LimitsRead {
  if (b.length !== LIMITS.size) badFormat('limits', path, `${b.length} bytes, expected ${LIMITS.size}`);
  if (b.readUInt32LE(LIMITS.magic) !== LIMITS_MAGIC) badFormat('limits', path, 'wrong magic');
  if (b.readUInt16LE(LIMITS.version) !== LEDGER_VERSION) badFormat('limits', path, `version ${b.readUInt16LE(LIMITS.version)}`);
  if (b.readUInt32LE(LIMITS.sizeField) !== LIMITS.size) badFormat('limits', path, 'wrong size in header');
  const ndev = b.readUInt16LE(LIMITS.ndev);
  if (ndev > MAX_DEVICES) badFormat('limits', path, `${ndev} devices`);
  const devices: Array<DeviceLimits | null> = [];
  for (let i = 0; i < ndev; i++) {
    const o = LIMITS.dev + i * LIMITS.devSize;
    if (!(b.readUInt32LE(o + LIMITS.d.flags) & DEV_PRESENT)) {
      devices.push(null);
      continue;
    }
    const mem = b.readBigUInt64LE(o + LIMITS.d.memLimit);
    devices.push({
      memoryBytes: mem === MEM_UNLIMITED ? null : Number(mem),
      computeShare: b.readUInt32LE(o + LIMITS.d.computePpm) / SHARE_ONE,
      memoryPolicy: b.readUInt32LE(o + LIMITS.d.memPolicy) === 1 ? 'wait' : 'fail',
      waitTimeoutMs: b.readUInt32LE(o + LIMITS.d.waitTimeoutMs),
    });
  }
  return { devices, periodUs: b.readUInt32LE(LIMITS.periodUs), generation: b.readBigUInt64LE(LIMITS.gen) };
}

/** A fresh vgpu.usage image: header only, every counter zero. */
export function newUsage(): Buffer {
  const b = Buffer.alloc(USAGE.size);
  b.writeUInt32LE(USAGE_MAGIC, USAGE.magic);
  b.writeUInt16LE(LEDGER_VERSION, USAGE.version);
  b.writeUInt16LE(MAX_SLOTS, USAGE.nslots);
  b.writeUInt32LE(USAGE.size, USAGE.sizeField);
  return b;
}

export function checkUsage(b: Buffer, path?: string): void {
  if (b.length !== USAGE.size) badFormat('usage', path, `${b.length} bytes, expected ${USAGE.size}`);
  if (b.readUInt32LE(USAGE.magic) !== USAGE_MAGIC) badFormat('usage', path, 'wrong magic');
  if (b.readUInt16LE(USAGE.version) !== LEDGER_VERSION) badFormat('usage', path, `version ${b.readUInt16LE(USAGE.version)}`);
  if (b.readUInt32LE(USAGE.sizeField) !== USAGE.size || b.readUInt16LE(USAGE.nslots) !== MAX_SLOTS) {
    badFormat('usage', path, 'wrong size in header');
  }
}
