// Every way to take device memory is counted on the device that gives it: the stream's
// and the pool's device for stream-ordered allocations, legacy and mipmapped arrays,
// legacy pitch, graph memory; and a full allocation map refuses instead of forgetting.
// Real gpuload processes under LD_PRELOAD on simgpu.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readUsage } from '../../src/vgpu/ledger.js';
import { ENTRIES, GPULOAD, GiB, INTERPOSER, MiB, gpuload, makeSim, missingBuild } from './interposer-harness.js';
import { FAILCALLOC, missingFixture, scenario, twoDevices } from './interposer-memory-helpers.js';

const skip = missingBuild();

for (const entry of ENTRIES) {
  test(`--entry ${entry}: stream-ordered memory counts on the stream's or the pool's device; host pools not at all`, { skip: skip ?? false }, async (t) => {
    const sim = makeSim(t);
    twoDevices(sim.dir, 8 * GiB);
    const dev = { memoryBytes: GiB, computeShare: 1 };
    const led = await sim.ledger({ devices: [dev, dev] });
    // device 0's context is current; the stream is device 1's
    const r = await scenario(['stream-device', '--entry', entry, '--chunk', '256M'], sim.env(led));
    assert.deepEqual([r.async.error, r.async.used], [null, [0, 256 * MiB]], JSON.stringify(r));
    assert.deepEqual([r.pool.error, r.pool.used], [null, [0, 512 * MiB]], JSON.stringify(r));
    assert.deepEqual([r.host_pool.error, r.host_pool.used], [null, [0, 512 * MiB]], JSON.stringify(r));
    const u = await readUsage(led);
    assert.deepEqual(u.devices.slice(0, 2).map((d) => d.memoryPeakBytes), [0, 512 * MiB]);
  });
}

const NEW_APIS = ['mipmap', 'array-v1', 'array3d-v1', 'pitch-v1', 'graph-node', 'capture'];

for (const entry of ENTRIES) {
  test(`--entry ${entry}: mipmapped and legacy arrays, legacy pitch and graph memory are held to the limit and given back`, { skip: skip ?? false }, async (t) => {
    const sim = makeSim(t);
    for (const api of NEW_APIS) {
      const led = await sim.ledger({ devices: [{ memoryBytes: 256 * MiB, computeShare: 1 }] });
      const r = await scenario(['cycle', '--entry', entry, '--alloc-api', api, '--alloc', '1G', '--chunk', '32M'], sim.env(led));
      // the second round fits only if the first one's frees (or graph destroy) released it
      for (const [i, round] of r.rounds.entries()) {
        assert.equal(round.error, 'CUDA_ERROR_OUT_OF_MEMORY', `${api} round ${i}: ${JSON.stringify(r)}`);
        assert.ok(round.allocated >= 192 * MiB && round.allocated <= 256 * MiB, `${api} round ${i}: ${JSON.stringify(r)}`);
      }
      const u = await readUsage(led);
      assert.ok(u.devices[0].memoryPeakBytes <= 256 * MiB, `${api}: peak ${u.devices[0].memoryPeakBytes}`);
      assert.ok(u.devices[0].memoryPeakBytes >= r.rounds[0].allocated, `${api}: peak ${u.devices[0].memoryPeakBytes}`);
    }
  });
}

for (const entry of ENTRIES) {
  test(`--entry ${entry}: memory allocated into a capture that is invalidated goes back with it`, { skip: skip ?? false }, async (t) => {
    const sim = makeSim(t);
    const led = await sim.ledger({ devices: [{ memoryBytes: GiB, computeShare: 1 }] });
    const r = await scenario(['capture-invalidated', '--entry', entry, '--chunk', '256M'], sim.env(led));
    // a cuStreamSynchronize during the capture invalidates it: ending it gives no graph
    assert.deepEqual(r.invalidated, { alloc: null, end: 'CUDA_ERROR_STREAM_CAPTURE_INVALIDATED', graph: false, during: 256 * MiB, after: 0 });
    // the same capture ended properly holds its memory until its graph is destroyed
    assert.deepEqual(r.ended, { alloc: null, end: null, graph: true, during: 256 * MiB, after: 0 });
    assert.equal((await readUsage(led)).devices[0].memoryBytes, 0);
  });
}

