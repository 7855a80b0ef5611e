// cuGetProcAddress answers checked against NVIDIA's own driver. The fixture holds what
// libcuda.so.1 535.309.01 (Debian's non-free libcuda1, loaded on a machine with no GPU)
// answered for each name@version[:ptds] — recorded with `gpuload --resolve`, which
// prints the symbol the returned pointer belongs to. simgpu must answer the same, and
// so must the interposer in front of it: the ABI version a caller gets is the driver's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from '../helpers/daemon.js';

const oracle = readFileSync(join(REPO, 'test/fixtures/vgpu/procaddr-nvidia-535.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const ask = oracle.map((o: { symbol: string; version: number; flags: number }) => `${o.symbol}@${o.version}${o.flags & 2 ? ':ptds' : ''}`);

function resolve(env: NodeJS.ProcessEnv): Array<Record<string, unknown>> {
  const r = spawnSync(join(REPO, 'build/gpuload'), ['--resolve', ...ask], { env: { ...process.env, LD_LIBRARY_PATH: join(REPO, 'build/simgpu'), ...env }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n').map((l) => {
    const { result: _r, ...rest } = JSON.parse(l);
    return rest;
  });
}

test(`simgpu answers cuGetProcAddress as NVIDIA's 535 driver does (${oracle.length} cases)`, () => {
  assert.deepEqual(resolve({}), oracle);
});

test('through the interposer, every answer names the same ABI variant', () => {
  // no ledger: the interposer passes through, but still hands out its own wrappers
  assert.deepEqual(resolve({ LD_PRELOAD: join(REPO, 'build/libgpuslice-vgpu.so'), GPUSLICE_VGPU_LOG: '0' }), oracle);
});
