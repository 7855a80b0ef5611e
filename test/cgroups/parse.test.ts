import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseControllers, parseSubtreeControl, parseFlatKeyed, parseEvents, parseStat, parseProcs, parseProcCgroup,
} from '../../src/cgroups/index.js';
import { isGpusliceError } from '../../src/errors.js';

const isParse = (e: unknown) => isGpusliceError(e, 'GS_ERR_CGROUP_PARSE');

test('parseControllers / parseSubtreeControl', () => {
  const cases: Array<[string, string[]]> = [
    ['', []],
    ['\n', []],
    ['cpuset cpu io memory hugetlb pids rdma misc\n', ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc']],
    ['hugetlb', ['hugetlb']],
  ];
  for (const [text, want] of cases) {
    assert.deepEqual(parseControllers(text), want, JSON.stringify(text));
    assert.deepEqual(parseSubtreeControl(text), want);
  }
  assert.throws(() => parseControllers('+cpu'), isParse);
});

test('parseFlatKeyed', () => {
  assert.deepEqual([...parseFlatKeyed('a 1\nb max\n')], [['a', '1'], ['b', 'max']]);
  assert.deepEqual([...parseFlatKeyed('')], []);
  for (const bad of ['a\n', 'a 1 2\n', 'a 1\na 2\n']) assert.throws(() => parseFlatKeyed(bad), isParse, bad);
});

test('parseEvents', () => {
  const cases: Array<[string, { populated: boolean; frozen: boolean }]> = [
    ['populated 0\nfrozen 0\n', { populated: false, frozen: false }],
    ['populated 1\nfrozen 0\n', { populated: true, frozen: false }],
    ['populated 1\nfrozen 1\n', { populated: true, frozen: true }],
    ['populated 1\n', { populated: true, frozen: false }], // before 5.2: no frozen key
  ];
  for (const [text, want] of cases) assert.deepEqual(parseEvents(text), want, text);
  for (const bad of ['frozen 1\n', 'populated 2\n', 'populated yes\n', '']) {
    assert.throws(() => parseEvents(bad), isParse, JSON.stringify(bad));
  }
});

test('parseStat keeps every key and names the two documented ones', () => {
  const s = parseStat('nr_descendants 3\nnr_subsys_perf_event 1\nnr_dying_descendants 0\n');
  assert.equal(s.nrDescendants, 3);
  assert.equal(s.nrDyingDescendants, 0);
  assert.equal(s.raw.nr_subsys_perf_event, 1);
  assert.throws(() => parseStat('nr_descendants x\nnr_dying_descendants 0\n'), isParse);
  assert.throws(() => parseStat('nr_descendants 1\n'), isParse);
});

test('parseProcs', () => {
  assert.deepEqual(parseProcs(''), []);
  assert.deepEqual(parseProcs('1\n42\n'), [1, 42]);
  assert.throws(() => parseProcs('12a\n'), (e) => isParse(e) && (e as { value?: string }).value === '12a\n');
});

test('parseProcCgroup', () => {
  assert.equal(parseProcCgroup('0::/gpuslice/train\n'), '/gpuslice/train');
  assert.equal(parseProcCgroup('9:name=systemd:/\n4:memory:/x\n0::/\n'), '/');
  assert.equal(parseProcCgroup('4:memory:/x\n'), null);
});
