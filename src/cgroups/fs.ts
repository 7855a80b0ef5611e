// The one module through which gpuslice touches cgroupfs. It is built with the
// root it may act under (the managed subtree, or a temp dir in tests) and refuses
// any path that would leave it: absolute paths, `..`, NUL, and symlinks that point
// outside. Errors carry the operation, the path, the errno and any value written.
import { promises as fsp, constants as C, watch as fsWatch, type FSWatcher } from 'node:fs';
import { isAbsolute, join, dirname, sep } from 'node:path';
import { GpusliceError, errnoOf } from '../errors.js';

// What the usual errnos mean when they come from cgroupfs, so messages say what to do.
const HINTS: Record<string, string> = {
  EPERM: 'is gpuslice running as root?',
  EACCES: 'is gpuslice running as root?',
  ENOENT: 'the cgroup or file does not exist (removed, or not supported by this kernel)',
  EBUSY: 'the cgroup has processes or children in the way (no-internal-process rule), or is still populated',
  EINVAL: 'the kernel rejected the value',
  EOPNOTSUPP: 'not supported here; on a hybrid host the controller may be bound to cgroup v1',
  ENOTEMPTY: 'the cgroup still has child cgroups',
  ESRCH: 'no such process',
};

function describe(errno: string | undefined): string {
  if (!errno) return 'unknown error';
  const hint = HINTS[errno];
  return hint ? `${errno} (${hint})` : errno;
}

/** Checks a relative cgroup path ("", "a", "a/b") lexically; returns its parts. */
export function splitRelative(rel: string): string[] {
  const bad = (why: string) =>
    new GpusliceError('GS_ERR_CGROUP_PATH_ESCAPE', `refusing cgroup path ${JSON.stringify(rel)}: ${why}`, {
      op: 'resolve',
      value: rel,
    });
  if (typeof rel !== 'string') throw bad('not a string');
  if (rel.includes('\0')) throw bad('it contains a NUL byte');
  if (isAbsolute(rel)) throw bad('it is absolute; give a path relative to the managed root');
  if (rel === '') return [];
  const parts = rel.split('/');
  for (const p of parts) {
    if (p === '..') throw bad('".." would leave the managed root');
    if (p === '' || p === '.') throw bad('empty or "." component');
    if (Buffer.byteLength(p) > 255) throw bad('a component is longer than 255 bytes');
  }
  return parts;
}

function checkFileName(file: string): void {
  if (typeof file !== 'string' || file === '' || file === '.' || file === '..' || file.includes('/') || file.includes('\0')) {
    throw new GpusliceError('GS_ERR_CGROUP_PATH_ESCAPE', `refusing interface file name ${JSON.stringify(file)}`, {
      op: 'resolve',
      value: String(file),
    });
  }
}

export class CgroupFs {
  /** absolute path every access stays under */
  readonly root: string;
  private realRoot: Promise<string> | undefined;

  constructor(root: string) {
    if (!isAbsolute(root) || root.includes('\0')) {
      throw new GpusliceError('GS_ERR_CGROUP_PATH_ESCAPE', `cgroupfs root must be an absolute path, not ${JSON.stringify(root)}`, {
        op: 'resolve',
        value: root,
      });
    }
    this.root = root.length > 1 ? root.replace(/\/+$/, '') : root;
  }

  /** Absolute path of a cgroup (and optionally a file in it); lexical checks only. */
  resolve(rel: string, file?: string): string {
    const parts = splitRelative(rel);
    if (file !== undefined) {
      checkFileName(file);
      parts.push(file);
    }
    return parts.length ? join(this.root, ...parts) : this.root;
  }

