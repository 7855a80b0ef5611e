// The cgroup v2 library: mount discovery, a confined cgroupfs accessor, typed
// parsers, cgroup handles, cgroup.events watching and systemd naming.
export { parseMountinfo, readMountinfo, findCgroup2Mount, cgroupLayout, type MountInfoEntry, type CgroupLayout } from './mount.js';
export { CgroupFs, splitRelative } from './fs.js';
export {
  parseControllers, parseSubtreeControl, parseFlatKeyed, parseEvents, parseStat, parseProcs, parseProcCgroup,
  type CgroupEvents, type CgroupStat,
} from './parse.js';
export { Cgroup, isGone, type CgroupContext, type EnableResult } from './cgroup.js';
export { CgroupTree, type OpenOptions } from './tree.js';
export { watchEvents, waitFor, type EventWatcher, type WatchOptions, type EventSource } from './events.js';
export type { RemoveOptions } from './remove.js';
export type { CgroupFeatures } from './features.js';
export { cgroupPathOfPid } from './proc.js';
export * from './systemd.js';
