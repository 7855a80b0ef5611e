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


static uint64_t current_ctx(void)
{
	CUcontext c = NULL;

	GS_REAL(cuCtxGetCurrent, &c);
	return (uint64_t)(uintptr_t)c;
}

/* reserve, and room in the map, before the driver is called */
static CUresult admit(int ldev, uint64_t bytes)
{
	CUresult r = gs_mem_acquire(ldev, bytes);

	if (r != CUDA_SUCCESS || ldev < 0)
		return r;
	if (gs_map_prepare() != CUDA_SUCCESS) {
		release(ldev, bytes);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	return CUDA_SUCCESS;
}

/* after the driver answered: remember what to release, or give it back */
static CUresult done(CUresult r, int kind, uint64_t key, int ldev,
		     uint64_t bytes, uint64_t owner)
{
	if (ldev < 0)
		return r;
	if (r != CUDA_SUCCESS) {
		gs_map_cancel();
		release(ldev, bytes);
	} else {
		gs_map_put(kind, key, bytes, ldev, owner);
	}
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

/* what the driver frees with an owner (a context, a graph) */
static void drop_owner(int kind, uint64_t owner)
{
	uint64_t bytes[GS_LEDGER_MAX_DEVICES] = { 0 };

	if (!gs_map_drop_owner(kind, owner, bytes))
		return;
	for (int d = 0; d < GS_LEDGER_MAX_DEVICES; d++)
		if (bytes[d])
			release(d, bytes[d]);
}

#define ALLOC(call, kind, keyexpr, ldevexpr, bytesexpr, ownerexpr, ...)     \
	do {                                                                 \
		int ldev_;                                                   \
		uint64_t bytes_ = (bytesexpr), owner_;                       \
		CUresult r_;                                                 \
		if (!gs_enforcing())                                         \
			return GS_REAL(call, __VA_ARGS__);                   \
		ldev_ = (ldevexpr);                                          \
		owner_ = (ownerexpr);                                        \
		r_ = admit(ldev_, bytes_);                                   \
		if (r_ != CUDA_SUCCESS)                                      \
			return r_;                                           \
		r_ = GS_REAL(call, __VA_ARGS__);                             \
		return done(r_, kind, r_ == CUDA_SUCCESS ? (keyexpr) : 0,    \
			    ldev_, bytes_, owner_);                          \
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
	      current_ctx(), dptr, bytesize);
}

GS_EXPORT CUresult cuMemAlloc(CUdeviceptr_v1 *dptr, unsigned int bytesize)
{
	ALLOC(cuMemAlloc, GS_ALLOC_PTR, *dptr, gs_current_dev(), bytesize,
	      current_ctx(), dptr, bytesize);
}

GS_EXPORT CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize,
				     unsigned int flags)
{
	/* counted as device memory: it lands there when the GPU touches it */
	ALLOC(cuMemAllocManaged, GS_ALLOC_PTR, *dptr, gs_current_dev(),
	      bytesize, current_ctx(), dptr, bytesize, flags);
}

/*
 * Stream-ordered allocations belong to the stream's device, not the
 * calling thread's: a stream of another context is asked for its context,
 * made current just long enough to ask for its device.  The default
 * streams are the current context's.
 */
struct where {
	int ldev;
	int kind;
	uint64_t owner;
};

static struct where stream_where(CUstream s, bool ptsz)
{
	struct where w = { -1, GS_ALLOC_PTR, current_ctx() };
	CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_NONE;
	CUcontext sc = NULL, popped;
	CUgraph g = NULL;
	CUdevice dev;
	CUresult r;

