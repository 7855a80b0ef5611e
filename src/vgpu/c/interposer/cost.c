/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a launch costs, in GPU time.
 *
 * A kernel costs what it occupies the device, not its block count
 * (the same grid can take 10 us or 10 ms).  Each function (or graph) keeps
 * an estimate: its first WINDOW launches and every SAMPLE_EVERY-th after are bracketed
 * by two CUDA events on the launch's stream, polled later without blocking.
 * Event time includes any wait behind other contexts' work, which only ever
 * makes a sample longer than the kernel; so the estimate is the minimum of
 * the last WINDOW samples: it drops at once when a kernel gets shorter and
 * rises within WINDOW samples when it really gets longer.
 *
 * A function not yet measured is charged a whole burst (share x period), and
 * the difference is refunded to the bucket once its first sample arrives:
 * guessing low would let a new process flood the device with work it never
 * pays for (and whose queue inflates everyone else's samples); guessing high
 * only delays its first launches by the time one kernel takes.
 */
#define _GNU_SOURCE
#include <pthread.h>

#include "vgpu.h"

#define FN_SLOTS 4096 /* power of two */
#define WINDOW 32
#define SAMPLE_EVERY 8
#define MAX_PENDING 16
#define DEFAULT_COST_NS 100000ull

struct gs_fn {
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
	struct gs_fn *fn;
	CUevent start, end;
};

static struct gs_fn fns[FN_SLOTS];
static uint64_t last_cost_ns = DEFAULT_COST_NS;
static pthread_mutex_t sample_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pending pending[MAX_PENDING];
static int npending;

void gs_cost_reset(void)
{
	/* after fork(): the parent's events are not ours to query */
	pthread_mutex_init(&sample_lock, NULL);
	npending = 0;
}

bool gs_cost_pending(void)
{
	return __atomic_load_n(&npending, __ATOMIC_RELAXED) != 0;
}

/* lock-free insert: the key is claimed with a CAS, never removed */
struct gs_fn *gs_cost_fn(uint64_t key)
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

uint64_t gs_cost_of(struct gs_fn *fn, int ldev, bool *unmeasured)
{
	uint64_t c = fn ? __atomic_load_n(&fn->est_ns, __ATOMIC_ACQUIRE) : 0;

	*unmeasured = fn && !c;
	if (*unmeasured) {
		fn->ldev = ldev;
		return (uint64_t)gs_period_us() * 1000 / GS_SHARE_ONE *
		       gs_share_ppm(ldev);
	}
	return c ? c : __atomic_load_n(&last_cost_ns, __ATOMIC_RELAXED);
}

bool gs_cost_sample_due(struct gs_fn *fn)
{
	uint64_t n;

	if (!fn || __atomic_load_n(&npending, __ATOMIC_RELAXED) >= MAX_PENDING)
		return false;
	n = __atomic_fetch_add(&fn->launches, 1, __ATOMIC_RELAXED);
	return n < WINDOW || n % SAMPLE_EVERY == 0;
}

bool gs_cost_queue(struct gs_fn *fn, CUevent start, CUevent end)
{
	bool queued = false;

	pthread_mutex_lock(&sample_lock);
	if (npending < MAX_PENDING) {
		pending[npending++] = (struct pending){ fn, start, end };
		queued = true;
	}
	pthread_mutex_unlock(&sample_lock);
	return queued;
}

/*
 * Refund what launches charged before the estimate existed, less their real
 * cost; whoever exchanges the counters settles them, so each charge is
 * settled exactly once, whether by the sampler or by a racing launch.
 */
static void settle_unmeasured(struct gs_fn *fn)
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

void gs_cost_charged(struct gs_fn *fn, int ldev, uint64_t cost,
		     bool unmeasured)
{
	struct gs_usage_slot *s = gs_slot();

	if (s)
		gs_add(&s->dev[ldev].launches, 1);
	if (unmeasured) {
		gs_add(&fn->unmeasured_n, 1);
		gs_add(&fn->unmeasured_ns, cost);
		settle_unmeasured(fn); /* the estimate may have come meanwhile */
	} else if (s) {
		gs_add(&s->dev[ldev].gpu_ns, cost);
	}
}

static void sample_done(struct gs_fn *fn, uint64_t ns)
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

/* non-blocking: collect the samples whose end event has completed */
void gs_cost_poll(void)
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
