// The [X-GPUSlice] section of a unit and its drop-ins: keys in systemd's style,
// applied in load order, each value remembering the file and line it came from.
// systemd ignores X- sections, so these files stay valid units.
import type { ConfigIssue } from './issues.js';
import { formatSize, parseMemory, parsePercent, type MemoryAmount, type Parsed } from './size.js';
import type { ParsedUnitFile } from './unitfile.js';

export const GPU_SECTION = 'X-GPUSlice';

export interface UnitGpuSettings {
  gpus?: number[] | 'all' | 'none';
  memoryMin?: MemoryAmount;
  memoryMax?: MemoryAmount;
  computeWeight?: number;
  computeMin?: number;
  computeMax?: number;
  class?: string;
  onMemoryLimit?: 'fail' | 'wait';
}

export interface SettingSource {
  file: string;
  line: number;
  key: string;
  value: string;
}

/** For each setting, the assignments that made it (GPUs= may take several). */
export type UnitSources = { [K in keyof UnitGpuSettings]?: SettingSource[] };

type Field = keyof UnitGpuSettings;
type Parser = (v: string) => Parsed<unknown>;

function weight(v: string): Parsed<number> {
  if (!/^\d+$/.test(v)) return { ok: false, message: `invalid weight "${v}": expected an integer from 1 to 10000` };
  const n = Number(v);
  if (n < 1 || n > 10000) return { ok: false, message: `weight ${v} is out of range 1..10000 (as cgroup cpu.weight)` };
  return { ok: true, value: n };
}

function className(v: string): Parsed<string> {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(v)
    ? { ok: true, value: v }
    : { ok: false, message: `invalid class name "${v}": letters, digits, "_", "-", "."` };
}

function onLimit(v: string): Parsed<'fail' | 'wait'> {
  return v === 'fail' || v === 'wait' ? { ok: true, value: v } : { ok: false, message: `invalid value "${v}": expected fail or wait` };
}

const KEYS: Record<string, { field: Field; parse: Parser }> = {
  GPUs: { field: 'gpus', parse: () => ({ ok: true, value: null }) }, // handled by applyGpus
  GPUMemoryMin: { field: 'memoryMin', parse: parseMemory },
  GPUMemoryMax: { field: 'memoryMax', parse: parseMemory },
  GPUComputeWeight: { field: 'computeWeight', parse: weight },
  GPUComputeMin: { field: 'computeMin', parse: parsePercent },
  GPUComputeMax: { field: 'computeMax', parse: parsePercent },
  Class: { field: 'class', parse: className },
  GPUOnMemoryLimit: { field: 'onMemoryLimit', parse: onLimit },
};
export const GPU_KEYS = Object.keys(KEYS);

/** GPUs= tokens: "0 1", "0,1", "0-3", "all", "none". */
export function parseGpuList(v: string): Parsed<number[] | 'all' | 'none'> {
  const tokens = v.split(/[\s,]+/).filter(Boolean);
  if (tokens.length === 1 && (tokens[0] === 'all' || tokens[0] === 'none')) return { ok: true, value: tokens[0] };
  const out: number[] = [];
  for (const t of tokens) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(t);
    if (!m) return { ok: false, message: `invalid GPU "${t}" in GPUs=${v}: expected indices like "0 1", "0,1", "0-3", or all, none` };
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) return { ok: false, message: `invalid GPU range "${t}": the end is below the start` };
    for (let i = lo; i <= hi; i++) if (!out.includes(i)) out.push(i);
  }
  return { ok: true, value: out };
}

export interface GpuSectionState {
  settings: UnitGpuSettings;
  sources: UnitSources;
  issues: ConfigIssue[];
}

export function emptyState(): GpuSectionState {
  return { settings: {}, sources: {}, issues: [] };
}

/** Applies one file's [X-GPUSlice] assignments on top of `st` (load order matters). */
export function applyGpuSection(st: GpuSectionState, unit: ParsedUnitFile): void {
  const s = st.settings as Record<Field, unknown>;
  for (const a of unit.assignments) {
    if (a.section !== GPU_SECTION) continue;
    const issue = (message: string) => st.issues.push({ file: unit.file, line: a.line, col: 1, message });
    const spec = KEYS[a.key];
    if (!spec) {
      const near = GPU_KEYS.find((k) => k.toLowerCase() === a.key.toLowerCase());
      issue(`unknown key "${a.key}" in [${GPU_SECTION}]${near ? ` (did you mean ${near}?)` : ''}: known keys are ${GPU_KEYS.join(', ')}`);
      continue;
    }
    const src: SettingSource = { file: unit.file, line: a.line, key: a.key, value: a.value };
    if (a.value === '') {
      // an empty assignment resets, as for systemd's own list and limit settings
      delete s[spec.field];
      delete st.sources[spec.field];
      continue;
    }
    if (spec.field === 'gpus') {
      const p = parseGpuList(a.value);
      if (!p.ok) { issue(`GPUs=: ${p.message}`); continue; }
      const cur = st.settings.gpus;
      // indices append to a list; all/none replace whatever came before
      if (Array.isArray(p.value) && Array.isArray(cur)) {
        st.settings.gpus = [...cur, ...p.value.filter((g) => !cur.includes(g))];
        st.sources.gpus = [...(st.sources.gpus ?? []), src];
      } else {
        st.settings.gpus = p.value;
        st.sources.gpus = [src];
      }
      continue;
    }
    const p = spec.parse(a.value);
    if (!p.ok) { issue(`${a.key}=: ${p.message}`); continue; }
    s[spec.field] = p.value;
    st.sources[spec.field] = [src];
  }
}

/** Cross-checks once every file is applied: min above max is an error at the max's assignment. */
export function finishGpuSection(st: GpuSectionState): void {
  const { settings: s, sources } = st;
  if (s.memoryMin && s.memoryMax) {
    const min = s.memoryMin;
    const max = s.memoryMax;
    let msg: string | null = null;
    if ('bytes' in min && 'bytes' in max && min.bytes > max.bytes) msg = `GPUMemoryMin=${formatSize(min.bytes)} is above GPUMemoryMax=${formatSize(max.bytes)}`;
    if ('fraction' in min && 'fraction' in max && min.fraction > max.fraction) msg = `GPUMemoryMin=${min.fraction * 100}% is above GPUMemoryMax=${max.fraction * 100}%`;
    const at = sources.memoryMax?.[0]; // the limit the minimum runs into
    if (msg && at) st.issues.push({ file: at.file, line: at.line, col: 1, message: msg });
  }
  if (s.computeMin !== undefined && s.computeMax !== undefined && s.computeMin > s.computeMax) {
    const at = sources.computeMax?.[0];
    if (at) st.issues.push({ file: at.file, line: at.line, col: 1, message: `GPUComputeMin=${s.computeMin * 100}% is above GPUComputeMax=${s.computeMax * 100}%` });
  }
}
