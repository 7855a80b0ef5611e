// The README's first command runs the demo: it must show each part working and
// leave nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { need } from '../helpers/capabilities.js';
import { runCli } from '../helpers/daemon.js';
import { findCgroup2Mount } from '../../src/cgroups/index.js';

test('gpuslice demo runs every step and cleans up', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const r = await runCli(['demo'], { timeoutMs: 90_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /allocated 1024 MiB, then CUDA_ERROR_OUT_OF_MEMORY; the GPU it sees has 1024 MiB/);
  const m = /small: (\d+) kernels .* large: (\d+)/.exec(r.stdout);
  assert.ok(m, r.stdout);
  // the strict 1:3 over 10 s is test/vgpu/interposer-compute's; here the shares must show
  const ratio = Number(m[2]) / Number(m[1]);
  assert.ok(ratio > 2 && ratio < 4.5, `large/small ${ratio}`);
  assert.match(r.stdout, /nvidia0'\n  → No such device or address/);
  assert.match(r.stdout, /nvidia1'\n  → Operation not permitted/);
  assert.match(r.stdout, /device access denied: container run-\d+-\w+, pid \d+ \(sh\), device c 195:1, access r/);
  assert.match(r.stdout, /holder[\s\S]*gpu use\s+memory 1536M/);
  const left = readdirSync(findCgroup2Mount()).filter((n) => n.startsWith('gpuslice-demo-'));
  assert.deepEqual(left, []);
});
