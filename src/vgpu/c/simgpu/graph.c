// SPDX-License-Identifier: Apache-2.0
/*
 * Graphs, as stream capture makes them: kernels launched on a capturing
 * stream are recorded instead of run, and launching the instantiated graph
 * books their total device time on the timeline as one unit (the launch
 * counters grow by the number of kernels in it).
 */
#include <stdlib.h>
#include <sys/mman.h>

#include "simgpu.h"

SIM_EXPORT CUresult cuStreamBeginCapture_v2(CUstream hStream,
					    CUstreamCaptureMode mode)
{
	struct CUstream_st *s;
	struct CUgraph_st *g;
	CUresult res = sim_stream_resolve(hStream, &s);

	(void)mode;
	if (res)
		return res;
	/* the legacy default stream cannot be captured */
	if (s == &s->ctx->null_stream)
		return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
	g = calloc(1, sizeof(*g));
	if (!g)
		return CUDA_ERROR_OUT_OF_MEMORY;
	g->magic = SIM_GRAPH_MAGIC;
	g->dev = s->ctx->dev;
	pthread_mutex_lock(&s->lock);
	if (s->capture) {
		res = CUDA_ERROR_ILLEGAL_STATE;
		free(g);
	} else {
		s->capture = g;
	}
	pthread_mutex_unlock(&s->lock);
	return res;
}

SIM_EXPORT CUresult cuStreamEndCapture(CUstream hStream, CUgraph *phGraph)
{
	struct CUstream_st *s;
	CUresult res = sim_stream_resolve(hStream, &s);

	if (res)
		return res;
	if (!phGraph)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&s->lock);
	if (!s->capture) {
		res = CUDA_ERROR_ILLEGAL_STATE;
	} else if (s->capture->invalidated) {
		/* the capture ends, and its graph with it */
		free(s->capture);
		*phGraph = NULL;
		res = CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
	} else {
		*phGraph = s->capture;
	}
	if (s->capture)
		s->capture = NULL;
	pthread_mutex_unlock(&s->lock);
	return res;
}

static CUstreamCaptureStatus capture_status(const struct CUstream_st *s)
{
	if (!s->capture)
		return CU_STREAM_CAPTURE_STATUS_NONE;
	return s->capture->invalidated ? CU_STREAM_CAPTURE_STATUS_INVALIDATED :
					 CU_STREAM_CAPTURE_STATUS_ACTIVE;
}

SIM_EXPORT CUresult cuStreamIsCapturing(CUstream hStream,
					CUstreamCaptureStatus *captureStatus)
{
	struct CUstream_st *s;
	CUresult res = sim_stream_resolve(hStream, &s);

	if (res)
		return res;
	if (!captureStatus)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&s->lock);
	*captureStatus = capture_status(s);
	pthread_mutex_unlock(&s->lock);
	return CUDA_SUCCESS;
}

static CUresult capture_info(CUstream hStream, CUstreamCaptureStatus *st,
			     cuuint64_t *id, CUgraph *graph,
			     const CUgraphNode **deps, size_t *ndeps)
{
	struct CUstream_st *s;
	CUresult res = sim_stream_resolve(hStream, &s);

	if (res)
		return res;
	if (!st)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&s->lock);
	*st = capture_status(s);
	if (id)
		*id = (cuuint64_t)(uintptr_t)s->capture;
	/* the graph of an invalidated capture is not given out: callers must
	 * not count on it (the driver's documentation leaves it undefined) */
	if (graph)
		*graph = *st == CU_STREAM_CAPTURE_STATUS_ACTIVE ? s->capture :
								  NULL;
	pthread_mutex_unlock(&s->lock);
	if (deps)
		*deps = NULL;
	if (ndeps)
		*ndeps = 0;
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuStreamGetCaptureInfo_v2(
	CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
	cuuint64_t *id_out, CUgraph *graph_out,
	const CUgraphNode **dependencies_out, size_t *numDependencies_out)
{
	return capture_info(hStream, captureStatus_out, id_out, graph_out,
			    dependencies_out, numDependencies_out);
}

