// The device gate on the real kernel: a container given GPU 0 reaches the
// (absent) driver on 195:0 and is refused 195:1, for read, write and mknod;
// denials arrive through the ring buffer and are counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { need } from '../helpers/capabilities.js';
import { parseDeviceRule, rulesForGpus, type DenialEvent } from '../../src/bpf/index.js';
import type { GpuDiscovery } from '../../src/vgpu/devices.js';
import { makeCgroup, makeNodes, openGate, probe, open, mknodProbe } from './helpers.js';

const node = (minor: number) => ({ path: `/dev/nvidia${minor}`, type: 'c' as const, major: 195, minor, role: 'gpu' as const });
const twoGpus: GpuDiscovery = {
  gpus: [{ index: 0, vendor: 'nvidia', nodes: [node(0)] }, { index: 1, vendor: 'nvidia', nodes: [node(1)] }],
  shared: { nvidia: [{ path: '/dev/nvidiactl', type: 'c', major: 195, minor: 255, role: 'control' }], amd: [], intel: [], unknown: [] },
  caps: [],
  gpuMajors: [195, 226],
};

// generous: the ring buffer is polled, and CI is a loaded 2-core machine
async function until(pred: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000 && !pred(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(pred(), `timed out waiting for ${what}`);
}

test('a container given GPU 0 gets ENXIO on 195:0 and EPERM on 195:1, read, write and mknod', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const cg = makeCgroup(t);
  const dev = makeNodes(t, { gpu0: [195, 0], gpu1: [195, 1], ctl: [195, 255], render: [226, 128], null: [1, 3] });
  const { gate } = await openGate(t);
  const events: DenialEvent[] = [];
  gate.onDenial((ev) => events.push(ev));
  await gate.apply(cg.path, cg.id, { mode: 'gpu-only', rules: rulesForGpus(twoGpus, [0]), gpuMajors: twoGpus.gpuMajors });

  const got = await probe(cg.path, [
    open(`${dev}/gpu0`, 'r'), open(`${dev}/gpu0`, 'w'), open(`${dev}/gpu0`, 'rw'), open(`${dev}/ctl`, 'rw'),
    open(`${dev}/gpu1`, 'r'), open(`${dev}/gpu1`, 'w'), open(`${dev}/gpu1`, 'rw'),
    mknodProbe(dev, 195, 1), mknodProbe(dev, 195, 0),
    open(`${dev}/render`, 'r'), open(`${dev}/null`, 'rw'), mknodProbe(dev, 1, 3),
  ]);
  assert.deepEqual(got, [
    'ENXIO', 'ENXIO', 'ENXIO', 'ENXIO',
    'EPERM', 'EPERM', 'EPERM',
    'EPERM', 'EPERM', // the GPU rules grant rw, never mknod
    'EPERM', // 226 is GPU-class and not given
    'ok', 'ok', // gpu-only leaves other devices alone
  ]);

  gate.drainEvents();
  await until(() => events.length >= 6, 'six denial events');
  const gpu1 = events.filter((e) => e.major === 195 && e.minor === 1);
  assert.deepEqual(gpu1.map((e) => e.access), ['r', 'w', 'rw', 'm']);
  for (const e of events) {
    assert.equal(e.cgroupId, cg.id);
    assert.equal(e.taskCgroupId, cg.id);
    assert.equal(e.type, 'c');
    assert.equal(e.comm, 'node');
    assert.ok(e.pid > 0);
  }
  assert.ok(events.some((e) => e.major === 226 && e.minor === 128 && e.access === 'r'));
  assert.equal(await gate.denialCount(cg.id), events.length);
});

test('strict mode allows only runc\'s default list and the rules given', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const cg = makeCgroup(t);
  const dev = makeNodes(t, { null: [1, 3], zero: [1, 5], urandom: [1, 9], mem: [1, 1], pts9: [136, 9], tun: [10, 200], gpu0: [195, 0], gpu1: [195, 1], loopish: [7, 0] });
  const { gate } = await openGate(t);
  await gate.apply(cg.path, cg.id, { mode: 'strict', rules: [parseDeviceRule('c 195:0 rw')], gpuMajors: [] });
  const got = await probe(cg.path, [
    open(`${dev}/null`, 'rw'), open(`${dev}/zero`, 'r'), open(`${dev}/urandom`, 'r'), open(`${dev}/pts9`, 'rw'),
    open(`${dev}/mem`, 'r'), open(`${dev}/tun`, 'rw'), open(`${dev}/loopish`, 'r'),
    open(`${dev}/gpu0`, 'rw'), open(`${dev}/gpu1`, 'r'), mknodProbe(dev, 1, 3), mknodProbe(dev, 10, 200),
  ]);
  // pts 9 does not exist: EIO comes from the pty driver, past the gate
  assert.deepEqual(got, ['ok', 'ok', 'ok', 'EIO', 'EPERM', 'EPERM', 'EPERM', 'ENXIO', 'EPERM', 'ok', 'EPERM']);
});

test('a process in a nested sub-cgroup of a container is gated by the container', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const cg = makeCgroup(t);
  const deep = cg.sub('service/worker');
  const dev = makeNodes(t, { gpu0: [195, 0], gpu1: [195, 1], gpu2: [195, 2] });
  const { gate } = await openGate(t);
  const events: DenialEvent[] = [];
  gate.onDenial((ev) => events.push(ev));
  await gate.apply(cg.path, cg.id, { mode: 'gpu-only', rules: [parseDeviceRule('c 195:0 rw'), parseDeviceRule('c 195:2 rw')], gpuMajors: [195] });
  assert.deepEqual(await probe(deep.path, [open(`${dev}/gpu0`), open(`${dev}/gpu1`)]), ['ENXIO', 'EPERM']);
  gate.drainEvents();
  await until(() => events.length === 1, 'the denial');
  assert.equal(events[0].cgroupId, cg.id);
  assert.equal(events[0].taskCgroupId, deep.id);

  // a container nested in another: both rule sets hold (the kernel runs the program once per attach point)
  const inner = cg.sub('inner');
  await gate.apply(inner.path, inner.id, { mode: 'gpu-only', rules: [parseDeviceRule('c 195:0 rw'), parseDeviceRule('c 195:1 rw')], gpuMajors: [195] });
  assert.deepEqual(await probe(inner.path, [open(`${dev}/gpu0`), open(`${dev}/gpu1`), open(`${dev}/gpu2`)]), ['ENXIO', 'EPERM', 'EPERM']);
  assert.deepEqual(await probe(deep.path, [open(`${dev}/gpu2`)]), ['ENXIO']);
});

test('release detaches the gate, unpins it and deletes its rules', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const cg = makeCgroup(t);
  const dev = makeNodes(t, { gpu1: [195, 1] });
  const { gate } = await openGate(t);
  await gate.apply(cg.path, cg.id, { mode: 'gpu-only', rules: [parseDeviceRule('c 195:0 rw')], gpuMajors: [195] });
  assert.deepEqual(await probe(cg.path, [open(`${dev}/gpu1`)]), ['EPERM']);
  assert.deepEqual(gate.inspect(cg.id), { gated: true, pinned: true, generation: 1, ruleEntries: 1 });
  await gate.release(cg.id);
  assert.deepEqual(await probe(cg.path, [open(`${dev}/gpu1`)]), ['ENXIO']);
  assert.deepEqual(gate.inspect(cg.id), { gated: false, pinned: false, generation: null, ruleEntries: 0 });
});
