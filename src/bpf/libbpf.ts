// A typed binding of the few libbpf 1.x calls the device gate uses, through koffi.
// libbpf 1.0+ returns -errno from int functions and NULL with errno set from
// pointer functions; `check()` and `checkPtr()` turn both into project errors.
import koffi, { type LibraryHandle, type TypeObject } from 'koffi';
import { GpusliceError, type ErrorCode } from '../errors.js';

export type BpfObject = { readonly __brand: 'bpf_object' };
export type BpfProgram = { readonly __brand: 'bpf_program' };
export type BpfMap = { readonly __brand: 'bpf_map' };
export type BpfLink = { readonly __brand: 'bpf_link' };
export type RingBuffer = { readonly __brand: 'ring_buffer' };

/** BPF_F_LOCK: update a value in place under its bpf_spin_lock (kernel 5.1). */
export const BPF_F_LOCK = 4n;
export const BPF_ANY = 0n;
export const BPF_NOEXIST = 1n;

const LIBBPF_NAMES = ['libbpf.so.1', 'libbpf.so'];

function loadFirst(names: string[]): LibraryHandle {
  let last: unknown;
  for (const n of names) {
    try {
      return koffi.load(n);
    } catch (err) {
      last = err;
    }
  }
  throw new GpusliceError('GS_ERR_BPF_LOAD', `cannot load libbpf (${names.join(', ')}): install libbpf1`, { op: 'dlopen', cause: last });
}

export interface Libbpf {
  objectOpenFile(path: string): BpfObject | null;
  objectLoad(obj: BpfObject): number;
  objectClose(obj: BpfObject): void;
  findProgram(obj: BpfObject, name: string): BpfProgram | null;
  findMap(obj: BpfObject, name: string): BpfMap | null;
  programFd(p: BpfProgram): number;
  mapFd(m: BpfMap): number;
  mapSetPinPath(m: BpfMap, path: string): number;
  attachCgroup(p: BpfProgram, cgroupFd: number): BpfLink | null;
  linkOpen(path: string): BpfLink | null;
  linkFd(l: BpfLink): number;
  linkPin(l: BpfLink, path: string): number;
  linkUnpin(l: BpfLink): number;
  linkUpdateProgram(l: BpfLink, p: BpfProgram): number;
  linkDetach(l: BpfLink): number;
  linkDestroy(l: BpfLink): number;
  mapUpdate(fd: number, key: Buffer, value: Buffer, flags: bigint): number;
  mapLookup(fd: number, key: Buffer, value: Buffer): number;
  mapLookupFlags(fd: number, key: Buffer, value: Buffer, flags: bigint): number;
  mapDelete(fd: number, key: Buffer): number;
  mapNextKey(fd: number, key: Buffer | null, next: Buffer): number;
  objInfo(fd: number, info: Buffer, len: Uint32Array): number;
  ringBufferNew(mapFd: number, cb: unknown): RingBuffer | null;
  ringBufferConsume(rb: RingBuffer): number;
  ringBufferFree(rb: RingBuffer): void;
  setPrint(fn: unknown): unknown;
  /** the sample callback type for koffi.register */
  sampleCbType: TypeObject;
  printCbType: TypeObject;
  vsnprintf(buf: Buffer, size: number, fmt: unknown, ap: unknown): number;
}

let cached: Libbpf | undefined;