  // Symlinks: the directory an operation acts in must really lie under the real
  // root. The final component is opened with O_NOFOLLOW where that applies.
  private async confine(abs: string, op: string): Promise<void> {
    this.realRoot ??= fsp.realpath(this.root).catch(() => this.root);
    const root = await this.realRoot;
    let probe = abs;
    for (;;) {
      try {
        const real = await fsp.realpath(probe);
        if (real === root || real.startsWith(root.endsWith(sep) ? root : root + sep)) return;
        throw new GpusliceError('GS_ERR_CGROUP_PATH_ESCAPE', `refusing ${abs}: it resolves to ${real}, outside ${root}`, {
          op,
          path: abs,
        });
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT' || probe === this.root || probe === dirname(probe)) {
          if (err instanceof GpusliceError) throw err;
          return; // the path does not exist yet: the operation itself will say ENOENT
        }
        probe = dirname(probe);
      }
    }
  }

  private fail(code: 'GS_ERR_CGROUP_READ' | 'GS_ERR_CGROUP_WRITE' | 'GS_ERR_CGROUP_CREATE' | 'GS_ERR_CGROUP_REMOVE',
    op: string, path: string, cause: unknown, value?: string): GpusliceError {
    const errno = errnoOf(cause);
    const what = value === undefined ? `${op} ${path}` : `write ${JSON.stringify(value)} to ${path}`;
    return new GpusliceError(code, `cannot ${what}: ${describe(errno)}`, { op, path, errno, value, cause });
  }

  /** Reads an interface file (read(2) on PATH/FILE). */
  async read(rel: string, file: string): Promise<string> {
    const abs = this.resolve(rel, file);
    await this.confine(dirname(abs), 'read');
    try {
      const fh = await fsp.open(abs, C.O_RDONLY | C.O_NOFOLLOW);
      try {
        return await fh.readFile('utf8');
      } finally {
        await fh.close();
      }
    } catch (err) {
      throw this.fail('GS_ERR_CGROUP_READ', 'read', abs, err);
    }
  }

  /** Like read, but null when the file does not exist (a feature this kernel lacks). */
  async readOptional(rel: string, file: string): Promise<string | null> {
    try {
      return await this.read(rel, file);
    } catch (err) {
      if (err instanceof GpusliceError && err.errno === 'ENOENT') return null;
      throw err;
    }
  }

  /**
   * Writes a value to an existing interface file in one write(2), as cgroupfs
   * requires; never creates files.
   */
  async write(rel: string, file: string, value: string): Promise<void> {
    const abs = this.resolve(rel, file);
    await this.confine(dirname(abs), 'write');
    try {
      const fh = await fsp.open(abs, C.O_WRONLY | C.O_NOFOLLOW);
      try {
        await fh.write(value);
      } finally {
        await fh.close();
      }
    } catch (err) {
      throw this.fail('GS_ERR_CGROUP_WRITE', 'write', abs, err, value);
    }
  }

  /** mkdir -p of a cgroup; true when it created the last directory. */
  async mkdir(rel: string): Promise<boolean> {
    const abs = this.resolve(rel);
    await this.confine(abs, 'mkdir');
    try {
      await fsp.mkdir(abs);
      return true;
    } catch (err) {
      const errno = errnoOf(err);
      if (errno === 'EEXIST') return false;
      if (errno === 'ENOENT' && rel.includes('/')) {
        await this.mkdir(rel.slice(0, rel.lastIndexOf('/')));
        return this.mkdir(rel);
      }
      throw this.fail('GS_ERR_CGROUP_CREATE', 'mkdir', abs, err);
    }
  }

  /** rmdir(2) of one cgroup; its interface files go with it. */
  async rmdir(rel: string): Promise<void> {
    const abs = this.resolve(rel);
    if (abs === this.root) await this.confine(abs, 'rmdir');
    else await this.confine(dirname(abs), 'rmdir');
    try {
      await fsp.rmdir(abs);
    } catch (err) {
      throw this.fail('GS_ERR_CGROUP_REMOVE', 'rmdir', abs, err);
    }
  }

  /** Names of the child cgroups (subdirectories, not symlinks). */
  async listDirs(rel: string): Promise<string[]> {
    const abs = this.resolve(rel);
    await this.confine(abs, 'list');
    try {
      const ents = await fsp.readdir(abs, { withFileTypes: true });
      return ents.filter((e) => e.isDirectory()).map((e) => e.name).sort();
    } catch (err) {
      throw this.fail('GS_ERR_CGROUP_READ', 'list', abs, err);
    }
  }

  /** The directory's inode number (lstat), which is the kernel's cgroup id. */
  async inode(rel: string): Promise<bigint> {
    const abs = this.resolve(rel);
    await this.confine(abs, 'stat');
    try {
      return (await fsp.lstat(abs, { bigint: true })).ino;
    } catch (err) {
      throw this.fail('GS_ERR_CGROUP_READ', 'stat', abs, err);
    }
  }

  /** Whether the cgroup (or a file in it) exists; never follows a final symlink. */
  async exists(rel: string, file?: string): Promise<boolean> {
    const abs = this.resolve(rel, file);
    try {
      await fsp.lstat(abs);
      await this.confine(abs, 'stat');
      return true;
    } catch (err) {
      if (err instanceof GpusliceError) throw err;
      if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return false;
      throw this.fail('GS_ERR_CGROUP_READ', 'stat', abs, err);
    }
  }

  /** An inotify watch (fs.watch) on an interface file. */
  /**
   * Watches a cgroup directory for children created or removed (inotify on the
   * directory). A removed cgroup raises no event on its own files — kernfs deletes
   * them without the VFS — only on its parent directory.
   */
  async watchDir(rel: string, listener: (name: string) => void, persistent = true): Promise<FSWatcher> {
    const abs = this.resolve(rel);
    await this.confine(abs, 'watch');
    try {
      return fsWatch(abs, { persistent }, (_ev, name) => {
        if (name) listener(String(name));
      });
    } catch (err) {
      const errno = errnoOf(err);
      throw new GpusliceError('GS_ERR_CGROUP_WATCH', `cannot watch ${abs}: ${describe(errno)}`, { op: 'watch', path: abs, errno, cause: err });
    }
  }

  async watch(rel: string, file: string, listener: () => void, persistent = true): Promise<FSWatcher> {
    const abs = this.resolve(rel, file);
    await this.confine(dirname(abs), 'watch');
    try {
      return fsWatch(abs, { persistent }, listener);
    } catch (err) {
      const errno = errnoOf(err);
      throw new GpusliceError('GS_ERR_CGROUP_WATCH', `cannot watch ${abs}: ${describe(errno)}` +
        (errno === 'ENOSPC' ? ' — raise fs.inotify.max_user_watches' : ''), { op: 'watch', path: abs, errno, cause: err });
    }
  }
}
