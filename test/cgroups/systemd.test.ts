import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  systemdEscape, systemdUnescape, unitNameFromTemplate, unitNameKind, isValidUnitName, assertUnitName,
  sliceToCgroupPath, unitToCgroupPath, unitFromCgroupPath, cgroupEscape,
} from '../../src/cgroups/index.js';
import { isGpusliceError } from '../../src/errors.js';

const TRICKY = [
  'a b', 'a/b', '/a/b', '.hidden', '/.hidden', 'ü', 'Grüße/日本', 'a-b', '-', '--x-', 'a\\b', 'a\\x2db', '/', '', '//',
  'foo//bar/', '/foo/./bar/', './foo', 'foo/.', 'x.y', '_a:b', '@', 'tab\there', '~user', '..', '.', '/a/b/..',
  'dev/disk/by-label/My Disk', 'C:\\Windows', '100%', 'new\nline', 'émoji 🎉',
];

// systemd-escape prints its result plus a newline; errors go to stderr with rc 1
function real(args: string[]): string | null {
  const r = spawnSync('systemd-escape', [...args], { encoding: 'utf8' });
  if (r.error) throw r.error;
  return r.status === 0 ? r.stdout.replace(/\n$/, '') : null;
}
const mine = (f: () => string): string | null => {
  try {
    return f();
  } catch (e) {
    if (isGpusliceError(e, 'GS_ERR_SYSTEMD_NAME')) return null;
    throw e;
  }
};
const haveSystemdEscape = spawnSync('systemd-escape', ['--version']).status === 0;
// set-up installs systemd's tools: under CI their absence is a failure, not a skip
if (!haveSystemdEscape && process.env.CI === 'true') throw new Error('systemd-escape is missing under CI=true: set-up should have installed systemd');
const skip = haveSystemdEscape ? false : 'systemd-escape is not installed (apt-get install systemd)';

test('systemdEscape matches systemd-escape, plain and --path', { skip }, () => {
  for (const s of TRICKY) {
    assert.equal(mine(() => systemdEscape(s)), real(['--', s]), `plain ${JSON.stringify(s)}`);
    assert.equal(mine(() => systemdEscape(s, { path: true })), real(['--path', '--', s]), `path ${JSON.stringify(s)}`);
  }
});

test('systemdUnescape matches systemd-escape --unescape, plain and --path', { skip }, () => {
  const escaped = [...TRICKY.map((s) => systemdEscape(s)), 'a-b\\x2dc', 'foo\\x2', 'foo\\y', 'foo\\x2D', 'a--b', '-foo', 'foo-',
    'x\\x2fy', '\\x2efoo', 'a.b-c', '-', '', '\\xc3\\xbc', 'a\\x00b'];
  for (const s of escaped) {
    assert.equal(mine(() => systemdUnescape(s)), real(['--unescape', '--', s]), `unescape ${JSON.stringify(s)}`);
    assert.equal(mine(() => systemdUnescape(s, { path: true })), real(['--unescape', '--path', '--', s]), `unescape --path ${JSON.stringify(s)}`);
  }
});

test('escape then unescape round-trips', () => {
  for (const s of ['a b', 'Grüße', 'a-b', '.x', 'a\\b', '日本/x']) assert.equal(systemdUnescape(systemdEscape(s)), s);
  for (const p of ['/a b/c', '/dev/disk/by-label/x-y', '/.dot']) assert.equal(systemdUnescape(systemdEscape(p, { path: true }), { path: true }), p);
});

test('unitNameFromTemplate matches systemd-escape --template', { skip }, () => {
  for (const s of ['a b', 'x-y', '/dev/sda1']) {
    assert.equal(unitNameFromTemplate('foo@.service', s), real(['--template=foo@.service', '--', s]));
    assert.equal(unitNameFromTemplate('foo@.service', s, { path: true }), real(['--template=foo@.service', '--path', '--', s]));
  }
  assert.throws(() => unitNameFromTemplate('foo.service', 'x'), (e) => isGpusliceError(e, 'GS_ERR_SYSTEMD_NAME'));
});

