// Pure parsers for cgroup v2 interface files (Documentation/admin-guide/cgroup-v2.rst).
// They take the file's text and never touch the filesystem.
import { GpusliceError } from '../errors.js';

export interface CgroupEvents {
  /** 1 when this cgroup or a descendant has live processes */
  populated: boolean;
  /** 1 when the cgroup is fully frozen (kernel 5.2+; false where absent) */
  frozen: boolean;
}

export interface CgroupStat {
  nrDescendants: number;
  nrDyingDescendants: number;
  /** every key of the file, including nr_subsys_* (6.11+) */
  raw: Record<string, number>;
}

function parseError(what: string, text: string, detail: string): GpusliceError {
  return new GpusliceError('GS_ERR_CGROUP_PARSE', `cannot parse ${what}: ${detail}`, {
    op: 'parse',
    file: what,
    value: text.length > 200 ? text.slice(0, 200) + '…' : text,
  });
}

const CONTROLLER = /^[a-z_][a-z0-9_]*$/;

/** Space-separated controller names: cgroup.controllers, cgroup.subtree_control. */
export function parseControllers(text: string, what = 'cgroup.controllers'): string[] {
  const names = text.split(/\s+/).filter((s) => s !== '');
  for (const n of names) if (!CONTROLLER.test(n)) throw parseError(what, text, `bad controller name "${n}"`);
  return names;
}

export function parseSubtreeControl(text: string): string[] {
  return parseControllers(text, 'cgroup.subtree_control');
}

/**
 * The flat-keyed format: one `key value` per line (cgroup.events, cgroup.stat,
 * cpu.stat, memory.events …). Values stay strings ("max" is a legal value).
 */
export function parseFlatKeyed(text: string, what = 'flat-keyed file'): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const m = /^(\S+) (\S+)$/.exec(line.trim());
    if (!m) throw parseError(what, text, `line "${line}" is not "key value"`);
    if (out.has(m[1])) throw parseError(what, text, `key "${m[1]}" appears twice`);
    out.set(m[1], m[2]);
  }
  return out;
}

function toCount(what: string, text: string, key: string, v: string): number {
  if (!/^\d+$/.test(v)) throw parseError(what, text, `${key} is "${v}", not a count`);
  return Number(v);
}

function toFlag(what: string, text: string, key: string, v: string | undefined): boolean {
  if (v === undefined) return false;
  if (v !== '0' && v !== '1') throw parseError(what, text, `${key} is "${v}", not 0 or 1`);
  return v === '1';
}

/** cgroup.events: `populated 0|1` and (5.2+) `frozen 0|1`. */
export function parseEvents(text: string): CgroupEvents {
  const m = parseFlatKeyed(text, 'cgroup.events');
  if (!m.has('populated')) throw parseError('cgroup.events', text, 'no "populated" key');
  return {
    populated: toFlag('cgroup.events', text, 'populated', m.get('populated')),
    frozen: toFlag('cgroup.events', text, 'frozen', m.get('frozen')),
  };
}

/** cgroup.stat: nr_descendants, nr_dying_descendants and whatever else the kernel adds. */
export function parseStat(text: string): CgroupStat {
  const m = parseFlatKeyed(text, 'cgroup.stat');
  const raw: Record<string, number> = {};
  for (const [k, v] of m) raw[k] = toCount('cgroup.stat', text, k, v);
  if (raw.nr_descendants === undefined || raw.nr_dying_descendants === undefined) {
    throw parseError('cgroup.stat', text, 'nr_descendants or nr_dying_descendants missing');
  }
  return { nrDescendants: raw.nr_descendants, nrDyingDescendants: raw.nr_dying_descendants, raw };
}

/** cgroup.procs / cgroup.threads: one pid per line. */
export function parseProcs(text: string): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    const s = line.trim();
    if (s === '') continue;
    if (!/^\d+$/.test(s)) throw parseError('cgroup.procs', text, `"${s}" is not a pid`);
    out.push(Number(s));
  }
  return out;
}

/**
 * The cgroup v2 path of a process from /proc/PID/cgroup: the `0::PATH` line.
 * Null when the process is in no v2 hierarchy (pure v1 host).
 */
export function parseProcCgroup(text: string): string | null {
  for (const line of text.split('\n')) {
    if (line.startsWith('0::')) return line.slice(3).trim();
  }
  return null;
}
