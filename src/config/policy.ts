// The policy schema: what an operator may write in policy.yaml, and the typed
// value the daemon gets. Every object is strict: a misspelt key is an error, never
// silently ignored (a typo in a limit must not leave a container unlimited).
import { z } from 'zod';
import { parseDuration, parseMemory, parsePercent, parseSize, formatSize, type MemoryAmount, type Parsed } from './size.js';

/** strictObject whose unknown-key message names the keys that are allowed. */
function strict<T extends z.ZodRawShape>(shape: T) {
  const allowed = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown key${iss.keys.length > 1 ? 's' : ''} ${iss.keys.map((k) => `"${k}"`).join(', ')} (allowed: ${allowed})` : undefined),
  });
}

/** A string-or-number field turned into a typed value by one of size.ts's parsers. */
function parsed<T>(what: string, parse: (v: string | number) => Parsed<T>, numbers = true) {
  const input = numbers
    ? z.union([z.number(), z.string()], { error: `expected ${what}` })
    : z.string({ error: `expected ${what}` });
  return input.meta({ description: what }).transform((v, ctx): T => {
    const p = parse(v);
    if (p.ok) return p.value;
    ctx.addIssue({ code: 'custom', message: p.message, input: v });
    return z.NEVER;
  });
}

const memory = parsed('a size like 4G, 512Mi, bytes, or a share of the GPU like 50%', parseMemory);
const percent = parsed('a percentage like 25%', (v) => parsePercent(String(v)), false);

// PSI triggers accept windows of 500ms to 10s (kernel/sched/psi.c, WINDOW_MIN_US /
// WINDOW_MAX_US); the daemon runs as root, so the 2s-multiple rule that 6.5+ kernels
// impose on unprivileged triggers does not apply.
const window = parsed('a duration from 500ms to 10s', (v) => {
  const d = parseDuration(v);
  if (d.ok && (d.value < 500 || d.value > 10_000)) {
    return { ok: false, message: `window ${typeof v === 'number' ? `${v}s` : `"${v}"`} is outside 500ms..10s, the range of a PSI trigger window` };
  }
  return d;
});

// simgpu's own limits (the daemon refuses a device set beyond them): validate must
// refuse what the daemon would, not pass it through to fail at start
const SIM_MAX_GPUS = 16;
const SIM_MAX_MEMORY = 1024 ** 5; // 1P
const simMemory = parsed('memory of each simulated GPU: a size above 0, at most 1P, like 16G', (v) => {
  const p = parseSize(v);
  if (p.ok && p.value <= 0) return { ok: false, message: `memory ${typeof v === 'number' ? v : `"${v}"`} is not above 0: a simulated GPU needs some memory, like 16G` };
  if (p.ok && p.value > SIM_MAX_MEMORY) return { ok: false, message: `memory ${typeof v === 'number' ? v : `"${v}"`} is above 1P, the most simgpu simulates per GPU` };
  return p;
});

const weight = z
  .number({ error: 'expected an integer weight from 1 to 10000' })
  .int({ error: 'weight must be an integer from 1 to 10000' })
  .min(1, { error: (i) => `weight ${i.input} is below 1 (range 1..10000, as cgroup cpu.weight)` })
  .max(10000, { error: (i) => `weight ${i.input} is above 10000 (range 1..10000, as cgroup cpu.weight)` });

const gpuIndex = z.number({ error: 'a GPU index is an integer 0 or more' }).int({ error: 'a GPU index is an integer 0 or more' }).min(0, { error: 'a GPU index is an integer 0 or more' });
const gpus = z
  .union([z.literal('all'), z.literal('none'), z.array(gpuIndex)], { error: 'expected "all", "none" or a list of GPU indices like [0, 1]' })
  .superRefine((v, ctx) => {
    if (Array.isArray(v) && new Set(v).size !== v.length) ctx.addIssue({ code: 'custom', message: 'a GPU is listed twice' });
  });

const onMemoryLimit = z.enum(['fail', 'wait'], { error: 'expected "fail" (allocation returns out-of-memory) or "wait" (allocation blocks until memory frees)' });

function compareMemory(min: MemoryAmount | undefined, max: MemoryAmount | undefined): string | null {
  if (!min || !max) return null;
  if ('bytes' in min && 'bytes' in max && min.bytes > max.bytes) return `min ${formatSize(min.bytes)} is above max ${formatSize(max.bytes)}`;
  if ('fraction' in min && 'fraction' in max && min.fraction > max.fraction) return `min ${min.fraction * 100}% is above max ${max.fraction * 100}%`;
  return null; // bytes against a share of the GPU: checked once the GPU's size is known
}

const memoryLimits = strict({ min: memory.optional(), max: memory.optional() }).superRefine((m, ctx) => {
  const msg = compareMemory(m.min, m.max);
  if (msg) ctx.addIssue({ code: 'custom', message: msg, path: ['min'] });
});

const compute = strict({ weight: weight.optional(), min: percent.optional(), max: percent.optional() }).superRefine((c, ctx) => {
  if (c.min !== undefined && c.max !== undefined && c.min > c.max) {
    ctx.addIssue({ code: 'custom', message: `min ${c.min * 100}% is above max ${c.max * 100}%`, path: ['min'] });
  }
});

const pressure = strict({ target: percent.optional(), window: window.optional() });

const settingsShape = {
  gpus: gpus.optional(),
  memory: memoryLimits.optional(),
  compute: compute.optional(),
  pressure: pressure.optional(),
  onMemoryLimit: onMemoryLimit.optional(),
};

const oneKey = (what: string) => z.string({ error: `${what} must be a string` }).min(1, { error: `${what} must not be empty` });
const matcher = strict({
  slice: oneKey('slice').meta({ description: 'a slice unit name or glob, like training.slice' }).optional(),
  unit: oneKey('unit').meta({ description: 'a unit name or glob, like "train-*.service"' }).optional(),
  path: oneKey('path')
    .meta({
      description:
        'a glob on the cgroup path, matched both relative to the daemon\'s managed subtree ("train-*" for `gpuslice run --name train-1`) and as the full path from the cgroup2 root ("gpuslice/train-*")',
    })
    .optional(),
}).superRefine((m, ctx) => {
  const keys = Object.keys(m);
  if (keys.length > 1) ctx.addIssue({ code: 'custom', message: `a matcher has exactly one of slice, unit, path, not ${keys.join(' and ')}: write one list item for each` });
  if (keys.length === 0) ctx.addIssue({ code: 'custom', message: 'an empty matcher: give one of slice, unit, path' });
});

const className = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, { error: 'a class name is letters, digits, "_", "-", "." and starts with a letter or digit' });
const classPolicy = strict({ ...settingsShape, match: z.array(matcher, { error: 'expected a list of matchers' }).optional() });

export const PolicySchema = strict({
  devices: strict({
    simulate: strict({
      count: z
        .number({ error: 'expected a GPU count' })
        .int({ error: 'count must be an integer' })
        .min(1, { error: (i) => `count ${i.input} is below 1 (simulated GPUs: 1..${SIM_MAX_GPUS})` })
        .max(SIM_MAX_GPUS, { error: (i) => `count ${i.input} is above ${SIM_MAX_GPUS}, the most GPUs simgpu simulates (range 1..${SIM_MAX_GPUS})` }),
      memory: simMemory,
    }).optional(),
  }).optional(),
  defaults: strict(settingsShape).optional(),
  classes: z.record(className, classPolicy, { error: (i) => (i.code === 'invalid_type' ? 'expected a mapping of class names to classes' : undefined) }).optional(),
});

export type PolicyInput = z.input<typeof PolicySchema>;
type Raw = z.output<typeof PolicySchema>;
export type Matcher = { slice?: string; unit?: string; path?: string };

/** Settings of a class with every field filled from the defaults. */
export interface EffectiveSettings {
  gpus: number[] | 'all' | 'none';
  memory: { min: MemoryAmount; max: MemoryAmount };
  compute: { weight: number; min: number; max: number };
  pressure: { target: number; windowMs: number };
  onMemoryLimit: 'fail' | 'wait';
}

export interface ClassPolicy extends EffectiveSettings {
  name: string;
  match: Matcher[];
}

export interface Policy {
  devices: { simulate?: { count: number; memory: number } };
  defaults: EffectiveSettings;
  classes: Record<string, ClassPolicy>;
}

/** What applies where the policy says nothing: no limits, cgroup's default weight. */
export const BUILTIN_DEFAULTS: EffectiveSettings = {
  gpus: 'all',
  memory: { min: { bytes: 0 }, max: { fraction: 1 } },
  compute: { weight: 100, min: 0, max: 1 },
  pressure: { target: 0.1, windowMs: 10_000 },
  onMemoryLimit: 'fail',
};

type RawSettings = NonNullable<Raw['defaults']>;
function fill(s: RawSettings | undefined, base: EffectiveSettings): EffectiveSettings {
  return {
    gpus: s?.gpus ?? base.gpus,
    memory: { min: s?.memory?.min ?? base.memory.min, max: s?.memory?.max ?? base.memory.max },
    compute: {
      weight: s?.compute?.weight ?? base.compute.weight,
      min: s?.compute?.min ?? base.compute.min,
      max: s?.compute?.max ?? base.compute.max,
    },
    pressure: { target: s?.pressure?.target ?? base.pressure.target, windowMs: s?.pressure?.window ?? base.pressure.windowMs },
    onMemoryLimit: s?.onMemoryLimit ?? base.onMemoryLimit,
  };
}

export interface PathProblem {
  path: Array<string | number>;
  message: string;
}

/**
 * Turns the schema's output into the policy the daemon uses: classes filled from
 * defaults. A class may break min <= max only once merged (its max under the
 * defaults' min); those come back as problems at the class's field.
 */
export function completePolicy(raw: Raw): { policy: Policy; problems: PathProblem[] } {
  const problems: PathProblem[] = [];
  const defaults = fill(raw.defaults, BUILTIN_DEFAULTS);
  // no prototype: a lookup of a class the policy lacks ("constructor", "toString")
  // must find nothing rather than Object.prototype's member
  const classes: Record<string, ClassPolicy> = Object.create(null) as Record<string, ClassPolicy>;
  for (const [name, c] of Object.entries(raw.classes ?? {})) {
    const eff = fill(c, defaults);
    const mem = compareMemory(eff.memory.min, eff.memory.max);
    if (mem) problems.push({ path: ['classes', name, 'memory', c.memory?.max ? 'max' : 'min'], message: `${mem} (after defaults apply)` });
    if (eff.compute.min > eff.compute.max) {
      problems.push({ path: ['classes', name, 'compute', c.compute?.max !== undefined ? 'max' : 'min'], message: `min ${eff.compute.min * 100}% is above max ${eff.compute.max * 100}% (after defaults apply)` });
    }
    classes[name] = { name, ...eff, match: c.match ?? [] };
  }
  return { policy: { devices: { simulate: raw.devices?.simulate }, defaults, classes }, problems };
}
