// Desired settings of a container, in order of precedence: the request (`gpuslice
// run` options) over the unit's [X-GPUSlice] drop-ins over its policy class (named,
// or the first whose matcher fits the cgroup) over the policy's defaults. Pure: the
// policy, the GPUs and the unit settings come in as arguments.
import { GpusliceError } from '../errors.js';
import type { Policy, EffectiveSettings, Matcher, MemoryAmount, UnitGpuSettings } from '../config/index.js';
import { formatSize } from '../config/index.js';
import type { ContainerSettings, ContainerSpec, GpuSelection } from './protocol.js';
import type { Place } from './containers.js';

export interface GpuInfo {
  index: number;
  memoryBytes: number;
}

/** `*` matches within one path segment, `**` across segments, `?` one character. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i];
    if (ch === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * Whether a matcher fits a container. `path` globs match the container's name in
 * the managed subtree (`train-*`) or its full cgroup path (`gpuslice/train-*`);
 * slice and unit matchers look at the segments below the managed subtree for our
 * own containers, so that the daemon's own slice and unit never match them.
 */
export function matches(m: Matcher, where: Place): boolean {
  const full = where.cgroupPath.split('/').filter(Boolean);
  const own = where.name !== undefined ? where.name.split('/').filter(Boolean) : full;
  if (m.path !== undefined) {
    const re = globToRegExp(m.path.replace(/^\/+/, ''));
    return re.test(full.join('/')) || (where.name !== undefined && re.test(own.join('/')));
  }
  const segments = own;
  if (m.slice !== undefined) return segments.some((s) => s === m.slice);
  if (m.unit !== undefined) {
    const re = globToRegExp(m.unit);
    return segments.some((s) => /\.(service|scope)$/.test(s) && re.test(s));
  }
  return false;
}

/** The class a container belongs to: the one named, else the first whose matcher fits. */
export function classFor(policy: Policy, named: string | undefined, where: Place): EffectiveSettings & { name: string | null } {
  if (named !== undefined) {
    const c = Object.hasOwn(policy.classes, named) ? policy.classes[named] : undefined;
    if (!c) {
      const known = Object.keys(policy.classes);
      throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `no class ${named} in the policy (${known.length ? `classes: ${known.join(', ')}` : 'it defines none'})`, { value: named });
    }
    return c;
  }
  for (const c of Object.values(policy.classes)) {
    if (c.match.some((m) => matches(m, where))) return c;
  }
  return { ...policy.defaults, name: null };
}

function resolveGpus(sel: GpuSelection, gpus: GpuInfo[]): number[] {
  if (sel === 'all') return gpus.map((g) => g.index);
  if (sel === 'none') return [];
  const unknown = sel.filter((i) => !gpus.some((g) => g.index === i));
  if (unknown.length) {
    throw new GpusliceError('GS_ERR_GPU_UNKNOWN', `GPU ${unknown.join(', ')} does not exist on this machine (GPUs: ${gpus.length ? gpus.map((g) => g.index).join(', ') : 'none'})`, { value: unknown.join(',') });
  }
  return [...new Set(sel)].sort((a, b) => a - b);
}

/** Bytes of a policy amount on the smallest of the container's GPUs; a share of the whole GPU is no limit. */
function bytesOf(a: MemoryAmount, gpuMemory: number): number | null {
  if ('bytes' in a) return a.bytes;
  if (a.fraction >= 1) return null;
  return Math.floor(a.fraction * gpuMemory);
}

export function resolveSettings(policy: Policy, gpus: GpuInfo[], spec: ContainerSpec, where: Place, unit: UnitGpuSettings = {}): ContainerSettings {
  const cls = classFor(policy, spec.class ?? unit.class, where);
  const indices = resolveGpus(spec.gpus ?? unit.gpus ?? cls.gpus, gpus);
  const chosen = gpus.filter((g) => indices.includes(g.index));
  const gpuMemory = chosen.length ? Math.min(...chosen.map((g) => g.memoryBytes)) : 0;
  const unitMax = unit.memoryMax === undefined ? undefined : bytesOf(unit.memoryMax, gpuMemory);
  const s: ContainerSettings = {
    gpus: indices,
    memoryMax: spec.memory ?? (unitMax !== undefined ? unitMax : bytesOf(cls.memory.max, gpuMemory)),
    memoryMin: spec.memoryMin ?? (unit.memoryMin !== undefined ? bytesOf(unit.memoryMin, gpuMemory) ?? gpuMemory : bytesOf(cls.memory.min, gpuMemory) ?? gpuMemory),
    computeMin: spec.compute ?? unit.computeMin ?? cls.compute.min,
    computeMax: spec.computeMax ?? unit.computeMax ?? cls.compute.max,
    weight: spec.weight ?? unit.computeWeight ?? cls.compute.weight,
    class: cls.name,
    onMemoryLimit: spec.onMemoryLimit ?? unit.onMemoryLimit ?? cls.onMemoryLimit,
  };
  if (s.memoryMax !== null && s.memoryMin > s.memoryMax) {
    throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `guaranteed memory ${formatSize(s.memoryMin)} is above the limit ${formatSize(s.memoryMax)} (from ${spec.memory !== undefined ? '--memory' : `class ${cls.name ?? 'defaults'}`}); lower --memory-min or raise --memory`);
  }
  if (s.computeMin > s.computeMax) {
    throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `guaranteed compute ${s.computeMin * 100}% is above the most it may use, ${s.computeMax * 100}%; lower --compute or raise --compute-max`);
  }
  return s;
}

/**
 * Admission: guarantees must fit the GPUs. On every GPU, the guaranteed memory of
 * its containers must fit its memory and their guaranteed compute shares must not
 * pass 100%; otherwise "a container can always allocate up to its guaranteed memory"
 * could not hold.
 */
export function checkGuarantees(gpus: GpuInfo[]): (next: ContainerSettings, others: ContainerSettings[]) => void {
  return (next, others) => {
    for (const g of next.gpus) {
      const gpu = gpus.find((x) => x.index === g);
      if (!gpu) continue;
      const sharing = others.filter((o) => o.gpus.includes(g));
      const memory = sharing.reduce((a, o) => a + o.memoryMin, next.memoryMin);
      if (memory > gpu.memoryBytes) {
        throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `GPU ${g} cannot guarantee ${formatSize(next.memoryMin)} more: ${formatSize(memory - next.memoryMin)} of its ${formatSize(gpu.memoryBytes)} are guaranteed to ${sharing.length} other container(s)`, { value: String(next.memoryMin) });
      }
      const compute = sharing.reduce((a, o) => a + o.computeMin, next.computeMin);
      if (compute > 1 + 1e-9) {
        throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `GPU ${g} cannot guarantee ${Math.round(next.computeMin * 1000) / 10}% more compute: ${Math.round((compute - next.computeMin) * 1000) / 10}% is guaranteed to ${sharing.length} other container(s)`, { value: String(next.computeMin) });
      }
    }
  };
}
