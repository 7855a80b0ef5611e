/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Contexts: destroying one frees everything allocated in it, and the last
 * release (or a reset) of a primary context destroys it.
 */
#include "memory.h"

GS_EXPORT CUresult cuCtxDestroy_v2(CUcontext ctx)
{
	CUresult r = GS_REAL(cuCtxDestroy_v2, ctx);

	if (r == CUDA_SUCCESS && gs_enforcing())
		gs_mem_drop_owner(0, (uint64_t)(uintptr_t)ctx);
	return r;
}

GS_EXPORT CUresult cuCtxDestroy(CUcontext ctx)
{
	CUresult r = GS_REAL(cuCtxDestroy, ctx);

	if (r == CUDA_SUCCESS && gs_enforcing())
		gs_mem_drop_owner(0, (uint64_t)(uintptr_t)ctx);
	return r;
}

static bool primary_active(CUdevice dev)
{
	unsigned int flags;
	int active = 0;

	return GS_REAL(cuDevicePrimaryCtxGetState, dev, &flags, &active) ==
		       CUDA_SUCCESS &&
	       active;
}

/* the device's primary context if it exists (a retain would make one) */
static uint64_t primary_of(CUdevice dev)
{
	CUcontext c = NULL;

	if (!primary_active(dev) ||
	    GS_REAL(cuDevicePrimaryCtxRetain, &c, dev) != CUDA_SUCCESS)
		return 0;
	GS_REAL(cuDevicePrimaryCtxRelease_v2, dev);
	return (uint64_t)(uintptr_t)c;
}

enum primary_op { PRIMARY_RELEASE, PRIMARY_RELEASE_V1, PRIMARY_RESET,
		  PRIMARY_RESET_V1 };

/* the last release, or a reset, destroys the primary context */
static CUresult primary_done(CUdevice dev, enum primary_op op)
{
	uint64_t ctx;
	CUresult r;

	if (!gs_enforcing())
		ctx = 0;
	else
		ctx = primary_of(dev);
	switch (op) {
	case PRIMARY_RELEASE:
		r = GS_REAL(cuDevicePrimaryCtxRelease_v2, dev);
		break;
	case PRIMARY_RELEASE_V1:
		r = GS_REAL(cuDevicePrimaryCtxRelease, dev);
		break;
	case PRIMARY_RESET:
		r = GS_REAL(cuDevicePrimaryCtxReset_v2, dev);
		break;
	default:
		r = GS_REAL(cuDevicePrimaryCtxReset, dev);
	}
	if (r == CUDA_SUCCESS && ctx &&
	    (op == PRIMARY_RESET || op == PRIMARY_RESET_V1 ||
	     !primary_active(dev)))
		gs_mem_drop_owner(0, ctx);
	return r;
}

GS_EXPORT CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev)
{
	return primary_done(dev, PRIMARY_RELEASE);
}

GS_EXPORT CUresult cuDevicePrimaryCtxRelease(CUdevice dev)
{
	return primary_done(dev, PRIMARY_RELEASE_V1);
}

GS_EXPORT CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev)
{
	return primary_done(dev, PRIMARY_RESET);
}

GS_EXPORT CUresult cuDevicePrimaryCtxReset(CUdevice dev)
{
	return primary_done(dev, PRIMARY_RESET_V1);
}