SIM_EXPORT CUresult cuStreamGetCaptureInfo_v2_ptsz(
	CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
	cuuint64_t *id_out, CUgraph *graph_out,
	const CUgraphNode **dependencies_out, size_t *numDependencies_out)
{
	return capture_info(hStream, captureStatus_out, id_out, graph_out,
			    dependencies_out, numDependencies_out);
}

/*
 * A memory node gets its address now; the simulator never backs it (its
 * memory is neither counted nor touched: graphs here only replay time).
 */
SIM_EXPORT CUresult cuGraphAddMemAllocNode(CUgraphNode *phGraphNode,
					   CUgraph hGraph,
					   const CUgraphNode *dependencies,
					   size_t numDependencies,
					   CUDA_MEM_ALLOC_NODE_PARAMS *p)
{
	static _Atomic uintptr_t next_node = 1;
	void *va;

	(void)dependencies;
	(void)numDependencies;
	if (!phGraphNode || !hGraph || hGraph->magic != SIM_GRAPH_MAGIC ||
	    !p || !p->bytesize ||
	    p->poolProps.location.type != CU_MEM_LOCATION_TYPE_DEVICE)
		return CUDA_ERROR_INVALID_VALUE;
	va = mmap(NULL, p->bytesize, PROT_NONE,
		  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (va == MAP_FAILED)
		return CUDA_ERROR_OUT_OF_MEMORY;
	p->dptr = (CUdeviceptr)(uintptr_t)va;
	*phGraphNode = (CUgraphNode)(next_node++ << 4);
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec,
						CUgraph hGraph,
						unsigned long long flags)
{
	struct CUgraphExec_st *x;
	CUresult res = sim_check_init();

	(void)flags;
	if (res)
		return res;
	if (!phGraphExec || !hGraph || hGraph->magic != SIM_GRAPH_MAGIC)
		return CUDA_ERROR_INVALID_VALUE;
	x = calloc(1, sizeof(*x));
	if (!x)
		return CUDA_ERROR_OUT_OF_MEMORY;
	x->magic = SIM_EXEC_MAGIC;
	x->dev = hGraph->dev;
	x->nodes = hGraph->nodes;
	x->dur_ns = hGraph->dur_ns;
	*phGraphExec = x;
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuGraphInstantiate_v2(CUgraphExec *phGraphExec,
					  CUgraph hGraph,
					  CUgraphNode *phErrorNode,
					  char *logBuffer, size_t bufferSize)
{
	if (phErrorNode)
		*phErrorNode = NULL;
	if (logBuffer && bufferSize)
		logBuffer[0] = '\0';
	return cuGraphInstantiateWithFlags(phGraphExec, hGraph, 0);
}

SIM_EXPORT CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream)
{
	struct CUstream_st *s;
	CUresult res = sim_stream_resolve(hStream, &s);

	if (res)
		return res;
	if (!hGraphExec || hGraphExec->magic != SIM_EXEC_MAGIC)
		return CUDA_ERROR_INVALID_VALUE;
	if (hGraphExec->dev != s->ctx->dev)
		return CUDA_ERROR_INVALID_CONTEXT;
	return sim_stream_submit(s, hGraphExec->dur_ns, hGraphExec->nodes);
}

SIM_EXPORT CUresult cuGraphExecDestroy(CUgraphExec hGraphExec)
{
	if (!hGraphExec || hGraphExec->magic != SIM_EXEC_MAGIC)
		return CUDA_ERROR_INVALID_VALUE;
	hGraphExec->magic = 0;
	free(hGraphExec);
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuGraphDestroy(CUgraph hGraph)
{
	if (!hGraph || hGraph->magic != SIM_GRAPH_MAGIC)
		return CUDA_ERROR_INVALID_VALUE;
	hGraph->magic = 0;
	free(hGraph);
	return CUDA_SUCCESS;
}
