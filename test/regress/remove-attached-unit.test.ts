// The API's remove took an attached systemd unit's container too: its gate and ledger
// went while the unit kept running, ungated. A unit is let go when systemd removes its
// cgroup, and only then.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { need } from '../helpers/capabilities.js';
import { runCli } from '../helpers/daemon.js';
import { request } from '../helpers/api.js';
import { unitWorld } from '../helpers/units.js';

test('remove refuses an attached unit, which stays gated', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const { d, slice, node, inUnit } = await unitWorld(t, 'train.service');
  const r = await runCli(['attach', '--unit', 'train.service', '--cgroup', `/${slice}/train.service`, '--state-dir', d.stateDir]);
  assert.equal(r.code, 0, r.stderr);
  const answer = await request(join(d.stateDir, 'api.sock'), { method: 'remove', params: { name: 'train.service' } });
  answer.close();
  assert.equal(answer.ok, false);
  assert.match(answer.error!.message, /systemctl stop train\.service/);
  assert.match(inUnit(`exec 3<${node(1)}`).stderr, /Operation not permitted/);
});
