/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libgpuslice-ledger.so: the daemon's side of the ledger operations that
 * need atomics on the shared file (Node has none on a file), called from
 * src/vgpu/ledger.ts through koffi.  Built from the same ledger.c/slots.c
 * as the interposer, so both sides run the very same protocol.
 *
 * vgpu.usage is 0666: any process of the container can truncate it while
 * the daemon has it mapped, and touching a mapped page past the end of the
 * file raises SIGBUS, which would kill the daemon.  Every mapped access
 * here therefore runs under a guard: a SIGBUS handler, installed for the
 * duration only, jumps back out and the call fails with -EBUSY.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger.h"

#define GS_LIB_EXPORT __attribute__((visibility("default")))

/* one guarded section at a time: the handler and its restore are global */
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction guard_prev;
static __thread sigjmp_buf *guard_jmp;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	if (guard_jmp)
		siglongjmp(*guard_jmp, 1);
	/* not ours (another thread): hand it to whoever had it before */
	if (guard_prev.sa_flags & SA_SIGINFO) {
		if (guard_prev.sa_sigaction) {
			guard_prev.sa_sigaction(sig, si, uc);
			return;
		}
	} else if (guard_prev.sa_handler != SIG_DFL &&
		   guard_prev.sa_handler != SIG_IGN) {
		guard_prev.sa_handler(sig);
		return;
	}
	/* default action: restore it; the faulting access repeats and kills */
	sigaction(SIGBUS, &guard_prev, NULL);
}

typedef int (*guarded_fn)(void *mem, void *arg);

/*
 * Maps <dir>/<name> (exactly size bytes, else -EINVAL) read-write and runs
 * fn on it under the SIGBUS guard: -EBUSY if the file shrank meanwhile.
 */
static int guarded(const char *dir, const char *name, size_t size,
		   guarded_fn fn, void *arg)
{
	struct sigaction sa;
	sigjmp_buf jb;
	char path[PATH_MAX];
	struct stat st;
	void *volatile mem = MAP_FAILED;
	volatile int err;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	if ((size_t)st.st_size != size) {
		close(fd);
		return -EINVAL;
	}
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	err = mem == MAP_FAILED ? -errno : 0;
	close(fd);
	if (err)
		return err;

	pthread_mutex_lock(&guard_lock);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &guard_prev);
	if (sigsetjmp(jb, 1) == 0) {
		guard_jmp = &jb;
		err = fn(mem, arg);
	} else {
		err = -EBUSY;
	}
	guard_jmp = NULL;
	sigaction(SIGBUS, &guard_prev, NULL);
	pthread_mutex_unlock(&guard_lock);
	munmap(mem, size);
	return err;
}

static int reclaim_on(void *mem, void *arg)
{
	const char *why = "";

	(void)arg;
	if (gs_usage_check(mem, &why))
		return -EINVAL;
	return gs_usage_reclaim_dead(mem, gs_proc_pidns(getpid()));
}

/* reclaims slots of dead processes in <dir>/vgpu.usage; count or -errno */
GS_LIB_EXPORT int gs_ledger_reclaim(const char *dir)
{
	return guarded(dir, GS_USAGE_FILE, sizeof(struct gs_usage), reclaim_on,
		       NULL);
}

/*
 * The limits, changed in place under the seqlock: generation odd, every
 * 8-byte word of the new image but the generation stored atomically (so the
 * interposer's lock-free single-word reads on the hot path see the old or
 * the new value, never a mix of bytes), generation even.  pwrite(2) gives
 * no such guarantee for its copy.
 */
static int limits_on(void *mem, void *arg)
{
	const struct gs_limits *img = arg;
	struct gs_limits *l = mem;
	const uint64_t *src = (const uint64_t *)img;
	uint64_t *dst = (uint64_t *)l;
	const char *why = "";
	size_t gen_word = __builtin_offsetof(struct gs_limits, gen) / 8;

	if (l->magic != GS_LIMITS_MAGIC || l->version != GS_LEDGER_VERSION ||
	    l->size != sizeof(*l))
		return -EINVAL;
	if ((img->gen & 1) || gs_limits_check(img, &why))
		return -EINVAL;
	__atomic_store_n(&l->gen, img->gen - 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (size_t i = 0; i < sizeof(*l) / 8; i++)
		if (i != gen_word)
			__atomic_store_n(&dst[i], src[i], __ATOMIC_RELAXED);
	__atomic_store_n(&l->gen, img->gen, __ATOMIC_RELEASE);
	return 0;
}

/*
 * Writes the image (a whole vgpu.limits, generation even and > the file's)
 * into the existing <dir>/vgpu.limits.  -EINVAL: no valid file to update
 * (the caller replaces it), or a bad image; -EBUSY: the file shrank.
 */
GS_LIB_EXPORT int gs_ledger_write_limits(const char *dir, const void *image,
					 unsigned int len)
{
	struct gs_limits img;

	if (len != sizeof(img))
		return -EINVAL;
	memcpy(&img, image, sizeof(img));
	return guarded(dir, GS_LIMITS_FILE, sizeof(img), limits_on, &img);
}

/* sizeof the two files, for a layout check from the TypeScript side */
GS_LIB_EXPORT int gs_ledger_sizes(unsigned int *limits, unsigned int *usage)
{
	*limits = sizeof(struct gs_limits);
	*usage = sizeof(struct gs_usage);
	return GS_LEDGER_VERSION;
}
