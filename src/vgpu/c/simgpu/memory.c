// SPDX-License-Identifier: Apache-2.0
/*
 * Linear device memory over host memory.  An allocation takes its bytes
 * from the device's capacity in the shared state first (so all processes
 * together never exceed it), then maps untouched anonymous memory that
 * costs the host nothing until a copy or memset writes to it.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "simgpu.h"

#define PITCH_ALIGN 512

/* MAP_32BIT: addresses a legacy 32-bit CUdeviceptr_v1 can hold */
#ifndef MAP_32BIT
#define MAP_32BIT 0
#endif

static CUresult alloc_mapped(struct CUctx_st *ctx, int dev, uint64_t bytes,
			     enum sim_alloc_kind kind, bool low32,
			     CUdeviceptr *out)
{
	bool device = kind != SIM_ALLOC_HOST;
	struct sim_alloc_entry *e;
	CUresult res = CUDA_SUCCESS;
	void *p;

	if (!out || !bytes)
		return CUDA_ERROR_INVALID_VALUE;
	e = calloc(1, sizeof(*e));
	if (!e)
		return CUDA_ERROR_OUT_OF_MEMORY;
	if (device && sim_mem_reserve(sim.state, sim.slot, dev, bytes)) {
		res = CUDA_ERROR_OUT_OF_MEMORY;
		goto out_free;
	}
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			 (low32 ? MAP_32BIT : 0),
		 -1, 0);
	if (p == MAP_FAILED) {
		res = CUDA_ERROR_OUT_OF_MEMORY;
		goto out_release;
	}
	if (low32 && (uintptr_t)p + bytes > UINT32_MAX) {
		munmap(p, bytes);
		res = CUDA_ERROR_OUT_OF_MEMORY;
		goto out_release;
	}
	e->ptr = (CUdeviceptr)(uintptr_t)p;
	e->len = bytes;
	e->accounted = device ? bytes : 0;
	e->dev = dev;
	e->kind = kind;
	e->ctx = ctx;
	sim_table_insert(e);
	*out = e->ptr;
	return CUDA_SUCCESS;
out_release:
	if (device)
		sim_mem_release(sim.state, sim.slot, dev, bytes);
out_free:
	free(e);
	return res;
}

CUresult sim_alloc(struct CUctx_st *ctx, int dev, uint64_t bytes,
		   enum sim_alloc_kind kind, CUdeviceptr *out)
{
	return alloc_mapped(ctx, dev, bytes, kind, false, out);
}

static void free_entry(struct sim_alloc_entry *e)
{
	munmap((void *)(uintptr_t)e->ptr, e->len);
	if (e->accounted)
		sim_mem_release(sim.state, sim.slot, e->dev, e->accounted);
	free(e);
}

void sim_free_ctx(struct CUctx_st *ctx)
{
	struct sim_alloc_entry *e, *next;

	for (e = sim_table_take_ctx(ctx); e; e = next) {
		next = e->next;
		free_entry(e);
	}
}

CUresult sim_free(CUdeviceptr ptr, unsigned int kinds)
{
	struct sim_alloc_entry *e = NULL;
	int k;

	for (k = 0; k <= SIM_ALLOC_MAPPED && !e; k++)
		if (kinds & 1u << k)
			e = sim_table_remove(ptr, k);
	if (!e)
		return CUDA_ERROR_INVALID_VALUE;
	free_entry(e);
	return CUDA_SUCCESS;
}

#define FREE_KINDS                                                       \
	(1u << SIM_ALLOC_MEM | 1u << SIM_ALLOC_MANAGED | 1u << SIM_ALLOC_ASYNC)

SIM_EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
	struct CUctx_st *ctx;
	CUresult res = sim_current_ctx(&ctx);

	return res ? res :
		     sim_alloc(ctx, ctx->dev, bytesize, SIM_ALLOC_MEM, dptr);
}

/* the pitch the device would use: rows start on 512-byte boundaries */
SIM_EXPORT CUresult cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pPitch,
				       size_t WidthInBytes, size_t Height,
				       unsigned int ElementSizeBytes)
{
	struct CUctx_st *ctx;
	CUresult res = sim_current_ctx(&ctx);
	size_t pitch;

	if (res)
		return res;
	if (!pPitch || !WidthInBytes || !Height ||
	    (ElementSizeBytes != 4 && ElementSizeBytes != 8 &&
	     ElementSizeBytes != 16))
		return CUDA_ERROR_INVALID_VALUE;
	pitch = (WidthInBytes + PITCH_ALIGN - 1) / PITCH_ALIGN * PITCH_ALIGN;
	if (Height > SIZE_MAX / pitch)
		return CUDA_ERROR_OUT_OF_MEMORY;
	res = sim_alloc(ctx, ctx->dev, pitch * Height, SIM_ALLOC_MEM, dptr);
	if (!res)
		*pPitch = pitch;
	return res;
}

