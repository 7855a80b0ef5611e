/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Compute shares: launches are paced so that the GPU time the container's
 * kernels occupy converges to share x wall time.
 *
 * Cost: see cost.c (GPU time per function, sampled with CUDA events).
 *
 * Pacing.  A token bucket per device in vgpu.usage, shared by all the
 * container's processes, holds GPU time in ns.  It is refilled at
 * share x elapsed wall time, capped at share x one control period (the burst
 * a container may bank while idle), and each launch takes its cost.  A
 * launch that finds the bucket empty sleeps until the debt is refilled:
 * that sleep is the container's stall.  The share is read from the ledger on
 * every refill, so a change applies within one period (the largest burst
 * that can have been banked at the old share).  Holding to the share is all
 * this does: lending idle capacity is the elastic controller's job (it
 * raises the share in the ledger).
 *
 * Work captured into a graph does not run when it is launched: such a
 * launch is neither paced, counted nor sampled (the graph's own launches
 * are), so capturing costs a container nothing.
 *
 * The under-share path is: cuStreamIsCapturing, one load and one atomic
 * subtraction on the bucket, a lookup of the estimate, two atomic adds on
 * the process's slot.
 */
#define _GNU_SOURCE
#include <string.h>
#include <time.h>

#include "vgpu.h"

#define PENDING_POLL_NS 500000ull /* sleep step while a refund may come */
#define MIN_SLEEP_NS 20000ull

static void refill(struct gs_usage_device *ud, uint64_t now, uint32_t ppm)
{
	uint64_t last = __atomic_load_n(&ud->refill_ns, __ATOMIC_ACQUIRE);
	int64_t burst = (int64_t)gs_burst_ns(ppm);
	int64_t add, cur, nw;

	if (now <= last || !gs_cas(&ud->refill_ns, &last, now))
		return;
	/* the first refill ever (last == 0) just fills up to the burst */
	add = now - last > 10ull * 1000000000ull
		      ? burst
		      : (int64_t)((now - last) * ppm / GS_SHARE_ONE);
	cur = __atomic_load_n(&ud->tokens_ns, __ATOMIC_RELAXED);
	do {
		nw = cur + add > burst ? burst : cur + add;
	} while (!gs_cas(&ud->tokens_ns, &cur, nw));
}

static bool capturing(CUstream s, bool ptsz)
{
	CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_NONE;

	if (ptsz)
		GS_REAL(cuStreamIsCapturing_ptsz, s, &st);
	else
		GS_REAL(cuStreamIsCapturing, s, &st);
	return st == CU_STREAM_CAPTURE_STATUS_ACTIVE;
}

/* returns what it took from the bucket */
static uint64_t pace(int ldev, uint64_t cost)
{
	struct gs_usage_device *ud = &gs.use->dev[ldev];
	uint64_t stalled_since = 0, now;

	for (;;) {
		uint32_t ppm = gs_share_ppm(ldev);
		int64_t t = __atomic_load_n(&ud->tokens_ns, __ATOMIC_RELAXED);
		uint64_t wait;
		struct timespec ts;

		if (ppm >= GS_SHARE_ONE) {
			cost = 0;
			break;
		}
		if (t <= 0) {
			refill(ud, gs_now_ns(), ppm);
			t = __atomic_load_n(&ud->tokens_ns, __ATOMIC_RELAXED);
		}
		if (t > 0) {
			__atomic_sub_fetch(&ud->tokens_ns, (int64_t)cost,
					   __ATOMIC_RELAXED);
			break;
		}
		if (!stalled_since) {
			stalled_since = gs_now_ns();
			gs_stall_begin();
		}
		wait = (uint64_t)(-t) * GS_SHARE_ONE / ppm;
		if (wait < MIN_SLEEP_NS)
			wait = MIN_SLEEP_NS;
		if (wait > (uint64_t)gs_period_us() * 1000)
			wait = (uint64_t)gs_period_us() * 1000;
		/* a sample in flight may refund a bootstrap charge: look often */
		if (gs_cost_pending() && wait > PENDING_POLL_NS)
			wait = PENDING_POLL_NS;
		ts.tv_sec = wait / 1000000000ull;
		ts.tv_nsec = wait % 1000000000ull;
		nanosleep(&ts, NULL);
		gs_cost_poll();
	}
	if (stalled_since) {
		now = gs_now_ns();
		gs_stall_end(ldev, now - stalled_since);
	}
	return cost;
}

struct gs_launch {
	int ldev;
	bool unmeasured;
	uint64_t cost;
	uint64_t paid; /* taken from the bucket */
	uint64_t key;
	struct gs_fn *fn;
	CUstream stream; /* events go here; 0 resolved per variant */
	CUevent start, end;
};

