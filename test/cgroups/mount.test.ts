import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statfsSync } from 'node:fs';
import { parseMountinfo, findCgroup2Mount, cgroupLayout } from '../../src/cgroups/index.js';
import { isGpusliceError } from '../../src/errors.js';
import { need } from '../helpers/capabilities.js';

const PURE = `24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
29 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;
const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const LEGACY = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
`;
const ELSEWHERE = `50 1 0:40 / /mnt/my\\040cgroups rw,relatime shared:1 master:2 - cgroup2 none rw
`;

test('parseMountinfo: fields, optional fields, octal escapes', () => {
  const [e] = parseMountinfo(ELSEWHERE);
  assert.equal(e.mountPoint, '/mnt/my cgroups');
  assert.deepEqual(e.optionalFields, ['shared:1', 'master:2']);
  assert.equal(e.fsType, 'cgroup2');
  assert.equal(e.source, 'none');
  assert.equal(e.id, 50);
  assert.equal(parseMountinfo('garbage line\n\n').length, 0);
});

for (const [name, text, mount, layout] of [
  ['pure v2', PURE, '/sys/fs/cgroup', 'unified'],
  ['hybrid', HYBRID, '/sys/fs/cgroup/unified', 'hybrid'],
  ['cgroup2 mounted elsewhere', ELSEWHERE, '/mnt/my cgroups', 'unified'],
] as const) {
  test(`findCgroup2Mount: ${name}`, () => {
    assert.equal(findCgroup2Mount(text), mount);
    assert.equal(cgroupLayout(text), layout);
  });
}

test('findCgroup2Mount: none mounted gives GS_ERR_CGROUP_NO_MOUNT', () => {
  assert.equal(cgroupLayout(LEGACY), 'legacy');
  assert.throws(() => findCgroup2Mount(LEGACY), (e) => isGpusliceError(e, 'GS_ERR_CGROUP_NO_MOUNT') && /mount -t cgroup2/.test(e.message));
});

test('findCgroup2Mount on this host points at a cgroup2 filesystem', (t) => {
  if (!need(t, 'cgroup2')) return;
  const CGROUP2_SUPER_MAGIC = 0x63677270;
  assert.equal(statfsSync(findCgroup2Mount()).type, CGROUP2_SUPER_MAGIC);
});
