/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Compute shares: launches are paced so that the GPU time the container's
 * kernels occupy converges to share x wall time.
 *
 * Cost.  A kernel costs what it occupies the device, not its block count
 * (the same grid can take 10 us or 10 ms).  Each function (or graph) keeps
 * an estimate: its first launch and every SAMPLE_EVERY-th after are bracketed
 * by two CUDA events on the launch's stream, polled later without blocking.
 * Event time includes any wait behind other contexts' work, which only ever
 * makes a sample longer than the kernel; so the estimate is the minimum of
 * the last WINDOW samples: it drops at once when a kernel gets shorter and
 * rises within WINDOW samples when it really gets longer.  Until its window
 * is full, every launch of a function is sampled.
 *
 * A function not yet measured is charged a whole burst (share x period), and
 * the difference is refunded to the bucket once its first sample arrives:
 * guessing low would let a new process flood the device with work it never
 * pays for (and whose queue inflates everyone else's samples); guessing high
 * only delays its first launches by the time one kernel takes.
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
 * The under-share path is: one load and one atomic subtraction on the
 * bucket, a lookup of the estimate, two atomic adds on the process's slot.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "vgpu.h"

#define FN_SLOTS 4096 /* power of two */
#define WINDOW 16
#define SAMPLE_EVERY 8
#define MAX_PENDING 16
#define DEFAULT_COST_NS 100000ull
#define PENDING_POLL_NS 500000ull /* sleep step while a refund may come */
#define MIN_SLEEP_NS 20000ull

struct fn_est {
	uint64_t key;		 /* CUfunction or CUgraphExec; 0 = free */
	uint64_t est_ns;	 /* 0 = not measured yet */
	uint64_t launches;
	uint64_t win[WINDOW];	 /* under sample_lock */
	unsigned int nwin;
	int ldev;
	uint64_t unmeasured_n;	 /* launches charged before est_ns was known */
	uint64_t unmeasured_ns;	 /* and what they were charged */
};

struct pending {
	struct fn_est *fn;
	CUevent start, end;
};

static void settle_unmeasured(struct fn_est *fn);
static void poll_samples(void);

static struct fn_est fns[FN_SLOTS];
static uint64_t last_cost_ns = DEFAULT_COST_NS;
static pthread_mutex_t sample_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pending pending[MAX_PENDING];
static int npending;

void gs_compute_reset(void)
{
	/* after fork(): the parent's events are not ours to query */
	pthread_mutex_init(&sample_lock, NULL);
	npending = 0;
}

/* lock-free insert: the key is claimed with a CAS, never removed */
static struct fn_est *fn_lookup(uint64_t key)
{
	size_t i = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 40) & (FN_SLOTS - 1);

	for (int probe = 0; probe < 64; probe++, i = (i + 1) & (FN_SLOTS - 1)) {
		uint64_t k = __atomic_load_n(&fns[i].key, __ATOMIC_ACQUIRE);

		if (k == key)
			return &fns[i];
		if (k == 0 && gs_cas(&fns[i].key, &k, key))
			return &fns[i];
		if (k == key)
			return &fns[i];
	}
	return NULL;
}

