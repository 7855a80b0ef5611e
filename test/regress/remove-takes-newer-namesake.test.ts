// `gpuslice run` removes its container by name when its command ends. If the daemon
// had already removed it (the cgroup emptied) and another run had taken the name, the
// late remove took the newer container with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { need } from '../helpers/capabilities.js';
import { daemonForTest, waitUntil } from '../helpers/daemon.js';
import { openSession, request } from '../helpers/api.js';

test('a session\'s remove never takes a newer container of the same name', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const d = await daemonForTest(t);
  const sock = join(d.stateDir, 'api.sock');
  const names = async () => {
    const st = await request(sock, { method: 'status' });
    st.close();
    return st.result!.containers!.map((c) => c.name);
  };
  const session = openSession(sock);
  t.after(() => session.close());
  const first = await session.call({ method: 'create', params: { name: 'job' } });
  const dir = first.result!.cgroupDir!;
  // a command that comes and goes: the cgroup empties, and the daemon removes it
  const ran = spawnSync('sh', ['-c', `echo $$ > ${join(dir, 'cgroup.procs')}; exit 0`]);
  assert.equal(ran.status, 0);
  await waitUntil(async () => !(await names()).includes('job'), 5000, 'the emptied container to go');

  const second = await request(sock, { method: 'create', params: { name: 'job' } });
  t.after(() => second.close());
  assert.ok(second.ok, JSON.stringify(second.error));
  // the first session's late remove
  await session.call({ method: 'remove', params: { name: 'job' } });
  assert.deepEqual(await names(), ['job'], 'the newer container stays');
});
