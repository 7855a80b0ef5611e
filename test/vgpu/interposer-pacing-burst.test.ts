// The burst (share x control period) in ns, without truncation: periods that are not
// whole milliseconds lost up to 1 ms of it (1999 us at 50 %: 500 us, not 999.5 us).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { USAGE, USAGE_FILE } from '../../src/vgpu/ledger-layout.js';
import { gpuloadDone, makeSim, missingBuild } from './interposer-harness.js';

const skip = missingBuild();

function tokensNs(ledger: string): number {
  const b = readFileSync(join(ledger, USAGE_FILE));
  return Number(b.readBigInt64LE(USAGE.dev + USAGE.d.tokensNs));
}

test('a 1999 us period at 50% banks a 999.5 us burst', { skip: skip ?? false }, async (t) => {
  const sim = makeSim(t);
  const led = await sim.ledger({ periodUs: 1999, devices: [{ memoryBytes: null, computeShare: 0.5 }] });
  // the first launch takes the whole burst (not measured yet) and gets it back, less
  // its 1 us, when its sample is in; two more 1 us launches leave the bucket near full
  await gpuloadDone(['--kernel-us', '1', '--kernels', '3', '--stream-sync'], sim.env(led));
  const tokens = tokensNs(led);
  process.stderr.write(`# bucket after three 1 us launches: ${tokens} ns (burst 999500)\n`);
  assert.ok(tokens > 0.95 * 999_500 && tokens <= 999_500, `tokens ${tokens}`);
});
