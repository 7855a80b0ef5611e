/* SPDX-License-Identifier: Apache-2.0 */
/* Internal interface of libgpuslice-vgpu.so (the interposer). */
#ifndef GS_VGPU_H
#define GS_VGPU_H

#include <stdbool.h>
#include <stdint.h>

#include "gs_cuda.h"
#include "ledger.h"

#define GS_EXPORT __attribute__((visibility("default")))
#define gs_unlikely(x) __builtin_expect(!!(x), 0)

/* log.c: one function, levels; never called on the hot path */
enum { GS_LOG_ERROR = 0, GS_LOG_WARN = 1, GS_LOG_INFO = 2, GS_LOG_DEBUG = 3 };
GS_HIDDEN void gs_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* locate.c: the ledger directory of this process, or -ENOENT */
GS_HIDDEN int gs_locate(char *dir, size_t len, char *looked, size_t llen);

/*
 * real.c: the driver's own entry points.  Each wrapped or used function has
 * a typed pointer in gs_real, filled from libcuda.so.1 / libnvidia-ml.so.1.
 */
#define GS_CUDA_WRAPPED(X)                                                  \
	X(cuMemAlloc_v2) X(cuMemAlloc) X(cuMemFree_v2) X(cuMemFree)          \
	X(cuMemAllocPitch_v2) X(cuMemAllocManaged) X(cuMemAllocAsync)        \
	X(cuMemAllocAsync_ptsz) X(cuMemFreeAsync) X(cuMemFreeAsync_ptsz)     \
	X(cuMemAllocFromPoolAsync) X(cuMemAllocFromPoolAsync_ptsz)           \
	X(cuMemCreate) X(cuMemRelease) X(cuArrayCreate_v2)                   \
	X(cuArray3DCreate_v2) X(cuArrayDestroy) X(cuMemGetInfo_v2)           \
	X(cuMemGetInfo) X(cuDeviceTotalMem_v2) X(cuDeviceTotalMem)           \
	X(cuLaunchKernel) X(cuLaunchKernel_ptsz) X(cuLaunchKernelEx)         \
	X(cuLaunchKernelEx_ptsz) X(cuLaunchCooperativeKernel)                \
	X(cuLaunchCooperativeKernel_ptsz) X(cuGraphLaunch)                   \
	X(cuGraphLaunch_ptsz) X(cuGetProcAddress) X(cuGetProcAddress_v2)    \
	X(cuModuleUnload) X(cuGraphExecDestroy)                              \
	GS_CUDA_WRAPPED_MEM(X)

/* memory*.c's: what frees or holds device memory besides alloc and free */
#define GS_CUDA_WRAPPED_MEM(X)                                              \
	X(cuMemMap) X(cuMemUnmap) X(cuMemPoolCreate) X(cuMemPoolDestroy)     \
	X(cuCtxDestroy_v2) X(cuCtxDestroy) X(cuDevicePrimaryCtxRelease_v2)   \
	X(cuDevicePrimaryCtxRelease) X(cuDevicePrimaryCtxReset_v2)           \
	X(cuDevicePrimaryCtxReset) X(cuMipmappedArrayCreate)                 \
	X(cuMipmappedArrayDestroy) X(cuArrayCreate) X(cuArray3DCreate)       \
	X(cuMemAllocPitch) X(cuGraphAddMemAllocNode) X(cuGraphDestroy)        \
	X(cuStreamEndCapture) X(cuStreamEndCapture_ptsz)

#define GS_CUDA_USED(X)                                                     \
	X(cuCtxGetDevice) X(cuCtxGetCurrent) X(cuEventCreate)                \
	X(cuEventRecord) X(cuEventRecord_ptsz) X(cuEventQuery)               \
	X(cuEventElapsedTime) X(cuEventDestroy_v2) X(cuStreamIsCapturing)    \
	X(cuStreamIsCapturing_ptsz) GS_CUDA_USED_MEM(X)

