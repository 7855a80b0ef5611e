// Which cgroup subtree the daemon manages. Run by hand, it is <cgroup2 mount>/gpuslice.
// Run as a systemd service with Delegate=yes, systemd hands it its own cgroup; the
// "no internal processes" rule of cgroup v2 means the daemon must leave that cgroup's
// root, so it moves itself into <own>/supervisor and puts containers in <own>/containers.
import { cgroupPathOfPid, CgroupTree } from '../cgroups/index.js';
import type { Logger } from '../log.js';

export interface SubtreeChoice {
  root: string;
  reason: string;
}

/** Pure: decides the managed root from an explicit option, the environment and our own cgroup. */
export function chooseSubtree(explicit: string | undefined, env: NodeJS.ProcessEnv, ownCgroup: string | null): SubtreeChoice {
  if (explicit) return { root: explicit.replace(/^\/+/, ''), reason: 'given with --cgroup-root' };
  if (env.GPUSLICE_CGROUP_ROOT) return { root: env.GPUSLICE_CGROUP_ROOT.replace(/^\/+/, ''), reason: 'GPUSLICE_CGROUP_ROOT' };
  // systemd sets INVOCATION_ID for every service it starts
  if (env.INVOCATION_ID && ownCgroup && /\.(service|scope)$/.test(ownCgroup)) {
    return { root: `${ownCgroup.replace(/^\/+/, '')}/containers`, reason: `delegated by systemd (${ownCgroup})` };
  }
  return { root: 'gpuslice', reason: 'default (not under systemd)' };
}

/** Opens the managed subtree; under systemd first moves this process out of the delegated root. */
export async function openSubtree(explicit: string | undefined, log: Logger): Promise<CgroupTree> {
  const own = await cgroupPathOfPid('self').catch(() => null);
  const choice = chooseSubtree(explicit, process.env, own);
  if (choice.reason.startsWith('delegated') && own) {
    const self = await CgroupTree.open({ root: `${own.replace(/^\/+/, '')}/supervisor` });
    await self.root.addProcess(process.pid);
  }
  log.info({ root: choice.root, reason: choice.reason }, 'managed cgroup subtree');
  return CgroupTree.open({ root: choice.root });
}
