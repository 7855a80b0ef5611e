/* SPDX-License-Identifier: Apache-2.0 */
/*
 * build/ledger-vectors: the C side of the ledger's shared test vectors.
 *   layout              offsets and sizes of gs_ledger.h, as JSON
 *   limits FILE         write the sample limits vector
 *   usage FILE          write the sample usage vector
 *   dump-limits FILE    the file as the interposer reads it, as JSON
 *   dump-usage FILE     likewise (devices and non-empty slots)
 *   fake-slot DIR PID START DEV BYTES   claim a slot as process PID with
 *                       start time START holding BYTES on DEV (reserved)
 *   reclaim DIR         reclaim dead slots, print how many
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ledger.h"

#define OFF(t, f) (unsigned)offsetof(struct t, f)

static int layout(void)
{
	printf("{\"version\":%d,\"maxDevices\":%d,\"maxSlots\":%d,"
	       "\"limitsMagic\":%u,\"usageMagic\":%u,"
	       "\"limitsSize\":%zu,\"limitsDeviceSize\":%zu,"
	       "\"limits\":{\"magic\":%u,\"version\":%u,\"ndev\":%u,\"size\":%u,"
	       "\"period_us\":%u,\"gen\":%u,\"dev\":%u},"
	       "\"limitsDevice\":{\"mem_limit\":%u,\"compute_ppm\":%u,"
	       "\"mem_policy\":%u,\"wait_timeout_ms\":%u,\"flags\":%u},"
	       "\"usageSize\":%zu,\"usageDeviceSize\":%zu,\"slotSize\":%zu,"
	       "\"slotDeviceSize\":%zu,"
	       "\"usage\":{\"magic\":%u,\"version\":%u,\"nslots\":%u,\"size\":%u,"
	       "\"stall_state\":%u,\"some_us\":%u,\"full_us\":%u,\"dev\":%u,"
	       "\"slot\":%u},"
	       "\"usageDevice\":{\"mem_used\":%u,\"tokens_ns\":%u,"
	       "\"refill_ns\":%u,\"mem_peak\":%u,\"retired_launches\":%u,"
	       "\"retired_gpu_ns\":%u,\"retired_stall_ns\":%u},"
	       "\"slot\":{\"owner\":%u,\"start_time\":%u,\"pidns\":%u,"
	       "\"nthreads\":%u,\"nstalled\":%u,\"exe_dev\":%u,"
	       "\"exe_ino\":%u,\"dev\":%u},"
	       "\"slotDevice\":{\"mem\":%u,\"launches\":%u,\"gpu_ns\":%u,"
	       "\"stall_ns\":%u}}\n",
	       GS_LEDGER_VERSION, GS_LEDGER_MAX_DEVICES, GS_LEDGER_MAX_SLOTS,
	       GS_LIMITS_MAGIC, GS_USAGE_MAGIC, sizeof(struct gs_limits),
	       sizeof(struct gs_limits_device), OFF(gs_limits, magic),
	       OFF(gs_limits, version), OFF(gs_limits, ndev),
	       OFF(gs_limits, size), OFF(gs_limits, period_us),
	       OFF(gs_limits, gen), OFF(gs_limits, dev),
	       OFF(gs_limits_device, mem_limit),
	       OFF(gs_limits_device, compute_ppm),
	       OFF(gs_limits_device, mem_policy),
	       OFF(gs_limits_device, wait_timeout_ms),
	       OFF(gs_limits_device, flags), sizeof(struct gs_usage),
	       sizeof(struct gs_usage_device), sizeof(struct gs_usage_slot),
	       sizeof(struct gs_usage_slot_device), OFF(gs_usage, magic),
	       OFF(gs_usage, version), OFF(gs_usage, nslots),
	       OFF(gs_usage, size), OFF(gs_usage, stall_state),
	       OFF(gs_usage, some_us), OFF(gs_usage, full_us),
	       OFF(gs_usage, dev), OFF(gs_usage, slot),
	       OFF(gs_usage_device, mem_used), OFF(gs_usage_device, tokens_ns),
	       OFF(gs_usage_device, refill_ns), OFF(gs_usage_device, mem_peak),
	       OFF(gs_usage_device, retired_launches),
	       OFF(gs_usage_device, retired_gpu_ns),
	       OFF(gs_usage_device, retired_stall_ns),
	       OFF(gs_usage_slot, owner), OFF(gs_usage_slot, start_time),
	       OFF(gs_usage_slot, pidns), OFF(gs_usage_slot, nthreads),
	       OFF(gs_usage_slot, nstalled), OFF(gs_usage_slot, exe_dev),
	       OFF(gs_usage_slot, exe_ino), OFF(gs_usage_slot, dev),
	       OFF(gs_usage_slot_device, mem),
	       OFF(gs_usage_slot_device, launches),
	       OFF(gs_usage_slot_device, gpu_ns),
	       OFF(gs_usage_slot_device, stall_ns));
	return 0;
}

static int write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(p, 1, n, f) != n || fclose(f))
		return perror(path), 1;
	return 0;
}

/* the sample vectors: every field a distinct, recognisable value */
static int sample_limits(const char *path)
{
	struct gs_limits l;

	memset(&l, 0, sizeof(l));
	l.magic = GS_LIMITS_MAGIC;
	l.version = GS_LEDGER_VERSION;
	l.ndev = 3;
	l.size = sizeof(l);
	l.period_us = 100000;
	l.gen = 42;
	l.dev[0] = (struct gs_limits_device){ 1ull << 30, 250000,
					      GS_POLICY_FAIL, 0,
					      GS_DEV_PRESENT, 0 };
	l.dev[2] = (struct gs_limits_device){ GS_MEM_UNLIMITED, 750000,
					      GS_POLICY_WAIT, 30000,
					      GS_DEV_PRESENT, 0 };
	l.dev[1].mem_limit = 0;
	return write_file(path, &l, sizeof(l));
}

