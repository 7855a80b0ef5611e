// Requests that race: guarantees admitted at once must still fit, and a daemon told
// to stop while it sets containers up still stops, leaving them consistent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import { need } from '../helpers/capabilities.js';
import { startTestDaemon, cleanupDaemon, waitUntil } from '../helpers/daemon.js';
import { findCgroup2Mount } from '../../src/cgroups/index.js';

interface Answer {
  ok: boolean;
  result?: { containers?: Array<{ name: string }> };
  error?: { code: string; message: string };
  /** closing the connection removes the container it created */
  close: () => void;
}

function request(sock: string, body: object): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const s = connect(sock);
    let buf = '';
    s.on('data', (b) => {
      buf += b;
      if (buf.includes('\n')) resolve({ ...JSON.parse(buf), close: () => s.destroy() });
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error('closed without an answer')));
    s.write(JSON.stringify({ id: 1, ...body }) + '\n');
  });
}

test('two guarantees that do not fit together are not both admitted, however close they come', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const d = await startTestDaemon();
  t.after(async () => {
    await d.stop();
    cleanupDaemon(d, findCgroup2Mount());
  });
  const sock = join(d.stateDir, 'api.sock');
  for (let round = 0; round < 3; round++) {
    const answers = await Promise.all(['a', 'b'].map((n) => request(sock, { method: 'create', params: { name: `${n}${round}`, gpus: [0], compute: 0.6 } })));
    assert.equal(answers.filter((a) => a.ok).length, 1, JSON.stringify(answers));
    assert.match(answers.find((a) => !a.ok)!.error!.message, /GPU 0 cannot guarantee 60% more compute/);
    // the winner lets go: its container goes, and with it its guarantee
    for (const a of answers) a.close();
    await waitUntil(async () => {
      const st = await request(sock, { method: 'status' });
      st.close();
      return st.result!.containers!.length === 0;
    }, 10_000, 'the round to end');
  }
});

test('guarantees that fit together are all admitted, however close they come', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const d = await startTestDaemon();
  t.after(async () => {
    await d.stop();
    cleanupDaemon(d, findCgroup2Mount());
  });
  const sock = join(d.stateDir, 'api.sock');
  for (let round = 0; round < 5; round++) {
    // staggered, so one container's set-up is in flight while the next is admitted
    const answers = await Promise.all(['a', 'b', 'c', 'd'].map((n, i) => new Promise((r) => setTimeout(r, i * 3)).then(() => request(sock, { method: 'create', params: { name: `${n}${round}`, gpus: [0], compute: 0.25 } }))));
    assert.deepEqual(answers.map((a) => a.error?.message ?? 'admitted'), ['admitted', 'admitted', 'admitted', 'admitted']);
    for (const a of answers) a.close();
    await waitUntil(async () => {
      const st = await request(sock, { method: 'status' });
      st.close();
      return st.result!.containers!.length === 0;
    }, 10_000, 'the round to end');
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
