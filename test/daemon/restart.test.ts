// Daemon restarts leave containers running and enforced; the new daemon adopts them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { need } from '../helpers/capabilities.js';
import { startTestDaemon, cleanupDaemon, runCli, waitUntil, CLI } from '../helpers/daemon.js';
import { findCgroup2Mount } from '../../src/cgroups/index.js';

test('a restarted daemon adopts running containers and removes them when they empty', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const mount = findCgroup2Mount();
  const first = await startTestDaemon();
  t.after(() => cleanupDaemon(first, mount));
  const sd = ['--state-dir', first.stateDir];
  const client = spawn(process.execPath, [CLI, 'run', ...sd, '--name', 'survivor', '--memory', '2G', '--', 'sleep', '300'], { stdio: 'ignore' });
  const dir = join(mount, first.cgroupRoot, 'survivor');
  let pid = 0;
  await waitUntil(async () => {
    const st = await runCli(['status', ...sd, '--json']);
    pid = JSON.parse(st.stdout).containers.find((c: { name: string }) => c.name === 'survivor')?.pids[0] ?? 0;
    return pid > 0;
  }, 10_000, 'the container to run');

  await first.stop();
  assert.ok(existsSync(dir), 'the container outlives the daemon');
  assert.doesNotThrow(() => process.kill(pid, 0), 'its process outlives the daemon');

  const second = await startTestDaemon({ stateDir: first.stateDir, cgroupRoot: first.cgroupRoot });
  t.after(() => second.stop());
  const st = JSON.parse((await runCli(['status', ...sd, '--json'])).stdout);
  const adopted = st.containers.find((c: { name: string }) => c.name === 'survivor');
  assert.ok(adopted, 'the new daemon lists the container');
  assert.equal(adopted.settings.memoryMax, 2 * 2 ** 30, 'with the settings it was created with');
  assert.deepEqual(adopted.pids, [pid]);

  process.kill(pid, 'SIGKILL');
  await waitUntil(() => !existsSync(dir), 10_000, 'the adopted container to be removed once empty');
  client.kill('SIGKILL');
});

test('at start, an empty leftover cgroup is removed and a populated one without a record is left alone', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const mount = findCgroup2Mount();
  const first = await startTestDaemon();
  t.after(() => cleanupDaemon(first, mount));
  await first.stop();
  const { mkdirSync } = await import('node:fs');
  const empty = join(mount, first.cgroupRoot, 'empty-leftover');
  const foreign = join(mount, first.cgroupRoot, 'foreign');
  mkdirSync(empty);
  mkdirSync(foreign);
  const sleeper = spawn('/bin/sh', ['-c', `echo 0 > ${foreign}/cgroup.procs && exec sleep 300`], { stdio: 'ignore' });
  t.after(() => sleeper.kill('SIGKILL'));
  await waitUntil(() => readFileSync(join(foreign, 'cgroup.procs'), 'utf8').trim() !== '', 5000, 'the foreign process');
  const second = await startTestDaemon({ stateDir: first.stateDir, cgroupRoot: first.cgroupRoot });
  t.after(() => second.stop());
  assert.equal(existsSync(empty), false, 'an empty leftover is cleaned up');
  assert.equal(existsSync(foreign), true, 'a process the daemon never started is not killed');
  assert.doesNotThrow(() => process.kill(sleeper.pid!, 0));
  assert.match(second.log(), /has no record: not ours, left alone/);
});

test('a state dir is bound to its cgroup subtree', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const mount = findCgroup2Mount();
  const first = await startTestDaemon();
  t.after(() => cleanupDaemon(first, mount));
  await first.stop();
  const r = await runCli(['daemon', '--state-dir', first.stateDir, '--cgroup-root', first.cgroupRoot + '-other'], { timeoutMs: 15_000 });
  assert.equal(r.code, 125);
  assert.match(r.stderr, /belongs to the cgroup subtree .*use the same --cgroup-root, or another --state-dir/);
  spawnSync('rmdir', [join(mount, first.cgroupRoot + '-other')]);
});
