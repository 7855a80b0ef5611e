// The one catalogue of gpuslice errors. Callers branch on `code`, never on
// message text. Every code here is documented in docs/errors.md (a test checks).

export const ERROR_CODES = [
  // usage and input
  'GS_ERR_USAGE',
  'GS_ERR_INVALID_ARGUMENT',
  'GS_ERR_DEMO_STEP',
  // cgroups
  'GS_ERR_CGROUP_NO_MOUNT',
  'GS_ERR_CGROUP_PATH_ESCAPE',
  'GS_ERR_CGROUP_READ',
  'GS_ERR_CGROUP_WRITE',
  'GS_ERR_CGROUP_CREATE',
  'GS_ERR_CGROUP_REMOVE',
  'GS_ERR_CGROUP_PARSE',
  'GS_ERR_CGROUP_WATCH',
  'GS_ERR_CGROUP_TIMEOUT',
  'GS_ERR_SYSTEMD_NAME',
  // configuration
  'GS_ERR_CONFIG_SYNTAX',
  'GS_ERR_CONFIG_SCHEMA',
  'GS_ERR_CONFIG_READ',
  'GS_ERR_DROPIN_SYNTAX',
  'GS_ERR_DROPIN_VALUE',
  'GS_ERR_UNIT_NOT_FOUND',
  // daemon and API
  'GS_ERR_API_REQUEST',
  'GS_ERR_API_UNAVAILABLE',
  'GS_ERR_CONTAINER_EXISTS',
  'GS_ERR_CONTAINER_NOT_FOUND',
  'GS_ERR_STATE_DIR',
  // BPF device gate
  'GS_ERR_BPF_LOAD',
  'GS_ERR_BPF_ATTACH',
  'GS_ERR_BPF_MAP',
  'GS_ERR_BPF_PIN',
  'GS_ERR_BPFFS',
  'GS_ERR_DEVICE_RULE',
  'GS_ERR_GPU_UNKNOWN',
  // vGPU
  'GS_ERR_LEDGER_FORMAT',
  'GS_ERR_LEDGER_LIMITS',
  'GS_ERR_LEDGER_IO',
  'GS_ERR_SIMGPU_SETUP',
  'GS_ERR_SIMGPU_STATE',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorDetails {
  /** the operation that failed, e.g. "write", "attach" */
  op?: string;
  /** a filesystem path the operation touched */
  path?: string;
  /** a source file and position, for configuration errors */
  file?: string;
  line?: number;
  col?: number;
  /** errno name from the kernel, e.g. "EPERM" */
  errno?: string;
  /** the value that was being written or parsed */
  value?: string;
  cause?: unknown;
}

export class GpusliceError extends Error {
  readonly code: ErrorCode;
  readonly op?: string;
  readonly path?: string;
  readonly file?: string;
  readonly line?: number;
  readonly col?: number;
  readonly errno?: string;
  readonly value?: string;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'GpusliceError';
    this.code = code;
    this.op = details.op;
    this.path = details.path;
    this.file = details.file;
    this.line = details.line;
    this.col = details.col;
    this.errno = details.errno ?? errnoOf(details.cause);
    this.value = details.value;
  }
}

/** The errno name (EPERM, ENOENT, …) carried by a Node system error, if any. */
export function errnoOf(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err) {
    const c = (err as { code: unknown }).code;
    if (typeof c === 'string' && /^E[A-Z0-9]+$/.test(c)) return c;
  }
  if (err instanceof GpusliceError) return err.errno;
  return undefined;
}

export function isGpusliceError(err: unknown, code?: ErrorCode): err is GpusliceError {
  return err instanceof GpusliceError && (code === undefined || err.code === code);
}
