import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parseUnitFile } from '../../src/config/unitfile.js';
import { parseGpuList } from '../../src/config/unitsettings.js';
import { validateFile, fileKind } from '../../src/config/validate.js';

const repo = fileURLToPath(new URL('../../..', import.meta.url));

test('unit syntax: sections, trimming, comments, continuation as systemd 252', () => {
  const text = [
    '\uFEFF# head', '[Unit]', 'Description = a b ', '; semi', '', '[X-GPUSlice]',
    'GPUs=0 \\', '# a comment inside a continuation is dropped', '  1', 'Class=x\\\\', 'Empty=',
  ].join('\n');
  const p = parseUnitFile(text, 'u.service');
  assert.deepEqual(p.assignments, [
    { section: 'Unit', key: 'Description', value: 'a b', line: 3 },
    { section: 'X-GPUSlice', key: 'GPUs', value: '0    1', line: 7 },
    { section: 'X-GPUSlice', key: 'Class', value: 'x\\\\', line: 10 }, // an escaped backslash does not continue
    { section: 'X-GPUSlice', key: 'Empty', value: '', line: 11 },
  ]);
  assert.deepEqual(p.issues, []);
});

test('unit syntax: bad lines are reported with their line', () => {
  const p = parseUnitFile('Key=before\n[Ok]\nnoequals\n[Broken\n=v\n', 'f.conf');
  assert.deepEqual(p.issues.map((i) => `${i.line}: ${i.message}`), [
    '1: assignment "Key=before" outside of any section: put it under a [Section] header',
    '3: missing "=" in "noequals": expected Key=Value',
    '4: invalid section header "[Broken": expected [Name]',
    '5: empty key in "=v"',
  ]);
});

test('GPUs= lists', () => {
  const ok: Array<[string, unknown]> = [['0 1', [0, 1]], ['0,1', [0, 1]], ['0, 2 ,3', [0, 2, 3]], ['0-2', [0, 1, 2]], ['all', 'all'], ['none', 'none'], ['1 1', [1]]];
  for (const [v, want] of ok) assert.deepEqual(parseGpuList(v), { ok: true, value: want }, v);
  for (const v of ['x', '0 all', '-1', '3-1', '1.5']) assert.equal(parseGpuList(v).ok, false, v);
});

test('validateFile: a bad drop-in gives every error as FILE:LINE:COL', async () => {
  const f = join(repo, 'test/fixtures/config/bad-dropin.conf');
  assert.deepEqual(await validateFile(f), [
    `${f}:3:1: GPUs=: invalid GPU "x" in GPUs=0 x: expected indices like "0 1", "0,1", "0-3", or all, none`,
    `${f}:4:1: GPUMemoryMax=: unknown size unit "GB" in "16GB" (write G or GiB: sizes are 1024-based): expected a size like 4G, 512Mi, 1.5GiB or a number of bytes (K/M/G/T are 1024-based)`,
    `${f}:5:1: GPUComputeWeight=: weight 20000 is out of range 1..10000 (as cgroup cpu.weight)`,
    `${f}:6:1: GPUComputeMax=: share "160%" is above 100%`,
    `${f}:7:1: Class=: invalid class name "bad name": letters, digits, "_", "-", "."`,
    `${f}:8:1: GPUOnMemoryLimit=: invalid value "later": expected fail or wait`,
    `${f}:9:1: unknown key "Memory" in [X-GPUSlice]: known keys are GPUs, GPUMemoryMin, GPUMemoryMax, GPUComputeWeight, GPUComputeMin, GPUComputeMax, Class, GPUOnMemoryLimit`,
    `${f}:10:1: missing "=" in "no equals sign here": expected Key=Value`,
    `${f}:11:1: invalid section header "[Service": expected [Name]`,
  ]);
});

test('validateFile: shipped files are valid; kind by extension; unreadable file is one error', async () => {
  for (const f of ['config/policy.yaml', 'config/examples/50-gpu.conf', 'config/examples/60-more-gpus.conf', 'config/examples/gpu-.service.d-10-defaults.conf']) {
    assert.deepEqual(await validateFile(join(repo, f)), [], f);
  }
  assert.equal(fileKind('a/b.YML'), 'policy');
  assert.equal(fileKind('x.service'), 'unit');
  assert.equal(fileKind('50-gpu.conf'), 'unit');
  const missing = join(repo, 'test/fixtures/config/none.yaml');
  assert.deepEqual(await validateFile(missing), [`${missing}:1:1: cannot read: ENOENT: no such file or directory, open '${missing}'`]);
  const bad = await validateFile(join(repo, 'test/fixtures/config/bad-schema.yaml'));
  assert.equal(bad.length, 13);
});
