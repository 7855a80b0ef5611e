// Steps adoption skipped. A container adopted after a restart was never put through
// admission, so guarantees raised while the daemon was away could overcommit a GPU.
// When an enforcer failed on an adopted container, its owner was no longer tracked:
// the processes of a `gpuslice run` that had died were never ended. And a container
// that could not be adopted lost its record, so the next start disowned it.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { need } from '../helpers/capabilities.js';
import { uniqueName, waitUntil } from '../helpers/daemon.js';
import { CgroupTree } from '../../src/cgroups/index.js';
import { Containers, type Admission, type Enforcer } from '../../src/daemon/containers.js';
import type { ContainerSettings } from '../../src/daemon/protocol.js';
import { silentLogger } from '../../src/log.js';

const settings = (weight: number): ContainerSettings => ({ gpus: [0], memoryMax: null, memoryMin: 0, computeMin: 0.5, computeMax: 1, weight, class: null, onMemoryLimit: 'fail' });
const noop: Enforcer = { name: 'noop', apply: async () => {}, release: async () => {} };

/** A container made by one Containers (a daemon), its owner and a process inside, then that daemon gone. */
async function leftByPreviousDaemon(t: TestContext) {
  const tree = await CgroupTree.open({ root: uniqueName('gs-regress') });
  const stateDir = mkdtempSync(join(tmpdir(), 'gs-regress-'));
  const owner = spawn('sleep', ['60'], { stdio: 'ignore' });
  const before = new Containers(tree, stateDir, () => settings(100), [noop], silentLogger);
  const c = await before.create({ name: 'y', owner: owner.pid });
  const inside = spawn('sh', ['-c', `echo $$ > ${join(c.cgroup.path, 'cgroup.procs')}; exec sleep 60`], { stdio: 'ignore' });
  await waitUntil(async () => (await c.cgroup.events()).populated, 5000, 'the process to be inside');
  await before.close();
  const later: Containers[] = [];
  t.after(async () => {
    for (const x of later) await x.close();
    owner.kill('SIGKILL');
    inside.kill('SIGKILL');
    await tree.root.remove({ kill: true, timeoutMs: 5000 });
    rmSync(stateDir, { recursive: true, force: true });
  });
  const restart = (resolve: () => ContainerSettings, enforcers: Enforcer[], admit?: Admission) => {
    const x = new Containers(tree, stateDir, resolve, enforcers, silentLogger, admit);
    later.push(x);
    return x;
  };
  return { tree, stateDir, owner, restart };
}

test('an adopted container goes through admission; refused, it keeps the settings it had', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const { restart } = await leftByPreviousDaemon(t);
  const seen: ContainerSettings[] = [];
  const refuseAll: Admission = (next) => {
    seen.push(next);
    throw new Error('GPU 0 cannot guarantee it');
  };
  const after = restart(() => settings(300), [noop], refuseAll);
  await after.adopt();
  assert.deepEqual(seen.map((s) => s.weight), [300], 'the new settings were put to admission');
  assert.equal(after.get('y')!.settings.weight, 100);
});

test('an adopted container whose enforcer fails still ends when its owner dies', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const { tree, owner, restart } = await leftByPreviousDaemon(t);
  const failing: Enforcer = { name: 'failing', apply: async () => { throw new Error('ledger format changed'); }, release: async () => {} };
  const after = restart(() => settings(100), [failing]);
  await after.adopt();
  assert.ok(after.get('y'), 'adopted in spite of the enforcer');
  owner.kill('SIGKILL');
  // the owner is polled every 2 s
  await waitUntil(async () => !after.get('y') && !(await tree.get('y').exists()), 8000, 'the container to be removed');
});

test('a container that cannot be adopted keeps its record while its cgroup lives', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const { stateDir, restart } = await leftByPreviousDaemon(t);
  // a record from before settings were recorded, and a policy that no longer resolves for it
  const file = join(stateDir, 'containers', 'y.json');
  const { settings: _dropped, ...old } = JSON.parse(readFileSync(file, 'utf8'));
  writeFileSync(file, JSON.stringify(old));
  const broken = restart(() => {
    throw new Error('class gone');
  }, [noop]);
  await broken.adopt();
  assert.equal(broken.get('y'), undefined);
  await broken.close();
  // the policy fixed, the next start adopts it
  const fixed = restart(() => settings(100), [noop]);
  await fixed.adopt();
  assert.ok(fixed.get('y'), 'adopted once the policy resolves again');
});
