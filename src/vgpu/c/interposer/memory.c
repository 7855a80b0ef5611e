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
 *
 * The bytes stay reserved as long as the driver keeps the memory: a VMM
 * handle until it is released and its last mapping unmapped, a context's
 * allocations until the context is destroyed (or the primary one reset or
 * released for the last time), graph memory until its graph is destroyed.
 */
#define _GNU_SOURCE
#include <time.h>

#include "memory.h"

#define WAIT_STEP_NS 5000000ull /* re-check limit and usage every 5 ms */

static bool exiting(void)
{
	return __atomic_load_n(&gs.exiting, __ATOMIC_ACQUIRE);
}

/* container and slot move together; an exiting process reserves nothing */
static bool reserve(int ldev, uint64_t bytes)
{
	struct gs_usage_slot *s;
	bool ok = false;

	if (!gs_counting_begin())
		return false;
	s = gs_slot();
	if ((s || !exiting()) &&
	    gs_mem_reserve(&gs.use->dev[ldev], bytes, gs_mem_limit(ldev))) {
		if (s)
			gs_add(&s->dev[ldev].mem, bytes);
		ok = true;
	}
	gs_counting_end();
	return ok;
}

void gs_mem_release(int ldev, uint64_t bytes)
{
	struct gs_usage_slot *s;

	/* exiting: gs_fini folds the slot, these bytes with it */
	if (!gs_counting_begin())
		return;
	s = gs_slot();
	if (s || !exiting()) {
		if (s)
			gs_sub_clamp(&s->dev[ldev].mem, bytes);
		gs_sub_clamp(&gs.use->dev[ldev].mem_used, bytes);
	}
	gs_counting_end();
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
		if (exiting())
			break;
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
		gs_mem_release(ldev, bytes);
}


uint64_t gs_current_ctx(void)
{
	CUcontext c = NULL;

	GS_REAL(cuCtxGetCurrent, &c);
	return (uint64_t)(uintptr_t)c;
}

CUresult gs_mem_admit(int ldev, uint64_t bytes)
{
	CUresult r = gs_mem_acquire(ldev, bytes);

	if (r != CUDA_SUCCESS || ldev < 0)
		return r;
	if (gs_map_prepare() != CUDA_SUCCESS) {
		gs_mem_release(ldev, bytes);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	return CUDA_SUCCESS;
}

CUresult gs_mem_done(CUresult r, int kind, uint64_t key, int ldev,
		    uint64_t bytes, uint64_t owner)
{
	if (ldev < 0)
		return r;
	if (r != CUDA_SUCCESS) {
		gs_map_cancel();
		gs_mem_release(ldev, bytes);
	} else {
		gs_map_put(kind, key, bytes, ldev, owner);
	}
	return r;
}

CUresult gs_mem_freed(CUresult r, int kind, uint64_t key)
{
	uint64_t bytes;
	int ldev;

	if (r == CUDA_SUCCESS && gs_map_take(kind, key, &bytes, &ldev))
		gs_mem_release(ldev, bytes);
	return r;
}

void gs_mem_release_each(const uint64_t bytes[GS_LEDGER_MAX_DEVICES])
{
	for (int d = 0; d < GS_LEDGER_MAX_DEVICES; d++)
		if (bytes[d])
			gs_mem_release(d, bytes[d]);
}

void gs_mem_drop_owner(int kind, uint64_t owner)
{
	uint64_t bytes[GS_LEDGER_MAX_DEVICES] = { 0 };

	if (gs_map_drop_owner(kind, owner, bytes))
		gs_mem_release_each(bytes);
}

GS_EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
	ALLOC(cuMemAlloc_v2, GS_ALLOC_PTR, *dptr, gs_current_dev(), bytesize,
	      gs_current_ctx(), dptr, bytesize);
}

