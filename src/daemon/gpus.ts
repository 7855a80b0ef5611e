// The GPUs the daemon shares, and the enforcers that hold containers to them.
import type { Policy } from '../config/index.js';
import type { Logger } from '../log.js';
import type { Enforcer } from './containers.js';
import type { GpuInfo } from './settings.js';

export interface Gpus {
  list: GpuInfo[];
  simulated: boolean;
  enforcers: Enforcer[];
}

const DEFAULT_SIMULATION = { count: 2, memory: 16 * 2 ** 30 };

export async function openGpus(_stateDir: string, policy: Policy, log: Logger): Promise<Gpus> {
  const sim = policy.devices.simulate ?? DEFAULT_SIMULATION;
  const list = Array.from({ length: sim.count }, (_, index) => ({ index, memoryBytes: sim.memory }));
  log.info({ count: sim.count, memory: sim.memory }, 'simulated GPUs');
  return { list, simulated: true, enforcers: [] };
}
