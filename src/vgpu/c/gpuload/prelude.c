// SPDX-License-Identifier: Apache-2.0
/*
 * What gpuload can do before its timed launches, to put an interposer's
 * cost table in the state real applications leave it in:
 *   --capture N   N launches captured into a graph that is thrown away
 *                 (work recorded, never run);
 *   --distinct N  one launch each of N distinct functions (a JIT compiler's
 *                 stream of new kernels), their module kept loaded;
 *   --stale N     N short (10 us) launches of a function or graph that is
 *                 then unloaded or destroyed, so that the timed one may
 *                 reuse its address.
 */
#include <stdio.h>
#include <stdlib.h>

#include "gpuload.h"

#define STALE_NS 10000ull

CUresult gl_capture_discard(const struct gl_driver *d, CUfunction fn,
			    CUstream s, void **params, long n)
{
	CUgraph graph = NULL;
	CUresult res, end;

	res = d->StreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL);
	if (res)
		return res;
	for (long i = 0; i < n && !res; i++)
		res = d->LaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, s, params, NULL);
	end = d->StreamEndCapture(s, &graph);
	if (graph)
		d->GraphDestroy(graph);
	return res ? res : end;
}

/* n entries that do nothing, named gs_f0, gs_f1... */
static char *distinct_ptx(long n)
{
	static const char head[] = ".version 7.0\n.target sm_52\n"
				   ".address_size 64\n";
	size_t len = sizeof(head) + (size_t)n * 48, off;
	char *ptx = malloc(len);

	if (!ptx)
		return NULL;
	off = (size_t)snprintf(ptx, len, "%s", head);
	for (long i = 0; i < n; i++)
		off += (size_t)snprintf(ptx + off, len - off,
					".visible .entry gs_f%ld()\n{\n\tret;\n}\n",
					i);
	return ptx;
}

CUresult gl_launch_distinct(const struct gl_driver *d, CUstream s, long n,
			    CUmodule *mod)
{
	char *ptx = distinct_ptx(n), name[32];
	CUfunction fn;
	CUresult res;

	*mod = NULL;
	if (!ptx)
		return CUDA_ERROR_OUT_OF_MEMORY;
	res = d->ModuleLoadData(mod, ptx);
	free(ptx);
	for (long i = 0; i < n && !res; i++) {
		snprintf(name, sizeof(name), "gs_f%ld", i);
		res = d->ModuleGetFunction(&fn, *mod, name);
		if (!res)
			res = d->LaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, s, NULL,
					      NULL);
	}
	return res ? res : d->StreamSynchronize(s);
}

/* each launch waited for, so that every sample is in before the next */
static CUresult launch_synced(const struct gl_driver *d, CUfunction fn,
			      CUgraphExec exec, CUstream s, long n)
{
	unsigned long long ns = STALE_NS;
	void *params[1] = { &ns };
	CUresult res = CUDA_SUCCESS;

	for (long i = 0; i < n && !res; i++) {
		res = exec ? d->GraphLaunch(exec, s)
			   : d->LaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, s, params,
					     NULL);
		if (!res)
			res = d->StreamSynchronize(s);
	}
	return res;
}

CUresult gl_stale_kernel(const struct gl_driver *d, CUstream s, long n,
			 CUfunction *was)
{
	CUmodule mod = NULL;
	CUresult res;

	res = d->ModuleLoadData(&mod, gl_spin_ptx);
	if (res)
		return res;
	res = d->ModuleGetFunction(was, mod, "gs_spin");
	if (!res)
		res = launch_synced(d, *was, NULL, s, n);
	d->ModuleUnload(mod);
	return res;
}

CUresult gl_stale_graph(const struct gl_driver *d, CUfunction fn, CUstream s,
			long n, CUgraphExec *was)
{
	unsigned long long ns = STALE_NS;
	void *params[1] = { &ns };
	CUgraph graph = NULL;
	CUresult res;

	*was = NULL;
	res = d->StreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL);
	if (res)
		return res;
	res = d->LaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, s, params, NULL);
	if (d->StreamEndCapture(s, &graph) && !res)
		res = CUDA_ERROR_UNKNOWN;
	if (!res)
		res = d->GraphInstantiate(was, graph, 0);
	if (!res)
		res = launch_synced(d, NULL, *was, s, n);
	if (*was)
		d->GraphExecDestroy(*was);
	if (graph)
		d->GraphDestroy(graph);
	return res;
}
