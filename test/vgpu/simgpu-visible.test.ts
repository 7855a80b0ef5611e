// simgpu honours CUDA_VISIBLE_DEVICES as the real driver does: a CUdevice
// is an ordinal among the listed devices, and behind it everything (the
// node opened, the memory taken) is the physical device.  The gpuslice
// daemon relies on it: a container given GPU 1 sees it as device 0.
// Three devices of different sizes tell the physical device by its memory.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { SimGpu } from '../../src/vgpu/simgpu.js';
import { readSimGpuState } from '../../src/vgpu/simgpu-state.js';
import { need } from '../helpers/capabilities.js';
import { GiB, MiB, REPO, gpuload, makeSimGpu } from './simgpu-helpers.js';

const run = promisify(execFile);
const SIZES = [GiB, 2n * GiB, 3n * GiB];

function threeGpus(t: TestContext): Promise<SimGpu> {
  return makeSimGpu(t, { count: 3, memoryBytes: GiB, memoryPerDevice: SIZES });
}

/** gpuload's argv run with CUDA_VISIBLE_DEVICES set (undefined: unset) */
const visible = (cvd: string | undefined) => ({
  wrap: (argv: string[]) => (cvd === undefined ? argv : ['env', `CUDA_VISIBLE_DEVICES=${cvd}`, ...argv]),
});

function allocOn(t: TestContext, sg: SimGpu, cvd: string | undefined, ordinal: number, bytes: bigint) {
  return gpuload(t, sg, ['--device', String(ordinal), '--alloc', String(bytes), '--json'], visible(cvd));
}

/** peakUsed of each physical device */
async function peaks(sg: SimGpu): Promise<bigint[]> {
  const st = await readSimGpuState(sg.dir);
  assert.ok(st, 'no simgpu state');
  return st.devices.map((d) => d.peakUsed);
}

// cuDeviceGetCount, and per ordinal what the driver says, from a separate
// process: the driver reads CUDA_VISIBLE_DEVICES once per process
const PROBE = `
import koffi from 'koffi';
const lib = koffi.load('libcuda.so.1');
const f = (s) => lib.func(s);
const init = f('int cuInit(unsigned int flags)'), count = f('int cuDeviceGetCount(_Out_ int *n)');
const get = f('int cuDeviceGet(_Out_ int *d, int ordinal)');
const uuid = f('int cuDeviceGetUuid(_Out_ uint8_t *u, int d)');
const total = f('int cuDeviceTotalMem_v2(_Out_ uint64_t *b, int d)');
const retain = f('int cuDevicePrimaryCtxRetain(_Out_ void **c, int d)');
const setCur = f('int cuCtxSetCurrent(void *c)'), ctxDev = f('int cuCtxGetDevice(_Out_ int *d)');
const nvml = koffi.load('libnvidia-ml.so.1');
const nvInit = nvml.func('int nvmlInit_v2()'), nvCount = nvml.func('int nvmlDeviceGetCount_v2(_Out_ uint32_t *n)');
const out = { init: init(0), count: -1, devices: [], nvml: -1 };
const n = [0];
if (out.init === 0 && count(n) === 0) out.count = n[0];
for (let i = 0; i < out.count; i++) {
  const d = [-1], b = [0], c = [null], back = [-1], u = Buffer.alloc(16);
  const rs = [get(d, i), uuid(u, d[0]), total(b, d[0]), retain(c, d[0]), setCur(c[0]), ctxDev(back)];
  out.devices.push({ rs, handle: d[0], uuid: u.toString('hex'), total: String(b[0]), ctxDevice: back[0] });
}
if (nvInit() === 0 && nvCount(n) === 0) out.nvml = n[0];
console.log(JSON.stringify(out));
`;

interface Probe {
  init: number;
  count: number;
  devices: Array<{ rs: number[]; handle: number; uuid: string; total: string; ctxDevice: number }>;
  nvml: number;
}

async function probe(sg: SimGpu, cvd: string | undefined): Promise<Probe> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...sg.env };
  if (cvd !== undefined) env.CUDA_VISIBLE_DEVICES = cvd;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', PROBE], { cwd: REPO, env });
  return JSON.parse(stdout) as Probe;
}

