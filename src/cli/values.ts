// Command-line values: the same parsers as policy YAML and drop-ins, with errors
// that name the option.
import { GpusliceError } from '../errors.js';
import type { GpuSelection } from '../daemon/protocol.js';
import { parseSize, parsePercent, parseGpuList as parseGpuText, type Parsed } from '../config/index.js';

function fromParsed<T>(flag: string, text: string, r: Parsed<T>): T {
  if (!r.ok) throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `${flag} ${text}: ${r.message}`, { value: text });
  return r.value;
}

/** `--gpus all`, `none`, or indices like `0,1` / `0 1` / `0-3`. */
export function parseGpuList(text: string): GpuSelection {
  const v = fromParsed('--gpus', text, parseGpuText(text));
  if (v === 'all' || v === 'none') return v;
  if (v.length === 0) throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `--gpus ${text}: empty list; use none for no GPU`, { value: text });
  if (v.some((i) => i > 63)) throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `--gpus ${text}: GPU indices go up to 63`, { value: text });
  return [...v].sort((a, b) => a - b);
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
