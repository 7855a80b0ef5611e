// A container being set up was counted twice by admission — once as pending, once as
// live — so guarantees that fit together were refused ("150% is guaranteed to 6 other
// container(s)" with three containers of 25%). It showed as a flaky demo in CI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { need } from '../helpers/capabilities.js';
import { daemonForTest } from '../helpers/daemon.js';
import { noContainers, request } from '../helpers/api.js';

test('guarantees that fit together are all admitted, however close they come', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const d = await daemonForTest(t);
  const sock = join(d.stateDir, 'api.sock');
  for (let round = 0; round < 5; round++) {
    // staggered, so one container's set-up is in flight while the next is admitted
    const answers = await Promise.all(['a', 'b', 'c', 'd'].map((n, i) => new Promise((r) => setTimeout(r, i * 3)).then(() => request(sock, { method: 'create', params: { name: `${n}${round}`, gpus: [0], compute: 0.25 } }))));
    assert.deepEqual(answers.map((a) => a.error?.message ?? 'admitted'), ['admitted', 'admitted', 'admitted', 'admitted']);
    for (const a of answers) a.close();
    await noContainers(sock);
  }
});
