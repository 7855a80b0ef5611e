/* SPDX-License-Identifier: Apache-2.0 */
/* Mapping, checking and reading the ledger files (see gs_ledger.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ledger.h"

uint64_t gs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int gs_limits_check(const struct gs_limits *l, const char **why)
{
	if (l->magic != GS_LIMITS_MAGIC)
		return *why = "wrong magic (not a vgpu.limits file)", -EINVAL;
	if (l->version != GS_LEDGER_VERSION)
		return *why = "unsupported version", -EINVAL;
	if (l->size != sizeof(*l))
		return *why = "wrong size in header", -EINVAL;
	if (l->ndev > GS_LEDGER_MAX_DEVICES)
		return *why = "more than 16 devices", -EINVAL;
	if (l->period_us < GS_PERIOD_US_MIN || l->period_us > GS_PERIOD_US_MAX)
		return *why = "control period out of range", -EINVAL;
	for (unsigned int i = 0; i < l->ndev; i++) {
		const struct gs_limits_device *d = &l->dev[i];

		if (!(d->flags & GS_DEV_PRESENT))
			continue;
		if (d->mem_limit != GS_MEM_UNLIMITED &&
		    d->mem_limit > GS_MEM_LIMIT_MAX)
			return *why = "absurd memory limit", -EINVAL;
		if (d->compute_ppm == 0 || d->compute_ppm > GS_SHARE_ONE)
			return *why = "compute share out of range", -EINVAL;
		if (d->mem_policy > GS_POLICY_WAIT)
			return *why = "unknown memory policy", -EINVAL;
		if (d->wait_timeout_ms > GS_WAIT_TIMEOUT_MS_MAX)
			return *why = "absurd wait timeout", -EINVAL;
	}
	return 0;
}

int gs_usage_check(const struct gs_usage *u, const char **why)
{
	if (u->magic != GS_USAGE_MAGIC)
		return *why = "wrong magic (not a vgpu.usage file)", -EINVAL;
	if (u->version != GS_LEDGER_VERSION)
		return *why = "unsupported version", -EINVAL;
	if (u->size != sizeof(*u) || u->nslots != GS_LEDGER_MAX_SLOTS)
		return *why = "wrong size in header", -EINVAL;
	return 0;
}

/* the file must be exactly the struct: a truncated one is never mapped */
static int map_file(const char *path, int flags, size_t size, void **out,
		    const char **why)
{
	struct stat st;
	void *p;
	int fd, err = 0;

	fd = open(path, flags | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out;
	}
	if ((size_t)st.st_size != size) {
		*why = st.st_size < (off_t)size ? "truncated file"
						 : "wrong file size";
		err = -EINVAL;
		goto out;
	}
	p = mmap(NULL, size, (flags & O_ACCMODE) == O_RDWR ?
		 PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		err = -errno;
		goto out;
	}
	*out = p;
out:
	close(fd);
	return err;
}

int gs_limits_stuck;

int gs_limits_map(const char *dir, struct gs_limits **out, const char **why)
{
	char path[PATH_MAX];
	struct gs_limits snap;
	void *p = NULL;
	int err;

	snprintf(path, sizeof(path), "%s/%s", dir, GS_LIMITS_FILE);
	err = map_file(path, O_RDONLY, sizeof(struct gs_limits), &p, why);
	if (err)
		return err;
	err = gs_limits_snapshot(p, &snap);
	if (err == -EAGAIN) {
		/*
		 * The daemon died mid-update (it stores each word atomically,
		 * so every field holds its old or its new value).  Refusing
		 * the ledger would leave this process unlimited: take the
		 * words as they stand if they make valid limits.
		 */
		memcpy(&snap, (const void *)p, sizeof(snap));
		gs_limits_stuck = 1;
		err = 0;
	}
	if (!err)
		err = gs_limits_check(&snap, why);
	if (err) {
		munmap(p, sizeof(struct gs_limits));
		return err;
	}
	*out = p;
	return 0;
}

void gs_usage_init(struct gs_usage *u)
{
	memset(u, 0, sizeof(*u));
	u->magic = GS_USAGE_MAGIC;
	u->version = GS_LEDGER_VERSION;
	u->nslots = GS_LEDGER_MAX_SLOTS;
	u->size = sizeof(*u);
}

/* write an initialised file under a private name, then link() it into place */
static int usage_create(const char *dir, const char *path)
{
	static struct gs_usage init; /* 70 KiB: not on the stack */
	char tmp[PATH_MAX];
	int fd, err = 0;

	snprintf(tmp, sizeof(tmp), "%s/.%s.%d", dir, GS_USAGE_FILE, getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0)
		return -errno;
	gs_usage_init(&init);
	/* the umask must not narrow it: every process of the container writes */
	if (fchmod(fd, 0666) < 0 ||
	    write(fd, &init, sizeof(init)) != (ssize_t)sizeof(init))
		err = -errno;
	close(fd);
	if (!err && link(tmp, path) < 0 && errno != EEXIST)
		err = -errno;
	unlink(tmp);
	return err;
}

int gs_usage_map(const char *dir, bool create, struct gs_usage **out,
		 const char **why)
{
	char path[PATH_MAX];
	void *p = NULL;
	int err;

	snprintf(path, sizeof(path), "%s/%s", dir, GS_USAGE_FILE);
	err = map_file(path, O_RDWR, sizeof(struct gs_usage), &p, why);
	if (err == -ENOENT && create) {
		err = usage_create(dir, path);
		if (!err)
			err = map_file(path, O_RDWR, sizeof(struct gs_usage),
				       &p, why);
	}
	if (err)
		return err;
	err = gs_usage_check(p, why);
	if (err) {
		munmap(p, sizeof(struct gs_usage));
		return err;
	}
	*out = p;
	return 0;
}

int gs_limits_snapshot(const struct gs_limits *l, struct gs_limits *out)
{
	for (int tries = 0; tries < 1000; tries++) {
		uint64_t g1 = __atomic_load_n(&l->gen, __ATOMIC_ACQUIRE), g2;

		if (g1 & 1) {
			if (tries > 10)
				usleep(100);
			continue;
		}
		memcpy(out, (const void *)l, sizeof(*out));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		g2 = __atomic_load_n(&l->gen, __ATOMIC_RELAXED);
		if (g1 == g2)
			return 0;
	}
	return -EAGAIN;
}

bool gs_mem_reserve(struct gs_usage_device *d, uint64_t bytes, uint64_t limit)
{
	uint64_t cur = __atomic_load_n(&d->mem_used, __ATOMIC_RELAXED), peak;

	do {
		if (bytes > limit || cur > limit - bytes)
			return false;
	} while (!gs_cas(&d->mem_used, &cur, cur + bytes));
	cur += bytes;
	peak = __atomic_load_n(&d->mem_peak, __ATOMIC_RELAXED);
	while (cur > peak && !gs_cas(&d->mem_peak, &peak, cur))
		;
	return true;
}

void gs_sub_clamp(uint64_t *p, uint64_t v)
{
	uint64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);

	while (v && !gs_cas(p, &cur, cur > v ? cur - v : 0))
		;
}
