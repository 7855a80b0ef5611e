// From GPU indexes to device rules: a container given GPU i may open that GPU's
// own nodes and the shared nodes of its vendor, read-write (never mknod).
import { GpusliceError } from '../errors.js';
import type { GpuDiscovery, GpuDeviceNode } from '../vgpu/devices.js';
import type { DeviceRule } from './rules.js';

/** The nodes a container given `indexes` needs. Throws GS_ERR_GPU_UNKNOWN. */
export function nodesForGpus(d: GpuDiscovery, indexes: readonly number[] | 'all' | 'none'): GpuDeviceNode[] {
  const wanted = indexes === 'all' ? d.gpus.map((g) => g.index) : indexes === 'none' ? [] : [...new Set(indexes)];
  const out = new Map<string, GpuDeviceNode>();
  for (const i of wanted) {
    const g = d.gpus.find((x) => x.index === i);
    if (!g) {
      const have = d.gpus.map((x) => x.index).join(', ') || 'none';
      throw new GpusliceError('GS_ERR_GPU_UNKNOWN', `GPU ${i} does not exist on this machine (GPUs found: ${have})`, { value: String(i) });
    }
    for (const n of [...g.nodes, ...d.shared[g.vendor]]) out.set(`${n.major}:${n.minor}`, n);
  }
  return [...out.values()];
}

/** Allow rules ('c MAJOR:MINOR rw') for the GPUs given to a container. */
export function rulesForGpus(d: GpuDiscovery, indexes: readonly number[] | 'all' | 'none'): DeviceRule[] {
  return nodesForGpus(d, indexes).map((n) => ({ type: n.type, major: n.major, minor: n.minor, access: 'rw', allow: true }));
}
