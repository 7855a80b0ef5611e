/* SPDX-License-Identifier: Apache-2.0 */
/*
 * simgpu internals: configuration, the shared device state, and the
 * process-local objects (contexts, streams, modules) behind the driver
 * handles.  The driver calls live in device.c, context.c, memory.c, pool.c,
 * vmm.c, launch.c, stream.c, graph.c, legacy.c (shared implementations)
 * and procaddr.c; libnvidia-ml.so.1 is nvml.c and nvml_procs.c over the
 * same state.
 */
#ifndef SIMGPU_H
#define SIMGPU_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gs_cuda.h"
#include "simgpu_state.h"

#define SIM_DEFAULT_DIR "/run/gpuslice/simgpu"
#define SIM_DEFAULT_NAME "gpuslice simulated GPU"
#define SIM_DEFAULT_KERNEL_NS 100000ULL /* a kernel other than gs_spin */
#define SIM_SPIN_ENTRY "gs_spin"
#define SIM_QUEUE_DEPTH 1024 /* launches a stream holds before blocking */
#define SIM_VMM_GRANULARITY (2ULL << 20)

#define SIM_EXPORT __attribute__((visibility("default")))

enum sim_log_level { SIM_LOG_ERROR, SIM_LOG_WARN, SIM_LOG_INFO, SIM_LOG_DEBUG };

