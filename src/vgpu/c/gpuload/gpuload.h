/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gpuload: the workload of gpuslice's tests, demo and benchmarks.  It
 * allocates device memory through a chosen allocation call, launches a
 * kernel that spins for a chosen time, and reports what happened.
 */
#ifndef GPULOAD_H
#define GPULOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "gs_cuda.h"

/*
 * The driver calls gpuload makes: (field, exported symbol, the base name
 * cuGetProcAddress takes).  The same table serves the three ways of
 * reaching the driver, so each mode makes exactly the same calls.
 */
#define GL_DRIVER_CALLS(X)                                                   \
	X(Init, cuInit, "cuInit")                                            \
	X(GetErrorName, cuGetErrorName, "cuGetErrorName")                    \
	X(DeviceGet, cuDeviceGet, "cuDeviceGet")                             \
	X(PrimaryCtxRetain, cuDevicePrimaryCtxRetain,                        \
	  "cuDevicePrimaryCtxRetain")                                        \
	X(PrimaryCtxRelease, cuDevicePrimaryCtxRelease_v2,                   \
	  "cuDevicePrimaryCtxRelease")                                       \
	X(CtxSetCurrent, cuCtxSetCurrent, "cuCtxSetCurrent")                 \
	X(CtxSynchronize, cuCtxSynchronize, "cuCtxSynchronize")              \
	X(MemGetInfo, cuMemGetInfo_v2, "cuMemGetInfo")                       \
	X(MemAlloc, cuMemAlloc_v2, "cuMemAlloc")                             \
	X(MemAllocPitch, cuMemAllocPitch_v2, "cuMemAllocPitch")              \
	X(MemAllocManaged, cuMemAllocManaged, "cuMemAllocManaged")           \
	X(MemFree, cuMemFree_v2, "cuMemFree")                                \
	X(MemAllocAsync, cuMemAllocAsync, "cuMemAllocAsync")                 \
	X(MemFreeAsync, cuMemFreeAsync, "cuMemFreeAsync")                    \
	X(MemAllocFromPoolAsync, cuMemAllocFromPoolAsync,                    \
	  "cuMemAllocFromPoolAsync")                                         \
	X(MemPoolCreate, cuMemPoolCreate, "cuMemPoolCreate")                 \
	X(MemPoolDestroy, cuMemPoolDestroy, "cuMemPoolDestroy")              \
	X(MemGetAllocationGranularity, cuMemGetAllocationGranularity,        \
	  "cuMemGetAllocationGranularity")                                   \
	X(MemCreate, cuMemCreate, "cuMemCreate")                             \
	X(MemRelease, cuMemRelease, "cuMemRelease")                          \
	X(MemAddressReserve, cuMemAddressReserve, "cuMemAddressReserve")     \
	X(MemAddressFree, cuMemAddressFree, "cuMemAddressFree")              \
	X(MemMap, cuMemMap, "cuMemMap")                                      \
	X(MemUnmap, cuMemUnmap, "cuMemUnmap")                                \
	X(MemSetAccess, cuMemSetAccess, "cuMemSetAccess")                    \
	X(ArrayCreate, cuArrayCreate_v2, "cuArrayCreate")                    \
	X(ArrayDestroy, cuArrayDestroy, "cuArrayDestroy")                    \
	X(ModuleLoadData, cuModuleLoadData, "cuModuleLoadData")              \
	X(ModuleGetFunction, cuModuleGetFunction, "cuModuleGetFunction")     \
	X(ModuleUnload, cuModuleUnload, "cuModuleUnload")                    \
	X(LaunchKernel, cuLaunchKernel, "cuLaunchKernel")                    \
	X(LaunchKernelEx, cuLaunchKernelEx, "cuLaunchKernelEx")              \
	X(LaunchCooperativeKernel, cuLaunchCooperativeKernel,                \
	  "cuLaunchCooperativeKernel")                                       \
	X(StreamCreate, cuStreamCreate, "cuStreamCreate")                    \
	X(StreamDestroy, cuStreamDestroy_v2, "cuStreamDestroy")              \
	X(StreamSynchronize, cuStreamSynchronize, "cuStreamSynchronize")     \
	X(StreamBeginCapture, cuStreamBeginCapture_v2, "cuStreamBeginCapture") \
	X(StreamEndCapture, cuStreamEndCapture, "cuStreamEndCapture")        \
	X(GraphInstantiate, cuGraphInstantiateWithFlags,                     \
	  "cuGraphInstantiateWithFlags")                                     \
	X(GraphLaunch, cuGraphLaunch, "cuGraphLaunch")                       \
	X(GraphExecDestroy, cuGraphExecDestroy, "cuGraphExecDestroy")        \
	X(GraphDestroy, cuGraphDestroy, "cuGraphDestroy")                    \
	X(CtxDestroy, cuCtxDestroy_v2, "cuCtxDestroy")                       \
	X(PrimaryCtxReset, cuDevicePrimaryCtxReset_v2,                       \
	  "cuDevicePrimaryCtxReset")                                         \
	X(MipmappedArrayCreate, cuMipmappedArrayCreate,                      \
	  "cuMipmappedArrayCreate")                                          \
	X(MipmappedArrayDestroy, cuMipmappedArrayDestroy,                    \
	  "cuMipmappedArrayDestroy")                                         \
	X(GraphAddMemAllocNode, cuGraphAddMemAllocNode,                      \
	  "cuGraphAddMemAllocNode")

