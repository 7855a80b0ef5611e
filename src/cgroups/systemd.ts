// systemd naming, as systemd 252 does it (src/basic/unit-name.c, cgroup-util.c):
// unit-name validation, systemd-escape (plain and --path), and the mapping of
// units and slices to cgroup paths. Pure functions: no systemd needed at run time.
import { GpusliceError } from '../errors.js';

export const UNIT_TYPES = ['service', 'mount', 'swap', 'socket', 'target', 'device', 'automount', 'timer', 'path', 'slice', 'scope'] as const;
export type UnitType = (typeof UNIT_TYPES)[number];

/** UNIT_NAME_MAX is 256 including the NUL */
export const UNIT_NAME_MAX = 255;
export const ROOT_SLICE = '-.slice';

// VALID_CHARS of unit-name.c; '@' is allowed only as the template/instance separator
const VALID = /^[0-9A-Za-z:_.\\-]$/;
const VALID_WITH_AT = /^[0-9A-Za-z:_.\\@-]*$/;

// kernel-owned names in cgroupfs that a unit name must not shadow (cg_escape)
const CONTROLLERS = ['cpu', 'cpuacct', 'cpuset', 'io', 'blkio', 'memory', 'devices', 'pids',
  'bpf-firewall', 'bpf-devices', 'bpf-foreign', 'bpf-socket-bind', 'bpf-restrict-network-interfaces'];

function nameError(what: string, value: string, why: string): GpusliceError {
  return new GpusliceError('GS_ERR_SYSTEMD_NAME', `invalid ${what} ${JSON.stringify(value)}: ${why} (see systemd.unit(5))`, {
    op: 'systemd-name', value,
  });
}

export type UnitNameKind = 'plain' | 'template' | 'instance';

/**
 * Classifies a unit name: "plain" (foo.service), "template" (foo@.service),
 * "instance" (foo@bar.service); null when systemd would reject it.
 */
export function unitNameKind(name: string): UnitNameKind | null {
  if (typeof name !== 'string' || name.length === 0 || Buffer.byteLength(name) > UNIT_NAME_MAX) return null;
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return null;
  if (!(UNIT_TYPES as readonly string[]).includes(name.slice(dot + 1))) return null;
  const prefix = name.slice(0, dot);
  if (!VALID_WITH_AT.test(prefix)) return null;
  const at = prefix.indexOf('@');
  if (at === 0) return null;
  if (at < 0) return 'plain';
  return at === prefix.length - 1 ? 'template' : 'instance';
}

export function isValidUnitName(name: string, kinds: UnitNameKind[] = ['plain', 'template', 'instance']): boolean {
  const k = unitNameKind(name);
  return k !== null && kinds.includes(k);
}

/** Throws GS_ERR_SYSTEMD_NAME unless name is a valid unit name (of one of kinds). */
export function assertUnitName(name: string, kinds?: UnitNameKind[]): void {
  if (!isValidUnitName(name, kinds)) {
    throw nameError('unit name', String(name),
      `a unit name is PREFIX[@INSTANCE].TYPE, at most ${UNIT_NAME_MAX} bytes of [A-Za-z0-9:_.\\-], TYPE one of ${UNIT_TYPES.join(', ')}` +
      (kinds ? `; wanted a ${kinds.join(' or ')} name` : ''));
  }
}

export function unitType(name: string): UnitType {
  assertUnitName(name);
  return name.slice(name.lastIndexOf('.') + 1) as UnitType;
}

const hex = (b: number) => '\\x' + b.toString(16).padStart(2, '0');

// do_escape(): bytes, since systemd escapes UTF-8 byte by byte
function escapeBytes(bytes: Buffer): string {
  let out = '';
  bytes.forEach((b, i) => {
    const c = String.fromCharCode(b);
    if (i === 0 && c === '.') out += hex(b); // no unit names with a leading dot
    else if (c === '/') out += '-';
    else if (b >= 0x80 || c === '-' || c === '\\' || !VALID.test(c)) out += hex(b);
    else out += c;
  });
  return out;
}

// path_simplify(): drop empty and "." components and the trailing slash
function simplifyPath(p: string): string {
  const abs = p.startsWith('/');
  const parts = p.split('/').filter((c) => c !== '' && c !== '.');
  if (abs) return '/' + parts.join('/');
  return parts.length ? parts.join('/') : p === '' ? '' : '.';
}

function isNormalizedPath(p: string): boolean {
  if (p === '' || Buffer.byteLength(p) > 4096) return false;
  const parts = p.split('/');
  if (parts.some((c) => c === '.' || c === '..' || Buffer.byteLength(c) > 255)) return false;
  return !p.includes('//');
}

/** `systemd-escape STRING`, or with path: `systemd-escape --path PATH`. */
export function systemdEscape(s: string, opts: { path?: boolean } = {}): string {
  if (!opts.path) return escapeBytes(Buffer.from(s, 'utf8'));
  const p = simplifyPath(s);
  if (p === '' || p === '/') return '-';
  if (!isNormalizedPath(p)) throw nameError('path', s, 'it is not a normalized path (".." or "." components)');
  return escapeBytes(Buffer.from(p.replace(/^\/+/, '').replace(/\/+$/, ''), 'utf8'));
}

