// Hot reload through the running daemon: a bad policy is reported with its position
// and the last good one stays in force; a good one applies to new containers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { need } from '../helpers/capabilities.js';
import { startTestDaemon, cleanupDaemon, runCli, waitUntil } from '../helpers/daemon.js';
import { findCgroup2Mount } from '../../src/cgroups/index.js';

const gold = 'classes:\n  gold:\n    compute: { weight: 500 }\n';
const silver = 'classes:\n  silver:\n    compute: { weight: 50 }\n';

test('a bad policy on reload is reported and the last good policy stays in force', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const dir = mkdtempSync(join(tmpdir(), 'gs-policy-'));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, gold);
  const d = await startTestDaemon({ args: ['--config', file] });
  t.after(async () => {
    await d.stop();
    cleanupDaemon(d, findCgroup2Mount());
    rmSync(dir, { recursive: true, force: true });
  });
  const sd = ['--state-dir', d.stateDir];
  const weightOf = async (cls: string) => {
    const r = await runCli(['run', ...sd, '--class', cls, '--', 'sh', '-c', 'echo $GPUSLICE_CONTAINER']);
    return r;
  };
  assert.equal((await weightOf('gold')).code, 0);

  // editors replace the file by rename: the watcher must follow that too
  writeFileSync(file + '.new', 'classes:\n  gold:\n    compute: { weight: 0 }\n  broken: [\n');
  renameSync(file + '.new', file);
  await waitUntil(() => /the last good policy stays in force/.test(d.log()), 10_000, 'the bad reload to be reported');
  assert.match(d.log(), /policy not reloaded: .*policy\.yaml:\d+:\d+: /);
  assert.equal((await weightOf('gold')).code, 0, 'the previous policy still has class gold');

  writeFileSync(file + '.new', silver);
  renameSync(file + '.new', file);
  await waitUntil(() => d.log().includes('"policy reloaded"') || /policy reloaded/.test(d.log()), 10_000, 'the good reload');
  const s = await weightOf('silver');
  assert.equal(s.code, 0, s.stderr);
  const g = await weightOf('gold');
  assert.equal(g.code, 125);
  assert.match(g.stderr, /no class gold in the policy \(classes: silver\)/);
});

test('a daemon refuses to start on a bad policy, naming every error', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const dir = mkdtempSync(join(tmpdir(), 'gs-policy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, 'defaults:\n  compute: { weight: 0 }\n  memory: { max: -1G }\n');
  const r = await runCli(['daemon', '--state-dir', join(dir, 'state'), '--config', file], { timeoutMs: 15_000 });
  assert.equal(r.code, 125);
  assert.match(r.stderr, /policy\.yaml:2:\d+: .*weight 0/);
  assert.match(r.stderr, /policy\.yaml:3:\d+: .*negative size/);
});
