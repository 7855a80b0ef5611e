// A policy reload that came while a container was still being set up missed it: its
// settings had been resolved from the old policy, and the reload visited only the
// containers already listed. It kept the old settings until the next reload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { need } from '../helpers/capabilities.js';
import { uniqueName } from '../helpers/daemon.js';
import { CgroupTree } from '../../src/cgroups/index.js';
import { Containers, type Enforcer } from '../../src/daemon/containers.js';
import type { ContainerSettings } from '../../src/daemon/protocol.js';
import { silentLogger } from '../../src/log.js';

test('a reload during a container\'s set-up applies to that container too', async (t) => {
  if (!need(t, 'root', 'cgroup2')) return;
  const tree = await CgroupTree.open({ root: uniqueName('gs-regress') });
  const stateDir = mkdtempSync(join(tmpdir(), 'gs-regress-'));
  let weight = 100; // the policy in force
  const resolve = (): ContainerSettings => ({ gpus: [], memoryMax: null, memoryMin: 0, computeMin: 0, computeMax: 1, weight, class: null, onMemoryLimit: 'fail' });
  const applied: number[] = [];
  const recorder: Enforcer = { name: 'recorder', apply: async (c) => void applied.push(c.settings.weight), release: async () => {} };
  const containers = new Containers(tree, stateDir, resolve, [recorder], silentLogger);
  t.after(async () => {
    await containers.close();
    await tree.root.remove({ kill: true, timeoutMs: 5000 });
    rmSync(stateDir, { recursive: true, force: true });
  });

  const creating = containers.create({ name: 'x' });
  // the reload lands after x's settings were resolved, before x is listed
  weight = 300;
  await containers.reapply();
  const x = await creating;
  assert.equal(x.settings.weight, 300);
  assert.deepEqual(applied, [100, 300]);
  await containers.remove('x', 'test over');
});
