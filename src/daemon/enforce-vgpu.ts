// vGPU shares as a container enforcer: writes the container's ledger limits
// (<state>/cgroup/<cgroup path>/vgpu.limits, the place the interposer finds from its
// own /proc/self/cgroup), creates its usage file, and gives its command the
// interposer through LD_PRELOAD. Until the elastic controller moves shares, the
// share written is the guarantee, or the ceiling where nothing is guaranteed.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeLimits, initUsage, readUsage, reclaimDeadSlots, type DeviceLimits } from '../vgpu/ledger.js';
import { INTERPOSER_LIB } from '../paths.js';
import type { Container, Enforcer } from './containers.js';
import type { ContainerSettings } from './protocol.js';
import type { Logger } from '../log.js';

/** How often the daemon reclaims the ledger slots of processes that died. */
const RECLAIM_MS = 1000;

export function ledgerDirOf(stateDir: string, cgroupPath: string): string {
  return join(stateDir, 'cgroup', cgroupPath);
}

// a GPU taken away by a reload may still have a context open in the container:
// it gets nothing more, rather than the "not given, not limited" of an absent entry
const TAKEN_AWAY: DeviceLimits = { memoryBytes: 0, computeShare: 0.001, memoryPolicy: 'fail' };

/** Pure: the ledger's per-device limits for a container's settings. */
export function limitsFor(s: ContainerSettings, deviceCount: number): DeviceLimits[] {
  const share = s.computeMin > 0 ? s.computeMin : s.computeMax;
  return Array.from({ length: deviceCount }, (_, i) =>
    s.gpus.includes(i) ? { memoryBytes: s.memoryMax, computeShare: share, memoryPolicy: s.onMemoryLimit } : TAKEN_AWAY,
  );
}

export class VgpuEnforcer implements Enforcer {
  readonly name = 'vgpu';
  private readonly live = new Map<string, string>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly stateDir: string,
    private readonly deviceCount: number,
    /** environment the GPUs need (simgpu's library path and directory) */
    private readonly gpuEnv: Record<string, string>,
    private readonly log: Logger,
  ) {
    this.timer = setInterval(() => this.reclaim(), RECLAIM_MS);
    this.timer.unref();
  }

  async apply(c: Container): Promise<Record<string, string>> {
    const dir = ledgerDirOf(this.stateDir, c.cgroup.cgroupPath);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    const generation = await writeLimits(dir, { devices: limitsFor(c.settings, this.deviceCount) });
    await initUsage(dir);
    this.live.set(c.name, dir);
    this.log.debug({ container: c.name, ledger: dir, generation: generation.toString() }, 'vGPU limits written');
    // the client puts its own LD_PRELOAD and LD_LIBRARY_PATH after these (see cli/run.ts)
    return {
      ...this.gpuEnv,
      LD_PRELOAD: INTERPOSER_LIB,
      GPUSLICE_STATE_DIR: this.stateDir,
      // the driver numbers the container's GPUs from 0, as NVIDIA's container runtime arranges
      CUDA_VISIBLE_DEVICES: c.settings.gpus.join(','),
      // CUDA's default order is fastest first; GPU numbers here are NVML's, which is PCI order
      CUDA_DEVICE_ORDER: 'PCI_BUS_ID',
    };
  }

  async release(c: Container): Promise<void> {
    this.live.delete(c.name);
    await rm(ledgerDirOf(this.stateDir, c.cgroup.cgroupPath), { recursive: true, force: true });
  }

  async describe(c: Container): Promise<Record<string, number>> {
    const u = await readUsage(ledgerDirOf(this.stateDir, c.cgroup.cgroupPath));
    const sum = (f: (d: (typeof u.devices)[number]) => number) => u.devices.reduce((a, d) => a + f(d), 0);
    return {
      gpuMemoryBytes: sum((d) => d.memoryBytes),
      gpuLaunches: sum((d) => d.launches),
      gpuTimeNs: sum((d) => d.gpuTimeNs),
      gpuStallNs: sum((d) => d.stallNs),
      gpuStallSomeUs: u.stall.someUs,
      gpuStallFullUs: u.stall.fullUs,
    };
  }

  /** A SIGKILLed process cannot give back its memory; the daemon does it for it. */
  private reclaim(): void {
    for (const [name, dir] of this.live) {
      try {
        const n = reclaimDeadSlots(dir);
        if (n > 0) this.log.info({ container: name, slots: n }, 'reclaimed the vGPU accounting of dead processes');
      } catch (err) {
        this.log.debug({ container: name, err }, 'cannot reclaim ledger slots');
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
  }
}
