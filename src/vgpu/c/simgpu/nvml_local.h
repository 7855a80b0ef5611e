/* SPDX-License-Identifier: Apache-2.0 */
/* State of libnvidia-ml.so.1, shared by nvml.c and nvml_procs.c. */
#ifndef SIMGPU_NVML_LOCAL_H
#define SIMGPU_NVML_LOCAL_H

#include "simgpu.h"

struct nvmlDevice_st {
	int index;
	uint64_t last_busy_ns, last_ns; /* for device utilization */
};

struct sim_nvml {
	pthread_mutex_t lock;
	int refs;
	struct sim_config cfg;
	struct sim_state *state;
	struct nvmlDevice_st dev[SIM_MAX_DEVICES];
	/* per-process utilization: the last sample taken of each slot */
	uint64_t seen_key[SIM_MAX_PROCS][SIM_MAX_DEVICES];
	uint64_t seen_busy[SIM_MAX_PROCS][SIM_MAX_DEVICES];
	uint64_t seen_ns[SIM_MAX_PROCS][SIM_MAX_DEVICES];
};

extern struct sim_nvml nv;

nvmlReturn_t sim_nvml_check(void);
nvmlReturn_t sim_nvml_check_dev(nvmlDevice_t device);

#endif /* SIMGPU_NVML_LOCAL_H */
