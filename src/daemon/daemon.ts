// `gpuslice daemon`: owns the managed cgroup subtree, serves the API, and keeps
// every container's enforcement in place. Data flows one way: configuration →
// desired settings → containers (cgroup + enforcers).
import { link, lstat, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { isAlive, processRef } from './records.js';
import { join } from 'node:path';
import { assertUnitName, type CgroupTree } from '../cgroups/index.js';
import type { UnitGpuSettings } from '../config/index.js';
import { GpusliceError } from '../errors.js';
import { startApiServer, type ApiServer, type Session } from './api-server.js';
import { Containers, type Admission, type Container, type Enforcer, type SettingsResolver } from './containers.js';
import { openSubtree } from './subtree.js';
import type { Request } from './protocol.js';
import type { Logger } from '../log.js';

export interface DaemonOptions {
  stateDir: string;
  /** managed subtree, relative to the cgroup2 mount; chosen by openSubtree when omitted */
  cgroupRoot?: string;
  resolveSettings: SettingsResolver;
  /** refuses settings whose guarantees cannot be kept beside the others' */
  admit?: Admission;
  /** opened once the state dir is ours (the API socket bound), so two daemons never share a gate */
  openEnforcers: () => Promise<Enforcer[]>;
  /** a unit's effective [X-GPUSlice] settings; throws on a bad drop-in */
  resolveUnit: (unit: string) => Promise<UnitGpuSettings>;
  log: Logger;
}

export interface Daemon {
  readonly tree: CgroupTree;
  readonly containers: Containers;
  close(): Promise<void>;
}

function handler(tree: CgroupTree, containers: Containers, resolveUnit: DaemonOptions['resolveUnit']) {
  return async (req: Request, session: Session): Promise<unknown> => {
    switch (req.method) {
      case 'list':
      case 'status':
        return { root: tree.path, containers: await Promise.all(containers.all().map((c) => containers.info(c))) };
      case 'create': {
        const c = await containers.create(req.params);
        session.owned.add(c);
        return containers.info(c);
      }
      case 'remove': {
        // a session removes its own container, never a newer one that took the name
        const own = [...(session.owned as Set<Container>)].find((c) => c.name === req.params.name);
        if (own) session.owned.delete(own);
        const unit = containers.get(req.params.name)?.unit;
        if (unit) {
          throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `${unit.name} is a systemd unit: gpuslice lets go of it when systemd removes its cgroup (systemctl stop ${unit.name})`, { value: req.params.name });
        }
        await containers.remove(req.params.name, 'removed on request', own);
        return { removed: req.params.name };
      }
      case 'attach': {
        assertUnitName(req.params.unit);
        const c = await containers.attach(req.params.unit, req.params.cgroup, await resolveUnit(req.params.unit));
        return containers.info(c);
      }
    }
  };
}

/**
 * The state dir holds what root acts on (device nodes, ledgers, records, the socket):
 * it must be root's alone, or another user could point root's writes elsewhere.
 */
async function prepareStateDir(stateDir: string): Promise<void> {
  try {
    await mkdir(join(stateDir, 'cgroup'), { recursive: true, mode: 0o755 });
  } catch (err) {
    throw new GpusliceError('GS_ERR_STATE_DIR', `cannot create state dir ${stateDir}`, { path: stateDir, cause: err });
  }
  const st = await lstat(stateDir);
  const uid = process.getuid?.() ?? 0;
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) {
    throw new GpusliceError('GS_ERR_STATE_DIR', `state dir ${stateDir} must be a directory owned by uid ${uid} and writable by it alone (mode ${(st.mode & 0o777).toString(8)}, owner ${st.uid})`, { path: stateDir });
  }
}

/**
 * One daemon per state dir: <state>/daemon.pid made with link(2), which fails if the
 * name exists, so two daemons starting at once cannot both win. A pid file whose
 * process is gone is stale and taken over.
 */
