/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The process's view of its container: found and mapped once, on the first
 * call that needs it (never in a constructor: a process that never touches
 * the GPU never reads the ledger).  Without a valid ledger everything passes
 * through, and the process is told why exactly once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vgpu.h"

struct gs_state gs = { .slot = -1 };
int gs_init_done;

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t thread_key;
static __thread int thread_registered;
static __thread int stall_counted; /* this thread's stall is in a slot */

/*
 * CUDA ordinals count only the visible devices; the ledger counts all.  Read
 * at the first call that maps an ordinal (the driver reads it at cuInit, and
 * an NVML call that activated us may come before the application sets it).
 * Indices map directly; a UUID or MIG name maps to GS_VIS_UNKNOWN; the first
 * entry that is neither (a negative number, garbage) ends the list, as it
 * does for the driver.
 */
#define GS_VIS_UNKNOWN (-2)
static pthread_once_t vis_once = PTHREAD_ONCE_INIT;

static void parse_visible(void)
{
	const char *e = getenv("CUDA_VISIBLE_DEVICES");
	char *end;
	int n = 0;

	if (!e) {
		gs.nvis = -1;
		return;
	}
	while (*e && n < GS_LEDGER_MAX_DEVICES) {
		long v;

		while (*e == ' ' || *e == '\t')
			e++;
		if (*e >= '0' && *e <= '9') {
			v = strtol(e, &end, 10);
			if (*end && *end != ',')
				break;
			gs.vis[n++] = v < GS_LEDGER_MAX_DEVICES ? (int)v : -1;
		} else if (!strncmp(e, "GPU-", 4) || !strncmp(e, "MIG-", 4)) {
			end = strchr(e, ',');
			if (!end)
				end = (char *)e + strlen(e);
			gs.vis[n++] = GS_VIS_UNKNOWN;
		} else {
			break;
		}
		if (!*end)
			break;
		e = end + 1;
	}
	gs.nvis = n;
}

/*
 * A device named by UUID: which ledger index it has would take NVML (its own
 * init, in every process).  Hold it to the most restrictive device the
 * container was given instead: never more than any of its devices allows.
 */
static int most_restrictive_dev(void)
{
	int best = -1, n = __atomic_load_n(&gs.lim->ndev, __ATOMIC_RELAXED);
	uint64_t best_mem = 0;
	uint32_t best_ppm = 0;

	for (int i = 0; i < n && i < GS_LEDGER_MAX_DEVICES; i++) {
		const struct gs_limits_device *d = &gs.lim->dev[i];
		uint64_t mem;
		uint32_t ppm;

		if (!(__atomic_load_n(&d->flags, __ATOMIC_RELAXED) &
		      GS_DEV_PRESENT))
			continue;
		mem = __atomic_load_n(&d->mem_limit, __ATOMIC_RELAXED);
		ppm = __atomic_load_n(&d->compute_ppm, __ATOMIC_RELAXED);
		if (best < 0 || mem < best_mem ||
		    (mem == best_mem && ppm < best_ppm)) {
			best = i;
			best_mem = mem;
			best_ppm = ppm;
		}
	}
	return best;
}

static void thread_exit(void *arg)
{
	(void)arg;
	if (gs.slot >= 0 && !__atomic_load_n(&gs.exiting, __ATOMIC_ACQUIRE)) {
		gs_count_dec(&gs.use->slot[gs.slot].nthreads);
		gs_stall_change(gs.use, 0, -1);
	}
}

/*
 * fork: the child gets one thread and copies of our locks; a lock another
 * thread held at the fork would stay held forever in the child.  So the
 * forking thread takes them all (in the order they nest: init, then the
 * driver's load, the slot, the allocation map) and both sides release
 * them.  Locks this very thread holds (a fork from inside our init) are
 * left alone.
 */
static __thread int init_held;

static void fork_prepare(void)
{
	if (!init_held)
		pthread_mutex_lock(&init_lock);
	gs_real_fork(0);
	pthread_mutex_lock(&slot_lock);
	gs_map_fork(0);
}

static void fork_parent(void)
{
	gs_map_fork(1);
	pthread_mutex_unlock(&slot_lock);
	gs_real_fork(1);
	if (!init_held)
		pthread_mutex_unlock(&init_lock);
}

static void fork_child(void)
{
	gs_map_fork(2);
	pthread_mutex_unlock(&slot_lock);
	gs_real_fork(2);
	if (!init_held)
		pthread_mutex_unlock(&init_lock);
	if (!gs.active)
		return;
	/* the child owns none of the parent's allocations, slot or threads */
	gs.slot = -1;
	gs.pid = getpid();
	thread_registered = 0;
	stall_counted = 0;
	gs_map_reset();
	gs_capture_reset();
	gs_cost_reset();
}