	if (s && s != CU_STREAM_LEGACY && s != CU_STREAM_PER_THREAD &&
	    GS_REAL(cuStreamGetCtx, s, &sc) == CUDA_SUCCESS && sc &&
	    (uint64_t)(uintptr_t)sc != w.owner) {
		w.owner = (uint64_t)(uintptr_t)sc;
		if (GS_REAL(cuCtxPushCurrent_v2, sc) == CUDA_SUCCESS) {
			r = GS_REAL(cuCtxGetDevice, &dev);
			GS_REAL(cuCtxPopCurrent_v2, &popped);
			w.ldev = r == CUDA_SUCCESS ? gs_ledger_dev(dev) : -1;
		}
	} else {
		w.ldev = gs_current_dev();
	}
	/* captured: each launch of the graph allocates; it holds the memory */
	r = ptsz ? GS_REAL(cuStreamGetCaptureInfo_v2_ptsz, s, &st, NULL, &g,
			   NULL, NULL)
		 : GS_REAL(cuStreamGetCaptureInfo_v2, s, &st, NULL, &g, NULL,
			   NULL);
	if (r == CUDA_ERROR_NOT_FOUND) /* no _v2: the graph is unknown */
		r = ptsz ? GS_REAL(cuStreamIsCapturing_ptsz, s, &st)
			 : GS_REAL(cuStreamIsCapturing, s, &st);
	if (r == CUDA_SUCCESS && st != CU_STREAM_CAPTURE_STATUS_NONE) {
		w.kind = GS_ALLOC_GRAPH;
		w.owner = (uint64_t)(uintptr_t)g;
	}
	return w;
}

/* a pool's location, recorded when it was created; else the stream's */
static void pool_where(CUmemoryPool pool, struct where *w)
{
	uint64_t type;
	int ldev;

	if (gs_map_get(GS_ALLOC_POOL, (uint64_t)(uintptr_t)pool, &type, &ldev))
		w->ldev = type == CU_MEM_LOCATION_TYPE_DEVICE ? ldev : -1;
}

#define ALLOC_ASYNC(call, ptsz, pool, ...)                                  \
	do {                                                                 \
		struct where w_;                                             \
		CUresult r_;                                                 \
		if (!gs_enforcing())                                         \
			return GS_REAL(call, __VA_ARGS__);                   \
		w_ = stream_where(stream, ptsz);                             \
		if (pool)                                                    \
			pool_where(pool, &w_);                               \
		r_ = admit(w_.ldev, bytesize);                               \
		if (r_ != CUDA_SUCCESS)                                      \
			return r_;                                           \
		r_ = GS_REAL(call, __VA_ARGS__);                             \
		return done(r_, w_.kind, r_ == CUDA_SUCCESS ? *dptr : 0,     \
			    w_.ldev, bytesize, w_.owner);                    \
	} while (0)

GS_EXPORT CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize,
				   CUstream stream)
{
	ALLOC_ASYNC(cuMemAllocAsync, false, NULL, dptr, bytesize, stream);
}

GS_EXPORT CUresult cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize,
					CUstream stream)
{
	ALLOC_ASYNC(cuMemAllocAsync_ptsz, true, NULL, dptr, bytesize, stream);
}

GS_EXPORT CUresult cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytesize,
					   CUmemoryPool pool, CUstream stream)
{
	ALLOC_ASYNC(cuMemAllocFromPoolAsync, false, pool, dptr, bytesize, pool,
		    stream);
}

GS_EXPORT CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr,
						size_t bytesize,
						CUmemoryPool pool,
						CUstream stream)
{
	ALLOC_ASYNC(cuMemAllocFromPoolAsync_ptsz, true, pool, dptr, bytesize,
		    pool, stream);
}

GS_EXPORT CUresult cuMemPoolCreate(CUmemoryPool *pool,
				   const CUmemPoolProps *props)
{
	bool room;
	CUresult r;

	if (!gs_enforcing() || !props)
		return GS_REAL(cuMemPoolCreate, pool, props);
	/* without room the pool goes unrecorded: its allocations then count
	 * on their stream's device, which is where most pools are */
	room = gs_map_prepare() == CUDA_SUCCESS;
	r = GS_REAL(cuMemPoolCreate, pool, props);
	if (room && r == CUDA_SUCCESS)
		gs_map_put(GS_ALLOC_POOL, (uint64_t)(uintptr_t)*pool,
			   props->location.type,
			   props->location.type == CU_MEM_LOCATION_TYPE_DEVICE
				   ? gs_ledger_dev(props->location.id)
				   : -1,
			   0);
	else if (room)
		gs_map_cancel();
	return r;
}

GS_EXPORT CUresult cuMemPoolDestroy(CUmemoryPool pool)
{
	CUresult r = GS_REAL(cuMemPoolDestroy, pool);
	uint64_t type;
	int ldev;

	if (r == CUDA_SUCCESS && gs_enforcing())
		gs_map_take(GS_ALLOC_POOL, (uint64_t)(uintptr_t)pool, &type,
			    &ldev);
	return r;
}

