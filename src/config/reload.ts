// Hot reload. Watches the policy file's directory (editors save by writing a new
// file and renaming it over the old one, which a watch on the file itself would
// lose) and, optionally, the unit directories. A bad new policy is reported and
// the last good one stays in force: nothing is ever left unenforced.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, join } from 'node:path';
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
  let policy = await loadPolicy(opts.policyFile);
  const debounce = opts.debounceMs ?? 200;
  const watchers: FSWatcher[] = [];
  let policyTimer: NodeJS.Timeout | undefined;
  let unitTimer: NodeJS.Timeout | undefined;
  let unitPaths = new Set<string>();
  let closed = false;

  const reload = async (): Promise<ReloadEvent> => {
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

  const file = basename(opts.policyFile);
  const pw = watch(dirname(opts.policyFile), (_type, name) => {
    if (name !== null && name !== file) return;
    clearTimeout(policyTimer);
    policyTimer = setTimeout(() => void reload().then(emit), debounce);
  });
  watchers.push(pw);

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
        watchers.push(w);
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
      for (const w of watchers) w.close();
    },
  };
}
