// CgroupFs against a temp dir standing in for cgroupfs: no root needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, symlinkSync, rmSync, statSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CgroupFs } from '../../src/cgroups/index.js';
import { isGpusliceError } from '../../src/errors.js';

function makeTree(t: { after: (fn: () => void) => void }) {
  const base = mkdtempSync(join(tmpdir(), 'gs-cgfs-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const root = join(base, 'root');
  mkdirSync(join(root, 'a', 'b'), { recursive: true });
  writeFileSync(join(root, 'a', 'cgroup.procs'), '');
  mkdirSync(join(base, 'outside'));
  writeFileSync(join(base, 'outside', 'cgroup.procs'), 'secret');
  return { base, root, fs: new CgroupFs(root) };
}

const escape = (e: unknown) => isGpusliceError(e, 'GS_ERR_CGROUP_PATH_ESCAPE');

test('paths that leave the root are refused before any access', async (t) => {
  const { fs } = makeTree(t);
  for (const rel of ['..', '../outside', 'a/../../outside', 'a/..', '/etc', 'a\0b', 'a//b', './a', 'a/']) {
    assert.throws(() => fs.resolve(rel), escape, JSON.stringify(rel));
    await assert.rejects(fs.read(rel, 'cgroup.procs'), escape, JSON.stringify(rel));
    await assert.rejects(fs.write(rel, 'cgroup.procs', '1'), escape);
    await assert.rejects(fs.mkdir(rel), escape);
  }
  for (const file of ['', '..', '../cgroup.procs', 'x/y', 'a\0']) {
    await assert.rejects(fs.read('a', file), escape, JSON.stringify(file));
  }
  assert.throws(() => new CgroupFs('relative/root'), escape);
});

test('a symlink pointing outside the root is refused', async (t) => {
  const { base, root, fs } = makeTree(t);
  symlinkSync(join(base, 'outside'), join(root, 'link'));
  symlinkSync(join(base, 'outside', 'cgroup.procs'), join(root, 'a', 'cgroup.events'));
  await assert.rejects(fs.read('link', 'cgroup.procs'), escape);
  await assert.rejects(fs.write('link', 'cgroup.procs', 'x'), escape);
  await assert.rejects(fs.mkdir('link/new'), escape);
  await assert.rejects(fs.listDirs('link'), escape);
  // the final component is opened O_NOFOLLOW: ELOOP, and the outside file is untouched
  await assert.rejects(fs.write('a', 'cgroup.events', 'x'), (e) => isGpusliceError(e, 'GS_ERR_CGROUP_WRITE') && e.errno === 'ELOOP');
  assert.equal(readFileSync(join(base, 'outside', 'cgroup.procs'), 'utf8'), 'secret');
  // a symlink inside the root to inside the root is fine
  symlinkSync(join(root, 'a'), join(root, 'alias'));
  assert.equal(await fs.read('alias', 'cgroup.procs'), '');
});

test('read, write, mkdir -p, listDirs, inode, exists', async (t) => {
  const { root, fs } = makeTree(t);
  await fs.write('a', 'cgroup.procs', '123');
  assert.equal(await fs.read('a', 'cgroup.procs'), '123');
  assert.equal(await fs.mkdir('x/y/z'), true);
  assert.equal(await fs.mkdir('x/y/z'), false);
  assert.deepEqual(await fs.listDirs(''), ['a', 'x']);
  assert.equal(await fs.inode('a'), statSync(join(root, 'a'), { bigint: true }).ino);
  assert.equal(await fs.exists('x/y'), true);
  assert.equal(await fs.exists('nope'), false);
  assert.equal(await fs.readOptional('a', 'cgroup.kill'), null);
  await fs.rmdir('x/y/z');
  assert.equal(await fs.exists('x/y/z'), false);
});

test('errors carry op, path, errno and the value written', async (t) => {
  const { root, fs } = makeTree(t);
  // cgroupfs files are never created by a write
  const e1 = await fs.write('a', 'cgroup.freeze', '1').catch((e: unknown) => e);
  assert.ok(isGpusliceError(e1, 'GS_ERR_CGROUP_WRITE'));
  assert.equal(e1.errno, 'ENOENT');
  assert.equal(e1.value, '1');
  assert.equal(e1.op, 'write');
  assert.equal(e1.path, join(root, 'a', 'cgroup.freeze'));
  assert.match(e1.message, /cannot write "1" to .*cgroup\.freeze: ENOENT/);
  const e2 = await fs.read('gone', 'cgroup.procs').catch((e: unknown) => e);
  assert.ok(isGpusliceError(e2, 'GS_ERR_CGROUP_READ'));
  assert.equal(e2.errno, 'ENOENT');
  const e3 = await fs.rmdir('a').catch((e: unknown) => e);
  assert.ok(isGpusliceError(e3, 'GS_ERR_CGROUP_REMOVE'));
  assert.equal(e3.errno, 'ENOTEMPTY');
  if (process.getuid?.() !== 0) {
    chmodSync(join(root, 'a', 'cgroup.procs'), 0o444);
    await assert.rejects(fs.write('a', 'cgroup.procs', '1'), (e) => isGpusliceError(e) && e.errno === 'EACCES');
  }
});