static void sample_begin(struct gs_launch *L, CUstream s, bool ptsz)
{
	L->start = L->end = NULL;
	L->stream = !s && ptsz ? CU_STREAM_PER_THREAD : s;
	if (!gs_cost_sample_due(L->fn))
		return;
	if (GS_REAL(cuEventCreate, &L->start, CU_EVENT_DEFAULT) != CUDA_SUCCESS)
		goto fail;
	if (GS_REAL(cuEventCreate, &L->end, CU_EVENT_DEFAULT) != CUDA_SUCCESS)
		goto fail;
	if (GS_REAL(cuEventRecord, L->start, L->stream) != CUDA_SUCCESS)
		goto fail;
	return;
fail:
	if (L->start)
		GS_REAL(cuEventDestroy_v2, L->start);
	if (L->end)
		GS_REAL(cuEventDestroy_v2, L->end);
	L->start = L->end = NULL;
}

static bool launch_begin(struct gs_launch *L, uint64_t key, CUstream s,
			 bool ptsz)
{
	if (!gs_enforcing())
		return false;
	L->ldev = gs_current_dev();
	/* a NULL function fails in the driver; captured work runs later */
	if (L->ldev < 0 || !key || capturing(s, ptsz))
		return false;
	gs_thread_register();
	gs_cost_poll();
	L->key = key;
	L->fn = gs_cost_fn(key);
	L->cost = gs_cost_of(L->fn, L->ldev, &L->unmeasured);
	L->paid = pace(L->ldev, L->cost);
	sample_begin(L, s, ptsz);
	return true;
}

static void launch_end(struct gs_launch *L, CUresult r)
{
	if (L->start && !(r == CUDA_SUCCESS &&
			  GS_REAL(cuEventRecord, L->end, L->stream) ==
				  CUDA_SUCCESS &&
			  gs_cost_queue(L->fn, L->key, L->start, L->end))) {
		GS_REAL(cuEventDestroy_v2, L->start);
		GS_REAL(cuEventDestroy_v2, L->end);
	}
	if (r != CUDA_SUCCESS) {
		/* a launch that never ran gives back what it took */
		gs_cost_refund(L->ldev, L->paid);
		return;
	}
	gs_cost_charged(L->fn, L->key, L->ldev, L->cost, L->paid,
			L->unmeasured);
}

#define LAUNCH(call, key, stream, ptsz, ...)                                \
	do {                                                                 \
		struct gs_launch L_;                                         \
		CUresult r_;                                                 \
		if (!launch_begin(&L_, (uint64_t)(uintptr_t)(key), (stream), \
				  (ptsz)))                                   \
			return GS_REAL(call, __VA_ARGS__);                   \
		r_ = GS_REAL(call, __VA_ARGS__);                             \
		launch_end(&L_, r_);                                         \
		return r_;                                                   \
	} while (0)

GS_EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned int gx,
				  unsigned int gy, unsigned int gz,
				  unsigned int bx, unsigned int by,
				  unsigned int bz, unsigned int shm,
				  CUstream s, void **params, void **extra)
{
	LAUNCH(cuLaunchKernel, f, s, false, f, gx, gy, gz, bx, by, bz, shm, s,
	       params, extra);
}

GS_EXPORT CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gx,
				       unsigned int gy, unsigned int gz,
				       unsigned int bx, unsigned int by,
				       unsigned int bz, unsigned int shm,
				       CUstream s, void **params, void **extra)
{
	LAUNCH(cuLaunchKernel_ptsz, f, s, true, f, gx, gy, gz, bx, by, bz, shm,
	       s, params, extra);
}

GS_EXPORT CUresult cuLaunchKernelEx(const CUlaunchConfig *config,
				    CUfunction f, void **params, void **extra)
{
	LAUNCH(cuLaunchKernelEx, f, config ? config->hStream : NULL, false,
	       config, f, params, extra);
}

GS_EXPORT CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig *config,
					 CUfunction f, void **params,
					 void **extra)
{
	LAUNCH(cuLaunchKernelEx_ptsz, f, config ? config->hStream : NULL, true,
	       config, f, params, extra);
}

GS_EXPORT CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned int gx,
					     unsigned int gy, unsigned int gz,
					     unsigned int bx, unsigned int by,
					     unsigned int bz, unsigned int shm,
					     CUstream s, void **params)
{
	LAUNCH(cuLaunchCooperativeKernel, f, s, false, f, gx, gy, gz, bx, by,
	       bz, shm, s, params);
}

GS_EXPORT CUresult cuLaunchCooperativeKernel_ptsz(
	CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
	unsigned int bx, unsigned int by, unsigned int bz, unsigned int shm,
	CUstream s, void **params)
{
	LAUNCH(cuLaunchCooperativeKernel_ptsz, f, s, true, f, gx, gy, gz, bx,
	       by, bz, shm, s, params);
}

GS_EXPORT CUresult cuGraphLaunch(CUgraphExec g, CUstream s)
{
	LAUNCH(cuGraphLaunch, g, s, false, g, s);
}

GS_EXPORT CUresult cuGraphLaunch_ptsz(CUgraphExec g, CUstream s)
{
	LAUNCH(cuGraphLaunch_ptsz, g, s, true, g, s);
}
