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
 * what the bucket really gave for it, less its real cost, is refunded once
 * its first sample arrives: guessing low would let a new process flood the
 * device with work it never pays for (and whose queue inflates everyone
 * else's samples); guessing high only delays its first launches by the time
 * one kernel takes.
 *
 * The table is keyed by address, and addresses are reused: JIT compilers
 * (Triton, torch.compile) make functions without end, and a graph
 * re-instantiated or a module reloaded may land where an old one was.  So
 * entries are evicted (second chance within the probe window: every
 * launch has an entry, so every launch is sampled and paid for), a
 * destroyed graph's estimate is forgotten, and an unloaded module makes
 * every function measure itself again (we do not know which functions were
 * in it).
 */
#define _GNU_SOURCE
#include <pthread.h>

#include "vgpu.h"

#define FN_SLOTS 4096 /* power of two */
#define PROBE 64
#define WINDOW 32
#define SAMPLE_EVERY 8
#define MAX_PENDING 16

struct gs_fn {
	uint64_t key;		 /* CUfunction or CUgraphExec; 0 = free */
	uint64_t est_ns;	 /* 0 = not measured yet */
	uint64_t launches;
	uint64_t unmeasured_n;	 /* launches charged before est_ns was known */
	uint64_t unmeasured_paid; /* and what the bucket gave for them */
	uint32_t epoch;		 /* module unloads seen when measured */
	uint8_t used;		 /* launched since the last eviction sweep */
	int ldev;
	uint64_t win[WINDOW];	 /* under lock */
	unsigned int nwin;
};

struct pending {
	struct gs_fn *fn;
	uint64_t key; /* the sample is dropped if the entry changed hands */
	CUevent start, end;
};

static struct gs_fn fns[FN_SLOTS];
static uint32_t unload_epoch;
/* the table's keys change, and samples are taken, only under this lock */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct pending pending[MAX_PENDING];
static int npending;

void gs_cost_reset(void)
{
	/* after fork(): the parent's events are not ours to query */
	pthread_mutex_init(&lock, NULL);
	npending = 0;
}

bool gs_cost_pending(void)
{
	return __atomic_load_n(&npending, __ATOMIC_RELAXED) != 0;
}

uint64_t gs_burst_ns(uint32_t ppm)
{
	/* period <= 1e7 us: 1e10 ns x 1e6 ppm fits in 64 bits */
	return (uint64_t)gs_period_us() * 1000 * ppm / GS_SHARE_ONE;
}

static size_t home(uint64_t key)
{
	return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 40) & (FN_SLOTS - 1);
}

/*
 * Keys go from free to taken and from one key to another, never back to
 * free, so a key sits after no free slot of its window: a free slot ends
 * the search.
 */
static struct gs_fn *find(uint64_t key)
{
	size_t i = home(key);

	for (int probe = 0; probe < PROBE; probe++, i = (i + 1) & (FN_SLOTS - 1)) {
		uint64_t k = __atomic_load_n(&fns[i].key, __ATOMIC_ACQUIRE);

		if (k == key)
			return &fns[i];
		if (!k)
			return NULL;
	}
	return NULL;
}

/* under lock: the entry measures itself again from scratch */
static void clear(struct gs_fn *fn)
{
	__atomic_store_n(&fn->est_ns, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&fn->launches, 0, __ATOMIC_RELAXED);
	fn->nwin = 0;
	fn->epoch = __atomic_load_n(&unload_epoch, __ATOMIC_RELAXED);
}

/* under lock: a free slot of key's window, or the first not used lately */
static struct gs_fn *claim(uint64_t key)
{
	size_t h = home(key);
	struct gs_fn *fn = NULL;

	for (int pass = 0; pass < 2 && !fn; pass++) {
		for (int probe = 0; probe < PROBE; probe++) {
			struct gs_fn *f = &fns[(h + probe) & (FN_SLOTS - 1)];

			if (!f->key || !f->used) {
				fn = f;
				break;
			}
			f->used = 0; /* its second chance */
		}
	}
	if (!fn)
		fn = &fns[h];
	/* an evicted function's unsettled charges stay paid */
	gs_xchg(&fn->unmeasured_n, 0);
	gs_xchg(&fn->unmeasured_paid, 0);
	clear(fn);
	fn->used = 1;
	__atomic_store_n(&fn->key, key, __ATOMIC_RELEASE);
	return fn;
}

/* never NULL: a function the table has no room for evicts one */
struct gs_fn *gs_cost_fn(uint64_t key)
{
	struct gs_fn *fn = find(key);

	if (gs_unlikely(!fn)) {
		pthread_mutex_lock(&lock);
		fn = find(key);
		if (!fn)
			fn = claim(key);
		pthread_mutex_unlock(&lock);
	}
	if (!__atomic_load_n(&fn->used, __ATOMIC_RELAXED))
		__atomic_store_n(&fn->used, 1, __ATOMIC_RELAXED);
	if (gs_unlikely(__atomic_load_n(&fn->epoch, __ATOMIC_RELAXED) !=
			__atomic_load_n(&unload_epoch, __ATOMIC_RELAXED))) {
		pthread_mutex_lock(&lock);
		if (fn->key == key &&
		    fn->epoch != __atomic_load_n(&unload_epoch, __ATOMIC_RELAXED))
			clear(fn);
		pthread_mutex_unlock(&lock);
	}
	return fn;
}

