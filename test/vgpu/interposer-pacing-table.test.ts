// The per-function cost table against real workloads' churn: JIT compilers make
// functions without end, and graphs and modules come and go at reused addresses.
// A function the table had no room for was charged a guess and never measured (1 ms
// kernels ran at 1.00 of the device at a 25 % share); an address handed out again
// kept the old function's estimate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { gpuload, makeSim, missingBuild } from './interposer-harness.js';

const skip = missingBuild();
const KERNEL_US = 1000;

test('after 4200 distinct functions a new one is still measured and paced to 25%', { skip: skip ?? false }, async (t) => {
  const sim = makeSim(t);
  appendFileSync(join(sim.dir, 'simgpu/config'), 'kernel_default_us=5\n'); // the JIT's tiny kernels
  const led = await sim.ledger({ devices: [{ memoryBytes: null, computeShare: 0.25 }] });
  const run = gpuload(['--kernel-us', String(KERNEL_US), '--distinct', '4200', '--duration', '3'], sim.env(led), t);
  const r = await run.report;
  const share = (r.kernels * KERNEL_US) / 1e6 / r.elapsed_s;
  process.stderr.write(`# after 4200 distinct functions: device share ${share.toFixed(3)} (25% = 0.250)\n`);
  assert.ok(Math.abs(share - 0.25) < 0.05, `share ${share}`);
  assert.equal((await run.exit).code, 0);
});

for (const api of ['graph', 'kernel'] as const) {
  const what = api === 'graph' ? 'graph re-instantiated at a destroyed one\'s address' : 'function reloaded at an unloaded one\'s address';
  test(`a ${what} is measured afresh`, { skip: skip ?? false }, async (t) => {
    const sim = makeSim(t);
    const led = await sim.ledger({ devices: [{ memoryBytes: null, computeShare: 0.25 }] });
    // 100 launches of 10 us at the address first, then 1 ms ones
    const args = ['--kernel-us', String(KERNEL_US), '--launch-api', api, '--stale', '100', '--duration', '3'];
    // glibc's per-thread cache keeps freed chunks from realloc, which simgpu grows a
    // module's function array with: without it the allocator reuses addresses as a
    // long-running process's would
    const run = gpuload(args, sim.env(led, { GLIBC_TUNABLES: 'glibc.malloc.tcache_count=0' }), t);
    const r = await run.report;
    const { code, stderr } = await run.exit;
    assert.equal(code, 0, stderr);
    // without reuse this would test nothing
    assert.match(stderr, /--stale: address reused/);
    const share = (r.kernels * KERNEL_US) / 1e6 / r.elapsed_s;
    process.stderr.write(`# ${api} at a reused address: device share ${share.toFixed(3)} (25% = 0.250)\n`);
    assert.ok(Math.abs(share - 0.25) < 0.05, `share ${share}`);
  });
}
