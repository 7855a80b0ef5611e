// Work captured into a graph does not run when it is launched, so it must not be
// paid for then, nor leave a refund behind: a container that captured 500 launches
// went on to get 0.88 of the device at a 25 % share.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readUsage } from '../../src/vgpu/ledger.js';
import { gpuload, makeSim, missingBuild } from './interposer-harness.js';

const skip = missingBuild();
const KERNEL_US = 1000;

test('launches captured into a graph leave the compute share at 25%', { skip: skip ?? false }, async (t) => {
  const sim = makeSim(t);
  const led = await sim.ledger({ devices: [{ memoryBytes: null, computeShare: 0.25 }] });
  const run = gpuload(['--kernel-us', String(KERNEL_US), '--capture', '500', '--duration', '3'], sim.env(led), t);
  const r = await run.report;
  const share = (r.kernels * KERNEL_US) / 1e6 / r.elapsed_s;
  process.stderr.write(`# after capturing 500 launches: device share ${share.toFixed(3)} (25% = 0.250)\n`);
  assert.ok(Math.abs(share - 0.25) < 0.05, `share ${share}`);
  assert.equal((await run.exit).code, 0);
  // captured launches did not run: only the timed ones are counted
  assert.equal((await readUsage(led)).devices[0].launches, r.kernels);
});