/** Loads libbpf.so.1 once (dlopen) and declares the calls used. */
export function libbpf(): Libbpf {
  if (cached) return cached;
  const lib = loadFirst(LIBBPF_NAMES);
  const libc = koffi.load('libc.so.6');
  koffi.opaque('bpf_object');
  koffi.opaque('bpf_program');
  koffi.opaque('bpf_map');
  koffi.opaque('bpf_link');
  koffi.opaque('ring_buffer');
  const sampleCbType = koffi.proto('int devgate_sample_fn(void *ctx, void *data, size_t size)');
  const printCbType = koffi.proto('int devgate_print_fn(int level, void *fmt, void *args)');
  const f = {
    objectOpenFile: lib.func('bpf_object *bpf_object__open_file(const char *path, void *opts)'),
    objectLoad: lib.func('int bpf_object__load(bpf_object *obj)'),
    objectClose: lib.func('void bpf_object__close(bpf_object *obj)'),
    findProgram: lib.func('bpf_program *bpf_object__find_program_by_name(bpf_object *obj, const char *name)'),
    findMap: lib.func('bpf_map *bpf_object__find_map_by_name(bpf_object *obj, const char *name)'),
    programFd: lib.func('int bpf_program__fd(bpf_program *p)'),
    mapFd: lib.func('int bpf_map__fd(bpf_map *m)'),
    mapSetPinPath: lib.func('int bpf_map__set_pin_path(bpf_map *m, const char *path)'),
    attachCgroup: lib.func('bpf_link *bpf_program__attach_cgroup(bpf_program *p, int cgroup_fd)'),
    linkOpen: lib.func('bpf_link *bpf_link__open(const char *path)'),
    linkFd: lib.func('int bpf_link__fd(bpf_link *l)'),
    linkPin: lib.func('int bpf_link__pin(bpf_link *l, const char *path)'),
    linkUnpin: lib.func('int bpf_link__unpin(bpf_link *l)'),
    linkUpdateProgram: lib.func('int bpf_link__update_program(bpf_link *l, bpf_program *p)'),
    linkDetach: lib.func('int bpf_link__detach(bpf_link *l)'),
    linkDestroy: lib.func('int bpf_link__destroy(bpf_link *l)'),
    mapUpdate: lib.func('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
    mapLookup: lib.func('int bpf_map_lookup_elem(int fd, const void *key, _Out_ void *value)'),
    mapLookupFlags: lib.func('int bpf_map_lookup_elem_flags(int fd, const void *key, _Out_ void *value, uint64_t flags)'),
    mapDelete: lib.func('int bpf_map_delete_elem(int fd, const void *key)'),
    mapNextKey: lib.func('int bpf_map_get_next_key(int fd, const void *key, _Out_ void *next)'),
    objInfo: lib.func('int bpf_obj_get_info_by_fd(int fd, _Out_ void *info, _Inout_ uint32_t *len)'),
    ringBufferNew: lib.func('ring_buffer *ring_buffer__new(int map_fd, devgate_sample_fn *cb, void *ctx, void *opts)'),
    ringBufferConsume: lib.func('int ring_buffer__consume(ring_buffer *rb)'),
    ringBufferFree: lib.func('void ring_buffer__free(ring_buffer *rb)'),
    setPrint: lib.func('devgate_print_fn *libbpf_set_print(devgate_print_fn *fn)'),
    vsnprintf: libc.func('int vsnprintf(_Out_ uint8_t *buf, size_t size, void *fmt, void *ap)'),
  };
  cached = {
    objectOpenFile: (path) => f.objectOpenFile(path, null),
    objectLoad: (o) => f.objectLoad(o),
    objectClose: (o) => f.objectClose(o),
    findProgram: (o, n) => f.findProgram(o, n),
    findMap: (o, n) => f.findMap(o, n),
    programFd: (p) => f.programFd(p),
    mapFd: (m) => f.mapFd(m),
    mapSetPinPath: (m, p) => f.mapSetPinPath(m, p),
    attachCgroup: (p, fd) => f.attachCgroup(p, fd),
    linkOpen: (p) => f.linkOpen(p),
    linkFd: (l) => f.linkFd(l),
    linkPin: (l, p) => f.linkPin(l, p),
    linkUnpin: (l) => f.linkUnpin(l),
    linkUpdateProgram: (l, p) => f.linkUpdateProgram(l, p),
    linkDetach: (l) => f.linkDetach(l),
    linkDestroy: (l) => f.linkDestroy(l),
    mapUpdate: (fd, k, v, fl) => f.mapUpdate(fd, k, v, fl),
    mapLookup: (fd, k, v) => f.mapLookup(fd, k, v),
    mapLookupFlags: (fd, k, v, fl) => f.mapLookupFlags(fd, k, v, fl),
    mapDelete: (fd, k) => f.mapDelete(fd, k),
    mapNextKey: (fd, k, n) => f.mapNextKey(fd, k, n),
    objInfo: (fd, i, l) => f.objInfo(fd, i, l),
    ringBufferNew: (fd, cb) => f.ringBufferNew(fd, cb, null, null),
    ringBufferConsume: (rb) => f.ringBufferConsume(rb),
    ringBufferFree: (rb) => f.ringBufferFree(rb),
    setPrint: (fn) => f.setPrint(fn),
    vsnprintf: (b, n, fmt, ap) => f.vsnprintf(b, n, fmt, ap),
    sampleCbType,
    printCbType,
  };
  return cached;
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(koffi.os.errno).map(([k, v]) => [v, k]));

/** errno name (EPERM) for a positive errno number. */
export function errnoName(n: number): string {
  return ERRNO_NAMES.get(Math.abs(n)) ?? `errno ${Math.abs(n)}`;
}

/** Throws a project error when a libbpf int result is negative; returns it otherwise. */
export function check(rc: number, code: ErrorCode, what: string, details: { op: string; path?: string; hint?: string }): number {
  if (rc >= 0) return rc;
  const errno = errnoName(-rc);
  const hint = details.hint ? ` (${details.hint})` : '';
  throw new GpusliceError(code, `${what}: ${errno}${hint}`, { op: details.op, path: details.path, errno });
}

/** Throws a project error when a libbpf pointer result is NULL (errno says why). */
export function checkPtr<T>(p: T | null, code: ErrorCode, what: string, details: { op: string; path?: string; hint?: string }): T {
  if (p) return p;
  check(-(koffi.errno() || 5), code, what, details);
  return p as never;
}
