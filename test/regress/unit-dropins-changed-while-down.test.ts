// A unit's drop-ins changed while the daemon was down: the restarted daemon adopted
// the unit with the settings it had recorded and never read the drop-ins again, so the
// change applied only at the next change of the drop-ins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { need } from '../helpers/capabilities.js';
import { runCli, startTestDaemon, waitUntil } from '../helpers/daemon.js';
import { unitWorld } from '../helpers/units.js';

test('a restarted daemon applies drop-ins that changed while it was down', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const { root, d, slice, node, inUnit } = await unitWorld(t, 'train.service');
  const r = await runCli(['attach', '--unit', 'train.service', '--cgroup', `/${slice}/train.service`, '--state-dir', d.stateDir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(inUnit(`exec 3<${node(1)}`).stderr, /Operation not permitted/);
  await d.stop();

  const dropins = join(root, 'etc/systemd/system/train.service.d');
  mkdirSync(dropins, { recursive: true });
  writeFileSync(join(dropins, '60-move.conf'), '[X-GPUSlice]\nGPUs=\nGPUs=1\n');
  const again = await startTestDaemon({ stateDir: d.stateDir, cgroupRoot: d.cgroupRoot, args: ['--unit-root', root] });
  try {
    assert.match(again.log(), /systemd unit adopted/);
    await waitUntil(() => /No such device or address/.test(inUnit(`exec 3<${node(1)}`).stderr), 5000, 'GPU 1 to be given');
    assert.match(inUnit(`exec 3<${node(0)}`).stderr, /Operation not permitted/);
  } finally {
    await again.stop();
  }
});
