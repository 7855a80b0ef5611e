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

/** Whether the cgroup with inode `id` is gone from its path (another inode there is a new cgroup: a unit's next run). */
export async function cgroupGone(cg: Cgroup, id: bigint): Promise<boolean> {
  const ino = await stat(cg.path, { bigint: true }).then((s) => s.ino, () => null);
  return ino !== id;
}

/**
 * Calls back when an entry of the cgroup's name changes in its parent directory. A
 * removed cgroup raises no event on its own files (kernfs deletes them without the
 * VFS), only on its parent; the caller checks with cgroupGone.
 */
export function watchRemoval(mount: string, cg: Cgroup, onChange: () => void): Promise<FSWatcher> {
  const parts = cg.cgroupPath.split('/').filter(Boolean);
  const self = parts.pop()!;
  return new CgroupFs(mount).watchDir(parts.join('/'), (name) => {
    if (name === self) onChange();
  });
}