/* ---- VMM: the memory is the driver's until released and unmapped ---- */

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
	ALLOC(cuMemCreate, GS_ALLOC_HANDLE, *handle, prop_dev(prop), size, 0,
	      handle, size, prop, flags);
}

GS_EXPORT CUresult cuMemRelease(CUmemGenericAllocationHandle handle)
{
	CUresult r = GS_REAL(cuMemRelease, handle);
	uint64_t bytes;
	int ldev;

	if (r == CUDA_SUCCESS && gs_enforcing() &&
	    gs_map_handle_released(handle, &bytes, &ldev))
		release(ldev, bytes);
	return r;
}

GS_EXPORT CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset,
			    CUmemGenericAllocationHandle handle,
			    unsigned long long flags)
{
	uint64_t bytes;
	int ldev;
	CUresult r;

	if (!gs_enforcing() || !gs_map_get(GS_ALLOC_HANDLE, handle, &bytes,
					   &ldev))
		return GS_REAL(cuMemMap, ptr, size, offset, handle, flags);
	if (gs_map_prepare() != CUDA_SUCCESS)
		return CUDA_ERROR_OUT_OF_MEMORY;
	r = GS_REAL(cuMemMap, ptr, size, offset, handle, flags);
	if (r == CUDA_SUCCESS && gs_map_handle_mapped(handle))
		gs_map_put(GS_ALLOC_MAPPING, ptr, handle, -1, 0);
	else
		gs_map_cancel();
	return r;
}

GS_EXPORT CUresult cuMemUnmap(CUdeviceptr ptr, size_t size)
{
	CUresult r = GS_REAL(cuMemUnmap, ptr, size);
	uint64_t handle, bytes;
	int ldev;

	if (r == CUDA_SUCCESS && gs_enforcing() &&
	    gs_map_take(GS_ALLOC_MAPPING, ptr, &handle, &ldev) &&
	    gs_map_handle_unmapped(handle, &bytes, &ldev))
		release(ldev, bytes);
	return r;
}

/* ---- contexts: destroying one frees everything allocated in it ---- */

GS_EXPORT CUresult cuCtxDestroy_v2(CUcontext ctx)
{
	CUresult r = GS_REAL(cuCtxDestroy_v2, ctx);

	if (r == CUDA_SUCCESS && gs_enforcing())
		drop_owner(0, (uint64_t)(uintptr_t)ctx);
	return r;
}

GS_EXPORT CUresult cuCtxDestroy(CUcontext ctx)
{
	CUresult r = GS_REAL(cuCtxDestroy, ctx);

	if (r == CUDA_SUCCESS && gs_enforcing())
		drop_owner(0, (uint64_t)(uintptr_t)ctx);
	return r;
}

static bool primary_active(CUdevice dev)
{
	unsigned int flags;
	int active = 0;

	return GS_REAL(cuDevicePrimaryCtxGetState, dev, &flags, &active) ==
		       CUDA_SUCCESS &&
	       active;
}

/* the device's primary context if it exists (a retain would make one) */
static uint64_t primary_of(CUdevice dev)
{
	CUcontext c = NULL;

	if (!primary_active(dev) ||
	    GS_REAL(cuDevicePrimaryCtxRetain, &c, dev) != CUDA_SUCCESS)
		return 0;
	GS_REAL(cuDevicePrimaryCtxRelease_v2, dev);
	return (uint64_t)(uintptr_t)c;
}

enum primary_op { PRIMARY_RELEASE, PRIMARY_RELEASE_V1, PRIMARY_RESET,
		  PRIMARY_RESET_V1 };

/* the last release, or a reset, destroys the primary context */
static CUresult primary_done(CUdevice dev, enum primary_op op)
{
	uint64_t ctx;
	CUresult r;

	if (!gs_enforcing())
		ctx = 0;
	else
		ctx = primary_of(dev);
	switch (op) {
	case PRIMARY_RELEASE:
		r = GS_REAL(cuDevicePrimaryCtxRelease_v2, dev);
		break;
	case PRIMARY_RELEASE_V1:
		r = GS_REAL(cuDevicePrimaryCtxRelease, dev);
		break;
	case PRIMARY_RESET:
		r = GS_REAL(cuDevicePrimaryCtxReset_v2, dev);
		break;
	default:
		r = GS_REAL(cuDevicePrimaryCtxReset, dev);
	}
	if (r == CUDA_SUCCESS && ctx &&
	    (op == PRIMARY_RESET || op == PRIMARY_RESET_V1 ||
	     !primary_active(dev)))
		drop_owner(0, ctx);
	return r;
}

