// Finding the cgroup2 hierarchy from /proc/self/mountinfo. The parser is pure;
// the reader around it touches only /proc/self/mountinfo.
import { readFileSync } from 'node:fs';
import { GpusliceError } from '../errors.js';

export interface MountInfoEntry {
  id: number;
  parentId: number;
  /** major:minor of the filesystem */
  device: string;
  /** the root of the mount within its filesystem ("/" unless bind-mounted or in a cgroup namespace) */
  root: string;
  mountPoint: string;
  options: string[];
  optionalFields: string[];
  fsType: string;
  source: string;
  superOptions: string[];
}

/** The cgroup layouts systemd knows: v2 only, v1 with v2 at /unified, v1 only. */
export type CgroupLayout = 'unified' | 'hybrid' | 'legacy' | 'none';

// mountinfo escapes space, tab, newline and backslash as \ooo (proc_pid_mountinfo(5))
function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Parses the text of /proc/PID/mountinfo; malformed lines are skipped. */
export function parseMountinfo(text: string): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (f.length < 10 || sep < 0 || f.length < sep + 3) continue;
    out.push({
      id: Number(f[0]),
      parentId: Number(f[1]),
      device: f[2],
      root: unescapeOctal(f[3]),
      mountPoint: unescapeOctal(f[4]),
      options: f[5].split(','),
      optionalFields: f.slice(6, sep),
      fsType: f[sep + 1],
      source: unescapeOctal(f[sep + 2]),
      superOptions: (f[sep + 3] ?? '').split(','),
    });
  }
  return out;
}

/** Reads /proc/self/mountinfo. */
export function readMountinfo(): string {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8');
  } catch (cause) {
    throw new GpusliceError('GS_ERR_CGROUP_NO_MOUNT', 'cannot read /proc/self/mountinfo (is /proc mounted?)', {
      op: 'read',
      path: '/proc/self/mountinfo',
      cause,
    });
  }
}

// Later mounts hide earlier ones at the same point, so the last entry wins.
function lastAt(entries: MountInfoEntry[], point: string): MountInfoEntry | undefined {
  return entries.filter((e) => e.mountPoint === point).at(-1);
}

/** Which layout the host uses, judged from what is mounted at /sys/fs/cgroup. */
export function cgroupLayout(mountinfoText: string = readMountinfo()): CgroupLayout {
  const entries = parseMountinfo(mountinfoText);
  const top = lastAt(entries, '/sys/fs/cgroup');
  if (top?.fsType === 'cgroup2') return 'unified';
  if (lastAt(entries, '/sys/fs/cgroup/unified')?.fsType === 'cgroup2') return 'hybrid';
  if (entries.some((e) => e.fsType === 'cgroup')) return 'legacy';
  return entries.some((e) => e.fsType === 'cgroup2') ? 'unified' : 'none';
}

/**
 * The mount point of the cgroup2 hierarchy: `/sys/fs/cgroup` on a pure v2 host,
 * `/sys/fs/cgroup/unified` on a hybrid one, otherwise the first cgroup2 mount.
 * Reads /proc/self/mountinfo unless given its text.
 */
export function findCgroup2Mount(mountinfoText?: string): string {
  const text = mountinfoText ?? readMountinfo();
  const entries = parseMountinfo(text);
  const v2 = entries.filter((e) => e.fsType === 'cgroup2');
  const pick =
    [lastAt(entries, '/sys/fs/cgroup'), lastAt(entries, '/sys/fs/cgroup/unified')].find(
      (e) => e?.fsType === 'cgroup2',
    ) ?? v2[0];
  if (!pick) {
    throw new GpusliceError(
      'GS_ERR_CGROUP_NO_MOUNT',
      'no cgroup2 filesystem is mounted (none in /proc/self/mountinfo); mount one: mount -t cgroup2 none /sys/fs/cgroup',
      { op: 'find-mount', path: '/proc/self/mountinfo' },
    );
  }
  return pick.mountPoint;
}