uint64_t gs_cost_of(struct gs_fn *fn, int ldev, bool *unmeasured)
{
	uint64_t c = __atomic_load_n(&fn->est_ns, __ATOMIC_ACQUIRE);

	*unmeasured = !c;
	if (*unmeasured) {
		fn->ldev = ldev;
		return gs_burst_ns(gs_share_ppm(ldev));
	}
	return c;
}

bool gs_cost_sample_due(struct gs_fn *fn)
{
	uint64_t n;

	if (__atomic_load_n(&npending, __ATOMIC_RELAXED) >= MAX_PENDING)
		return false;
	n = __atomic_fetch_add(&fn->launches, 1, __ATOMIC_RELAXED);
	return n < WINDOW || n % SAMPLE_EVERY == 0;
}

bool gs_cost_queue(struct gs_fn *fn, uint64_t key, CUevent start, CUevent end)
{
	bool queued = false;

	pthread_mutex_lock(&lock);
	if (npending < MAX_PENDING) {
		pending[npending++] = (struct pending){ fn, key, start, end };
		queued = true;
	}
	pthread_mutex_unlock(&lock);
	return queued;
}

/* the bucket gets tokens back, but never above one burst */
static void refund(int ldev, uint64_t ns)
{
	int64_t *tokens = &gs.use->dev[ldev].tokens_ns;
	uint32_t ppm = gs_share_ppm(ldev);
	int64_t burst = (int64_t)gs_burst_ns(ppm), cur, nw;

	if (!ns || ppm >= GS_SHARE_ONE)
		return;
	cur = __atomic_load_n(tokens, __ATOMIC_RELAXED);
	do {
		nw = cur + (int64_t)ns;
		if (nw > burst)
			nw = cur > burst ? cur : burst;
	} while (!gs_cas(tokens, &cur, nw));
}

/*
 * Refund what the bucket gave for launches charged before the estimate
 * existed, less their real cost; whoever exchanges the counters settles
 * them, so each charge is settled exactly once, whether by the sampler or
 * by a racing launch.
 */
static void settle_unmeasured(struct gs_fn *fn)
{
	uint64_t est = __atomic_load_n(&fn->est_ns, __ATOMIC_ACQUIRE);
	uint64_t n, paid, cost;
	struct gs_usage_slot *s;

	if (!est || !__atomic_load_n(&fn->unmeasured_n, __ATOMIC_RELAXED))
		return;
	n = gs_xchg(&fn->unmeasured_n, 0);
	paid = gs_xchg(&fn->unmeasured_paid, 0);
	cost = n * est;
	if (paid > cost)
		refund(fn->ldev, paid - cost);
	s = gs_slot();
	if (s)
		gs_add(&s->dev[fn->ldev].gpu_ns, cost);
}

void gs_cost_refund(int ldev, uint64_t paid)
{
	refund(ldev, paid);
}

void gs_cost_charged(struct gs_fn *fn, uint64_t key, int ldev, uint64_t cost,
		     uint64_t paid, bool unmeasured)
{
	struct gs_usage_slot *s = gs_slot();

	if (s)
		gs_add(&s->dev[ldev].launches, 1);
	/* an entry evicted during the launch: its charge stays as paid */
	if (unmeasured && __atomic_load_n(&fn->key, __ATOMIC_ACQUIRE) == key) {
		gs_add(&fn->unmeasured_n, 1);
		gs_add(&fn->unmeasured_paid, paid);
		settle_unmeasured(fn); /* the estimate may have come meanwhile */
	} else if (s) {
		gs_add(&s->dev[ldev].gpu_ns, cost);
	}
}

/* under lock */
static void sample_done(struct gs_fn *fn, uint64_t key, uint64_t ns)
{
	uint64_t m = ns;

	if (fn->key != key)
		return;
	fn->win[fn->nwin++ % WINDOW] = ns;
	for (unsigned int i = 0; i < WINDOW && i < fn->nwin; i++)
		if (fn->win[i] < m)
			m = fn->win[i];
	__atomic_store_n(&fn->est_ns, m ? m : 1, __ATOMIC_RELEASE);
	settle_unmeasured(fn);
}

/* non-blocking: collect the samples whose end event has completed */
void gs_cost_poll(void)
{
	if (!__atomic_load_n(&npending, __ATOMIC_RELAXED) ||
	    pthread_mutex_trylock(&lock))
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
			sample_done(p->fn, p->key, (uint64_t)((double)ms * 1e6));
		GS_REAL(cuEventDestroy_v2, p->start);
		GS_REAL(cuEventDestroy_v2, p->end);
		pending[i] = pending[--npending];
	}
	pthread_mutex_unlock(&lock);
}

/* a function's address may come back as another function's */
GS_EXPORT CUresult cuModuleUnload(CUmodule m)
{
	CUresult r = GS_REAL(cuModuleUnload, m);

	if (r == CUDA_SUCCESS)
		__atomic_add_fetch(&unload_epoch, 1, __ATOMIC_RELAXED);
	return r;
}

GS_EXPORT CUresult cuGraphExecDestroy(CUgraphExec g)
{
	CUresult r = GS_REAL(cuGraphExecDestroy, g);
	struct gs_fn *fn;

	if (r == CUDA_SUCCESS && g && find((uint64_t)(uintptr_t)g)) {
		pthread_mutex_lock(&lock);
		fn = find((uint64_t)(uintptr_t)g);
		if (fn)
			clear(fn);
		pthread_mutex_unlock(&lock);
	}
	return r;
}
