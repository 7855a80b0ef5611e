/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Device memory: every allocation path reserves its bytes on the container's
 * per-device counter (one CAS, gs_mem_reserve) before the driver is called,
 * and gives them back if the driver fails; every free reaches the driver and
 * releases exactly what its allocation reserved.  Over the limit the call
 * fails with CUDA_ERROR_OUT_OF_MEMORY, or, with policy wait, the thread
 * sleeps (counted as stall) until the limit grows, memory is freed, or the
 * timeout passes.  Before failing, slots of dead processes are reclaimed, so
 * memory held by a killed process is never what makes an allocation fail.
 */
#define _GNU_SOURCE
#include <time.h>

#include "vgpu.h"

#define WAIT_STEP_NS 5000000ull /* re-check limit and usage every 5 ms */

static bool reserve(int ldev, uint64_t bytes)
{
	struct gs_usage_slot *s;

	if (!gs_mem_reserve(&gs.use->dev[ldev], bytes, gs_mem_limit(ldev)))
		return false;
	s = gs_slot();
	if (s)
		gs_add(&s->dev[ldev].mem, bytes);
	return true;
}

static void release(int ldev, uint64_t bytes)
{
	struct gs_usage_slot *s = gs_slot();

	if (s)
		gs_sub_clamp(&s->dev[ldev].mem, bytes);
	gs_sub_clamp(&gs.use->dev[ldev].mem_used, bytes);
}

static CUresult wait_for_room(int ldev, uint64_t bytes)
{
	struct gs_limits snap;
	uint64_t start = gs_now_ns(), now = start, timeout_ns;
	struct timespec step = { 0, WAIT_STEP_NS };
	bool ok = false;

	if (gs_limits_snapshot(gs.lim, &snap) < 0 ||
	    snap.dev[ldev].mem_policy != GS_POLICY_WAIT)
		return CUDA_ERROR_OUT_OF_MEMORY;
	timeout_ns = (uint64_t)snap.dev[ldev].wait_timeout_ms * 1000000ull;
	gs_stall_begin();
	while (now - start < timeout_ns) {
		nanosleep(&step, NULL);
		gs_maybe_reclaim(false);
		if (reserve(ldev, bytes)) {
			ok = true;
			break;
		}
		now = gs_now_ns();
		/* the daemon may switch the policy to fail meanwhile */
		if (__atomic_load_n(&gs.lim->dev[ldev].mem_policy,
				    __ATOMIC_RELAXED) != GS_POLICY_WAIT)
			break;
	}
	gs_stall_end(ldev, gs_now_ns() - start);
	return ok ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

CUresult gs_mem_acquire(int ldev, uint64_t bytes)
{
	if (ldev < 0)
		return CUDA_SUCCESS; /* no ledger entry: nothing to hold to */
	gs_thread_register();
	if (reserve(ldev, bytes))
		return CUDA_SUCCESS;
	gs_maybe_reclaim(true);
	if (reserve(ldev, bytes))
		return CUDA_SUCCESS;
	return wait_for_room(ldev, bytes);
}

void gs_mem_unacquire(int ldev, uint64_t bytes)
{
	if (ldev >= 0)
		release(ldev, bytes);
}

/* after the driver said yes: remember what to release on free */
static CUresult done(CUresult r, int kind, uint64_t key, int ldev,
		     uint64_t bytes)
{
	if (r != CUDA_SUCCESS)
		gs_mem_unacquire(ldev, bytes);
	else if (ldev >= 0)
		gs_map_put(kind, key, bytes, ldev);
	return r;
}

static CUresult freed(CUresult r, int kind, uint64_t key)
{
	uint64_t bytes;
	int ldev;

	if (r == CUDA_SUCCESS && gs_map_take(kind, key, &bytes, &ldev))
		release(ldev, bytes);
	return r;
}

#define ALLOC(call, kind, keyexpr, ldevexpr, bytesexpr, ...)                \
	do {                                                                 \
		int ldev_;                                                   \
		uint64_t bytes_ = (bytesexpr);                               \
		CUresult r_;                                                 \
		if (!gs_enforcing())                                         \
			return GS_REAL(call, __VA_ARGS__);                   \
		ldev_ = (ldevexpr);                                          \
		r_ = gs_mem_acquire(ldev_, bytes_);                          \
		if (r_ != CUDA_SUCCESS)                                      \
			return r_;                                           \
		r_ = GS_REAL(call, __VA_ARGS__);                             \
		return done(r_, kind, r_ == CUDA_SUCCESS ? (keyexpr) : 0,    \
			    ldev_, bytes_);                                  \
	} while (0)

#define FREE(call, kind, key, ...)                                          \
	do {                                                                 \
		CUresult r_ = GS_REAL(call, __VA_ARGS__);                    \
		if (!gs_enforcing())                                         \
			return r_;                                           \
		return freed(r_, kind, (uint64_t)(key));                     \
	} while (0)

GS_EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
	ALLOC(cuMemAlloc_v2, GS_ALLOC_PTR, *dptr, gs_current_dev(), bytesize,
	      dptr, bytesize);
}

