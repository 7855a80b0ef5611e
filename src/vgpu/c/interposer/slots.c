/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Process slots of vgpu.usage and the container-wide stall state.  All of
 * it is lock-free: a process killed at any instruction leaves only its own
 * slot, which gs_usage_reclaim_dead() folds back into the container's
 * counters (the next process of the container does so at start and before
 * failing an allocation; the daemon does so periodically).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger.h"

#define RECLAIM_FLAG 0x80000000u /* pid field: being reclaimed by pid */

/*
 * Field 3 (state) and field 22 (start time) of /proc/PID/stat, counted after
 * the ")" that ends comm; 0 if the process is not there.
 */
uint64_t gs_proc_stat(pid_t pid, char *state)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	*state = '?';
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return 0;
	*state = p[2];
	/* ") S ppid ..." : field 3 is the first token after ")" */
	for (int field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

uint64_t gs_proc_start_time(pid_t pid)
{
	char state;

	return gs_proc_stat(pid, &state);
}

uint64_t gs_proc_pidns(pid_t pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
	return stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* the program a process runs, as the inode behind /proc/PID/exe */
static bool exe_of(pid_t pid, uint64_t *dev, uint64_t *ino)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if (stat(path, &st) != 0)
		return false;
	*dev = st.st_dev;
	*ino = st.st_ino;
	return true;
}

int gs_slot_claim(struct gs_usage *u, pid_t pid, uint64_t start, uint64_t pidns)
{
	uint64_t dev = 0, ino = 0;

	exe_of(pid, &dev, &ino);
	for (int i = 0; i < GS_LEDGER_MAX_SLOTS; i++) {
		struct gs_usage_slot *s = &u->slot[i];
		uint64_t w = gs_load(&s->owner);

		if (w & GS_SLOT_PID_MASK)
			continue;
		/* the claim count in the high half defeats ABA */
		if (!gs_cas(&s->owner, &w,
			    ((w >> 32) + 1) << 32 | (uint32_t)pid))
			continue;
		gs_store(&s->exe_dev, dev);
		gs_store(&s->exe_ino, ino);
		gs_store(&s->pidns, pidns);
		gs_store(&s->start_time, start);
		return i;
	}
	return -1;
}

static void stall_counts(uint64_t st, uint32_t *stalled, uint32_t *threads)
{
	*stalled = st & GS_STALL_COUNT_MASK;
	*threads = (st >> GS_STALL_COUNT_BITS) & GS_STALL_COUNT_MASK;
}

static uint32_t clamp_count(uint32_t v, int d)
{
	int64_t r = (int64_t)v + d;

	if (r < 0)
		return 0;
	return r > (int64_t)GS_STALL_COUNT_MASK ? GS_STALL_COUNT_MASK
						  : (uint32_t)r;
}

void gs_stall_change(struct gs_usage *u, int dstalled, int dthreads)
{
	uint64_t old = gs_load(&u->stall_state), nw, now, delta;
	uint32_t s, n;

	do {
		stall_counts(old, &s, &n);
		now = (gs_now_ns() / 1000) & GS_STALL_TIME_MASK;
		nw = (uint64_t)clamp_count(s, dstalled) |
		     (uint64_t)clamp_count(n, dthreads) << GS_STALL_COUNT_BITS |
		     now << GS_STALL_TIME_SHIFT;
	} while (!gs_cas(&u->stall_state, &old, nw));
	/* the winner of the CAS owns the time spent in the old state */
	delta = (now - (old >> GS_STALL_TIME_SHIFT)) & GS_STALL_TIME_MASK;
	if (s > 0 && delta) {
		gs_add(&u->some_us, delta);
		if (s >= n)
			gs_add(&u->full_us, delta);
	}
}

void gs_slot_release(struct gs_usage *u, int idx)
{
	struct gs_usage_slot *s = &u->slot[idx];
	uint64_t w;
	int stalled, threads;

	for (int d = 0; d < GS_LEDGER_MAX_DEVICES; d++) {
		struct gs_usage_slot_device *sd = &s->dev[d];
		struct gs_usage_device *ud = &u->dev[d];

		/* each counter moves exactly once, whoever else tries too */
		gs_sub_clamp(&ud->mem_used, gs_xchg(&sd->mem, 0));
		gs_add(&ud->retired_launches, gs_xchg(&sd->launches, 0));
		gs_add(&ud->retired_gpu_ns, gs_xchg(&sd->gpu_ns, 0));
		gs_add(&ud->retired_stall_ns, gs_xchg(&sd->stall_ns, 0));
	}
	/* counts saturate at zero (gs_count_dec), so never "negative" */
	stalled = (int)(gs_xchg(&s->nstalled, 0) & 0x7fffffff);
	threads = (int)(gs_xchg(&s->nthreads, 0) & 0x7fffffff);
	if (stalled || threads)
		gs_stall_change(u, -stalled, -threads);
	gs_store(&s->start_time, 0);
	gs_store(&s->pidns, 0);
	gs_store(&s->exe_ino, 0);
	gs_store(&s->exe_dev, 0);
	w = gs_load(&s->owner);
	gs_store(&s->owner, w & ~GS_SLOT_PID_MASK);
}

/*
 * A main thread that called pthread_exit() shows as a zombie while the
 * process's other threads run on: only a zombie left alone has ended.
 */
static bool other_threads(pid_t pid)
{
	char path[64];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return false;
	while (n < 2 && (e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n > 1;
}

/* ended: its driver state and memory are gone */
static bool ended(pid_t pid, char state)
{
	return state == 'X' || (state == 'Z' && !other_threads(pid));
}

static bool pid_alive(pid_t pid)
{
	char state;

	if (kill(pid, 0) != 0 && errno != EPERM)
		return false;
	gs_proc_stat(pid, &state);
	return !ended(pid, state);
}

/* the process has exec'd another program since it claimed the slot */
static bool exe_changed(const struct gs_usage_slot *s, pid_t pid)
{
	uint64_t ino = gs_load(&s->exe_ino), dev, now_ino;

	/* unknown then, or unreadable now (another user's): cannot say */
	if (!ino || !exe_of(pid, &dev, &now_ino))
		return false;
	return now_ino != ino || dev != gs_load(&s->exe_dev);
}

/* dead: gone, a zombie, the pid now names another process, or the process
 * runs another program */
static bool slot_dead(const struct gs_usage_slot *s, uint32_t pid,
		      uint64_t pidns)
{
	uint64_t start = gs_load(&s->start_time), ns = gs_load(&s->pidns);
	uint64_t now_start;
	char state;

	if (pid & RECLAIM_FLAG)
		return !pid_alive(pid & ~RECLAIM_FLAG);
	if (ns && pidns && ns != pidns)
		return false; /* another pid namespace: cannot judge */
	now_start = gs_proc_stat(pid, &state);
	if (!now_start)
		return !pid_alive(pid);
	/* start 0: claimed a moment ago, start time not yet stored */
	if (start && now_start != start)
		return true;
	return ended(pid, state) || exe_changed(s, pid);
}

/*
 * exec keeps the pid and the start time but ends the old image's driver
 * state (and with it its memory) without running its destructors: a slot
 * that names this very process is the old image's.
 */
int gs_usage_release_own(struct gs_usage *u, pid_t pid, uint64_t start)
{
	int n = 0;

	if (!start)
		return 0;
	for (int i = 0; i < GS_LEDGER_MAX_SLOTS; i++) {
		struct gs_usage_slot *s = &u->slot[i];
		uint64_t w = gs_load(&s->owner);

		if ((w & GS_SLOT_PID_MASK) != (uint32_t)pid ||
		    gs_load(&s->start_time) != start)
			continue;
		if (!gs_cas(&s->owner, &w,
			    (w & ~GS_SLOT_PID_MASK) | RECLAIM_FLAG |
				    (uint32_t)pid))
			continue;
		gs_slot_release(u, i);
		n++;
	}
	return n;
}

static bool all_slots_free(struct gs_usage *u)
{
	for (int i = 0; i < GS_LEDGER_MAX_SLOTS; i++)
		if (__atomic_load_n(&u->slot[i].owner, __ATOMIC_SEQ_CST) &
		    GS_SLOT_PID_MASK)
			return false;
	return true;
}

int gs_usage_reclaim_dead(struct gs_usage *u, uint64_t pidns)
{
	pid_t me = getpid();
	int reclaimed = 0, live = 0;

	for (int i = 0; i < GS_LEDGER_MAX_SLOTS; i++) {
		struct gs_usage_slot *s = &u->slot[i];
		uint64_t w = gs_load(&s->owner);
		uint32_t pid = w & GS_SLOT_PID_MASK;

		if (!pid)
			continue;
		if (pid == (uint32_t)me || !slot_dead(s, pid, pidns)) {
			live++;
			continue;
		}
		if (!gs_cas(&s->owner, &w,
			    (w & ~GS_SLOT_PID_MASK) | RECLAIM_FLAG |
				    (uint32_t)me)) {
			live++;
			continue;
		}
		gs_slot_release(u, i);
		reclaimed++;
	}
	/*
	 * A process killed between its reservation CAS and the update of its
	 * slot leaves bytes no slot accounts for; with no process left, every
	 * such drift is cleared.  A process claims its slot before it
	 * reserves, so: read the counters first, then confirm that every slot
	 * is still free; a claim that came before the reads is seen by the
	 * re-scan, a reservation after them makes the CAS fail.
	 */
	if (reclaimed && !live) {
		uint64_t v[GS_LEDGER_MAX_DEVICES];

		for (int d = 0; d < GS_LEDGER_MAX_DEVICES; d++)
			v[d] = __atomic_load_n(&u->dev[d].mem_used,
					       __ATOMIC_SEQ_CST);
		if (!all_slots_free(u))
			return reclaimed;
		for (int d = 0; d < GS_LEDGER_MAX_DEVICES; d++)
			if (v[d])
				gs_cas(&u->dev[d].mem_used, &v[d], 0);
	}
	return reclaimed;
}