static int sample_usage(const char *path)
{
	static struct gs_usage u;

	gs_usage_init(&u);
	u.stall_state = 2 | 3ull << GS_STALL_COUNT_BITS |
			123456789ull << GS_STALL_TIME_SHIFT;
	u.some_us = 5000;
	u.full_us = 1500;
	u.dev[0] = (struct gs_usage_device){ 768ull << 20, -12345, 987654321,
					     900ull << 20, 10, 2000000,
					     300000, 0 };
	u.slot[0].owner = 7ull << 32 | 4242;
	u.slot[0].start_time = 99999;
	u.slot[0].pidns = 4026531836ull;
	u.slot[0].nthreads = 2;
	u.slot[0].nstalled = 1;
	u.slot[0].exe_dev = 2049;
	u.slot[0].exe_ino = 1310722;
	u.slot[0].dev[0] = (struct gs_usage_slot_device){ 512ull << 20, 100,
							  5000000, 250000 };
	u.slot[5].owner = 1ull << 32 | 777;
	u.slot[5].start_time = 1234;
	u.slot[5].nthreads = 1;
	u.slot[5].dev[0] = (struct gs_usage_slot_device){ 256ull << 20, 3,
							  30000, 0 };
	u.slot[9].owner = 3ull << 32; /* freed after 3 claims */
	return write_file(path, &u, sizeof(u));
}

