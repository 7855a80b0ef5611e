// SPDX-License-Identifier: Apache-2.0
/*
 * The device timeline: kernels of all processes take turns on a device.
 * A kernel of duration d starts at max(now, busy_until) and ends d later;
 * busy_until moves by compare-and-swap, so there is no lock for a killed
 * process to hold.  Kernels are first come, first served across processes
 * (a real GPU time-slices contexts; at the granularity of pacing, a queue
 * is what an interposer sees).
 */
#include "simgpu.h"

/* returns when the reserved time ends */
uint64_t sim_timeline_reserve(struct sim_state *s, struct sim_proc *p,
			      int dev, uint64_t dur_ns, uint64_t kernels)
{
	struct sim_dev *d = &s->dev[dev];
	uint64_t now = sim_now_ns();
	uint64_t old = __atomic_load_n(&d->busy_until_ns, __ATOMIC_ACQUIRE);
	uint64_t end;

	do {
		end = (old > now ? old : now) + dur_ns;
	} while (!__atomic_compare_exchange_n(&d->busy_until_ns, &old, end,
					      false, __ATOMIC_ACQ_REL,
					      __ATOMIC_ACQUIRE));
	__atomic_add_fetch(&d->busy_ns, dur_ns, __ATOMIC_RELAXED);
	__atomic_add_fetch(&d->launches, kernels, __ATOMIC_RELAXED);
	if (p) {
		__atomic_add_fetch(&p->busy_ns[dev], dur_ns, __ATOMIC_RELAXED);
		__atomic_add_fetch(&p->launches[dev], kernels,
				   __ATOMIC_RELAXED);
	}
	return end;
}
