// simgpu behind the real BPF device gate on cgroup v2: a container given only
// simulated GPU 0 (its node SIMGPU_DIR/dev/nvidia0, char 195:0) cannot create a
// context on GPU 1 — the gate answers EPERM on 195:1 and simgpu turns that into
// CUDA_ERROR_NO_DEVICE — and still allocates on GPU 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { need } from '../helpers/capabilities.js';
import { parseDeviceRule, type DenialEvent } from '../../src/bpf/index.js';
import { makeCgroup, openGate } from '../bpf/helpers.js';
import { GiB, gpuload, makeSimGpu } from './simgpu-helpers.js';
import { sleep } from './launch-helpers.js';

// the shell joins the cgroup first, so gpuload is gated from its first instruction
const inCgroup = (cg: string) => ({ wrap: (argv: string[]) => ['sh', '-c', 'echo 0 > "$0/cgroup.procs" && exec "$@"', cg, ...argv] });

test('a cgroup gated to simulated GPU 0: GPU 1 gives CUDA_ERROR_NO_DEVICE, GPU 0 allocates', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const sg = await makeSimGpu(t, { count: 2, memoryBytes: GiB });
  const cg = makeCgroup(t);
  const { gate } = await openGate(t);
  const events: DenialEvent[] = [];
  gate.onDenial((ev) => events.push(ev));
  await gate.apply(cg.path, cg.id, { mode: 'gpu-only', rules: [parseDeviceRule('c 195:0 rw')], gpuMajors: [195] });

  // outside the cgroup both devices work: what follows is the gate's doing
  const free = await gpuload(t, sg, ['--device', '1', '--alloc', '1M', '--json']);
  assert.equal(free.code, 0, free.stderr);

  const denied = await gpuload(t, sg, ['--device', '1', '--alloc', '1M', '--json'], inCgroup(cg.path));
  assert.equal(denied.code, 1, `gpuload on the denied device: ${denied.stdout}${denied.stderr}`);
  assert.match(denied.stderr, /Operation not permitted/);
  assert.match(denied.stderr, /CUDA_ERROR_NO_DEVICE/);
  assert.equal(denied.report, undefined, 'no report: the context could not be made');

  const allowed = await gpuload(t, sg, ['--device', '0', '--alloc', '1M', '--json'], inCgroup(cg.path));
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.deepEqual([allowed.report!.device, allowed.report!.allocated_bytes, allowed.report!.alloc_error], [0, 2 ** 20, null]);

  // the kernel saw and counted the refusal of 195:1 in this cgroup, and nothing else
  gate.drainEvents();
  for (let i = 0; i < 100 && events.length === 0; i++) await sleep(10);
  assert.ok(events.length > 0, 'a denial event arrived');
  for (const e of events) assert.deepEqual([e.cgroupId, e.type, e.major, e.minor], [cg.id, 'c', 195, 1]);
  assert.ok(events.some((e) => e.comm === 'gpuload'));
  assert.equal(await gate.denialCount(cg.id), events.length);
});
