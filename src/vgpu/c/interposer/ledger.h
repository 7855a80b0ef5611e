/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Operations on the ledger (gs_ledger.h) that need no CUDA: mapping and
 * checking the files, the seqlock read of the limits, memory reservations,
 * process slots and their reclaim, the stall state.  Built into both the
 * interposer and libgpuslice-ledger.so (the daemon's side, through koffi).
 */
#ifndef GS_LEDGER_OPS_H
#define GS_LEDGER_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gs_ledger.h"

#define GS_HIDDEN __attribute__((visibility("hidden")))

#define gs_load(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define gs_store(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define gs_add(p, v) __atomic_add_fetch((p), (v), __ATOMIC_RELAXED)
#define gs_xchg(p, v) __atomic_exchange_n((p), (v), __ATOMIC_ACQ_REL)
#define gs_cas(p, expp, v)                                                   \
	__atomic_compare_exchange_n((p), (expp), (v), false, __ATOMIC_ACQ_REL, \
				    __ATOMIC_ACQUIRE)

GS_HIDDEN uint64_t gs_now_ns(void);

/* checks; on failure *why says what is wrong, for the one message */
GS_HIDDEN int gs_limits_check(const struct gs_limits *l, const char **why);
GS_HIDDEN int gs_usage_check(const struct gs_usage *u, const char **why);

/*
 * map <dir>/vgpu.limits read-only; -errno, or -EINVAL with *why.  A
 * generation that stays odd (writer killed mid-update) is accepted with the
 * words as they stand, and gs_limits_stuck set.
 */
GS_HIDDEN extern int gs_limits_stuck;
GS_HIDDEN int gs_limits_map(const char *dir, struct gs_limits **out,
			    const char **why);
/*
 * map <dir>/vgpu.usage read-write; with create, a missing file is made
 * (0666, initialised, then link()ed into place so no process ever maps a
 * half-written one)
 */
GS_HIDDEN int gs_usage_map(const char *dir, bool create,
			   struct gs_usage **out, const char **why);
GS_HIDDEN void gs_usage_init(struct gs_usage *u);

/* copy under the seqlock; -EAGAIN if the writer stays mid-update */
GS_HIDDEN int gs_limits_snapshot(const struct gs_limits *l,
				 struct gs_limits *out);

/* one CAS on the container's counter: false if it would pass limit */
GS_HIDDEN bool gs_mem_reserve(struct gs_usage_device *d, uint64_t bytes,
			      uint64_t limit);
/* saturating: a counter never wraps below zero */
GS_HIDDEN void gs_sub_clamp(uint64_t *p, uint64_t v);
/* a thread count moved by one, saturating at zero */
static inline void gs_count_dec(uint32_t *p)
{
	uint32_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);

	while (cur && !__atomic_compare_exchange_n(p, &cur, cur - 1, false,
						   __ATOMIC_ACQ_REL,
						   __ATOMIC_RELAXED))
		;
}

/* process slots */
GS_HIDDEN uint64_t gs_proc_start_time(pid_t pid);
/* start time, and the state letter in *state ('Z': a zombie); 0: gone */
GS_HIDDEN uint64_t gs_proc_stat(pid_t pid, char *state);
GS_HIDDEN uint64_t gs_proc_pidns(pid_t pid);
GS_HIDDEN int gs_slot_claim(struct gs_usage *u, pid_t pid, uint64_t start,
			    uint64_t pidns);
/* fold the slot's counters into the container's and free it */
GS_HIDDEN void gs_slot_release(struct gs_usage *u, int idx);
/* free the slots that name pid with this start time (an exec's leftovers) */
GS_HIDDEN int gs_usage_release_own(struct gs_usage *u, pid_t pid,
				   uint64_t start);
/* reclaim slots of dead processes visible from pid namespace pidns */
GS_HIDDEN int gs_usage_reclaim_dead(struct gs_usage *u, uint64_t pidns);

/* move the container's stalled / GPU-using thread counts */
GS_HIDDEN void gs_stall_change(struct gs_usage *u, int dstalled,
			       int dthreads);

#endif
