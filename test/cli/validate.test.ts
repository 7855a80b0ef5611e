// `gpuslice validate` and `gpuslice systemd show` through the real command line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, REPO } from '../helpers/daemon.js';

const fixture = (name: string) => join(REPO, 'test/fixtures/config', name);

test('validate prints every error as FILE:LINE:COL and exits 1', async () => {
  const r = await runCli(['validate', fixture('bad-schema.yaml'), fixture('bad-dropin.conf')]);
  assert.equal(r.code, 1);
  const lines = r.stdout.trim().split('\n');
  assert.ok(lines.length >= 8, r.stdout);
  for (const l of lines) assert.match(l, /^\/.+\.(yaml|conf):\d+:\d+: .+/);
  assert.match(r.stdout, /bad-schema\.yaml:2:18: .*negative size/);
  assert.match(r.stdout, /bad-schema\.yaml:7:5: .*unknown key "memroy"/);
  assert.match(r.stderr, /\d+ errors in 2 files/);
});

test('validate accepts the shipped policy and example drop-ins with a one-line summary', async () => {
  const r = await runCli(['validate', join(REPO, 'config/policy.yaml'), join(REPO, 'config/examples/50-gpu.conf')]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.stdout, 'ok: 2 files valid (1 policy, 1 unit file)\n');
});

test('validate reports a file it cannot read, and a missing argument', async () => {
  const r = await runCli(['validate', '/nonexistent/policy.yaml']);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^\/nonexistent\/policy\.yaml:1:1: cannot read/);
  const none = await runCli(['validate']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /usage: gpuslice validate FILE/);
});

test('systemd show prints the effective settings and the file each came from', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'gs-show-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const etc = join(root, 'etc/systemd/system');
  const lib = join(root, 'usr/lib/systemd/system');
  mkdirSync(join(etc, 'train.service.d'), { recursive: true });
  mkdirSync(join(lib, 'train.service.d'), { recursive: true });
  writeFileSync(join(lib, 'train.service'), '[Service]\nExecStart=/bin/true\n[X-GPUSlice]\nGPUs=0\nGPUMemoryMax=8G\n');
  writeFileSync(join(lib, 'train.service.d/50-gpu.conf'), '[X-GPUSlice]\nGPUComputeMax=30%\n');
  // same name in /etc overrides the /usr/lib one
  writeFileSync(join(etc, 'train.service.d/50-gpu.conf'), '[X-GPUSlice]\nGPUComputeMax=60%\nGPUs=1\n');
  writeFileSync(join(etc, 'train.service.d/70-class.conf'), '[X-GPUSlice]\nClass=training\n');
  symlinkSync('/dev/null', join(etc, 'train.service.d/80-masked.conf'));
  writeFileSync(join(lib, 'train.service.d/80-masked.conf'), '[X-GPUSlice]\nClass=never\n');

  const r = await runCli(['systemd', 'show', 'train.service', '--root', root, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(j.settings.gpus, [0, 1]);
  assert.equal(j.settings.computeMax, 0.6);
  assert.equal(j.settings.class, 'training');
  assert.equal(j.sources.computeMax[0].file, join(etc, 'train.service.d/50-gpu.conf'));
  assert.equal(j.sources.memoryMax[0].file, join(lib, 'train.service'));

  const human = await runCli(['systemd', 'show', 'train.service', '--root', root]);
  assert.match(human.stdout, /GPUComputeMax=60%\s+# .*etc\/systemd\/system\/train\.service\.d\/50-gpu\.conf:2/);
  assert.match(human.stdout, /80-masked\.conf \(masked\)/);
  assert.doesNotMatch(human.stdout, /never/);
});

test('systemd show: a bad value exits 1 with FILE:LINE, an unknown unit names what to check', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'gs-show-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const etc = join(root, 'etc/systemd/system');
  mkdirSync(etc, { recursive: true });
  writeFileSync(join(etc, 'bad.service'), '[Service]\nExecStart=/bin/true\n[X-GPUSlice]\nGPUComputeWeight=0\nGPUFoo=1\n');
  const r = await runCli(['systemd', 'show', 'bad.service', '--root', root]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /bad\.service:4:1: .*weight 0 is out of range/);
  assert.match(r.stderr, /bad\.service:5:1: .*GPUFoo/);
  const missing = await runCli(['systemd', 'show', 'nope.service', '--root', root]);
  assert.equal(missing.code, 125);
  assert.match(missing.stderr, /unit nope\.service not found.*\[GS_ERR_UNIT_NOT_FOUND\]/);
});
