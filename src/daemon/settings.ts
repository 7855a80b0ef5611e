// Desired settings of a container, in order of precedence: the request (`gpuslice
// run` options) over the unit's [X-GPUSlice] drop-ins over its policy class (named,
// or the first whose matcher fits the cgroup) over the policy's defaults. Pure: the
// policy, the GPUs and the unit settings come in as arguments.
import { GpusliceError } from '../errors.js';
import type { Policy, EffectiveSettings, Matcher, MemoryAmount, UnitGpuSettings } from '../config/index.js';
import { formatSize } from '../config/index.js';
import type { ContainerSettings, ContainerSpec, GpuSelection } from './protocol.js';

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

/** Whether a matcher fits a cgroup path such as `/system.slice/train-1.service`. */
export function matches(m: Matcher, cgroupPath: string): boolean {
  const segments = cgroupPath.split('/').filter(Boolean);
  if (m.path !== undefined) return globToRegExp(m.path.replace(/^\/+/, '')).test(segments.join('/'));
  if (m.slice !== undefined) return segments.some((s) => s === m.slice);
  if (m.unit !== undefined) {
    const re = globToRegExp(m.unit);
    return segments.some((s) => /\.(service|scope)$/.test(s) && re.test(s));
  }
  return false;
}

/** The class a container belongs to: the one named, else the first whose matcher fits. */
export function classFor(policy: Policy, named: string | undefined, cgroupPath: string): EffectiveSettings & { name: string | null } {
  if (named !== undefined) {
    const c = policy.classes[named];
    if (!c) {
      const known = Object.keys(policy.classes);
      throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `no class ${named} in the policy (${known.length ? `classes: ${known.join(', ')}` : 'it defines none'})`, { value: named });
    }
    return c;
  }
  for (const c of Object.values(policy.classes)) {
    if (c.match.some((m) => matches(m, cgroupPath))) return c;
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
  return [...sel].sort((a, b) => a - b);
}

/** Bytes of a policy amount on the smallest of the container's GPUs; a share of the whole GPU is no limit. */
function bytesOf(a: MemoryAmount, gpuMemory: number): number | null {
  if ('bytes' in a) return a.bytes;
  if (a.fraction >= 1) return null;
  return Math.floor(a.fraction * gpuMemory);
}

export function resolveSettings(policy: Policy, gpus: GpuInfo[], spec: ContainerSpec, cgroupPath: string, unit: UnitGpuSettings = {}): ContainerSettings {
  const cls = classFor(policy, spec.class ?? unit.class, cgroupPath);
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
