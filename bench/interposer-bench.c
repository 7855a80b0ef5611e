/* SPDX-License-Identifier: Apache-2.0 */
/*
 * build/interposer-bench: nanoseconds per driver call, for bench/interposer.sh
 * to run with and without LD_PRELOAD=libgpuslice-vgpu.so.
 *   launch      cuLaunchKernel of an empty kernel (simgpu: 0 ns of device time)
 *   alloc-free  cuMemAlloc_v2 + cuMemFree_v2 of 1 MiB
 * Prints one JSON line.  Linked against libcuda.so.1 (simgpu or NVIDIA's).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "gs_cuda.h"

/* valid PTX for a real GPU; simgpu reads gs_spin's parameter as its duration */
static const char ptx[] =
	".version 7.0\n.target sm_50\n.address_size 64\n"
	".visible .entry gs_spin(.param .u64 ns)\n{\n\tret;\n}\n";

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

#define CHECK(call)                                                          \
	do {                                                                 \
		CUresult r_ = (call);                                        \
		if (r_) {                                                    \
			fprintf(stderr, "%s: %d\n", #call, r_);              \
			exit(1);                                             \
		}                                                            \
	} while (0)

int main(int argc, char **argv)
{
	long launches = argc > 1 ? atol(argv[1]) : 200000;
	long allocs = argc > 2 ? atol(argv[2]) : 50000;
	unsigned long long ns = 0;
	void *params[] = { &ns };
	CUcontext ctx;
	CUmodule mod;
	CUfunction fn;
	CUdevice dev;
	CUdeviceptr p;
	double t0, launch_ns, alloc_ns;

	CHECK(cuInit(0));
	CHECK(cuDeviceGet(&dev, 0));
	CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
	CHECK(cuCtxSetCurrent(ctx));
	CHECK(cuModuleLoadData(&mod, ptx));
	CHECK(cuModuleGetFunction(&fn, mod, "gs_spin"));
	/* warm up: first-launch sampling, allocator caches */
	for (int i = 0; i < 1000; i++)
		CHECK(cuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, NULL, params, NULL));
	CHECK(cuCtxSynchronize());
	t0 = now_ns();
	for (long i = 0; i < launches; i++)
		CHECK(cuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, NULL, params, NULL));
	launch_ns = (now_ns() - t0) / (double)launches;
	CHECK(cuCtxSynchronize());
	for (int i = 0; i < 1000; i++) {
		CHECK(cuMemAlloc_v2(&p, 1 << 20));
		CHECK(cuMemFree_v2(p));
	}
	t0 = now_ns();
	for (long i = 0; i < allocs; i++) {
		CHECK(cuMemAlloc_v2(&p, 1 << 20));
		CHECK(cuMemFree_v2(p));
	}
	alloc_ns = (now_ns() - t0) / (double)allocs;
	printf("{\"launch_ns\":%.1f,\"alloc_free_ns\":%.1f}\n", launch_ns,
	       alloc_ns);
	return 0;
}
