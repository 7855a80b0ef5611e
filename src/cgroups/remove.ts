// Killing and removing a subtree. The kernel refuses rmdir while a cgroup is
// populated or has children, so: kill (or wait), wait for `populated 0`, then
// rmdir deepest first.
import { setTimeout as sleep } from 'node:timers/promises';
import { GpusliceError, errnoOf, isGpusliceError } from '../errors.js';
import type { Cgroup } from './cgroup.js';
import { waitFor } from './events.js';
import { cgroupPathOfPid } from './proc.js';

export interface RemoveOptions {
  /** kill the processes first (default false: wait for them to exit) */
  kill?: boolean;
  /** how long to wait for the subtree to empty and the rmdirs to succeed (default 5000) */
  timeoutMs?: number;
}

const within = (path: string, top: string) => path === top || path.startsWith(top === '/' ? '/' : top + '/');

async function refuseSelf(cg: Cgroup, op: string): Promise<void> {
  const mine = await cgroupPathOfPid('self').catch(() => null);
  if (mine !== null && within(mine, cg.cgroupPath)) {
    throw new GpusliceError('GS_ERR_CGROUP_REMOVE', `refusing to ${op} ${cg.path}: gpuslice itself runs in it (${mine})`, {
      op, path: cg.path, errno: 'EBUSY',
    });
  }
}

function sigkill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch (err) {
    if (errnoOf(err) !== 'ESRCH') throw err; // already gone
  }
}

export async function killSubtree(cg: Cgroup): Promise<void> {
  await refuseSelf(cg, 'kill');
  const features = await cg.ctx.features();
  if (features.kill) return cg.write('cgroup.kill', '1');
  // No cgroup.kill before 5.14: a frozen subtree cannot fork, and SIGKILL still
  // ends frozen tasks in the v2 freezer, so one pass over cgroup.procs suffices.
  // Without a freezer, repeat passes until a pass finds nobody.
  if (features.freeze) await cg.write('cgroup.freeze', '1');
  try {
    for (let pass = 0; pass < 10; pass++) {
      let found = 0;
      for (const c of await cg.descendants()) {
        for (const pid of await c.procs()) {
          found++;
          sigkill(pid);
        }
      }
      if (found === 0 || features.freeze) break;
    }
  } finally {
    if (features.freeze) await cg.write('cgroup.freeze', '0').catch(() => undefined);
  }
}

export async function removeSubtree(cg: Cgroup, opts: RemoveOptions): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const deadline = Date.now() + timeoutMs;
  if (!(await cg.exists())) return;
  try {
    if (opts.kill) await cg.kill();
    await waitFor(cg, (ev) => !ev.populated, timeoutMs);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return; // removed under us
    if (isGpusliceError(err, 'GS_ERR_CGROUP_TIMEOUT')) {
      throw new GpusliceError('GS_ERR_CGROUP_REMOVE',
        `cannot remove ${cg.path}: still populated after ${timeoutMs} ms${opts.kill ? ' despite SIGKILL (processes in D state?)' : '; pass kill to end its processes'}`,
        { op: 'remove', path: cg.path, errno: 'EBUSY', cause: err });
    }
    throw err;
  }
  for (const c of await cg.descendants()) {
    for (;;) {
      try {
        await cg.ctx.fs.rmdir(c.name);
        break;
      } catch (err) {
        const errno = errnoOf(err);
        if (errno === 'ENOENT') break;
        // EBUSY right after the last task exits can linger briefly while the
        // kernel finishes tearing down css; a late child makes ENOTEMPTY
        if ((errno === 'EBUSY' || errno === 'ENOTEMPTY') && Date.now() < deadline) {
          // a child created after we listed (cgroupfs says EBUSY for that too)
          if ((await c.children().catch(() => [])).length) {
            await removeSubtree(c, { ...opts, timeoutMs: Math.max(1, deadline - Date.now()) });
            break;
          }
          await sleep(10);
          continue;
        }
        throw err;
      }
    }
  }
}