/* calls whose ABI cuGetProcAddress hands out only for an older version */
#define GL_DRIVER_CALLS_AT(X)                                                \
	X(CtxCreate, cuCtxCreate_v2, "cuCtxCreate", 3020)                    \
	X(ArrayCreateV1, cuArrayCreate, "cuArrayCreate", 2000)               \
	X(Array3DCreateV1, cuArray3DCreate, "cuArray3DCreate", 2000)         \
	X(MemAllocPitchV1, cuMemAllocPitch, "cuMemAllocPitch", 2000)

struct gl_driver {
#define GL_FIELD(field, sym, base) typeof(&sym) field;
	GL_DRIVER_CALLS(GL_FIELD)
#undef GL_FIELD
#define GL_FIELD_AT(field, sym, base, ver) typeof(&sym) field;
	GL_DRIVER_CALLS_AT(GL_FIELD_AT)
#undef GL_FIELD_AT
};

enum gl_entry { GL_ENTRY_LINKED, GL_ENTRY_DLSYM, GL_ENTRY_PROCADDRESS };

enum gl_alloc_api {
	GL_ALLOC_MEM,
	GL_ALLOC_PITCH,
	GL_ALLOC_MANAGED,
	GL_ALLOC_ASYNC,
	GL_ALLOC_POOL,
	GL_ALLOC_CREATE,
	GL_ALLOC_ARRAY,
	GL_ALLOC_MIPMAP,
	GL_ALLOC_ARRAY_V1,
	GL_ALLOC_ARRAY3D_V1,
	GL_ALLOC_PITCH_V1,
	GL_ALLOC_GRAPH_NODE, /* cuGraphAddMemAllocNode */
	GL_ALLOC_CAPTURE, /* cuMemAllocAsync on a capturing stream */
};

enum gl_launch_api { GL_LAUNCH_KERNEL, GL_LAUNCH_EX, GL_LAUNCH_COOP,
		     GL_LAUNCH_GRAPH };

struct gl_options {
	int device;
	size_t alloc;
	size_t chunk;
	double kernel_us;
	long kernels; /* -1: not given */
	double duration_s; /* 0: not given */
	double hold_s;
	enum gl_entry entry;
	enum gl_alloc_api alloc_api;
	enum gl_launch_api launch_api;
	long capture; /* launches captured and discarded first */
	long distinct; /* distinct functions launched once first */
	long stale; /* short launches of a function unloaded first */
	bool noop; /* launch gs_noop instead of gs_spin */
	bool per_thread; /* ask cuGetProcAddress for _ptsz/_ptds */
	bool stream_sync;
	bool json;
	bool hold_thread; /* --hold in a thread; the main one exits */
	char **exec_argv; /* --exec-self, --exec: the new image's argv, or NULL */
	bool exec_other;  /* --exec: argv[0] is the program */
};

extern const char gl_spin_ptx[];

/* driver.c: fills d for the chosen entry mode; negative errno on failure */
int gl_driver_load(struct gl_driver *d, enum gl_entry entry,
		   bool per_thread);
const char *gl_err_name(const struct gl_driver *d, CUresult res);

/* alloc.c */
struct gl_allocs;
CUresult gl_alloc_all(const struct gl_driver *d,
		      const struct gl_options *o, CUstream stream,
		      struct gl_allocs **out, size_t *allocated);
void gl_free_all(const struct gl_driver *d, struct gl_allocs *a,
		 CUstream stream);

/* kernels.c: launches until the count or duration is reached */
CUresult gl_run_kernels(const struct gl_driver *d,
			const struct gl_options *o, CUstream stream,
			long *launched, double *elapsed_s);

/* prelude.c: what runs before the timed launches */
CUresult gl_capture_discard(const struct gl_driver *d, CUfunction fn,
			    CUstream s, void **params, long n);
CUresult gl_launch_distinct(const struct gl_driver *d, CUstream s, long n,
			    CUmodule *mod);
CUresult gl_stale_kernel(const struct gl_driver *d, CUstream s, long n,
			 CUfunction *was);
CUresult gl_stale_graph(const struct gl_driver *d, CUfunction fn, CUstream s,
			long n, CUgraphExec *was);

/* alloc.c: --alloc-api names, in enum gl_alloc_api order */
extern const char *const gl_alloc_api_names[];
extern const int gl_alloc_api_count;

/* scenario.c: gpuload --scenario NAME ..., one JSON line */
int gl_scenario(int argc, char **argv);

/* resolve.c: --resolve NAME[@VERSION][:ptds], prints one JSON line each */
int gl_resolve(int argc, char **argv);

int gl_parse_size(const char *s, size_t *out);

#endif /* GPULOAD_H */
