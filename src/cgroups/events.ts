// Watching cgroup.events through inotify. The kernel raises a modify event on
// cgroup.events whenever `populated` or `frozen` flips (cgroup-v2.rst, "Core
// Interface Files"), so the daemon learns at once when a container empties.
import type { FSWatcher } from 'node:fs';
import { GpusliceError } from '../errors.js';
import type { CgroupEvents } from './parse.js';

/** What watchEvents needs from a cgroup (Cgroup satisfies it). */
export interface EventSource {
  readonly path: string;
  events(): Promise<CgroupEvents>;
  watchFile(file: string, listener: () => void, persistent?: boolean): Promise<FSWatcher>;
}

export interface WatchOptions {
  /** also call back with the state read when the watch starts (default false) */
  initial?: boolean;
  /** keep the event loop alive while watching (default true) */
  persistent?: boolean;
  /** a read or watch failure, e.g. ENOENT once the cgroup was removed; the watch stays open */
  onError?: (err: GpusliceError) => void;
}

export interface EventWatcher {
  /** resolves once the watch is set up and the baseline state is read */
  readonly ready: Promise<void>;
  close(): void;
}

const same = (a: CgroupEvents | undefined, b: CgroupEvents) =>
  a !== undefined && a.populated === b.populated && a.frozen === b.frozen;

/**
 * Watches PATH/cgroup.events (inotify via fs.watch) and calls back with the
 * parsed state on each change; identical consecutive states are reported once.
 * The watch is armed before the baseline read, so no change can fall between.
 */
export function watchEvents(cg: EventSource, cb: (ev: CgroupEvents) => void, opts: WatchOptions = {}): EventWatcher {
  let closed = false;
  let last: CgroupEvents | undefined;
  let watcher: FSWatcher | undefined;
  // reads are serialised so states arrive in order; a flip during a read is
  // caught by the re-read that its own inotify event queues
  let chain: Promise<void> = Promise.resolve();
  const report = (err: unknown) => {
    if (closed) return;
    const e = err instanceof GpusliceError ? err
      : new GpusliceError('GS_ERR_CGROUP_WATCH', `watching ${cg.path}/cgroup.events failed`, { op: 'watch', path: cg.path, cause: err });
    opts.onError?.(e);
  };
  const check = (emit: boolean) => {
    chain = chain.then(async () => {
      if (closed) return;
      try {
        const ev = await cg.events();
        if (closed || same(last, ev)) return;
        last = ev;
        if (emit) cb(ev);
      } catch (err) {
        report(err);
      }
    });
    return chain;
  };
  const ready = (async () => {
    const w = await cg.watchFile('cgroup.events', () => void check(true), opts.persistent ?? true);
    if (closed) {
      w.close();
      return;
    }
    watcher = w;
    w.on('error', report);
    await check(opts.initial ?? false);
  })();
  ready.catch(report);
  return {
    ready: ready.catch(() => undefined),
    close() {
      closed = true;
      watcher?.close();
    },
  };
}

/**
 * Resolves with the first state of cgroup.events that satisfies pred (checked at
 * once, then on every inotify change); rejects with GS_ERR_CGROUP_TIMEOUT after
 * timeoutMs, or with the read error if the cgroup cannot be read.
 */
export function waitFor(cg: EventSource, pred: (ev: CgroupEvents) => boolean, timeoutMs: number): Promise<CgroupEvents> {
  return new Promise<CgroupEvents>((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      w.close();
      fn();
    };
    const w = watchEvents(cg, (ev) => { if (pred(ev)) finish(() => resolve(ev)); }, {
      initial: true,
      onError: (err) => finish(() => reject(err)),
    });
    timer = setTimeout(async () => {
      // one last read: an event lost to a closed watch must not become a timeout
      try {
        const ev = await cg.events();
        if (pred(ev)) return finish(() => resolve(ev));
        finish(() => reject(new GpusliceError('GS_ERR_CGROUP_TIMEOUT',
          `${cg.path}: cgroup.events still says populated ${Number(ev.populated)}, frozen ${Number(ev.frozen)} after ${timeoutMs} ms`,
          { op: 'wait', path: `${cg.path}/cgroup.events` })));
      } catch (err) {
        finish(() => reject(err));
      }
    }, timeoutMs);
  });
}