async function lockStateDir(stateDir: string): Promise<() => Promise<void>> {
  const lock = join(stateDir, 'daemon.pid');
  const me = processRef(process.pid);
  // pid and start time: a pid reused by another process after a crash is no daemon
  const mine = `${process.pid} ${me?.startTime ?? ''}\n`;
  const tmp = join(stateDir, `.daemon.pid.${process.pid}`);
  await writeFile(tmp, mine, { mode: 0o644 });
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await link(tmp, lock);
        return async () => {
          // only our own lock: never one a successor took over
          if ((await readFile(lock, 'utf8').catch(() => '')) === mine) await unlink(lock).catch(() => {});
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const held = await readFile(lock, 'utf8').catch(() => '');
      const [pid, startTime] = held.trim().split(' ');
      if (Number(pid) > 0 && isAlive({ pid: Number(pid), startTime: startTime ?? '' })) {
        throw new GpusliceError('GS_ERR_STATE_DIR', `another gpuslice daemon (pid ${pid}) is using ${stateDir}; stop it or use another --state-dir`, { path: lock });
      }
      // stale: taken over by renaming ours over it, so a rival doing the same cannot
      // remove the lock we just took
      if ((await readFile(lock, 'utf8').catch(() => '')) === held) {
        await rename(tmp, lock);
        await writeFile(tmp, mine, { mode: 0o644 }).catch(() => {});
        if ((await readFile(lock, 'utf8').catch(() => '')) === mine) {
          return async () => {
            if ((await readFile(lock, 'utf8').catch(() => '')) === mine) await unlink(lock).catch(() => {});
          };
        }
      }
    }
    throw new GpusliceError('GS_ERR_STATE_DIR', `cannot take ${lock}: another daemon is starting`, { path: lock });
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

/**
 * A state dir serves one subtree: its records, ledgers and gate pins describe the
 * containers there. Starting it on another subtree would strand those containers.
 */
async function bindSubtree(stateDir: string, subtree: string): Promise<void> {
  const file = join(stateDir, 'cgroup-root');
  const before = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (before && before !== subtree) {
    throw new GpusliceError('GS_ERR_STATE_DIR', `state dir ${stateDir} belongs to the cgroup subtree ${before}, not ${subtree}: use the same --cgroup-root, or another --state-dir`, { path: file });
  }
  if (!before) await writeFile(file, subtree + '\n', { mode: 0o644 });
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const { stateDir, log } = opts;
  await prepareStateDir(stateDir);
  const unlock = await lockStateDir(stateDir);
  // requests wait until the subtree is adopted; the socket is claimed first so that a
  // second daemon on the same state dir never touches the subtree
  // on shutdown the daemon closes its clients' connections itself: that is not their owners leaving
  let stopping = false;
  let ready!: (v: { tree: CgroupTree; containers: Containers }) => void;
  const parts = new Promise<{ tree: CgroupTree; containers: Containers }>((r) => (ready = r));
  let server: ApiServer;
  try {
    server = await startApiServer(
      join(stateDir, 'api.sock'),
      async (req, session) => {
        const { tree, containers } = await parts;
        return handler(tree, containers, opts.resolveUnit)(req, session);
      },
      (session) => {
        // a client that goes away without removing its container (killed) loses it
        if (stopping) return;
        void parts.then(({ containers }) => {
          for (const c of session.owned as Set<Container>) {
            if (containers.get(c.name) === c) void containers.remove(c.name, 'owner disconnected', c).catch((err) => log.warn({ container: c.name, err }, 'cannot remove container of a closed session'));
          }
        });
      },
      log,
    );
  } catch (err) {
    await unlock();
    throw err;
  }
  let tree: CgroupTree;
  let containers: Containers;
  let enforcers: Enforcer[] = [];
  try {
    enforcers = await opts.openEnforcers();
    tree = await openSubtree(opts.cgroupRoot, log);
    await bindSubtree(stateDir, tree.path);
    containers = new Containers(tree, stateDir, opts.resolveSettings, enforcers, log, opts.admit);
    await containers.adopt();
  } catch (err) {
    await server.close();
    for (const e of enforcers) await e.close?.().catch(() => {});
    await unlock();
    throw err;
  }
  ready({ tree, containers });
  log.info({ stateDir, cgroupRoot: tree.path, enforcers: enforcers.map((e) => e.name) }, 'gpuslice daemon ready');

  return {
    tree,
    containers,
    async close() {
      stopping = true;
      await server.close();
      await containers.close();
      await unlock();
      log.info('gpuslice daemon stopped; containers keep their enforcement');
    },
  };
}
