// systemd units as containers: the generator adds `gpuslice attach` to units with an
// [X-GPUSlice] section, and attach gates the unit's own cgroup before ExecStart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, existsSync, cpSync, rmdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { need } from '../helpers/capabilities.js';
import { runCli, waitUntil, CLI } from '../helpers/daemon.js';
import { unitTree, unitWorld } from '../helpers/units.js';

test('the generator adds gpuslice to exactly the services with [X-GPUSlice], and systemd accepts it', async (t) => {
  const root = unitTree();
  const out = mkdtempSync(join(tmpdir(), 'gs-gen-'));
  t.after(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  });
  const r = await runCli(['systemd-generator', out, join(out, 'early'), join(out, 'late'), '--root', root]);
  assert.equal(r.code, 0, r.stderr);
  for (const u of ['train.service', 'web.service', 'worker@.service', 'bad.service']) assert.ok(existsSync(join(out, `${u}.d/00-gpuslice.conf`)), u);
  assert.equal(existsSync(join(out, 'plain.service.d')), false);
  const train = readFileSync(join(out, 'train.service.d/00-gpuslice.conf'), 'utf8');
  assert.match(train, /^ExecStartPre=\+\S+ \S+cli\.js attach --state-dir \/run\/gpuslice --unit %n$/m);
  assert.match(train, /^Environment=LD_PRELOAD=\/\S+\/build\/libgpuslice-vgpu\.so$/m);
  assert.match(train, /^Environment=CUDA_VISIBLE_DEVICES=0$/m);
  assert.match(train, /^EnvironmentFile=-\/run\/gpuslice\/workload\.env$/m);
  assert.match(readFileSync(join(out, 'web.service.d/00-gpuslice.conf'), 'utf8'), /^Environment=CUDA_VISIBLE_DEVICES=1$/m);
  assert.match(readFileSync(join(out, 'worker@.service.d/00-gpuslice.conf'), 'utf8'), /^Environment=CUDA_VISIBLE_DEVICES=$/m);

  // systemd parses the generated drop-in without complaint (verify reads no generator dirs,
  // so it is placed where verify looks)
  if (spawnSync('systemd-analyze', ['--version']).status !== 0) {
    if (process.env.CI === 'true') assert.fail('systemd-analyze is missing under CI');
    t.diagnostic('systemd-analyze missing: the systemd check is skipped');
    return;
  }
  cpSync(join(out, 'train.service.d'), join(root, 'etc/systemd/system/train.service.d'), { recursive: true });
  const v = spawnSync('systemd-analyze', ['verify', `--root=${root}`, '--man=no', '--generators=no', 'train.service'], { encoding: 'utf8' });
  const complaints = v.stderr.split('\n').filter((l) => l.includes('00-gpuslice.conf'));
  assert.deepEqual(complaints, []);
});

test('attach gates a unit cgroup the daemon does not own, across the ExecStartPre→ExecStart gap, until systemd removes it', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const { root, d, slice, cg, node, inUnit } = await unitWorld(t, 'train.service');

  // ExecStartPre: attach from inside the unit's cgroup
  const pre = inUnit(`${process.execPath} ${CLI} attach --unit train.service --state-dir ${d.stateDir}`);
  assert.equal(pre.status, 0, pre.stderr);
  assert.match(pre.stderr, /train\.service attached: GPUs 0/);
  // the cgroup is empty now; ExecStart comes next, still gated
  const main1 = inUnit(`exec 3<${node(1)}`);
  assert.match(main1.stderr, /Operation not permitted/);
  const main0 = inUnit(`exec 3<${node(0)}`);
  assert.match(main0.stderr, /No such device or address/);
  assert.ok(existsSync(join(d.stateDir, 'cgroup', slice, 'train.service', 'vgpu.limits')), 'the unit has a ledger');
  const st = JSON.parse((await runCli(['status', '--state-dir', d.stateDir, '--json'])).stdout);
  const unit = st.containers.find((c: { name: string }) => c.name === 'train.service');
  assert.equal(unit.cgroup, `/${slice}/train.service`);
  assert.equal(unit.settings.memoryMax, 2 ** 30);
  assert.equal(existsSync(cg), true, 'gpuslice never removes a unit cgroup');

  // systemd removes the cgroup when the unit stops: the daemon lets go
  rmdirSync(cg);
  await waitUntil(async () => {
    const s = JSON.parse((await runCli(['status', '--state-dir', d.stateDir, '--json'])).stdout);
    return !s.containers.some((c: { name: string }) => c.name === 'train.service');
  }, 10_000, 'the unit to be released');
  assert.equal(existsSync(join(d.stateDir, 'cgroup', slice, 'train.service', 'vgpu.limits')), false);
  mkdirSync(cg);
});

test('a unit with a bad [X-GPUSlice] value does not get attached, so it does not start', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const { d, slice } = await unitWorld(t, 'bad.service');
  const r = await runCli(['attach', '--unit', 'bad.service', '--cgroup', `/${slice}/bad.service`, '--state-dir', d.stateDir]);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /bad\.service:5:1: .*weight 0 is out of range/);
  const none = await runCli(['attach', '--unit', 'train.service', '--cgroup', '/', '--state-dir', d.stateDir]);
  assert.equal(none.code, 2);
});

test('a changed drop-in applies to the attached unit at once; a bad one is reported and changes nothing', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const { root, d, slice, cg, node, inUnit } = await unitWorld(t, 'train.service');
  const r = await runCli(['attach', '--unit', 'train.service', '--cgroup', `/${slice}/train.service`, '--state-dir', d.stateDir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(inUnit(`exec 3<${node(1)}`).stderr, /Operation not permitted/);

  const dropins = join(root, 'etc/systemd/system/train.service.d');
  mkdirSync(dropins, { recursive: true });
  writeFileSync(join(dropins, '60-move.conf'), '[X-GPUSlice]\nGPUs=\nGPUs=1\n');
  await waitUntil(() => /No such device or address/.test(inUnit(`exec 3<${node(1)}`).stderr), 10_000, 'GPU 1 to be given');
  assert.match(inUnit(`exec 3<${node(0)}`).stderr, /Operation not permitted/);

  writeFileSync(join(dropins, '70-bad.conf'), '[X-GPUSlice]\nGPUComputeWeight=lots\n');
  await waitUntil(() => /do not parse; it keeps its settings/.test(d.log()), 10_000, 'the bad drop-in to be reported');
  assert.match(inUnit(`exec 3<${node(1)}`).stderr, /No such device or address/, 'the unit keeps GPU 1');
});
