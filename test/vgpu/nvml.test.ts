// The daemon's NVML binding, against simgpu's libnvidia-ml.so.1 set up with two
// 3 GiB devices: it must read back exactly what the simulated driver was given.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { need } from '../helpers/capabilities.js';
import { REPO } from '../helpers/daemon.js';
import { setupSimGpu, removeSimGpu } from '../../src/vgpu/simgpu.js';
import { listNvmlGpus } from '../../src/vgpu/nvml.js';

test('NVML lists the GPUs with their memory and device minors', async (t) => {
  if (!need(t, 'root')) return;
  const dir = mkdtempSync(join(tmpdir(), 'gs-nvml-'));
  t.after(async () => {
    await removeSimGpu(dir).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });
  await setupSimGpu(dir, { count: 2, memoryBytes: 3 * 2 ** 30 });
  process.env.SIMGPU_DIR = dir;
  const gpus = listNvmlGpus(join(REPO, 'build/simgpu/libnvidia-ml.so.1'));
  assert.ok(gpus);
  assert.deepEqual(gpus.map((g) => [g.index, g.minor, g.memoryBytes]), [
    [0, 0, 3 * 2 ** 30],
    [1, 1, 3 * 2 ** 30],
  ]);
  assert.ok(gpus[0].name.length > 0);
});

test('no NVML library means no NVIDIA GPUs, not an error', () => {
  assert.equal(listNvmlGpus('libnvidia-ml-not-here.so.1'), null);
});
