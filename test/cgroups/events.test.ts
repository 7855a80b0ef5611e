import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CgroupFs, Cgroup, watchEvents, waitFor, type CgroupEvents } from '../../src/cgroups/index.js';
import { isGpusliceError } from '../../src/errors.js';
import { need } from '../helpers/capabilities.js';
import { testTree, sleeper, withDeadline } from './fixture.js';

/** Resolves with the n-th event; the watcher keeps collecting. */
function collector() {
  const seen: CgroupEvents[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const cb = (ev: CgroupEvents) => {
    seen.push(ev);
    for (const w of waiters) if (seen.length >= w.n) w.resolve();
  };
  const until = (n: number) => new Promise<void>((resolve) => (seen.length >= n ? resolve() : waiters.push({ n, resolve })));
  return { seen, cb, until };
}

test('watchEvents on a plain file: changes reported once each, identical rewrites not at all', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'gs-ev-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const file = join(base, 'cgroup.events');
  writeFileSync(file, 'populated 0\nfrozen 0\n');
  const cg = new Cgroup({ fs: new CgroupFs(base), mount: base, prefix: '/', features: async () => ({ kill: false, freeze: false }) }, '');
  const c = collector();
  const w = watchEvents(cg, c.cb);
  t.after(() => w.close());
  await w.ready;
  writeFileSync(file, 'populated 0\nfrozen 0\n'); // same state: no callback
  writeFileSync(file, 'populated 1\nfrozen 0\n');
  await withDeadline(c.until(1), 5000, 'populated 1');
  writeFileSync(file, 'populated 1\nfrozen 1\n');
  await withDeadline(c.until(2), 5000, 'frozen 1');
  assert.deepEqual(c.seen.slice(0, 2), [{ populated: true, frozen: false }, { populated: true, frozen: true }]);
  const got = await waitFor(cg, (ev) => ev.frozen, 1000);
  assert.equal(got.frozen, true);
  await assert.rejects(waitFor(cg, (ev) => !ev.populated, 50), (e) => isGpusliceError(e, 'GS_ERR_CGROUP_TIMEOUT'));
});

test('populated 0 arrives through inotify when the process is killed', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const tree = await testTree(t);
  const cg = await tree.create('watched/inner');
  const top = tree.get('watched');
  const s = sleeper(t);
  const c = collector();
  const w = watchEvents(top, c.cb);
  t.after(() => w.close());
  await w.ready;
  await cg.addProcess(s.pid);
  await withDeadline(c.until(1), 5000, 'populated 1 event');
  assert.deepEqual(c.seen[0], { populated: true, frozen: false });
  s.child.kill('SIGKILL');
  await withDeadline(c.until(2), 5000, 'populated 0 event');
  assert.deepEqual(c.seen[1], { populated: false, frozen: false });
  assert.equal(c.seen.length, 2);
  w.close();
  await top.remove();
  assert.equal(await top.exists(), false);
});

test('frozen 1 arrives through inotify', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const tree = await testTree(t);
  const cg = await tree.create('fz');
  const s = sleeper(t);
  await cg.addProcess(s.pid);
  const c = collector();
  const w = watchEvents(cg, c.cb, { initial: true });
  t.after(() => w.close());
  await withDeadline(c.until(1), 5000, 'initial state');
  assert.deepEqual(c.seen[0], { populated: true, frozen: false });
  await cg.write('cgroup.freeze', '1');
  await withDeadline(c.until(2), 5000, 'frozen 1 event');
  assert.deepEqual(c.seen[1], { populated: true, frozen: true });
});
