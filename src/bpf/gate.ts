// The device gate: one cgroup/dev program, attached to each container's cgroup
// as a pinned bpf_link (multi-attach: other programs on the cgroup keep running,
// the kernel ANDs them), with the container's rules in pinned maps.
import { closeSync, constants, existsSync, openSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { GpusliceError, isGpusliceError } from '../errors.js';
import { libbpf, check, checkPtr, errnoName, BPF_F_LOCK, BPF_NOEXIST, type BpfObject, type BpfProgram, type BpfLink } from './libbpf.js';
import { ensureBpffs } from './bpffs.js';
import { BpfMapFd } from './maps.js';
import { DenialReader, type DenialEvent } from './events.js';
import { routeLibbpfTo, takeLibbpfMessages, silentLogger, type GateLogger } from './log.js';
import { rcuGracePeriod } from './rcu.js';
import { readPinnedLink, scanState } from './adopt.js';
import { planRules, type GateSpec } from './plan.js';
import * as L from './layout.js';

export type { GateSpec } from './plan.js';
export type { DenialEvent } from './events.js';

export interface DeviceGateOptions {
  /** where links and maps are pinned; one gate per directory */
  pinDir?: string;
  /** the compiled program, build/devgate.bpf.o */
  objectPath?: string;
  logger?: GateLogger;
  /** how often the denial ring buffer is read */
  pollMs?: number;
  /** test seam: runs after a container's rules are written, before it is attached */
  afterRules?: (cgroupId: bigint) => void | Promise<void>;
}

export const DEFAULT_PIN_DIR = '/sys/fs/bpf/gpuslice/default';
const MAX_DOOMED = 16384;

interface Container {
  gen: number;
  /** the rule keys of the active generation, to delete when it is replaced */
  keys: Buffer[];
  link: BpfLink | null;
}

/** The inode number of a cgroup directory: what bpf_get_current_cgroup_id() returns. */
export function cgroupIdOf(path: string): bigint {
  return statSync(path, { bigint: true }).ino;
}

export class DeviceGate {
  private readonly containers = new Map<bigint, Container>();
  private readonly listeners = new Set<(ev: DenialEvent) => void>();
  private queue: Promise<unknown> = Promise.resolve();
  private reaping: Promise<void> | null = null;
  private readonly doomed: Buffer[] = [];
  private closed = false;

  private constructor(
    private readonly opts: Required<Pick<DeviceGateOptions, 'pinDir' | 'logger'>> & DeviceGateOptions,
    private readonly obj: BpfObject,
    private readonly prog: BpfProgram,
    private readonly maps: { containers: BpfMapFd; rules: BpfMapFd; denials: BpfMapFd },
    private reader: DenialReader | null,
  ) {}

  /**
   * Loads build/devgate.bpf.o, reusing the maps pinned under `pinDir` (bpffs is
   * mounted when missing), and adopts the links pinned there: each is moved to
   * the program just loaded (BPF_LINK_UPDATE), and those whose cgroup is gone
   * are deleted with their rules. Throws GS_ERR_BPFFS, GS_ERR_BPF_LOAD, GS_ERR_BPF_PIN.
   */
  static async open(options: DeviceGateOptions = {}): Promise<DeviceGate> {
    const pinDir = options.pinDir ?? DEFAULT_PIN_DIR;
    const objectPath = options.objectPath ?? 'build/devgate.bpf.o';
    const logger = options.logger ?? silentLogger;
    if (!existsSync(objectPath)) {
      throw new GpusliceError('GS_ERR_BPF_LOAD', `device gate object ${objectPath} not found: run make`, { op: 'open', path: objectPath });
    }
    ensureBpffs(join(pinDir, 'links'));
    routeLibbpfTo(logger);
    const lib = libbpf();
    takeLibbpfMessages();
    const obj = checkPtr(lib.objectOpenFile(objectPath), 'GS_ERR_BPF_LOAD', `cannot open BPF object ${objectPath}`, { op: 'open', path: objectPath });
    try {
      for (const name of ['containers', 'rules', 'denials', 'events']) {
        const m = checkPtr(lib.findMap(obj, name), 'GS_ERR_BPF_LOAD', `BPF object ${objectPath} has no map '${name}'`, { op: 'open' });
        check(lib.mapSetPinPath(m, join(pinDir, 'maps', name)), 'GS_ERR_BPF_PIN', `cannot set the pin path of map '${name}'`, { op: 'pin' });
      }
      const rc = lib.objectLoad(obj);
      if (rc < 0) {
        const why = takeLibbpfMessages();
        check(rc, 'GS_ERR_BPF_LOAD', `cannot load the device gate ${objectPath} (maps pinned in ${pinDir})`, {
          // cgroup/dev programs may call bpf_get_current_{pid_tgid,comm,ancestor_cgroup_id}
          // only since Linux 6.1 (cgroup_current_func_proto); older kernels fail verification
          op: 'load', path: objectPath, hint: `${why ? `libbpf: ${why}; ` : ''}the device gate needs root and Linux 6.1 or later`,
        });
      }
      const prog = checkPtr(lib.findProgram(obj, 'devgate'), 'GS_ERR_BPF_LOAD', `BPF object ${objectPath} has no program 'devgate'`, { op: 'open' });
      const fd = (name: string) => lib.mapFd(lib.findMap(obj, name)!);
      const maps = {
        containers: new BpfMapFd(fd('containers'), 'containers', 8, L.CONTAINER_SIZE),
        rules: new BpfMapFd(fd('rules'), 'rules', L.RULE_KEY_SIZE, 4),
        denials: new BpfMapFd(fd('denials'), 'denials', 8, 8),
      };
      // denials that find no container (fail closed) are counted under id 0
      try {
        maps.denials.update(L.u64(0n), Buffer.alloc(8), BPF_NOEXIST);
      } catch (err) {
        if ((err as GpusliceError).errno !== 'EEXIST') throw err;
      }
      const gate = new DeviceGate({ ...options, pinDir, logger }, obj, prog, maps, null);
      gate.reader = new DenialReader(fd('events'), (ev) => gate.dispatch(ev), options.pollMs);
      gate.reader.start();
      gate.adoptPins();
      return gate;
    } catch (err) {
      lib.objectClose(obj);
      throw err;
    }
  }

  private get linksDir(): string {
    return join(this.opts.pinDir, 'links');
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new GpusliceError('GS_ERR_BPF_MAP', 'the device gate is closed', { op: 'apply' }));
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Reads the pins and maps a previous process left, and moves its links to our program. */
  private adoptPins(): void {
    const lib = libbpf();
    const state = scanState(this.maps.containers, this.maps.rules);
    const links = new Map<bigint, BpfLink>();
    for (const name of readdirSync(this.linksDir)) {
      const pin = join(this.linksDir, name);
      const { link, cgroupId } = readPinnedLink(pin);
      if (!link) continue;
      if (cgroupId === 0n || String(cgroupId) !== name) {
        // the cgroup is gone (the kernel detached the link) or the pin is foreign
        this.opts.logger.info({ pin, cgroupId: String(cgroupId) }, 'device gate: deleting the pin of a cgroup that is gone');
        lib.linkUnpin(link);
        lib.linkDestroy(link);
        continue;
      }
      check(lib.linkUpdateProgram(link, this.prog), 'GS_ERR_BPF_ATTACH', `cannot move the link pinned at ${pin} to the new program`, { op: 'link_update', path: pin });
      links.set(cgroupId, link);
    }
    for (const [id, c] of state.containers) {
      const link = links.get(id) ?? null;
      links.delete(id);
      if (!link) {
        // rules written but never attached (a crash mid-apply): nothing to keep
        this.retire(c.allKeys);
        this.maps.containers.delete(L.u64(id));
        this.maps.denials.delete(L.u64(id));
        continue;
      }
      this.retire(c.staleKeys);
      this.containers.set(id, { gen: c.gen, keys: c.activeKeys, link });
    }
    this.retire(state.orphanKeys);
    for (const [id, link] of links) {
      // attached with no rules: the program denies everything there (fail closed)
      // a listener logs it with the container's name; without one the gate says it itself
    if (this.listeners.size === 0) this.opts.logger.warn({ cgroupId: String(id) }, 'device gate: adopted a link with no rules; it denies every device until the container is applied again');
      this.containers.set(id, { gen: 0, keys: [], link });
    }
  }

  /**
   * Gates the cgroup at `cgroupPath` (whose inode is `cgroupId`) with `spec`, or
   * replaces its rules. New rules go into a fresh generation, the container's
   * active generation flips with one in-place map update, and the old one is
   * deleted after an RCU grace period: no check ever sees a mix. On failure a new
   * container is left ungated and unpinned; an existing one keeps its old rules.
   */
  async apply(cgroupPath: string, cgroupId: bigint, spec: GateSpec): Promise<void> {
    const plan = planRules(spec);
    return this.serial(async () => {
      // back-pressure: old generations wait for a grace period before deletion;
      // a burst of updates must not fill the rule map with them
      if (this.doomed.length > MAX_DOOMED) await this.reap();
      const old = this.containers.get(cgroupId);
      try {
        this.assertCgroup(cgroupPath, cgroupId, 'apply');
      } catch (err) {
        // the cgroup is gone: what we held for it guards nothing now
        if (old) await this.forget(cgroupId);
        throw err;
      }
      const gen = old ? (old.gen + 1) >>> 0 || 1 : 1;
      const keys: Buffer[] = [];
      const value = L.u32(0);
      try {
        for (const r of plan.entries) {
          const key = L.encodeRuleKey({ cgroupId, gen, type: r.type, major: r.major, minor: r.minor });
          value.writeUInt32LE(r.access);
          this.maps.rules.update(key, value, 0n);
          keys.push(key);
        }
        const state = L.encodeContainer({ gen, cgroupId, mode: plan.mode, defaultAllow: plan.defaultAllow, majors: plan.majors });
        if (old) {
          this.maps.containers.update(L.u64(cgroupId), state, BPF_F_LOCK);
        } else {
          try {
            this.maps.denials.update(L.u64(cgroupId), L.u64(0n), BPF_NOEXIST);
          } catch (err) {
            if (!isGpusliceError(err) || err.errno !== 'EEXIST') throw err;
          }
          this.maps.containers.update(L.u64(cgroupId), state, BPF_NOEXIST);
        }
      } catch (err) {
        this.retire(keys);
        throw err;
      }
      if (old) {
        this.retire(old.keys);
        old.gen = gen;
        old.keys = keys;
        if (old.link) return;
      }
      const entry: Container = old ?? { gen, keys, link: null };
      this.containers.set(cgroupId, entry);
      try {
        await this.opts.afterRules?.(cgroupId);
        entry.link = this.attach(cgroupPath, cgroupId);
      } catch (err) {
        await this.forget(cgroupId);
        throw err;
      }
    });
  }

  private assertCgroup(path: string, id: bigint, op: string): void {
    let ino: bigint;
    try {
      ino = cgroupIdOf(path);
    } catch (cause) {
      throw new GpusliceError('GS_ERR_BPF_ATTACH', `cannot gate cgroup ${path}: ${errnoName((cause as NodeJS.ErrnoException).errno ?? 0)} (is the cgroup still there?)`, { op, path, cause });
    }
    if (ino !== id) {
      throw new GpusliceError('GS_ERR_BPF_ATTACH', `cannot gate cgroup ${path}: its id is ${ino}, not ${id} (the cgroup was replaced)`, { op, path, value: String(id) });
    }
  }

  /** bpf_link_create(BPF_CGROUP_DEVICE) on the cgroup's directory fd, then pin it. */
  private attach(cgroupPath: string, cgroupId: bigint): BpfLink {
    const lib = libbpf();
    const pin = join(this.linksDir, String(cgroupId));
    let fd: number;
    try {
      fd = openSync(cgroupPath, constants.O_RDONLY | constants.O_DIRECTORY);
    } catch (cause) {
      throw new GpusliceError('GS_ERR_BPF_ATTACH', `cannot attach the device gate to ${cgroupPath}: ${(cause as NodeJS.ErrnoException).code} (is the cgroup still there?)`, { op: 'attach', path: cgroupPath, cause });
    }
    let link: BpfLink;
    try {
      link = checkPtr(lib.attachCgroup(this.prog, fd), 'GS_ERR_BPF_ATTACH', `cannot attach the device gate to ${cgroupPath}`, { op: 'attach', path: cgroupPath, hint: 'is the daemon running as root?' });
    } finally {
      closeSync(fd);
    }
    // the cgroup must still be the one we were given once the link holds it
    try {
      this.assertCgroup(cgroupPath, cgroupId, 'attach');
      check(lib.linkPin(link, pin), 'GS_ERR_BPF_PIN', `cannot pin the device gate link of ${cgroupPath} at ${pin}`, { op: 'pin', path: pin });
    } catch (err) {
      lib.linkDetach(link);
      lib.linkDestroy(link);
      throw err;
    }
    return link;
  }

  /** Detaches and unpins the gate of a container and deletes its rules and counter. */
  release(cgroupId: bigint): Promise<void> {
    return this.serial(() => this.forget(cgroupId));
  }

  private async forget(cgroupId: bigint): Promise<void> {
    const lib = libbpf();
    const c = this.containers.get(cgroupId);
    this.containers.delete(cgroupId);
    if (c?.link) {
      lib.linkDetach(c.link);
      lib.linkUnpin(c.link);
      lib.linkDestroy(c.link);
    }
    const pin = join(this.linksDir, String(cgroupId));
    if (existsSync(pin)) unlinkSync(pin);
    this.maps.containers.delete(L.u64(cgroupId));
    this.maps.denials.delete(L.u64(cgroupId));
    if (c) this.retire(c.keys);
    await this.reap();
  }

  /** Queues rule keys for deletion after the next grace period. */
  private retire(keys: Buffer[]): void {
    if (keys.length === 0) return;
    this.doomed.push(...keys);
    this.reaping ??= this.reapLoop();
  }

  private async reapLoop(): Promise<void> {
    try {
      while (this.doomed.length > 0) {
        const batch = this.doomed.splice(0);
        await rcuGracePeriod();
        for (const k of batch) this.maps.rules.delete(k);
      }
    } catch (err) {
      this.opts.logger.error({ err }, 'device gate: deleting old rules failed');
    } finally {
      this.reaping = null;
    }
  }

  /** Resolves once every retired rule is deleted. */
  async reap(): Promise<void> {
    while (this.reaping) await this.reaping;
  }

  /**
   * Releases every gated container whose cgroup id is not in `live` (the daemon
   * passes the cgroups it found); returns the ids released.
   */
  async adopt(live: Iterable<bigint>): Promise<bigint[]> {
    const keep = new Set(live);
    return this.serial(async () => {
      const gone = [...this.containers.keys()].filter((id) => !keep.has(id));
      for (const id of gone) await this.forget(id);
      return gone;
    });
  }

  /**
   * What the kernel holds for a container (scans the rule map: for diagnostics
   * and tests, not for hot paths).
   */
  inspect(cgroupId: bigint): { gated: boolean; pinned: boolean; generation: number | null; ruleEntries: number } {
    const v = this.maps.containers.lookup(L.u64(cgroupId), BPF_F_LOCK);
    let ruleEntries = 0;
    for (const k of this.maps.rules.keys()) if (k.readBigUInt64LE(0) === cgroupId) ruleEntries++;
    return {
      gated: this.containers.get(cgroupId)?.link != null,
      pinned: existsSync(join(this.linksDir, String(cgroupId))),
      generation: v ? L.decodeContainer(v).gen : null,
      ruleEntries,
    };
  }

  /** The container ids gated now. */
  gated(): bigint[] {
    return [...this.containers.keys()];
  }

  /** Calls `fn` for each denial read from the ring buffer; returns an unsubscribe. */
  onDenial(fn: (ev: DenialEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private dispatch(ev: DenialEvent): void {
    // a listener logs it with the container's name; without one the gate says it itself
    if (this.listeners.size === 0) this.opts.logger.warn({ cgroupId: String(ev.cgroupId), pid: ev.pid, comm: ev.comm, device: `${ev.type} ${ev.major}:${ev.minor}`, access: ev.access }, 'device access denied');
    for (const fn of this.listeners) fn(ev);
  }

  /** Reads the ring buffer now (it is also read every pollMs); returns the number of events. */
  drainEvents(): number {
    return this.reader?.drain() ?? 0;
  }

  /** Denials counted by the kernel for a container since it was first gated. */
  async denialCount(cgroupId: bigint): Promise<number> {
    const v = this.maps.denials.lookup(L.u64(cgroupId));
    return v ? Number(v.readBigUInt64LE(0)) : 0;
  }

  /**
   * Stops reading events and closes our file descriptors. Pinned links and maps
   * stay: every container stays gated until a new gate adopts them.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    // closed first: an apply queued while we wait must not run on a closed object
    this.closed = true;
    await this.queue;
    await this.reap();
    this.reader?.drain();
    this.reader?.close();
    this.reader = null;
    const lib = libbpf();
    for (const c of this.containers.values()) if (c.link) lib.linkDestroy(c.link);
    this.containers.clear();
    lib.objectClose(this.obj);
  }
}
