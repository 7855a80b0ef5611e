// Requests that race: guarantees admitted at once must still fit, and a daemon told
// to stop while it sets containers up still stops, leaving them consistent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { need } from '../helpers/capabilities.js';
import { startTestDaemon, cleanupDaemon, daemonForTest } from '../helpers/daemon.js';
import { noContainers, request } from '../helpers/api.js';
import { findCgroup2Mount } from '../../src/cgroups/index.js';

test('two guarantees that do not fit together are not both admitted, however close they come', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const d = await daemonForTest(t);
  const sock = join(d.stateDir, 'api.sock');
  for (let round = 0; round < 3; round++) {
    const answers = await Promise.all(['a', 'b'].map((n) => request(sock, { method: 'create', params: { name: `${n}${round}`, gpus: [0], compute: 0.6 } })));
    assert.equal(answers.filter((a) => a.ok).length, 1, JSON.stringify(answers));
    assert.match(answers.find((a) => !a.ok)!.error!.message, /GPU 0 cannot guarantee 60% more compute/);
    // the winner lets go: its container goes, and with it its guarantee
    for (const a of answers) a.close();
    await noContainers(sock);
  }
});

test('a daemon stopped while containers are being set up stops promptly', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const d = await startTestDaemon();
  t.after(() => cleanupDaemon(d, findCgroup2Mount()));
  const sock = join(d.stateDir, 'api.sock');
  const creates = Array.from({ length: 8 }, (_, i) => request(sock, { method: 'create', params: { name: `busy${i}` } }).then((a) => a.close(), () => null));
  await new Promise((r) => setTimeout(r, 15));
  // stop() fails if the daemon has not exited 10 s after SIGTERM
  await d.stop('SIGTERM');
  await Promise.all(creates);
  assert.match(d.log(), /gpuslice daemon stopped/);
});