#define GS_CUDA_USED_MEM(X)                                                 \
	X(cuStreamGetCtx) X(cuCtxPushCurrent_v2) X(cuCtxPopCurrent_v2)       \
	X(cuDevicePrimaryCtxGetState) X(cuDevicePrimaryCtxRetain)            \
	X(cuStreamGetCaptureInfo_v2) X(cuStreamGetCaptureInfo_v2_ptsz)

#define GS_NVML_WRAPPED(X)                                                  \
	X(nvmlDeviceGetMemoryInfo) X(nvmlDeviceGetMemoryInfo_v2)

#define GS_NVML_USED(X) X(nvmlDeviceGetIndex)

#define GS_REAL_FIELD(name) typeof(&name) name;
struct gs_real {
	GS_CUDA_WRAPPED(GS_REAL_FIELD)
	GS_CUDA_USED(GS_REAL_FIELD)
	GS_NVML_WRAPPED(GS_REAL_FIELD)
	GS_NVML_USED(GS_REAL_FIELD)
};
GS_HIDDEN extern struct gs_real gs_real;
GS_HIDDEN void gs_real_cuda(void);
GS_HIDDEN void gs_real_nvml(void);
/* fork: 0 before (takes the load lock), 1 parent, 2 child (releases it) */
GS_HIDDEN void gs_real_fork(int phase);
/* our wrapper for a real entry point (or for its name), or NULL */
GS_HIDDEN void *gs_wrapper_for(const void *real_fn);
GS_HIDDEN void *gs_wrapper_named(const char *name);

GS_HIDDEN extern int gs_cuda_done;
static inline void gs_need_cuda(void)
{
	if (gs_unlikely(!__atomic_load_n(&gs_cuda_done, __ATOMIC_ACQUIRE)))
		gs_real_cuda();
}

/* the driver call, or CUDA_ERROR_NOT_FOUND where the driver lacks it */
#define GS_REAL(name, ...)                                                  \
	(gs_need_cuda(), gs_real.name ? gs_real.name(__VA_ARGS__)            \
				      : CUDA_ERROR_NOT_FOUND)

/* state.c: the process's view of its container */
struct gs_state {
	int active;                  /* a valid ledger is mapped */
	struct gs_limits *lim;
	struct gs_usage *use;
	int slot;                    /* -1: none (yet) */
	pid_t pid;
	uint64_t pidns;
	int nvis;                    /* CUDA_VISIBLE_DEVICES, as indices */
	int vis[GS_LEDGER_MAX_DEVICES];
	uint64_t last_reclaim_ns;
	int exiting;
	int counting;                /* threads inside gs_counting_begin/end */
};
GS_HIDDEN extern struct gs_state gs;
GS_HIDDEN void gs_init_slow(void);
GS_HIDDEN extern int gs_init_done;

/* enforcing: a ledger is in force for this process */
static inline bool gs_enforcing(void)
{
	if (gs_unlikely(!__atomic_load_n(&gs_init_done, __ATOMIC_ACQUIRE)))
		gs_init_slow();
	return gs.active && !gs.exiting;
}

/*
 * Around a change of this process's slot and the container's counters that
 * must not interleave with gs_fini folding the slot away: false once the
 * process is exiting (gs_fini then accounts for everything).
 */
GS_HIDDEN bool gs_counting_begin(void);
GS_HIDDEN void gs_counting_end(void);

/* the slot of this process (claimed on first use), or NULL */
GS_HIDDEN struct gs_usage_slot *gs_slot(void);
/* count the calling thread as one that uses the GPU (once per thread) */
GS_HIDDEN void gs_thread_register(void);
GS_HIDDEN void gs_stall_begin(void);
GS_HIDDEN void gs_stall_end(int ldev, uint64_t ns);
GS_HIDDEN void gs_maybe_reclaim(bool force);
/* ledger index of a CUDA ordinal (CUDA_VISIBLE_DEVICES remaps), or -1 */
GS_HIDDEN int gs_ledger_dev(CUdevice ordinal);
/* ledger index of the current context's device, or -1 */
GS_HIDDEN int gs_current_dev(void);
GS_HIDDEN uint64_t gs_mem_limit(int ldev);
GS_HIDDEN uint32_t gs_share_ppm(int ldev);
GS_HIDDEN uint32_t gs_period_us(void);