test('CUDA_VISIBLE_DEVICES=2: device 0 is physical device 2', async (t) => {
  if (!need(t, 'root')) return;
  const sg = await threeGpus(t);
  const r = await allocOn(t, sg, '2', 0, 5n * MiB);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(BigInt(r.report!.mem_total), SIZES[2]);
  assert.equal(r.report!.allocated_bytes, Number(5n * MiB));
  assert.deepEqual(await peaks(sg), [0n, 0n, 5n * MiB]);

  const beyond = await allocOn(t, sg, '2', 1, MiB);
  assert.equal(beyond.code, 1);
  assert.match(beyond.stderr, /CUDA_ERROR_INVALID_DEVICE/);
});

test('CUDA_VISIBLE_DEVICES=1,0: ordinals follow the list', async (t) => {
  if (!need(t, 'root')) return;
  const sg = await threeGpus(t);
  const r0 = await allocOn(t, sg, '1,0', 0, 3n * MiB);
  assert.equal(r0.code, 0, r0.stderr);
  assert.equal(BigInt(r0.report!.mem_total), SIZES[1]);
  const r1 = await allocOn(t, sg, '1,0', 1, 7n * MiB);
  assert.equal(r1.code, 0, r1.stderr);
  assert.equal(BigInt(r1.report!.mem_total), SIZES[0]);
  assert.deepEqual(await peaks(sg), [7n * MiB, 3n * MiB, 0n]);
});

test('the list stops at the first entry that is not a device index', async (t) => {
  if (!need(t, 'root')) return;
  const sg = await threeGpus(t);
  const all = await probe(sg, undefined);
  const physUuid = all.devices.map((d) => d.uuid);
  const cases: Array<[string, number[]]> = [
    ['0,x,1', [0]],
    ['2,0', [2, 0]],
    ['1,3,0', [1]], // 3: past the configured devices
    ['2,2,1', [2]], // a duplicate
    ['1,-1,0', [1]],
    ['GPU-00000000-0000-0000-0000-000000000000,0', []], // UUIDs are not supported
    ['', []],
  ];
  for (const [cvd, phys] of cases) {
    const p = await probe(sg, cvd);
    assert.equal(p.nvml, 3, `NVML ignores CUDA_VISIBLE_DEVICES=${cvd}`);
    if (!phys.length) {
      // the driver fails cuInit when no device is left
      assert.equal(p.init, 100, `CUDA_VISIBLE_DEVICES='${cvd}': CUDA_ERROR_NO_DEVICE`);
      continue;
    }
    assert.equal(p.init, 0);
    assert.equal(p.count, phys.length, `CUDA_VISIBLE_DEVICES=${cvd}`);
    p.devices.forEach((d, i) => {
      assert.deepEqual(d.rs, [0, 0, 0, 0, 0, 0]);
      assert.equal(d.handle, i, 'a CUdevice is the visible ordinal');
      assert.equal(d.ctxDevice, i, 'cuCtxGetDevice gives the ordinal back');
      assert.equal(d.uuid, physUuid[phys[i]!], `CUDA_VISIBLE_DEVICES=${cvd} ordinal ${i}`);
      assert.equal(BigInt(d.total), SIZES[phys[i]!]);
    });
  }
});

test('unset: every device, ordinal = physical index; empty: none', async (t) => {
  if (!need(t, 'root')) return;
  const sg = await threeGpus(t);
  const all = await probe(sg, undefined);
  assert.equal(all.count, 3);
  assert.deepEqual(all.devices.map((d) => BigInt(d.total)), SIZES);
  assert.equal(new Set(all.devices.map((d) => d.uuid)).size, 3);
  const r = await allocOn(t, sg, undefined, 2, 2n * MiB);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(BigInt(r.report!.mem_total), SIZES[2]);
  assert.deepEqual(await peaks(sg), [0n, 0n, 2n * MiB]);

  const none = await allocOn(t, sg, '', 0, MiB);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /CUDA_ERROR_NO_DEVICE/);
});

test('the physical node is opened: CUDA_VISIBLE_DEVICES=1 with node 1 gone fails', async (t) => {
  if (!need(t, 'root')) return;
  const sg = await threeGpus(t);
  await rm(sg.nodes[1]!);
  const denied = await allocOn(t, sg, '1', 0, MiB);
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /nvidia1: .*\n.*CUDA_ERROR_NO_DEVICE/);
  const allowed = await allocOn(t, sg, '2', 0, MiB);
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.equal(BigInt(allowed.report!.mem_total), SIZES[2]);
});