/* registering reads nothing: the ledger is still found on first use */
__attribute__((constructor)) static void gs_fork_handlers(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static void activate(const char *dir)
{
	const char *why = "";
	int err;

	err = gs_limits_map(dir, &gs.lim, &why);
	if (err) {
		gs_log(GS_LOG_WARN,
		       "ledger %s/%s unusable: %s; passing CUDA calls through "
		       "unchanged", dir, GS_LIMITS_FILE,
		       err == -EINVAL ? why : strerror(-err));
		return;
	}
	err = gs_usage_map(dir, true, &gs.use, &why);
	if (err == -EINVAL) {
		gs_log(GS_LOG_WARN,
		       "ledger %s/%s unusable: %s; passing CUDA calls through "
		       "unchanged", dir, GS_USAGE_FILE, why);
		return;
	}
	if (err) {
		/* limits still hold, per process: better than none */
		gs_log(GS_LOG_WARN,
		       "cannot open %s/%s: %s; limits apply to this process "
		       "alone", dir, GS_USAGE_FILE, strerror(-err));
		gs.use = mmap(NULL, sizeof(*gs.use), PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (gs.use == MAP_FAILED)
			return;
		gs_usage_init(gs.use);
	}
	if (gs_limits_stuck)
		gs_log(GS_LOG_WARN,
		       "ledger %s/%s stays mid-update (was the daemon killed?); "
		       "using the limits as they stand", dir, GS_LIMITS_FILE);
	gs.pid = getpid();
	gs.pidns = gs_proc_pidns(gs.pid);
	pthread_key_create(&thread_key, thread_exit);
	/* our pid and start time in a slot: this process before an exec */
	if (gs_usage_release_own(gs.use, gs.pid, gs_proc_start_time(gs.pid)))
		gs_log(GS_LOG_DEBUG, "released the slot of our image before exec");
	gs_usage_reclaim_dead(gs.use, gs.pidns);
	gs.last_reclaim_ns = gs_now_ns();
	gs_log(GS_LOG_DEBUG, "ledger %s in force", dir);
	gs.active = 1;
}

void gs_init_slow(void)
{
	char dir[PATH_MAX], looked[PATH_MAX + 64];

	pthread_mutex_lock(&init_lock);
	init_held = 1;
	if (gs_init_done)
		goto out;
	gs_real_cuda();
	if (gs_locate(dir, sizeof(dir), looked, sizeof(looked)) == 0)
		activate(dir);
	else
		gs_log(GS_LOG_INFO,
		       "no ledger (looked for %s); passing CUDA calls through "
		       "unchanged", looked);
	__atomic_store_n(&gs_init_done, 1, __ATOMIC_RELEASE);
out:
	init_held = 0;
	pthread_mutex_unlock(&init_lock);
}

/*
 * Dekker's handshake with gs_fini: each side writes its flag, then reads the
 * other's, both sequentially consistent, so either the thread sees
 * `exiting` and keeps out, or gs_fini sees it counting and waits for it.
 */
bool gs_counting_begin(void)
{
	__atomic_add_fetch(&gs.counting, 1, __ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&gs.exiting, __ATOMIC_SEQ_CST))
		return true;
	gs_counting_end();
	return false;
}

void gs_counting_end(void)
{
	__atomic_sub_fetch(&gs.counting, 1, __ATOMIC_RELEASE);
}

#define FINI_WAIT_YIELDS 100000

/* the driver frees a process's memory when it ends: so does its slot */
__attribute__((destructor)) static void gs_fini(void)
{
	if (!gs.active || gs.slot < 0 || gs.pid != getpid())
		return;
	/* a thread still running must not claim a new slot after this */
	__atomic_store_n(&gs.exiting, 1, __ATOMIC_SEQ_CST);
	/* nor be halfway through counting while the slot is folded away: a
	 * few atomics, never a driver call, so this wait is short (bounded all
	 * the same, for a thread stopped there) */
	for (int i = 0; i < FINI_WAIT_YIELDS &&
			__atomic_load_n(&gs.counting, __ATOMIC_SEQ_CST);
	     i++)
		sched_yield();
	pthread_mutex_lock(&slot_lock);
	if (gs.slot >= 0)
		gs_slot_release(gs.use, gs.slot);
	__atomic_store_n(&gs.slot, -1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&slot_lock);
}

struct gs_usage_slot *gs_slot(void)
{
	int idx = __atomic_load_n(&gs.slot, __ATOMIC_ACQUIRE);

	if (gs_unlikely(__atomic_load_n(&gs.exiting, __ATOMIC_ACQUIRE)))
		return NULL; /* gs_fini released it: nothing more is counted */
	if (gs_unlikely(idx < 0)) {
		pthread_mutex_lock(&slot_lock);
		idx = gs.exiting ? -2 : gs.slot;
		if (idx == -1) {
			idx = gs_slot_claim(gs.use, gs.pid,
					    gs_proc_start_time(gs.pid), gs.pidns);
			if (idx < 0) {
				gs_usage_reclaim_dead(gs.use, gs.pidns);
				idx = gs_slot_claim(gs.use, gs.pid,
						    gs_proc_start_time(gs.pid),
						    gs.pidns);
			}
			if (idx < 0) {
				static int told;

				if (!told++)
					gs_log(GS_LOG_WARN,
					       "all %d process slots of the "
					       "ledger are taken; this process "
					       "is limited but its counters are "
					       "not published", GS_LEDGER_MAX_SLOTS);
			} else {
				__atomic_store_n(&gs.slot, idx,
						 __ATOMIC_RELEASE);
			}
		}
		pthread_mutex_unlock(&slot_lock);
		if (idx < 0)
			return NULL;
	}
	return &gs.use->slot[idx];
}

void gs_thread_register(void)
{
	struct gs_usage_slot *s;

	if (thread_registered)
		return;
	s = gs_slot();
	thread_registered = 1;
	if (!s)
		return;
	gs_add(&s->nthreads, 1);
	gs_stall_change(gs.use, 0, 1);
	pthread_setspecific(thread_key, (void *)1);
}

/*
 * A stall counts only in a slot: gs_fini or a reclaim folds the slot's counts
 * out of the container's state, so a thread still stalled when its process
 * exits is never left counted (nor decremented twice).
 */
void gs_stall_begin(void)
{
	struct gs_usage_slot *s = gs_slot();

	if (!s || stall_counted)
		return;
	stall_counted = 1;
	gs_add(&s->nstalled, 1);
	gs_stall_change(gs.use, 1, 0);
}

void gs_stall_end(int ldev, uint64_t ns)
{
	struct gs_usage_slot *s;

	if (!stall_counted)
		return;
	stall_counted = 0;
	s = gs_slot();
	if (!s)
		return;
	gs_count_dec(&s->nstalled);
	if (ldev >= 0)
		gs_add(&s->dev[ldev].stall_ns, ns);
	gs_stall_change(gs.use, -1, 0);
}

/* force: the caller is about to fail; otherwise at most once a period */
void gs_maybe_reclaim(bool force)
{
	uint64_t now = gs_now_ns();
	uint64_t last = __atomic_load_n(&gs.last_reclaim_ns, __ATOMIC_RELAXED);

	if (!force && now - last < (uint64_t)gs_period_us() * 1000)
		return;
	__atomic_store_n(&gs.last_reclaim_ns, now, __ATOMIC_RELAXED);
	gs_usage_reclaim_dead(gs.use, gs.pidns);
}

int gs_ledger_dev(CUdevice ordinal)
{
	int d = ordinal;

	pthread_once(&vis_once, parse_visible);
	if (gs.nvis >= 0)
		d = ordinal >= 0 && ordinal < gs.nvis ? gs.vis[ordinal] : -1;
	if (d == GS_VIS_UNKNOWN)
		return gs.active ? most_restrictive_dev() : -1;
	return d >= 0 && d < GS_LEDGER_MAX_DEVICES ? d : -1;
}

int gs_current_dev(void)
{
	CUdevice dev;

	if (GS_REAL(cuCtxGetDevice, &dev) != CUDA_SUCCESS)
		return -1;
	return gs_ledger_dev(dev);
}

static const struct gs_limits_device *limits_of(int ldev)
{
	const struct gs_limits_device *d;

	if (ldev < 0 || ldev >= __atomic_load_n(&gs.lim->ndev, __ATOMIC_RELAXED))
		return NULL;
	d = &gs.lim->dev[ldev];
	return __atomic_load_n(&d->flags, __ATOMIC_RELAXED) & GS_DEV_PRESENT
		       ? d : NULL;
}

uint64_t gs_mem_limit(int ldev)
{
	const struct gs_limits_device *d = limits_of(ldev);

	return d ? __atomic_load_n(&d->mem_limit, __ATOMIC_ACQUIRE)
		 : GS_MEM_UNLIMITED;
}

uint32_t gs_share_ppm(int ldev)
{
	const struct gs_limits_device *d = limits_of(ldev);
	uint32_t ppm;

	if (!d)
		return GS_SHARE_ONE;
	ppm = __atomic_load_n(&d->compute_ppm, __ATOMIC_ACQUIRE);
	/* never zero: a paced thread must wake up eventually */
	return ppm ? (ppm > GS_SHARE_ONE ? GS_SHARE_ONE : ppm) : 1000;
}

uint32_t gs_period_us(void)
{
	uint32_t p = __atomic_load_n(&gs.lim->period_us, __ATOMIC_RELAXED);

	return p < GS_PERIOD_US_MIN || p > GS_PERIOD_US_MAX
		       ? GS_PERIOD_US_DEFAULT : p;
}