GS_EXPORT CUresult cuMemAlloc(CUdeviceptr_v1 *dptr, unsigned int bytesize)
{
	ALLOC(cuMemAlloc, GS_ALLOC_PTR, *dptr, gs_current_dev(), bytesize,
	      gs_current_ctx(), dptr, bytesize);
}

GS_EXPORT CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize,
				     unsigned int flags)
{
	/* counted as device memory: it lands there when the GPU touches it */
	ALLOC(cuMemAllocManaged, GS_ALLOC_PTR, *dptr, gs_current_dev(),
	      bytesize, gs_current_ctx(), dptr, bytesize, flags);
}

/*
 * Pitch: the driver pads each row to an alignment only it knows.  We reserve
 * rows rounded up to 512 bytes (the pitch alignment of every NVIDIA GPU so
 * far), then settle on pitch x height once the driver answered: the surplus
 * is released, a shortfall reserved, and if that fails the allocation is
 * freed again and refused.  The limit is never passed, not even briefly.
 */
static CUresult settle_pitch(CUresult r, int ldev, uint64_t guess,
			     uint64_t real, uint64_t ptr, bool v1)
{
	if (r != CUDA_SUCCESS || ldev < 0)
		return gs_mem_done(r, GS_ALLOC_PTR, ptr, ldev, guess, 0);
	if (real < guess) {
		gs_mem_release(ldev, guess - real);
	} else if (real > guess &&
		   gs_mem_acquire(ldev, real - guess) != CUDA_SUCCESS) {
		if (v1)
			GS_REAL(cuMemFree, (CUdeviceptr_v1)ptr);
		else
			GS_REAL(cuMemFree_v2, ptr);
		return gs_mem_done(CUDA_ERROR_OUT_OF_MEMORY, GS_ALLOC_PTR, 0, ldev,
			    guess, 0);
	}
	return gs_mem_done(r, GS_ALLOC_PTR, ptr, ldev, real, gs_current_ctx());
}

static uint64_t pitch_guess(uint64_t width, uint64_t height)
{
	return (width + 511) / 512 * 512 * height;
}

GS_EXPORT CUresult cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pPitch,
				      size_t WidthInBytes, size_t Height,
				      unsigned int ElementSizeBytes)
{
	uint64_t guess = pitch_guess(WidthInBytes, Height);
	CUresult r;
	int ldev;

	if (!gs_enforcing())
		return GS_REAL(cuMemAllocPitch_v2, dptr, pPitch, WidthInBytes,
			       Height, ElementSizeBytes);
	ldev = gs_current_dev();
	r = gs_mem_admit(ldev, guess);
	if (r != CUDA_SUCCESS)
		return r;
	r = GS_REAL(cuMemAllocPitch_v2, dptr, pPitch, WidthInBytes, Height,
		    ElementSizeBytes);
	return settle_pitch(r, ldev, guess,
			    r == CUDA_SUCCESS ? (uint64_t)*pPitch * Height : 0,
			    r == CUDA_SUCCESS ? *dptr : 0, false);
}

GS_EXPORT CUresult cuMemAllocPitch(CUdeviceptr_v1 *dptr, unsigned int *pPitch,
				   unsigned int WidthInBytes,
				   unsigned int Height,
				   unsigned int ElementSizeBytes)
{
	uint64_t guess = pitch_guess(WidthInBytes, Height);
	CUresult r;
	int ldev;

	if (!gs_enforcing())
		return GS_REAL(cuMemAllocPitch, dptr, pPitch, WidthInBytes,
			       Height, ElementSizeBytes);
	ldev = gs_current_dev();
	r = gs_mem_admit(ldev, guess);
	if (r != CUDA_SUCCESS)
		return r;
	r = GS_REAL(cuMemAllocPitch, dptr, pPitch, WidthInBytes, Height,
		    ElementSizeBytes);
	return settle_pitch(r, ldev, guess,
			    r == CUDA_SUCCESS ? (uint64_t)*pPitch * Height : 0,
			    r == CUDA_SUCCESS ? *dptr : 0, true);
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
