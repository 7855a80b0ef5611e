// Parsing a vgpu.usage image (pure): the container's per-device totals, its live
// process slots, and the PSI-like stall totals. Layout: gs_ledger.h via ledger-layout.ts.
import {
  MAX_DEVICES, MAX_SLOTS, STALL_COUNT_BITS, STALL_COUNT_MASK, STALL_TIME_MASK, STALL_TIME_SHIFT, USAGE, checkUsage,
} from './ledger-layout.js';

export interface DeviceUsage {
  /** bytes reserved now by the container's processes */
  memoryBytes: number;
  /** high-water mark of memoryBytes */
  memoryPeakBytes: number;
  /** kernels and graphs launched, ever (live and dead processes) */
  launches: number;
  /** estimated device time of those launches, ns */
  gpuTimeNs: number;
  /** time threads waited in the interposer on this device (pacing, memory), ns */
  stallNs: number;
}

export interface SlotUsage {
  index: number;
  pid: number;
  /** field 22 of /proc/PID/stat when the slot was claimed */
  startTime: bigint;
  /** inode of the process's pid namespace (0 unknown) */
  pidNs: bigint;
  /** being reclaimed by another process right now */
  reclaiming: boolean;
  threads: number;
  stalledThreads: number;
  devices: Array<{ memoryBytes: number; launches: number; gpuTimeNs: number; stallNs: number }>;
}

export interface StallTotals {
  /** µs during which at least one GPU-using thread of the container was stalled */
  someUs: number;
  /** µs during which all of them were */
  fullUs: number;
  stalledThreads: number;
  gpuThreads: number;
}

export interface Usage {
  devices: DeviceUsage[];
  slots: SlotUsage[];
  stall: StallTotals;
}

const RECLAIM_FLAG = 0x8000_0000;

function u64(b: Buffer, off: number): number {
  return Number(b.readBigUInt64LE(off));
}

/**
 * nowUs: CLOCK_MONOTONIC in µs (process.hrtime.bigint() / 1000n on Linux), to add
 * the time spent so far in the current stall state, as the kernel's PSI totals do.
 */
export function decodeUsage(b: Buffer, nowUs: bigint, path?: string): Usage {
  checkUsage(b, path);
  const slots: SlotUsage[] = [];
  for (let i = 0; i < MAX_SLOTS; i++) {
    const o = USAGE.slot + i * USAGE.slotSize;
    const owner = b.readBigUInt64LE(o + USAGE.s.owner);
    const pidField = Number(owner & 0xffff_ffffn);
    if (pidField === 0) continue;
    const devices = [];
    for (let d = 0; d < MAX_DEVICES; d++) {
      const so = o + USAGE.s.dev + d * USAGE.slotDevSize;
      devices.push({
        memoryBytes: u64(b, so + USAGE.sd.mem),
        launches: u64(b, so + USAGE.sd.launches),
        gpuTimeNs: u64(b, so + USAGE.sd.gpuNs),
        stallNs: u64(b, so + USAGE.sd.stallNs),
      });
    }
    slots.push({
      index: i,
      pid: pidField & ~RECLAIM_FLAG,
      startTime: b.readBigUInt64LE(o + USAGE.s.startTime),
      pidNs: b.readBigUInt64LE(o + USAGE.s.pidns),
      reclaiming: (pidField & RECLAIM_FLAG) !== 0,
      threads: b.readUInt32LE(o + USAGE.s.nthreads),
      stalledThreads: b.readUInt32LE(o + USAGE.s.nstalled),
      devices,
    });
  }
  const devices: DeviceUsage[] = [];
  for (let d = 0; d < MAX_DEVICES; d++) {
    const o = USAGE.dev + d * USAGE.devSize;
    const live = slots.filter((s) => !s.reclaiming).map((s) => s.devices[d]);
    const sum = (k: 'launches' | 'gpuTimeNs' | 'stallNs') => live.reduce((a, s) => a + s[k], 0);
    devices.push({
      memoryBytes: u64(b, o + USAGE.d.memUsed),
      memoryPeakBytes: u64(b, o + USAGE.d.memPeak),
      launches: u64(b, o + USAGE.d.retiredLaunches) + sum('launches'),
      gpuTimeNs: u64(b, o + USAGE.d.retiredGpuNs) + sum('gpuTimeNs'),
      stallNs: u64(b, o + USAGE.d.retiredStallNs) + sum('stallNs'),
    });
  }
  const st = b.readBigUInt64LE(USAGE.stallState);
  const stalled = st & STALL_COUNT_MASK;
  const threads = (st >> STALL_COUNT_BITS) & STALL_COUNT_MASK;
  const since = st >> STALL_TIME_SHIFT;
  let someUs = b.readBigUInt64LE(USAGE.someUs);
  let fullUs = b.readBigUInt64LE(USAGE.fullUs);
  if (stalled > 0n) {
    // the state has lasted since `since` (µs modulo 2^40): count it so far
    const delta = ((nowUs & STALL_TIME_MASK) - since) & STALL_TIME_MASK;
    someUs += delta;
    if (stalled >= threads) fullUs += delta;
  }
  return {
    devices,
    slots,
    stall: { someUs: Number(someUs), fullUs: Number(fullUs), stalledThreads: Number(stalled), gpuThreads: Number(threads) },
  };
}
