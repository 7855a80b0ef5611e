import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicy } from '../../src/config/index.js';
import { resolveSettings, matches, globToRegExp, checkGuarantees } from '../../src/daemon/settings.js';
import { isGpusliceError } from '../../src/errors.js';

const G = 2 ** 30;
const gpus = [
  { index: 0, memoryBytes: 16 * G },
  { index: 1, memoryBytes: 16 * G },
];
const policy = parsePolicy(
  `
defaults:
  memory: { min: 0, max: 100% }
  compute: { weight: 100, min: 0%, max: 100% }
classes:
  training:
    gpus: [1]
    memory: { min: 4G, max: 50% }
    compute: { weight: 200, min: 25%, max: 80% }
    onMemoryLimit: wait
    match:
      - path: "gpuslice/train-*"
      - unit: "train@*.service"
  small:
    memory: { max: 2G }
`,
  'policy.yaml',
);

test('glob matching of cgroup paths, slices and units', () => {
  const cases: Array<[{ path?: string; slice?: string; unit?: string }, string, boolean]> = [
    [{ path: 'gpuslice/train-*' }, '/gpuslice/train-1', true],
    [{ path: 'gpuslice/train-*' }, '/gpuslice/train-1/inner', false],
    [{ path: 'gpuslice/**' }, '/gpuslice/a/b', true],
    [{ path: 'gpuslice/?' }, '/gpuslice/ab', false],
    [{ slice: 'training.slice' }, '/training.slice/x.service', true],
    [{ slice: 'training.slice' }, '/training.slicex/x.service', false],
    [{ unit: 'train@*.service' }, '/system.slice/system-train.slice/train@3.service', true],
    [{ unit: 'train@*.service' }, '/system.slice/train.scope', false],
  ];
  for (const [m, path, want] of cases) assert.equal(matches(m, { cgroupPath: path }), want, `${JSON.stringify(m)} ${path}`);
  assert.equal(globToRegExp('a.b*').test('aXb'), false, 'dots are literal');
});

test('settings come from the request over the unit over the class over the defaults', () => {
  const cases: Array<[string, Parameters<typeof resolveSettings>[2], string, Parameters<typeof resolveSettings>[4], Partial<ReturnType<typeof resolveSettings>>]> = [
    ['defaults only', {}, '/gpuslice/x', {}, { gpus: [0, 1], memoryMax: null, memoryMin: 0, computeMin: 0, computeMax: 1, weight: 100, class: null, onMemoryLimit: 'fail' }],
    ['class by path', {}, '/gpuslice/train-7', {}, { gpus: [1], memoryMax: 8 * G, memoryMin: 4 * G, computeMin: 0.25, computeMax: 0.8, weight: 200, class: 'training', onMemoryLimit: 'wait' }],
    ['class by name', { class: 'small' }, '/gpuslice/x', {}, { memoryMax: 2 * G, class: 'small' }],
    ['request over class', { memory: 6 * G, compute: 0.5, weight: 300, gpus: [0] }, '/gpuslice/train-7', {}, { gpus: [0], memoryMax: 6 * G, computeMin: 0.5, weight: 300 }],
    ['unit over class', {}, '/gpuslice/train-7', { memoryMax: { bytes: 5 * G }, computeWeight: 50, gpus: 'none' }, { gpus: [], memoryMax: 5 * G, weight: 50 }],
    ['unit names the class', {}, '/x.service', { class: 'small' }, { class: 'small', memoryMax: 2 * G }],
  ];
  for (const [name, spec, path, unit, want] of cases) {
    const got = resolveSettings(policy, gpus, spec, { cgroupPath: path }, unit);
    for (const [k, v] of Object.entries(want)) assert.deepEqual((got as unknown as Record<string, unknown>)[k], v, `${name}: ${k}`);
  }
});

test('settings that cannot hold are refused with the reason', () => {
  const bad: Array<[Parameters<typeof resolveSettings>[2], string, RegExp]> = [
    [{ class: 'nope' }, 'GS_ERR_INVALID_ARGUMENT', /no class nope in the policy \(classes: training, small\)/],
    [{ gpus: [5] }, 'GS_ERR_GPU_UNKNOWN', /GPU 5 does not exist on this machine \(GPUs: 0, 1\)/],
    [{ memory: 1 * G, memoryMin: 2 * G }, 'GS_ERR_INVALID_ARGUMENT', /guaranteed memory 2G is above the limit 1G/],
    [{ class: 'training', memory: 2 * G }, 'GS_ERR_INVALID_ARGUMENT', /guaranteed memory 4G is above the limit 2G/],
    [{ compute: 0.9, computeMax: 0.5 }, 'GS_ERR_INVALID_ARGUMENT', /guaranteed compute 90% is above the most it may use, 50%/],
  ];
  for (const [spec, code, re] of bad) {
    assert.throws(() => resolveSettings(policy, gpus, spec, { cgroupPath: '/gpuslice/x', name: 'x' }), (e: unknown) => isGpusliceError(e) && e.code === code && re.test(e.message), JSON.stringify(spec));
  }
});

test('our containers match by their name in the managed subtree, never by the daemon\'s own slice or unit', () => {
  const delegated = { cgroupPath: '/system.slice/gpuslice.service/containers/train-1', name: 'train-1' };
  assert.equal(matches({ path: 'train-*' }, delegated), true);
  assert.equal(matches({ path: 'system.slice/gpuslice.service/containers/train-*' }, delegated), true);
  assert.equal(matches({ slice: 'system.slice' }, delegated), false);
  assert.equal(matches({ unit: 'gpuslice.service' }, delegated), false);
  // a unit's cgroup is matched by its full path
  assert.equal(matches({ slice: 'system.slice' }, { cgroupPath: '/system.slice/train.service' }), true);
});

test('class names are looked up as own keys only, and GPU lists lose duplicates', () => {
  for (const name of ['constructor', 'toString', '__proto__']) {
    assert.throws(() => resolveSettings(policy, gpus, { class: name }, { cgroupPath: '/gpuslice/x', name: 'x' }), /no class .* in the policy/);
  }
  assert.deepEqual(resolveSettings(policy, gpus, { gpus: [1, 0, 1, 0] }, { cgroupPath: '/gpuslice/x', name: 'x' }).gpus, [0, 1]);
});

test('guarantees beyond a GPU\'s memory or 100% of its compute are refused', () => {
  const admit = checkGuarantees(gpus);
  const s = (gpu: number[], memoryMin: number, computeMin: number) => ({ gpus: gpu, memoryMax: null, memoryMin, computeMin, computeMax: 1, weight: 100, class: null, onMemoryLimit: 'fail' as const });
  assert.doesNotThrow(() => admit(s([0], 8 * G, 0.5), [s([0], 8 * G, 0.5)]));
  assert.throws(() => admit(s([0], 9 * G, 0), [s([0], 8 * G, 0)]), /GPU 0 cannot guarantee 9G more: 8G of its 16G are guaranteed to 1 other container/);
  assert.throws(() => admit(s([0], 0, 0.6), [s([0, 1], 0, 0.5)]), /GPU 0 cannot guarantee 60% more compute: 50% is guaranteed/);
  // other GPUs do not count
  assert.doesNotThrow(() => admit(s([1], 16 * G, 1), [s([0], 16 * G, 1)]));
});
