import { GpusliceError } from '../errors.js';
import type { GpuSelection } from '../daemon/protocol.js';
import { parseSize, parsePercent, type Parsed } from '../config/size.js';

/** `all`, `none`, or indices like `0,1` / `0 1` / `0-3`. */
export function parseGpuList(text: string): GpuSelection {
  const t = text.trim();
  if (t === 'all' || t === 'none') return t;
  const out = new Set<number>();
  for (const part of t.split(/[\s,]+/).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `--gpus ${text}: "${part}" is not a GPU index; use all, none, or indices like 0,1 or 0-3`, { value: text });
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b > 63) throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `--gpus ${text}: range ${part} is empty or beyond 63`, { value: text });
    for (let i = a; i <= b; i++) out.add(i);
  }
  if (out.size === 0) throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `--gpus: empty list; use none for no GPU`, { value: text });
  return [...out].sort((x, y) => x - y);
}

function fromParsed<T>(flag: string, text: string, r: Parsed<T>): T {
  if (!r.ok) throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `${flag} ${text}: ${r.message}`, { value: text });
  return r.value;
}

/** A size option such as `--memory 4G`. */
export function sizeArg(flag: string, text: string): number {
  return fromParsed(flag, text, parseSize(text));
}

/** A share option such as `--compute 25%`, as a fraction of 1. */
export function percentArg(flag: string, text: string): number {
  const v = fromParsed(flag, text, parsePercent(text));
  if (v <= 0) throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `${flag} ${text}: must be above 0%`, { value: text });
  return v;
}
