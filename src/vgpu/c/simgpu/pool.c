// SPDX-License-Identifier: Apache-2.0
/*
 * Stream-ordered allocation and memory pools.  The simulator takes and
 * gives back device memory at the call, not when the stream reaches it:
 * a pool never caches freed memory (release threshold 0), so what a
 * process frees is at once free for the others.
 */
#include <stdlib.h>

#include "simgpu.h"

static CUresult stream_device(CUstream stream, int *dev,
			      struct CUctx_st **ctx)
{
	struct CUstream_st *s;
	CUresult res = sim_stream_resolve(stream, &s);

	if (!res) {
		*dev = s->ctx->dev;
		*ctx = s->ctx;
	}
	return res;
}

SIM_EXPORT CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize,
				    CUstream stream)
{
	struct CUctx_st *ctx;
	int dev;
	CUresult res = stream_device(stream, &dev, &ctx);

	return res ? res : sim_alloc(ctx, dev, bytesize, SIM_ALLOC_ASYNC, dptr);
}

SIM_EXPORT CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream stream)
{
	struct CUctx_st *ctx;
	int dev;
	CUresult res = stream_device(stream, &dev, &ctx);

	if (res)
		return res;
	/* HOST: what a pool in host memory gave out */
	return sim_free(dptr, 1u << SIM_ALLOC_ASYNC | 1u << SIM_ALLOC_MEM |
				      1u << SIM_ALLOC_HOST);
}

static bool pool_valid(CUmemoryPool pool)
{
	return pool && pool->magic == SIM_POOL_MAGIC;
}

SIM_EXPORT CUresult cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytesize,
					    CUmemoryPool pool,
					    CUstream stream)
{
	struct CUctx_st *ctx;
	int dev;
	CUresult res = stream_device(stream, &dev, &ctx);

	if (res)
		return res;
	if (!pool_valid(pool))
		return CUDA_ERROR_INVALID_VALUE;
	/* a pool in host memory (dev -1) gives pinned host memory */
	if (pool->dev < 0)
		return sim_alloc(NULL, 0, bytesize, SIM_ALLOC_HOST, dptr);
	return sim_alloc(ctx, pool->dev, bytesize, SIM_ALLOC_ASYNC, dptr);
}

SIM_EXPORT CUresult cuMemPoolCreate(CUmemoryPool *pool,
				    const CUmemPoolProps *props)
{
	struct CUmemPoolHandle_st *p;
	CUresult res = sim_check_init();
	int phys;

	if (res)
		return res;
	if (!pool || !props ||
	    props->allocType != CU_MEM_ALLOCATION_TYPE_PINNED ||
	    (props->location.type != CU_MEM_LOCATION_TYPE_DEVICE &&
	     props->location.type != CU_MEM_LOCATION_TYPE_HOST))
		return CUDA_ERROR_INVALID_VALUE;
	phys = -1;
	if (props->location.type == CU_MEM_LOCATION_TYPE_DEVICE)
		res = sim_device(props->location.id, &phys);
	if (res)
		return res;
	p = calloc(1, sizeof(*p));
	if (!p)
		return CUDA_ERROR_OUT_OF_MEMORY;
	p->magic = SIM_POOL_MAGIC;
	p->dev = phys;
	*pool = p;
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuMemPoolDestroy(CUmemoryPool pool)
{
	CUresult res = sim_check_init();

	if (res)
		return res;
	if (!pool_valid(pool) || pool->is_default)
		return CUDA_ERROR_INVALID_VALUE;
	pool->magic = 0;
	free(pool);
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuMemPoolTrimTo(CUmemoryPool pool, size_t minBytesToKeep)
{
	(void)minBytesToKeep;
	return pool_valid(pool) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

SIM_EXPORT CUresult cuDeviceGetDefaultMemPool(CUmemoryPool *pool, CUdevice dev)
{
	int phys;
	CUresult res = sim_device(dev, &phys);

	if (res)
		return res;
	if (!pool)
		return CUDA_ERROR_INVALID_VALUE;
	*pool = &sim.default_pool[phys];
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuDeviceGetMemPool(CUmemoryPool *pool, CUdevice dev)
{
	return cuDeviceGetDefaultMemPool(pool, dev);
}
