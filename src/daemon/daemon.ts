// `gpuslice daemon`: owns the managed cgroup subtree, serves the API, and keeps
// every container's enforcement in place. Data flows one way: configuration →
// desired settings → containers (cgroup + enforcers).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { assertUnitName, type CgroupTree } from '../cgroups/index.js';
import type { UnitGpuSettings } from '../config/index.js';
import { GpusliceError } from '../errors.js';
import { startApiServer, type Session } from './api-server.js';
import { Containers, type Enforcer, type SettingsResolver } from './containers.js';
import { openSubtree } from './subtree.js';
import type { Request } from './protocol.js';
import type { Logger } from '../log.js';

export interface DaemonOptions {
  stateDir: string;
  /** managed subtree, relative to the cgroup2 mount; chosen by openSubtree when omitted */
  cgroupRoot?: string;
  resolveSettings: SettingsResolver;
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
        session.owned.add(c.name);
        return containers.info(c);
      }
      case 'remove':
        await containers.remove(req.params.name, 'removed on request');
        session.owned.delete(req.params.name);
        return { removed: req.params.name };
      case 'attach': {
        assertUnitName(req.params.unit);
        const c = await containers.attach(req.params.unit, req.params.cgroup, await resolveUnit(req.params.unit));
        return containers.info(c);
      }
    }
  };
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const { stateDir, log } = opts;
  try {
    await mkdir(join(stateDir, 'cgroup'), { recursive: true, mode: 0o755 });
  } catch (err) {
    throw new GpusliceError('GS_ERR_STATE_DIR', `cannot create state dir ${stateDir}`, { path: stateDir, cause: err });
  }
  // requests wait until the subtree is adopted; the socket is claimed first so that a
  // second daemon on the same state dir never touches the subtree
  // on shutdown the daemon closes its clients' connections itself: that is not their owners leaving
  let stopping = false;
  let ready!: (v: { tree: CgroupTree; containers: Containers }) => void;
  const parts = new Promise<{ tree: CgroupTree; containers: Containers }>((r) => (ready = r));
  const server = await startApiServer(
    join(stateDir, 'api.sock'),
    async (req, session) => {
      const { tree, containers } = await parts;
      return handler(tree, containers, opts.resolveUnit)(req, session);
    },
    (session) => {
      // a client that goes away without removing its container (killed) loses it
      if (stopping) return;
      void parts.then(({ containers }) => {
        for (const name of session.owned) {
          if (containers.get(name)) void containers.remove(name, 'owner disconnected').catch((err) => log.warn({ container: name, err }, 'cannot remove container of a closed session'));
        }
      });
    },
    log,
  );
  let tree: CgroupTree;
  let containers: Containers;
  let enforcers: Enforcer[] = [];
  try {
    enforcers = await opts.openEnforcers();
    tree = await openSubtree(opts.cgroupRoot, log);
    containers = new Containers(tree, stateDir, opts.resolveSettings, enforcers, log);
    await containers.adopt();
  } catch (err) {
    await server.close();
    for (const e of enforcers) await e.close?.().catch(() => {});
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
      log.info('gpuslice daemon stopped; containers keep their enforcement');
    },
  };
}
