/* SPDX-License-Identifier: Apache-2.0 */
/* Stream-ordered allocations, memory pools, graph memory and captures. */
#include <string.h>

#include "memory.h"

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

/*
 * Captures that allocated, by stream: a capture that ends without a graph
 * (invalidated by an illegal call during it) takes its memory with it, and
 * the driver no longer names its graph by then.  Lock-free, so a fork or a
 * kill can leave nothing held; full, a capture goes untracked.
 */
#define CAPTURES 64
static struct {
	uint64_t stream; /* 0: free */
	uint64_t graph;
} captures[CAPTURES];

static void capture_seen(CUstream s, uint64_t graph)
{
	uint64_t key = (uint64_t)(uintptr_t)s, free_key;

	for (int i = 0; i < CAPTURES; i++)
		if (__atomic_load_n(&captures[i].stream, __ATOMIC_ACQUIRE) ==
		    key) {
			__atomic_store_n(&captures[i].graph, graph,
					 __ATOMIC_RELEASE);
			return;
		}
	for (int i = 0; i < CAPTURES; i++) {
		free_key = 0;
		if (__atomic_compare_exchange_n(&captures[i].stream, &free_key,
						key, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			__atomic_store_n(&captures[i].graph, graph,
					 __ATOMIC_RELEASE);
			return;
		}
	}
}

/* the graph a stream's capture allocated for, forgotten; 0: none known */
static uint64_t capture_take(CUstream s)
{
	uint64_t key = (uint64_t)(uintptr_t)s, g;

	for (int i = 0; i < CAPTURES; i++)
		if (__atomic_load_n(&captures[i].stream, __ATOMIC_ACQUIRE) ==
		    key) {
			g = __atomic_load_n(&captures[i].graph,
					    __ATOMIC_ACQUIRE);
			__atomic_store_n(&captures[i].stream, 0,
					 __ATOMIC_RELEASE);
			return g;
		}
	return 0;
}

void gs_capture_reset(void)
{
	memset(captures, 0, sizeof(captures));
}

static struct where stream_where(CUstream s, bool ptsz)
{
	struct where w = { -1, GS_ALLOC_PTR, gs_current_ctx() };
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
		if (g)
			capture_seen(s, w.owner);
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
		r_ = gs_mem_admit(w_.ldev, bytesize);                               \
		if (r_ != CUDA_SUCCESS)                                      \
			return r_;                                           \
		r_ = GS_REAL(call, __VA_ARGS__);                             \
		return gs_mem_done(r_, w_.kind, r_ == CUDA_SUCCESS ? *dptr : 0,     \
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

static CUstreamCaptureStatus capture_status(CUstream s, bool ptsz)
{
	CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_NONE;

	if ((ptsz ? GS_REAL(cuStreamIsCapturing_ptsz, s, &st)
		  : GS_REAL(cuStreamIsCapturing, s, &st)) != CUDA_SUCCESS)
		return CU_STREAM_CAPTURE_STATUS_NONE;
	return st;
}

/* after the driver's cuStreamEndCapture: a capture over without its graph
 * gives back what its memory nodes reserved */
static CUresult capture_ended(CUresult r, CUstream s, CUgraph *out,
			      bool ptsz)
{
	uint64_t g;

	if (!gs_enforcing() ||
	    (r != CUDA_SUCCESS &&
	     capture_status(s, ptsz) != CU_STREAM_CAPTURE_STATUS_NONE))
		return r; /* not ended: a call it refused */
	g = capture_take(s);
	if (g && (r != CUDA_SUCCESS || !out || !*out))
		gs_mem_drop_owner(GS_ALLOC_GRAPH, g);
	return r;
}

GS_EXPORT CUresult cuStreamEndCapture(CUstream hStream, CUgraph *phGraph)
{
	return capture_ended(GS_REAL(cuStreamEndCapture, hStream, phGraph),
			     hStream, phGraph, false);
}

GS_EXPORT CUresult cuStreamEndCapture_ptsz(CUstream hStream, CUgraph *phGraph)
{
	return capture_ended(GS_REAL(cuStreamEndCapture_ptsz, hStream, phGraph),
			     hStream, phGraph, true);
}

GS_EXPORT CUresult cuGraphDestroy(CUgraph hGraph)
{
	CUresult r = GS_REAL(cuGraphDestroy, hGraph);

	if (r == CUDA_SUCCESS && gs_enforcing())
		gs_mem_drop_owner(GS_ALLOC_GRAPH, (uint64_t)(uintptr_t)hGraph);
	return r;
}
