// SPDX-License-Identifier: Apache-2.0
/*
 * cuGetProcAddress: a base name ("cuMemAlloc") and the CUDA version the
 * caller was built for give the ABI version it expects (cuMemAlloc at
 * 3020 or later is cuMemAlloc_v2), and the per-thread default stream flag
 * picks the _ptsz/_ptds variant where there is one.  Each row below is
 * (name, first CUDA version with that ABI, per-thread variant?, symbol);
 * the row with the highest version not above the caller's wins.
 */
#include <string.h>

#include "simgpu.h"

struct proc_entry {
	const char *name;
	int version;
	bool ptds;
	void *fn;
};

#define P(n, v, f) { n, v, false, (void *)(f) }
#define T(n, v, f) { n, v, true, (void *)(f) } /* per-thread stream */

static const struct proc_entry table[] = {
	P("cuInit", 2000, cuInit),
	P("cuDriverGetVersion", 2020, cuDriverGetVersion),
	P("cuGetErrorName", 6000, cuGetErrorName),
	P("cuGetErrorString", 6000, cuGetErrorString),
	P("cuGetProcAddress", 11030, cuGetProcAddress),
	P("cuGetProcAddress", 12000, cuGetProcAddress_v2),
	P("cuDeviceGet", 2000, cuDeviceGet),
	P("cuDeviceGetCount", 2000, cuDeviceGetCount),
	P("cuDeviceGetName", 2000, cuDeviceGetName),
	P("cuDeviceGetUuid", 9020, cuDeviceGetUuid),
	P("cuDeviceGetUuid", 11040, cuDeviceGetUuid_v2),
	P("cuDeviceGetAttribute", 2000, cuDeviceGetAttribute),
	P("cuDeviceComputeCapability", 2000, cuDeviceComputeCapability),
	P("cuDeviceGetPCIBusId", 4010, cuDeviceGetPCIBusId),
	P("cuDeviceTotalMem", 2000, cuDeviceTotalMem),
	P("cuDeviceTotalMem", 3020, cuDeviceTotalMem_v2),
	P("cuCtxCreate", 2000, cuCtxCreate),
	P("cuCtxCreate", 3020, cuCtxCreate_v2),
	P("cuCtxCreate", 11040, cuCtxCreate_v3),
	P("cuCtxDestroy", 2000, cuCtxDestroy),
	P("cuCtxDestroy", 4000, cuCtxDestroy_v2),
	P("cuCtxSetCurrent", 4000, cuCtxSetCurrent),
	P("cuCtxGetCurrent", 4000, cuCtxGetCurrent),
	P("cuCtxPushCurrent", 4000, cuCtxPushCurrent_v2),
	P("cuCtxPopCurrent", 4000, cuCtxPopCurrent_v2),
	P("cuCtxGetDevice", 2000, cuCtxGetDevice),
	P("cuCtxSynchronize", 2000, cuCtxSynchronize),
	P("cuDevicePrimaryCtxRetain", 7000, cuDevicePrimaryCtxRetain),
	P("cuDevicePrimaryCtxRelease", 7000, cuDevicePrimaryCtxRelease),
	P("cuDevicePrimaryCtxRelease", 11000, cuDevicePrimaryCtxRelease_v2),
	P("cuDevicePrimaryCtxReset", 7000, cuDevicePrimaryCtxReset),
	P("cuDevicePrimaryCtxReset", 11000, cuDevicePrimaryCtxReset_v2),
	P("cuStreamGetCtx", 9020, cuStreamGetCtx),
	P("cuDevicePrimaryCtxSetFlags", 11000, cuDevicePrimaryCtxSetFlags_v2),
	P("cuDevicePrimaryCtxGetState", 7000, cuDevicePrimaryCtxGetState),
	P("cuMemGetInfo", 2000, cuMemGetInfo),
	P("cuMemGetInfo", 3020, cuMemGetInfo_v2),
	P("cuMemAlloc", 2000, cuMemAlloc),
	P("cuMemAlloc", 3020, cuMemAlloc_v2),
	P("cuMemAllocPitch", 2000, cuMemAllocPitch),
	P("cuMemAllocPitch", 3020, cuMemAllocPitch_v2),
	P("cuMemFree", 2000, cuMemFree),
	P("cuMemFree", 3020, cuMemFree_v2),
	P("cuMemAllocManaged", 6000, cuMemAllocManaged),
	P("cuMemAllocHost", 3020, cuMemAllocHost_v2),
	P("cuMemFreeHost", 2000, cuMemFreeHost),
	P("cuMemGetAddressRange", 3020, cuMemGetAddressRange_v2),
	P("cuMemAllocAsync", 11020, cuMemAllocAsync),
	T("cuMemAllocAsync", 11020, cuMemAllocAsync_ptsz),
	P("cuMemFreeAsync", 11020, cuMemFreeAsync),
	T("cuMemFreeAsync", 11020, cuMemFreeAsync_ptsz),
	P("cuMemAllocFromPoolAsync", 11020, cuMemAllocFromPoolAsync),
	T("cuMemAllocFromPoolAsync", 11020, cuMemAllocFromPoolAsync_ptsz),
	P("cuMemPoolCreate", 11020, cuMemPoolCreate),
	P("cuMemPoolDestroy", 11020, cuMemPoolDestroy),
	P("cuMemPoolTrimTo", 11020, cuMemPoolTrimTo),
	P("cuDeviceGetDefaultMemPool", 11020, cuDeviceGetDefaultMemPool),
	P("cuDeviceGetMemPool", 11020, cuDeviceGetMemPool),
	P("cuMemCreate", 10020, cuMemCreate),
	P("cuMemRelease", 10020, cuMemRelease),
	P("cuMemAddressReserve", 10020, cuMemAddressReserve),
	P("cuMemAddressFree", 10020, cuMemAddressFree),
	P("cuMemMap", 10020, cuMemMap),
	P("cuMemUnmap", 10020, cuMemUnmap),
	P("cuMemSetAccess", 10020, cuMemSetAccess),
	P("cuMemGetAllocationGranularity", 10020,
	  cuMemGetAllocationGranularity),
	P("cuArrayCreate", 2000, cuArrayCreate),
	P("cuArrayCreate", 3020, cuArrayCreate_v2),
	P("cuArray3DCreate", 2000, cuArray3DCreate),
	P("cuArray3DCreate", 3020, cuArray3DCreate_v2),
	P("cuMipmappedArrayCreate", 5000, cuMipmappedArrayCreate),
	P("cuMipmappedArrayDestroy", 5000, cuMipmappedArrayDestroy),
	P("cuArrayDestroy", 2000, cuArrayDestroy),
	P("cuMemcpyHtoD", 3020, cuMemcpyHtoD_v2),
	T("cuMemcpyHtoD", 7000, cuMemcpyHtoD_v2_ptds),
	P("cuMemcpyDtoH", 3020, cuMemcpyDtoH_v2),
	T("cuMemcpyDtoH", 7000, cuMemcpyDtoH_v2_ptds),
	P("cuMemcpyDtoD", 3020, cuMemcpyDtoD_v2),
	T("cuMemcpyDtoD", 7000, cuMemcpyDtoD_v2_ptds),
	P("cuMemcpyHtoDAsync", 3020, cuMemcpyHtoDAsync_v2),
	T("cuMemcpyHtoDAsync", 7000, cuMemcpyHtoDAsync_v2_ptsz),
	P("cuMemcpyDtoHAsync", 3020, cuMemcpyDtoHAsync_v2),
	T("cuMemcpyDtoHAsync", 7000, cuMemcpyDtoHAsync_v2_ptsz),
	P("cuMemsetD8", 3020, cuMemsetD8_v2),
	T("cuMemsetD8", 7000, cuMemsetD8_v2_ptds),
	P("cuMemsetD32", 3020, cuMemsetD32_v2),
	T("cuMemsetD32", 7000, cuMemsetD32_v2_ptds),
	P("cuModuleLoadData", 2000, cuModuleLoadData),
	P("cuModuleLoadDataEx", 2010, cuModuleLoadDataEx),
	P("cuModuleGetFunction", 2000, cuModuleGetFunction),
	P("cuModuleUnload", 2000, cuModuleUnload),
	P("cuLaunchKernel", 4000, cuLaunchKernel),
	T("cuLaunchKernel", 7000, cuLaunchKernel_ptsz),
	P("cuLaunchKernelEx", 11060, cuLaunchKernelEx),
	T("cuLaunchKernelEx", 11060, cuLaunchKernelEx_ptsz),
	P("cuLaunchCooperativeKernel", 9000, cuLaunchCooperativeKernel),
	T("cuLaunchCooperativeKernel", 9000, cuLaunchCooperativeKernel_ptsz),
	P("cuStreamCreate", 2000, cuStreamCreate),
	P("cuStreamCreateWithPriority", 5050, cuStreamCreateWithPriority),
	P("cuStreamDestroy", 4000, cuStreamDestroy_v2),
	P("cuStreamSynchronize", 2000, cuStreamSynchronize),
	T("cuStreamSynchronize", 7000, cuStreamSynchronize_ptsz),
	P("cuStreamQuery", 2000, cuStreamQuery),
	T("cuStreamQuery", 7000, cuStreamQuery_ptsz),
	P("cuStreamWaitEvent", 3020, cuStreamWaitEvent),
	T("cuStreamWaitEvent", 7000, cuStreamWaitEvent_ptsz),
	P("cuEventCreate", 2000, cuEventCreate),
	P("cuEventRecord", 2000, cuEventRecord),
	T("cuEventRecord", 7000, cuEventRecord_ptsz),
	P("cuEventQuery", 2000, cuEventQuery),
	P("cuEventSynchronize", 2000, cuEventSynchronize),
	P("cuEventElapsedTime", 2000, cuEventElapsedTime),
	P("cuEventDestroy", 4000, cuEventDestroy_v2),
	P("cuStreamBeginCapture", 10000, cuStreamBeginCapture),
	T("cuStreamBeginCapture", 10000, cuStreamBeginCapture_ptsz),
	P("cuStreamBeginCapture", 10010, cuStreamBeginCapture_v2),
	T("cuStreamBeginCapture", 10010, cuStreamBeginCapture_v2_ptsz),
	P("cuStreamEndCapture", 10000, cuStreamEndCapture),
	T("cuStreamEndCapture", 10000, cuStreamEndCapture_ptsz),
	P("cuStreamIsCapturing", 10000, cuStreamIsCapturing),
	T("cuStreamIsCapturing", 10000, cuStreamIsCapturing_ptsz),
	/* the 535 driver still answers _v2 for CUDA 12, whose header maps the
	 * name to cuGraphInstantiateWithFlags */
	P("cuGraphInstantiate", 10000, cuGraphInstantiate),
	P("cuGraphInstantiate", 11000, cuGraphInstantiate_v2),
	P("cuGraphInstantiateWithFlags", 11040, cuGraphInstantiateWithFlags),
	P("cuGraphLaunch", 10000, cuGraphLaunch),
	T("cuGraphLaunch", 10000, cuGraphLaunch_ptsz),
	P("cuGraphExecDestroy", 10000, cuGraphExecDestroy),
	P("cuGraphDestroy", 10000, cuGraphDestroy),
	P("cuGraphAddMemAllocNode", 11040, cuGraphAddMemAllocNode),
	P("cuStreamGetCaptureInfo", 11030, cuStreamGetCaptureInfo_v2),
	T("cuStreamGetCaptureInfo", 11030, cuStreamGetCaptureInfo_v2_ptsz),
};