void sim_log(enum sim_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* config.c: SIMGPU_DIR and its config file */
struct sim_config {
	char dir[512];
	char name[64];
	int count;
	uint64_t memory[SIM_MAX_DEVICES];
	uint64_t kernel_default_ns;
};

int sim_config_load(struct sim_config *cfg);
int sim_device_node(const struct sim_config *cfg, int dev, char *buf,
		    size_t len);

/* shm.c: the shared state */
int sim_state_map(const struct sim_config *cfg, struct sim_state **out);
int sim_lock(struct sim_state *s);
void sim_unlock(struct sim_state *s);
uint64_t sim_now_ns(void);
void sim_sleep_until(uint64_t t_ns);

/* slots.c: per-process slots and memory accounting */
extern bool sim_test_crash_locked; /* SIMGPU_TEST_CRASH_LOCKED, for tests */
int sim_proc_start_ticks(int pid, uint64_t *ticks);
bool sim_slot_alive(const struct sim_proc *p);
int sim_reclaim_dead(struct sim_state *s);
int sim_slot_claim(struct sim_state *s, struct sim_proc **out);
void sim_slot_release(struct sim_state *s, struct sim_proc *p);
int sim_mem_reserve(struct sim_state *s, struct sim_proc *p, int dev,
		    uint64_t bytes);
void sim_mem_release(struct sim_state *s, struct sim_proc *p, int dev,
		     uint64_t bytes);

/* timeline.c */
uint64_t sim_timeline_reserve(struct sim_state *s, struct sim_proc *p,
			      int dev, uint64_t dur_ns, uint64_t kernels);

/* process-local objects; a magic tells a live handle from garbage */
#define SIM_CTX_MAGIC 0x43545831u
#define SIM_STREAM_MAGIC 0x53545231u
#define SIM_EVENT_MAGIC 0x45564e31u
#define SIM_MODULE_MAGIC 0x4d4f4431u
#define SIM_FUNC_MAGIC 0x46554e31u
#define SIM_GRAPH_MAGIC 0x47524131u
#define SIM_EXEC_MAGIC 0x47455831u
#define SIM_POOL_MAGIC 0x504f4f31u
#define SIM_ARRAY_MAGIC 0x41525231u

struct CUgraph_st {
	uint32_t magic;
	int dev;
	uint32_t nodes; /* kernels captured */
	uint64_t dur_ns; /* their device time, replayed as one unit */
	bool invalidated; /* an illegal call during the capture */
};

struct CUgraphExec_st {
	uint32_t magic;
	int dev;
	uint32_t nodes;
	uint64_t dur_ns;
};

struct CUstream_st {
	uint32_t magic;
	struct CUctx_st *ctx;
	_Atomic uint64_t last_end_ns;
	pthread_mutex_t lock; /* the launch queue and capture */
	uint64_t queue[SIM_QUEUE_DEPTH];
	uint64_t queued;
	struct CUgraph_st *capture; /* non-NULL while capturing */
};

struct CUctx_st {
	uint32_t magic;
	int dev;
	bool primary;
	_Atomic uint64_t last_end_ns;
	struct CUstream_st null_stream;
};

struct CUevent_st {
	uint32_t magic;
	unsigned int flags;
	_Atomic uint64_t at_ns; /* 0: never recorded */
};

struct CUmemPoolHandle_st {
	uint32_t magic;
	int dev;
	bool is_default;
};

struct CUarray_st {
	uint32_t magic;
	int dev;
	uint64_t bytes;
};

struct sim_process {
	pthread_mutex_t lock;
	bool initialized;
	struct sim_config cfg;
	struct sim_state *state;
	struct sim_proc *slot;
	int visible[SIM_MAX_DEVICES]; /* CUDA ordinal -> physical index */
	int nvisible;
	/* by physical device, like the `dev` of every object above */
	struct CUctx_st *primary[SIM_MAX_DEVICES];
	int primary_refs[SIM_MAX_DEVICES];
	struct CUmemPoolHandle_st default_pool[SIM_MAX_DEVICES];
};

extern struct sim_process sim;

/* device.c */
CUresult sim_check_init(void);

/* visible.c: CUDA_VISIBLE_DEVICES; a CUdevice is a visible ordinal */
int sim_visible_parse(const char *env, int count, int map[SIM_MAX_DEVICES]);
CUresult sim_device(CUdevice ordinal, int *phys);
int sim_ordinal(int phys); /* -1: not visible */
CUresult sim_current_ctx(struct CUctx_st **out);
CUresult sim_stream_resolve(CUstream h, struct CUstream_st **out);

/* alloc_table.c: this process's device memory, keyed by address */
enum sim_alloc_kind {
	SIM_ALLOC_MEM, /* cuMemAlloc, cuMemAllocPitch */
	SIM_ALLOC_MANAGED,
	SIM_ALLOC_ASYNC, /* cuMemAllocAsync, cuMemAllocFromPoolAsync */
	SIM_ALLOC_HOST, /* cuMemAllocHost: not device memory */
	SIM_ALLOC_VA, /* cuMemAddressReserve: address space only */
	SIM_ALLOC_MAPPED, /* cuMemMap of a cuMemCreate handle */
};

struct sim_vmm_handle;

struct sim_alloc_entry {
	CUdeviceptr ptr;
	size_t len; /* bytes mapped at ptr */
	uint64_t accounted; /* bytes taken from the device */
	int dev;
	enum sim_alloc_kind kind;
	struct CUctx_st *ctx; /* freed with it; NULL: not a context's */
	struct sim_vmm_handle *handle; /* SIM_ALLOC_MAPPED */
	struct sim_alloc_entry *next;
};

void sim_table_insert(struct sim_alloc_entry *e);
struct sim_alloc_entry *sim_table_remove(CUdeviceptr ptr,
					 enum sim_alloc_kind kind);
bool sim_table_covers(CUdeviceptr ptr, size_t len);
bool sim_table_range(CUdeviceptr ptr, CUdeviceptr *base, size_t *size);
/* unlinks every entry of ctx, as a list through ->next */
struct sim_alloc_entry *sim_table_take_ctx(struct CUctx_st *ctx);
void sim_alloc_forget_all(void);

/* memory.c; ctx: the context whose destruction frees it (NULL: none) */
CUresult sim_alloc(struct CUctx_st *ctx, int dev, uint64_t bytes,
		   enum sim_alloc_kind kind, CUdeviceptr *out);
/* kinds: a mask of 1 << SIM_ALLOC_* that this free may release */
CUresult sim_free(CUdeviceptr ptr, unsigned int kinds);
/* what the driver does when a context goes: frees its allocations */
void sim_free_ctx(struct CUctx_st *ctx);

/* stream.c */
void sim_stream_init(struct CUstream_st *s, struct CUctx_st *ctx);
CUresult sim_stream_sync(struct CUstream_st *s);
CUresult sim_stream_submit(struct CUstream_st *s, uint64_t dur_ns,
			   uint32_t kernels);

/* launch.c */
CUresult sim_launch(CUfunction f, CUstream stream, void **params,
		    void **extra);

/* procaddr.c */
CUresult sim_get_proc_address(const char *symbol, void **pfn, int version,
			      cuuint64_t flags,
			      CUdriverProcAddressQueryResult *status);

#endif /* SIMGPU_H */
