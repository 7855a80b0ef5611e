// Shared set-up for the integration tests: a uniquely named managed root on the
// real cgroup2 mount, and sleepers to put in it, all cleaned up in t.after.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { CgroupTree } from '../../src/cgroups/index.js';

interface After { after: (fn: () => Promise<void> | void) => void }

export async function testTree(t: After): Promise<CgroupTree> {
  const tree = await CgroupTree.open({ root: `gpuslice-test-${process.pid}-${randomBytes(4).toString('hex')}` });
  t.after(() => tree.root.remove({ kill: true, timeoutMs: 10_000 }));
  return tree;
}

export interface Sleeper {
  child: ChildProcess;
  pid: number;
  /** resolves with the signal that ended it */
  exited: Promise<NodeJS.Signals | null>;
}

export function sleeper(t: After): Sleeper {
  const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
  const exited = once(child, 'exit').then(([, signal]) => signal as NodeJS.Signals | null);
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  if (child.pid === undefined) throw new Error('cannot spawn sleep');
  return { child, pid: child.pid, exited };
}

/** Fails (never hangs) when an expected event does not arrive; not a timing assertion. */
export function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms); }),
  ]);
}
