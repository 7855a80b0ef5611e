// The daemon's containers. Most are one cgroup directly under the managed root:
// creating one makes its cgroup and runs every enforcer (device gate, vGPU ledger)
// before the caller may start anything in it; if an enforcer fails, the cgroup is
// removed again (fail closed). Such a container goes away when its owner asks, when
// its owner's connection closes (or, after a daemon restart, its owner process
// dies), or when its cgroup empties.
// A systemd unit's cgroup can be attached too (`gpuslice attach` from the unit's
// ExecStartPre): systemd owns that cgroup, so gpuslice never removes it and keeps
// enforcing until systemd does — the cgroup empties between ExecStartPre and
// ExecStart, so emptiness cannot mean the end there.
import { stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { GpusliceError } from '../errors.js';
import { CgroupTree, type Cgroup } from '../cgroups/index.js';
import { cgroupGone, watchEmpty, watchRemoval } from './watch.js';
import type { UnitGpuSettings } from '../config/index.js';
import type { ContainerInfo, ContainerSettings, ContainerSpec } from './protocol.js';
import { Records, isAlive, processRef, type ContainerRecord, type ProcessRef } from './records.js';
import type { Logger } from '../log.js';
import { SerialQueues } from './serial.js';
import { openUnitCgroup } from './units.js';

export interface Container {
  name: string;
  cgroup: Cgroup;
  id: bigint;
  spec: ContainerSpec;
  settings: ContainerSettings;
  createdAt: string;
  env: Record<string, string>;
  /** the `gpuslice run` process that asked for it */
  owner?: ProcessRef;
  /** a systemd unit's cgroup, attached rather than created: never removed by gpuslice */
  unit?: { name: string; settings: UnitGpuSettings };
}

/** Something applied to every container before its command may run. */
export interface Enforcer {
  readonly name: string;
  /** applies the container's settings; returns environment for its command */
  apply(c: Container): Promise<Record<string, string> | void>;
  release(c: Container): Promise<void>;
  /** numbers to show in status, e.g. device denials */
  describe?(c: Container): Promise<Record<string, number>>;
  close?(): Promise<void>;
}

/** Where a container is, for policy matchers: its cgroup path, and its name when it is ours. */
export interface Place {
  cgroupPath: string;
  name?: string;
}

export type SettingsResolver = (spec: ContainerSpec, where: Place, unit?: UnitGpuSettings) => ContainerSettings;
/** Throws when the guarantees of `next` cannot be kept beside those of the others. */
export type Admission = (next: ContainerSettings, others: ContainerSettings[]) => void;

const REMOVE_RETRY_MS = 5000;
const OWNER_POLL_MS = 2000;
// cgroupfs interface files live beside child cgroups: a container must not take their names
const RESERVED_NAME = /^(cgroup|cpu|cpuset|cpuacct|memory|io|blkio|pids|rdma|hugetlb|misc|freezer|devices|net_cls|net_prio|perf_event)\./;

export class Containers {
  private readonly byName = new Map<string, Container>();
  /** names being created or attached, with their settings: taken synchronously, so two
   * requests cannot share a name, and counted by admission before they exist */
  private readonly pending = new Map<string, ContainerSettings | null>();
  /** one queue of operations per name: setup, settings changes and removal never overlap */
  private readonly queues = new SerialQueues();
  private readonly retries = new Set<NodeJS.Timeout>();
  private closing = false;
  private readonly watchers = new Map<string, { close(): void }>();
  private readonly removing = new Map<string, Promise<void>>();
  private readonly records: Records;
  /** adopted containers whose owner's connection died with the previous daemon */
  private readonly orphans = new Set<Container>();
  private readonly ownerTimer: NodeJS.Timeout;

  constructor(
    private readonly tree: CgroupTree,
    private readonly stateDir: string,
    private readonly resolve: SettingsResolver,
    private readonly enforcers: Enforcer[],
    private readonly log: Logger,
    private readonly admit: Admission = () => {},
  ) {
    this.records = new Records(stateDir);
    this.ownerTimer = setInterval(() => this.checkOrphans(), OWNER_POLL_MS);
    this.ownerTimer.unref();
  }

  private others(except?: Container, exceptName?: string): ContainerSettings[] {
    // a pending name is in byName once its set-up starts: count it once
    const pending = [...this.pending].filter(([n, v]) => n !== exceptName && v !== null && !this.byName.has(n)).map(([, v]) => v as ContainerSettings);
    return [...this.all().filter((c) => c !== except).map((c) => c.settings), ...pending];
  }

  private refuseWhenClosing(): void {
    if (this.closing) throw new GpusliceError('GS_ERR_API_UNAVAILABLE', 'the daemon is stopping; try again when it is back');
  }

  async create(spec: ContainerSpec): Promise<Container> {
    const name = spec.name ?? `run-${spec.owner ?? process.pid}-${randomBytes(3).toString('hex')}`;
    if (RESERVED_NAME.test(name)) {
      throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `${name} is the name of a cgroup interface file; pick another --name`, { value: name });
    }
    this.refuseWhenClosing();
    if (this.byName.has(name) || this.removing.has(name) || this.pending.has(name)) {
      throw new GpusliceError('GS_ERR_CONTAINER_EXISTS', `a container named ${name} already exists; pick another --name or remove it first`, { value: name });
    }
    const where = this.tree.get(name);
    // settings first: a request that cannot be met leaves nothing behind
    const settings = this.resolve(spec, { cgroupPath: where.cgroupPath, name }, undefined);
    this.admit(settings, this.others());
    this.pending.set(name, settings);
    try {
      return await this.queues.run(name, () => this.createLocked(name, spec, settings));
    } finally {
      this.pending.delete(name);
    }
  }

  private async createLocked(name: string, spec: ContainerSpec, settings: ContainerSettings): Promise<Container> {
    const where = this.tree.get(name);
    if (await where.exists()) {
      throw new GpusliceError('GS_ERR_CONTAINER_EXISTS', `cgroup ${where.path} already exists; pick another --name`, { path: where.path });
    }
    const cgroup = await this.tree.create(name);
    const c: Container = {
      name,
      cgroup,
      id: await cgroup.id(),
      spec,
      settings,
      createdAt: new Date().toISOString(),
      env: { GPUSLICE_CONTAINER: name, GPUSLICE_STATE_DIR: this.stateDir },
      owner: spec.owner ? processRef(spec.owner) ?? undefined : undefined,
    };
    await this.enforce(c);
    this.log.info({ container: name, cgroup: cgroup.cgroupPath, settings }, 'container created');
    return c;
  }

  /**
   * Enforces a systemd unit's settings on the unit's own cgroup (given as
   * /proc/PID/cgroup shows it). Attaching the same cgroup again is a no-op; a unit
   * restarted by systemd has a new cgroup of the same path, which replaces the old.
   */
  async attach(unit: string, cgroupPath: string, unitSettings: UnitGpuSettings, adopted?: ContainerSettings): Promise<Container> {
    this.refuseWhenClosing();
    // with Delegate=, systemd runs ExecStartPre in the unit's .control sub-cgroup
    const path = cgroupPath.replace(/\/\.control$/, '');
    const last = path.split('/').filter(Boolean).pop();
    if (last !== unit) {
      throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `cgroup ${cgroupPath} is not the cgroup of unit ${unit}; attach runs from the unit's own ExecStartPre`, { value: cgroupPath });
    }
    if (this.pending.has(unit)) {
      throw new GpusliceError('GS_ERR_CONTAINER_EXISTS', `a container named ${unit} is being set up; try again`, { value: unit });
    }
    this.pending.set(unit, null);
    try {
      return await this.queues.run(unit, () => this.attachLocked(unit, path, unitSettings, adopted));
    } finally {
      this.pending.delete(unit);
    }
  }

  private async attachLocked(unit: string, path: string, unitSettings: UnitGpuSettings, adopted?: ContainerSettings): Promise<Container> {
    const tree = await openUnitCgroup(this.tree, path);
    const id = await tree.root.id();
    const existing = this.byName.get(unit);
    if (existing) {
      if (existing.cgroup.cgroupPath === path && existing.id === id) return existing;
      if (existing.cgroup.cgroupPath !== path) {
        throw new GpusliceError('GS_ERR_CONTAINER_EXISTS', `unit ${unit} is already attached with cgroup ${existing.cgroup.cgroupPath}`, { value: unit });
      }
      await this.removeLocked(unit, 'unit restarted: a new cgroup replaces the old');
    }
    let settings: ContainerSettings;
    try {
      settings = this.resolve({}, { cgroupPath: path }, unitSettings);
      this.admit(settings, this.others(undefined, unit));
    } catch (err) {
      // a unit adopted after a restart keeps what it had, as created containers do
      if (!adopted) throw err;
      settings = adopted;
      this.log.warn({ container: unit, err }, 'the policy no longer resolves for this unit; it keeps the settings it had');
    }
    const c: Container = {
      name: unit,
      cgroup: tree.root,
      id,
      spec: {},
      settings,
      createdAt: new Date().toISOString(),
      env: { GPUSLICE_CONTAINER: unit, GPUSLICE_STATE_DIR: this.stateDir },
      unit: { name: unit, settings: unitSettings },
    };
    await this.enforce(c);
    this.log.info({ container: unit, cgroup: path, settings }, 'systemd unit attached');
    return c;
  }

  /** Runs every enforcer and arms the watch; on failure undoes the container (fail closed). */
  private async enforce(c: Container): Promise<void> {
    this.byName.set(c.name, c);
    try {
      for (const e of this.enforcers) {
        const env = await e.apply(c);
        if (env) Object.assign(c.env, env);
      }
      await this.persist(c);
      await this.watch(c);
    } catch (err) {
      this.log.error({ container: c.name, err }, 'container setup failed; undoing it (fail closed)');
      await this.removeLocked(c.name, 'setup failed').catch(() => {});
      throw err;
    }
  }

  /**
   * Removes a container: kills what runs in it, then releases the enforcers and
   * removes the cgroup. If the processes cannot be removed, it stays tracked and
   * enforced, and removal is tried again later. `only` guards against removing a
   * newer container that took the same name.
   */
  remove(name: string, reason: string, only?: Container): Promise<void> {
    return this.queues.run(name, () => this.removeLocked(name, reason, only));
  }

  private async removeLocked(name: string, reason: string, only?: Container): Promise<void> {
    const c = this.byName.get(name);
    if (!c || (only && c !== only)) {
      throw new GpusliceError('GS_ERR_CONTAINER_NOT_FOUND', `no container named ${name} (see gpuslice status)`, { value: name });
    }
    this.removing.set(name, Promise.resolve());
    try {
      this.watchers.get(name)?.close();
      this.watchers.delete(name);
      try {
        // systemd owns a unit's cgroup: it is never killed or removed here
        if (!c.unit) await c.cgroup.remove({ kill: true, timeoutMs: 10_000 });
      } catch (err) {
        this.log.error({ container: name, err }, `cannot remove the container; it stays enforced and removal is retried in ${REMOVE_RETRY_MS / 1000} s`);
        if (!this.closing) {
          const timer = setTimeout(() => {
            this.retries.delete(timer);
            void this.remove(name, reason, c).catch(() => {});
          }, REMOVE_RETRY_MS);
          timer.unref();
          this.retries.add(timer);
        }
        throw err;
      }
      // released after the processes are gone: enforcement holds until then
      for (const e of [...this.enforcers].reverse()) {
        await e.release(c).catch((err) => this.log.warn({ container: name, enforcer: e.name, err }, 'release failed'));
      }
      await this.records.remove(name);
      this.byName.delete(name);
      this.orphans.delete(c);
      this.log.info({ container: name, reason }, 'container removed');
    } finally {
      this.removing.delete(name);
    }
  }

  /**
   * Re-resolves every container's settings (after a policy reload) and re-applies
   * the enforcers of those that changed. A container whose new settings do not
   * resolve keeps its old ones: nothing is left unenforced.
   */
  async reapply(): Promise<void> {
    await this.eachQueued(async (c) => void (await this.reapplyLocked(c)));
  }

  /**
   * Runs fn on every container in its own queue, including those still being set
   * up: their settings were resolved before a change that came meanwhile, so they
   * are visited once their set-up is done.
   */
  private async eachQueued(fn: (c: Container) => Promise<void>): Promise<void> {
    const names = new Set([...this.byName.keys(), ...this.pending.keys()]);
    for (const name of names) {
      await this.queues.run(name, async () => {
        const c = this.byName.get(name);
        if (c) await fn(c);
      }).catch((err) => this.log.error({ container: name, err }, 'cannot apply the change to this container'));
    }
  }

  /** Returns false when the container had to keep its previous settings. */
  private async reapplyLocked(c: Container): Promise<boolean> {
    // removed, or replaced by a newer container of the same name, while this waited
    if (this.byName.get(c.name) !== c) return true;
    let next: ContainerSettings;
    try {
      next = this.resolve(c.spec, this.placeOf(c), c.unit?.settings);
      this.admit(next, this.others(c));
    } catch (err) {
      this.log.warn({ container: c.name, err }, 'new settings do not resolve for this container; it keeps its settings');
      return false;
    }
    if (JSON.stringify(next) === JSON.stringify(c.settings)) return true;
    const before = c.settings;
    c.settings = next;
    try {
      for (const e of this.enforcers) await e.apply(c);
      await this.persist(c);
      this.log.info({ container: c.name, before, after: next }, 'settings changed');
      return true;
    } catch (err) {
      c.settings = before;
      this.log.error({ container: c.name, err }, 'cannot apply new settings; previous enforcement stays');
      for (const e of this.enforcers) await e.apply(c).catch(() => {});
      return false;
    }
  }

  /**
   * Re-reads the [X-GPUSlice] settings of every attached unit (its drop-ins changed)
   * and applies those that changed. A unit whose drop-ins no longer parse keeps
   * what it has, and the errors are logged.
   */
  async refreshUnits(read: (unit: string) => Promise<UnitGpuSettings>): Promise<void> {
    await this.eachQueued(async (c) => {
      const unit = c.unit;
      if (!unit) return;
      let settings: UnitGpuSettings;
      try {
        settings = await read(unit.name);
      } catch (err) {
        this.log.warn({ container: c.name, err: (err as Error).message }, 'the unit\'s drop-ins do not parse; it keeps its settings');
        return;
      }
      if (JSON.stringify(settings) === JSON.stringify(unit.settings)) return;
      const before = unit.settings;
      unit.settings = settings;
      if (!(await this.reapplyLocked(c))) unit.settings = before;
      else await this.persist(c).catch((err) => this.log.error({ container: c.name, err }, 'cannot record the unit\'s new settings'));
    });
  }

  private placeOf(c: Container): Place {
    return c.unit ? { cgroupPath: c.cgroup.cgroupPath } : { cgroupPath: c.cgroup.cgroupPath, name: c.name };
  }

  get(name: string): Container | undefined {
    return this.byName.get(name);
  }

  all(): Container[] {
    return [...this.byName.values()];
  }

  async info(c: Container): Promise<ContainerInfo> {
    const usage: Record<string, number> = {};
    for (const e of this.enforcers) {
      const d = await e.describe?.(c).catch(() => undefined);
      for (const [k, v] of Object.entries(d ?? {})) usage[k] = (usage[k] ?? 0) + v;
    }
    return {
      name: c.name,
      cgroup: c.cgroup.cgroupPath,
      cgroupDir: c.cgroup.path,
      id: c.id.toString(),
      spec: c.spec,
      settings: c.settings,
      pids: await c.cgroup.procs().catch(() => []),
      createdAt: c.createdAt,
      env: c.env,
      denials: usage.denials ?? 0,
      usage,
    };
  }

  /**
   * Adopts what a previous daemon left. A cgroup under the managed root with a record
   * is re-enforced and watched (with the settings it had, should the policy no longer
   * resolve for it); an empty one is removed. A populated cgroup without a record is
   * not ours: it is left alone, and said so. Attached units are re-attached while
   * systemd keeps their cgroup. One container that fails does not stop the others.
   */
  async adopt(): Promise<void> {
    for (const cg of await this.tree.list()) {
      const name = cg.name;
      const rec = await this.records.read(name);
      const populated = (await cg.events().catch(() => ({ populated: false }))).populated;
      if (!rec) {
        if (populated) this.log.warn({ cgroup: cg.path }, 'a populated cgroup in the managed subtree has no record: not ours, left alone');
        else await cg.remove({ kill: false }).catch((err) => this.log.warn({ cgroup: cg.path, err }, 'cannot remove an empty leftover cgroup'));
        continue;
      }
      await this.queues.run(name, () => this.adoptOne(cg, rec, populated)).catch((err) => {
        this.log.error({ container: name, err }, 'cannot adopt the container; its previous enforcement (pinned gate, ledger) stays');
      });
    }
    for (const name of await this.records.names()) {
      if (this.byName.has(name)) continue;
      const rec = await this.records.read(name);
      if (rec?.unit) {
        const ok = await this.attach(rec.unit.name, rec.unit.cgroupPath, rec.unit.settings, rec.settings).then(
          () => true,
          (err) => {
            this.log.warn({ container: name, err: (err as Error).message }, 'cannot re-attach the unit');
            return false;
          },
        );
        if (ok) this.log.info({ container: name }, 'systemd unit adopted');
        // its record goes only with its cgroup: a unit still running stays on file
        const gone = !(await stat(`${this.tree.mount}/${rec.unit.cgroupPath.replace(/^\/+/, '')}`).then(() => true, () => false));
        if (!ok && gone) await this.records.remove(name);
        continue;
      }
      // a record whose cgroup is gone; one that could not be adopted stays on file
      // while its cgroup lives, or the next start would take the container for a stranger's
      if (!(await this.tree.get(name).exists())) await this.records.remove(name);
    }
  }

  private async adoptOne(cg: Cgroup, rec: ContainerRecord, populated: boolean): Promise<void> {
    const settings = this.adoptedSettings(cg, rec);
    const c: Container = {
      name: cg.name,
      cgroup: cg,
      id: await cg.id(),
      spec: rec.spec,
      settings,
      createdAt: rec.createdAt,
      env: { GPUSLICE_CONTAINER: cg.name, GPUSLICE_STATE_DIR: this.stateDir },
      owner: rec.owner,
    };
    this.byName.set(c.name, c);
    if (!populated || (c.owner && !isAlive(c.owner))) {
      await this.removeLocked(c.name, populated ? 'its owner exited while the daemon was away' : 'found empty at start');
      return;
    }
    try {
      for (const e of this.enforcers) {
        const env = await e.apply(c);
        if (env) Object.assign(c.env, env);
      }
    } catch (err) {
      // it runs already: it is watched, and its owner too, all the same
      this.log.error({ container: c.name, err }, 'cannot re-enforce the adopted container; its previous enforcement (pinned gate, ledger) stays');
    }
    await this.watch(c);
    if (c.owner) this.orphans.add(c);
    this.log.info({ container: c.name }, 'container adopted');
    // it may have emptied before the watch was armed
    if (!(await cg.events().catch(() => ({ populated: false }))).populated) await this.removeLocked(c.name, 'emptied while being adopted', c);
  }

  /**
   * What an adopted container runs with: the policy's settings if they resolve and
   * fit beside the containers adopted before it; else those it had (admitted by the
   * previous daemon). It is running already, so it is never refused.
   */
  private adoptedSettings(cg: Cgroup, rec: ContainerRecord): ContainerSettings {
    let resolved: ContainerSettings | undefined;
    try {
      resolved = this.resolve(rec.spec, { cgroupPath: cg.cgroupPath, name: cg.name });
      this.admit(resolved, this.others());
      return resolved;
    } catch (err) {
      const kept = rec.settings ?? resolved;
      if (!kept) throw err;
      this.log.warn({ container: cg.name, err }, 'the policy no longer resolves or fits for this container; it keeps the settings it had');
      return kept;
    }
  }

  /** The owner of an adopted container talks to no one now: its exit ends the container. */
  private checkOrphans(): void {
    for (const c of this.orphans) {
      if (c.owner && !isAlive(c.owner) && this.byName.get(c.name) === c) void this.remove(c.name, 'owner exited', c).catch(() => {});
    }
  }

  private async persist(c: Container): Promise<void> {
    const rec: ContainerRecord = { spec: c.spec, settings: c.settings, createdAt: c.createdAt, owner: c.owner };
    if (c.unit) rec.unit = { ...c.unit, cgroupPath: c.cgroup.cgroupPath };
    await this.records.write(c.name, rec);
  }

  /** Armed before the container is handed out, so no exit can go unseen. */
  private async watch(c: Container): Promise<void> {
    const end = (reason: string) => {
      if (this.byName.get(c.name) === c) void this.remove(c.name, reason, c).catch(() => {});
    };
    const w = c.unit
      ? await watchRemoval(this.tree.mount, c.cgroup, () => void cgroupGone(c.cgroup, c.id).then((gone) => gone && end('cgroup removed by systemd')))
      : await watchEmpty(c.cgroup, () => end('cgroup emptied'));
    // an FSWatcher's 'error' with no listener would take the whole daemon down
    w.on('error', (err) => this.log.error({ container: c.name, err }, 'the container\'s inotify watch failed; its end is seen at the next daemon start'));
    this.watchers.get(c.name)?.close();
    if (this.closing || this.byName.get(c.name) !== c) {
      w.close();
      return;
    }
    this.watchers.set(c.name, w);
    // removed before the watch was armed
    if (c.unit && (await cgroupGone(c.cgroup, c.id))) end('cgroup removed by systemd');
  }

  /** Refuses new work, lets the work in flight finish, then lets go of everything. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.ownerTimer);
    for (const t of this.retries) clearTimeout(t);
    this.retries.clear();
    await this.queues.idle();
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    for (const e of this.enforcers) await e.close?.();
  }
}
