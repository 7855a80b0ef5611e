// SPDX-License-Identifier: Apache-2.0
/*
 * Modules and kernel launches.  The simulator does not execute PTX: it
 * reads the names of the .entry functions from the PTX text, and a launch
 * occupies the device for a duration it knows without running anything:
 *   - gs_spin(.param .u64 ns), the kernel gpuload embeds, spins for ns
 *     nanoseconds on a real GPU; here its first parameter is the duration;
 *   - any other entry costs kernel_default_us from the config (100 us).
 * Images that are not PTX text (cubin, fatbin) are refused with
 * CUDA_ERROR_NO_BINARY_FOR_GPU: there is nothing the simulator could read.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "simgpu.h"

struct CUfunc_st {
	uint32_t magic;
	bool spin;
	char name[128];
};

struct CUmod_st {
	uint32_t magic;
	int count;
	struct CUfunc_st *funcs;
};

/* the names after each ".entry" in PTX text */
static int parse_entries(const char *ptx, struct CUfunc_st **out)
{
	struct CUfunc_st *funcs = NULL, *grown;
	const char *p = ptx, *name;
	int n = 0;
	size_t len;

	while ((p = strstr(p, ".entry"))) {
		p += 6;
		if (!isspace((unsigned char)*p))
			continue;
		while (isspace((unsigned char)*p))
			p++;
		name = p;
		while (*p && (isalnum((unsigned char)*p) || *p == '_' ||
			      *p == '$' || *p == '.'))
			p++;
		len = (size_t)(p - name);
		if (!len || len >= sizeof(funcs->name))
			continue;
		grown = realloc(funcs, (size_t)(n + 1) * sizeof(*funcs));
		if (!grown) {
			free(funcs);
			return -1;
		}
		funcs = grown;
		memset(&funcs[n], 0, sizeof(*funcs));
		funcs[n].magic = SIM_FUNC_MAGIC;
		memcpy(funcs[n].name, name, len);
		funcs[n].spin = !strcmp(funcs[n].name, SIM_SPIN_ENTRY);
		n++;
	}
	*out = funcs;
	return n;
}

SIM_EXPORT CUresult cuModuleLoadData(CUmodule *module, const void *image)
{
	const char *ptx = image;
	struct CUmod_st *m;
	CUresult res = sim_check_init();

	if (res)
		return res;
	if (!module || !image)
		return CUDA_ERROR_INVALID_VALUE;
	if (!strstr(ptx, ".version") || !strstr(ptx, ".target"))
		return CUDA_ERROR_NO_BINARY_FOR_GPU;
	m = calloc(1, sizeof(*m));
	if (!m)
		return CUDA_ERROR_OUT_OF_MEMORY;
	m->magic = SIM_MODULE_MAGIC;
	m->count = parse_entries(ptx, &m->funcs);
	if (m->count < 0) {
		free(m);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	*module = m;
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuModuleLoadDataEx(CUmodule *module, const void *image,
				       unsigned int numOptions,
				       CUjit_option *options,
				       void **optionValues)
{
	(void)numOptions;
	(void)options;
	(void)optionValues;
	return cuModuleLoadData(module, image);
}

SIM_EXPORT CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod,
					const char *name)
{
	int i;

	if (!hfunc || !name)
		return CUDA_ERROR_INVALID_VALUE;
	if (!hmod || hmod->magic != SIM_MODULE_MAGIC)
		return CUDA_ERROR_INVALID_HANDLE;
	for (i = 0; i < hmod->count; i++) {
		if (!strcmp(hmod->funcs[i].name, name)) {
			*hfunc = &hmod->funcs[i];
			return CUDA_SUCCESS;
		}
	}
	return CUDA_ERROR_NOT_FOUND;
}

SIM_EXPORT CUresult cuModuleUnload(CUmodule hmod)
{
	if (!hmod || hmod->magic != SIM_MODULE_MAGIC)
		return CUDA_ERROR_INVALID_HANDLE;
	hmod->magic = 0;
	free(hmod->funcs);
	free(hmod);
	return CUDA_SUCCESS;
}

#define LAUNCH_PARAM_END ((void *)0x00)
#define LAUNCH_PARAM_BUFFER_POINTER ((void *)0x01)

/* gs_spin's duration: its first (u64) parameter, however it was passed */
static uint64_t spin_ns(void **params, void **extra)
{
	uint64_t ns = 0;
	int i;

	if (params && params[0]) {
		memcpy(&ns, params[0], sizeof(ns));
		return ns;
	}
	for (i = 0; extra && extra[i] != LAUNCH_PARAM_END; i += 2)
		if (extra[i] == LAUNCH_PARAM_BUFFER_POINTER && extra[i + 1])
			memcpy(&ns, extra[i + 1], sizeof(ns));
	return ns;
}

CUresult sim_launch(CUfunction f, CUstream stream, void **params,
		    void **extra)
{
	struct CUstream_st *s;
	CUresult res = sim_stream_resolve(stream, &s);
	uint64_t dur;

	if (res)
		return res;
	if (!f || f->magic != SIM_FUNC_MAGIC)
		return CUDA_ERROR_INVALID_HANDLE;
	dur = f->spin ? spin_ns(params, extra) : sim.cfg.kernel_default_ns;
	return sim_stream_submit(s, dur, 1);
}

static CUresult check_dims(unsigned int gx, unsigned int gy, unsigned int gz,
			   unsigned int bx, unsigned int by, unsigned int bz)
{
	if (!gx || !gy || !gz || !bx || !by || !bz)
		return CUDA_ERROR_INVALID_VALUE;
	if ((uint64_t)bx * by * bz > 1024)
		return CUDA_ERROR_INVALID_VALUE;
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX,
				   unsigned int gridDimY,
				   unsigned int gridDimZ,
				   unsigned int blockDimX,
				   unsigned int blockDimY,
				   unsigned int blockDimZ,
				   unsigned int sharedMemBytes,
				   CUstream hStream, void **kernelParams,
				   void **extra)
{
	CUresult res = check_dims(gridDimX, gridDimY, gridDimZ, blockDimX,
				  blockDimY, blockDimZ);

	(void)sharedMemBytes;
	return res ? res : sim_launch(f, hStream, kernelParams, extra);
}

SIM_EXPORT CUresult cuLaunchKernelEx(const CUlaunchConfig *config,
				     CUfunction f, void **kernelParams,
				     void **extra)
{
	CUresult res;

	if (!config)
		return CUDA_ERROR_INVALID_VALUE;
	res = check_dims(config->gridDimX, config->gridDimY, config->gridDimZ,
			 config->blockDimX, config->blockDimY,
			 config->blockDimZ);
	return res ? res : sim_launch(f, config->hStream, kernelParams, extra);
}

SIM_EXPORT CUresult cuLaunchCooperativeKernel(
	CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
	unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
	unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
	void **kernelParams)
{
	CUresult res = check_dims(gridDimX, gridDimY, gridDimZ, blockDimX,
				  blockDimY, blockDimZ);

	(void)sharedMemBytes;
	return res ? res : sim_launch(f, hStream, kernelParams, NULL);
}
