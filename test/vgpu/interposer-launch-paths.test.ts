// Every way an application launches work, through every way it reaches the driver,
// is paced: a container with a 25% share saturating a simulated GPU alone gets
// about 25% of its device time. Device time is read from simgpu's own busy counter,
// not from what gpuload or the interposer say. And cuGetProcAddress through the
// interposer hands out the interposer's wrapper of the exact ABI variant asked for,
// with the driver's symbolStatus. The issue demands the share, so these time things.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readUsage } from '../../src/vgpu/ledger.js';
import { ENTRIES, GiB, INTERPOSER, MiB, SIMLIB, gpuload, gpuloadDone, makeSim, missingBuild } from './interposer-harness.js';
import { buildProcProbe, procAddress, simBusyNs } from './launch-helpers.js';

const skip = missingBuild();
const KERNEL_US = 1000;
const DURATION_S = 2;
const SHARE = 0.25;
// CI is a loaded 2-core machine: ±0.06 absolute, no tighter
const TOLERANCE = 0.06;
const APIS = ['kernel', 'ex', 'coop', 'graph'] as const;

interface Measured {
  /** simgpu's busy time / the run's elapsed time */
  device: number;
  kernels: number;
  ledgerLaunches: number;
  ledgerGpu: number;
}

/** One gpuload saturating its own simulated GPU; each run has its own device, so runs may overlap. */
async function measure(t: { after: (fn: () => void) => void }, share: number, args: string[]): Promise<Measured> {
  const sim = makeSim(t);
  const led = await sim.ledger({ periodUs: 100_000, devices: [{ memoryBytes: null, computeShare: share }] });
  const r = gpuload(['--kernel-us', String(KERNEL_US), '--duration', String(DURATION_S), ...args], sim.env(led), t);
  const [rep, ex] = await Promise.all([r.report, r.exit]);
  assert.equal(ex.code, 0, `gpuload ${args.join(' ')}: ${ex.stderr}`);
  const busy = await simBusyNs(join(sim.dir, 'simgpu'));
  const u = await readUsage(led);
  return {
    device: busy / 1e9 / rep.elapsed_s,
    kernels: rep.kernels,
    ledgerLaunches: u.devices[0].launches,
    ledgerGpu: u.devices[0].gpuTimeNs / 1e9 / rep.elapsed_s,
  };
}

function paced(name: string, args: string[]) {
  return async (t: { after: (fn: () => void) => void }) => {
    const m = await measure(t, SHARE, args);
    process.stderr.write(`# ${name}: device ${m.device.toFixed(3)}, ledger GPU time ${m.ledgerGpu.toFixed(3)}, ${m.kernels} launches\n`);
    assert.ok(Math.abs(m.device - SHARE) <= TOLERANCE, `${name}: device share ${m.device.toFixed(3)}, expected ${SHARE} ± ${TOLERANCE}`);
    // every launch went through a wrapper: the ledger counted each one
    assert.equal(m.ledgerLaunches, m.kernels, `${name}: ledger launches`);
    assert.ok(Math.abs(m.ledgerGpu - m.device) <= TOLERANCE, `${name}: ledger GPU time ${m.ledgerGpu.toFixed(3)} vs device ${m.device.toFixed(3)}`);
  };
}

// the runs sleep almost all the time; separate devices, so four at once
test('a 25% share holds on every launch API and entry path', { skip: skip ?? false, concurrency: 4 }, async (t) => {
  const runs: Array<Promise<void>> = [];
  for (const entry of ENTRIES) {
    for (const api of APIS) {
      const args = ['--entry', entry, '--launch-api', api];
      runs.push(t.test(`${api} via ${entry}`, paced(`${api} via ${entry}`, args)));
    }
  }
  // the _ptsz variants, handed out only through cuGetProcAddress
  for (const api of APIS) {
    const args = ['--entry', 'procaddress', '--per-thread', '--launch-api', api];
    runs.push(t.test(`${api}_ptsz via procaddress`, paced(`${api}_ptsz via procaddress`, args)));
  }
  // the control: unpaced, each launch API does saturate the device, so 25% above is pacing
  for (const api of APIS) {
    runs.push(t.test(`${api} via procaddress, share 1: saturates`, async (st) => {
      const m = await measure(st, 1, ['--entry', 'procaddress', '--launch-api', api]);
      process.stderr.write(`# ${api} unpaced: device ${m.device.toFixed(3)}\n`);
      assert.ok(m.device > 0.85, `${api} unpaced keeps the device ${m.device.toFixed(3)} busy`);
    }));
  }
  await Promise.all(runs);
});

