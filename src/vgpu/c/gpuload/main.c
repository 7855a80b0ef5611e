// SPDX-License-Identifier: Apache-2.0
/*
 * gpuload [options]
 *   --device N            device ordinal (0)
 *   --alloc SIZE          bytes to allocate (0), in --chunk SIZE pieces
 *                         (64M); stops at the first failure
 *   --alloc-api API       mem|pitch|managed|async|pool|create|array|
 *                         mipmap|array-v1|array3d-v1|pitch-v1|graph-node|
 *                         capture (mem)
 *   --kernel-us US        device time of each gs_spin launch (1000)
 *   --kernel spin|noop    the kernel: gs_spin, or gs_noop (no work at all)
 *   --kernels N | --duration S   how many launches, or for how long
 *   --launch-api API      kernel|ex|coop|graph (kernel)
 *   --stream-sync         wait for each launch before the next
 *   --capture N           first capture N launches into a discarded graph
 *   --distinct N          first launch N distinct functions once each
 *   --stale N             first launch a function (or graph) N times for
 *                         10 us, then unload (destroy) it (see prelude.c)
 *   --hold S              keep the memory S seconds after reporting
 *   --hold-thread         hold in a second thread while the main thread
 *                         exits (pthread_exit: it shows as a zombie while
 *                         the process lives on)
 *   --entry MODE          linked|dlsym|procaddress (linked)
 *   --per-thread          procaddress: ask for the per-thread stream calls
 *   --json                one line: {"device":0,"allocated_bytes":N,
 *                         "alloc_error":"CUDA_ERROR_OUT_OF_MEMORY"|null,
 *                         "mem_total":N,"mem_free":N,"kernels":N,
 *                         "elapsed_s":X,"kernels_per_s":X}
 *   --exec-self -- ARGS   after the run (and --hold), exec gpuload ARGS
 *   --exec -- PROG ARGS   likewise, exec another program (from PATH)
 *                         in place, freeing nothing first (as an exec does)
 *   --resolve NAME[@VER][:ptds] ...   print what cuGetProcAddress_v2 gives
 *   --scenario NAME ...   a memory accounting scenario (scenario.c)
 * SIZE: bytes with an optional K, M, G or T (powers of 1024; Ki, MiB... too).
 * The report is printed (and flushed) before --hold, so a test can read it
 * while the memory is still held.  Exit status: 0 when the run completed
 * (an allocation failure is a result, not an error), 1 when the driver
 * could not be set up, 2 for bad usage, 3 when a launch failed.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gpuload.h"

int gl_parse_size(const char *s, size_t *out)
{
	static const char units[] = "KMGT";
	const char *u;
	char *end;
	double v;
	int shift = 0;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -EINVAL;
	u = *end ? strchr(units, *end & ~0x20) : NULL;
	if (u) {
		shift = 10 * (int)(u - units + 1);
		end++;
	}
	if (*end == 'i')
		end++;
	if (*end == 'B')
		end++;
	if (*end)
		return -EINVAL;
	*out = (size_t)(v * (double)(1ULL << shift));
	return 0;
}

static int pick(const char *arg, const char *const *names, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(arg, names[i]))
			return i;
	return -1;
}

static const char *const entries[] = { "linked", "dlsym", "procaddress" };
static const char *const launch_apis[] = { "kernel", "ex", "coop", "graph" };
#define N(a) ((int)(sizeof(a) / sizeof(a[0])))

static int parse(int argc, char **argv, struct gl_options *o)
{
	static const struct option longopts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "alloc", required_argument, NULL, 'a' },
		{ "chunk", required_argument, NULL, 'c' },
		{ "alloc-api", required_argument, NULL, 'A' },
		{ "kernel-us", required_argument, NULL, 'u' },
		{ "kernel", required_argument, NULL, 'K' },
		{ "kernels", required_argument, NULL, 'k' },
		{ "duration", required_argument, NULL, 't' },
		{ "launch-api", required_argument, NULL, 'L' },
		{ "stream-sync", no_argument, NULL, 's' },
		{ "capture", required_argument, NULL, 'C' },
		{ "distinct", required_argument, NULL, 'D' },
		{ "stale", required_argument, NULL, 'S' },
		{ "hold", required_argument, NULL, 'h' },
		{ "hold-thread", no_argument, NULL, 'H' },
		{ "entry", required_argument, NULL, 'e' },
		{ "per-thread", no_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "exec-self", no_argument, NULL, 'X' },
		{ "exec", no_argument, NULL, 'x' },
		{ NULL, 0, NULL, 0 },
	};
	int c, v;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->device = atoi(optarg);
			break;
		case 'a':
			if (gl_parse_size(optarg, &o->alloc))
				return -EINVAL;
			break;
		case 'c':
			if (gl_parse_size(optarg, &o->chunk))
				return -EINVAL;
			break;
		case 'u':
			o->kernel_us = atof(optarg);
			break;
		case 'k':
			o->kernels = atol(optarg);
			break;
		case 't':
			o->duration_s = atof(optarg);
			break;
		case 's':
			o->stream_sync = true;
			break;
		case 'C':
			o->capture = atol(optarg);
			break;
		case 'D':
			o->distinct = atol(optarg);
			break;
		case 'S':
			o->stale = atol(optarg);
			break;
		case 'h':
			o->hold_s = atof(optarg);
			break;
		case 'H':
			o->hold_thread = true;
			break;
		case 'p':
			o->per_thread = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 'X':
			o->exec_argv = argv; /* the rest, once parsed */
			break;
		case 'x':
			o->exec_argv = argv;
			o->exec_other = true;
			break;
		case 'K':
			if (strcmp(optarg, "spin") && strcmp(optarg, "noop"))
				return -EINVAL;
			o->noop = !strcmp(optarg, "noop");
			break;
		case 'e':
			v = pick(optarg, entries, N(entries));
			if (v < 0)
				return -EINVAL;
			o->entry = v;
			break;
		case 'A':
			v = pick(optarg, gl_alloc_api_names,
				 gl_alloc_api_count);
			if (v < 0)
				return -EINVAL;
			o->alloc_api = v;
			break;
		case 'L':
			v = pick(optarg, launch_apis, N(launch_apis));
			if (v < 0)
				return -EINVAL;
			o->launch_api = v;
			break;
		default:
			return -EINVAL;
		}
	}
	if (o->exec_argv && o->exec_other) {
		if (optind >= argc)
			return -EINVAL;
		o->exec_argv = &argv[optind];
		optind = argc;
	} else if (o->exec_argv && optind > 0) {
		/* argv[optind - 1] ("--" or the last option) becomes argv[0] */
		o->exec_argv = &argv[optind - 1];
		o->exec_argv[0] = argv[0];
		optind = argc;
	}
	if (optind < argc || o->chunk == 0 || o->kernel_us < 0 ||
	    o->capture < 0 || o->distinct < 0 || o->stale < 0)
		return -EINVAL;
	return 0;
}

