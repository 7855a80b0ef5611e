// Daemon restarts leave containers running and enforced; the new daemon adopts them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
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

test('at start, a leftover cgroup without a record is removed', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const mount = findCgroup2Mount();
  const first = await startTestDaemon();
  t.after(() => cleanupDaemon(first, mount));
  await first.stop();
  const { mkdirSync } = await import('node:fs');
  const stray = join(mount, first.cgroupRoot, 'stray');
  mkdirSync(stray);
  const sleeper = spawn('/bin/sh', ['-c', `echo 0 > ${stray}/cgroup.procs && exec sleep 300`], { stdio: 'ignore' });
  await waitUntil(() => !!sleeper.pid && existsSync(stray), 5000, 'the stray process');
  const second = await startTestDaemon({ stateDir: first.stateDir, cgroupRoot: first.cgroupRoot });
  t.after(() => second.stop());
  assert.equal(existsSync(stray), false, 'an unknown cgroup in the managed subtree is not left unenforced');
});
