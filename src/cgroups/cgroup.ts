// A handle on one cgroup inside the managed subtree. It holds a name, not an
// open directory: every call goes through CgroupFs, so a handle on a removed
// cgroup fails with ENOENT rather than acting elsewhere.
import type { FSWatcher } from 'node:fs';
import { GpusliceError, errnoOf } from '../errors.js';
import type { CgroupFs } from './fs.js';
import type { CgroupFeatures } from './features.js';
import { parseControllers, parseEvents, parseProcs, parseStat, type CgroupEvents, type CgroupStat } from './parse.js';
import { waitFor } from './events.js';
import { killSubtree, removeSubtree, type RemoveOptions } from './remove.js';

/** What every handle of one tree shares. */
export interface CgroupContext {
  /** confined to the managed root */
  readonly fs: CgroupFs;
  /** absolute mount point of the cgroup2 hierarchy */
  readonly mount: string;
  /** the managed root relative to the mount, with a leading slash: "/gpuslice" */
  readonly prefix: string;
  features(): Promise<CgroupFeatures>;
}

export interface EnableResult {
  /** controllers now enabled for the children */
  enabled: string[];
  /** requested controllers this cgroup does not have (on a hybrid host: bound to v1) */
  missing: string[];
}

export class Cgroup {
  /** path relative to the managed root; "" is the managed root itself */
  readonly name: string;
  /** absolute filesystem path */
  readonly path: string;
  /** path relative to the mount, as /proc/PID/cgroup shows it */
  readonly cgroupPath: string;

  constructor(readonly ctx: CgroupContext, name: string) {
    this.path = ctx.fs.resolve(name);
    this.name = name;
    this.cgroupPath = name === '' ? ctx.prefix : `${ctx.prefix === '/' ? '' : ctx.prefix}/${name}`;
  }

  /** read(2) of PATH/FILE */
  read(file: string): Promise<string> {
    return this.ctx.fs.read(this.name, file);
  }

  /** one write(2) of value to PATH/FILE */
  write(file: string, value: string): Promise<void> {
    return this.ctx.fs.write(this.name, file, value);
  }

  /** inotify watch on PATH/FILE (used by watchEvents) */
  watchFile(file: string, listener: () => void, persistent = true): Promise<FSWatcher> {
    return this.ctx.fs.watch(this.name, file, listener, persistent);
  }

  /** Calls back with the name of each child cgroup created or removed (see CgroupFs.watchDir). */
  watchChildren(listener: (name: string) => void, persistent = true): Promise<FSWatcher> {
    return this.ctx.fs.watchDir(this.name, listener, persistent);
  }

  /** lstat of the directory */
  exists(): Promise<boolean> {
    return this.ctx.fs.exists(this.name);
  }

  /** The cgroup id: the directory's inode, which bpf_get_current_cgroup_id() returns. */
  id(): Promise<bigint> {
    return this.ctx.fs.inode(this.name);
  }

  /** Moves a process (all its threads) in: writes PATH/cgroup.procs. */
  addProcess(pid: number): Promise<void> {
    if (!Number.isInteger(pid) || pid <= 0) {
      throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `not a pid: ${pid}`, { op: 'move', value: String(pid) });
    }
    return this.write('cgroup.procs', String(pid));
  }

  /** Pids in this cgroup only (not descendants): PATH/cgroup.procs. */
  async procs(): Promise<number[]> {
    return parseProcs(await this.read('cgroup.procs'));
  }

  /** PATH/cgroup.events */
  async events(): Promise<CgroupEvents> {
    return parseEvents(await this.read('cgroup.events'));
  }

  /** PATH/cgroup.stat */
  async stat(): Promise<CgroupStat> {
    return parseStat(await this.read('cgroup.stat'));
  }

  /** Controllers this cgroup can use (PATH/cgroup.controllers); may be empty on a hybrid host. */
  async controllers(): Promise<string[]> {
    return parseControllers(await this.read('cgroup.controllers'));
  }

  /** Controllers enabled for the children (PATH/cgroup.subtree_control). */
  async subtreeControl(): Promise<string[]> {
    return parseControllers(await this.read('cgroup.subtree_control'), 'cgroup.subtree_control');
  }

  /**
   * Enables controllers for the children by writing "+cpu +memory" to
   * PATH/cgroup.subtree_control. Only those listed in cgroup.controllers are
   * asked for; the rest come back in `missing` rather than as an error, since on
   * a hybrid host they are bound to v1 and absent by design.
   */
  async enableControllers(names: string[]): Promise<EnableResult> {
    const available = await this.controllers();
    const want = names.filter((n) => available.includes(n));
    const missing = names.filter((n) => !available.includes(n));
    if (want.length) await this.write('cgroup.subtree_control', want.map((n) => `+${n}`).join(' '));
    const now = await this.subtreeControl();
    return { enabled: names.filter((n) => now.includes(n)), missing };
  }

  /** Writes "-name …" to PATH/cgroup.subtree_control for those enabled. */
  async disableControllers(names: string[]): Promise<void> {
    const now = await this.subtreeControl();
    const drop = names.filter((n) => now.includes(n));
    if (drop.length) await this.write('cgroup.subtree_control', drop.map((n) => `-${n}`).join(' '));
  }

  /** Direct child cgroups. */
  async children(): Promise<Cgroup[]> {
    const names = await this.ctx.fs.listDirs(this.name);
    return names.map((n) => new Cgroup(this.ctx, this.name === '' ? n : `${this.name}/${n}`));
  }

  /** This cgroup and all below it, deepest first (the order rmdir needs). */
  async descendants(): Promise<Cgroup[]> {
    const out: Cgroup[] = [];
    for (const c of await this.children()) out.push(...(await c.descendants()));
    out.push(this);
    return out;
  }

  /**
   * Freezes (true) or thaws (false) the subtree through PATH/cgroup.freeze
   * (Linux 5.2) and waits until cgroup.events reports `frozen` accordingly.
   */
  async freeze(frozen: boolean, timeoutMs = 5000): Promise<void> {
    if (!(await this.ctx.features()).freeze) {
      throw new GpusliceError('GS_ERR_CGROUP_WRITE', `cannot freeze ${this.path}: no cgroup.freeze (needs Linux 5.2)`, {
        op: 'freeze', path: `${this.path}/cgroup.freeze`, errno: 'ENOENT', value: frozen ? '1' : '0',
      });
    }
    await this.write('cgroup.freeze', frozen ? '1' : '0');
    await waitFor(this, (ev) => ev.frozen === frozen, timeoutMs);
  }

  /**
   * Kills every process in the subtree: PATH/cgroup.kill (Linux 5.14), else
   * SIGKILL to each pid of each descendant's cgroup.procs, frozen first when
   * cgroup.freeze exists so nothing forks away. Does not wait; see remove().
   */
  kill(): Promise<void> {
    return killSubtree(this);
  }

  /**
   * Removes the subtree: kills its processes when `kill`, else waits for them to
   * leave; waits for `populated 0` (inotify, up to timeoutMs); rmdir deepest first.
   * A cgroup that is already gone is not an error.
   */
  remove(opts: RemoveOptions = {}): Promise<void> {
    return removeSubtree(this, opts);
  }
}

/** True when err says the cgroup directory no longer exists. */
export function isGone(err: unknown): boolean {
  return errnoOf(err) === 'ENOENT';
}
