// Denial events from the gate's BPF ring buffer. libbpf's ring_buffer__consume
// reads the memory-mapped buffer without a syscall when it is empty, so a short
// timer costs next to nothing and never blocks the event loop.
import koffi from 'koffi';
import { GpusliceError } from '../errors.js';
import { libbpf, checkPtr, type RingBuffer } from './libbpf.js';
import { decodeEvent, accessString, DEV_BLOCK, EVENT_SIZE, type RawEvent } from './layout.js';

export interface DenialEvent {
  /** the container whose rules denied; 0n when the task had no container entry */
  cgroupId: bigint;
  /** the task's own cgroup (a descendant of the container, or the container) */
  taskCgroupId: bigint;
  pid: number;
  comm: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  /** the access asked for, letters of 'rwm' */
  access: string;
}

export function toDenial(e: RawEvent): DenialEvent {
  return {
    cgroupId: e.containerId,
    taskCgroupId: e.cgroupId,
    pid: e.pid,
    comm: e.comm,
    type: e.type === DEV_BLOCK ? 'b' : 'c',
    major: e.major,
    minor: e.minor,
    access: accessString(e.access),
  };
}

export class DenialReader {
  private rb: RingBuffer | null;
  private cb: bigint | null;
  private timer: NodeJS.Timeout | null = null;

  /** ring_buffer__new on the events map; `deliver` gets each decoded event. */
  constructor(mapFd: number, deliver: (ev: DenialEvent) => void, private readonly intervalMs = 50) {
    const lib = libbpf();
    this.cb = koffi.register((_ctx: unknown, data: unknown, size: number | bigint) => {
      if (Number(size) < EVENT_SIZE) return 0;
      const bytes = Buffer.from(koffi.decode(data, koffi.array('uint8_t', EVENT_SIZE)) as Uint8Array);
      try {
        deliver(toDenial(decodeEvent(bytes)));
      } catch {
        // a listener's exception must not unwind through libbpf
      }
      return 0;
    }, koffi.pointer(lib.sampleCbType));
    try {
      this.rb = checkPtr(lib.ringBufferNew(mapFd, this.cb), 'GS_ERR_BPF_MAP', 'cannot open the denial ring buffer', { op: 'ring_buffer__new' });
    } catch (err) {
      koffi.unregister(this.cb);
      this.cb = null;
      throw err;
    }
  }

  /** Reads what is queued now; returns the number of events. */
  drain(): number {
    if (!this.rb) return 0;
    const n = libbpf().ringBufferConsume(this.rb);
    if (n < 0) throw new GpusliceError('GS_ERR_BPF_MAP', `reading the denial ring buffer failed: ${-n}`, { op: 'ring_buffer__consume' });
    return n;
  }

  start(): void {
    if (this.timer || !this.rb) return;
    this.timer = setInterval(() => {
      try {
        this.drain();
      } catch {
        // reported by the next explicit drain
      }
    }, this.intervalMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.rb) libbpf().ringBufferFree(this.rb);
    this.rb = null;
    if (this.cb !== null) koffi.unregister(this.cb);
    this.cb = null;
  }
}