GS_EXPORT CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev)
{
	return primary_done(dev, PRIMARY_RELEASE);
}

GS_EXPORT CUresult cuDevicePrimaryCtxRelease(CUdevice dev)
{
	return primary_done(dev, PRIMARY_RELEASE_V1);
}

GS_EXPORT CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev)
{
	return primary_done(dev, PRIMARY_RESET);
}

GS_EXPORT CUresult cuDevicePrimaryCtxReset(CUdevice dev)
{
	return primary_done(dev, PRIMARY_RESET_V1);
}

/* ---- arrays ---- */

#define CUDA_ARRAY3D_LAYERED 0x01
#define CUDA_ARRAY3D_CUBEMAP 0x04
#define LARGEST_ELEMENT 16 /* four channels of four bytes */

static uint64_t element_bytes(CUarray_format f, unsigned int ch)
{
	uint64_t c = ch ? ch : 1;

	switch (f) {
	case CU_AD_FORMAT_UNSIGNED_INT8:
	case CU_AD_FORMAT_SIGNED_INT8:
		return c;
	case CU_AD_FORMAT_UNSIGNED_INT16:
	case CU_AD_FORMAT_SIGNED_INT16:
	case CU_AD_FORMAT_HALF:
		return 2 * c;
	case CU_AD_FORMAT_UNSIGNED_INT32:
	case CU_AD_FORMAT_SIGNED_INT32:
	case CU_AD_FORMAT_FLOAT:
		return 4 * c;
	default:
		/* packed, planar or compressed formats: never less than this */
		return LARGEST_ELEMENT;
	}
}

/* saturating: an absurd size must fail the limit, not wrap under it */
static uint64_t array_bytes(uint64_t w, uint64_t h, uint64_t d,
			    CUarray_format f, unsigned int ch)
{
	__uint128_t b = (__uint128_t)w * (h ? h : 1) * (d ? d : 1);

	b *= element_bytes(f, ch);
	return b >> 64 ? UINT64_MAX : (uint64_t)b;
}

static uint64_t mipmap_bytes(const CUDA_ARRAY3D_DESCRIPTOR *a,
			     unsigned int levels)
{
	bool layers = a->Flags & (CUDA_ARRAY3D_LAYERED | CUDA_ARRAY3D_CUBEMAP);
	uint64_t w = a->Width, h = a->Height, d = a->Depth, sum = 0, b;

	for (unsigned int l = 0; l < (levels ? levels : 1); l++) {
		b = array_bytes(w, h, d, a->Format, a->NumChannels);
		sum = sum + b < sum ? UINT64_MAX : sum + b;
		w = w > 1 ? w / 2 : 1;
		h = h > 1 ? h / 2 : h;
		if (!layers)
			d = d > 1 ? d / 2 : d;
	}
	return sum;
}

GS_EXPORT CUresult cuArrayCreate_v2(CUarray *pHandle,
				    const CUDA_ARRAY_DESCRIPTOR *a)
{
	ALLOC(cuArrayCreate_v2, GS_ALLOC_ARRAY, (uint64_t)(uintptr_t)*pHandle,
	      gs_current_dev(),
	      a ? array_bytes(a->Width, a->Height, 1, a->Format, a->NumChannels)
		: 0,
	      current_ctx(), pHandle, a);
}

GS_EXPORT CUresult cuArrayCreate(CUarray *pHandle,
				 const CUDA_ARRAY_DESCRIPTOR_v1 *a)
{
	ALLOC(cuArrayCreate, GS_ALLOC_ARRAY, (uint64_t)(uintptr_t)*pHandle,
	      gs_current_dev(),
	      a ? array_bytes(a->Width, a->Height, 1, a->Format, a->NumChannels)
		: 0,
	      current_ctx(), pHandle, a);
}

GS_EXPORT CUresult cuArray3DCreate_v2(CUarray *pHandle,
				      const CUDA_ARRAY3D_DESCRIPTOR *a)
{
	ALLOC(cuArray3DCreate_v2, GS_ALLOC_ARRAY,
	      (uint64_t)(uintptr_t)*pHandle, gs_current_dev(),
	      a ? array_bytes(a->Width, a->Height, a->Depth, a->Format,
			      a->NumChannels)
		: 0,
	      current_ctx(), pHandle, a);
}

