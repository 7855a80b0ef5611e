// Bad input gets a clear error and changes nothing that was working: unknown
// GPU indexes, a cgroup that vanishes in the middle of an update, a cgroup id
// that does not match its path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmdirSync } from 'node:fs';
import { need } from '../helpers/capabilities.js';
import { parseDeviceRule, rulesForGpus } from '../../src/bpf/index.js';
import type { GpuDiscovery } from '../../src/vgpu/devices.js';
import { makeCgroup, makeNodes, openGate, probe, open } from './helpers.js';

const spec = { mode: 'gpu-only' as const, rules: [parseDeviceRule('c 195:0 rw')], gpuMajors: [195] };
const isCode = (code: string, re?: RegExp) => (err: { code?: string; message: string }) => err.code === code && (!re || re.test(err.message));

test('an unknown GPU index is refused with the GPUs that exist', () => {
  const d: GpuDiscovery = { gpus: [{ index: 0, vendor: 'nvidia', nodes: [] }], shared: { nvidia: [], amd: [], intel: [], unknown: [] }, caps: [], gpuMajors: [195] };
  assert.throws(() => rulesForGpus(d, [0, 3]), isCode('GS_ERR_GPU_UNKNOWN', /GPU 3 .*GPUs found: 0/));
  assert.deepEqual(rulesForGpus(d, 'none'), []);
});

test('a cgroup that vanishes between rule write and attach leaves nothing half-attached', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const cg = makeCgroup(t);
  const { gate } = await openGate(t, { afterRules: () => rmdirSync(cg.path) });
  await assert.rejects(gate.apply(cg.path, cg.id, spec), isCode('GS_ERR_BPF_ATTACH', /still there/));
  await gate.reap();
  assert.deepEqual(gate.inspect(cg.id), { gated: false, pinned: false, generation: null, ruleEntries: 0 });
});

test('updating a container whose cgroup is gone fails and drops what was held for it', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const cg = makeCgroup(t);
  const { gate } = await openGate(t);
  await gate.apply(cg.path, cg.id, spec);
  rmdirSync(cg.path);
  await assert.rejects(gate.apply(cg.path, cg.id, spec), isCode('GS_ERR_BPF_ATTACH', /ENOENT/));
  await gate.reap();
  assert.deepEqual(gate.inspect(cg.id), { gated: false, pinned: false, generation: null, ruleEntries: 0 });
});

test('a cgroup id that is not the path\'s is refused; a bad spec changes nothing', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const cg = makeCgroup(t);
  const other = makeCgroup(t);
  const dev = makeNodes(t, { gpu1: [195, 1] });
  const { gate } = await openGate(t);
  await assert.rejects(gate.apply(cg.path, other.id, spec), isCode('GS_ERR_BPF_ATTACH', /replaced/));
  await gate.apply(cg.path, cg.id, spec);
  await assert.rejects(gate.apply(cg.path, cg.id, { ...spec, mode: 'loose' as never }), isCode('GS_ERR_INVALID_ARGUMENT'));
  await assert.rejects(gate.apply(cg.path, cg.id, { ...spec, gpuMajors: [1, 2, 3, 4, 5, 6, 7, 8, 9] }), isCode('GS_ERR_INVALID_ARGUMENT', /at most 8/));
  assert.deepEqual(await probe(cg.path, [open(`${dev}/gpu1`)]), ['EPERM']);
  assert.equal(gate.inspect(cg.id).generation, 1);
});