static const struct proc_entry *best_of(const char *symbol, int version,
					bool ptds, bool *known, bool *has_ptds)
{
	const struct proc_entry *best = NULL, *e;
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		e = &table[i];
		if (strcmp(e->name, symbol))
			continue;
		*known = true;
		*has_ptds |= e->ptds;
		if (e->ptds != ptds || e->version > version)
			continue;
		if (!best || e->version > best->version)
			best = e;
	}
	return best;
}

CUresult sim_get_proc_address(const char *symbol, void **pfn, int version,
			      cuuint64_t flags,
			      CUdriverProcAddressQueryResult *status)
{
	const struct proc_entry *e = NULL;
	CUdriverProcAddressQueryResult st;
	bool known = false, has_ptds = false;

	if (!symbol || !pfn ||
	    flags & ~(CU_GET_PROC_ADDRESS_LEGACY_STREAM |
		      CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM))
		return CUDA_ERROR_INVALID_VALUE;
	/*
	 * Calls with no per-thread variant are the same in both modes; a call
	 * that has one, asked for per-thread below the version that brought it
	 * (7.0 for most), is "version not sufficient" — as the 535 driver says.
	 */
	if (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM)
		e = best_of(symbol, version, true, &known, &has_ptds);
	if (!e && !has_ptds)
		e = best_of(symbol, version, false, &known, &has_ptds);
	*pfn = e ? e->fn : NULL;
	st = e ? CU_GET_PROC_ADDRESS_SUCCESS :
	     known ? CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT :
		     CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
	if (status)
		*status = st;
	return e ? CUDA_SUCCESS : CUDA_ERROR_NOT_FOUND;
}

SIM_EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn,
					int cudaVersion, cuuint64_t flags,
					CUdriverProcAddressQueryResult *symbolStatus)
{
	return sim_get_proc_address(symbol, pfn, cudaVersion, flags,
				    symbolStatus);
}

SIM_EXPORT CUresult cuGetProcAddress(const char *symbol, void **pfn,
				     int cudaVersion, cuuint64_t flags)
{
	return sim_get_proc_address(symbol, pfn, cudaVersion, flags, NULL);
}
