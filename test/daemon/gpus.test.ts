import { test } from 'node:test';
import assert from 'node:assert/strict';
import { byNvmlIndex, simulatedDiscovery } from '../../src/daemon/gpus.js';
import { rulesForGpus } from '../../src/bpf/index.js';
import { limitsFor } from '../../src/daemon/enforce-vgpu.js';

test('real GPUs are indexed as NVML numbers them, matched to their node by minor', () => {
  const node = (minor: number) => ({ path: `/dev/nvidia${minor}`, type: 'c' as const, major: 195, minor, role: 'gpu' as const });
  const d = {
    gpus: [
      { index: 0, vendor: 'nvidia' as const, nodes: [node(0)] },
      { index: 1, vendor: 'nvidia' as const, nodes: [node(1)] },
    ],
    shared: { nvidia: [{ path: '/dev/nvidiactl', type: 'c' as const, major: 195, minor: 255, role: 'control' as const }], amd: [], intel: [], unknown: [] },
    caps: [],
    gpuMajors: [195],
  };
  // NVML's index 0 is the device behind /dev/nvidia1
  const r = byNvmlIndex(d, [
    { index: 0, minor: 1, name: 'A', memoryBytes: 1 },
    { index: 1, minor: 0, name: 'B', memoryBytes: 1 },
  ]);
  assert.deepEqual(rulesForGpus(r, [0]).map((x) => `${x.major}:${x.minor}`).sort(), ['195:1', '195:255']);
});

test('simulated GPUs gate like /dev/nvidiaN', () => {
  const d = simulatedDiscovery(['/s/dev/nvidia0', '/s/dev/nvidia1']);
  assert.deepEqual(rulesForGpus(d, [1]).map((x) => `${x.type} ${x.major}:${x.minor} ${x.access}`), ['c 195:1 rw']);
  assert.deepEqual(rulesForGpus(d, 'none'), []);
  assert.deepEqual(d.gpuMajors, [195]);
});

test('ledger limits: the guarantee is the share, or the ceiling when none is guaranteed; GPUs not given get nothing', () => {
  const base = { gpus: [1], memoryMax: 2 ** 30, memoryMin: 0, computeMin: 0.25, computeMax: 1, weight: 100, class: null, onMemoryLimit: 'wait' as const };
  const away = { memoryBytes: 0, computeShare: 0.001, memoryPolicy: 'fail' };
  assert.deepEqual(limitsFor(base, 3), [away, { memoryBytes: 2 ** 30, computeShare: 0.25, memoryPolicy: 'wait' }, away]);
  assert.equal(limitsFor({ ...base, computeMin: 0, computeMax: 0.6 }, 2)[1]?.computeShare, 0.6);
});
