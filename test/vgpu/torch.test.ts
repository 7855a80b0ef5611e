// PyTorch under the interposer on NVIDIA's driver: the framework most containers run
// sees the virtual GPU in torch.cuda.mem_get_info() and runs out of memory at its
// limit. Needs a GPU and PyTorch, so it runs only with GPUSLICE_TEST_DRIVER=nvidia
// (see test-driver.ts) and otherwise says why it did not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { GiB, REPO, makeGpu, missingGpu } from './interposer-harness.js';
import { selectedDriver } from './test-driver.js';

const SCRIPT = join(REPO, 'test/fixtures/vgpu/torch_limit.py');

function missingTorch(): string | null {
  if (selectedDriver() !== 'nvidia') return 'runs on NVIDIA\'s driver only: GPUSLICE_TEST_DRIVER=nvidia npm test, on a machine with a GPU and PyTorch';
  const gpu = missingGpu();
  if (gpu) return gpu;
  const r = spawnSync('python3', ['-c', 'import torch'], { encoding: 'utf8' });
  return r.status === 0 ? null : `PyTorch is not importable by python3: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`;
}

const skip = missingTorch();
if (skip) process.stderr.write(`# skipped the PyTorch test: ${skip}\n`);

test('PyTorch sees a 1 GiB virtual GPU and runs out of memory past it', { skip: skip ?? false }, async (t) => {
  const gpu = makeGpu(t);
  const led = await gpu.ledger({ devices: [{ memoryBytes: GiB, computeShare: 1, memoryPolicy: 'fail' }] });
  // 512 MiB fits; another 768 MiB would pass 1 GiB; 256 MiB more still fits
  const r = spawnSync('python3', [SCRIPT, '512', '768', '256'], { env: gpu.env(led), encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  process.stderr.write(`# torch under a 1 GiB limit: ${JSON.stringify(out)}\n`);
  assert.equal(out.total, GiB);
  assert.ok(out.free <= GiB);
  assert.deepEqual(out.allocations.map((a: { error: string | null }) => a.error === null), [true, false, true]);
  assert.match(out.allocations[1].error, /out of memory/i);
});
