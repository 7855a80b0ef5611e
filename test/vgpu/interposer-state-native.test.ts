// The interposer among other native code: a second preloaded library that wraps a
// driver call with dlsym(RTLD_NEXT), and a process that exits while one of its threads
// still waits in the interposer. The small C programs are compiled here, in a temp dir.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readUsage, reclaimDeadSlots } from '../../src/vgpu/ledger.js';
import { INTERPOSER, MiB, REPO, SIMLIB, gpuloadDone, makeSim, missingBuild } from './interposer-harness.js';

const skip = missingBuild() ?? false;
const PRELOAD = process.env.GS_TEST_INTERPOSER ?? INTERPOSER;

function cc(dir: string, name: string, src: string, args: string[]): string {
  const c = join(dir, `${name}.c`);
  const out = join(dir, name);
  writeFileSync(c, src);
  execFileSync('cc', ['-O1', '-o', out, c, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  return out;
}

// wraps cuMemAlloc_v2 and forwards to the next definition, as profilers do
const LIBX = `#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stddef.h>
typedef int (*alloc_fn)(unsigned long long *, size_t);
static alloc_fn next;
static int impl(unsigned long long *p, size_t n) { return next ? next(p, n) : 999; }
int cuMemAlloc_v2(unsigned long long *p, size_t n) __attribute__((alias("impl")));
__attribute__((constructor)) static void init(void)
{
	Dl_info i = { 0 };
	next = (alloc_fn)dlsym(RTLD_NEXT, "cuMemAlloc_v2");
	if (next)
		dladdr((void *)next, &i);
	fprintf(stderr, "libx: next=%s self=%d\\n", i.dli_fname ? i.dli_fname : "(null)",
		(void *)next == (void *)impl);
}
`;

test('a library preloaded after us gets the next cuMemAlloc_v2 from dlsym(RTLD_NEXT), not itself', { skip }, async (t) => {
  const sim = makeSim(t);
  const led = await sim.ledger({ devices: [{ memoryBytes: 256 * MiB, computeShare: 1 }] });
  const libx = cc(sim.dir, 'libx.so', LIBX, ['-shared', '-fPIC', '-ldl']);
  const r = await gpuloadDone(['--alloc', '1G', '--chunk', '64M'], sim.env(led, { LD_PRELOAD: `${PRELOAD}:${libx}` }));
  const m = /libx: next=(\S+) self=(\d)/.exec(r.stderr);
  assert.ok(m, r.stderr);
  assert.equal(m[2], '0', `libx got itself back: ${m[0]}`);
  assert.match(m[1], /libgpuslice-vgpu|libcuda/);
  // and the application is still held to the limit
  assert.equal(r.allocated_bytes, 256 * MiB);
});

// a thread waits for memory (policy wait, 400 ms) while main exits at 150 ms
const EXITRACE = `#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include "gs_cuda.h"
static CUcontext ctx;
static void *waiter(void *a)
{
	CUdeviceptr p;
	(void)a;
	cuCtxSetCurrent(ctx);
	cuMemAlloc_v2(&p, 512ull << 20);
	return NULL;
}
int main(void)
{
	CUdevice dev;
	pthread_t t;
	if (cuInit(0) || cuDeviceGet(&dev, 0) || cuDevicePrimaryCtxRetain(&ctx, dev))
		return 1;
	pthread_create(&t, NULL, waiter, NULL);
	usleep(150000);
	exit(0);
}
`;
// preloaded after the interposer: its destructor runs after ours and keeps the
// process alive while the waiting thread times out
const SLOWFINI = `#include <unistd.h>
__attribute__((destructor)) static void slow(void) { usleep(600000); }
`;

test('a thread still waiting when its process exits leaves no stalled thread and no slot behind', { skip }, async (t) => {
  const sim = makeSim(t);
  const led = await sim.ledger({ devices: [{ memoryBytes: 256 * MiB, computeShare: 1, memoryPolicy: 'wait', waitTimeoutMs: 400 }] });
  const prog = cc(sim.dir, 'exitrace', EXITRACE, [`-I${join(REPO, 'src/vgpu/c/include')}`, `-L${SIMLIB}`, '-lcuda', '-lpthread']);
  const slow = cc(sim.dir, 'slowfini.so', SLOWFINI, ['-shared', '-fPIC']);
  execFileSync(prog, { env: sim.env(led, { LD_PRELOAD: `${PRELOAD}:${slow}` }), stdio: ['ignore', 'ignore', 'pipe'] });
  // the exit released the process's slot; nothing claimed one after it
  let u = await readUsage(led);
  assert.deepEqual(u.slots.map((s) => s.pid), [], 'a slot was claimed after the exit released ours');
  assert.equal(reclaimDeadSlots(led), 0);
  u = await readUsage(led);
  assert.equal(u.stall.stalledThreads, 0, 'a stalled thread stays counted for ever');
  assert.equal(u.stall.gpuThreads, 0);
  // the container is not stalled from now on: a new process sees no stall
  const r = await gpuloadDone(['--alloc', '64M'], sim.env(led));
  assert.equal(r.allocated_bytes, 64 * MiB);
  assert.equal((await readUsage(led)).stall.stalledThreads, 0);
});
