// simgpu opens SIMGPU_DIR/dev/nvidiaN (char 195:N) when a context is
// created: ENXIO (no driver behind the node) grants the device; EPERM (a
// device cgroup or the BPF gate), EACCES or a missing node refuse it with
// CUDA_ERROR_NO_DEVICE, and leave the other devices usable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { chmod, open, rm, stat } from 'node:fs/promises';
import { need } from '../helpers/capabilities.js';
import { GiB, gpuload, makeSimGpu } from './simgpu-helpers.js';

const NOBODY = 65534;

test('setupSimGpu makes char 195:N nodes that open with ENXIO', async (t) => {
  if (!need(t, 'root')) return;
  const sg = await makeSimGpu(t, { count: 3, memoryBytes: GiB });
  for (const [i, node] of sg.nodes.entries()) {
    const st = await stat(node);
    assert.ok(st.isCharacterDevice());
    assert.equal(st.rdev, (195 << 8) | i);
    await assert.rejects(open(node, 'r+'), { code: 'ENXIO' });
  }
  // a rerun with fewer devices removes the nodes of the others
  await makeSimGpu(t, { count: 1, memoryBytes: GiB });
});

test('a missing device node: CUDA_ERROR_NO_DEVICE', async (t) => {
  if (!need(t, 'root')) return;
  const sg = await makeSimGpu(t, { count: 2, memoryBytes: GiB });
  await rm(sg.nodes[1]);
  const r = await gpuload(t, sg, ['--device', '1', '--alloc', '1M', '--json']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /CUDA_ERROR_NO_DEVICE/);
  assert.equal((await gpuload(t, sg, ['--device', '0', '--alloc', '1M', '--json'])).code, 0);
});

test('a node the user may not open (EACCES): CUDA_ERROR_NO_DEVICE', async (t) => {
  if (!need(t, 'root')) return;
  const sg = await makeSimGpu(t, { count: 2, memoryBytes: GiB });
  await chmod(sg.nodes[1], 0o600);
  const as = { uid: NOBODY, gid: NOBODY };
  const denied = await gpuload(t, sg, ['--device', '1', '--alloc', '1M', '--json'], as);
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /Permission denied.*\n.*CUDA_ERROR_NO_DEVICE/);
  const allowed = await gpuload(t, sg, ['--device', '0', '--alloc', '1M', '--json'], as);
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.equal(allowed.report!.allocated_bytes, 2 ** 20);
});

// the cgroup v1 devices controller answers EPERM exactly as the BPF gate
// does on cgroup2 (the gate's own tests cover that path)
const V1_DEVICES = '/sys/fs/cgroup/devices';

test('a node the device cgroup denies (EPERM): CUDA_ERROR_NO_DEVICE', async (t) => {
  if (!need(t, 'root')) return;
  if (!existsSync(`${V1_DEVICES}/devices.deny`)) {
    t.skip('no cgroup v1 devices controller here; EPERM from the BPF gate is tested with the gate');
    return;
  }
  const sg = await makeSimGpu(t, { count: 2, memoryBytes: GiB });
  const cg = `${V1_DEVICES}/gpuslice-simgpu-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  mkdirSync(cg);
  t.after(() => rmdirSync(cg));
  writeFileSync(`${cg}/devices.deny`, 'c 195:1 rwm');
  const inCgroup = { wrap: (argv: string[]) => ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cg, ...argv] };
  const denied = await gpuload(t, sg, ['--device', '1', '--alloc', '1M', '--json'], inCgroup);
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /Operation not permitted.*\n.*CUDA_ERROR_NO_DEVICE/);
  const allowed = await gpuload(t, sg, ['--device', '0', '--alloc', '1M', '--json'], inCgroup);
  assert.equal(allowed.code, 0, allowed.stderr);
});
