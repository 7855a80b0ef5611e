// Hot reload. Watches the policy file's directory (editors save by writing a new
// file and renaming it over the old one, which a watch on the file itself would
// lose) and, optionally, the unit directories. A bad new policy is reported and
// the last good one stays in force: nothing is ever left unenforced.
//
// inotify watches an inode, not a name: a deleted and recreated directory, or a
// symlinked policy whose link is swapped (a Kubernetes ConfigMap's "..data"), would
// go unseen. So both the directory of the path as given and that of its realpath
// are watched and re-armed when they go away, and a cheap poll compares the file's
// identity as a fallback for whatever inotify still misses.
import { watch, type FSWatcher } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { loadPolicy } from './load.js';
import { UNIT_SEARCH_PATHS } from './dropins.js';
import type { ConfigIssue } from './issues.js';
import { ConfigError } from './issues.js';
import type { Policy } from './policy.js';

export type ReloadEvent =
  | { kind: 'policy'; ok: true; policy: Policy }
  /** `policy` is the last good one, still in force */
  | { kind: 'policy'; ok: false; errors: ConfigIssue[]; policy: Policy }
  /** something changed under a unit directory: re-resolve the units concerned */
  | { kind: 'units'; paths: string[] };

export interface WatchOptions {
  policyFile: string;
  onEvent: (ev: ReloadEvent) => void;
  /** quiet time after the last change before reloading; editors write in bursts */
  debounceMs?: number;
  /** how often the policy file's identity (inode, size, mtime) is compared; 0: never */
  pollMs?: number;
  /** also watch the unit search path under this root ('/' for the real one) */
  unitRoot?: string;
  unitSearchPaths?: string[];
}

export interface ConfigWatcher {
  /** the policy in force: the last one that loaded without errors */
  current(): Policy;
  /** reloads now, as a change would */
  reload(): Promise<ReloadEvent>;
  close(): void;
}

/**
 * Loads the policy (throws if the first load fails: there is no last good one to
 * keep) and watches for changes with inotify through fs.watch.
 */
export async function watchConfig(opts: WatchOptions): Promise<ConfigWatcher> {
  const file = resolve(opts.policyFile);
  let seen = await identity(file);
  let policy = await loadPolicy(opts.policyFile);
  const debounce = opts.debounceMs ?? 200;
  const unitWatchers: FSWatcher[] = [];
  const dirWatchers = new Map<string, { w: FSWatcher; ino: bigint }>();
  let policyTimer: NodeJS.Timeout | undefined;
  let unitTimer: NodeJS.Timeout | undefined;
  let unitPaths = new Set<string>();
  let closed = false;
  let force = false;

  const reload = async (): Promise<ReloadEvent> => {
    // identity first: a change between stat and read is seen again by the next check
    seen = await identity(file);
    try {
      policy = await loadPolicy(opts.policyFile);
      return { kind: 'policy', ok: true, policy };
    } catch (err) {
      const errors = err instanceof ConfigError ? err.errors : [{ file: opts.policyFile, line: 1, col: 1, message: (err as Error).message }];
      return { kind: 'policy', ok: false, errors, policy };
    }
  };
  const emit = (ev: ReloadEvent) => {
    if (!closed) opts.onEvent(ev);
  };

  /** Reloads when told the file changed (`force`) or when its identity moved. */
  let checking: Promise<void> = Promise.resolve();
  const check = () => {
    // one at a time: the poll and a watch event must not both reload the same change
    const run = checking.then(async () => {
      if (closed) return;
      await arm();
      const now = await identity(file);
      const wasForced = force;
      force = false;
      if (wasForced || (now !== null && now !== seen)) emit(await reload());
    });
    // a throwing onEvent surfaces through `run`, and must not stall every later check
    checking = run.catch(() => {});
    return run;
  };
  const schedule = (forced: boolean) => {
    if (closed) return;
    force ||= forced;
    clearTimeout(policyTimer);
    policyTimer = setTimeout(() => void check(), debounce);
  };

  /** Watches the directories of the path and of its realpath; drops stale watches. */
  const arm = async () => {
    const dirs = new Set([dirname(file)]);
    const real = await realpath(file).catch(() => null);
    if (real !== null) dirs.add(dirname(real));
    for (const [dir, { w, ino }] of dirWatchers) {
      const now = await stat(dir, { bigint: true }).catch(() => null);
      if (!dirs.has(dir) || now === null || now.ino !== ino) {
        w.close();
        dirWatchers.delete(dir);
      }
    }
    if (closed) return;
    const names = new Set([basename(file), ...(real !== null ? [basename(real)] : [])]);
    for (const dir of dirs) {
      if (dirWatchers.has(dir)) continue;
      try {
        const st = await stat(dir, { bigint: true });
        if (closed) return;
        const drop = () => {
          w.close();
          if (dirWatchers.get(dir)?.w === w) dirWatchers.delete(dir);
        };
        const w = watch(dir, (type, name) => {
          const n = name?.toString() ?? null;
          // the directory itself deleted or moved (inotify's DELETE_SELF/MOVE_SELF, which
          // Node reports as a rename of the directory's own name): this watch is dead even
          // if a new directory gets the same inode number
          if (type === 'rename' && n === basename(dir)) drop();
          // our file: reload. Anything else (a link in the chain swapped): re-arm, and
          // reload only if the file's identity moved
          schedule(n === null || names.has(n));
        });
        // IN_IGNORED (the directory went away) and the like: drop it, re-arm later
        w.on('error', () => {
          drop();
          schedule(false);
        });
        dirWatchers.set(dir, { w, ino: st.ino });
      } catch {
        // the directory is missing for now: the poll re-arms once it is back
      }
    }
  };
  await check();

  const pollMs = opts.pollMs ?? 2000;
  const poll = pollMs > 0 ? setInterval(() => void check(), pollMs) : undefined;
  poll?.unref();

  if (opts.unitRoot !== undefined) {
    for (const p of opts.unitSearchPaths ?? UNIT_SEARCH_PATHS) {
      const dir = join(opts.unitRoot, p);
      try {
        // recursive: drop-ins live in UNIT.d/ subdirectories
        const w = watch(dir, { recursive: true }, (_type, name) => {
          unitPaths.add(name ? join(dir, name.toString()) : dir);
          clearTimeout(unitTimer);
          unitTimer = setTimeout(() => {
            const paths = [...unitPaths].sort();
            unitPaths = new Set();
            emit({ kind: 'units', paths });
          }, debounce);
        });
        // an unhandled 'error' would end the daemon; a vanished unit directory holds no units
        w.on('error', () => w.close());
        unitWatchers.push(w);
      } catch {
        // a search directory that does not exist holds no units; systemd skips it too
      }
    }
  }

  return {
    current: () => policy,
    reload,
    close() {
      closed = true;
      clearTimeout(policyTimer);
      clearTimeout(unitTimer);
      clearInterval(poll);
      for (const { w } of dirWatchers.values()) w.close();
      dirWatchers.clear();
      for (const w of unitWatchers) w.close();
    },
  };
}

/** What identifies the file's content cheaply, following symlinks; null when absent. */
async function identity(path: string): Promise<string | null> {
  try {
    const st = await stat(path, { bigint: true });
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
  } catch {
    return null;
  }
}
