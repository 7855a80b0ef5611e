// Device rule strings, their reduction to default + exceptions, and the byte
// layouts shared with bpf/devgate.h. Pure: no kernel needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDeviceRule, formatDeviceRule, reduceRules, planRules } from '../../src/bpf/index.js';
import * as L from '../../src/bpf/layout.js';
import { bpffsMounts } from '../../src/bpf/bpffs.js';

test('rule strings parse', () => {
  const cases: Array<[string, object]> = [
    ['c 195:* rw', { type: 'c', major: 195, minor: '*', access: 'rw', allow: true }],
    ['b 7:0 mwr', { type: 'b', major: 7, minor: 0, access: 'rwm', allow: true }],
    ['  c *:3  ', { type: 'c', major: '*', minor: 3, access: 'rwm', allow: true }],
    ['a', { type: 'a', major: '*', minor: '*', access: 'rwm', allow: true }],
    ['deny a *:* rwm', { type: 'a', major: '*', minor: '*', access: 'rwm', allow: false }],
    ['deny c 1:3 w', { type: 'c', major: 1, minor: 3, access: 'w', allow: false }],
  ];
  for (const [text, want] of cases) assert.deepEqual(parseDeviceRule(text), want, text);
  assert.equal(formatDeviceRule(parseDeviceRule('deny c 1:3 wr')), 'deny c 1:3 rw');
});

test('malformed rule strings are refused with GS_ERR_DEVICE_RULE and the accepted form', () => {
  for (const text of ['', 'x 1:3 r', 'c', 'c 195 rw', 'c 195:0:1 rw', 'c -1:0 r', 'c 195:x r', 'c 195:0 rx', 'c 195:0 rr', 'c 1:3 r extra', 'a 195:0 r', 'c 99999999999:0 r', 'allow']) {
    assert.throws(() => parseDeviceRule(text), (err: { code?: string; message: string; value?: string }) =>
      err.code === 'GS_ERR_DEVICE_RULE' && err.value === text && /accepted form/.test(err.message), JSON.stringify(text));
  }
});

test('rules reduce as cgroup v1 holds them', () => {
  const r = (...s: string[]) => reduceRules(s.map(parseDeviceRule));
  assert.deepEqual(r(), { defaultAllow: false, exceptions: [] });
  assert.deepEqual(r('c 1:3 r', 'a'), { defaultAllow: true, exceptions: [] });
  assert.deepEqual(r('c 1:3 r', 'c 1:3 w'), { defaultAllow: false, exceptions: [{ type: 'c', major: 1, minor: 3, access: 'rw' }] });
  assert.deepEqual(r('c 1:3 rw', 'deny c 1:3 rw'), { defaultAllow: false, exceptions: [] });
  assert.deepEqual(r('a', 'deny b 8:* w'), { defaultAllow: true, exceptions: [{ type: 'b', major: 8, minor: '*', access: 'w' }] });
  assert.deepEqual(r('a', 'deny c 1:3 rw', 'c 1:3 w'), { defaultAllow: true, exceptions: [{ type: 'c', major: 1, minor: 3, access: 'r' }] });
  assert.throws(() => r('c *:* r', 'deny c 1:3 r'), /punch a hole/);
  // a deny with no overlap with the wildcard is fine
  assert.deepEqual(r('c 195:* r', 'deny c 195:1 w').exceptions, [{ type: 'c', major: 195, minor: '*', access: 'r' }]);
});

test('plans: strict prepends runc defaults; gpu-only keeps its majors', () => {
  const strict = planRules({ mode: 'strict', rules: [], gpuMajors: [195] });
  assert.equal(strict.mode, L.MODE_STRICT);
  assert.deepEqual(strict.majors, []);
  assert.equal(strict.entries.length, 9);
  assert.ok(strict.entries.some((e) => e.major === 136 && e.minor === L.DEVGATE_ANY && e.access === 7));
  const g = planRules({ mode: 'gpu-only', rules: [parseDeviceRule('c 195:0 rw')], gpuMajors: [195, 226, 195] });
  assert.deepEqual(g, { mode: L.MODE_GPU_ONLY, defaultAllow: false, majors: [195, 226], entries: [{ type: L.DEV_CHAR, major: 195, minor: 0, access: L.ACC_READ | L.ACC_WRITE }] });
});

test('layouts match bpf/devgate.h, padding zeroed', () => {
  const key = L.encodeRuleKey({ cgroupId: 0x0102030405060708n, gen: 9, type: L.DEV_CHAR, major: 195, minor: L.DEVGATE_ANY });
  assert.equal(key.toString('hex'), '0807060504030201' + '09000000' + 'c3000000' + 'ffffffff' + '02000000');
  assert.deepEqual(L.decodeRuleKey(key), { cgroupId: 0x0102030405060708n, gen: 9, type: 2, major: 195, minor: 0xffffffff });
  const c = { gen: 3, cgroupId: 42n, mode: L.MODE_GPU_ONLY, defaultAllow: true, majors: [195, 226] };
  const b = L.encodeContainer(c);
  assert.equal(b.length, L.CONTAINER_SIZE);
  assert.deepEqual(L.decodeContainer(b), c);
  const ev = Buffer.alloc(L.EVENT_SIZE);
  ev.writeBigUInt64LE(5n, 0); ev.writeBigUInt64LE(6n, 8); ev.writeUInt32LE(77, 16); ev.writeUInt32LE(195, 20); ev.writeUInt32LE(1, 24);
  ev.writeUInt16LE(L.ACC_READ | L.ACC_MKNOD, 28); ev.writeUInt8(L.DEV_CHAR, 30); ev.write('nvidia-smi', 32);
  assert.deepEqual(L.decodeEvent(ev), { containerId: 5n, cgroupId: 6n, pid: 77, major: 195, minor: 1, access: 3, type: 2, comm: 'nvidia-smi' });
  assert.equal(L.accessString(L.ACC_READ | L.ACC_MKNOD), 'rm');
});

test('bpffs mounts are found in mountinfo', () => {
  const text = '40 25 0:35 / /sys/fs/bpf rw,nosuid shared:16 - bpf bpf rw,mode=700\n41 25 0:36 / /mnt/my\\040bpf rw - bpf none rw\n42 25 0:37 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n';
  assert.deepEqual(bpffsMounts(text), ['/sys/fs/bpf', '/mnt/my bpf']);
});
