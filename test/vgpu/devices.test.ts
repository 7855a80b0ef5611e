// GPU device-node discovery over fixture trees: plain files stand for device
// nodes (numbers from their names and a fake /proc/devices), and a real mknod
// node shows that stat(2) numbers win when there are some.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { discoverGpus, parseProcDevices } from '../../src/vgpu/devices.js';
import { rulesForGpus, nodesForGpus, formatDeviceRule } from '../../src/bpf/index.js';

const PROC_DEVICES = `Character devices:
  1 mem
195 nvidia-frontend
226 drm
234 kfd
235 nvidia-caps
510 nvidia-uvm

Block devices:
  7 loop
259 blkext
`;

/** Builds a fixture root: path → file content ('' for a device stand-in). */
function makeTree(t: TestContext, files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'gpuslice-devtree-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

const nvidiaAndAmd = {
  'proc/devices': PROC_DEVICES,
  'dev/nvidia0': '', 'dev/nvidia1': '', 'dev/nvidiactl': '', 'dev/nvidia-modeset': '', 'dev/nvidia-uvm': '', 'dev/nvidia-uvm-tools': '',
  'dev/nvidia-caps/nvidia-cap1': '', 'dev/nvidia-caps/nvidia-cap2': '',
  'dev/dri/card0': '', 'dev/dri/renderD128': '', 'dev/dri/card1': '', 'dev/dri/renderD129': '', 'dev/dri/card2': '', 'dev/dri/renderD131': '', 'dev/kfd': '',
  'proc/driver/nvidia/gpus/0000:01:00.0/information': 'Model: Fake\nDevice Minor: 0\n',
  'proc/driver/nvidia/gpus/0000:02:00.0/information': 'Model: Fake\nDevice Minor: 1\n',
  'sys/class/drm/card0/device/vendor': '0x10de\n', 'sys/class/drm/card0/device/uevent': 'DRIVER=nvidia\nPCI_SLOT_NAME=0000:01:00.0\n',
  'sys/class/drm/card1/device/vendor': '0x10de\n', 'sys/class/drm/card1/device/uevent': 'PCI_SLOT_NAME=0000:02:00.0\n',
  'sys/class/drm/card2/device/vendor': '0x1002\n', 'sys/class/drm/card2/device/uevent': 'PCI_SLOT_NAME=0000:03:00.0\n',
  'sys/class/drm/card2/device/drm/card2': '', 'sys/class/drm/card2/device/drm/renderD131': '',
};

test('/proc/devices parses into char and block majors', () => {
  const { char, block } = parseProcDevices(PROC_DEVICES);
  assert.equal(char.get('nvidia-uvm'), 510);
  assert.equal(char.get('mem'), 1);
  assert.equal(block.get('loop'), 7);
  assert.equal(char.has('loop'), false);
});

test('NVIDIA and AMD GPUs are found with their own and shared nodes', (t) => {
  const d = discoverGpus({ root: makeTree(t, nvidiaAndAmd) });
  assert.deepEqual(d.gpus.map((g) => [g.index, g.vendor, g.pciAddress, g.nodes.map((n) => `${n.path} ${n.major}:${n.minor}`)]), [
    [0, 'nvidia', '0000:01:00.0', ['/dev/nvidia0 195:0', '/dev/dri/card0 226:0', '/dev/dri/renderD128 226:128']],
    [1, 'nvidia', '0000:02:00.0', ['/dev/nvidia1 195:1', '/dev/dri/card1 226:1', '/dev/dri/renderD129 226:129']],
    [2, 'amd', '0000:03:00.0', ['/dev/dri/card2 226:2', '/dev/dri/renderD131 226:131']],
  ]);
  assert.deepEqual(d.shared.nvidia.map((n) => `${n.path} ${n.major}:${n.minor}`), ['/dev/nvidiactl 195:255', '/dev/nvidia-modeset 195:254', '/dev/nvidia-uvm 510:0', '/dev/nvidia-uvm-tools 510:1']);
  assert.deepEqual(d.shared.amd.map((n) => `${n.path} ${n.major}:${n.minor}`), ['/dev/kfd 234:0']);
  assert.deepEqual(d.caps.map((n) => `${n.major}:${n.minor}`), ['235:1', '235:2']);
  assert.deepEqual(d.gpuMajors, [195, 226, 234, 235, 510]);
});

test('a container given a GPU gets its nodes and its vendor\'s shared nodes, read-write', (t) => {
  const d = discoverGpus({ root: makeTree(t, nvidiaAndAmd) });
  assert.deepEqual(rulesForGpus(d, [1]).map(formatDeviceRule), [
    'c 195:1 rw', 'c 226:1 rw', 'c 226:129 rw', 'c 195:255 rw', 'c 195:254 rw', 'c 510:0 rw', 'c 510:1 rw',
  ]);
  assert.deepEqual(rulesForGpus(d, [2]).map(formatDeviceRule), ['c 226:2 rw', 'c 226:131 rw', 'c 234:0 rw']);
  assert.equal(nodesForGpus(d, 'all').length, 3 + 3 + 2 + 4 + 1);
  assert.deepEqual(rulesForGpus(d, 'none'), []);
  assert.throws(() => rulesForGpus(d, [7]), (e: { code?: string }) => e.code === 'GS_ERR_GPU_UNKNOWN');
});

test('an Intel-only machine and an empty one', (t) => {
  const intel = discoverGpus({ root: makeTree(t, {
    'proc/devices': 'Character devices:\n226 drm\n', 'dev/dri/card0': '', 'dev/dri/renderD128': '',
    'sys/class/drm/card0/device/vendor': '0x8086\n', 'sys/class/drm/renderD128/dev': '226:128\n',
  }) });
  assert.deepEqual(intel.gpus.map((g) => [g.index, g.vendor, g.nodes.length]), [[0, 'intel', 2]]);
  const none = discoverGpus({ root: makeTree(t, {}) });
  assert.deepEqual(none.gpus, []);
  assert.deepEqual(none.gpuMajors, [195, 226]);
});

test('a real device node gives its numbers from stat', (t) => {
  if (process.getuid?.() !== 0) return t.skip('mknod needs root');
  const root = makeTree(t, { 'proc/devices': PROC_DEVICES });
  mkdirSync(join(root, 'dev'), { recursive: true });
  execFileSync('mknod', [join(root, 'dev/nvidia-uvm'), 'c', '4095', '300']);
  execFileSync('mknod', [join(root, 'dev/nvidia3'), 'c', '195', '3']);
  const d = discoverGpus({ root });
  assert.deepEqual(d.shared.nvidia.map((n) => `${n.major}:${n.minor}`), ['4095:300']);
  assert.deepEqual(d.gpus.map((g) => g.index), [3]);
  assert.ok(d.gpuMajors.includes(4095));
});
