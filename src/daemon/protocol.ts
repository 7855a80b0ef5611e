// The daemon's API on <state dir>/api.sock: one JSON object per line each way.
// A request is {id, method, params}; a response {id, ok: true, result} or
// {id, ok: false, error: {code, message}}. Requests are validated here, so a
// malformed one is answered with a precise error and changes nothing.
import { z } from 'zod';

/** A container name is one cgroup directory: no slashes, no leading dot. */
export const CONTAINER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$/;

export const GpuSelection = z.union([z.literal('all'), z.literal('none'), z.array(z.number().int().min(0).max(63)).max(64)]);
export type GpuSelection = z.infer<typeof GpuSelection>;

export const ContainerSpec = z
  .object({
    name: z.string().regex(CONTAINER_NAME, 'a name is 1–64 characters of A-Z a-z 0-9 _ . @ -, not starting with . or -').optional(),
    gpus: GpuSelection.optional(),
    /** memory limit per GPU, bytes */
    memory: z.number().int().positive().optional(),
    /** guaranteed memory per GPU, bytes */
    memoryMin: z.number().int().nonnegative().optional(),
    /** guaranteed compute share, 0..1 */
    compute: z.number().gt(0).max(1).optional(),
    /** compute share it may borrow up to, 0..1 */
    computeMax: z.number().gt(0).max(1).optional(),
    weight: z.number().int().min(1).max(10000).optional(),
    class: z.string().min(1).max(64).optional(),
    onMemoryLimit: z.enum(['fail', 'wait']).optional(),
    /** the pid of the `gpuslice run` client that owns the container */
    owner: z.number().int().positive().optional(),
  })
  .strict()
  .refine((s) => s.memory === undefined || s.memoryMin === undefined || s.memoryMin <= s.memory, {
    message: 'memoryMin must not exceed memory',
    path: ['memoryMin'],
  })
  .refine((s) => s.compute === undefined || s.computeMax === undefined || s.compute <= s.computeMax, {
    message: 'compute must not exceed computeMax',
    path: ['compute'],
  });
export type ContainerSpec = z.infer<typeof ContainerSpec>;

export const Request = z.discriminatedUnion('method', [
  z.object({ id: z.number().int(), method: z.literal('list'), params: z.object({}).strict().optional() }).strict(),
  z.object({ id: z.number().int(), method: z.literal('create'), params: ContainerSpec }).strict(),
  z.object({ id: z.number().int(), method: z.literal('remove'), params: z.object({ name: z.string().regex(CONTAINER_NAME) }).strict() }).strict(),
  z.object({ id: z.number().int(), method: z.literal('status'), params: z.object({}).strict().optional() }).strict(),
  z
    .object({
      id: z.number().int(),
      method: z.literal('attach'),
      params: z.object({ unit: z.string().min(1).max(255), cgroup: z.string().regex(/^\/[^\0]*$/, 'a cgroup path as /proc/self/cgroup shows it, starting with /') }).strict(),
    })
    .strict(),
]);
export type Request = z.infer<typeof Request>;

export interface ApiError {
  code: string;
  message: string;
}

export type Response = { id: number | null; ok: true; result: unknown } | { id: number | null; ok: false; error: ApiError };

/** What the daemon reports about one container. */
export interface ContainerInfo {
  name: string;
  /** cgroup path as /proc/PID/cgroup shows it */
  cgroup: string;
  /** absolute path in cgroupfs */
  cgroupDir: string;
  id: string;
  spec: ContainerSpec;
  /** the settings in force after policy and drop-ins are merged with the request */
  settings: ContainerSettings;
  pids: number[];
  createdAt: string;
  /** environment `gpuslice run` gives the command */
  env: Record<string, string>;
  denials: number;
  /** counters from the enforcers: device denials, GPU memory in use, launches, stall */
  usage: Record<string, number>;
}

export interface ContainerSettings {
  gpus: number[];
  memoryMax: number | null;
  memoryMin: number;
  computeMin: number;
  computeMax: number;
  weight: number;
  class: string | null;
  onMemoryLimit: 'fail' | 'wait';
}

/** Turns zod issues into one message naming each bad field. */
export function describeIssues(err: z.ZodError): string {
  return err.issues
    .map((i) => {
      const where = i.path.length ? i.path.join('.') : 'request';
      return `${where}: ${i.message}`;
    })
    .join('; ');
}
