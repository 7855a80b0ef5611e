// SPDX-License-Identifier: Apache-2.0
/*
 * Launches gs_spin (one thread, --kernel-us each; or gs_noop) until
 * --kernels launches or --duration seconds, through the launch call
 * --launch-api names.  With --stream-sync each launch is waited for, so
 * launches per second measure the device time the process actually got.
 * --capture, --distinct and --stale run first (prelude.c), off the clock.
 */
#include <stdio.h>
#include <time.h>

#include "gpuload.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct launcher {
	const struct gl_driver *d;
	enum gl_launch_api api;
	CUfunction fn;
	CUstream stream;
	CUgraphExec exec;
	void *params[1];
};

static CUresult launch(struct launcher *l)
{
	CUlaunchConfig cfg = {
		.gridDimX = 1, .gridDimY = 1, .gridDimZ = 1,
		.blockDimX = 1, .blockDimY = 1, .blockDimZ = 1,
		.hStream = l->stream,
	};

	switch (l->api) {
	case GL_LAUNCH_EX:
		return l->d->LaunchKernelEx(&cfg, l->fn, l->params, NULL);
	case GL_LAUNCH_COOP:
		return l->d->LaunchCooperativeKernel(l->fn, 1, 1, 1, 1, 1, 1, 0,
						     l->stream, l->params);
	case GL_LAUNCH_GRAPH:
		return l->d->GraphLaunch(l->exec, l->stream);
	default:
		return l->d->LaunchKernel(l->fn, 1, 1, 1, 1, 1, 1, 0, l->stream,
					  l->params, NULL);
	}
}

/* a graph of one gs_spin launch, made by capturing it */
static CUresult make_graph(struct launcher *l, CUgraph *graph)
{
	CUresult res;

	res = l->d->StreamBeginCapture(l->stream,
				       CU_STREAM_CAPTURE_MODE_GLOBAL);
	if (res)
		return res;
	res = l->d->LaunchKernel(l->fn, 1, 1, 1, 1, 1, 1, 0, l->stream,
				 l->params, NULL);
	if (res) {
		l->d->StreamEndCapture(l->stream, graph);
		return res;
	}
	res = l->d->StreamEndCapture(l->stream, graph);
	if (res)
		return res;
	return l->d->GraphInstantiate(&l->exec, *graph, 0);
}

CUresult gl_run_kernels(const struct gl_driver *d, const struct gl_options *o,
			CUstream stream, long *launched, double *elapsed_s)
{
	unsigned long long ns = (unsigned long long)(o->kernel_us * 1000.0);
	struct launcher l = { .d = d, .api = o->launch_api, .stream = stream };
	CUgraph graph = NULL;
	CUmodule mod = NULL, dmod = NULL;
	CUfunction stale_fn = NULL;
	CUgraphExec stale_exec = NULL;
	double start, deadline;
	CUresult res;

	*launched = 0;
	*elapsed_s = 0;
	l.params[0] = &ns;
	/* unloaded before ours is loaded: ours may get its address */
	if (o->stale && l.api != GL_LAUNCH_GRAPH) {
		res = gl_stale_kernel(d, stream, o->stale, &stale_fn);
		if (res)
			goto out;
	}
	res = d->ModuleLoadData(&mod, gl_spin_ptx);
	if (res)
		goto out;
	res = d->ModuleGetFunction(&l.fn, mod,
				   o->noop ? "gs_noop" : "gs_spin");
	if (res)
		goto out_unload;
	if (o->distinct)
		res = gl_launch_distinct(d, stream, o->distinct, &dmod);
	if (!res && o->capture)
		res = gl_capture_discard(d, l.fn, stream, l.params, o->capture);
	if (!res && o->stale && l.api == GL_LAUNCH_GRAPH)
		res = gl_stale_graph(d, l.fn, stream, o->stale, &stale_exec);
	if (res)
		goto out_graph;
	if (l.api == GL_LAUNCH_GRAPH) {
		res = make_graph(&l, &graph);
		if (res)
			goto out_graph;
	}
	/* what a test needs to know: the stale address was handed out again */
	if ((stale_fn && stale_fn == l.fn) ||
	    (stale_exec && stale_exec == l.exec))
		fprintf(stderr, "gpuload: --stale: address reused\n");
	start = now_s();
	deadline = start + o->duration_s;
	while (o->kernels >= 0 ? *launched < o->kernels : now_s() < deadline) {
		res = launch(&l);
		if (res)
			break;
		++*launched;
		if (o->stream_sync) {
			res = d->StreamSynchronize(stream);
			if (res)
				break;
		}
	}
	if (!res)
		res = d->StreamSynchronize(stream);
	*elapsed_s = now_s() - start;
out_graph:
	if (l.exec)
		d->GraphExecDestroy(l.exec);
	if (graph)
		d->GraphDestroy(graph);
	if (dmod)
		d->ModuleUnload(dmod);
out_unload:
	d->ModuleUnload(mod);
out:
	return res;
}
