// Enforcement that holds when parts fail: a gate that cannot attach stops the
// container from starting, and a daemon killed with SIGKILL leaves its containers gated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { pinDirFor } from '../../src/daemon/enforce-gate.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { need } from '../helpers/capabilities.js';
import { startTestDaemon, cleanupDaemon, runCli, waitUntil, uniqueName, CLI } from '../helpers/daemon.js';
import { findCgroup2Mount } from '../../src/cgroups/index.js';

// a device program of someone else's, attached without BPF_F_ALLOW_MULTI: the kernel
// then refuses any program below it
const ALLOW_ALL = `
#include <linux/bpf.h>
__attribute__((section("cgroup/dev"), used)) int allow_all(struct bpf_cgroup_dev_ctx *ctx) { return 1; }
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
`;

test('when the gate cannot attach, the command never starts and nothing is left', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const mount = findCgroup2Mount();
  const d = await startTestDaemon();
  t.after(async () => {
    await d.stop();
    cleanupDaemon(d, mount);
  });
  const dir = mkdtempSync(join(tmpdir(), 'gs-excl-'));
  const pin = `/sys/fs/bpf/${uniqueName('gs-excl')}`;
  const root = join(mount, d.cgroupRoot);
  t.after(() => {
    spawnSync('bpftool', ['cgroup', 'detach', root, 'device', 'pinned', pin]);
    rmSync(pin, { force: true });
    rmSync(dir, { recursive: true, force: true });
  });
  writeFileSync(join(dir, 'allow.bpf.c'), ALLOW_ALL);
  const arch = execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim();
  execFileSync('clang', ['-O2', '-target', 'bpf', `-I/usr/include/${arch}-linux-gnu`, '-c', join(dir, 'allow.bpf.c'), '-o', join(dir, 'allow.bpf.o')]);
  execFileSync('bpftool', ['prog', 'load', join(dir, 'allow.bpf.o'), pin, 'type', 'cgroup/dev']);
  execFileSync('bpftool', ['cgroup', 'attach', root, 'device', 'pinned', pin]);

  const marker = join(dir, 'ran');
  const r = await runCli(['run', '--state-dir', d.stateDir, '--name', 'blocked', '--gpus', '0', '--', 'touch', marker]);
  assert.equal(r.code, 125, r.stderr);
  assert.match(r.stderr, /GS_ERR_BPF_ATTACH/);
  assert.equal(existsSync(marker), false, 'the command did not run');
  assert.equal(existsSync(join(root, 'blocked')), false, 'its cgroup is gone');
  const st = JSON.parse((await runCli(['status', '--state-dir', d.stateDir, '--json'])).stdout);
  assert.deepEqual(st.containers, []);
});

test('a daemon killed with SIGKILL leaves its containers gated, and a new one adopts them', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const mount = findCgroup2Mount();
  const first = await startTestDaemon();
  t.after(() => cleanupDaemon(first, mount));
  const sd = ['--state-dir', first.stateDir];
  const client = spawn(process.execPath, [CLI, 'run', ...sd, '--name', 'kept', '--gpus', '0', '--', 'sleep', '300'], { stdio: 'ignore' });
  t.after(() => client.kill('SIGKILL'));
  const cg = join(mount, first.cgroupRoot, 'kept');
  const linkPin = () => join(pinDirFor(first.stateDir), 'links', String(statSync(cg, { bigint: true }).ino));
  await waitUntil(() => existsSync(join(cg, 'cgroup.procs')) && spawnSync('cat', [join(cg, 'cgroup.procs')], { encoding: 'utf8' }).stdout.trim() !== '', 10_000, 'the container to run');
  const node = (i: number) => join(first.stateDir, 'simgpu/dev', `nvidia${i}`);
  const pin = linkPin();
  assert.ok(existsSync(pin), 'the gate link is pinned');
  const inContainer = (script: string) => spawnSync('/bin/sh', ['-c', `echo 0 > ${cg}/cgroup.procs && ${script}`], { encoding: 'utf8' }).stderr;

  await first.stop('SIGKILL');
  // the gap: no daemon at all, the pinned link still answers
  assert.match(inContainer(`exec 3<${node(1)}`), /Operation not permitted/);
  assert.match(inContainer(`exec 3<${node(0)}`), /No such device or address/);

  const second = await startTestDaemon({ stateDir: first.stateDir, cgroupRoot: first.cgroupRoot });
  t.after(() => second.stop());
  const st = JSON.parse((await runCli(['status', ...sd, '--json'])).stdout);
  assert.ok(st.containers.some((c: { name: string }) => c.name === 'kept'), 'adopted');
  assert.match(inContainer(`exec 3<${node(1)}`), /Operation not permitted/);
  // the adopted gate is released with its container
  client.kill('SIGKILL');
  spawnSync('/bin/sh', ['-c', `echo 1 > ${cg}/cgroup.kill`]);
  await waitUntil(() => !existsSync(cg), 10_000, 'the adopted container to go');
  assert.equal(existsSync(pin), false, 'its pinned link is gone with it');
});
