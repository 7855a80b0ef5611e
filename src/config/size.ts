// Sizes, shares and durations as users write them in policy YAML and drop-ins.
// Pure: strings in, numbers out, a precise message on anything else.
//
// Sizes follow systemd's MemoryMax= and the cgroup convention: K, M, G, T, P are
// powers of 1024 (G = 2^30), so "4G" means the same here as in a unit file. The
// IEC spellings Ki/Mi/Gi and KiB/MiB/GiB are accepted and mean the same. "KB",
// "GB" are refused rather than guessed: half the world reads them as 10^3.

const UNITS: Record<string, number> = { '': 1, B: 1 };
['K', 'M', 'G', 'T', 'P'].forEach((p, i) => {
  const m = 1024 ** (i + 1);
  UNITS[p] = m;
  UNITS[`${p}i`] = m;
  UNITS[`${p}iB`] = m;
});

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/;
const SIZE_FORM = 'a size like 4G, 512Mi, 1.5GiB or a number of bytes (K/M/G/T are 1024-based)';

/** Result of a parse: the value, or the reason it was refused. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

/** Parses a byte size. Fractions of a byte round down, as systemd's parse_size does. */
export function parseSize(input: string | number): Parsed<number> {
  if (typeof input === 'number') return sizeFromNumber(input);
  const s = input.trim();
  if (s === '') return fail(`empty size: expected ${SIZE_FORM}`);
  if (s.startsWith('-')) return fail(`negative size "${input}": sizes are 0 or more`);
  const m = SIZE_RE.exec(s);
  if (!m) return fail(`invalid size "${input}": expected ${SIZE_FORM}`);
  const [, num, unit] = m;
  const mult = UNITS[unit];
  if (mult === undefined) {
    const hint = /^[KMGTP]B$/i.test(unit) ? ` (write ${unit[0].toUpperCase()} or ${unit[0].toUpperCase()}iB: sizes are 1024-based)` : '';
    return fail(`unknown size unit "${unit}" in "${input}"${hint}: expected ${SIZE_FORM}`);
  }
  const bytes = Math.floor(Number(num) * mult);
  if (!Number.isSafeInteger(bytes)) return fail(`size "${input}" is too large (limit ${Number.MAX_SAFE_INTEGER} bytes)`);
  return { ok: true, value: bytes };
}

function sizeFromNumber(n: number): Parsed<number> {
  if (Number.isNaN(n)) return fail(`invalid size NaN: expected ${SIZE_FORM}`);
  if (n < 0) return fail(`negative size ${n}: sizes are 0 or more`);
  if (!Number.isSafeInteger(n)) {
    return fail(Number.isInteger(n) || !Number.isFinite(n)
      ? `size ${n} is too large (limit ${Number.MAX_SAFE_INTEGER} bytes)`
      : `size ${n} is not a whole number of bytes: use a unit (e.g. 1.5G) or an integer`);
  }
  return { ok: true, value: n };
}

const PCT_RE = /^(\d+(?:\.\d+)?)\s*%$/;

/** Parses a share "25%" into a fraction 0.25. Only 0%..100% is a share. */
export function parsePercent(input: string): Parsed<number> {
  const s = input.trim();
  if (s.startsWith('-')) return fail(`negative share "${input}": expected 0% to 100%`);
  const m = PCT_RE.exec(s);
  if (!m) return fail(`invalid share "${input}": expected a percentage like 25% or 12.5%`);
  const pct = Number(m[1]);
  if (!Number.isFinite(pct)) return fail(`invalid share "${input}": expected a percentage like 25%`);
  if (pct > 100) return fail(`share "${input}" is above 100%`);
  return { ok: true, value: pct / 100 };
}

/** A memory amount: absolute bytes, or a fraction of each GPU's memory. */
export type MemoryAmount = { bytes: number } | { fraction: number };

/** Parses "4G", bytes, or "50%" (of the GPU's memory). */
export function parseMemory(input: string | number): Parsed<MemoryAmount> {
  if (typeof input === 'string' && input.trim().endsWith('%')) {
    const p = parsePercent(input);
    return p.ok ? { ok: true, value: { fraction: p.value } } : p;
  }
  const b = parseSize(input);
  return b.ok ? { ok: true, value: { bytes: b.value } } : b;
}

const DUR_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };
const DUR_RE = /^(\d+(?:\.\d+)?)\s*(ms|s|m)$/;

/** Parses a duration "500ms", "2s", "1.5s", "1m" (or a number of seconds) into milliseconds. */
export function parseDuration(input: string | number): Parsed<number> {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) return fail(`invalid duration ${input}: expected 0 or more seconds`);
    return { ok: true, value: Math.round(input * 1000) };
  }
  const s = input.trim();
  if (s.startsWith('-')) return fail(`negative duration "${input}"`);
  const m = DUR_RE.exec(s);
  if (!m) return fail(`invalid duration "${input}": expected e.g. 500ms, 2s, 1m`);
  return { ok: true, value: Math.round(Number(m[1]) * DUR_UNITS[m[2]]) };
}

/** Formats bytes the way sizes are written: the largest exact 1024 unit. */
export function formatSize(bytes: number): string {
  for (const u of ['P', 'T', 'G', 'M', 'K']) {
    const m = UNITS[u];
    if (bytes >= m && bytes % m === 0) return `${bytes / m}${u}`;
  }
  return String(bytes);
}

function fail(message: string): { ok: false; message: string } {
  return { ok: false, message };
}
