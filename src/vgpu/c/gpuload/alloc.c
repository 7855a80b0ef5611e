// SPDX-License-Identifier: Apache-2.0
/*
 * Allocates --alloc bytes in --chunk pieces through one of the driver's
 * allocation paths (--alloc-api), stopping at the first failure, and frees
 * them again.  The bytes counted are those the driver takes: the pitch
 * times the rows for pitched memory, the granularity-rounded size for
 * cuMemCreate, the element bytes for arrays.
 */
#include <stdlib.h>
#include <string.h>

#include "gpuload.h"

#define PITCH_ROW 65536 /* bytes per row of a pitched chunk */
#define ARRAY_WIDTH 4096 /* float elements per row of an array chunk */

struct gl_block {
	CUdeviceptr ptr;
	size_t size;
	CUmemGenericAllocationHandle handle;
	CUarray array;
};

struct gl_allocs {
	enum gl_alloc_api api;
	CUmemoryPool pool;
	size_t count, cap;
	struct gl_block *blocks;
};

static CUresult alloc_create(const struct gl_driver *d, int dev, size_t want,
			     struct gl_block *b)
{
	CUmemAllocationProp prop = {
		.type = CU_MEM_ALLOCATION_TYPE_PINNED,
		.location = { .type = CU_MEM_LOCATION_TYPE_DEVICE, .id = dev },
	};
	CUmemAccessDesc access = {
		.location = prop.location,
		.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE,
	};
	size_t gran = 0;
	CUresult res;

	res = d->MemGetAllocationGranularity(&gran, &prop,
					     CU_MEM_ALLOC_GRANULARITY_MINIMUM);
	if (res)
		goto out;
	b->size = (want + gran - 1) / gran * gran;
	res = d->MemCreate(&b->handle, b->size, &prop, 0);
	if (res)
		goto out;
	res = d->MemAddressReserve(&b->ptr, b->size, 0, 0, 0);
	if (res)
		goto out_release;
	res = d->MemMap(b->ptr, b->size, 0, b->handle, 0);
	if (res)
		goto out_free_va;
	res = d->MemSetAccess(b->ptr, b->size, &access, 1);
	if (!res)
		goto out;
	d->MemUnmap(b->ptr, b->size);
out_free_va:
	d->MemAddressFree(b->ptr, b->size);
out_release:
	d->MemRelease(b->handle);
out:
	return res;
}

static CUresult alloc_one(const struct gl_driver *d, struct gl_allocs *a,
			  int dev, size_t want, CUstream stream,
			  struct gl_block *b)
{
	CUDA_ARRAY_DESCRIPTOR desc;
	size_t pitch = 0, width, rows;
	CUresult res;

	memset(b, 0, sizeof(*b));
	b->size = want;
	switch (a->api) {
	case GL_ALLOC_MEM:
		return d->MemAlloc(&b->ptr, want);
	case GL_ALLOC_PITCH:
		width = want < PITCH_ROW ? want : PITCH_ROW;
		rows = want / width;
		res = d->MemAllocPitch(&b->ptr, &pitch, width, rows, 4);
		b->size = pitch * rows;
		return res;
	case GL_ALLOC_MANAGED:
		return d->MemAllocManaged(&b->ptr, want, CU_MEM_ATTACH_GLOBAL);
	case GL_ALLOC_ASYNC:
		return d->MemAllocAsync(&b->ptr, want, stream);
	case GL_ALLOC_POOL:
		return d->MemAllocFromPoolAsync(&b->ptr, want, a->pool, stream);
	case GL_ALLOC_CREATE:
		return alloc_create(d, dev, want, b);
	case GL_ALLOC_ARRAY:
		memset(&desc, 0, sizeof(desc));
		desc.Format = CU_AD_FORMAT_FLOAT;
		desc.NumChannels = 1;
		desc.Width = want / 4 < ARRAY_WIDTH ? (want + 3) / 4 :
						      ARRAY_WIDTH;
		desc.Height = want / (desc.Width * 4);
		b->size = desc.Width * (desc.Height ? desc.Height : 1) * 4;
		return d->ArrayCreate(&b->array, &desc);
	}
	return CUDA_ERROR_INVALID_VALUE;
}

CUresult gl_alloc_all(const struct gl_driver *d, const struct gl_options *o,
		      CUstream stream, struct gl_allocs **out,
		      size_t *allocated)
{
	CUmemPoolProps props = {
		.allocType = CU_MEM_ALLOCATION_TYPE_PINNED,
		.location = { .type = CU_MEM_LOCATION_TYPE_DEVICE,
			      .id = o->device },
	};
	struct gl_allocs *a = calloc(1, sizeof(*a));
	struct gl_block b, *grown;
	CUresult res = CUDA_SUCCESS;
	size_t want;

	*allocated = 0;
	*out = a;
	if (!a)
		return CUDA_ERROR_OUT_OF_MEMORY;
	a->api = o->alloc_api;
	if (a->api == GL_ALLOC_POOL) {
		res = d->MemPoolCreate(&a->pool, &props);
		if (res)
			goto out;
	}
	while (*allocated < o->alloc) {
		want = o->alloc - *allocated;
		if (o->chunk && want > o->chunk)
			want = o->chunk;
		res = alloc_one(d, a, o->device, want, stream, &b);
		if (res)
			break;
		if (a->count == a->cap) {
			a->cap = a->cap ? 2 * a->cap : 64;
			grown = realloc(a->blocks, a->cap * sizeof(*grown));
			if (!grown) {
				res = CUDA_ERROR_OUT_OF_MEMORY;
				break;
			}
			a->blocks = grown;
		}
		a->blocks[a->count++] = b;
		*allocated += b.size;
	}
out:
	return res;
}

void gl_free_all(const struct gl_driver *d, struct gl_allocs *a,
		 CUstream stream)
{
	struct gl_block *b;
	size_t i;

	if (!a)
		return;
	for (i = a->count; i-- > 0;) {
		b = &a->blocks[i];
		switch (a->api) {
		case GL_ALLOC_ASYNC:
		case GL_ALLOC_POOL:
			d->MemFreeAsync(b->ptr, stream);
			break;
		case GL_ALLOC_CREATE:
			d->MemUnmap(b->ptr, b->size);
			d->MemAddressFree(b->ptr, b->size);
			d->MemRelease(b->handle);
			break;
		case GL_ALLOC_ARRAY:
			d->ArrayDestroy(b->array);
			break;
		default:
			d->MemFree(b->ptr);
		}
	}
	if (a->pool) {
		d->StreamSynchronize(stream);
		d->MemPoolDestroy(a->pool);
	}
	free(a->blocks);
	free(a);
}
