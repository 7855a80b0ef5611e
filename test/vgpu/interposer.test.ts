// The interposer's memory limit, end to end: real gpuload processes under LD_PRELOAD
// on a simulated GPU (or NVIDIA's driver: see test-driver.ts), for each way an
// application reaches the driver.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readUsage, reclaimDeadSlots, writeLimits } from '../../src/vgpu/ledger.js';
import { ENTRIES, GiB, MiB, gpuload, gpuloadDone, makeGpu, missingGpu, sleep } from './interposer-harness.js';

const skip = missingGpu();
const ALLOC_APIS = ['mem', 'pitch', 'managed', 'async', 'pool', 'create', 'array'];

for (const entry of ENTRIES) {
  test(`--entry ${entry}: a 1 GiB limit stops gpuload --alloc 3G at 1 GiB, total exactly 1 GiB`, { skip: skip ?? false }, async (t) => {
    const sim = makeGpu(t);
    const led = await sim.ledger({ devices: [{ memoryBytes: GiB, computeShare: 1 }] });
    const r = await gpuloadDone(['--entry', entry, '--alloc', '3G', '--chunk', '64M'], sim.env(led));
    assert.ok(r.allocated_bytes >= 960 * MiB && r.allocated_bytes <= GiB, `allocated ${r.allocated_bytes}`);
    assert.equal(r.alloc_error, 'CUDA_ERROR_OUT_OF_MEMORY');
    assert.equal(r.mem_total, GiB);
    assert.equal(r.mem_free, GiB - r.allocated_bytes);
    // the process has exited: its reservation went with it
    const u = await readUsage(led);
    assert.equal(u.devices[0].memoryBytes, 0);
    assert.equal(u.devices[0].memoryPeakBytes, r.allocated_bytes);
  });

  test(`--entry ${entry}: every allocation call is held to the limit`, { skip: skip ?? false }, async (t) => {
    const sim = makeGpu(t);
    for (const api of ALLOC_APIS) {
      const led = await sim.ledger({ devices: [{ memoryBytes: 256 * MiB, computeShare: 1 }] });
      const r = await gpuloadDone(['--entry', entry, '--alloc-api', api, '--alloc', '1G', '--chunk', '32M'], sim.env(led));
      assert.equal(r.alloc_error, 'CUDA_ERROR_OUT_OF_MEMORY', `${api}: ${JSON.stringify(r)}`);
      assert.ok(r.allocated_bytes >= 192 * MiB && r.allocated_bytes <= 256 * MiB, `${api}: allocated ${r.allocated_bytes}`);
      const u = await readUsage(led);
      assert.ok(u.devices[0].memoryPeakBytes >= r.allocated_bytes, `${api}: counted ${u.devices[0].memoryPeakBytes}`);
      assert.ok(u.devices[0].memoryPeakBytes <= 256 * MiB, `${api}: peak ${u.devices[0].memoryPeakBytes}`);
      assert.equal(u.devices[0].memoryBytes, 0, `${api}: released`);
    }
  });

  test(`--entry ${entry}: three processes of one container never pass the limit together`, { skip: skip ?? false }, async (t) => {
    const sim = makeGpu(t);
    const led = await sim.ledger({ devices: [{ memoryBytes: GiB, computeShare: 1 }] });
    const runs = [0, 1, 2].map(() => gpuload(['--entry', entry, '--alloc', '1G', '--chunk', '16M', '--hold', '30'], sim.env(led), t));
    const reports = await Promise.all(runs.map((r) => r.report));
    const sum = reports.reduce((a, r) => a + r.allocated_bytes, 0);
    assert.ok(sum <= GiB, `sum ${sum}`);
    assert.ok(sum >= GiB - 3 * 16 * MiB, `sum ${sum}`);
    for (const r of reports) assert.equal(r.mem_total, GiB);
    const u = await readUsage(led);
    assert.equal(u.devices[0].memoryBytes, sum);
    assert.equal(u.slots.length, 3);
    assert.deepEqual(u.slots.map((s) => s.devices[0].memoryBytes).sort(), reports.map((r) => r.allocated_bytes).sort());
    for (const r of runs) r.proc.kill('SIGTERM');
    await Promise.all(runs.map((r) => r.exit));
  });
}

