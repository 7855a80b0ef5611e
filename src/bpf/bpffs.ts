// bpffs: the filesystem that holds pinned links and maps across daemon restarts.
import { mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import koffi from 'koffi';
import { GpusliceError } from '../errors.js';
import { errnoName } from './libbpf.js';

export const BPFFS_ROOT = '/sys/fs/bpf';

/** Mount points of bpf filesystems, from /proc/self/mountinfo (pure on the text). */
export function bpffsMounts(mountinfo: string): string[] {
  const out: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post || post.split(' ')[0] !== 'bpf') continue;
    // mountinfo escapes spaces and such as octal
    out.push(pre.split(' ')[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}

function onBpffs(path: string, mounts: string[]): boolean {
  return mounts.some((m) => path === m || path.startsWith(m.endsWith('/') ? m : m + '/'));
}

let mountFn: ((src: string, target: string, type: string, flags: number, data: null) => number) | undefined;

/**
 * Makes sure `pinDir` lies on a bpffs, mounting one at /sys/fs/bpf (mount(2))
 * when it is missing, then creates `pinDir`. Throws GS_ERR_BPFFS.
 */
export function ensureBpffs(pinDir: string): void {
  const dir = resolve(pinDir);
  const read = () => bpffsMounts(readFileSync('/proc/self/mountinfo', 'utf8'));
  if (!onBpffs(dir, read())) {
    if (!onBpffs(dir, [BPFFS_ROOT])) {
      throw new GpusliceError('GS_ERR_BPFFS', `pin directory ${dir} is not on a bpf filesystem: put it under ${BPFFS_ROOT}`, { op: 'mount', path: dir });
    }
    mkdirSync(BPFFS_ROOT, { recursive: true });
    mountFn ??= koffi.load('libc.so.6').func('int mount(const char *src, const char *target, const char *type, unsigned long flags, void *data)');
    if (mountFn('bpf', BPFFS_ROOT, 'bpf', 0, null) !== 0) {
      const errno = errnoName(koffi.errno());
      // a concurrent daemon may have mounted it meanwhile
      if (!onBpffs(dir, read())) {
        throw new GpusliceError('GS_ERR_BPFFS', `cannot mount bpffs at ${BPFFS_ROOT}: ${errno} (run as root, or mount it: mount -t bpf bpf ${BPFFS_ROOT})`, { op: 'mount', path: BPFFS_ROOT, errno });
      }
    }
  }
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (cause) {
    throw new GpusliceError('GS_ERR_BPF_PIN', `cannot create pin directory ${dir}: ${(cause as Error).message}`, { op: 'mkdir', path: dir, cause });
  }
}
