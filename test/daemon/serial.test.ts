// Per-name operation queues: what makes a container's set-up, settings changes and
// removal never overlap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SerialQueues } from '../../src/daemon/serial.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('operations on one key run one at a time, in order, past failures', async () => {
  const q = new SerialQueues();
  const log: string[] = [];
  const op = (name: string, ms: number, fail = false) => async () => {
    log.push(`${name}+`);
    await tick(ms);
    log.push(`${name}-`);
    if (fail) throw new Error(name);
    return name;
  };
  const a = q.run('c', op('a', 20, true));
  const b = q.run('c', op('b', 5));
  await assert.rejects(a, /a/);
  assert.equal(await b, 'b');
  assert.deepEqual(log, ['a+', 'a-', 'b+', 'b-']);
});

test('different keys run side by side; idle waits for work queued meanwhile', async () => {
  const q = new SerialQueues();
  const log: string[] = [];
  void q.run('x', async () => {
    log.push('x+');
    await tick(30);
    // queued while idle() is already waiting
    void q.run('x', async () => void log.push('x2'));
    log.push('x-');
  });
  void q.run('y', async () => {
    log.push('y+');
    await tick(5);
    log.push('y-');
  });
  await q.idle();
  assert.deepEqual(log, ['x+', 'y+', 'y-', 'x-', 'x2']);
});
