// A process's cgroup v2 path, from /proc/PID/cgroup (not cgroupfs, so not
// through CgroupFs).
import { promises as fsp } from 'node:fs';
import { GpusliceError } from '../errors.js';
import { parseProcCgroup } from './parse.js';

/**
 * Reads /proc/PID/cgroup and returns the v2 path (`/gpuslice/train`), or null
 * when the process is in no v2 hierarchy. Paths are relative to the reader's
 * cgroup namespace.
 */
export async function cgroupPathOfPid(pid: number | 'self'): Promise<string | null> {
  const path = `/proc/${pid}/cgroup`;
  try {
    return parseProcCgroup(await fsp.readFile(path, 'utf8'));
  } catch (cause) {
    throw new GpusliceError('GS_ERR_CGROUP_READ', `cannot read ${path} (has the process exited?)`, { op: 'read', path, cause });
  }
}
