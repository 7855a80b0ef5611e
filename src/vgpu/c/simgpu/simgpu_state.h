/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device state that every process using the simulated GPUs shares: the
 * file SIMGPU_DIR/state, mapped MAP_SHARED.  Little-endian, naturally
 * aligned, 64-bit counters; src/vgpu/simgpu.ts reads the same bytes (keep
 * the offsets there in step: the static assertions below pin them).
 *
 * Who writes what, and how it survives a SIGKILL:
 * - capacity, used, and the per-process mem[] move together under `lock`, a
 *   process-shared robust mutex.  A process killed while holding it hands
 *   the next locker EOWNERDEAD, which recomputes every device's `used` from
 *   the slots (the slots are the truth) and marks the mutex consistent.
 * - the timeline (busy_until_ns) advances with one compare-and-swap per
 *   launch; the busy/launch counters are atomic adds: nothing to recover.
 * - a slot belongs to a process identified by pid and start time (field 22
 *   of /proc/PID/stat), so a reused pid never inherits a dead process's
 *   memory; dead slots are reclaimed by the next process that attaches, or
 *   that runs out of memory, and by NVML queries.
 * All times are CLOCK_MONOTONIC nanoseconds.
 */
#ifndef SIMGPU_STATE_H
#define SIMGPU_STATE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_MAGIC 0x55504753u /* "SGPU" */
#define SIM_VERSION 1u
#define SIM_MAX_DEVICES 16
#define SIM_MAX_PROCS 256

struct sim_dev {
	uint64_t capacity; /* bytes, from the config */
	uint64_t used; /* bytes allocated by live processes (lock) */
	uint64_t busy_until_ns; /* end of the last kernel on the timeline */
	uint64_t busy_ns; /* device time of all kernels ever launched */
	uint64_t launches; /* kernels (and graph launches) ever launched */
	uint64_t peak_used; /* high-water mark of used (lock) */
	uint64_t reserved[2];
};

struct sim_proc {
	uint64_t key; /* start_ticks << 22 | pid; 0 = free slot */
	uint32_t pid;
	uint32_t pad;
	uint64_t start_ticks; /* /proc/PID/stat starttime */
	uint64_t attach_ns; /* when the process claimed the slot */
	uint64_t mem[SIM_MAX_DEVICES]; /* bytes allocated (lock) */
	uint64_t busy_ns[SIM_MAX_DEVICES]; /* device time of its kernels */
	uint64_t launches[SIM_MAX_DEVICES];
};

struct sim_state {
	uint32_t magic;
	uint32_t version;
	uint32_t size; /* sizeof(struct sim_state) */
	uint32_t max_devices;
	uint32_t max_procs;
	uint32_t count; /* simulated devices configured */
	uint64_t reclaimed; /* dead-process slots reclaimed so far */
	uint8_t pad0[32];
	union {
		pthread_mutex_t lock;
		uint8_t lock_space[64];
	};
	struct sim_dev dev[SIM_MAX_DEVICES];
	struct sim_proc proc[SIM_MAX_PROCS];
};

#define SIM_OFF_DEV 128
#define SIM_DEV_SIZE 64
#define SIM_OFF_PROC (SIM_OFF_DEV + SIM_MAX_DEVICES * SIM_DEV_SIZE)
#define SIM_PROC_SIZE 416

_Static_assert(offsetof(struct sim_state, reclaimed) == 24, "header");
_Static_assert(offsetof(struct sim_state, lock) == 64, "lock");
_Static_assert(offsetof(struct sim_state, dev) == SIM_OFF_DEV, "dev");
_Static_assert(sizeof(struct sim_dev) == SIM_DEV_SIZE, "dev size");
_Static_assert(offsetof(struct sim_state, proc) == SIM_OFF_PROC, "proc");
_Static_assert(sizeof(struct sim_proc) == SIM_PROC_SIZE, "proc size");
_Static_assert(offsetof(struct sim_proc, mem) == 32, "proc mem");
_Static_assert(offsetof(struct sim_proc, busy_ns) == 160, "proc busy");
_Static_assert(offsetof(struct sim_proc, launches) == 288, "proc launches");

#endif /* SIMGPU_STATE_H */