test('raising the limit lets a waiting allocation (policy wait) proceed without restart', { skip: skip ?? false }, async (t) => {
  const sim = makeGpu(t);
  const limits = (mem: number) => ({ devices: [{ memoryBytes: mem, computeShare: 1, memoryPolicy: 'wait' as const, waitTimeoutMs: 20_000 }] });
  const led = await sim.ledger(limits(256 * MiB));
  const run = gpuload(['--alloc', '512M', '--chunk', '64M'], sim.env(led), t);
  // it stops at the limit and waits: the container shows 256 MiB in use and a stalled thread
  const deadline = Date.now() + 5000;
  let u = await readUsage(led);
  while (Date.now() < deadline && u.stall.stalledThreads === 0) {
    await sleep(20);
    u = await readUsage(led);
  }
  assert.equal(u.stall.stalledThreads, 1);
  assert.equal(u.devices[0].memoryBytes, 256 * MiB);
  await writeLimits(led, limits(GiB));
  const r = await run.report;
  assert.equal(r.allocated_bytes, 512 * MiB);
  assert.equal(r.alloc_error, null);
  assert.equal(r.mem_total, GiB);
  await run.exit;
  u = await readUsage(led);
  assert.ok(u.devices[0].stallNs > 0, 'the wait was counted as stall');
  assert.ok(u.stall.someUs > 0 && u.stall.fullUs > 0);
  assert.equal(u.stall.stalledThreads, 0);
});

test('policy wait gives up with CUDA_ERROR_OUT_OF_MEMORY after its timeout', { skip: skip ?? false }, async (t) => {
  const sim = makeGpu(t);
  const led = await sim.ledger({ devices: [{ memoryBytes: 128 * MiB, computeShare: 1, memoryPolicy: 'wait', waitTimeoutMs: 300 }] });
  const r = await gpuloadDone(['--alloc', '256M', '--chunk', '64M'], sim.env(led));
  assert.equal(r.allocated_bytes, 128 * MiB);
  assert.equal(r.alloc_error, 'CUDA_ERROR_OUT_OF_MEMORY');
});

test('SIGKILL of a process holding memory frees its accounting within a period; nobody hangs', { skip: skip ?? false }, async (t) => {
  const sim = makeGpu(t);
  const led = await sim.ledger({ periodUs: 100_000, devices: [{ memoryBytes: GiB, computeShare: 1, memoryPolicy: 'wait', waitTimeoutMs: 20_000 }] });
  const holder = gpuload(['--alloc', '1G', '--chunk', '64M', '--hold', '60'], sim.env(led), t);
  assert.equal((await holder.report).allocated_bytes, GiB);
  // a second process waits for room, a third one is mid-way through many small allocations
  const waiter = gpuload(['--alloc', '512M', '--chunk', '64M'], sim.env(led), t);
  await sleep(300);
  holder.proc.kill('SIGKILL');
  const killedAt = Date.now();
  const r = await waiter.report;
  const took = Date.now() - killedAt;
  assert.equal(r.allocated_bytes, 512 * MiB);
  assert.equal(r.alloc_error, null);
  assert.ok(took < 2000, `the waiter got its memory ${took} ms after the kill`);
  await waiter.exit;
  const u = await readUsage(led);
  assert.equal(u.devices[0].memoryBytes, 0);
  assert.equal(u.slots.length, 0);
});

test('a process killed while waiting inside an allocation leaves nothing behind', { skip: skip ?? false }, async (t) => {
  const sim = makeGpu(t);
  const led = await sim.ledger({ devices: [{ memoryBytes: 256 * MiB, computeShare: 1, memoryPolicy: 'wait', waitTimeoutMs: 20_000 }] });
  const run = gpuload(['--alloc', '512M', '--chunk', '64M'], sim.env(led), t);
  let u = await readUsage(led);
  for (const end = Date.now() + 5000; Date.now() < end && u.stall.stalledThreads === 0; u = await readUsage(led)) await sleep(20);
  assert.equal(u.stall.stalledThreads, 1, 'it is stalled inside cuMemAlloc');
  run.proc.kill('SIGKILL');
  await run.exit;
  // the daemon's side reclaims it: memory, threads and the stall all go
  assert.equal(reclaimDeadSlots(led), 1);
  u = await readUsage(led);
  assert.equal(u.devices[0].memoryBytes, 0);
  assert.deepEqual([u.stall.stalledThreads, u.stall.gpuThreads, u.slots.length], [0, 0, 0]);
  const someAfterKill = u.stall.someUs;
  await sleep(50);
  assert.equal((await readUsage(led)).stall.someUs, someAfterKill, 'stall time stopped accruing');
  const next = await gpuloadDone(['--alloc', '256M', '--chunk', '64M'], sim.env(led));
  assert.equal(next.allocated_bytes, 256 * MiB);
});
