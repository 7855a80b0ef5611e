// Finds a unit's file and drop-ins the way systemd 252 does (src/shared/dropin.c,
// conf-files.c, unit-file.c) and folds their [X-GPUSlice] sections into settings.
// Tests compare every rule here with `systemd-analyze verify --root=DIR`.
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join, dirname, isAbsolute } from 'node:path';
import { GpusliceError } from '../errors.js';
import type { ConfigIssue } from './issues.js';
import { parseUnitFile } from './unitfile.js';
import { applyGpuSection, emptyState, finishGpuSection, type UnitGpuSettings, type UnitSources } from './unitsettings.js';

/**
 * System unit search path, highest precedence first, as `systemd-analyze unit-paths`
 * prints it on Debian 12 (systemd 252). /lib comes before /usr/lib there; on
 * merged-/usr systems one is a link to the other and first-found-wins hides the copy.
 */
export const UNIT_SEARCH_PATHS = [
  '/etc/systemd/system.control',
  '/run/systemd/system.control',
  '/run/systemd/transient',
  '/run/systemd/generator.early',
  '/etc/systemd/system',
  '/etc/systemd/system.attached',
  '/run/systemd/system',
  '/run/systemd/system.attached',
  '/run/systemd/generator',
  '/usr/local/lib/systemd/system',
  '/lib/systemd/system',
  '/usr/lib/systemd/system',
  '/run/systemd/generator.late',
];

const UNIT_TYPES = ['service', 'socket', 'target', 'device', 'mount', 'automount', 'swap', 'timer', 'path', 'slice', 'scope'];

export interface ResolveOptions {
  /** prefix of every search path, like systemd's --root */
  root?: string;
  /** replaces UNIT_SEARCH_PATHS (still under root) */
  searchPaths?: string[];
}

export interface DropinFile {
  path: string;
  /** a symlink to /dev/null or an empty file: takes its name, applies nothing */
  masked: boolean;
}

export interface UnitFiles {
  unit: string;
  /** the unit file, first found on the search path; null if none */
  fragment: string | null;
  /** the unit itself is masked (its file links to /dev/null or is empty) */
  masked: boolean;
  /** drop-ins in the order systemd applies them, masked ones included */
  dropins: DropinFile[];
}

interface Name {
  prefix: string;
  instance: string | null; // '' for a template
  type: string;
}

function splitName(name: string): Name | null {
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return null;
  const type = name.slice(dot + 1);
  const stem = name.slice(0, dot);
  const at = stem.indexOf('@');
  if (!UNIT_TYPES.includes(type) || stem === '' || /[/\0]/.test(stem)) return null;
  return at < 0 ? { prefix: stem, instance: null, type } : { prefix: stem.slice(0, at), instance: stem.slice(at + 1), type };
}

function validateUnitName(unit: string): Name {
  const n = splitName(unit);
  if (!n || n.prefix === '') {
    throw new GpusliceError('GS_ERR_SYSTEMD_NAME', `invalid unit name "${unit}": expected NAME.TYPE, e.g. train.service or train@1.service`, { value: unit });
  }
  return n;
}

/**
 * The drop-in directory names of `name` in one search directory, in systemd's
 * order: the unit, its template, then each dashed prefix ("a-b-c.service" adds
 * "a-b-.service", "a-.service"), each of those with its template.
 */
export function dropinDirNames(name: string, out: string[] = []): string[] {
  out.push(`${name}.d`);
  const n = splitName(name);
  if (!n) return out;
  if (n.instance !== null && n.instance !== '') dropinDirNames(`${n.prefix}@.${n.type}`, out);
  // dashed prefixes: cut after the last dash; a trailing dash is cut once first
  let p = n.prefix;
  let chopped = false;
  for (;;) {
    const d = p.lastIndexOf('-');
    if (d <= 0) return out; // no dash, or only a leading one
    if (d + 1 < p.length || chopped) {
      p = p.slice(0, d + 1);
      break;
    }
    p = p.slice(0, d);
    chopped = true;
  }
  // a template's prefix drops the "@" (systemd builds it without an instance)
  const built = n.instance ? `${p}@${n.instance}.${n.type}` : `${p}.${n.type}`;
  return dropinDirNames(built, out);
}

