// exec keeps a process's pid and start time but ends its image, and the driver frees
// the image's GPU memory. A program exec'd that never uses CUDA never released the old
// image's slot, so its bytes stayed charged to the container until the process ended.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { readUsage, reclaimDeadSlots } from '../../src/vgpu/ledger.js';
import { GPULOAD, GiB, gpuloadDone, makeSim, missingBuild } from '../vgpu/interposer-harness.js';
import { waitUntil } from '../helpers/daemon.js';

test('a process that exec\'d another program holds none of its old image\'s memory', { skip: missingBuild() ?? false }, async (t) => {
  const sim = makeSim(t);
  const led = await sim.ledger({ devices: [{ memoryBytes: GiB, computeShare: 1 }] });
  // allocates, reports, then becomes `sleep` (the interposer still preloaded, never used)
  const p = spawn(GPULOAD, ['--json', '--alloc', '512M', '--chunk', '64M', '--exec', '--', 'sleep', '30'], { env: sim.env(led), stdio: 'ignore' });
  t.after(() => p.kill('SIGKILL'));
  await waitUntil(() => {
    try {
      return readlinkSync(`/proc/${p.pid}/exe`).endsWith('/sleep');
    } catch {
      return false;
    }
  }, 5000, 'the exec');

  assert.equal(reclaimDeadSlots(led), 1, 'the old image\'s slot is reclaimed');
  const u = await readUsage(led);
  assert.deepEqual([u.devices[0].memoryBytes, u.slots.length], [0, 0]);
  const next = await gpuloadDone(['--alloc', '1G', '--chunk', '64M'], sim.env(led));
  assert.deepEqual([next.allocated_bytes, next.alloc_error], [GiB, null]);
  assert.equal(p.exitCode, null, 'sleep still runs');
});
