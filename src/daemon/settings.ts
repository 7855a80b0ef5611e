// Desired settings of a container: what the request asked, over the defaults.
import type { ContainerSettings, ContainerSpec } from './protocol.js';

export function defaultSettings(spec: ContainerSpec): ContainerSettings {
  const gpus = spec.gpus === undefined || spec.gpus === 'all' ? [] : spec.gpus === 'none' ? [] : spec.gpus;
  return {
    gpus,
    memoryMax: spec.memory ?? null,
    memoryMin: spec.memoryMin ?? 0,
    computeMin: spec.compute ?? 0,
    computeMax: spec.computeMax ?? 1,
    weight: spec.weight ?? 100,
    class: spec.class ?? null,
    onMemoryLimit: spec.onMemoryLimit ?? 'fail',
  };
}
