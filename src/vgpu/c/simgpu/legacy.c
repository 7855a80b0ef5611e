// SPDX-License-Identifier: Apache-2.0
/*
 * Exported names that share an implementation: the legacy unsuffixed
 * symbols the real driver still exports (their 32-bit pointer forms cannot
 * address simulated memory and say CUDA_ERROR_NOT_SUPPORTED), and the
 * per-thread default stream variants (_ptsz, _ptds).  The simulator has one
 * default stream per context, so both kinds of default stream are it.
 */
#include <limits.h>

#include "simgpu.h"

SIM_EXPORT CUresult cuMemAlloc(CUdeviceptr_v1 *dptr, unsigned int bytesize)
{
	(void)dptr;
	(void)bytesize;
	return CUDA_ERROR_NOT_SUPPORTED;
}

SIM_EXPORT CUresult cuMemFree(CUdeviceptr_v1 dptr)
{
	(void)dptr;
	return CUDA_ERROR_NOT_SUPPORTED;
}

static unsigned int clamp32(size_t v)
{
	return v > UINT_MAX ? UINT_MAX : (unsigned int)v;
}

SIM_EXPORT CUresult cuMemGetInfo(unsigned int *free, unsigned int *total)
{
	size_t f, t;
	CUresult res;

	if (!free || !total)
		return CUDA_ERROR_INVALID_VALUE;
	res = cuMemGetInfo_v2(&f, &t);
	if (!res) {
		*free = clamp32(f);
		*total = clamp32(t);
	}
	return res;
}

SIM_EXPORT CUresult cuDeviceTotalMem(unsigned int *bytes, CUdevice dev)
{
	size_t t;
	CUresult res;

	if (!bytes)
		return CUDA_ERROR_INVALID_VALUE;
	res = cuDeviceTotalMem_v2(&t, dev);
	if (!res)
		*bytes = clamp32(t);
	return res;
}

SIM_EXPORT CUresult cuCtxCreate(CUcontext *pctx, unsigned int flags,
				CUdevice dev)
{
	return cuCtxCreate_v2(pctx, flags, dev);
}

SIM_EXPORT CUresult cuCtxDestroy(CUcontext ctx)
{
	return cuCtxDestroy_v2(ctx);
}

SIM_EXPORT CUresult cuDevicePrimaryCtxRelease(CUdevice dev)
{
	return cuDevicePrimaryCtxRelease_v2(dev);
}

SIM_EXPORT CUresult cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize,
					 CUstream stream)
{
	return cuMemAllocAsync(dptr, bytesize, stream);
}

SIM_EXPORT CUresult cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream stream)
{
	return cuMemFreeAsync(dptr, stream);
}

SIM_EXPORT CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr,
						 size_t bytesize,
						 CUmemoryPool pool,
						 CUstream stream)
{
	return cuMemAllocFromPoolAsync(dptr, bytesize, pool, stream);
}

SIM_EXPORT CUresult cuMemcpyHtoD_v2_ptds(CUdeviceptr dst, const void *src,
					 size_t bytes)
{
	return cuMemcpyHtoD_v2(dst, src, bytes);
}

SIM_EXPORT CUresult cuMemcpyDtoH_v2_ptds(void *dst, CUdeviceptr src,
					 size_t bytes)
{
	return cuMemcpyDtoH_v2(dst, src, bytes);
}

SIM_EXPORT CUresult cuMemcpyDtoD_v2_ptds(CUdeviceptr dst, CUdeviceptr src,
					 size_t bytes)
{
	return cuMemcpyDtoD_v2(dst, src, bytes);
}

SIM_EXPORT CUresult cuMemcpyHtoDAsync_v2_ptsz(CUdeviceptr dst, const void *src,
					      size_t bytes, CUstream stream)
{
	return cuMemcpyHtoDAsync_v2(dst, src, bytes, stream);
}