static void sleep_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s,
			       .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static double held_s;

static void *hold_then_exit(void *arg)
{
	(void)arg;
	sleep_s(held_s);
	exit(0);
}

struct gl_result {
	size_t allocated;
	const char *alloc_error;
	size_t mem_total, mem_free;
	long kernels;
	double elapsed_s;
};

static void report(const struct gl_options *o, const struct gl_result *r)
{
	double kps = r->elapsed_s > 0 ? (double)r->kernels / r->elapsed_s : 0;

	if (o->json) {
		printf("{\"device\":%d,\"allocated_bytes\":%zu,\"alloc_error\":",
		       o->device, r->allocated);
		if (r->alloc_error)
			printf("\"%s\"", r->alloc_error);
		else
			printf("null");
		printf(",\"mem_total\":%zu,\"mem_free\":%zu,\"kernels\":%ld,"
		       "\"elapsed_s\":%.6f,\"kernels_per_s\":%.3f}\n",
		       r->mem_total, r->mem_free, r->kernels, r->elapsed_s,
		       kps);
	} else {
		printf("device %d: allocated %zu bytes (%s), free %zu of %zu\n"
		       "%ld kernels in %.3f s: %.1f per second\n",
		       o->device, r->allocated,
		       r->alloc_error ? r->alloc_error : "ok", r->mem_free,
		       r->mem_total, r->kernels, r->elapsed_s, kps);
	}
	fflush(stdout);
}

