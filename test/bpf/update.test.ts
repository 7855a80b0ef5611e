// Rule updates never open a window: while a process in the container opens
// devices in a tight loop, thousands of updates flip between two rule sets
// (one allow-list, one deny-list) that agree on two devices and disagree on
// two others. The agreed answers must never change; the others must flip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { need } from '../helpers/capabilities.js';
import { parseDeviceRule, type GateSpec } from '../../src/bpf/index.js';
import { makeCgroup, makeNodes, openGate, runIn, open, OPENER } from './helpers.js';

test('thousands of rule updates under a tight open loop give no wrong answer', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const cg = makeCgroup(t);
  const dev = makeNodes(t, { gpu0: [195, 0], gpu1: [195, 1], gpu2: [195, 2], gpu3: [195, 3] });
  const { gate } = await openGate(t);
  const a: GateSpec = { mode: 'gpu-only', rules: ['c 195:0 rw', 'c 195:2 r'].map(parseDeviceRule), gpuMajors: [195] };
  const b: GateSpec = { mode: 'gpu-only', rules: ['a', 'deny c 195:1 rwm', 'deny c 195:2 r'].map(parseDeviceRule), gpuMajors: [195] };
  await gate.apply(cg.path, cg.id, a);

  const probes = [open(`${dev}/gpu0`, 'rw'), open(`${dev}/gpu1`, 'r'), open(`${dev}/gpu2`, 'r'), open(`${dev}/gpu3`, 'r')];
  let done = false;
  const child = runIn(cg.path, [process.execPath, OPENER, JSON.stringify({ loop: probes, ms: 4000 })]).finally(() => (done = true));
  let updates = 0;
  while (!done) {
    await gate.apply(cg.path, cg.id, updates % 2 ? a : b);
    updates++;
    // let the child's exit be seen, as a daemon's event loop would
    if (updates % 64 === 0) await new Promise((r) => setImmediate(r));
  }
  const r = await child;
  assert.equal(r.code, 0, r.stderr);
  const { rounds, counts } = JSON.parse(r.stdout) as { rounds: number; counts: Array<Record<string, number>> };
  t.diagnostic(`${updates} updates during ${rounds} rounds of ${probes.length} opens`);
  assert.ok(updates >= 2000, `only ${updates} updates`);
  assert.deepEqual(Object.keys(counts[0]), ['ENXIO'], 'allowed by both rule sets: never refused');
  assert.deepEqual(Object.keys(counts[1]), ['EPERM'], 'denied by both rule sets: never let through');
  // the two that differ saw both answers: the updates really happened under the loop
  assert.deepEqual(Object.keys(counts[2]).sort(), ['ENXIO', 'EPERM']);
  assert.deepEqual(Object.keys(counts[3]).sort(), ['ENXIO', 'EPERM']);
  await gate.reap();
  const left = gate.inspect(cg.id);
  assert.equal(left.ruleEntries, 2, 'old generations are deleted');
});