test('unit-name validation', () => {
  const cases: Array<[string, ReturnType<typeof unitNameKind>]> = [
    ['foo.service', 'plain'], ['a-b-c.slice', 'plain'], ['-.slice', 'plain'], ['dev-sda1.device', 'plain'],
    ['foo@.service', 'template'], ['foo@bar.service', 'instance'], ['getty@tty1.service', 'instance'],
    ['foo@a@b.service', 'instance'], ['a\\x20b.mount', 'plain'], ['x:y_z.socket', 'plain'],
    ['foo', null], ['.service', null], ['foo.bar', null], ['@foo.service', null], ['foo bar.service', null],
    ['föö.service', null], ['foo/bar.service', null], ['', null], ['foo.Service', null],
    ['a'.repeat(247) + '.service', 'plain'], ['a'.repeat(248) + '.service', null],
  ];
  for (const [name, kind] of cases) {
    assert.equal(unitNameKind(name), kind, name);
    assert.equal(isValidUnitName(name), kind !== null, name);
  }
  assert.equal(isValidUnitName('foo@.service', ['plain', 'instance']), false);
  assert.throws(() => assertUnitName('bad name.service'), (e) => isGpusliceError(e, 'GS_ERR_SYSTEMD_NAME') && e.value === 'bad name.service');
});

test('slice and unit names to cgroup paths (cg_slice_to_path)', () => {
  const slices: Array<[string, string | null]> = [
    ['-.slice', ''], ['system.slice', 'system.slice'], ['a-b-c.slice', 'a.slice/a-b.slice/a-b-c.slice'],
    ['user-1000.slice', 'user.slice/user-1000.slice'], ['cpu.slice', '_cpu.slice'],
    ['a--b.slice', null], ['-a.slice', null], ['a-.slice', null], ['foo.service', null], ['a@b.slice', null],
  ];
  for (const [slice, path] of slices) assert.equal(mine(() => sliceToCgroupPath(slice)), path, slice);
  assert.equal(unitToCgroupPath('foo.service', 'a-b.slice'), 'a.slice/a-b.slice/foo.service');
  assert.equal(unitToCgroupPath('foo.service'), 'system.slice/foo.service');
  assert.equal(unitToCgroupPath('init.scope', '-.slice'), 'init.scope');
  assert.equal(unitToCgroupPath('getty@tty1.service'), 'system.slice/getty@tty1.service');
  assert.equal(unitToCgroupPath('a-b.slice', 'ignored.slice'), 'a.slice/a-b.slice');
  assert.equal(unitToCgroupPath('memory.service'), 'system.slice/_memory.service');
  assert.throws(() => unitToCgroupPath('foo@.service'), (e) => isGpusliceError(e, 'GS_ERR_SYSTEMD_NAME'));
  for (const [n, want] of [['cgroup.procs', '_cgroup.procs'], ['_x', '__x'], ['tasks', '_tasks'], ['io.x', '_io.x'], ['iox.service', 'iox.service']]) {
    assert.equal(cgroupEscape(n), want);
  }
});

test('unitFromCgroupPath', () => {
  assert.deepEqual(unitFromCgroupPath('/system.slice/foo.service'), { unit: 'foo.service', slice: 'system.slice' });
  assert.deepEqual(unitFromCgroupPath('/a.slice/a-b.slice/foo.service/payload/x'), { unit: 'foo.service', slice: 'a-b.slice' });
  assert.deepEqual(unitFromCgroupPath('/user.slice'), { unit: 'user.slice', slice: '-.slice' });
  assert.deepEqual(unitFromCgroupPath('/system.slice/_cpu.service'), { unit: 'cpu.service', slice: 'system.slice' });
  assert.equal(unitFromCgroupPath('/gpuslice/train'), null);
  assert.equal(unitFromCgroupPath('/'), null);
});
