// SPDX-License-Identifier: Apache-2.0
/*
 * Contexts.  Creating one opens the device node SIMGPU_DIR/dev/nvidiaN
 * (char 195:N) the way the real driver opens /dev/nvidiaN, so the cgroup
 * device gate decides which simulated GPUs a process may use:
 *   ENXIO (no driver behind 195:N) or success  -> access granted;
 *   EPERM (the BPF gate), EACCES, ENOENT        -> CUDA_ERROR_NO_DEVICE.
 * CUDA_ERROR_NO_DEVICE is what the CUDA runtime turns into "no CUDA-capable
 * device is detected", the message a user of a gated real GPU sees.
 * As with the driver, destroying a context (or resetting the primary one,
 * or releasing it for the last time) frees the memory allocated in it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "simgpu.h"

#define CTX_STACK 16

static __thread struct CUctx_st *ctx_stack[CTX_STACK];
static __thread int ctx_depth;

static CUresult open_node(int dev)
{
	char path[600];
	int fd;

	if (sim_device_node(&sim.cfg, dev, path, sizeof(path)))
		return CUDA_ERROR_NO_DEVICE;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return CUDA_SUCCESS;
	}
	if (errno == ENXIO)
		return CUDA_SUCCESS;
	sim_log(SIM_LOG_WARN, "open %s: %s: device %d not available%s", path,
		strerror(errno), dev,
		errno == EACCES ? " (is the directory on a nodev mount?)" : "");
	return CUDA_ERROR_NO_DEVICE;
}

static CUresult ctx_new(int dev, bool primary, struct CUctx_st **out)
{
	struct CUctx_st *ctx;
	CUresult res = open_node(dev);

	if (res)
		return res;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return CUDA_ERROR_OUT_OF_MEMORY;
	ctx->magic = SIM_CTX_MAGIC;
	ctx->dev = dev;
	ctx->primary = primary;
	sim_stream_init(&ctx->null_stream, ctx);
	*out = ctx;
	return CUDA_SUCCESS;
}

static bool ctx_valid(struct CUctx_st *ctx)
{
	return ctx && ctx->magic == SIM_CTX_MAGIC;
}

CUresult sim_current_ctx(struct CUctx_st **out)
{
	CUresult res = sim_check_init();

	if (res)
		return res;
	if (!ctx_depth || !ctx_stack[ctx_depth - 1])
		return CUDA_ERROR_INVALID_CONTEXT;
	*out = ctx_stack[ctx_depth - 1];
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags,
				   CUdevice dev)
{
	int phys;
	CUresult res = sim_device(dev, &phys);

	(void)flags;
	if (res)
		return res;
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	if (ctx_depth == CTX_STACK)
		return CUDA_ERROR_OUT_OF_MEMORY;
	res = ctx_new(phys, false, pctx);
	if (!res)
		ctx_stack[ctx_depth++] = *pctx;
	return res;
}

SIM_EXPORT CUresult cuCtxCreate_v3(CUcontext *pctx, void *paramsArray,
				   int numParams, unsigned int flags,
				   CUdevice dev)
{
	(void)paramsArray;
	(void)numParams;
	return cuCtxCreate_v2(pctx, flags, dev);
}

SIM_EXPORT CUresult cuCtxDestroy_v2(CUcontext ctx)
{
	CUresult res = sim_check_init();
	int i, j;

	if (res)
		return res;
	if (!ctx_valid(ctx) || ctx->primary)
		return CUDA_ERROR_INVALID_CONTEXT;
	sim_stream_sync(&ctx->null_stream);
	for (i = j = 0; i < ctx_depth; i++)
		if (ctx_stack[i] != ctx)
			ctx_stack[j++] = ctx_stack[i];
	ctx_depth = j;
	sim_free_ctx(ctx);
	ctx->magic = 0;
	free(ctx);
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuCtxSetCurrent(CUcontext ctx)
{
	CUresult res = sim_check_init();

	if (res)
		return res;
	if (ctx && !ctx_valid(ctx))
		return CUDA_ERROR_INVALID_CONTEXT;
	if (!ctx) {
		if (ctx_depth)
			ctx_depth--;
	} else if (ctx_depth) {
		ctx_stack[ctx_depth - 1] = ctx;
	} else {
		ctx_stack[ctx_depth++] = ctx;
	}
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuCtxGetCurrent(CUcontext *pctx)
{
	CUresult res = sim_check_init();

	if (res)
		return res;
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	*pctx = ctx_depth ? ctx_stack[ctx_depth - 1] : NULL;
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuCtxPushCurrent_v2(CUcontext ctx)
{
	CUresult res = sim_check_init();

	if (res)
		return res;
	if (!ctx_valid(ctx))
		return CUDA_ERROR_INVALID_CONTEXT;
	if (ctx_depth == CTX_STACK)
		return CUDA_ERROR_OUT_OF_MEMORY;
	ctx_stack[ctx_depth++] = ctx;
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuCtxPopCurrent_v2(CUcontext *pctx)
{
	CUresult res = sim_check_init();

	if (res)
		return res;
	if (!ctx_depth)
		return CUDA_ERROR_INVALID_CONTEXT;
	ctx_depth--;
	if (pctx)
		*pctx = ctx_stack[ctx_depth];
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuCtxGetDevice(CUdevice *device)
{
	struct CUctx_st *ctx;
	CUresult res = sim_current_ctx(&ctx);

	if (res)
		return res;
	if (!device)
		return CUDA_ERROR_INVALID_VALUE;
	/* only a visible device can have a context: the ordinal exists */
	*device = sim_ordinal(ctx->dev);
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuCtxSynchronize(void)
{
	struct CUctx_st *ctx;
	CUresult res = sim_current_ctx(&ctx);

	if (res)
		return res;
	sim_sleep_until(atomic_load(&ctx->last_end_ns));
	return CUDA_SUCCESS;
}

