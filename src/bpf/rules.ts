// Device rules in cgroup v1 / runc form ("c 195:* rw"), and their reduction to
// what the gate stores: a default (allow or deny) plus exceptions, exactly as the
// cgroup v1 devices controller (and runc's emulator of it) would hold them.
import { GpusliceError } from '../errors.js';

export type DeviceType = 'a' | 'c' | 'b';
/** one of a major or minor number, or '*' */
export type DeviceNumber = number | '*';

export interface DeviceRule {
  type: DeviceType;
  major: DeviceNumber;
  minor: DeviceNumber;
  /** a non-empty subset of 'rwm', in that order */
  access: string;
  /** false for a deny rule */
  allow: boolean;
}

const FORM = "'[allow|deny] TYPE MAJOR:MINOR ACCESS', e.g. 'c 195:* rw' (TYPE c, b or a; MAJOR and MINOR a number or *; ACCESS letters of rwm), or 'a' for all devices";

function bad(text: string, why: string): GpusliceError {
  return new GpusliceError('GS_ERR_DEVICE_RULE', `invalid device rule '${text}': ${why}; the accepted form is ${FORM}`, { value: text });
}

function parseNumber(text: string, s: string, what: string): DeviceNumber {
  if (s === '*') return '*';
  if (!/^\d{1,10}$/.test(s) || Number(s) > 0xfffffffe) throw bad(text, `${what} '${s}' is not a number below 4294967295 or *`);
  return Number(s);
}

/** Normalises an access string to 'rwm' order; throws on letters outside rwm. */
export function normaliseAccess(text: string, access: string): string {
  if (access === '' || /[^rwm]/.test(access) || new Set(access).size !== access.length) throw bad(text, `access '${access}' must be letters of rwm, each at most once`);
  return ['r', 'w', 'm'].filter((c) => access.includes(c)).join('');
}

/** Parses one rule string. Pure; throws GS_ERR_DEVICE_RULE. */
export function parseDeviceRule(text: string): DeviceRule {
  const words = text.trim().split(/\s+/).filter(Boolean);
  let allow = true;
  if (words[0] === 'allow' || words[0] === 'deny') allow = words.shift() === 'allow';
  const [type, numbers, access, ...rest] = words;
  if (!type) throw bad(text, 'empty rule');
  if (rest.length > 0) throw bad(text, `unexpected '${rest.join(' ')}'`);
  if (type !== 'a' && type !== 'c' && type !== 'b') throw bad(text, `type '${type}' is not c, b or a`);
  if (type === 'a') {
    // cgroup v1 reads any 'a' rule as "all devices"; a narrower 'a' would not mean what it says
    if ((numbers ?? '*:*') !== '*:*' || (access ?? 'rwm') !== 'rwm') throw bad(text, "type 'a' means every device: write 'a' or 'a *:* rwm'");
    return { type: 'a', major: '*', minor: '*', access: 'rwm', allow };
  }
  if (!numbers) throw bad(text, 'MAJOR:MINOR is missing');
  const m = /^([^:]+):([^:]+)$/.exec(numbers);
  if (!m) throw bad(text, `'${numbers}' is not MAJOR:MINOR`);
  return { type, major: parseNumber(text, m[1], 'major'), minor: parseNumber(text, m[2], 'minor'), access: normaliseAccess(text, access ?? 'rwm'), allow };
}

export function formatDeviceRule(r: DeviceRule): string {
  const head = r.allow ? '' : 'deny ';
  return r.type === 'a' ? `${head}a` : `${head}${r.type} ${r.major}:${r.minor} ${r.access}`;
}

/** runc's default allow list, less its mknod-anything rules: null, zero, full,
 * random, urandom, tty, console, ptmx and the pts. */
export const RUNC_DEFAULT_RULES: readonly DeviceRule[] = [
  'c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm',
  'c 5:0 rwm', 'c 5:1 rwm', 'c 5:2 rwm', 'c 136:* rwm',
].map(parseDeviceRule);

export interface Exception {
  type: 'c' | 'b';
  major: DeviceNumber;
  minor: DeviceNumber;
  access: string;
}

/** The effective policy: a default and the exceptions to it. */
export interface ReducedRules {
  defaultAllow: boolean;
  exceptions: Exception[];
}

const metaKey = (t: string, ma: DeviceNumber, mi: DeviceNumber) => `${t} ${ma}:${mi}`;
const union = (a: string, b: string) => ['r', 'w', 'm'].filter((c) => a.includes(c) || b.includes(c)).join('');
const minus = (a: string, b: string) => ['r', 'w', 'm'].filter((c) => a.includes(c) && !b.includes(c)).join('');
const overlaps = (a: string, b: string) => [...a].some((c) => b.includes(c));

/**
 * Applies rules in order from deny-all, as cgroup v1 does: an 'a' rule resets
 * (allow-all or deny-all); a rule of the default's kind removes access from an
 * identical exception; the other kind adds one. Like runc, it refuses to punch a
 * hole in a wildcard exception, which cgroup v1 would silently ignore.
 */
export function reduceRules(rules: readonly DeviceRule[]): ReducedRules {
  let defaultAllow = false;
  let ex = new Map<string, Exception>();
  for (const r of rules) {
    if (r.type === 'a') {
      defaultAllow = r.allow;
      ex = new Map();
      continue;
    }
    const key = metaKey(r.type, r.major, r.minor);
    if (r.allow !== defaultAllow) {
      const old = ex.get(key);
      ex.set(key, { type: r.type, major: r.major, minor: r.minor, access: union(old?.access ?? '', r.access) });
      continue;
    }
    for (const [ma, mi] of [['*', r.minor], [r.major, '*'], ['*', '*']] as Array<[DeviceNumber, DeviceNumber]>) {
      if (ma === r.major && mi === r.minor) continue;
      const wide = ex.get(metaKey(r.type, ma, mi));
      if (wide && overlaps(wide.access, r.access)) {
        throw new GpusliceError('GS_ERR_DEVICE_RULE', `device rule '${formatDeviceRule(r)}' would punch a hole in '${formatDeviceRule({ ...wide, allow: !defaultAllow })}', which the kernel cannot express; list the devices one by one instead`, { value: formatDeviceRule(r) });
      }
    }
    const old = ex.get(key);
    if (!old) continue;
    const left = minus(old.access, r.access);
    if (left) ex.set(key, { ...old, access: left });
    else ex.delete(key);
  }
  return { defaultAllow, exceptions: [...ex.values()] };
}
