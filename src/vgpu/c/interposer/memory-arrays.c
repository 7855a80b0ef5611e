/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CUDA arrays: the driver lays them out its own way, so they are charged
 * width x height x depth x element size (summed over mipmap levels), never
 * less than the data they hold.
 */
#include "memory.h"

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
	      gs_current_ctx(), pHandle, a);
}

GS_EXPORT CUresult cuArrayCreate(CUarray *pHandle,
				 const CUDA_ARRAY_DESCRIPTOR_v1 *a)
{
	ALLOC(cuArrayCreate, GS_ALLOC_ARRAY, (uint64_t)(uintptr_t)*pHandle,
	      gs_current_dev(),
	      a ? array_bytes(a->Width, a->Height, 1, a->Format, a->NumChannels)
		: 0,
	      gs_current_ctx(), pHandle, a);
}

GS_EXPORT CUresult cuArray3DCreate_v2(CUarray *pHandle,
				      const CUDA_ARRAY3D_DESCRIPTOR *a)
{
	ALLOC(cuArray3DCreate_v2, GS_ALLOC_ARRAY,
	      (uint64_t)(uintptr_t)*pHandle, gs_current_dev(),
	      a ? array_bytes(a->Width, a->Height, a->Depth, a->Format,
			      a->NumChannels)
		: 0,
	      gs_current_ctx(), pHandle, a);
}

GS_EXPORT CUresult cuArray3DCreate(CUarray *pHandle,
				   const CUDA_ARRAY3D_DESCRIPTOR_v1 *a)
{
	ALLOC(cuArray3DCreate, GS_ALLOC_ARRAY, (uint64_t)(uintptr_t)*pHandle,
	      gs_current_dev(),
	      a ? array_bytes(a->Width, a->Height, a->Depth, a->Format,
			      a->NumChannels)
		: 0,
	      gs_current_ctx(), pHandle, a);
}

GS_EXPORT CUresult cuMipmappedArrayCreate(CUmipmappedArray *pHandle,
					  const CUDA_ARRAY3D_DESCRIPTOR *a,
					  unsigned int numMipmapLevels)
{
	ALLOC(cuMipmappedArrayCreate, GS_ALLOC_MIPMAP,
	      (uint64_t)(uintptr_t)*pHandle, gs_current_dev(),
	      a ? mipmap_bytes(a, numMipmapLevels) : 0, gs_current_ctx(),
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
