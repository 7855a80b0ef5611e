// Map access on file descriptors (bpf(2) BPF_MAP_* through libbpf), with errors
// that carry errno and name the map.
import { GpusliceError } from '../errors.js';
import { libbpf, errnoName } from './libbpf.js';

export class BpfMapFd {
  constructor(readonly fd: number, readonly name: string, readonly keySize: number, readonly valueSize: number) {}

  private fail(op: string, rc: number, hint = ''): never {
    const errno = errnoName(-rc);
    throw new GpusliceError('GS_ERR_BPF_MAP', `BPF map '${this.name}' ${op} failed: ${errno}${hint}`, { op, errno });
  }

  /** BPF_MAP_UPDATE_ELEM; E2BIG means the map is full. */
  update(key: Buffer, value: Buffer, flags: bigint): void {
    const rc = libbpf().mapUpdate(this.fd, key, value, flags);
    if (rc < 0) this.fail('update', rc, rc === -7 ? ' (the map is full: too many rules or containers)' : '');
  }

  /** BPF_MAP_LOOKUP_ELEM; null when the key is absent. */
  lookup(key: Buffer, flags = 0n): Buffer | null {
    const value = Buffer.alloc(this.valueSize);
    const rc = flags ? libbpf().mapLookupFlags(this.fd, key, value, flags) : libbpf().mapLookup(this.fd, key, value);
    if (rc === -2) return null;
    if (rc < 0) this.fail('lookup', rc);
    return value;
  }

  /** BPF_MAP_DELETE_ELEM; false when the key was already absent. */
  delete(key: Buffer): boolean {
    const rc = libbpf().mapDelete(this.fd, key);
    if (rc === -2) return false;
    if (rc < 0) this.fail('delete', rc);
    return true;
  }

  /** Every key (BPF_MAP_GET_NEXT_KEY), a snapshot taken now. */
  keys(): Buffer[] {
    const out: Buffer[] = [];
    let prev: Buffer | null = null;
    for (;;) {
      const next = Buffer.alloc(this.keySize);
      const rc = libbpf().mapNextKey(this.fd, prev, next);
      if (rc === -2) break;
      if (rc < 0) this.fail('iterate', rc);
      out.push(next);
      prev = next;
    }
    return out;
  }
}
