/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the application is told about memory: the virtual GPU.  total is the
 * container's limit (never more than the device has), used what the
 * container's processes reserved, free = total - used, clamped at zero (the
 * limit may have shrunk under current use) and never more than the device
 * really has free, so frameworks that size caches from it never overcommit.
 */
#define _GNU_SOURCE
#include "vgpu.h"

struct view {
	uint64_t total, free, used;
};

/* real_* are the driver's answer; returns false where no limit applies */
static bool virtual_view(int ldev, uint64_t real_total, uint64_t real_free,
			 struct view *v)
{
	uint64_t limit;

	if (ldev < 0)
		return false;
	limit = gs_mem_limit(ldev);
	if (limit == GS_MEM_UNLIMITED)
		return false;
	v->total = limit < real_total ? limit : real_total;
	v->used = __atomic_load_n(&gs.use->dev[ldev].mem_used, __ATOMIC_RELAXED);
	v->free = v->used < v->total ? v->total - v->used : 0;
	if (v->free > real_free)
		v->free = real_free;
	return true;
}

GS_EXPORT CUresult cuMemGetInfo_v2(size_t *free, size_t *total)
{
	CUresult r = GS_REAL(cuMemGetInfo_v2, free, total);
	struct view v;

	if (r != CUDA_SUCCESS || !gs_enforcing() || !free || !total)
		return r;
	if (virtual_view(gs_current_dev(), *total, *free, &v)) {
		*total = v.total;
		*free = v.free;
	}
	return r;
}

static unsigned int clamp32(uint64_t v)
{
	return v > 0xffffffffull ? 0xffffffffu : (unsigned int)v;
}

GS_EXPORT CUresult cuMemGetInfo(unsigned int *free, unsigned int *total)
{
	size_t f, t;
	struct view v;
	CUresult r;

	if (!gs_enforcing() || !free || !total)
		return GS_REAL(cuMemGetInfo, free, total);
	r = GS_REAL(cuMemGetInfo_v2, &f, &t);
	if (r != CUDA_SUCCESS)
		return r;
	if (virtual_view(gs_current_dev(), t, f, &v)) {
		t = v.total;
		f = v.free;
	}
	*free = clamp32(f);
	*total = clamp32(t);
	return r;
}

GS_EXPORT CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
{
	CUresult r = GS_REAL(cuDeviceTotalMem_v2, bytes, dev);
	struct view v;

	if (r != CUDA_SUCCESS || !gs_enforcing() || !bytes)
		return r;
	if (virtual_view(gs_ledger_dev(dev), *bytes, *bytes, &v))
		*bytes = v.total;
	return r;
}

GS_EXPORT CUresult cuDeviceTotalMem(unsigned int *bytes, CUdevice dev)
{
	size_t b;
	CUresult r = GS_REAL(cuDeviceTotalMem_v2, &b, dev);
	struct view v;

	if (r != CUDA_SUCCESS || !bytes)
		return r;
	if (gs_enforcing() && virtual_view(gs_ledger_dev(dev), b, b, &v))
		b = v.total;
	*bytes = clamp32(b);
	return r;
}

/* NVML indexes devices as the driver does, ignoring CUDA_VISIBLE_DEVICES */
static int nvml_dev(nvmlDevice_t device)
{
	unsigned int idx;

	if (!gs_real.nvmlDeviceGetIndex ||
	    gs_real.nvmlDeviceGetIndex(device, &idx) != NVML_SUCCESS ||
	    idx >= GS_LEDGER_MAX_DEVICES)
		return -1;
	return (int)idx;
}

GS_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device,
					       nvmlMemory_t *memory)
{
	nvmlReturn_t r;
	struct view v;

	gs_real_nvml();
	if (!gs_real.nvmlDeviceGetMemoryInfo)
		return NVML_ERROR_FUNCTION_NOT_FOUND;
	r = gs_real.nvmlDeviceGetMemoryInfo(device, memory);
	if (r != NVML_SUCCESS || !memory || !gs_enforcing())
		return r;
	if (virtual_view(nvml_dev(device), memory->total, memory->free, &v)) {
		memory->total = v.total;
		memory->used = v.used;
		memory->free = v.free;
	}
	return r;
}

GS_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device,
						  nvmlMemory_v2_t *memory)
{
	nvmlReturn_t r;
	struct view v;

	gs_real_nvml();
	if (!gs_real.nvmlDeviceGetMemoryInfo_v2)
		return NVML_ERROR_FUNCTION_NOT_FOUND;
	r = gs_real.nvmlDeviceGetMemoryInfo_v2(device, memory);
	if (r != NVML_SUCCESS || !memory || !gs_enforcing())
		return r;
	if (virtual_view(nvml_dev(device), memory->total, memory->free, &v)) {
		memory->total = v.total;
		memory->reserved = 0;
		memory->used = v.used;
		memory->free = v.free;
	}
	return r;
}
