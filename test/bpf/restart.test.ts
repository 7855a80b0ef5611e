// Restarts: the process that loaded the gate dies (SIGKILL), the pinned link
// keeps the container gated through the gap, and a new gate adopts the pins,
// moves them to its own program, reads the denials of the gap, and deletes
// the pins of cgroups that are gone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { need } from '../helpers/capabilities.js';
import { parseDeviceRule, type DenialEvent } from '../../src/bpf/index.js';
import { readPinnedLink } from '../../src/bpf/adopt.js';
import { libbpf } from '../../src/bpf/libbpf.js';
import { makeCgroup, makeNodes, openGate, probe, open, unique, LOADER, OBJECT, type TestCgroup } from './helpers.js';
import type { TestContext } from 'node:test';

/** Starts a loader process that gates `cg`, waits for it to say ready, then SIGKILLs it. */
async function gateThenKill(t: TestContext, pinDir: string, cg: TestCgroup, rules: string[]): Promise<void> {
  const child = spawn(process.execPath, [LOADER, pinDir, OBJECT, cg.path, JSON.stringify(rules)], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('ready')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`loader exited ${code}: ${err}`)));
  });
  const exited = new Promise((r) => child.on('exit', r));
  child.kill('SIGKILL');
  await exited;
}

test('after SIGKILL of the loader the container stays gated, and a new gate adopts it', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const cg = makeCgroup(t);
  const dev = makeNodes(t, { gpu0: [195, 0], gpu1: [195, 1] });
  const pinDir = `/sys/fs/bpf/gpuslice/${unique('pins')}`;
  await gateThenKill(t, pinDir, cg, ['c 195:0 rw']);

  // the gap: no process holds the gate, the pins do
  assert.deepEqual(await probe(cg.path, [open(`${dev}/gpu0`, 'rw'), open(`${dev}/gpu1`, 'r')]), ['ENXIO', 'EPERM']);

  const progOf = () => {
    const { link, progId } = readPinnedLink(join(pinDir, 'links', String(cg.id)));
    if (link) libbpf().linkDestroy(link);
    return progId;
  };
  const before = progOf();
  const { gate } = await openGate(t, { pinDir });
  assert.deepEqual(gate.gated(), [cg.id]);
  // the adopted link now runs the program the new gate loaded (BPF_LINK_UPDATE, no detach)
  assert.notEqual(progOf(), before);
  const events: DenialEvent[] = [];
  gate.onDenial((ev) => events.push(ev));
  gate.drainEvents();
  // the denial of the gap waited in the pinned ring buffer
  assert.ok(events.some((e) => e.cgroupId === cg.id && e.major === 195 && e.minor === 1 && e.access === 'r'), JSON.stringify(events, (_, v) => (typeof v === 'bigint' ? String(v) : v)));
  assert.equal(await gate.denialCount(cg.id), 1);

  // the adopted container takes updates and is still gated through them
  await gate.apply(cg.path, cg.id, { mode: 'gpu-only', rules: [parseDeviceRule('c 195:1 r')], gpuMajors: [195] });
  assert.deepEqual(await probe(cg.path, [open(`${dev}/gpu0`, 'rw'), open(`${dev}/gpu1`, 'r')]), ['EPERM', 'ENXIO']);
  await gate.reap();
  assert.deepEqual(gate.inspect(cg.id), { gated: true, pinned: true, generation: 2, ruleEntries: 1 });
});

test('a new gate deletes the pins and rules of cgroups that are gone, and adopt() releases the ones not live', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const gone = makeCgroup(t);
  const kept = makeCgroup(t);
  const dropped = makeCgroup(t);
  const dev = makeNodes(t, { gpu1: [195, 1] });
  const pinDir = `/sys/fs/bpf/gpuslice/${unique('pins')}`;
  await gateThenKill(t, pinDir, gone, ['c 195:0 rw']);
  rmdirSync(gone.path);
  // the kernel detaches a removed cgroup's links when it frees the cgroup, a little later
  const pin = join(pinDir, 'links', String(gone.id));
  for (let i = 0; i < 200; i++) {
    const { link, cgroupId } = readPinnedLink(pin);
    if (link) libbpf().linkDestroy(link);
    if (cgroupId === 0n) break;
    await new Promise((r) => setTimeout(r, 10));
  }

  const { gate } = await openGate(t, { pinDir });
  assert.equal(existsSync(pin), false, 'the pin of the removed cgroup is deleted');
  assert.deepEqual(gate.gated(), []);
  await gate.reap();
  assert.equal(gate.inspect(gone.id).ruleEntries, 0);
  assert.equal(gate.inspect(gone.id).generation, null);

  const spec = { mode: 'gpu-only' as const, rules: [parseDeviceRule('c 195:0 rw')], gpuMajors: [195] };
  await gate.apply(kept.path, kept.id, spec);
  await gate.apply(dropped.path, dropped.id, spec);
  assert.deepEqual(await gate.adopt([kept.id]), [dropped.id]);
  assert.deepEqual(readdirSync(join(pinDir, 'links')), [String(kept.id)]);
  assert.deepEqual(await probe(kept.path, [open(`${dev}/gpu1`)]), ['EPERM']);
  assert.deepEqual(await probe(dropped.path, [open(`${dev}/gpu1`)]), ['ENXIO']);
});