#define CHECK(call)                                                          \
	do {                                                                 \
		res = (call);                                                \
		if (res) {                                                   \
			fprintf(stderr, "gpuload: %s: %s\n", #call,          \
				gl_err_name(&d, res));                       \
			status = 1;                                          \
			goto out;                                            \
		}                                                            \
	} while (0)

static int run(const struct gl_options *o)
{
	struct gl_result r = { 0 };
	struct gl_allocs *allocs = NULL;
	CUstream stream = NULL;
	CUcontext ctx = NULL;
	struct gl_driver d;
	CUdevice dev;
	CUresult res;
	int status = 0;

	memset(&d, 0, sizeof(d));
	if (gl_driver_load(&d, o->entry, o->per_thread))
		return 1;
	CHECK(d.Init(0));
	CHECK(d.DeviceGet(&dev, o->device));
	CHECK(d.PrimaryCtxRetain(&ctx, dev));
	CHECK(d.CtxSetCurrent(ctx));
	CHECK(d.StreamCreate(&stream, CU_STREAM_NON_BLOCKING));
	res = gl_alloc_all(&d, o, stream, &allocs, &r.allocated);
	if (res)
		r.alloc_error = gl_err_name(&d, res);
	CHECK(d.MemGetInfo(&r.mem_free, &r.mem_total));
	if (o->kernels >= 0 || o->duration_s > 0) {
		res = gl_run_kernels(&d, o, stream, &r.kernels, &r.elapsed_s);
		if (res) {
			fprintf(stderr, "gpuload: launch: %s\n",
				gl_err_name(&d, res));
			status = 3;
		}
	}
	report(o, &r);
	if (o->hold_thread && o->hold_s > 0) {
		pthread_t t;

		held_s = o->hold_s;
		if (pthread_create(&t, NULL, hold_then_exit, NULL) == 0)
			pthread_exit(NULL);
	}
	if (o->hold_s > 0)
		sleep_s(o->hold_s);
	if (o->exec_argv) {
		if (o->exec_other)
			execvp(o->exec_argv[0], o->exec_argv);
		else
			execv("/proc/self/exe", o->exec_argv);
		perror("gpuload: exec");
		status = 1;
	}
out:
	gl_free_all(&d, allocs, stream);
	if (stream)
		d.StreamDestroy(stream);
	if (ctx)
		d.PrimaryCtxRelease(dev);
	return status;
}

int main(int argc, char **argv)
{
	struct gl_options o = {
		.chunk = 64ULL << 20,
		.kernel_us = 1000,
		.kernels = -1,
	};

	if (argc > 2 && !strcmp(argv[1], "--resolve")) {
		/* every argument after it is a name */
		return gl_resolve(argc - 2, argv + 2);
	}
	if (argc > 1 && !strcmp(argv[1], "--scenario"))
		return gl_scenario(argc - 1, argv + 1);
	if (parse(argc, argv, &o)) {
		fprintf(stderr, "usage: gpuload [--device N] [--alloc SIZE] "
				"[--chunk SIZE] [--alloc-api API] "
				"[--kernel-us US] [--kernel spin|noop] "
				"[--kernels N | --duration S] "
				"[--launch-api API] [--stream-sync] "
				"[--capture N] [--distinct N] [--stale N] "
				"[--hold S] [--hold-thread] "
				"[--entry linked|dlsym|procaddress] "
				"[--per-thread] [--json]\n"
				"       gpuload --resolve NAME[@VERSION][:ptds]...\n");
		return 2;
	}
	return run(&o);
}
