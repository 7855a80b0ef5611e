// SPDX-License-Identifier: Apache-2.0
/*
 * Maps SIMGPU_DIR/state, the device state shared by every process (layout
 * in simgpu_state.h), and guards it with a robust process-shared mutex.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "simgpu.h"

uint64_t sim_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void sim_sleep_until(uint64_t t_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(t_ns / 1000000000ULL),
		.tv_nsec = (long)(t_ns % 1000000000ULL),
	};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

static int init_lock(struct sim_state *s)
{
	pthread_mutexattr_t attr;
	int err;

	err = -pthread_mutexattr_init(&attr);
	if (err)
		goto out;
	err = -pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	if (!err)
		err = -pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	if (!err)
		err = -pthread_mutex_init(&s->lock, &attr);
	pthread_mutexattr_destroy(&attr);
out:
	return err;
}

/* called with the file flock'ed: a half-written state is never seen */
static int init_state(int fd, const struct sim_config *cfg)
{
	struct sim_state *s;
	struct stat st;
	int err = 0, i;

	if (fstat(fd, &st)) {
		err = -errno;
		goto out;
	}
	if (st.st_size == sizeof(*s)) {
		struct sim_state hdr;

		if (pread(fd, &hdr, 24, 0) == 24 && hdr.magic == SIM_MAGIC &&
		    hdr.version == SIM_VERSION && hdr.size == sizeof(*s))
			goto out;
		sim_log(SIM_LOG_WARN, "%s/state: unknown layout, reset",
			cfg->dir);
	}
	if (ftruncate(fd, 0) || ftruncate(fd, sizeof(*s))) {
		err = -errno;
		goto out;
	}
	s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (s == MAP_FAILED) {
		err = -errno;
		goto out;
	}
	s->version = SIM_VERSION;
	s->size = sizeof(*s);
	s->max_devices = SIM_MAX_DEVICES;
	s->max_procs = SIM_MAX_PROCS;
	s->count = cfg->count;
	for (i = 0; i < SIM_MAX_DEVICES; i++)
		s->dev[i].capacity = cfg->memory[i];
	err = init_lock(s);
	/* the magic last: it says the rest is there */
	if (!err)
		__atomic_store_n(&s->magic, SIM_MAGIC, __ATOMIC_RELEASE);
	munmap(s, sizeof(*s));
out:
	return err;
}

/*
 * Opens (creating if need be) and maps the state.  flock serializes the
 * first initialization and, unlike a lock inside the file, is let go by the
 * kernel when its holder dies.  The config is re-applied on every attach, so
 * a rewritten config resizes the devices for all later allocations.
 */
int sim_state_map(const struct sim_config *cfg, struct sim_state **out)
{
	struct sim_state *s = MAP_FAILED;
	char path[600];
	int fd, err, i;

	snprintf(path, sizeof(path), "%s/state", cfg->dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0) {
		err = -errno;
		sim_log(SIM_LOG_ERROR, "open %s: %s", path, strerror(errno));
		goto out;
	}
	/* other users' processes share the devices */
	fchmod(fd, 0666);
	if (flock(fd, LOCK_EX)) {
		err = -errno;
		goto out_close;
	}
	err = init_state(fd, cfg);
	if (!err) {
		s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED,
			 fd, 0);
		if (s == MAP_FAILED)
			err = -errno;
	}
	if (!err) {
		s->count = cfg->count;
		for (i = 0; i < SIM_MAX_DEVICES; i++)
			__atomic_store_n(&s->dev[i].capacity, cfg->memory[i],
					 __ATOMIC_RELAXED);
		*out = s;
	} else {
		sim_log(SIM_LOG_ERROR, "cannot set up %s: %s", path,
			strerror(-err));
	}
	flock(fd, LOCK_UN);
out_close:
	close(fd);
out:
	return err;
}

static void recount(struct sim_state *s)
{
	uint64_t used;
	int d, i;

	for (d = 0; d < SIM_MAX_DEVICES; d++) {
		used = 0;
		for (i = 0; i < SIM_MAX_PROCS; i++)
			if (s->proc[i].key)
				used += s->proc[i].mem[d];
		s->dev[d].used = used;
	}
}

int sim_lock(struct sim_state *s)
{
	int err = pthread_mutex_lock(&s->lock);

	if (err == EOWNERDEAD) {
		/* its holder died mid-update: the slots are the truth */
		sim_log(SIM_LOG_INFO, "state lock owner died, recounting");
		recount(s);
		pthread_mutex_consistent(&s->lock);
		err = 0;
	}
	return -err;
}

void sim_unlock(struct sim_state *s)
{
	pthread_mutex_unlock(&s->lock);
}
