// A process whose main thread had called pthread_exit() shows as a zombie in
// /proc/PID/stat while its other threads run on, holding their GPU memory. Slots were
// judged dead by that state alone: the memory of a live process was reclaimed, and the
// container could go past its limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readUsage, reclaimDeadSlots } from '../../src/vgpu/ledger.js';
import { GiB, MiB, gpuload, gpuloadDone, makeSim, missingBuild } from '../vgpu/interposer-harness.js';
import { waitUntil } from '../helpers/daemon.js';

const state = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0];

test('a live process whose main thread exited keeps its slot and its memory', { skip: missingBuild() ?? false }, async (t) => {
  const sim = makeSim(t);
  const led = await sim.ledger({ devices: [{ memoryBytes: GiB, computeShare: 1 }] });
  const holder = gpuload(['--alloc', '256M', '--chunk', '64M', '--hold', '30', '--hold-thread'], sim.env(led), t);
  assert.equal((await holder.report).allocated_bytes, 256 * MiB);
  await waitUntil(() => state(holder.proc.pid!) === 'Z', 5000, 'the main thread to exit');

  assert.equal(reclaimDeadSlots(led), 0, 'nothing reclaimed from a live process');
  const u = await readUsage(led);
  assert.deepEqual([u.devices[0].memoryBytes, u.slots.length], [256 * MiB, 1]);
  // another process of the container still finds only what is left
  const next = await gpuloadDone(['--alloc', '1G', '--chunk', '64M'], sim.env(led));
  assert.deepEqual([next.allocated_bytes, next.alloc_error], [768 * MiB, 'CUDA_ERROR_OUT_OF_MEMORY']);
  holder.proc.kill('SIGKILL');
  await holder.exit;
});