SIM_EXPORT CUresult cuMemcpyDtoHAsync_v2_ptsz(void *dst, CUdeviceptr src,
					      size_t bytes, CUstream stream)
{
	return cuMemcpyDtoHAsync_v2(dst, src, bytes, stream);
}

SIM_EXPORT CUresult cuMemsetD8_v2_ptds(CUdeviceptr dst, unsigned char uc,
				       size_t n)
{
	return cuMemsetD8_v2(dst, uc, n);
}

SIM_EXPORT CUresult cuMemsetD32_v2_ptds(CUdeviceptr dst, unsigned int ui,
					size_t n)
{
	return cuMemsetD32_v2(dst, ui, n);
}

SIM_EXPORT CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gridDimX,
					unsigned int gridDimY,
					unsigned int gridDimZ,
					unsigned int blockDimX,
					unsigned int blockDimY,
					unsigned int blockDimZ,
					unsigned int sharedMemBytes,
					CUstream hStream, void **kernelParams,
					void **extra)
{
	return cuLaunchKernel(f, gridDimX, gridDimY, gridDimZ, blockDimX,
			      blockDimY, blockDimZ, sharedMemBytes, hStream,
			      kernelParams, extra);
}

SIM_EXPORT CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig *config,
					  CUfunction f, void **kernelParams,
					  void **extra)
{
	return cuLaunchKernelEx(config, f, kernelParams, extra);
}

SIM_EXPORT CUresult cuLaunchCooperativeKernel_ptsz(
	CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
	unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
	unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
	void **kernelParams)
{
	return cuLaunchCooperativeKernel(f, gridDimX, gridDimY, gridDimZ,
					 blockDimX, blockDimY, blockDimZ,
					 sharedMemBytes, hStream,
					 kernelParams);
}

SIM_EXPORT CUresult cuStreamSynchronize_ptsz(CUstream hStream)
{
	return cuStreamSynchronize(hStream);
}

SIM_EXPORT CUresult cuStreamQuery_ptsz(CUstream hStream)
{
	return cuStreamQuery(hStream);
}

SIM_EXPORT CUresult cuStreamWaitEvent_ptsz(CUstream hStream, CUevent hEvent,
					   unsigned int flags)
{
	return cuStreamWaitEvent(hStream, hEvent, flags);
}

SIM_EXPORT CUresult cuEventRecord_ptsz(CUevent hEvent, CUstream hStream)
{
	return cuEventRecord(hEvent, hStream);
}

SIM_EXPORT CUresult cuStreamBeginCapture(CUstream hStream)
{
	return cuStreamBeginCapture_v2(hStream, CU_STREAM_CAPTURE_MODE_GLOBAL);
}

SIM_EXPORT CUresult cuStreamBeginCapture_ptsz(CUstream hStream)
{
	return cuStreamBeginCapture(hStream);
}

SIM_EXPORT CUresult cuGraphInstantiate(CUgraphExec *phGraphExec, CUgraph hGraph,
				       CUgraphNode *phErrorNode, char *logBuffer,
				       size_t bufferSize)
{
	return cuGraphInstantiate_v2(phGraphExec, hGraph, phErrorNode, logBuffer,
				     bufferSize);
}

SIM_EXPORT CUresult cuStreamBeginCapture_v2_ptsz(CUstream hStream,
						 CUstreamCaptureMode mode)
{
	return cuStreamBeginCapture_v2(hStream, mode);
}

SIM_EXPORT CUresult cuStreamEndCapture_ptsz(CUstream hStream,
					    CUgraph *phGraph)
{
	return cuStreamEndCapture(hStream, phGraph);
}

SIM_EXPORT CUresult cuStreamIsCapturing_ptsz(
	CUstream hStream, CUstreamCaptureStatus *captureStatus)
{
	return cuStreamIsCapturing(hStream, captureStatus);
}

SIM_EXPORT CUresult cuGraphLaunch_ptsz(CUgraphExec hGraphExec,
				       CUstream hStream)
{
	return cuGraphLaunch(hGraphExec, hStream);
}
