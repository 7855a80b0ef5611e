/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ledger: the two files through which the daemon and the interposer in
 * a container's processes talk.  This header is THE definition of their byte
 * layout; src/vgpu/ledger-layout.ts mirrors the offsets and the shared test
 * vectors (test/fixtures/ledger/, made by build/ledger-vectors) hold both
 * sides to the same bytes.
 *
 *   <state>/cgroup/<cgroup path>/vgpu.limits  daemon writes (root, 0644)
 *   <state>/cgroup/<cgroup path>/vgpu.usage   workload processes write (0666)
 *
 * Both are little-endian, fixed size, and mapped MAP_SHARED by every
 * interposer, so each field is a naturally aligned 32- or 64-bit word that a
 * single load or atomic operation reads or changes.
 *
 * Limits are updated in place under a seqlock: the writer stores gen + 1
 * (odd), the fields, then gen + 2 (even); a reader that sees an odd gen or a
 * gen that moved while it copied retries.  Single words (one device's memory
 * limit, its share) are read on the hot path without the seqlock, since a
 * naturally aligned word is never torn.  In-place updates (not write+rename)
 * keep the interposer's check for a change a single load instead of a stat().
 *
 * Usage has no lock at all: the per-device counters are changed with atomic
 * add/CAS, a process's slot is claimed with a CAS on its owner word, and the
 * container-wide stall state is one packed word changed by CAS.  A killed
 * process can therefore leave at most its own slot behind, which the next
 * process or the daemon reclaims (see gs_usage_slot).
 */
#ifndef GS_LEDGER_H
#define GS_LEDGER_H

#include <stdint.h>

#define GS_LEDGER_MAX_DEVICES 16
#define GS_LEDGER_MAX_SLOTS 128

#define GS_LIMITS_FILE "vgpu.limits"
#define GS_USAGE_FILE "vgpu.usage"

/* "GSLM" and "GSUS" as bytes on disk */
#define GS_LIMITS_MAGIC 0x4d4c5347u
#define GS_USAGE_MAGIC 0x53555347u
#define GS_LEDGER_VERSION 2

/* memory limit meaning "not limited" (the device's own size applies) */
#define GS_MEM_UNLIMITED UINT64_MAX
/* anything above this that is not GS_MEM_UNLIMITED is refused as absurd */
#define GS_MEM_LIMIT_MAX (1ull << 50)
/* compute share in parts per million; 1000000 = the whole device, not paced */
#define GS_SHARE_ONE 1000000u
#define GS_PERIOD_US_DEFAULT 100000u
#define GS_PERIOD_US_MIN 1000u
#define GS_PERIOD_US_MAX 10000000u
#define GS_WAIT_TIMEOUT_MS_MAX (24u * 3600u * 1000u)

enum gs_mem_policy {
	GS_POLICY_FAIL = 0, /* over the limit: CUDA_ERROR_OUT_OF_MEMORY */
	GS_POLICY_WAIT = 1, /* wait (as stall) for room, up to wait_timeout_ms */
};

/* gs_limits_device.flags */
#define GS_DEV_PRESENT 0x1u /* the container was given this device */

struct gs_limits_device {
	uint64_t mem_limit;       /* bytes, or GS_MEM_UNLIMITED */
	uint32_t compute_ppm;     /* 1..GS_SHARE_ONE */
	uint32_t mem_policy;      /* enum gs_mem_policy */
	uint32_t wait_timeout_ms; /* policy wait: give up after this */
	uint32_t flags;           /* GS_DEV_* */
	uint64_t reserved;
};

struct gs_limits {
	uint32_t magic;     /* GS_LIMITS_MAGIC */
	uint16_t version;   /* GS_LEDGER_VERSION */
	uint16_t ndev;      /* devices described, <= GS_LEDGER_MAX_DEVICES */
	uint32_t size;      /* sizeof(struct gs_limits) */
	uint32_t period_us; /* control period: refill burst, wait re-checks */
	uint64_t gen;       /* seqlock: odd while the daemon writes */
	uint64_t reserved;
	struct gs_limits_device dev[GS_LEDGER_MAX_DEVICES];
};

/*
 * Container-wide counters of one device.  mem_used is the sum of every live
 * reservation of the container's processes: an allocation adds to it with
 * one CAS (refused when the sum would pass the limit) before the driver is
 * called.  The compute bucket holds GPU time in ns: refilled at share x
 * elapsed wall time up to one period's worth, drained by each launch's
 * estimated cost.  retired_* hold the counters of slots already reclaimed,
 * so a container's totals are retired_* plus the live slots' counters.
 */
