// SPDX-License-Identifier: Apache-2.0
/*
 * Virtual memory management (cuMemCreate, cuMemMap, ...) and arrays.
 * A physical allocation is a memfd of its size; mapping it maps the memfd
 * into a range reserved with cuMemAddressReserve.  As with the driver, the
 * memory stays taken until the handle is released and every mapping of it
 * is unmapped.  Arrays only take capacity: nothing addresses them here.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "simgpu.h"

struct sim_vmm_handle {
	uint32_t magic;
	int dev;
	uint64_t size;
	int fd;
	int refs; /* the handle itself, plus one per mapping */
};

#define VMM_MAGIC 0x564d4d31u

static pthread_mutex_t vmm_lock = PTHREAD_MUTEX_INITIALIZER;

static void handle_put(struct sim_vmm_handle *h)
{
	bool last;

	pthread_mutex_lock(&vmm_lock);
	last = --h->refs == 0;
	pthread_mutex_unlock(&vmm_lock);
	if (!last)
		return;
	sim_mem_release(sim.state, sim.slot, h->dev, h->size);
	close(h->fd);
	h->magic = 0;
	free(h);
}

SIM_EXPORT CUresult cuMemGetAllocationGranularity(
	size_t *granularity, const CUmemAllocationProp *prop,
	CUmemAllocationGranularity_flags option)
{
	(void)option;
	if (!granularity || !prop)
		return CUDA_ERROR_INVALID_VALUE;
	*granularity = SIM_VMM_GRANULARITY;
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuMemCreate(CUmemGenericAllocationHandle *handle,
				size_t size, const CUmemAllocationProp *prop,
				unsigned long long flags)
{
	struct sim_vmm_handle *h = NULL;
	CUresult res = sim_check_init();
	int dev;

	if (res)
		goto out;
	res = CUDA_ERROR_INVALID_VALUE;
	if (!handle || !prop || flags || !size ||
	    size % SIM_VMM_GRANULARITY ||
	    prop->type != CU_MEM_ALLOCATION_TYPE_PINNED ||
	    prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE)
		goto out;
	/* location.id is a CUDA ordinal, as every CUdevice */
	res = sim_device(prop->location.id, &dev);
	if (res)
		goto out;
	h = calloc(1, sizeof(*h));
	if (!h) {
		res = CUDA_ERROR_OUT_OF_MEMORY;
		goto out;
	}
	if (sim_mem_reserve(sim.state, sim.slot, dev, size)) {
		res = CUDA_ERROR_OUT_OF_MEMORY;
		goto out_free;
	}
	h->fd = memfd_create("simgpu-vmm", MFD_CLOEXEC);
	if (h->fd < 0 || ftruncate(h->fd, (off_t)size)) {
		res = CUDA_ERROR_OUT_OF_MEMORY;
		goto out_release;
	}
	h->magic = VMM_MAGIC;
	h->dev = dev;
	h->size = size;
	h->refs = 1;
	*handle = (CUmemGenericAllocationHandle)(uintptr_t)h;
	return CUDA_SUCCESS;
out_release:
	if (h->fd >= 0)
		close(h->fd);
	sim_mem_release(sim.state, sim.slot, dev, size);
out_free:
	free(h);
out:
	return res;
}

static struct sim_vmm_handle *handle_of(CUmemGenericAllocationHandle handle)
{
	struct sim_vmm_handle *h = (void *)(uintptr_t)handle;

	return h && h->magic == VMM_MAGIC ? h : NULL;
}

SIM_EXPORT CUresult cuMemRelease(CUmemGenericAllocationHandle handle)
{
	struct sim_vmm_handle *h = handle_of(handle);

	if (!h)
		return CUDA_ERROR_INVALID_VALUE;
	handle_put(h);
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuMemAddressReserve(CUdeviceptr *ptr, size_t size,
					size_t alignment, CUdeviceptr addr,
					unsigned long long flags)
{
	struct sim_alloc_entry *e;
	uintptr_t base, aligned;
	size_t span;
	void *p;

	(void)flags;
	if (!ptr || !size || size % SIM_VMM_GRANULARITY)
		return CUDA_ERROR_INVALID_VALUE;
	if (!alignment)
		alignment = SIM_VMM_GRANULARITY;
	span = size + alignment;
	p = mmap((void *)(uintptr_t)addr, span, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return CUDA_ERROR_OUT_OF_MEMORY;
	base = (uintptr_t)p;
	aligned = (base + alignment - 1) / alignment * alignment;
	if (aligned > base)
		munmap(p, aligned - base);
	if (base + span > aligned + size)
		munmap((void *)(aligned + size), base + span - aligned - size);
	e = calloc(1, sizeof(*e));
	if (!e) {
		munmap((void *)aligned, size);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	e->ptr = aligned;
	e->len = size;
	e->kind = SIM_ALLOC_VA;
	sim_table_insert(e);
	*ptr = aligned;
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size)
{
	struct sim_alloc_entry *e = sim_table_remove(ptr, SIM_ALLOC_VA);

	if (!e)
		return CUDA_ERROR_INVALID_VALUE;
	munmap((void *)(uintptr_t)ptr, size ? size : e->len);
	free(e);
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset,
			     CUmemGenericAllocationHandle handle,
			     unsigned long long flags)
{
	struct sim_vmm_handle *h = handle_of(handle);
	struct sim_alloc_entry *e;
	void *p;

	if (!h || flags || !size || offset + size > h->size)
		return CUDA_ERROR_INVALID_VALUE;
	e = calloc(1, sizeof(*e));
	if (!e)
		return CUDA_ERROR_OUT_OF_MEMORY;
	p = mmap((void *)(uintptr_t)ptr, size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, h->fd, (off_t)offset);
	if (p == MAP_FAILED) {
		free(e);
		return CUDA_ERROR_INVALID_VALUE;
	}
	pthread_mutex_lock(&vmm_lock);
	h->refs++;
	pthread_mutex_unlock(&vmm_lock);
	e->ptr = ptr;
	e->len = size;
	e->dev = h->dev;
	e->kind = SIM_ALLOC_MAPPED;
	e->handle = h;
	sim_table_insert(e);
	return CUDA_SUCCESS;
}

/*
 * One call may unmap several mappings laid side by side, as NVIDIA's
 * multi-device samples do with a range striped over a handle per device;
 * the range must start and end on mapping boundaries.
 */
SIM_EXPORT CUresult cuMemUnmap(CUdeviceptr ptr, size_t size)
{
	CUdeviceptr p, base, end;
	struct sim_alloc_entry *e;
	size_t len;

	if (!sim_table_range(ptr, &base, &len) || base != ptr)
		return CUDA_ERROR_INVALID_VALUE;
	end = ptr + (size ? size : len);
	for (p = ptr; p < end; p += len)
		if (!sim_table_range(p, &base, &len) || base != p ||
		    p + len > end)
			return CUDA_ERROR_INVALID_VALUE;
	for (p = ptr; p < end; p += len) {
		e = sim_table_remove(p, SIM_ALLOC_MAPPED);
		if (!e)
			return CUDA_ERROR_INVALID_VALUE;
		len = e->len;
		/* back to a reservation: the range stays ours until AddressFree */
		mmap((void *)(uintptr_t)p, len, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1,
		     0);
		handle_put(e->handle);
		free(e);
	}
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuMemSetAccess(CUdeviceptr ptr, size_t size,
				   const CUmemAccessDesc *desc, size_t count)
{
	if (!desc || !count)
		return CUDA_ERROR_INVALID_VALUE;
	return sim_table_covers(ptr, size) ? CUDA_SUCCESS :
					     CUDA_ERROR_INVALID_VALUE;
}

static unsigned int format_bytes(CUarray_format f)
{
	switch (f) {
	case CU_AD_FORMAT_UNSIGNED_INT8:
	case CU_AD_FORMAT_SIGNED_INT8:
		return 1;
	case CU_AD_FORMAT_UNSIGNED_INT16:
	case CU_AD_FORMAT_SIGNED_INT16:
	case CU_AD_FORMAT_HALF:
		return 2;
	case CU_AD_FORMAT_UNSIGNED_INT32:
	case CU_AD_FORMAT_SIGNED_INT32:
	case CU_AD_FORMAT_FLOAT:
		return 4;
	default:
		return 0;
	}
}

static CUresult array_new(CUarray *out, size_t w, size_t h, size_t d,
			  CUarray_format f, unsigned int channels)
{
	unsigned int elem = format_bytes(f);
	struct CUarray_st *a;
	struct CUctx_st *ctx;
	CUresult res = sim_current_ctx(&ctx);
	__uint128_t bytes;

	if (res)
		return res;
	if (!out || !w || !elem ||
	    (channels != 1 && channels != 2 && channels != 4))
		return CUDA_ERROR_INVALID_VALUE;
	bytes = (__uint128_t)w * (h ? h : 1) * (d ? d : 1) * elem * channels;
	if (bytes >> 63)
		return CUDA_ERROR_OUT_OF_MEMORY;
	a = calloc(1, sizeof(*a));
	if (!a)
		return CUDA_ERROR_OUT_OF_MEMORY;
	if (sim_mem_reserve(sim.state, sim.slot, ctx->dev, (uint64_t)bytes)) {
		free(a);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	a->magic = SIM_ARRAY_MAGIC;
	a->dev = ctx->dev;
	a->bytes = (uint64_t)bytes;
	*out = a;
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuArrayCreate_v2(CUarray *pHandle,
				     const CUDA_ARRAY_DESCRIPTOR *desc)
{
	if (!desc)
		return CUDA_ERROR_INVALID_VALUE;
	return array_new(pHandle, desc->Width, desc->Height, 0, desc->Format,
			 desc->NumChannels);
}

SIM_EXPORT CUresult cuArray3DCreate_v2(CUarray *pHandle,
				       const CUDA_ARRAY3D_DESCRIPTOR *desc)
{
	if (!desc)
		return CUDA_ERROR_INVALID_VALUE;
	return array_new(pHandle, desc->Width, desc->Height, desc->Depth,
			 desc->Format, desc->NumChannels);
}

SIM_EXPORT CUresult cuArrayCreate(CUarray *pHandle,
				  const CUDA_ARRAY_DESCRIPTOR_v1 *desc)
{
	if (!desc)
		return CUDA_ERROR_INVALID_VALUE;
	return array_new(pHandle, desc->Width, desc->Height, 0, desc->Format,
			 desc->NumChannels);
}

SIM_EXPORT CUresult cuArray3DCreate(CUarray *pHandle,
				    const CUDA_ARRAY3D_DESCRIPTOR_v1 *desc)
{
	if (!desc)
		return CUDA_ERROR_INVALID_VALUE;
	return array_new(pHandle, desc->Width, desc->Height, desc->Depth,
			 desc->Format, desc->NumChannels);
}

/* a mipmapped array: its levels, each half the last, as one array */
struct CUmipmappedArray_st {
	struct CUarray_st whole;
};

SIM_EXPORT CUresult cuMipmappedArrayCreate(CUmipmappedArray *pHandle,
					   const CUDA_ARRAY3D_DESCRIPTOR *desc,
					   unsigned int levels)
{
	size_t w, h, d, texels = 0;
	unsigned int l;
	CUarray a;
	CUresult res;

	if (!desc || !pHandle || !levels || levels > 32 || !desc->Width)
		return CUDA_ERROR_INVALID_VALUE;
	w = desc->Width;
	h = desc->Height;
	d = desc->Depth;
	for (l = 0; l < levels; l++) {
		texels += w * (h ? h : 1) * (d ? d : 1);
		w = w > 1 ? w / 2 : 1;
		h = h > 1 ? h / 2 : h;
		d = d > 1 ? d / 2 : d;
	}
	res = array_new(&a, texels, 0, 0, desc->Format, desc->NumChannels);
	if (!res)
		*pHandle = (CUmipmappedArray)a;
	return res;
}

SIM_EXPORT CUresult cuMipmappedArrayDestroy(CUmipmappedArray h)
{
	return cuArrayDestroy(h ? &h->whole : NULL);
}

SIM_EXPORT CUresult cuArrayDestroy(CUarray hArray)
{
	CUresult res = sim_check_init();

	if (res)
		return res;
	if (!hArray || hArray->magic != SIM_ARRAY_MAGIC)
		return CUDA_ERROR_INVALID_HANDLE;
	sim_mem_release(sim.state, sim.slot, hArray->dev, hArray->bytes);
	hArray->magic = 0;
	free(hArray);
	return CUDA_SUCCESS;
}
