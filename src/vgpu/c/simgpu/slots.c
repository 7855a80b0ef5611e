// SPDX-License-Identifier: Apache-2.0
/*
 * Per-process slots in the shared state and the memory accounting that
 * hangs off them.  A slot is keyed by pid and start time, so a pid reused
 * after a crash is a different process; the memory of a dead process goes
 * back to its device when someone reclaims its slot.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "simgpu.h"

#define PID_BITS 22 /* pid_max is at most 2^22 */

bool sim_test_crash_locked;

/* field 22 (start time) and field 3 (state letter) of /proc/PID/stat */
static int proc_stat(int pid, uint64_t *ticks, char *state)
{
	char path[64], buf[1024], *p;
	int fd, field, err = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		err = -EIO;
		goto out;
	}
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: count fields after the last ) */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ') {
		err = -EINVAL;
		goto out;
	}
	*state = p[2];
	for (field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p) {
		err = -EINVAL;
		goto out;
	}
	*ticks = strtoull(p + 1, NULL, 10);
out:
	return err;
}

int sim_proc_start_ticks(int pid, uint64_t *ticks)
{
	char state;

	return proc_stat(pid, ticks, &state);
}

/* a zombie is dead: its driver state and memory went when it exited */
bool sim_slot_alive(const struct sim_proc *p)
{
	uint64_t ticks;
	char state = '?';
	int err;

	if (!p->key)
		return false;
	err = proc_stat((int)p->pid, &ticks, &state);
	if (err == -ENOENT || err == -ESRCH)
		return false;
	if (err)
		/* no /proc to look at: trust kill(0) */
		return kill((pid_t)p->pid, 0) == 0 || errno == EPERM;
	return ticks == p->start_ticks && state != 'Z' && state != 'X';
}

/* with the lock held */
static void slot_free_locked(struct sim_state *s, struct sim_proc *p)
{
	int d;

	for (d = 0; d < SIM_MAX_DEVICES; d++) {
		s->dev[d].used -= p->mem[d] <= s->dev[d].used ? p->mem[d] :
								 s->dev[d].used;
		p->mem[d] = 0;
	}
	__atomic_store_n(&p->key, 0, __ATOMIC_RELEASE);
}

static int reclaim_locked(struct sim_state *s)
{
	int i, n = 0;

	for (i = 0; i < SIM_MAX_PROCS; i++) {
		struct sim_proc *p = &s->proc[i];

		if (!p->key || sim_slot_alive(p))
			continue;
		sim_log(SIM_LOG_INFO, "reclaiming slot of dead pid %u", p->pid);
		slot_free_locked(s, p);
		n++;
	}
	s->reclaimed += n;
	return n;
}

int sim_reclaim_dead(struct sim_state *s)
{
	int n, err = sim_lock(s);

	if (err)
		return err;
	n = reclaim_locked(s);
	sim_unlock(s);
	return n;
}

int sim_slot_claim(struct sim_state *s, struct sim_proc **out)
{
	struct sim_proc *p, *free_slot = NULL;
	uint64_t ticks, key;
	int pid = getpid(), i, err;

	err = sim_proc_start_ticks(pid, &ticks);
	if (err)
		goto out;
	key = ticks << PID_BITS | (uint64_t)pid;
	err = sim_lock(s);
	if (err)
		goto out;
	reclaim_locked(s);
	for (i = 0; i < SIM_MAX_PROCS; i++) {
		p = &s->proc[i];
		/* our own key: left by this process before an exec */
		if (p->key == key)
			slot_free_locked(s, p);
		if (!p->key && !free_slot)
			free_slot = p;
	}
	if (!free_slot) {
		err = -ENOSPC;
		goto out_unlock;
	}
	p = free_slot;
	memset((char *)p + sizeof(p->key), 0, sizeof(*p) - sizeof(p->key));
	p->pid = (uint32_t)pid;
	p->start_ticks = ticks;
	p->attach_ns = sim_now_ns();
	__atomic_store_n(&p->key, key, __ATOMIC_RELEASE);
	*out = p;
out_unlock:
	sim_unlock(s);
out:
	return err;
}

void sim_slot_release(struct sim_state *s, struct sim_proc *p)
{
	if (sim_lock(s))
		return;
	slot_free_locked(s, p);
	sim_unlock(s);
}

static bool fits(struct sim_dev *d, uint64_t bytes)
{
	return d->used <= d->capacity && bytes <= d->capacity - d->used;
}

/*
 * Takes bytes of device memory for this process, or -ENOMEM.  Short of
 * memory, it first looks for dead processes to reclaim: their memory is
 * free, they just did not say so.
 */
int sim_mem_reserve(struct sim_state *s, struct sim_proc *p, int dev,
		    uint64_t bytes)
{
	struct sim_dev *d = &s->dev[dev];
	int err = sim_lock(s);

	if (err)
		goto out;
	if (!fits(d, bytes) && reclaim_locked(s) == 0) {
		err = -ENOMEM;
		goto out_unlock;
	}
	if (!fits(d, bytes)) {
		err = -ENOMEM;
		goto out_unlock;
	}
	d->used += bytes;
	/* test hook: die between the two updates, holding the lock */
	if (sim_test_crash_locked)
		raise(SIGKILL);
	p->mem[dev] += bytes;
	if (d->used > d->peak_used)
		d->peak_used = d->used;
out_unlock:
	sim_unlock(s);
out:
	return err;
}

void sim_mem_release(struct sim_state *s, struct sim_proc *p, int dev,
		     uint64_t bytes)
{
	struct sim_dev *d = &s->dev[dev];

	if (sim_lock(s))
		return;
	if (bytes > p->mem[dev])
		bytes = p->mem[dev];
	p->mem[dev] -= bytes;
	d->used -= bytes <= d->used ? bytes : d->used;
	sim_unlock(s);
}
