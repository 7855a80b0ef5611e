// simgpu's libnvidia-ml.so.1, loaded into this test process with koffi:
// memory, running processes and per-process utilization of the shared state.
// NVML keeps its SIMGPU_DIR from nvmlInit on, so one test per process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import koffi from 'koffi';
import { need } from '../helpers/capabilities.js';
import { GiB, MiB, makeSimGpu, startGpuload } from './simgpu-helpers.js';

test('NVML reports memory, processes and their utilization', async (t) => {
  if (!need(t, 'root')) return;
  const sg = await makeSimGpu(t, { count: 1, memoryBytes: GiB, name: 'simgpu test' });
  // 300 MiB held, and 0.3 s of device time waited for kernel by kernel
  const w = startGpuload(t, sg, ['--alloc', '300M', '--kernels', '30', '--kernel-us', '10000', '--stream-sync', '--hold', '30', '--json']);
  await w.report;

  process.env.SIMGPU_DIR = sg.dir;
  const lib = koffi.load(join(sg.env.LD_LIBRARY_PATH, 'libnvidia-ml.so.1'));
  t.after(() => lib.unload());
  const init = lib.func('int nvmlInit_v2()');
  const count = lib.func('int nvmlDeviceGetCount_v2(_Out_ uint32_t *n)');
  const handle = lib.func('int nvmlDeviceGetHandleByIndex_v2(uint32_t i, _Out_ void **dev)');
  const name = lib.func('int nvmlDeviceGetName(void *dev, _Out_ uint8_t *buf, uint32_t len)');
  const memory = lib.func('int nvmlDeviceGetMemoryInfo(void *dev, _Out_ uint8_t *mem)');
  const memoryV2 = lib.func('int nvmlDeviceGetMemoryInfo_v2(void *dev, _Inout_ uint8_t *mem)');
  const procs = lib.func('int nvmlDeviceGetComputeRunningProcesses_v3(void *dev, _Inout_ uint32_t *n, _Out_ uint8_t *infos)');
  const util = lib.func('int nvmlDeviceGetProcessUtilization(void *dev, _Out_ uint8_t *samples, _Inout_ uint32_t *n, uint64_t last)');
  const errorString = lib.func('const char *nvmlErrorString(int r)');

  assert.equal(init(), 0);
  const n = [0];
  assert.equal(count(n), 0);
  assert.equal(n[0], 1);
  const dev = [null];
  assert.equal(handle(0, dev), 0);
  const buf = Buffer.alloc(64);
  assert.equal(name(dev[0], buf, 64), 0);
  assert.equal(buf.toString('latin1', 0, buf.indexOf(0)), 'simgpu test');

  const m = Buffer.alloc(24);
  assert.equal(memory(dev[0], m), 0);
  assert.deepEqual([m.readBigUInt64LE(0), m.readBigUInt64LE(8), m.readBigUInt64LE(16)], [GiB, GiB - 300n * MiB, 300n * MiB]);
  const m2 = Buffer.alloc(40);
  m2.writeUInt32LE(40 | (2 << 24), 0); // nvmlMemory_v2
  assert.equal(memoryV2(dev[0], m2), 0);
  assert.deepEqual([m2.readBigUInt64LE(8), m2.readBigUInt64LE(32)], [GiB, 300n * MiB]);
  m2.writeUInt32LE(40 | (1 << 24), 0);
  assert.equal(memoryV2(dev[0], m2), 25); // NVML_ERROR_ARGUMENT_VERSION_MISMATCH

  const pn = [0];
  assert.equal(procs(dev[0], pn, null), 7); // NVML_ERROR_INSUFFICIENT_SIZE
  assert.equal(pn[0], 1);
  const infos = Buffer.alloc(24 * 4);
  const cap = [4];
  assert.equal(procs(dev[0], cap, infos), 0);
  assert.equal(cap[0], 1);
  assert.deepEqual([infos.readUInt32LE(0), infos.readBigUInt64LE(8)], [w.child.pid, 300n * MiB]);

  const samples = Buffer.alloc(32 * 4);
  const sn = [4];
  assert.equal(util(dev[0], samples, sn, 0n), 0);
  assert.equal(sn[0], 1);
  assert.equal(samples.readUInt32LE(0), w.child.pid);
  const smUtil = samples.readUInt32LE(16);
  assert.ok(smUtil > 0 && smUtil <= 100, `smUtil ${smUtil}`);
  assert.equal(errorString(4), 'Insufficient Permissions');
});