/** Which files systemd loads for `unit` under opts.root. Reads directories only. */
export async function findUnitFiles(unit: string, opts: ResolveOptions = {}): Promise<UnitFiles> {
  const n = validateUnitName(unit);
  const root = opts.root ?? '/';
  const paths = (opts.searchPaths ?? UNIT_SEARCH_PATHS).map((p) => join(root, p));

  let fragment: string | null = null;
  const candidates = n.instance ? [unit, `${n.prefix}@.${n.type}`] : [unit];
  for (const name of candidates) {
    for (const dir of paths) {
      if (await exists(join(dir, name))) {
        fragment = join(dir, name);
        break;
      }
    }
    if (fragment) break;
  }
  const masked = fragment !== null && (await isMasked(fragment, root));

  // every drop-in directory, most specific first per search dir; the top-level
  // "<type>.d" comes after all of them, so anything more specific overrides it
  const dirs: string[] = [];
  for (const p of paths) for (const d of dropinDirNames(unit)) dirs.push(join(p, d));
  for (const p of paths) dirs.push(join(p, `${n.type}.d`));

  const byName = new Map<string, string>(); // first found wins: same name overrides
  for (const dir of dirs) {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      continue;
    }
    for (const f of names) {
      if (!f.endsWith('.conf') || f.startsWith('.')) continue;
      if (!byName.has(f)) byName.set(f, join(dir, f));
    }
  }
  // applied in order of file name across all directories (strcmp, not locale)
  const sorted = [...byName.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const dropins: DropinFile[] = [];
  for (const f of sorted) {
    const path = byName.get(f)!;
    dropins.push({ path, masked: await isMasked(path, root) });
  }
  return { unit, fragment, masked, dropins };
}

export interface ResolvedUnit extends UnitFiles {
  settings: UnitGpuSettings;
  sources: UnitSources;
  /** unknown keys and bad values in [X-GPUSlice], FILE:LINE:1 each, in load order */
  errors: ConfigIssue[];
}

/**
 * The effective [X-GPUSlice] settings of `unit` and where each came from. Reads
 * the unit file and its drop-ins. Throws GS_ERR_UNIT_NOT_FOUND when there is
 * neither a unit file nor a drop-in; bad values come back in `errors`, not thrown.
 */
export async function resolveUnit(unit: string, opts: ResolveOptions = {}): Promise<ResolvedUnit> {
  const files = await findUnitFiles(unit, opts);
  if (!files.fragment && files.dropins.length === 0) {
    throw new GpusliceError('GS_ERR_UNIT_NOT_FOUND', `unit ${unit} not found on the search path${opts.root ? ` under ${opts.root}` : ''}: check the name, or pass --root`, { value: unit });
  }
  const st = emptyState();
  const toRead = [...(files.fragment && !files.masked ? [files.fragment] : []), ...files.dropins.filter((d) => !d.masked).map((d) => d.path)];
  for (const path of toRead) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (cause) {
      st.issues.push({ file: path, line: 1, col: 1, message: `cannot read: ${(cause as Error).message}` });
      continue;
    }
    const parsed = parseUnitFile(text, path);
    for (const i of parsed.issues) if (i.section === 'X-GPUSlice') st.issues.push(i);
    applyGpuSection(st, parsed);
  }
  finishGpuSection(st);
  return { ...files, settings: st.settings, sources: st.sources, errors: st.issues };
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** A link (through any chain, targets read under root) to /dev/null, or an empty file. */
async function isMasked(path: string, root: string): Promise<boolean> {
  let p = path;
  for (let hops = 0; hops < 32; hops++) {
    let st;
    try {
      st = await lstat(p);
    } catch {
      return false;
    }
    if (!st.isSymbolicLink()) return st.isCharacterDevice() || (st.isFile() && st.size === 0);
    const target = await readlink(p);
    if (target === '/dev/null') return true;
    p = isAbsolute(target) ? join(root, target) : join(dirname(p), target);
  }
  return false;
}