GS_EXPORT CUresult cuMemAlloc(CUdeviceptr_v1 *dptr, unsigned int bytesize)
{
	ALLOC(cuMemAlloc, GS_ALLOC_PTR, *dptr, gs_current_dev(), bytesize,
	      dptr, bytesize);
}

GS_EXPORT CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize,
				     unsigned int flags)
{
	/* counted as device memory: it lands there when the GPU touches it */
	ALLOC(cuMemAllocManaged, GS_ALLOC_PTR, *dptr, gs_current_dev(),
	      bytesize, dptr, bytesize, flags);
}

GS_EXPORT CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize,
				   CUstream stream)
{
	ALLOC(cuMemAllocAsync, GS_ALLOC_PTR, *dptr, gs_current_dev(), bytesize,
	      dptr, bytesize, stream);
}

GS_EXPORT CUresult cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize,
					CUstream stream)
{
	ALLOC(cuMemAllocAsync_ptsz, GS_ALLOC_PTR, *dptr, gs_current_dev(),
	      bytesize, dptr, bytesize, stream);
}

GS_EXPORT CUresult cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytesize,
					   CUmemoryPool pool, CUstream stream)
{
	ALLOC(cuMemAllocFromPoolAsync, GS_ALLOC_PTR, *dptr, gs_current_dev(),
	      bytesize, dptr, bytesize, pool, stream);
}

GS_EXPORT CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr,
						size_t bytesize,
						CUmemoryPool pool,
						CUstream stream)
{
	ALLOC(cuMemAllocFromPoolAsync_ptsz, GS_ALLOC_PTR, *dptr,
	      gs_current_dev(), bytesize, dptr, bytesize, pool, stream);
}

static int prop_dev(const CUmemAllocationProp *prop)
{
	if (prop && prop->location.type == CU_MEM_LOCATION_TYPE_DEVICE)
		return gs_ledger_dev(prop->location.id);
	return -1; /* host memory: not the GPU's */
}

GS_EXPORT CUresult cuMemCreate(CUmemGenericAllocationHandle *handle,
			       size_t size, const CUmemAllocationProp *prop,
			       unsigned long long flags)
{
	ALLOC(cuMemCreate, GS_ALLOC_HANDLE, *handle, prop_dev(prop), size,
	      handle, size, prop, flags);
}

static uint64_t format_bytes(CUarray_format f)
{
	switch (f) {
	case CU_AD_FORMAT_UNSIGNED_INT16:
	case CU_AD_FORMAT_SIGNED_INT16:
	case CU_AD_FORMAT_HALF:
		return 2;
	case CU_AD_FORMAT_UNSIGNED_INT32:
	case CU_AD_FORMAT_SIGNED_INT32:
	case CU_AD_FORMAT_FLOAT:
		return 4;
	default:
		return 1;
	}
}

