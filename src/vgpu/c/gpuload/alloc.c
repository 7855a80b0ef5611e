// SPDX-License-Identifier: Apache-2.0
/*
 * Allocates --alloc bytes in --chunk pieces through one of the driver's
 * allocation paths (--alloc-api), stopping at the first failure, and frees
 * them again.  The bytes counted are those the driver takes: the pitch
 * times the rows for pitched memory, the granularity-rounded size for
 * cuMemCreate, the element bytes for arrays (all levels of a mipmapped one).
 * Graph memory (graph-node, capture) belongs to one graph, made when the
 * allocations start and destroyed when they are freed; capture allocates
 * and frees on the capturing stream, so the graph both allocates and frees.
 */
#include <stdlib.h>
#include <string.h>

#include "gpuload.h"

#define PITCH_ROW 65536 /* bytes per row of a pitched chunk */
#define ARRAY_WIDTH 4096 /* float elements per row of an array chunk */
#define MIP_LEVELS 2

const char *const gl_alloc_api_names[] = {
	"mem",	      "pitch",	  "managed",  "async",	   "pool",
	"create",     "array",	  "mipmap",   "array-v1", "array3d-v1",
	"pitch-v1",   "graph-node", "capture",
};
const int gl_alloc_api_count =
	sizeof(gl_alloc_api_names) / sizeof(gl_alloc_api_names[0]);

struct gl_block {
	CUdeviceptr ptr;
	size_t size;
	CUmemGenericAllocationHandle handle;
	CUarray array;
	CUmipmappedArray mip;
};

struct gl_allocs {
	enum gl_alloc_api api;
	CUmemoryPool pool;
	CUgraph graph; /* graph-node; capture: once the capture ended */
	bool capturing;
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

/* float arrays of up to ARRAY_WIDTH columns: the rows, and the bytes */
static size_t array_shape(size_t want, size_t *width, size_t *height)
{
	*width = want / 4 < ARRAY_WIDTH ? (want + 3) / 4 : ARRAY_WIDTH;
	*height = want / (*width * 4);
	return *width * (*height ? *height : 1) * 4;
}

static CUresult alloc_legacy(const struct gl_driver *d, struct gl_allocs *a,
			     size_t want, struct gl_block *b)
{
	CUDA_ARRAY3D_DESCRIPTOR_v1 d3 = { .Format = CU_AD_FORMAT_FLOAT,
					  .NumChannels = 1 };
	CUDA_ARRAY_DESCRIPTOR_v1 d2 = { .Format = CU_AD_FORMAT_FLOAT,
					.NumChannels = 1 };
	unsigned int pitch = 0, width, rows;
	CUdeviceptr_v1 p = 0;
	size_t w, h;
	CUresult res;

	b->size = array_shape(want, &w, &h);
	d2.Width = d3.Width = (unsigned int)w;
	d2.Height = d3.Height = (unsigned int)h;
	switch (a->api) {
	case GL_ALLOC_ARRAY_V1:
		return d->ArrayCreateV1(&b->array, &d2);
	case GL_ALLOC_ARRAY3D_V1:
		return d->Array3DCreateV1(&b->array, &d3);
	default:
		width = want < PITCH_ROW ? (unsigned int)want : PITCH_ROW;
		rows = (unsigned int)(want / width);
		res = d->MemAllocPitchV1(&p, &pitch, width, rows, 4);
		b->ptr = p;
		b->size = (size_t)pitch * rows;
		return res;
	}
}

static CUresult alloc_graph(const struct gl_driver *d, struct gl_allocs *a,
			    int dev, size_t want, CUstream stream,
			    struct gl_block *b)
{
	CUDA_MEM_ALLOC_NODE_PARAMS p = {
		.poolProps = { .allocType = CU_MEM_ALLOCATION_TYPE_PINNED,
			       .location = { .type = CU_MEM_LOCATION_TYPE_DEVICE,
					     .id = dev } },
		.bytesize = want,
	};
	CUgraphNode node;
	CUresult res;

	if (a->api == GL_ALLOC_CAPTURE)
		return d->MemAllocAsync(&b->ptr, want, stream);
	res = d->GraphAddMemAllocNode(&node, a->graph, NULL, 0, &p);
	b->ptr = p.dptr;
	return res;
}

static CUresult alloc_one(const struct gl_driver *d, struct gl_allocs *a,
			  int dev, size_t want, CUstream stream,
			  struct gl_block *b)
{
	CUDA_ARRAY3D_DESCRIPTOR mip = { .Format = CU_AD_FORMAT_FLOAT,
					.NumChannels = 1 };
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
	case GL_ALLOC_MIPMAP:
		/* level 1 is half as wide and half as high */
		b->size = array_shape(want, &mip.Width, &mip.Height);
		width = mip.Width > 1 ? mip.Width / 2 : 1;
		rows = mip.Height > 1 ? mip.Height / 2 : mip.Height;
		b->size += width * (rows ? rows : 1) * 4;
		return d->MipmappedArrayCreate(&b->mip, &mip, MIP_LEVELS);
	case GL_ALLOC_ARRAY_V1:
	case GL_ALLOC_ARRAY3D_V1:
	case GL_ALLOC_PITCH_V1:
		return alloc_legacy(d, a, want, b);
	case GL_ALLOC_GRAPH_NODE:
	case GL_ALLOC_CAPTURE:
		return alloc_graph(d, a, dev, want, stream, b);
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
	if (a->api == GL_ALLOC_GRAPH_NODE || a->api == GL_ALLOC_CAPTURE) {
		res = d->StreamBeginCapture(stream,
					    CU_STREAM_CAPTURE_MODE_RELAXED);
		if (res)
			goto out;
		a->capturing = true;
	}
	if (a->api == GL_ALLOC_GRAPH_NODE) {
		/* an empty graph, the only kind the simulator can make */
		a->capturing = false;
		res = d->StreamEndCapture(stream, &a->graph);
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
		case GL_ALLOC_ARRAY_V1:
		case GL_ALLOC_ARRAY3D_V1:
			d->ArrayDestroy(b->array);
			break;
		case GL_ALLOC_MIPMAP:
			d->MipmappedArrayDestroy(b->mip);
			break;
		case GL_ALLOC_GRAPH_NODE:
			break; /* the graph's: freed with it */
		case GL_ALLOC_CAPTURE:
			d->MemFreeAsync(b->ptr, stream);
			break;
		default:
			d->MemFree(b->ptr);
		}
	}
	if (a->pool) {
		d->StreamSynchronize(stream);
		d->MemPoolDestroy(a->pool);
	}
	if (a->capturing)
		d->StreamEndCapture(stream, &a->graph);
	if (a->graph)
		d->GraphDestroy(a->graph);
	free(a->blocks);
	free(a);
}
