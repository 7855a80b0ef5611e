// The device gate and the vGPU limits through the product: a daemon on simulated
// GPUs and `gpuslice run`, as a user would type it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { need } from '../helpers/capabilities.js';
import { startTestDaemon, cleanupDaemon, runCli, waitUntil, CLI, REPO, type TestDaemon } from '../helpers/daemon.js';
import { findCgroup2Mount } from '../../src/cgroups/index.js';

let d: TestDaemon | undefined;
const GPULOAD = join(REPO, 'build/gpuload');
const MiB = 2 ** 20;

before(async () => {
  if (process.getuid?.() !== 0) return;
  d = await startTestDaemon();
});
after(async () => {
  if (!d) return;
  await d.stop();
  cleanupDaemon(d, findCgroup2Mount());
});

const sd = () => ['--state-dir', d!.stateDir];
const node = (i: number) => join(d!.stateDir, 'simgpu', 'dev', `nvidia${i}`);

test('a container given GPU 0 reaches GPU 0 (no driver: ENXIO) and is refused GPU 1 (EPERM)', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const denied = await runCli(['run', ...sd(), '--gpus', '0', '--', 'sh', '-c', `exec 3<${node(1)}`]);
  assert.notEqual(denied.code, 0);
  assert.match(denied.stderr, /Operation not permitted/);
  const allowed = await runCli(['run', ...sd(), '--gpus', '0', '--', 'sh', '-c', `exec 3<${node(0)}`]);
  assert.notEqual(allowed.code, 0);
  assert.match(allowed.stderr, /No such device or address/);
  // write access is gated the same way
  const w = await runCli(['run', ...sd(), '--gpus', '0', '--', 'sh', '-c', `exec 3>${node(1)}`]);
  assert.match(w.stderr, /Operation not permitted/);
});

test('--gpus none gates every GPU away; --gpus all gives them all', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  for (const i of [0, 1]) {
    const r = await runCli(['run', ...sd(), '--gpus', 'none', '--', 'sh', '-c', `exec 3<${node(i)}`]);
    assert.match(r.stderr, /Operation not permitted/, `GPU ${i}`);
    const a = await runCli(['run', ...sd(), '--gpus', 'all', '--', 'sh', '-c', `exec 3<${node(i)}`]);
    assert.match(a.stderr, /No such device or address/, `GPU ${i}`);
  }
  // devices that are not GPUs stay with the rest of the system's policy
  const other = await runCli(['run', ...sd(), '--gpus', 'none', '--', 'sh', '-c', 'exec 3</dev/null; echo fine']);
  assert.equal(other.stdout, 'fine\n');
});

test('denials are logged with the container and counted in status', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const child = spawn(process.execPath, [CLI, 'run', ...sd(), '--name', 'snoop', '--gpus', '0', '--', 'sh', '-c', `for i in 1 2 3; do (exec 3<${node(1)}) 2>/dev/null; done; sleep 30`], { stdio: 'ignore' });
  t.after(() => child.kill('SIGTERM'));
  let denials = 0;
  await waitUntil(async () => {
    const st = JSON.parse((await runCli(['status', ...sd(), '--json'])).stdout);
    denials = st.containers.find((c: { name: string }) => c.name === 'snoop')?.denials ?? 0;
    return denials >= 3;
  }, 10_000, 'three denials in status');
  assert.equal(denials, 3);
  await waitUntil(() => /"container":"snoop".*"device":"c 195:1","access":"r".*device access denied/.test(d!.log()), 5000, 'the denial in the log');
  const human = await runCli(['status', ...sd()]);
  assert.match(human.stdout, /snoop[\s\S]*denials\s+3/);
});

test('an unknown GPU index is refused before anything starts', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const r = await runCli(['run', ...sd(), '--gpus', '7', '--', 'touch', '/tmp/gpuslice-should-not-exist']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /GPU 7 does not exist on this machine \(GPUs: 0, 1\).*GS_ERR_GPU_UNKNOWN/);
});

for (const entry of ['linked', 'dlsym', 'procaddress']) {
  test(`a 1 GiB vGPU holds gpuload (--entry ${entry}) to 1 GiB and reports a 1 GiB GPU`, async (t) => {
    if (!need(t, 'root', 'cgroup2', 'bpf')) return;
    const r = await runCli(['run', ...sd(), '--gpus', '0', '--memory', '1G', '--', GPULOAD, '--device', '0', '--alloc', '3G', '--chunk', '64M', '--json', '--entry', entry]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.ok(j.allocated_bytes >= 960 * MiB && j.allocated_bytes <= 1024 * MiB, `allocated ${j.allocated_bytes}`);
    assert.equal(j.alloc_error, 'CUDA_ERROR_OUT_OF_MEMORY');
    assert.equal(j.mem_total, 1024 * MiB);
    assert.ok(j.mem_free >= 0 && j.mem_free <= 64 * MiB);
  });
}

test('a container given GPU 1 sees it as CUDA device 0, whole when no --memory is set', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const r = await runCli(['run', ...sd(), '--gpus', '1', '--', GPULOAD, '--device', '0', '--alloc', '1G', '--chunk', '256M', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.equal(j.allocated_bytes, 1024 * MiB);
  assert.equal(j.alloc_error, null);
  assert.equal(j.mem_total, 16 * 1024 * MiB);
});

test('the policy sets the simulated GPUs: count and memory', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'gs-sim-policy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'policy.yaml'), 'devices:\n  simulate: { count: 3, memory: 2G }\n');
  const s = await startTestDaemon({ args: ['--config', join(dir, 'policy.yaml')] });
  t.after(async () => {
    await s.stop();
    cleanupDaemon(s, findCgroup2Mount());
  });
  const r = await runCli(['run', '--state-dir', s.stateDir, '--gpus', '2', '--', GPULOAD, '--alloc', '4G', '--chunk', '512M', '--json']);
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.equal(j.mem_total, 2 * 1024 * MiB);
  assert.equal(j.allocated_bytes, 2 * 1024 * MiB);
  const none = await runCli(['run', '--state-dir', s.stateDir, '--gpus', '3', '--', 'true']);
  assert.match(none.stderr, /GPU 3 does not exist on this machine \(GPUs: 0, 1, 2\)/);
});
