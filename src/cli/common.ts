// What every command shares: the state dir, and how errors reach the user.
import { resolve } from 'node:path';
import { isGpusliceError } from '../errors.js';

export const DEFAULT_STATE_DIR = '/run/gpuslice';

/** Exit status for gpuslice's own failures (as docker and podman use 125). */
export const EXIT_TOOL_ERROR = 125;

/** The state dir, absolute and without a trailing slash: it names the gate's pins too. */
export function stateDirOf(opt: string | undefined): string {
  return resolve(opt ?? process.env.GPUSLICE_STATE_DIR ?? DEFAULT_STATE_DIR);
}

/** Prints an error the way a user reads it: `gpuslice: message [CODE]`. */
export function reportError(err: unknown): void {
  const code = (err as { code?: unknown })?.code;
  if (isGpusliceError(err)) {
    process.stderr.write(`gpuslice: ${err.message} [${err.code}]\n`);
  } else if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`gpuslice: ${(err as Error).message} (see gpuslice --help)\n`);
  } else {
    process.stderr.write(`gpuslice: ${(err as Error)?.stack ?? String(err)}\n`);
  }
}
