// Integration on the real cgroup2 mount (root): a nested subtree, a process moved
// in, its id against the inode and /proc, populated flips, removal with kill.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, existsSync, readFileSync } from 'node:fs';
import { Cgroup, cgroupPathOfPid, findCgroup2Mount } from '../../src/cgroups/index.js';
import { isGpusliceError } from '../../src/errors.js';
import { need } from '../helpers/capabilities.js';
import { testTree, sleeper, withDeadline } from './fixture.js';

test('create nested, move a process in, id is the inode, /proc agrees', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const tree = await testTree(t);
  assert.equal(tree.mount, findCgroup2Mount());
  assert.ok(existsSync(tree.path));
  const inner = await tree.create('train/inner');
  assert.ok(existsSync(inner.path));
  assert.equal(inner.name, 'train/inner');
  assert.equal(inner.cgroupPath, `${tree.path.slice(tree.mount.length)}/train/inner`);
  assert.deepEqual((await tree.list()).map((c) => c.name), ['train']);
  assert.deepEqual((await tree.get('train').children()).map((c) => c.name), ['train/inner']);
  assert.equal((await tree.root.stat()).nrDescendants, 2);

  const s = sleeper(t);
  assert.deepEqual(await inner.events(), { populated: false, frozen: false });
  await inner.addProcess(s.pid);
  assert.deepEqual(await inner.procs(), [s.pid]);
  assert.equal(await cgroupPathOfPid(s.pid), inner.cgroupPath);
  assert.match(readFileSync(`/proc/${s.pid}/cgroup`, 'utf8'), new RegExp(`^0::${inner.cgroupPath}$`, 'm'));
  assert.equal((await inner.events()).populated, true);
  assert.equal((await tree.get('train').events()).populated, true, 'populated covers descendants');
  const id = await inner.id();
  assert.equal(typeof id, 'bigint');
  assert.equal(id, statSync(inner.path, { bigint: true }).ino);
  assert.notEqual(id, await tree.get('train').id());
  assert.equal(tree.fromCgroupPath(inner.cgroupPath)?.path, inner.path);
  assert.equal(tree.fromCgroupPath('/elsewhere'), null);
});

test('remove with kill ends live processes in every level and removes the tree', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const tree = await testTree(t);
  const a = await tree.create('a');
  const b = await tree.create('a/b');
  const c = await tree.create('a/b/c');
  const s1 = sleeper(t);
  const s2 = sleeper(t);
  await b.addProcess(s1.pid);
  await c.addProcess(s2.pid);
  await a.remove({ kill: true });
  assert.equal(await a.exists(), false);
  assert.equal(existsSync(a.path), false);
  assert.equal(await withDeadline(s1.exited, 10_000, 'exit'), 'SIGKILL');
  assert.equal(await withDeadline(s2.exited, 10_000, 'exit'), 'SIGKILL');
  await a.remove(); // already gone: no error
});

test('remove without kill refuses a populated cgroup after the timeout', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const tree = await testTree(t);
  const a = await tree.create('busy');
  const s = sleeper(t);
  await a.addProcess(s.pid);
  await assert.rejects(a.remove({ timeoutMs: 200 }), (e) => isGpusliceError(e, 'GS_ERR_CGROUP_REMOVE') && e.errno === 'EBUSY');
  assert.equal(await a.exists(), true);
  assert.equal(s.child.exitCode, null, 'the process was left alone');
});

for (const features of [{ kill: false, freeze: true }, { kill: false, freeze: false }]) {
  test(`kill fallback without cgroup.kill (freeze ${features.freeze}) ends every process`, async (t) => {
    if (!need(t, 'root', 'cgroup2')) return;
    const tree = await testTree(t);
    await tree.create('old/deep');
    // a handle that believes the kernel predates cgroup.kill (5.14)
    const ctx = { ...tree.root.ctx, features: async () => features };
    const old = new Cgroup(ctx, 'old');
    const s1 = sleeper(t);
    const s2 = sleeper(t);
    await old.addProcess(s1.pid);
    await new Cgroup(ctx, 'old/deep').addProcess(s2.pid);
    await old.remove({ kill: true });
    assert.equal(await old.exists(), false);
    assert.equal(await withDeadline(s1.exited, 10_000, 'exit'), 'SIGKILL');
    assert.equal(await withDeadline(s2.exited, 10_000, 'exit'), 'SIGKILL');
  });
}

test('freeze and thaw', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const tree = await testTree(t);
  const f = await tree.create('f');
  if (!(await tree.features()).freeze) {
    assert.fail('cgroup.freeze missing: it has been in the kernel since 5.2');
  }
  const s = sleeper(t);
  await f.addProcess(s.pid);
  await f.freeze(true);
  assert.deepEqual(await f.events(), { populated: true, frozen: true });
  assert.equal(readFileSync(`${f.path}/cgroup.freeze`, 'utf8').trim(), '1');
  await f.freeze(false);
  assert.deepEqual(await f.events(), { populated: true, frozen: false });
});

test('controllers: what enableControllers enables is in subtree_control, the rest is reported missing', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const tree = await testTree(t);
  const g = await tree.create('ctl');
  const available = await tree.root.controllers();
  const res = await tree.root.enableControllers(['cpu', 'memory', ...available]);
  assert.deepEqual(res.missing, ['cpu', 'memory'].filter((n) => !available.includes(n)));
  const enabled = await tree.root.subtreeControl();
  for (const n of res.enabled) assert.ok(enabled.includes(n));
  assert.deepEqual((await g.controllers()).sort(), [...enabled].sort());
  await tree.root.disableControllers(res.enabled);
  assert.deepEqual(await tree.root.subtreeControl(), []);
});

test('errors: a bad write carries errno and value; escaping paths are refused', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const tree = await testTree(t);
  const g = await tree.create('err');
  const e = await g.write('cgroup.subtree_control', '+nosuchcontroller').catch((x: unknown) => x);
  assert.ok(isGpusliceError(e, 'GS_ERR_CGROUP_WRITE'), String(e));
  assert.equal(e.errno, 'EINVAL');
  assert.equal(e.value, '+nosuchcontroller');
  assert.equal(e.path, `${g.path}/cgroup.subtree_control`);
  const e2 = await g.write('cgroup.freeze', '7').catch((x: unknown) => x);
  assert.ok(isGpusliceError(e2, 'GS_ERR_CGROUP_WRITE'));
  assert.equal(e2.errno, 'ERANGE');
  assert.equal(e2.value, '7');
  await assert.rejects(g.addProcess(2 ** 22 + 12345), (x) => isGpusliceError(x, 'GS_ERR_CGROUP_WRITE') && x.errno === 'ESRCH');
  const escape = (x: unknown) => isGpusliceError(x, 'GS_ERR_CGROUP_PATH_ESCAPE');
  assert.throws(() => tree.get('../x'), escape);
  await assert.rejects(tree.create('a/../../escaped'), escape);
  assert.equal(existsSync(`${tree.mount}/escaped`), false);
  await assert.rejects(g.read('../cgroup.procs'), escape);
});