test('an array of a format the interposer does not know is charged the largest element size, not 1 byte', { skip: skip ?? false }, async (t) => {
  const sim = makeSim(t);
  const led = await sim.ledger({ devices: [{ memoryBytes: 256 * MiB, computeShare: 1 }] });
  // 8192 x 8192 texels: 256 MiB as FLOAT (fits exactly), 1 GiB at 16 bytes a texel
  const r = await scenario(['odd-array'], sim.env(led));
  assert.deepEqual(r, { odd: 'CUDA_ERROR_OUT_OF_MEMORY', float: null });
  assert.equal((await readUsage(led)).devices[0].memoryPeakBytes, 256 * MiB);
});

test('the new wrappers are what cuGetProcAddress hands out', { skip: skip ?? false }, async (t) => {
  const sim = makeSim(t);
  const led = await sim.ledger({ devices: [{ memoryBytes: GiB, computeShare: 1 }] });
  const names = [
    ['cuMemMap', 'cuMemMap'], ['cuMemUnmap', 'cuMemUnmap'], ['cuMemPoolCreate', 'cuMemPoolCreate'],
    ['cuCtxDestroy', 'cuCtxDestroy_v2'], ['cuCtxDestroy@3020', 'cuCtxDestroy'],
    ['cuDevicePrimaryCtxRelease', 'cuDevicePrimaryCtxRelease_v2'], ['cuDevicePrimaryCtxRelease@10000', 'cuDevicePrimaryCtxRelease'],
    ['cuDevicePrimaryCtxReset', 'cuDevicePrimaryCtxReset_v2'], ['cuDevicePrimaryCtxReset@10000', 'cuDevicePrimaryCtxReset'],
    ['cuMipmappedArrayCreate', 'cuMipmappedArrayCreate'], ['cuArrayCreate@3010', 'cuArrayCreate'],
    ['cuArray3DCreate@3010', 'cuArray3DCreate'], ['cuMemAllocPitch@3010', 'cuMemAllocPitch'],
    ['cuGraphAddMemAllocNode', 'cuGraphAddMemAllocNode'], ['cuGraphDestroy', 'cuGraphDestroy'],
  ];
  const out = execFileSync(GPULOAD, ['--resolve', ...names.map(([n]) => n)], { env: sim.env(led), encoding: 'utf8' });
  const lines = out.trim().split('\n').map((l) => JSON.parse(l));
  // dladdr names the symbol at the address: ours (in the interposer) or the driver's
  const where = execFileSync('sh', ['-c', `nm -D --defined-only ${INTERPOSER} | awk '{print $3}'`], { encoding: 'utf8' }).split('\n');
  for (const [i, [, want]] of names.entries()) {
    assert.equal(lines[i].resolved, want, JSON.stringify(lines[i]));
    assert.ok(where.includes(want), `${want} is not one of the interposer's symbols`);
  }
});

test('a failed growth of the allocation map refuses the allocation and gives its reservation back', { skip: (skip ?? missingFixture()) ?? false }, async (t) => {
  const sim = makeSim(t);
  const led = await sim.ledger({ devices: [{ memoryBytes: 4 * GiB, computeShare: 1 }] });
  // the map's first table takes 40 KiB; growing it past ~680 entries needs more, which fails
  const env = sim.env(led, { LD_PRELOAD: `${FAILCALLOC}:${INTERPOSER}`, FAILCALLOC_MIN: String(64 * 1024) });
  const run = gpuload(['--alloc', '1G', '--chunk', '1M', '--hold', '30'], env, t);
  const r = await run.report;
  assert.equal(r.alloc_error, 'CUDA_ERROR_OUT_OF_MEMORY', JSON.stringify(r));
  assert.ok(r.allocated_bytes > 600 * MiB && r.allocated_bytes < 700 * MiB, `allocated ${r.allocated_bytes}`);
  // what is counted is exactly what the process holds: nothing reserved for the refused one
  const u = await readUsage(led);
  assert.equal(u.devices[0].memoryBytes, r.allocated_bytes);
  run.proc.kill('SIGTERM');
  await run.exit;
});