struct gs_usage_device {
	uint64_t mem_used;   /* bytes reserved now */
	int64_t tokens_ns;   /* compute bucket; may go negative (debt) */
	uint64_t refill_ns;  /* CLOCK_MONOTONIC of the last refill */
	uint64_t mem_peak;   /* high-water mark of mem_used */
	uint64_t retired_launches;
	uint64_t retired_gpu_ns;
	uint64_t retired_stall_ns;
	uint64_t reserved;
};

struct gs_usage_slot_device {
	uint64_t mem;      /* bytes this process holds */
	uint64_t launches; /* kernels and graphs launched */
	uint64_t gpu_ns;   /* estimated device time of those launches */
	uint64_t stall_ns; /* time its threads waited (pacing, memory) */
};

/*
 * One process.  owner = pid | (claim count << 32): claimed by CAS from a free
 * word (pid 0), so a reclaimer that decided "dead" on an old owner word can
 * never free a newer claim of the same slot (ABA).  start_time is field 22 of
 * /proc/PID/stat, so a recycled pid is never taken for the dead process; a
 * slot whose pid is gone or whose start time differs is dead.  pidns is the
 * inode of /proc/PID/ns/pid: a reclaimer in another pid namespace cannot
 * judge the pid and leaves the slot alone.  exe_dev/exe_ino name the program
 * (/proc/PID/exe) that claimed it: exec keeps pid and start time but ends the
 * image and its GPU memory, so a process now running another program holds
 * nothing of the slot's, even if that program never uses CUDA (0: unknown).
 */
#define GS_SLOT_PID_MASK 0xffffffffull
#define GS_SLOT_RECLAIMING 0xffffffffu /* pid while being reclaimed */

struct gs_usage_slot {
	uint64_t owner;
	uint64_t start_time;
	uint64_t pidns;
	uint32_t nthreads; /* threads of this process that use the GPU */
	uint32_t nstalled; /* of which waiting in the interposer now */
	uint64_t exe_dev;
	uint64_t exe_ino;
	struct gs_usage_slot_device dev[GS_LEDGER_MAX_DEVICES];
};

/*
 * Stall, PSI-like, across all the container's processes:
 *   a thread "uses the GPU" from its first allocation or launch through the
 *   interposer until it exits; it is "stalled" while it sleeps in the
 *   interposer (paced launch, memory wait).
 *   some: time during which >= 1 such thread was stalled;
 *   full: time during which >= 1 was stalled and all of them were.
 * stall_state packs the counts and the time of the last change so one CAS
 * moves both; the thread whose CAS wins adds the time spent in the old state
 * to some_us/full_us (the kernel's PSI accounts state times the same way).
 *   bits  0..11 threads stalled, 12..23 threads using the GPU,
 *   bits 24..63 CLOCK_MONOTONIC in microseconds, modulo 2^40 (12.7 days).
 */
#define GS_STALL_COUNT_BITS 12
#define GS_STALL_COUNT_MASK ((1ull << GS_STALL_COUNT_BITS) - 1)
#define GS_STALL_TIME_SHIFT 24
#define GS_STALL_TIME_MASK ((1ull << 40) - 1)

struct gs_usage {
	uint32_t magic;   /* GS_USAGE_MAGIC */
	uint16_t version; /* GS_LEDGER_VERSION */
	uint16_t nslots;  /* GS_LEDGER_MAX_SLOTS */
	uint32_t size;    /* sizeof(struct gs_usage) */
	uint32_t reserved0;
	uint64_t stall_state;
	uint64_t some_us;
	uint64_t full_us;
	uint64_t reserved[3];
	struct gs_usage_device dev[GS_LEDGER_MAX_DEVICES];
	struct gs_usage_slot slot[GS_LEDGER_MAX_SLOTS];
};

/* the layout is ABI: the TypeScript side reads these very offsets */
_Static_assert(sizeof(struct gs_limits_device) == 32, "gs_limits_device");
_Static_assert(sizeof(struct gs_limits) == 32 + 16 * 32, "gs_limits");
_Static_assert(__builtin_offsetof(struct gs_limits, gen) == 16, "gen");
_Static_assert(sizeof(struct gs_usage_device) == 64, "gs_usage_device");
_Static_assert(sizeof(struct gs_usage_slot) == 48 + 16 * 32, "gs_usage_slot");
_Static_assert(__builtin_offsetof(struct gs_usage, dev) == 64, "usage dev");
_Static_assert(sizeof(struct gs_usage) == 64 + 16 * 64 + 128 * 560,
	       "gs_usage");

#endif /* GS_LEDGER_H */
