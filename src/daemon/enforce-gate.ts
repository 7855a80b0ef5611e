// The device gate as a container enforcer: before a container's command starts,
// its cgroup gets the BPF program with rules for exactly the GPUs it was given.
// Denials are logged with the container, device and access, and counted.
import { createHash } from 'node:crypto';
import { DeviceGate, rulesForGpus, type DenialEvent } from '../bpf/index.js';
import type { GpuDiscovery } from '../vgpu/devices.js';
import { DEVGATE_OBJECT } from '../paths.js';
import type { Container, Enforcer } from './containers.js';
import type { Logger } from '../log.js';

/** One gate per state dir: /sys/fs/bpf/gpuslice/default for /run/gpuslice, a hash otherwise. */
export function pinDirFor(stateDir: string): string {
  const id = stateDir.replace(/\/+$/, '') === '/run/gpuslice' ? 'default' : `sd-${createHash('sha256').update(stateDir).digest('hex').slice(0, 12)}`;
  return `/sys/fs/bpf/gpuslice/${id}`;
}

export class GateEnforcer implements Enforcer {
  readonly name = 'device-gate';
  private readonly names = new Map<bigint, string>();
  private unsubscribe: () => void;

  private constructor(
    private readonly gate: DeviceGate,
    private readonly discovery: GpuDiscovery,
    private readonly log: Logger,
  ) {
    this.unsubscribe = gate.onDenial((ev) => this.onDenial(ev));
  }

  static async open(stateDir: string, discovery: GpuDiscovery, log: Logger): Promise<GateEnforcer> {
    const gate = await DeviceGate.open({ pinDir: pinDirFor(stateDir), objectPath: DEVGATE_OBJECT, logger: log.child({ part: 'devgate' }) });
    log.info({ pinDir: pinDirFor(stateDir), gpuMajors: discovery.gpuMajors }, 'device gate loaded');
    return new GateEnforcer(gate, discovery, log);
  }

  private onDenial(ev: DenialEvent): void {
    this.log.warn(
      {
        container: this.names.get(ev.cgroupId) ?? null,
        cgroupId: ev.cgroupId.toString(),
        pid: ev.pid,
        comm: ev.comm,
        device: `${ev.type} ${ev.major}:${ev.minor}`,
        access: ev.access,
      },
      'device access denied',
    );
  }

  async apply(c: Container): Promise<void> {
    this.names.set(c.id, c.name);
    await this.gate.apply(c.cgroup.path, c.id, { mode: 'gpu-only', rules: rulesForGpus(this.discovery, c.settings.gpus), gpuMajors: this.discovery.gpuMajors });
  }

  async release(c: Container): Promise<void> {
    // denials are read from the ring buffer a poll later: keep the name for them
    setTimeout(() => {
      // cgroup ids are inode numbers, which a new container may reuse meanwhile
      if (this.names.get(c.id) === c.name) this.names.delete(c.id);
    }, 10_000).unref();
    await this.gate.release(c.id);
  }

  async describe(c: Container): Promise<Record<string, number>> {
    return { denials: await this.gate.denialCount(c.id) };
  }

  async close(): Promise<void> {
    this.unsubscribe();
    await this.gate.close();
  }
}
