// systemd units as containers: a unit's [X-GPUSlice] drop-ins, resolved with
// systemd's precedence. A unit whose drop-ins have errors is refused, so it does
// not start (its ExecStartPre fails) rather than run with settings it did not ask for.
import { resolveUnit, formatIssue, type UnitGpuSettings } from '../config/index.js';
import { stat } from 'node:fs/promises';
import { GpusliceError } from '../errors.js';
import { CgroupTree } from '../cgroups/index.js';

export async function unitSettings(unit: string, root?: string): Promise<UnitGpuSettings> {
  const r = await resolveUnit(unit, { root });
  if (r.errors.length) {
    throw new GpusliceError('GS_ERR_DROPIN_VALUE', `unit ${unit} has bad [X-GPUSlice] settings:\n${r.errors.map(formatIssue).join('\n')}`, {
      file: r.errors[0].file,
      line: r.errors[0].line,
      col: r.errors[0].col,
    });
  }
  return r.settings;
}

/**
 * Opens a unit's cgroup, given as /proc/PID/cgroup shows it, as a tree of its own:
 * it must exist, lie below the cgroup2 root and outside the managed subtree (a
 * unit's cgroup is systemd's, never one of ours).
 */
export async function openUnitCgroup(managed: CgroupTree, cgroupPath: string): Promise<CgroupTree> {
  const rel = cgroupPath.replace(/^\/+/, '');
  if (rel === '' || rel.split('/').some((p) => p === '..' || p === '.')) {
    throw new GpusliceError('GS_ERR_CGROUP_PATH_ESCAPE', `cannot attach cgroup ${cgroupPath}: give a path below the cgroup2 root, as /proc/self/cgroup shows it`, { value: cgroupPath });
  }
  if (managed.fromCgroupPath(cgroupPath)) {
    throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `cgroup ${cgroupPath} is inside the managed subtree; only cgroups systemd owns are attached`, { value: cgroupPath });
  }
  const probe = `${managed.mount}/${rel}`;
  if (!(await stat(probe).then((st) => st.isDirectory(), () => false))) {
    throw new GpusliceError('GS_ERR_CGROUP_READ', `cgroup ${cgroupPath} does not exist (${probe})`, { path: probe });
  }
  // never made here: one that went since the check fails the attach instead of
  // coming back as a cgroup no one would remove
  return CgroupTree.open({ mount: managed.mount, root: rel, create: false });
}
