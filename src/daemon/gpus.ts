// The GPUs the daemon shares, and the enforcers that hold containers to them.
// Real NVIDIA GPUs are found under /dev; where there are none, or the policy says
// `devices: simulate`, the daemon drives simulated GPUs (simgpu) whose device nodes
// it makes in <state>/simgpu/dev with the real major, so the gate treats them alike.
import { join } from 'node:path';
import type { Policy } from '../config/index.js';
import type { Logger } from '../log.js';
import { discoverGpus, NVIDIA_MAJOR, type GpuDiscovery } from '../vgpu/devices.js';
import { setupSimGpu } from '../vgpu/simgpu.js';
import { GateEnforcer } from './enforce-gate.js';
import { VgpuEnforcer } from './enforce-vgpu.js';
import type { Enforcer } from './containers.js';
import type { GpuInfo } from './settings.js';

export interface Gpus {
  list: GpuInfo[];
  simulated: boolean;
  /** environment a workload needs to reach these GPUs */
  env: Record<string, string>;
  discovery: GpuDiscovery;
  enforcers: Enforcer[];
}

export const DEFAULT_SIMULATION = { count: 2, memory: 16 * 2 ** 30 };

/** Pure: a discovery for simulated GPU nodes, shaped as for /dev/nvidiaN. */
export function simulatedDiscovery(nodes: string[]): GpuDiscovery {
  return {
    gpus: nodes.map((path, index) => ({ index, vendor: 'nvidia' as const, nodes: [{ path, type: 'c' as const, major: NVIDIA_MAJOR, minor: index, role: 'gpu' as const }] })),
    shared: { nvidia: [], amd: [], intel: [], unknown: [] },
    caps: [],
    gpuMajors: [NVIDIA_MAJOR],
  };
}

export async function openGpus(stateDir: string, policy: Policy, log: Logger): Promise<Gpus> {
  const real = policy.devices.simulate ? null : discoverGpus({ root: '/' });
  let gpus: Omit<Gpus, 'enforcers'>;
  if (real && real.gpus.some((g) => g.vendor === 'nvidia')) {
    // memory per GPU comes from NVML; until it is read, a GPU counts as unlimited
    gpus = { list: real.gpus.map((g) => ({ index: g.index, memoryBytes: Number.MAX_SAFE_INTEGER })), simulated: false, env: {}, discovery: real };
    log.info({ gpus: real.gpus.length }, 'NVIDIA GPUs found');
  } else {
    const sim = policy.devices.simulate ?? DEFAULT_SIMULATION;
    const s = await setupSimGpu(join(stateDir, 'simgpu'), { count: sim.count, memoryBytes: sim.memory });
    gpus = {
      list: s.nodes.map((_, index) => ({ index, memoryBytes: sim.memory })),
      simulated: true,
      env: { ...s.env },
      discovery: simulatedDiscovery(s.nodes),
    };
    log.info({ count: sim.count, memory: sim.memory, dir: s.dir, why: policy.devices.simulate ? 'policy says simulate' : 'no NVIDIA GPU found' }, 'simulated GPUs');
  }
  const gate = await GateEnforcer.open(stateDir, gpus.discovery, log);
  const vgpu = new VgpuEnforcer(stateDir, Math.max(0, ...gpus.list.map((g) => g.index + 1)), gpus.env, log);
  return { ...gpus, enforcers: [gate, vgpu] };
}