static void refill(struct gs_usage_device *ud, uint64_t now, uint32_t ppm)
{
	uint64_t last = __atomic_load_n(&ud->refill_ns, __ATOMIC_ACQUIRE);
	int64_t burst = (int64_t)gs_period_us() * 1000 / GS_SHARE_ONE * ppm;
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

static void pace(int ldev, uint64_t cost, CUstream stream, bool ptsz)
{
	struct gs_usage_device *ud = &gs.use->dev[ldev];
	uint64_t stalled_since = 0, now;

	for (;;) {
		uint32_t ppm = gs_share_ppm(ldev);
		int64_t t = __atomic_load_n(&ud->tokens_ns, __ATOMIC_RELAXED);
		uint64_t wait;
		struct timespec ts;

		if (ppm >= GS_SHARE_ONE)
			break;
		if (t <= 0) {
			refill(ud, gs_now_ns(), ppm);
			t = __atomic_load_n(&ud->tokens_ns, __ATOMIC_RELAXED);
		}
		if (t > 0) {
			__atomic_sub_fetch(&ud->tokens_ns, (int64_t)cost,
					   __ATOMIC_RELAXED);
			break;
		}
		/* work being captured into a graph does not run now */
		if (!stalled_since) {
			if (capturing(stream, ptsz))
				return;
			stalled_since = gs_now_ns();
			gs_stall_begin();
		}
		wait = (uint64_t)(-t) * GS_SHARE_ONE / ppm;
		if (wait < MIN_SLEEP_NS)
			wait = MIN_SLEEP_NS;
		if (wait > (uint64_t)gs_period_us() * 1000)
			wait = (uint64_t)gs_period_us() * 1000;
		/* a sample in flight may refund a bootstrap charge: look often */
		if (__atomic_load_n(&npending, __ATOMIC_RELAXED) &&
		    wait > PENDING_POLL_NS)
			wait = PENDING_POLL_NS;
		ts.tv_sec = wait / 1000000000ull;
		ts.tv_nsec = wait % 1000000000ull;
		nanosleep(&ts, NULL);
		poll_samples();
	}
	if (stalled_since) {
		now = gs_now_ns();
		gs_stall_end(ldev, now - stalled_since);
	}
}

static void sample_done(struct fn_est *fn, uint64_t ns)
{
	uint64_t m = ns;

	fn->win[fn->nwin++ % WINDOW] = ns;
	for (unsigned int i = 0; i < WINDOW && i < fn->nwin; i++)
		if (fn->win[i] < m)
			m = fn->win[i];
	__atomic_store_n(&fn->est_ns, m ? m : 1, __ATOMIC_RELEASE);
	__atomic_store_n(&last_cost_ns, m ? m : 1, __ATOMIC_RELAXED);
	settle_unmeasured(fn);
}

/*
 * Refund what launches charged before the estimate existed, less their real
 * cost; whoever exchanges the counters settles them, so each charge is
 * settled exactly once, whether by the sampler or by a racing launch.
 */
static void settle_unmeasured(struct fn_est *fn)
{
	uint64_t est = __atomic_load_n(&fn->est_ns, __ATOMIC_ACQUIRE);
	uint64_t n, charged, cost;
	struct gs_usage_slot *s;

	if (!est || !__atomic_load_n(&fn->unmeasured_n, __ATOMIC_RELAXED))
		return;
	n = gs_xchg(&fn->unmeasured_n, 0);
	charged = gs_xchg(&fn->unmeasured_ns, 0);
	cost = n * est;
	if (charged > cost && gs_share_ppm(fn->ldev) < GS_SHARE_ONE)
		__atomic_add_fetch(&gs.use->dev[fn->ldev].tokens_ns,
				   (int64_t)(charged - cost), __ATOMIC_RELAXED);
	s = gs_slot();
	if (s)
		gs_add(&s->dev[fn->ldev].gpu_ns, cost);
}

/* non-blocking: collect the samples whose end event has completed */
static void poll_samples(void)
{
	if (!__atomic_load_n(&npending, __ATOMIC_RELAXED) ||
	    pthread_mutex_trylock(&sample_lock))
		return;
	for (int i = 0; i < npending;) {
		struct pending *p = &pending[i];
		CUresult q = GS_REAL(cuEventQuery, p->end);
		float ms;

		if (q == CUDA_ERROR_NOT_READY) {
			i++;
			continue;
		}
		if (q == CUDA_SUCCESS &&
		    GS_REAL(cuEventElapsedTime, &ms, p->start, p->end) ==
			    CUDA_SUCCESS && ms >= 0)
			sample_done(p->fn, (uint64_t)((double)ms * 1e6));
		GS_REAL(cuEventDestroy_v2, p->start);
		GS_REAL(cuEventDestroy_v2, p->end);
		pending[i] = pending[--npending];
	}
	pthread_mutex_unlock(&sample_lock);
}

struct gs_launch {
	int ldev;
	bool unmeasured;
	uint64_t cost;
	struct fn_est *fn;
	CUstream stream; /* events go here; 0 resolved per variant */
	CUevent start, end;
};

static bool launch_begin(struct gs_launch *L, uint64_t key, CUstream s,
			 bool ptsz)
{
	uint64_t n;

	if (!gs_enforcing())
		return false;
	L->ldev = gs_current_dev();
	if (L->ldev < 0)
		return false;
	gs_thread_register();
	poll_samples();
	L->fn = fn_lookup(key);
	L->cost = L->fn ? __atomic_load_n(&L->fn->est_ns, __ATOMIC_ACQUIRE) : 0;
	L->unmeasured = L->fn && !L->cost;
	if (L->unmeasured) {
		uint32_t ppm = gs_share_ppm(L->ldev);

		L->fn->ldev = L->ldev;
		L->cost = (uint64_t)gs_period_us() * 1000 / GS_SHARE_ONE * ppm;
	} else if (!L->cost) {
		L->cost = __atomic_load_n(&last_cost_ns, __ATOMIC_RELAXED);
	}
	pace(L->ldev, L->cost, s, ptsz);
	L->start = L->end = NULL;
	L->stream = !s && ptsz ? CU_STREAM_PER_THREAD : s;
	n = L->fn ? __atomic_fetch_add(&L->fn->launches, 1, __ATOMIC_RELAXED)
		  : 1;
	if ((n >= WINDOW && n % SAMPLE_EVERY != 0) ||
	    __atomic_load_n(&npending, __ATOMIC_RELAXED) >= MAX_PENDING ||
	    capturing(s, ptsz))
		return true;
	if (GS_REAL(cuEventCreate, &L->start, CU_EVENT_DEFAULT) != CUDA_SUCCESS)
		L->start = NULL;
	else if (GS_REAL(cuEventCreate, &L->end, CU_EVENT_DEFAULT) !=
		 CUDA_SUCCESS) {
		GS_REAL(cuEventDestroy_v2, L->start);
		L->start = NULL;
	} else if (GS_REAL(cuEventRecord, L->start, L->stream) !=
		   CUDA_SUCCESS) {
		GS_REAL(cuEventDestroy_v2, L->start);
		GS_REAL(cuEventDestroy_v2, L->end);
		L->start = NULL;
	}
	return true;
}

static void launch_end(struct gs_launch *L, CUresult r)
{
	struct gs_usage_slot *s;
	bool queued = false;

	if (L->start) {
		if (r == CUDA_SUCCESS &&
		    GS_REAL(cuEventRecord, L->end, L->stream) == CUDA_SUCCESS) {
			pthread_mutex_lock(&sample_lock);
			if (npending < MAX_PENDING) {
				pending[npending++] = (struct pending){
					L->fn, L->start, L->end };
				queued = true;
			}
			pthread_mutex_unlock(&sample_lock);
		}
		if (!queued) {
			GS_REAL(cuEventDestroy_v2, L->start);
			GS_REAL(cuEventDestroy_v2, L->end);
		}
	}
	if (r != CUDA_SUCCESS) {
		/* a launch that never ran gives its tokens back */
		if (gs_share_ppm(L->ldev) < GS_SHARE_ONE)
			__atomic_add_fetch(&gs.use->dev[L->ldev].tokens_ns,
					   (int64_t)L->cost, __ATOMIC_RELAXED);
		return;
	}
	s = gs_slot();
	if (s)
		gs_add(&s->dev[L->ldev].launches, 1);
	if (L->unmeasured) {
		gs_add(&L->fn->unmeasured_n, 1);
		gs_add(&L->fn->unmeasured_ns, L->cost);
		settle_unmeasured(L->fn); /* the estimate may have come meanwhile */
	} else if (s) {
		gs_add(&s->dev[L->ldev].gpu_ns, L->cost);
	}
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
