import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODES, GpusliceError } from '../src/errors.js';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

test('every error code is documented in docs/errors.md', () => {
  const undocumented = ERROR_CODES.filter((c) => !doc.includes('`' + c + '`'));
  assert.deepEqual(undocumented, []);
});

test('docs/errors.md documents no code that does not exist', () => {
  const documented = [...doc.matchAll(/`(GS_ERR_[A-Z0-9_]+)`/g)].map((m) => m[1]);
  const unknown = documented.filter((c) => !(ERROR_CODES as readonly string[]).includes(c));
  assert.deepEqual(unknown, []);
});

test('an error takes errno from its cause', () => {
  const cause = Object.assign(new Error('x'), { code: 'EPERM' });
  const e = new GpusliceError('GS_ERR_CGROUP_WRITE', 'cannot write', { path: '/x', cause });
  assert.equal(e.errno, 'EPERM');
  assert.equal(e.cause, cause);
  assert.equal(e.code, 'GS_ERR_CGROUP_WRITE');
});