/* the legacy 32-bit call: memory below 4 GiB, so the pointer fits */
SIM_EXPORT CUresult cuMemAllocPitch(CUdeviceptr_v1 *dptr, unsigned int *pPitch,
				    unsigned int WidthInBytes,
				    unsigned int Height,
				    unsigned int ElementSizeBytes)
{
	struct CUctx_st *ctx;
	CUresult res = sim_current_ctx(&ctx);
	CUdeviceptr p;
	uint64_t pitch;

	if (res)
		return res;
	if (!dptr || !pPitch || !WidthInBytes || !Height ||
	    (ElementSizeBytes != 4 && ElementSizeBytes != 8 &&
	     ElementSizeBytes != 16))
		return CUDA_ERROR_INVALID_VALUE;
	pitch = ((uint64_t)WidthInBytes + PITCH_ALIGN - 1) / PITCH_ALIGN *
		PITCH_ALIGN;
	res = alloc_mapped(ctx, ctx->dev, pitch * Height, SIM_ALLOC_MEM,
			   true, &p);
	if (!res) {
		*dptr = (CUdeviceptr_v1)p;
		*pPitch = (unsigned int)pitch;
	}
	return res;
}

SIM_EXPORT CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize,
				      unsigned int flags)
{
	struct CUctx_st *ctx;
	CUresult res = sim_current_ctx(&ctx);

	if (res)
		return res;
	if (flags != CU_MEM_ATTACH_GLOBAL && flags != CU_MEM_ATTACH_HOST)
		return CUDA_ERROR_INVALID_VALUE;
	/* managed memory lives on the device that touches it: count it there */
	return sim_alloc(ctx, ctx->dev, bytesize, SIM_ALLOC_MANAGED, dptr);
}

SIM_EXPORT CUresult cuMemFree_v2(CUdeviceptr dptr)
{
	CUresult res = sim_check_init();

	if (res || !dptr)
		return res;
	return sim_free(dptr, FREE_KINDS);
}

SIM_EXPORT CUresult cuMemAllocHost_v2(void **pp, size_t bytesize)
{
	CUdeviceptr p;
	CUresult res = sim_check_init();

	if (res)
		return res;
	if (!pp)
		return CUDA_ERROR_INVALID_VALUE;
	res = sim_alloc(NULL, 0, bytesize, SIM_ALLOC_HOST, &p);
	if (!res)
		*pp = (void *)(uintptr_t)p;
	return res;
}

SIM_EXPORT CUresult cuMemFreeHost(void *p)
{
	CUresult res = sim_check_init();

	return res ? res :
		     sim_free((CUdeviceptr)(uintptr_t)p, 1u << SIM_ALLOC_HOST);
}

SIM_EXPORT CUresult cuMemGetInfo_v2(size_t *free, size_t *total)
{
	struct CUctx_st *ctx;
	CUresult res = sim_current_ctx(&ctx);
	struct sim_dev *d;
	uint64_t cap, used;

	if (res)
		return res;
	if (!free || !total)
		return CUDA_ERROR_INVALID_VALUE;
	d = &sim.state->dev[ctx->dev];
	cap = __atomic_load_n(&d->capacity, __ATOMIC_RELAXED);
	used = __atomic_load_n(&d->used, __ATOMIC_RELAXED);
	*total = cap;
	*free = used < cap ? cap - used : 0;
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuMemGetAddressRange_v2(CUdeviceptr *pbase, size_t *psize,
					    CUdeviceptr dptr)
{
	CUdeviceptr base;
	size_t size;
	CUresult res = sim_check_init();

	if (res)
		return res;
	if (!sim_table_range(dptr, &base, &size))
		return CUDA_ERROR_NOT_FOUND;
	if (pbase)
		*pbase = base;
	if (psize)
		*psize = size;
	return CUDA_SUCCESS;
}

static CUresult check_ranges(CUdeviceptr dst, bool dst_dev, CUdeviceptr src,
			     bool src_dev, size_t bytes)
{
	CUresult res = sim_check_init();

	if (res)
		return res;
	if ((dst_dev && !sim_table_covers(dst, bytes)) ||
	    (src_dev && !sim_table_covers(src, bytes)))
		return CUDA_ERROR_INVALID_VALUE;
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src,
				    size_t bytes)
{
	CUresult res = check_ranges(dst, true, 0, false, bytes);

	if (!res)
		memcpy((void *)(uintptr_t)dst, src, bytes);
	return res;
}

SIM_EXPORT CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t bytes)
{
	CUresult res = check_ranges(0, false, src, true, bytes);

	if (!res)
		memcpy(dst, (void *)(uintptr_t)src, bytes);
	return res;
}

SIM_EXPORT CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src,
				    size_t bytes)
{
	CUresult res = check_ranges(dst, true, src, true, bytes);

	if (!res)
		memmove((void *)(uintptr_t)dst, (void *)(uintptr_t)src, bytes);
	return res;
}

SIM_EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src,
					 size_t bytes, CUstream stream)
{
	(void)stream;
	return cuMemcpyHtoD_v2(dst, src, bytes);
}

SIM_EXPORT CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src,
					 size_t bytes, CUstream stream)
{
	(void)stream;
	return cuMemcpyDtoH_v2(dst, src, bytes);
}

SIM_EXPORT CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char uc, size_t n)
{
	CUresult res = check_ranges(dst, true, 0, false, n);

	if (!res)
		memset((void *)(uintptr_t)dst, uc, n);
	return res;
}

SIM_EXPORT CUresult cuMemsetD32_v2(CUdeviceptr dst, unsigned int ui, size_t n)
{
	unsigned int *p = (unsigned int *)(uintptr_t)dst;
	CUresult res;
	size_t i;

	if (n > SIZE_MAX / 4)
		return CUDA_ERROR_INVALID_VALUE;
	res = check_ranges(dst, true, 0, false, n * 4);
	for (i = 0; !res && i < n; i++)
		p[i] = ui;
	return res;
}
