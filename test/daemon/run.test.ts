// The walking skeleton, for real: a daemon with a temporary state dir, and
// `gpuslice run` putting commands into cgroups of its managed subtree.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { spawn } from 'node:child_process';
import { need } from '../helpers/capabilities.js';
import { startTestDaemon, cleanupDaemon, runCli, waitUntil, CLI, type TestDaemon } from '../helpers/daemon.js';
import { findCgroup2Mount } from '../../src/cgroups/index.js';

let d: TestDaemon | undefined;
let mount = '';

before(async () => {
  try {
    mount = findCgroup2Mount();
  } catch {
    return;
  }
  if (process.getuid?.() !== 0) return;
  d = await startTestDaemon();
});

after(async () => {
  if (!d) return;
  await d.stop();
  cleanupDaemon(d, mount);
});

const sd = () => ['--state-dir', d!.stateDir];
const containerDirs = () => readdirSync(join(mount, d!.cgroupRoot), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);

test('run puts the command in a cgroup of the managed subtree and exits with its status', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const r = await runCli(['run', ...sd(), '--name', 'seven', '--', 'sh', '-c', 'cat /proc/self/cgroup; exit 7']);
  assert.equal(r.code, 7, r.stderr);
  assert.match(r.stdout, new RegExp(`^0::/${d!.cgroupRoot}/seven$`, 'm'));
  assert.equal(existsSync(join(mount, d!.cgroupRoot, 'seven')), false, 'the cgroup is removed afterwards');
  const st = await runCli(['status', ...sd(), '--json']);
  assert.deepEqual(JSON.parse(st.stdout).containers, []);
});

