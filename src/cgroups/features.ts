// Kernel features of the cgroup2 core, probed once per tree and cached. Each is
// a file that appears in every non-root cgroup once the kernel has it, so its
// presence is the probe; absence means "not supported", never an error.
import type { CgroupFs } from './fs.js';

export interface CgroupFeatures {
  /** cgroup.kill: kill the whole subtree in one write (Linux 5.14) */
  kill: boolean;
  /** cgroup.freeze and `frozen` in cgroup.events (Linux 5.2) */
  freeze: boolean;
}

/** Probes in `rel`, which must be a non-root cgroup (the root has neither file). */
export async function probeFeatures(fs: CgroupFs, rel: string): Promise<CgroupFeatures> {
  const [kill, freeze] = await Promise.all([fs.exists(rel, 'cgroup.kill'), fs.exists(rel, 'cgroup.freeze')]);
  return { kill, freeze };
}
