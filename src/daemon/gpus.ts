// The GPUs the daemon shares, and the enforcers that hold containers to them.
// Real NVIDIA GPUs are found under /dev; where there are none, or the policy says
// `devices: simulate`, the daemon drives simulated GPUs (simgpu) whose device nodes
// it makes in <state>/simgpu/dev with the real major, so the gate treats them alike.
import { join } from 'node:path';
import type { Policy } from '../config/index.js';
import { GpusliceError } from '../errors.js';
import type { Logger } from '../log.js';
import { discoverGpus, NVIDIA_MAJOR, type GpuDiscovery } from '../vgpu/devices.js';
import { setupSimGpu } from '../vgpu/simgpu.js';
import { listNvmlGpus, type NvmlGpu } from '../vgpu/nvml.js';
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

/**
 * Pure: re-indexes a discovery by NVML index (what nvidia-smi and users call GPU N),
 * matching each NVML device to its /dev/nvidiaN node by minor number.
 */
export function byNvmlIndex(d: GpuDiscovery, nvml: NvmlGpu[]): GpuDiscovery {
  const gpus = nvml.flatMap((n) => {
    const g = d.gpus.find((x) => x.vendor === 'nvidia' && x.nodes.some((node) => node.major === NVIDIA_MAJOR && node.minor === n.minor));
    return g ? [{ ...g, index: n.index }] : [];
  });
  return { ...d, gpus };
}

export async function openGpus(stateDir: string, policy: Policy, log: Logger): Promise<Gpus> {
  const real = policy.devices.simulate ? null : discoverGpus({ root: '/' });
  let gpus: Omit<Gpus, 'enforcers'>;
  const hasNvidia = real !== null && real.gpus.some((g) => g.vendor === 'nvidia');
  const nvml = hasNvidia ? listNvmlGpus() : null;
  if (hasNvidia && !nvml) {
    // simulating here would hand out 195:N, the real GPUs' own device numbers
    throw new GpusliceError('GS_ERR_GPU_UNKNOWN', 'NVIDIA GPUs are in /dev but libnvidia-ml.so.1 is missing: install the driver\'s NVML, or set devices: simulate in the policy');
  }
  if (real && nvml && nvml.length > 0) {
    const discovery = byNvmlIndex(real, nvml);
    gpus = { list: nvml.map((g) => ({ index: g.index, memoryBytes: g.memoryBytes })), simulated: false, env: {}, discovery };
    log.info({ gpus: nvml.map((g) => ({ index: g.index, minor: g.minor, name: g.name, memory: g.memoryBytes })) }, 'NVIDIA GPUs found');
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