/** `systemd-escape --unescape STRING` (and `--path`): "-" becomes "/", \xNN a byte. */
export function systemdUnescape(s: string, opts: { path?: boolean } = {}): string {
  if (opts.path && s === '-') return '/';
  if (opts.path && s === '') throw nameError('escaped path', s, 'it is empty');
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '-') bytes.push(0x2f);
    else if (c === '\\') {
      const m = /^x([0-9a-fA-F]{2})/.exec(s.slice(i + 1, i + 4));
      if (!m) throw nameError('escaped string', s, `bad escape at offset ${i} (want \\xNN)`);
      bytes.push(parseInt(m[1], 16));
      i += 3;
    } else bytes.push(...Buffer.from(c, 'utf8'));
  }
  const nul = bytes.indexOf(0); // C strings end at NUL, so systemd's do too
  let out = Buffer.from(nul < 0 ? bytes : bytes.slice(0, nul)).toString('utf8');
  if (!opts.path) return out;
  if (out.startsWith('/') || out.endsWith('/')) throw nameError('escaped path', s, 'leading or trailing "-"');
  out = '/' + out;
  if (!isNormalizedPath(out)) throw nameError('escaped path', s, 'it does not unescape to a normalized path');
  return out;
}

/** `systemd-escape --template=foo@.service INSTANCE` (with path: `--path`). */
export function unitNameFromTemplate(template: string, instance: string, opts: { path?: boolean } = {}): string {
  assertUnitName(template, ['template']);
  const at = template.indexOf('@');
  const name = template.slice(0, at + 1) + systemdEscape(instance, opts) + template.slice(at + 1);
  assertUnitName(name, ['instance']);
  return name;
}

/** cg_escape(): prefix "_" to names that could clash with kernel files in cgroupfs. */
export function cgroupEscape(name: string): string {
  const dot = name.lastIndexOf('.');
  const clash =
    name === '' || name.startsWith('_') || name.startsWith('.') || name.startsWith('cgroup.') ||
    ['notify_on_release', 'release_agent', 'tasks'].includes(name) ||
    (dot > 0 && CONTROLLERS.includes(name.slice(0, dot)));
  return clash ? '_' + name : name;
}

export function cgroupUnescape(name: string): string {
  return name.startsWith('_') ? name.slice(1) : name;
}

/**
 * The cgroup path of a slice, relative to the hierarchy's root (cg_slice_to_path):
 * "a-b-c.slice" → "a.slice/a-b.slice/a-b-c.slice"; "-.slice" → "".
 */
export function sliceToCgroupPath(slice: string): string {
  if (slice === ROOT_SLICE) return '';
  if (!isValidUnitName(slice, ['plain']) || !slice.endsWith('.slice')) {
    throw nameError('slice name', slice, 'a slice is a plain unit name ending in .slice');
  }
  const prefix = slice.slice(0, -'.slice'.length);
  if (prefix.startsWith('-')) throw nameError('slice name', slice, 'it starts with "-"');
  if (prefix.endsWith('-') || prefix.includes('--')) throw nameError('slice name', slice, 'trailing or double "-"');
  const parts: string[] = [];
  for (let i = prefix.indexOf('-'); i >= 0; i = prefix.indexOf('-', i + 1)) {
    parts.push(cgroupEscape(prefix.slice(0, i) + '.slice'));
  }
  parts.push(cgroupEscape(slice));
  return parts.join('/');
}

/**
 * The cgroup path of a unit placed in a slice (default system.slice, where
 * systemd puts services): "foo.service" in "a-b.slice" → "a.slice/a-b.slice/foo.service".
 * A slice unit maps to its own path regardless of `slice`.
 */
export function unitToCgroupPath(unit: string, slice = 'system.slice'): string {
  assertUnitName(unit, ['plain', 'instance']);
  if (unit.endsWith('.slice')) return sliceToCgroupPath(unit);
  const base = sliceToCgroupPath(slice);
  return base === '' ? cgroupEscape(unit) : `${base}/${cgroupEscape(unit)}`;
}

/**
 * The unit that owns a cgroup path ("/system.slice/foo.service/sub" → foo.service
 * in system.slice): the deepest component that is a unit name. Null when none.
 */
export function unitFromCgroupPath(cgroupPath: string): { unit: string; slice: string } | null {
  const parts = cgroupPath.split('/').filter((p) => p !== '').map(cgroupUnescape);
  let unit: string | null = null;
  let slice = ROOT_SLICE;
  for (const p of parts) {
    if (!isValidUnitName(p, ['plain', 'instance'])) break;
    if (unit !== null) {
      if (!unit.endsWith('.slice')) break; // only slices contain units
      slice = unit;
    }
    unit = p;
  }
  return unit === null ? null : { unit, slice };
}