test('the command never runs outside its cgroup: its very first action already sees it', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  // /proc/self/cgroup is read by the exec'd program itself, before it can do anything else
  const r = await runCli(['run', ...sd(), '--', 'cat', '/proc/self/cgroup']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^0::/${d!.cgroupRoot}/run-\\d+-[0-9a-f]+$`, 'm'));
});

test('status lists a running container with its settings and pids', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const child = spawn(process.execPath, [CLI, 'run', ...sd(), '--name', 'listed', '--memory', '1G', '--compute', '25%', '--weight', '300', '--', 'sleep', '30'], { stdio: 'ignore' });
  try {
    let info: { name: string; pids: number[]; settings: { memoryMax: number; computeMin: number; weight: number }; cgroup: string } | undefined;
    await waitUntil(async () => {
      const st = await runCli(['status', ...sd(), '--json']);
      info = JSON.parse(st.stdout).containers.find((c: { name: string; pids: number[] }) => c.name === 'listed' && c.pids.length > 0);
      return info !== undefined;
    }, 10_000, 'the container to be listed with a pid');
    assert.equal(info!.settings.memoryMax, 1 << 30);
    assert.equal(info!.settings.computeMin, 0.25);
    assert.equal(info!.settings.weight, 300);
    assert.equal(info!.cgroup, `/${d!.cgroupRoot}/listed`);
    const human = await runCli(['status', ...sd()]);
    assert.match(human.stdout, /listed\n\s+cgroup\s+\/gpuslice-test-[^/]+\/listed/);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  await waitUntil(() => !existsSync(join(mount, d!.cgroupRoot, 'listed')), 10_000, 'the cgroup to go');
});

test('a killed run leaves nothing behind: processes killed, cgroup removed', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const child = spawn(process.execPath, [CLI, 'run', ...sd(), '--name', 'killed', '--', 'sh', '-c', 'sleep 300 & sleep 300; wait'], { stdio: 'ignore' });
  const dir = join(mount, d!.cgroupRoot, 'killed');
  await waitUntil(() => pidCount(dir) >= 2, 10_000, 'the workload to start');
  child.kill('SIGKILL');
  await waitUntil(() => !existsSync(dir), 10_000, 'the cgroup of a killed run to be removed');
  assert.deepEqual(containerDirs().filter((n) => n === 'killed'), []);
});

function pidCount(dir: string): number {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).length;
  } catch {
    return 0;
  }
}

test('signals reach the command and run exits with what the command chose', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const child = spawn(process.execPath, [CLI, 'run', ...sd(), '--name', 'trapper', '--', 'sh', '-c', 'trap "exit 42" TERM; echo ready; while :; do sleep 0.05; done'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (b) => (out += b));
  await waitUntil(() => out.includes('ready'), 10_000, 'the command to start');
  child.kill('SIGTERM');
  const code = await new Promise((r) => child.once('exit', (c) => r(c)));
  assert.equal(code, 42);
});

test('a command killed by a signal makes run die of the same signal', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const r = await runCli(['run', ...sd(), '--', 'sh', '-c', 'kill -USR1 $$']);
  assert.equal(r.signal, 'SIGUSR1');
});

test('a name already in use is refused with a precise error', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const first = spawn(process.execPath, [CLI, 'run', ...sd(), '--name', 'twice', '--', 'sleep', '30'], { stdio: 'ignore' });
  try {
    await waitUntil(() => existsSync(join(mount, d!.cgroupRoot, 'twice')), 10_000, 'the first container');
    const r = await runCli(['run', ...sd(), '--name', 'twice', '--', 'true']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /a container named twice already exists.*\[GS_ERR_CONTAINER_EXISTS\]/);
  } finally {
    first.kill('SIGTERM');
    await new Promise((r) => first.once('exit', r));
  }
});

test('bad run options are refused before anything is created', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const cases: Array<[string[], RegExp]> = [
    [['--memory=-1G'], /--memory -1G: negative size/],
    [['--weight', '0'], /--weight 0: must be an integer from 1 to 10000/],
    [['--weight', '10001'], /--weight 10001/],
    [['--compute', '150%'], /--compute 150%/],
    [["--gpus", "x"], /--gpus x: invalid GPU "x"/],
    [['--name', '../escape'], /name: a name is 1–64 characters/],
    [['--on-memory-limit', 'maybe'], /must be fail or wait/],
  ];
  for (const [opts, re] of cases) {
    const r = await runCli(['run', ...sd(), ...opts, '--', 'true']);
    assert.notEqual(r.code, 0, opts.join(' '));
    assert.match(r.stderr, re, opts.join(' '));
  }
  assert.deepEqual(containerDirs(), []);
});

test('a malformed API request gets a precise error and the daemon keeps serving', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const ask = (line: string) =>
    new Promise<string>((resolve, reject) => {
      const s = connect(join(d!.stateDir, 'api.sock'));
      let buf = '';
      s.on('data', (b) => {
        buf += b;
        if (buf.includes('\n')) {
          s.destroy();
          resolve(buf.trim());
        }
      });
      s.on('error', reject);
      s.write(line + '\n');
    });
  const notJson = JSON.parse(await ask('{nope'));
  assert.equal(notJson.ok, false);
  assert.equal(notJson.error.code, 'GS_ERR_API_REQUEST');
  assert.match(notJson.error.message, /not JSON/);
  const badField = JSON.parse(await ask(JSON.stringify({ id: 3, method: 'create', params: { weight: 'heavy' } })));
  assert.equal(badField.id, 3);
  assert.match(badField.error.message, /weight/);
  const unknownMethod = JSON.parse(await ask(JSON.stringify({ id: 4, method: 'explode' })));
  assert.equal(unknownMethod.error.code, 'GS_ERR_API_REQUEST');
  const list = JSON.parse(await ask(JSON.stringify({ id: 5, method: 'list' })));
  assert.equal(list.ok, true);
});

test('without a daemon, run says how to start one', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const r = await runCli(['run', '--state-dir', '/nonexistent-gpuslice', '--', 'true']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /no gpuslice daemon answers on \/nonexistent-gpuslice\/api.sock.*gpuslice daemon --state-dir \/nonexistent-gpuslice/);
});

test('a second daemon on the same state dir is refused', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const r = await runCli(['daemon', ...sd(), '--cgroup-root', d!.cgroupRoot], { timeoutMs: 10_000 });
  assert.equal(r.code, 125);
  assert.match(r.stderr, /another gpuslice daemon \(pid \d+\) is using/);
});

test('the API is root only, and GPUSLICE_STATE_DIR finds the daemon like --state-dir', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const { statSync } = await import('node:fs');
  const { spawnSync } = await import('node:child_process');
  assert.equal(statSync(join(d!.stateDir, 'api.sock')).mode & 0o777, 0o600);
  const asNobody = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, CLI, 'status', ...sd()], { encoding: 'utf8' });
  assert.equal(asNobody.status, 125);
  assert.match(asNobody.stderr, /no gpuslice daemon answers on .*api\.sock: EACCES/);
  const viaEnv = await runCli(['status', '--json'], { env: { GPUSLICE_STATE_DIR: d!.stateDir } });
  assert.equal(viaEnv.code, 0, viaEnv.stderr);
  assert.ok(JSON.parse(viaEnv.stdout).root.endsWith(d!.cgroupRoot));
});