static uint64_t array_bytes(size_t w, size_t h, size_t d, CUarray_format f,
			    unsigned int ch)
{
	return (uint64_t)w * (h ? h : 1) * (d ? d : 1) * format_bytes(f) *
	       (ch ? ch : 1);
}

GS_EXPORT CUresult cuArrayCreate_v2(CUarray *pHandle,
				    const CUDA_ARRAY_DESCRIPTOR *a)
{
	ALLOC(cuArrayCreate_v2, GS_ALLOC_ARRAY, (uint64_t)(uintptr_t)*pHandle,
	      gs_current_dev(),
	      a ? array_bytes(a->Width, a->Height, 1, a->Format, a->NumChannels)
		: 0,
	      pHandle, a);
}

GS_EXPORT CUresult cuArray3DCreate_v2(CUarray *pHandle,
				      const CUDA_ARRAY3D_DESCRIPTOR *a)
{
	ALLOC(cuArray3DCreate_v2, GS_ALLOC_ARRAY,
	      (uint64_t)(uintptr_t)*pHandle, gs_current_dev(),
	      a ? array_bytes(a->Width, a->Height, a->Depth, a->Format,
			      a->NumChannels)
		: 0,
	      pHandle, a);
}

/*
 * Pitch: the driver pads each row to an alignment only it knows.  We reserve
 * rows rounded up to 512 bytes (the pitch alignment of every NVIDIA GPU so
 * far), then settle on pitch x height once the driver answered: the surplus
 * is released, a shortfall reserved, and if that fails the allocation is
 * freed again and refused.  The limit is never passed, not even briefly.
 */
GS_EXPORT CUresult cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pPitch,
				      size_t WidthInBytes, size_t Height,
				      unsigned int ElementSizeBytes)
{
	uint64_t guess = ((uint64_t)WidthInBytes + 511) / 512 * 512 * Height;
	uint64_t real;
	CUresult r;
	int ldev;

	if (!gs_enforcing())
		return GS_REAL(cuMemAllocPitch_v2, dptr, pPitch, WidthInBytes,
			       Height, ElementSizeBytes);
	ldev = gs_current_dev();
	r = gs_mem_acquire(ldev, guess);
	if (r != CUDA_SUCCESS)
		return r;
	r = GS_REAL(cuMemAllocPitch_v2, dptr, pPitch, WidthInBytes, Height,
		    ElementSizeBytes);
	if (r != CUDA_SUCCESS) {
		gs_mem_unacquire(ldev, guess);
		return r;
	}
	real = (uint64_t)*pPitch * Height;
	if (real < guess) {
		gs_mem_unacquire(ldev, guess - real);
	} else if (real > guess &&
		   gs_mem_acquire(ldev, real - guess) != CUDA_SUCCESS) {
		GS_REAL(cuMemFree_v2, *dptr);
		gs_mem_unacquire(ldev, guess);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	return done(r, GS_ALLOC_PTR, *dptr, ldev, real);
}

GS_EXPORT CUresult cuMemFree_v2(CUdeviceptr dptr)
{
	FREE(cuMemFree_v2, GS_ALLOC_PTR, dptr, dptr);
}

GS_EXPORT CUresult cuMemFree(CUdeviceptr_v1 dptr)
{
	FREE(cuMemFree, GS_ALLOC_PTR, dptr, dptr);
}

GS_EXPORT CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream stream)
{
	FREE(cuMemFreeAsync, GS_ALLOC_PTR, dptr, dptr, stream);
}

GS_EXPORT CUresult cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream stream)
{
	FREE(cuMemFreeAsync_ptsz, GS_ALLOC_PTR, dptr, dptr, stream);
}

GS_EXPORT CUresult cuMemRelease(CUmemGenericAllocationHandle handle)
{
	FREE(cuMemRelease, GS_ALLOC_HANDLE, handle, handle);
}

GS_EXPORT CUresult cuArrayDestroy(CUarray hArray)
{
	FREE(cuArrayDestroy, GS_ALLOC_ARRAY, (uintptr_t)hArray, hArray);
}
