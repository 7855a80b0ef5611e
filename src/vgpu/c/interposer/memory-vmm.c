/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Virtual memory management (cuMemCreate): the bytes are the driver's from
 * creation until the handle is released and its last mapping unmapped.
 */
#include "memory.h"

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
		gs_mem_release(ldev, bytes);
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

/* one call may unmap several mappings laid side by side (a range striped
 * over a handle per device): every one of them goes */
GS_EXPORT CUresult cuMemUnmap(CUdeviceptr ptr, size_t size)
{
	uint64_t bytes[GS_LEDGER_MAX_DEVICES] = { 0 };
	CUresult r = GS_REAL(cuMemUnmap, ptr, size);

	if (r == CUDA_SUCCESS && gs_enforcing() &&
	    gs_map_unmap_range(ptr, ptr + (size ? size : 1), bytes))
		gs_mem_release_each(bytes);
	return r;
}
