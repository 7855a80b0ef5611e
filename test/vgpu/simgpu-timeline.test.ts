// simgpu's device timeline: kernels of all processes take turns, and the
// shared state counts the device time each process got.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { need } from '../helpers/capabilities.js';
import { readSimGpuState } from '../../src/vgpu/simgpu-state.js';
import { GiB, gpuload, makeSimGpu, startGpuload } from './simgpu-helpers.js';

test('kernels of two processes serialize on the device timeline', async (t) => {
  if (!need(t, 'root')) return;
  const sg = await makeSimGpu(t, { count: 1, memoryBytes: GiB });
  // Node's hrtime is CLOCK_MONOTONIC, the clock of the timeline
  const t0 = process.hrtime.bigint();
  // each: 100 kernels of 10 ms, waited for one by one = 1 s of device time
  const args = ['--kernels', '100', '--kernel-us', '10000', '--stream-sync', '--hold', '30', '--json'];
  const a = startGpuload(t, sg, args);
  const b = startGpuload(t, sg, args);
  const [ra, rb] = await Promise.all([a.report, b.report]);
  assert.equal(ra.kernels + rb.kernels, 200);
  const st = (await readSimGpuState(sg.dir))!;
  const dev = st.devices[0];
  assert.equal(dev.launches, 200n);
  assert.equal(dev.busyNs, 2_000_000_000n);
  for (const p of st.processes) {
    assert.equal(p.busyNs[0], 1_000_000_000n, `device time of pid ${p.pid}`);
    assert.equal(p.launches[0], 100n);
  }
  assert.equal(st.processes.length, 2);
  // 2 s of kernels, one after another, all booked after t0
  assert.ok(dev.busyUntilNs - t0 >= 2_000_000_000n, `timeline ends ${dev.busyUntilNs - t0} ns after the start`);
});

// each launch path books its kernel's time on the timeline
for (const api of ['kernel', 'ex', 'coop', 'graph']) {
  test(`--launch-api ${api}: 10 launches of 2 ms book 20 ms of device time`, async (t) => {
    if (!need(t, 'root')) return;
    const sg = await makeSimGpu(t, { count: 1, memoryBytes: GiB });
    const r = await gpuload(t, sg, ['--launch-api', api, '--kernels', '10', '--kernel-us', '2000', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.report!.kernels, 10);
    // the final stream sync waited for all of them
    assert.ok(r.report!.elapsed_s >= 0.02, `elapsed ${r.report!.elapsed_s}`);
    const dev = (await readSimGpuState(sg.dir))!.devices[0];
    assert.equal(dev.busyNs, 20_000_000n);
    assert.equal(dev.launches, 10n);
  });
}

test('--per-thread: the _ptsz entry points reach the same device', async (t) => {
  if (!need(t, 'root')) return;
  const sg = await makeSimGpu(t, { count: 1, memoryBytes: GiB });
  const r = await gpuload(t, sg, ['--entry', 'procaddress', '--per-thread', '--alloc-api', 'async', '--alloc', '256M', '--kernels', '3', '--kernel-us', '1000', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.report!.allocated_bytes, 256 * 2 ** 20);
  assert.equal((await readSimGpuState(sg.dir))!.devices[0].busyNs, 3_000_000n);
});

test('a kernel other than gs_spin costs kernel_default_us', async (t) => {
  if (!need(t, 'root')) return;
  const sg = await makeSimGpu(t, { count: 1, memoryBytes: GiB, kernelDefaultUs: 250 });
  const r = await gpuload(t, sg, ['--kernel', 'noop', '--kernels', '4', '--kernel-us', '5000', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await readSimGpuState(sg.dir))!.devices[0].busyNs, 1_000_000n);
});
