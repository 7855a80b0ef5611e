// The daemon's containers. Most are one cgroup directly under the managed root:
// creating one makes its cgroup and runs every enforcer (device gate, vGPU ledger)
// before the caller may start anything in it; if an enforcer fails, the cgroup is
// removed again (fail closed). Such a container goes away when its owner asks, when
// its owner's connection closes, or when its cgroup empties.
// A systemd unit's cgroup can be attached too (`gpuslice attach` from the unit's
// ExecStartPre): systemd owns that cgroup, so gpuslice never removes it and keeps
// enforcing until systemd does — the cgroup empties between ExecStartPre and
// ExecStart, so emptiness cannot mean the end there.
import { mkdir, readFile, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { GpusliceError } from '../errors.js';
import { CgroupTree, type Cgroup } from '../cgroups/index.js';
import { watchEvents } from '../cgroups/index.js';
import type { UnitGpuSettings } from '../config/index.js';
import type { ContainerInfo, ContainerSettings, ContainerSpec } from './protocol.js';
import type { Logger } from '../log.js';

export interface Container {
  name: string;
  cgroup: Cgroup;
  id: bigint;
  spec: ContainerSpec;
  settings: ContainerSettings;
  createdAt: string;
  env: Record<string, string>;
  /** a systemd unit's cgroup, attached rather than created: never removed by gpuslice */
  unit?: { name: string; settings: UnitGpuSettings };
}

interface ContainerRecord {
  spec: ContainerSpec;
  createdAt: string;
  unit?: { name: string; settings: UnitGpuSettings; cgroupPath: string };
}

/** Something applied to every container before its command may run. */
export interface Enforcer {
  readonly name: string;
  /** applies the container's settings; returns environment for its command */
  apply(c: Container): Promise<Record<string, string> | void>;
  release(c: Container): Promise<void>;
  /** numbers to show in status, e.g. device denials */
  describe?(c: Container): Promise<Record<string, number>>;
  /** after a restart, once every surviving container is adopted */
  adopted?(live: Container[]): Promise<void>;
  close?(): Promise<void>;
}

export type SettingsResolver = (spec: ContainerSpec, cgroupPath: string, unit?: UnitGpuSettings) => ContainerSettings;

export class Containers {
  private readonly byName = new Map<string, Container>();
  private readonly watchers = new Map<string, { close(): void }>();
  private readonly removing = new Map<string, Promise<void>>();

  constructor(
    private readonly tree: CgroupTree,
    private readonly stateDir: string,
    private readonly resolve: SettingsResolver,
    private readonly enforcers: Enforcer[],
    private readonly log: Logger,
  ) {}

  private recordPath(name: string): string {
    return join(this.stateDir, 'containers', `${name}.json`);
  }

  async create(spec: ContainerSpec): Promise<Container> {
    const name = spec.name ?? `run-${spec.owner ?? process.pid}-${randomBytes(3).toString('hex')}`;
    if (this.byName.has(name) || this.removing.has(name)) {
      throw new GpusliceError('GS_ERR_CONTAINER_EXISTS', `a container named ${name} already exists; pick another --name or remove it first`, { value: name });
    }
    const existing = this.tree.get(name);
    if (await existing.exists()) {
      throw new GpusliceError('GS_ERR_CONTAINER_EXISTS', `cgroup ${existing.path} already exists; pick another --name`, { path: existing.path });
    }
    const cgroup = await this.tree.create(name);
    const c: Container = {
      name,
      cgroup,
      id: await cgroup.id(),
      spec,
      settings: this.resolve(spec, cgroup.cgroupPath),
      createdAt: new Date().toISOString(),
      env: { GPUSLICE_CONTAINER: name, GPUSLICE_STATE_DIR: this.stateDir },
    };
    await this.enforce(c);
    this.log.info({ container: name, cgroup: cgroup.cgroupPath, settings: c.settings }, 'container created');
    return c;
  }

  /**
   * Enforces a systemd unit's settings on the unit's own cgroup (given as
   * /proc/PID/cgroup shows it). Attaching the same cgroup again is a no-op.
   */
  async attach(unit: string, cgroupPath: string, unitSettings: UnitGpuSettings): Promise<Container> {
    const existing = this.byName.get(unit);
    const tree = await this.openExternal(cgroupPath);
    if (existing) {
      if (existing.cgroup.cgroupPath === cgroupPath && existing.id === (await tree.root.id())) return existing;
      throw new GpusliceError('GS_ERR_CONTAINER_EXISTS', `unit ${unit} is already attached with cgroup ${existing.cgroup.cgroupPath}`, { value: unit });
    }
    const c: Container = {
      name: unit,
      cgroup: tree.root,
      id: await tree.root.id(),
      spec: {},
      settings: this.resolve({}, cgroupPath, unitSettings),
      createdAt: new Date().toISOString(),
      env: { GPUSLICE_CONTAINER: unit, GPUSLICE_STATE_DIR: this.stateDir },
      unit: { name: unit, settings: unitSettings },
    };
    await this.enforce(c);
    this.log.info({ container: unit, cgroup: cgroupPath, settings: c.settings }, 'systemd unit attached');
    return c;
  }

  private async openExternal(cgroupPath: string): Promise<CgroupTree> {
    const rel = cgroupPath.replace(/^\/+/, '');
    if (rel === '' || rel.split('/').some((p) => p === '..' || p === '.')) {
      throw new GpusliceError('GS_ERR_CGROUP_PATH_ESCAPE', `cannot attach cgroup ${cgroupPath}: give a path below the cgroup2 root, as /proc/self/cgroup shows it`, { value: cgroupPath });
    }
    if (this.tree.fromCgroupPath(cgroupPath)) {
      throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `cgroup ${cgroupPath} is inside the managed subtree; only cgroups systemd owns are attached`, { value: cgroupPath });
    }
    const probe = this.tree.mount + '/' + rel;
    if (!(await stat(probe).then((st) => st.isDirectory(), () => false))) {
      throw new GpusliceError('GS_ERR_CGROUP_READ', `cgroup ${cgroupPath} does not exist (${probe})`, { path: probe });
    }
    return CgroupTree.open({ mount: this.tree.mount, root: rel });
  }

  /** Runs every enforcer; on failure undoes the container (fail closed). */
  private async enforce(c: Container): Promise<void> {
    this.byName.set(c.name, c);
    try {
      for (const e of this.enforcers) {
        const env = await e.apply(c);
        if (env) Object.assign(c.env, env);
      }
      await this.persist(c);
    } catch (err) {
      this.log.error({ container: c.name, err }, 'container setup failed; undoing it (fail closed)');
      await this.remove(c.name, 'setup failed').catch(() => {});
      throw err;
    }
    this.watch(c);
  }

  /** Removes a container: kills what runs in it, releases enforcers, removes the cgroup. */
  remove(name: string, reason: string): Promise<void> {
    const inFlight = this.removing.get(name);
    if (inFlight) return inFlight;
    const c = this.byName.get(name);
    if (!c) {
      return Promise.reject(new GpusliceError('GS_ERR_CONTAINER_NOT_FOUND', `no container named ${name} (see gpuslice status)`, { value: name }));
    }
    const p = (async () => {
      this.watchers.get(name)?.close();
      this.watchers.delete(name);
      try {
        // systemd owns a unit's cgroup: it is never killed or removed here
        if (!c.unit) await c.cgroup.remove({ kill: true, timeoutMs: 10_000 });
      } finally {
        // release after the processes are gone: enforcement holds until then
        for (const e of [...this.enforcers].reverse()) {
          await e.release(c).catch((err) => this.log.warn({ container: name, enforcer: e.name, err }, 'release failed'));
        }
        await unlink(this.recordPath(name)).catch(() => {});
        this.byName.delete(name);
        this.log.info({ container: name, reason }, 'container removed');
      }
    })();
    this.removing.set(name, p);
    return p.finally(() => this.removing.delete(name));
  }

  /**
   * Re-resolves every container's settings (after a policy reload) and re-applies
   * the enforcers of those that changed. A container whose new settings do not
   * resolve keeps its old ones: nothing is left unenforced.
   */
  async reapply(): Promise<void> {
    for (const c of this.byName.values()) {
      let next: ContainerSettings;
      try {
        next = this.resolve(c.spec, c.cgroup.cgroupPath, c.unit?.settings);
      } catch (err) {
        this.log.warn({ container: c.name, err }, 'new policy does not resolve for this container; it keeps its settings');
        continue;
      }
      if (JSON.stringify(next) === JSON.stringify(c.settings)) continue;
      const before = c.settings;
      c.settings = next;
      try {
        for (const e of this.enforcers) await e.apply(c);
        this.log.info({ container: c.name, before, after: next }, 'settings changed');
      } catch (err) {
        c.settings = before;
        this.log.error({ container: c.name, err }, 'cannot apply new settings; previous enforcement stays');
        for (const e of this.enforcers) await e.apply(c).catch(() => {});
      }
    }
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
   * Adopts containers a previous daemon left: a cgroup under the managed root with a
   * record is re-enforced and watched; one that is empty, or has no record, is removed.
   */
  async adopt(): Promise<void> {
    await mkdir(join(this.stateDir, 'containers'), { recursive: true });
    for (const cg of await this.tree.list()) {
      const name = cg.name;
      let rec: { spec: ContainerSpec; createdAt: string } | undefined;
      try {
        rec = JSON.parse(await readFile(this.recordPath(name), 'utf8'));
      } catch {
        rec = undefined;
      }
      const populated = (await cg.events().catch(() => ({ populated: false }))).populated;
      const c: Container = {
        name,
        cgroup: cg,
        id: await cg.id(),
        spec: rec?.spec ?? {},
        settings: this.resolve(rec?.spec ?? {}, cg.cgroupPath),
        createdAt: rec?.createdAt ?? new Date().toISOString(),
        env: { GPUSLICE_CONTAINER: name, GPUSLICE_STATE_DIR: this.stateDir },
      };
      this.byName.set(name, c);
      if (!rec || !populated) {
        await this.remove(name, rec ? 'found empty at start' : 'no record at start').catch((err) => this.log.warn({ container: name, err }, 'cannot remove leftover cgroup'));
        continue;
      }
      for (const e of this.enforcers) {
        const env = await e.apply(c);
        if (env) Object.assign(c.env, env);
      }
      this.watch(c);
      this.log.info({ container: name }, 'container adopted');
    }
    await this.adoptUnits();
    for (const e of this.enforcers) await e.adopted?.(this.all());
    // records whose cgroup is gone
    for (const f of await readdir(join(this.stateDir, 'containers'))) {
      const name = f.replace(/\.json$/, '');
      if (!this.byName.has(name)) await unlink(join(this.stateDir, 'containers', f)).catch(() => {});
    }
  }

  /** Attached units survive a daemon restart while systemd keeps their cgroup. */
  private async adoptUnits(): Promise<void> {
    for (const f of await readdir(join(this.stateDir, 'containers'))) {
      const name = f.replace(/\.json$/, '');
      if (this.byName.has(name)) continue;
      let rec: ContainerRecord;
      try {
        rec = JSON.parse(await readFile(join(this.stateDir, 'containers', f), 'utf8'));
      } catch {
        continue;
      }
      if (!rec.unit) continue;
      await this.attach(rec.unit.name, rec.unit.cgroupPath, rec.unit.settings).then(
        () => this.log.info({ container: name }, 'systemd unit adopted'),
        (err) => this.log.info({ container: name, err: (err as Error).message }, 'attached unit is gone'),
      );
    }
  }

  private async persist(c: Container): Promise<void> {
    const path = this.recordPath(c.name);
    await mkdir(join(this.stateDir, 'containers'), { recursive: true });
    const rec: ContainerRecord = { spec: c.spec, createdAt: c.createdAt };
    if (c.unit) rec.unit = { ...c.unit, cgroupPath: c.cgroup.cgroupPath };
    await writeFile(path + '.tmp', JSON.stringify(rec) + '\n', { mode: 0o600 });
    await rename(path + '.tmp', path);
  }

  /**
   * Any change of cgroup.events that leaves a created container unpopulated means
   * its processes are gone. A unit's cgroup is watched until systemd removes it,
   * which shows only on its parent directory.
   */
  private watch(c: Container): void {
    if (c.unit) {
      void this.watchRemoval(c);
      return;
    }
    const w = watchEvents(c.cgroup, (ev) => {
      if (!ev.populated && this.byName.has(c.name)) void this.remove(c.name, 'cgroup emptied').catch(() => {});
    });
    this.watchers.set(c.name, w);
  }

  private async watchRemoval(c: Container): Promise<void> {
    const parts = c.cgroup.cgroupPath.split('/').filter(Boolean);
    const self = parts.pop()!;
    const gone = async () => {
      if (this.byName.get(c.name) === c && !(await c.cgroup.exists())) void this.remove(c.name, 'cgroup removed by systemd').catch(() => {});
    };
    try {
      // a unit cgroup always sits in a slice, never at the root
      const parent = await CgroupTree.open({ mount: this.tree.mount, root: parts.join('/') });
      const w = await parent.root.watchChildren((name) => {
        if (name === self) void gone();
      });
      this.watchers.set(c.name, w);
      await gone(); // removed before the watch was armed
    } catch (err) {
      this.log.warn({ container: c.name, err }, 'cannot watch the unit cgroup for removal');
    }
  }

  async close(): Promise<void> {
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    for (const e of this.enforcers) await e.close?.();
  }
}