static void *map(const char *path, size_t size, int prot)
{
	int fd = open(path, prot & PROT_WRITE ? O_RDWR : O_RDONLY);
	void *p;

	if (fd < 0)
		return perror(path), NULL;
	p = mmap(NULL, size, prot, MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? (perror("mmap"), NULL) : p;
}

static int dump_limits(const char *path)
{
	struct gs_limits *m = map(path, sizeof(*m), PROT_READ), l;
	const char *why = "ok";
	int bad;

	if (!m || gs_limits_snapshot(m, &l))
		return 1;
	bad = gs_limits_check(&l, &why);
	printf("{\"valid\":%s,\"why\":\"%s\",\"ndev\":%u,\"period_us\":%u,"
	       "\"gen\":%llu,\"dev\":[", bad ? "false" : "true", why, l.ndev,
	       l.period_us, (unsigned long long)l.gen);
	for (int i = 0; i < l.ndev && i < GS_LEDGER_MAX_DEVICES; i++)
		printf("%s{\"mem_limit\":\"%llu\",\"compute_ppm\":%u,"
		       "\"mem_policy\":%u,\"wait_timeout_ms\":%u,\"flags\":%u}",
		       i ? "," : "", (unsigned long long)l.dev[i].mem_limit,
		       l.dev[i].compute_ppm, l.dev[i].mem_policy,
		       l.dev[i].wait_timeout_ms, l.dev[i].flags);
	printf("]}\n");
	return 0;
}

static int dump_usage(const char *path)
{
	struct gs_usage *u = map(path, sizeof(*u), PROT_READ);
	const char *why = "ok";
	int bad, first = 1;

	if (!u)
		return 1;
	bad = gs_usage_check(u, &why);
	printf("{\"valid\":%s,\"why\":\"%s\",\"some_us\":%llu,\"full_us\":%llu,"
	       "\"stall_state\":\"%llu\",\"mem_used\":[", bad ? "false" : "true",
	       why, (unsigned long long)u->some_us,
	       (unsigned long long)u->full_us,
	       (unsigned long long)u->stall_state);
	for (int d = 0; d < GS_LEDGER_MAX_DEVICES; d++)
		printf("%s%llu", d ? "," : "",
		       (unsigned long long)u->dev[d].mem_used);
	printf("],\"slots\":[");
	for (int i = 0; i < GS_LEDGER_MAX_SLOTS; i++) {
		struct gs_usage_slot *s = &u->slot[i];

		if (!(s->owner & GS_SLOT_PID_MASK))
			continue;
		printf("%s{\"index\":%d,\"pid\":%llu,\"start_time\":%llu,"
		       "\"mem0\":%llu}", first ? "" : ",", i,
		       (unsigned long long)(s->owner & GS_SLOT_PID_MASK),
		       (unsigned long long)s->start_time,
		       (unsigned long long)s->dev[0].mem);
		first = 0;
	}
	printf("]}\n");
	return 0;
}

static int fake_slot(char **argv)
{
	struct gs_usage *u;
	const char *why = "";
	int dev = atoi(argv[5]), idx;
	uint64_t bytes = strtoull(argv[6], NULL, 0);

	if (gs_usage_map(argv[2], true, &u, &why))
		return fprintf(stderr, "usage: %s\n", why), 1;
	idx = gs_slot_claim(u, atoi(argv[3]), strtoull(argv[4], NULL, 0), 0);
	if (idx < 0 || !gs_mem_reserve(&u->dev[dev], bytes, GS_MEM_UNLIMITED))
		return fprintf(stderr, "no slot or no room\n"), 1;
	u->slot[idx].dev[dev].mem = bytes;
	u->slot[idx].nthreads = 1;
	gs_stall_change(u, 0, 1);
	printf("%d\n", idx);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	if (!strcmp(cmd, "layout"))
		return layout();
	if (argc == 3 && !strcmp(cmd, "limits"))
		return sample_limits(argv[2]);
	if (argc == 3 && !strcmp(cmd, "usage"))
		return sample_usage(argv[2]);
	if (argc == 3 && !strcmp(cmd, "dump-limits"))
		return dump_limits(argv[2]);
	if (argc == 3 && !strcmp(cmd, "dump-usage"))
		return dump_usage(argv[2]);
	if (argc == 7 && !strcmp(cmd, "fake-slot"))
		return fake_slot(argv);
	if (argc == 3 && !strcmp(cmd, "reclaim")) {
		struct gs_usage *u;
		const char *why = "";

		if (gs_usage_map(argv[2], false, &u, &why))
			return fprintf(stderr, "usage: %s\n", why), 1;
		printf("%d\n", gs_usage_reclaim_dead(u, 0));
		return 0;
	}
	fprintf(stderr, "usage: ledger-vectors layout|limits F|usage F|"
			"dump-limits F|dump-usage F|fake-slot D PID START DEV "
			"BYTES|reclaim D\n");
	return 2;
}
