// How the daemon learns that a container is over, through inotify.
import type { FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { CgroupFs, type Cgroup } from '../cgroups/index.js';

/**
 * Calls back when the cgroup is unpopulated after any change of its cgroup.events.
 * Every event is read afresh, with no de-duplication: a process that enters and
 * leaves between two reads still leaves the cgroup empty, and that is what counts.
 */
export function watchEmpty(cg: Cgroup, onEmpty: () => void): Promise<FSWatcher> {
  return cg.watchFile('cgroup.events', () => {
    void cg.events().then(
      (ev) => {
        if (!ev.populated) onEmpty();
      },
      () => {},
    );
  });
}

/**
 * Calls back when the cgroup with inode `id` is gone from its path. A removed
 * cgroup raises no event on its own files (kernfs deletes them without the VFS),
 * only on its parent directory; a cgroup of the same path with another inode is a
 * new one (a unit's next run).
 */
export async function watchRemoval(mount: string, cg: Cgroup, id: bigint, onGone: () => void): Promise<FSWatcher> {
  const parts = cg.cgroupPath.split('/').filter(Boolean);
  const self = parts.pop()!;
  const check = async () => {
    const ino = await stat(cg.path, { bigint: true }).then((s) => s.ino, () => null);
    if (ino !== id) onGone();
  };
  const w = await new CgroupFs(mount).watchDir(parts.join('/'), (name) => {
    if (name === self) void check();
  });
  await check(); // removed before the watch was armed
  return w;
}