GS_EXPORT CUresult cuArray3DCreate(CUarray *pHandle,
				   const CUDA_ARRAY3D_DESCRIPTOR_v1 *a)
{
	ALLOC(cuArray3DCreate, GS_ALLOC_ARRAY, (uint64_t)(uintptr_t)*pHandle,
	      gs_current_dev(),
	      a ? array_bytes(a->Width, a->Height, a->Depth, a->Format,
			      a->NumChannels)
		: 0,
	      current_ctx(), pHandle, a);
}

GS_EXPORT CUresult cuMipmappedArrayCreate(CUmipmappedArray *pHandle,
					  const CUDA_ARRAY3D_DESCRIPTOR *a,
					  unsigned int numMipmapLevels)
{
	ALLOC(cuMipmappedArrayCreate, GS_ALLOC_MIPMAP,
	      (uint64_t)(uintptr_t)*pHandle, gs_current_dev(),
	      a ? mipmap_bytes(a, numMipmapLevels) : 0, current_ctx(),
	      pHandle, a, numMipmapLevels);
}

GS_EXPORT CUresult cuMipmappedArrayDestroy(CUmipmappedArray hMipmappedArray)
{
	FREE(cuMipmappedArrayDestroy, GS_ALLOC_MIPMAP,
	     (uintptr_t)hMipmappedArray, hMipmappedArray);
}

GS_EXPORT CUresult cuArrayDestroy(CUarray hArray)
{
	FREE(cuArrayDestroy, GS_ALLOC_ARRAY, (uintptr_t)hArray, hArray);
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
		return done(r, GS_ALLOC_PTR, ptr, ldev, guess, 0);
	if (real < guess) {
		release(ldev, guess - real);
	} else if (real > guess &&
		   gs_mem_acquire(ldev, real - guess) != CUDA_SUCCESS) {
		if (v1)
			GS_REAL(cuMemFree, (CUdeviceptr_v1)ptr);
		else
			GS_REAL(cuMemFree_v2, ptr);
		return done(CUDA_ERROR_OUT_OF_MEMORY, GS_ALLOC_PTR, 0, ldev,
			    guess, 0);
	}
	return done(r, GS_ALLOC_PTR, ptr, ldev, real, current_ctx());
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
	r = admit(ldev, guess);
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
	r = admit(ldev, guess);
	if (r != CUDA_SUCCESS)
		return r;
	r = GS_REAL(cuMemAllocPitch, dptr, pPitch, WidthInBytes, Height,
		    ElementSizeBytes);
	return settle_pitch(r, ldev, guess,
			    r == CUDA_SUCCESS ? (uint64_t)*pPitch * Height : 0,
			    r == CUDA_SUCCESS ? *dptr : 0, true);
}

/*
 * Graph memory: a node's memory is allocated by the graph's launches and
 * kept for it by the driver, so it is reserved when the node is made
 * (cuGraphAddMemAllocNode, or cuMemAllocAsync on a capturing stream) and
 * released when the graph is destroyed.
 */
GS_EXPORT CUresult cuGraphAddMemAllocNode(CUgraphNode *phGraphNode,
					  CUgraph hGraph,
					  const CUgraphNode *dependencies,
					  size_t numDependencies,
					  CUDA_MEM_ALLOC_NODE_PARAMS *p)
{
	ALLOC(cuGraphAddMemAllocNode, GS_ALLOC_GRAPH, p->dptr,
	      p && p->poolProps.location.type == CU_MEM_LOCATION_TYPE_DEVICE
		      ? gs_ledger_dev(p->poolProps.location.id)
		      : -1,
	      p ? p->bytesize : 0, (uint64_t)(uintptr_t)hGraph, phGraphNode,
	      hGraph, dependencies, numDependencies, p);
}

GS_EXPORT CUresult cuGraphDestroy(CUgraph hGraph)
{
	CUresult r = GS_REAL(cuGraphDestroy, hGraph);

	if (r == CUDA_SUCCESS && gs_enforcing())
		drop_owner(GS_ALLOC_GRAPH, (uint64_t)(uintptr_t)hGraph);
	return r;
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
