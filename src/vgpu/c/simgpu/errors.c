// SPDX-License-Identifier: Apache-2.0
/* cuGetErrorName and cuGetErrorString for the codes simgpu can return. */
#include <stddef.h>

#include "simgpu.h"

struct err_desc {
	CUresult code;
	const char *name;
	const char *text;
};

#define E(c, t) { c, #c, t }

static const struct err_desc errs[] = {
	E(CUDA_SUCCESS, "no error"),
	E(CUDA_ERROR_INVALID_VALUE, "invalid argument"),
	E(CUDA_ERROR_OUT_OF_MEMORY, "out of memory"),
	E(CUDA_ERROR_NOT_INITIALIZED, "initialization error"),
	E(CUDA_ERROR_DEINITIALIZED, "driver shutting down"),
	E(CUDA_ERROR_STUB_LIBRARY, "CUDA driver is a stub library"),
	E(CUDA_ERROR_NO_DEVICE, "no CUDA-capable device is detected"),
	E(CUDA_ERROR_INVALID_DEVICE, "invalid device ordinal"),
	E(CUDA_ERROR_INVALID_IMAGE, "device kernel image is invalid"),
	E(CUDA_ERROR_INVALID_CONTEXT, "invalid device context"),
	E(CUDA_ERROR_NO_BINARY_FOR_GPU,
	  "no kernel image is available for execution on the device"),
	E(CUDA_ERROR_INVALID_PTX,
	  "a PTX JIT compilation failed"),
	E(CUDA_ERROR_OPERATING_SYSTEM, "OS call failed or operation not "
				       "supported on this OS"),
	E(CUDA_ERROR_INVALID_HANDLE, "invalid resource handle"),
	E(CUDA_ERROR_ILLEGAL_STATE,
	  "the operation is not permitted in the current state"),
	E(CUDA_ERROR_NOT_FOUND, "named symbol not found"),
	E(CUDA_ERROR_NOT_READY, "device not ready"),
	E(CUDA_ERROR_ILLEGAL_ADDRESS,
	  "an illegal memory access was encountered"),
	E(CUDA_ERROR_LAUNCH_FAILED, "unspecified launch failure"),
	E(CUDA_ERROR_NOT_PERMITTED, "operation not permitted"),
	E(CUDA_ERROR_NOT_SUPPORTED, "operation not supported"),
	E(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED,
	  "operation not permitted when stream is capturing"),
	E(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED,
	  "operation failed due to a previous error during capture"),
	E(CUDA_ERROR_TIMEOUT, "wait operation timed out"),
	E(CUDA_ERROR_UNKNOWN, "unknown error"),
};

static const struct err_desc *find(CUresult error)
{
	size_t i;

	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		if (errs[i].code == error)
			return &errs[i];
	return NULL;
}

SIM_EXPORT CUresult cuGetErrorName(CUresult error, const char **str)
{
	const struct err_desc *d = find(error);

	if (!str)
		return CUDA_ERROR_INVALID_VALUE;
	*str = d ? d->name : NULL;
	return d ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

SIM_EXPORT CUresult cuGetErrorString(CUresult error, const char **str)
{
	const struct err_desc *d = find(error);

	if (!str)
		return CUDA_ERROR_INVALID_VALUE;
	*str = d ? d->text : NULL;
	return d ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
