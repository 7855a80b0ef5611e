// One shape for every configuration complaint, from YAML or from a unit file,
// so `gpuslice validate` and the daemon's log print them the same way.
import { GpusliceError, type ErrorCode } from '../errors.js';

export interface ConfigIssue {
  file: string;
  /** 1-based */
  line: number;
  /** 1-based; 1 where the source gives no better column (unit files) */
  col: number;
  message: string;
}

export function formatIssue(i: ConfigIssue): string {
  return `${i.file}:${i.line}:${i.col}: ${i.message}`;
}

/** Issues in file order, so a reader can walk the file top to bottom. */
export function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return [...issues].sort((a, b) => (a.file === b.file ? a.line - b.line || a.col - b.col : a.file < b.file ? -1 : 1));
}

/**
 * Every problem of a file at once. `errors` holds each of them; the message
 * lists them one per line as FILE:LINE:COL: message. file/line/col point at the first.
 */
export class ConfigError extends GpusliceError {
  readonly errors: ConfigIssue[];

  constructor(code: ErrorCode, errors: ConfigIssue[]) {
    const first = errors[0];
    const head = `${errors.length} error${errors.length === 1 ? '' : 's'} in ${first?.file ?? 'configuration'}`;
    super(code, `${head}:\n${errors.map(formatIssue).join('\n')}`, {
      file: first?.file,
      line: first?.line,
      col: first?.col,
    });
    this.errors = errors;
  }
}