/*
 * allocmap.c: what this process reserved, by pointer, handle or array, and
 * the owner that frees it wholesale (a context, a graph).  A put needs room
 * prepared first, before the driver is called: it then cannot fail.
 */
enum gs_alloc_kind {
	GS_ALLOC_PTR = 1, GS_ALLOC_HANDLE = 2, GS_ALLOC_ARRAY = 3,
	GS_ALLOC_MIPMAP = 4, GS_ALLOC_GRAPH = 5, /* graph memory, by dptr */
	GS_ALLOC_MAPPING = 6, /* cuMemMap'd VA -> handle; reserves nothing */
	GS_ALLOC_POOL = 7, /* pool -> location; reserves nothing */
};
GS_HIDDEN CUresult gs_map_prepare(void);
GS_HIDDEN void gs_map_cancel(void);
GS_HIDDEN void gs_map_put(int kind, uint64_t key, uint64_t size, int ldev,
			  uint64_t owner);
GS_HIDDEN bool gs_map_take(int kind, uint64_t key, uint64_t *size, int *ldev);
GS_HIDDEN bool gs_map_get(int kind, uint64_t key, uint64_t *size, int *ldev);
/* a VMM handle's mappings: the bytes go when released and unmapped */
GS_HIDDEN bool gs_map_handle_mapped(uint64_t handle);
/* the mappings at VAs in [lo, hi) go; each released handle left with no
 * mapping adds its bytes to bytes[ldev]; returns how many handles went */
GS_HIDDEN int gs_map_unmap_range(uint64_t lo, uint64_t hi,
				 uint64_t bytes[GS_LEDGER_MAX_DEVICES]);
GS_HIDDEN bool gs_map_handle_released(uint64_t handle, uint64_t *size,
				      int *ldev);
/* forget every entry of `kind` (0: pointers and arrays) owned by `owner`,
 * adding their bytes to bytes[ldev]; returns how many */
GS_HIDDEN int gs_map_drop_owner(int kind, uint64_t owner,
				uint64_t bytes[GS_LEDGER_MAX_DEVICES]);
/* fork: 0 before (takes the lock), 1 parent, 2 child (a fresh lock) */
GS_HIDDEN void gs_map_fork(int phase);
/* the child of a fork owns none of the parent's allocations */
GS_HIDDEN void gs_map_reset(void);
/* memory-async.c: nor its captures */
GS_HIDDEN void gs_capture_reset(void);

/* memory.c (the steps all memory wrappers share are in memory.h) */
GS_HIDDEN CUresult gs_mem_acquire(int ldev, uint64_t bytes);
GS_HIDDEN void gs_mem_unacquire(int ldev, uint64_t bytes);

/* cost.c: GPU time per function or graph, sampled with CUDA events */
struct gs_fn;
/* share x control period, in ns */
GS_HIDDEN uint64_t gs_burst_ns(uint32_t ppm);
GS_HIDDEN struct gs_fn *gs_cost_fn(uint64_t key); /* never NULL: evicts */
/* what to charge a launch; *unmeasured: a bootstrap charge, refunded later */
GS_HIDDEN uint64_t gs_cost_of(struct gs_fn *fn, int ldev, bool *unmeasured);
GS_HIDDEN bool gs_cost_sample_due(struct gs_fn *fn); /* counts the launch */
GS_HIDDEN bool gs_cost_queue(struct gs_fn *fn, uint64_t key, CUevent start,
			     CUevent end);
/* paid: what pace() took from the bucket for it */
GS_HIDDEN void gs_cost_charged(struct gs_fn *fn, uint64_t key, int ldev,
			       uint64_t cost, uint64_t paid, bool unmeasured);
/* gives paid back to the bucket, never above one burst */
GS_HIDDEN void gs_cost_refund(int ldev, uint64_t paid);
GS_HIDDEN void gs_cost_poll(void);
GS_HIDDEN bool gs_cost_pending(void);
GS_HIDDEN void gs_cost_reset(void);

#endif