/*
 * The primary context is made (and the node opened) on the first retain
 * and again after the last release, so a gate closed meanwhile is obeyed.
 */
SIM_EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)
{
	int phys;
	CUresult res = sim_device(dev, &phys);

	if (res)
		return res;
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&sim.lock);
	if (!sim.primary_refs[phys]) {
		res = open_node(phys);
		if (!res && !sim.primary[phys])
			res = ctx_new(phys, true, &sim.primary[phys]);
	}
	if (!res) {
		sim.primary_refs[phys]++;
		*pctx = sim.primary[phys];
	}
	pthread_mutex_unlock(&sim.lock);
	return res;
}

SIM_EXPORT CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev)
{
	int phys;
	CUresult res = sim_device(dev, &phys);

	if (res)
		return res;
	pthread_mutex_lock(&sim.lock);
	if (!sim.primary_refs[phys])
		res = CUDA_ERROR_INVALID_CONTEXT;
	else if (!--sim.primary_refs[phys])
		sim_free_ctx(sim.primary[phys]);
	pthread_mutex_unlock(&sim.lock);
	return res;
}

SIM_EXPORT CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev)
{
	int phys;
	CUresult res = sim_device(dev, &phys);

	if (res)
		return res;
	pthread_mutex_lock(&sim.lock);
	sim.primary_refs[phys] = 0;
	if (sim.primary[phys])
		sim_free_ctx(sim.primary[phys]);
	pthread_mutex_unlock(&sim.lock);
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuDevicePrimaryCtxReset(CUdevice dev)
{
	return cuDevicePrimaryCtxReset_v2(dev);
}

SIM_EXPORT CUresult cuStreamGetCtx(CUstream hStream, CUcontext *pctx)
{
	struct CUstream_st *s;
	CUresult res = sim_stream_resolve(hStream, &s);

	if (res)
		return res;
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	*pctx = s->ctx;
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuDevicePrimaryCtxSetFlags_v2(CUdevice dev,
						  unsigned int flags)
{
	int phys;

	(void)flags;
	return sim_device(dev, &phys);
}

SIM_EXPORT CUresult cuDevicePrimaryCtxGetState(CUdevice dev,
					       unsigned int *flags,
					       int *active)
{
	int phys;
	CUresult res = sim_device(dev, &phys);

	if (res)
		return res;
	if (!flags || !active)
		return CUDA_ERROR_INVALID_VALUE;
	*flags = 0;
	*active = sim.primary_refs[phys] > 0;
	return CUDA_SUCCESS;
}
