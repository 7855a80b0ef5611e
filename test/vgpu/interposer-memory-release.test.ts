// The memory limit holds as long as the driver holds the memory: a released VMM handle
// that is still mapped, and a context's allocations until the context is destroyed.
// Real gpuload processes under LD_PRELOAD on simgpu, and simgpu alone for comparison.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readUsage } from '../../src/vgpu/ledger.js';
import { ENTRIES, GiB, MiB, makeSim, missingBuild } from './interposer-harness.js';
import { bare, scenario } from './interposer-memory-helpers.js';

const skip = missingBuild();

for (const entry of ENTRIES) {
  test(`--entry ${entry}: cuMemRelease right after cuMemMap keeps the bytes until the unmap`, { skip: skip ?? false }, async (t) => {
    const sim = makeSim(t);
    const led = await sim.ledger({ devices: [{ memoryBytes: GiB, computeShare: 1 }] });
    const r = await scenario(['vmm-release', '--entry', entry, '--alloc', '4G', '--chunk', '256M'], sim.env(led));
    // 16 x 256 MiB were asked for under 1 GiB: only 4 may be mapped at once
    assert.equal(r.error, 'CUDA_ERROR_OUT_OF_MEMORY', JSON.stringify(r));
    assert.equal(r.used_mapped, GiB);
    assert.equal(r.used_unmapped, 0);
    // one handle mapped twice: released, it stays counted until its last mapping goes
    assert.equal(r.twice, null);
    assert.equal(r.used_one_mapping, 256 * MiB);
    assert.equal(r.used_no_mapping, 0);
    // one range striped over four handles, unmapped in one call: all four go
    assert.deepEqual([r.striped, r.used_striped, r.used_striped_unmapped], [null, GiB, 0]);
    const u = await readUsage(led);
    assert.equal(u.devices[0].memoryPeakBytes, GiB);
    assert.equal(u.devices[0].memoryBytes, 0);
  });
}

test('simgpu alone keeps a released, mapped handle too (the interposer test is faithful)', { skip: skip ?? false }, async (t) => {
  const sim = makeSim(t, GiB);
  const r = await scenario(['vmm-release', '--alloc', '4G', '--chunk', '256M'], bare(sim.env(null)));
  assert.equal(r.error, 'CUDA_ERROR_OUT_OF_MEMORY');
  assert.deepEqual([r.used_mapped, r.used_unmapped, r.used_one_mapping, r.used_no_mapping], [GiB, 0, 256 * MiB, 0]);
  assert.deepEqual([r.striped, r.used_striped, r.used_striped_unmapped], [null, GiB, 0]);
});

for (const entry of ENTRIES) {
  test(`--entry ${entry}: destroying a context, releasing or resetting the primary one gives its memory back`, { skip: skip ?? false }, async (t) => {
    const sim = makeSim(t);
    const led = await sim.ledger({ devices: [{ memoryBytes: GiB, computeShare: 1 }] });
    const r = await scenario(['ctx', '--entry', entry, '--chunk', '384M'], sim.env(led));
    for (const step of ['created', 'released', 'reset']) {
      // each step fills 768 MiB of the 1 GiB: it fits only if the last step's went back
      assert.equal(r[step].error, null, `${step}: ${JSON.stringify(r)}`);
      assert.equal(r[step].held, 768 * MiB, `${step}: ${JSON.stringify(r)}`);
      assert.equal(r[step].after, 0, `${step}: ${JSON.stringify(r)}`);
    }
    const u = await readUsage(led);
    assert.equal(u.devices[0].memoryPeakBytes, 768 * MiB);
  });
}

test('simgpu alone frees a context\'s memory with the context', { skip: skip ?? false }, async (t) => {
  const sim = makeSim(t, GiB);
  const r = await scenario(['ctx', '--chunk', '384M'], bare(sim.env(null)));
  for (const step of ['created', 'released', 'reset']) {
    assert.deepEqual([r[step].error, r[step].held, r[step].after], [null, 768 * MiB, 0], `${step}: ${JSON.stringify(r)}`);
  }
});
