// Byte layouts of bpf/devgate.h, encoded and decoded by hand (little-endian,
// as every target we build for). Padding is always written as zeroes: map keys
// are compared byte for byte.
export const DEVGATE_ANY = 0xffffffff;
export const DEVGATE_MAX_MAJORS = 8;
export const MODE_STRICT = 0;
export const MODE_GPU_ONLY = 1;

/** BPF_DEVCG_DEV_* and BPF_DEVCG_ACC_* from linux/bpf.h */
export const DEV_BLOCK = 1;
export const DEV_CHAR = 2;
export const ACC_MKNOD = 1;
export const ACC_READ = 2;
export const ACC_WRITE = 4;

export const CONTAINER_SIZE = 56;
export const RULE_KEY_SIZE = 24;
export const EVENT_SIZE = 48;

export interface ContainerState {
  gen: number;
  cgroupId: bigint;
  mode: number;
  defaultAllow: boolean;
  majors: number[];
}

export function encodeContainer(s: ContainerState): Buffer {
  const b = Buffer.alloc(CONTAINER_SIZE);
  // offset 0: struct bpf_spin_lock, left to the kernel
  b.writeUInt32LE(s.gen >>> 0, 4);
  b.writeBigUInt64LE(s.cgroupId, 8);
  b.writeUInt8(s.mode, 16);
  b.writeUInt8(s.defaultAllow ? 1 : 0, 17);
  b.writeUInt32LE(s.majors.length, 20);
  s.majors.forEach((m, i) => b.writeUInt32LE(m >>> 0, 24 + 4 * i));
  return b;
}

export function decodeContainer(b: Buffer): ContainerState {
  const n = Math.min(b.readUInt32LE(20), DEVGATE_MAX_MAJORS);
  const majors: number[] = [];
  for (let i = 0; i < n; i++) majors.push(b.readUInt32LE(24 + 4 * i));
  return { gen: b.readUInt32LE(4), cgroupId: b.readBigUInt64LE(8), mode: b.readUInt8(16), defaultAllow: b.readUInt8(17) === 1, majors };
}

export interface RuleKey {
  cgroupId: bigint;
  gen: number;
  type: number;
  major: number;
  minor: number;
}

export function encodeRuleKey(k: RuleKey): Buffer {
  const b = Buffer.alloc(RULE_KEY_SIZE);
  b.writeBigUInt64LE(k.cgroupId, 0);
  b.writeUInt32LE(k.gen >>> 0, 8);
  b.writeUInt32LE(k.major >>> 0, 12);
  b.writeUInt32LE(k.minor >>> 0, 16);
  b.writeUInt8(k.type, 20);
  return b;
}

export function decodeRuleKey(b: Buffer): RuleKey {
  return { cgroupId: b.readBigUInt64LE(0), gen: b.readUInt32LE(8), major: b.readUInt32LE(12), minor: b.readUInt32LE(16), type: b.readUInt8(20) };
}

export function u64(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
}

export function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}

export interface RawEvent {
  containerId: bigint;
  cgroupId: bigint;
  pid: number;
  major: number;
  minor: number;
  access: number;
  type: number;
  comm: string;
}

export function decodeEvent(b: Buffer): RawEvent {
  const comm = b.subarray(32, 48);
  const nul = comm.indexOf(0);
  return {
    containerId: b.readBigUInt64LE(0),
    cgroupId: b.readBigUInt64LE(8),
    pid: b.readUInt32LE(16),
    major: b.readUInt32LE(20),
    minor: b.readUInt32LE(24),
    access: b.readUInt16LE(28),
    type: b.readUInt8(30),
    comm: comm.subarray(0, nul < 0 ? 16 : nul).toString('utf8'),
  };
}

/** 'rwm' letters for BPF_DEVCG_ACC_* bits, in that order */
export function accessString(bits: number): string {
  return (bits & ACC_READ ? 'r' : '') + (bits & ACC_WRITE ? 'w' : '') + (bits & ACC_MKNOD ? 'm' : '');
}

export function accessBits(s: string): number {
  let bits = 0;
  for (const c of s) bits |= c === 'r' ? ACC_READ : c === 'w' ? ACC_WRITE : c === 'm' ? ACC_MKNOD : 0;
  return bits;
}
