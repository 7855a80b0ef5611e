// simgpu's memory, with real gpuload processes: capacity from the config,
// shared by all processes of the machine, reclaimed from killed ones; and
// each way of reaching the driver.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { need } from '../helpers/capabilities.js';
import { readSimGpuState } from '../../src/vgpu/simgpu-state.js';
import { GiB, MiB, gpuload, makeSimGpu, startGpuload } from './simgpu-helpers.js';

for (const entry of ['linked', 'dlsym', 'procaddress']) {
  test(`--entry ${entry}: allocates up to the capacity, then CUDA_ERROR_OUT_OF_MEMORY`, async (t) => {
    if (!need(t, 'root')) return;
    const sg = await makeSimGpu(t, { count: 1, memoryBytes: GiB });
    const r = await gpuload(t, sg, ['--entry', entry, '--alloc', '3G', '--chunk', '64M', '--kernels', '5', '--kernel-us', '100', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      { ...r.report, elapsed_s: 0, kernels_per_s: 0 },
      { device: 0, allocated_bytes: Number(GiB), alloc_error: 'CUDA_ERROR_OUT_OF_MEMORY', mem_total: Number(GiB), mem_free: 0, kernels: 5, elapsed_s: 0, kernels_per_s: 0 },
    );
  });
}

// 100M chunks: ten fit in 1 GiB, the eleventh does not, whatever the path
for (const api of ['mem', 'pitch', 'managed', 'async', 'pool', 'create', 'array']) {
  test(`--alloc-api ${api}: counts against the device's capacity`, async (t) => {
    if (!need(t, 'root')) return;
    const sg = await makeSimGpu(t, { count: 1, memoryBytes: GiB });
    const r = await gpuload(t, sg, ['--alloc-api', api, '--alloc', '3G', '--chunk', '100M', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.report!.alloc_error, 'CUDA_ERROR_OUT_OF_MEMORY');
    assert.equal(BigInt(r.report!.allocated_bytes), 1000n * MiB);
    assert.equal(BigInt(r.report!.mem_free), GiB - 1000n * MiB);
    // everything went back at exit
    assert.equal((await readSimGpuState(sg.dir))!.devices[0].used, 0n);
  });
}

test('two processes share one device: together never above its capacity', async (t) => {
  if (!need(t, 'root')) return;
  const sg = await makeSimGpu(t, { count: 2, memoryBytes: GiB, memoryPerDevice: [undefined, 512n * MiB] });
  const args = ['--alloc', '3G', '--chunk', '64M', '--hold', '30', '--json'];
  const a = startGpuload(t, sg, args);
  const b = startGpuload(t, sg, args);
  const [ra, rb] = await Promise.all([a.report, b.report]);
  assert.equal(ra.alloc_error, 'CUDA_ERROR_OUT_OF_MEMORY');
  assert.equal(rb.alloc_error, 'CUDA_ERROR_OUT_OF_MEMORY');
  assert.equal(BigInt(ra.allocated_bytes + rb.allocated_bytes), GiB);
  const st = (await readSimGpuState(sg.dir))!;
  assert.equal(st.devices[0].used, GiB);
  assert.deepEqual(
    st.processes.map((p) => [p.pid, p.memory[0]]).sort(),
    [[a.child.pid, BigInt(ra.allocated_bytes)], [b.child.pid, BigInt(rb.allocated_bytes)]].sort(),
  );
  // device 1 has its own capacity from memory.1
  const r1 = await gpuload(t, sg, ['--device', '1', '--alloc', '1G', '--json']);
  assert.equal(BigInt(r1.report!.allocated_bytes), 512n * MiB);
  assert.equal(BigInt(r1.report!.mem_total), 512n * MiB);
});

test('the memory of a SIGKILLed process goes back to the device', async (t) => {
  if (!need(t, 'root')) return;
  const sg = await makeSimGpu(t, { count: 1, memoryBytes: GiB });
  const victim = startGpuload(t, sg, ['--alloc', '1G', '--hold', '60', '--json']);
  assert.equal(BigInt((await victim.report).allocated_bytes), GiB);
  const before = (await readSimGpuState(sg.dir))!;
  assert.deepEqual(before.processes.map((p) => [p.pid, p.memory[0]]), [[victim.child.pid, GiB]]);
  victim.child.kill('SIGKILL');
  await once(victim.child, 'close');
  // the dead process did not say so: the next one finds out and reclaims
  const next = await gpuload(t, sg, ['--alloc', '1G', '--json']);
  assert.equal(next.report!.alloc_error, null);
  assert.equal(BigInt(next.report!.allocated_bytes), GiB);
  const after = (await readSimGpuState(sg.dir))!;
  assert.equal(after.reclaimed, 1n);
  assert.deepEqual(after.processes, []);
  assert.equal(after.devices[0].used, 0n);
  assert.equal(after.devices[0].peakUsed, GiB);
});

// what cuGetProcAddress_v2 hands out, by the symbol dladdr finds at the address
const procCases: Array<[string, string | null, number]> = [
  ['cuMemAlloc@3010', 'cuMemAlloc', 0],
  ['cuMemAlloc@3020', 'cuMemAlloc_v2', 0],
  ['cuMemAlloc@12040', 'cuMemAlloc_v2', 0],
  ['cuMemAlloc@12040:ptds', 'cuMemAlloc_v2', 0],
  ['cuMemGetInfo@12040', 'cuMemGetInfo_v2', 0],
  ['cuDeviceTotalMem@12040', 'cuDeviceTotalMem_v2', 0],
  ['cuCtxCreate@3020', 'cuCtxCreate_v2', 0],
  ['cuCtxCreate@12040', 'cuCtxCreate_v3', 0],
  ['cuLaunchKernel@12040', 'cuLaunchKernel', 0],
  ['cuLaunchKernel@12040:ptds', 'cuLaunchKernel_ptsz', 0],
  ['cuMemcpyHtoD@12040:ptds', 'cuMemcpyHtoD_v2_ptds', 0],
  ['cuMemAllocAsync@12040:ptds', 'cuMemAllocAsync_ptsz', 0],
  ['cuGraphLaunch@12040:ptds', 'cuGraphLaunch_ptsz', 0],
  ['cuGraphInstantiate@11000', 'cuGraphInstantiate_v2', 0],
  // NVIDIA's 535 driver answers _v2 here (see simgpu-procaddr-oracle.test.ts)
  ['cuGraphInstantiate@12040', 'cuGraphInstantiate_v2', 0],
  ['cuGetProcAddress@11030', 'cuGetProcAddress', 0],
  ['cuGetProcAddress@12040', 'cuGetProcAddress_v2', 0],
  ['cuMemAllocAsync@11010', null, 2], // CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT
  ['cuNoSuchCall@12040', null, 1], // CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND
];

test('cuGetProcAddress_v2 maps a name and a CUDA version to the ABI version', async (t) => {
  if (!need(t, 'root')) return;
  const sg = await makeSimGpu(t, { count: 1, memoryBytes: GiB });
  const r = await gpuload(t, sg, ['--resolve', ...procCases.map((c) => c[0])]);
  assert.equal(r.code, 0, r.stderr);
  const got = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { resolved: string | null; status: number; result: string });
  assert.deepEqual(
    got.map((g) => [g.resolved, g.status, g.result]),
    procCases.map(([, sym, status]) => [sym, status, sym ? 'CUDA_SUCCESS' : 'CUDA_ERROR_NOT_FOUND']),
  );
});

test('a process killed while holding the state lock hangs no one', async (t) => {
  if (!need(t, 'root')) return;
  const sg = await makeSimGpu(t, { count: 1, memoryBytes: GiB });
  // dies by SIGKILL inside its first allocation, between the device's and
  // its own counter updates: the lock is held and the counters disagree
  const crash = await gpuload(t, { ...sg, env: { ...sg.env, SIMGPU_TEST_CRASH_LOCKED: '1' } as typeof sg.env }, ['--alloc', '64M', '--json']);
  assert.equal(crash.code, 'SIGKILL');
  assert.equal((await readSimGpuState(sg.dir))!.devices[0].used, 64n * MiB);
  // the next locker gets EOWNERDEAD, recounts from the slots, goes on
  const next = await gpuload(t, sg, ['--alloc', '1G', '--json']);
  assert.equal(next.code, 0, next.stderr);
  assert.equal(BigInt(next.report!.allocated_bytes), GiB);
  assert.equal((await readSimGpuState(sg.dir))!.devices[0].used, 0n);
});