test('cuGetProcAddress through the interposer returns its wrapper of the exact variant, with the driver\'s symbolStatus', { skip: skip ?? false }, async (t) => {
  const sim = makeSim(t);
  const led = await sim.ledger({ devices: [{ memoryBytes: GiB, computeShare: 0.5 }] });
  const probe = buildProcProbe(t);
  const cases: Array<[string, string]> = [
    ['cuLaunchKernel@12040:ptds', 'cuLaunchKernel_ptsz'],
    ['cuLaunchKernel@12040', 'cuLaunchKernel'],
    ['cuLaunchKernelEx', 'cuLaunchKernelEx'],
    ['cuLaunchKernelEx:ptds', 'cuLaunchKernelEx_ptsz'],
    ['cuLaunchCooperativeKernel', 'cuLaunchCooperativeKernel'],
    ['cuLaunchCooperativeKernel:ptds', 'cuLaunchCooperativeKernel_ptsz'],
    ['cuGraphLaunch', 'cuGraphLaunch'],
    ['cuGraphLaunch:ptds', 'cuGraphLaunch_ptsz'],
    ['cuMemGetInfo@3020', 'cuMemGetInfo_v2'],
    ['cuMemGetInfo@2000', 'cuMemGetInfo'],
    ['cuMemAlloc@3020', 'cuMemAlloc_v2'],
    ['cuMemAlloc@2000', 'cuMemAlloc'],
    ['cuMemAllocAsync:ptds', 'cuMemAllocAsync_ptsz'],
    ['cuLaunchKernel@12040:ptds!v1', 'cuLaunchKernel_ptsz'],
    ['cuMemAlloc@3020!v1', 'cuMemAlloc_v2'],
  ];
  // names the interposer does not wrap, and a version the call is too new for
  const passed = ['cuMemsetD8', 'cuNoSuchCall', 'cuLaunchKernelEx@11000'];
  const names = [...cases.map(([n]) => n), ...passed];
  const bare = procAddress(probe, names, { ...sim.env(null), LD_PRELOAD: '' });
  const ours = procAddress(probe, names, sim.env(led));
  const driver = join(SIMLIB, 'libcuda.so.1');
  for (const [i, [arg, want]] of cases.entries()) {
    const [b, o] = [bare[i], ours[i]];
    // the driver alone answers with its entry point of that variant...
    assert.deepEqual([b.result, b.status, b.object, b.symbol], [0, arg.endsWith('!v1') ? -1 : 0, driver, want], `bare ${arg}: ${JSON.stringify(b)}`);
    // ...and through the interposer with the interposer's wrapper of the same variant
    assert.equal(o.object, INTERPOSER, `${arg} is not the interposer's: ${JSON.stringify(o)}`);
    assert.equal(o.symbol, want, `${arg}: ${JSON.stringify(o)}`);
    assert.deepEqual([o.result, o.status], [b.result, b.status], `${arg}: result and symbolStatus as the driver set them`);
  }
  for (const [j, arg] of passed.entries()) {
    const [b, o] = [bare[cases.length + j], ours[cases.length + j]];
    assert.deepEqual(o, b, `${arg} passes through unchanged`);
  }
  assert.equal(bare[cases.length].object, driver, 'cuMemsetD8 is found');
  assert.deepEqual([bare[cases.length + 1].status, bare[cases.length + 1].object], [1, ''], 'cuNoSuchCall: SYMBOL_NOT_FOUND');
  assert.deepEqual([bare[cases.length + 2].status, bare[cases.length + 2].object], [2, ''], 'cuLaunchKernelEx@11000: VERSION_NOT_SUFFICIENT');
});

test('memory calls fetched through cuGetProcAddress are held to the limit and report it', { skip: skip ?? false }, async (t) => {
  const sim = makeSim(t);
  const led = await sim.ledger({ devices: [{ memoryBytes: 256 * MiB, computeShare: 1 }] });
  for (const perThread of [[], ['--per-thread']]) {
    const r = await gpuloadDone(['--entry', 'procaddress', ...perThread, '--alloc', '1G', '--chunk', '16M'], sim.env(led));
    assert.deepEqual([r.allocated_bytes, r.alloc_error, r.mem_total, r.mem_free], [256 * MiB, 'CUDA_ERROR_OUT_OF_MEMORY', 256 * MiB, 0]);
  }
});
