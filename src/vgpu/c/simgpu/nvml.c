// SPDX-License-Identifier: Apache-2.0
/*
 * libnvidia-ml.so.1 of the simulated GPUs: memory, processes and
 * utilization read from the shared state libcuda.so.1 keeps.  A handle is
 * got by opening the device node, as for contexts: a device the gate
 * denies answers NVML_ERROR_NO_PERMISSION, a missing node
 * NVML_ERROR_NOT_FOUND.
 *
 * Utilization is device time booked by kernels over wall time: for a
 * process, since this library's previous sample of it (or since the
 * process attached); for the device, since the previous
 * nvmlDeviceGetUtilizationRates call (or since nvmlInit).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nvml_local.h"

struct sim_nvml nv = { .lock = PTHREAD_MUTEX_INITIALIZER };

SIM_EXPORT nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
	nvmlReturn_t ret = NVML_SUCCESS;
	int i;

	(void)flags;
	pthread_mutex_lock(&nv.lock);
	if (nv.refs++)
		goto out;
	if (!nv.state && (sim_config_load(&nv.cfg) ||
			  sim_state_map(&nv.cfg, &nv.state))) {
		nv.refs = 0;
		ret = NVML_ERROR_DRIVER_NOT_LOADED;
		goto out;
	}
	for (i = 0; i < SIM_MAX_DEVICES; i++) {
		nv.dev[i].index = i;
		nv.dev[i].last_ns = sim_now_ns();
		nv.dev[i].last_busy_ns = __atomic_load_n(
			&nv.state->dev[i].busy_ns, __ATOMIC_RELAXED);
	}
out:
	pthread_mutex_unlock(&nv.lock);
	return ret;
}

SIM_EXPORT nvmlReturn_t nvmlInit_v2(void)
{
	return nvmlInitWithFlags(0);
}

SIM_EXPORT nvmlReturn_t nvmlInit(void)
{
	return nvmlInitWithFlags(0);
}

SIM_EXPORT nvmlReturn_t nvmlShutdown(void)
{
	nvmlReturn_t ret = NVML_SUCCESS;

	pthread_mutex_lock(&nv.lock);
	if (nv.refs)
		nv.refs--;
	else
		ret = NVML_ERROR_UNINITIALIZED;
	pthread_mutex_unlock(&nv.lock);
	return ret;
}

nvmlReturn_t sim_nvml_check(void)
{
	return __atomic_load_n(&nv.refs, __ATOMIC_ACQUIRE) ?
		       NVML_SUCCESS :
		       NVML_ERROR_UNINITIALIZED;
}

nvmlReturn_t sim_nvml_check_dev(nvmlDevice_t device)
{
	nvmlReturn_t ret = sim_nvml_check();

	if (ret)
		return ret;
	if (!device || device < nv.dev || device >= nv.dev + nv.cfg.count)
		return NVML_ERROR_INVALID_ARGUMENT;
	return NVML_SUCCESS;
}

SIM_EXPORT const char *nvmlErrorString(nvmlReturn_t result)
{
	switch (result) {
	case NVML_SUCCESS: return "Success";
	case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
	case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
	case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
	case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
	case NVML_ERROR_NOT_FOUND: return "Not Found";
	case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
	case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
	case NVML_ERROR_ARGUMENT_VERSION_MISMATCH:
		return "Argument Version Mismatch";
	default: return "Unknown Error";
	}
}

SIM_EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *version,
						   unsigned int length)
{
	if (!version || !length)
		return NVML_ERROR_INVALID_ARGUMENT;
	snprintf(version, length, "550.simgpu");
	return NVML_SUCCESS;
}

SIM_EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *v)
{
	if (!v)
		return NVML_ERROR_INVALID_ARGUMENT;
	*v = GS_CUDA_VERSION;
	return NVML_SUCCESS;
}

SIM_EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *v)
{
	return nvmlSystemGetCudaDriverVersion(v);
}

SIM_EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
	nvmlReturn_t ret = sim_nvml_check();

	if (ret)
		return ret;
	if (!deviceCount)
		return NVML_ERROR_INVALID_ARGUMENT;
	*deviceCount = (unsigned int)nv.cfg.count;
	return NVML_SUCCESS;
}

SIM_EXPORT nvmlReturn_t nvmlDeviceGetCount(unsigned int *deviceCount)
{
	return nvmlDeviceGetCount_v2(deviceCount);
}

SIM_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index,
						      nvmlDevice_t *device)
{
	nvmlReturn_t ret = sim_nvml_check();
	char path[600];
	int fd;

	if (ret)
		return ret;
	if (!device || index >= (unsigned int)nv.cfg.count)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (sim_device_node(&nv.cfg, (int)index, path, sizeof(path)))
		return NVML_ERROR_NOT_FOUND;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
	else if (errno == EPERM || errno == EACCES)
		return NVML_ERROR_NO_PERMISSION;
	else if (errno != ENXIO)
		return NVML_ERROR_NOT_FOUND;
	*device = &nv.dev[index];
	return NVML_SUCCESS;
}

SIM_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index,
						   nvmlDevice_t *device)
{
	return nvmlDeviceGetHandleByIndex_v2(index, device);
}

SIM_EXPORT nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device,
					   unsigned int *index)
{
	nvmlReturn_t ret = sim_nvml_check_dev(device);

	if (ret)
		return ret;
	if (!index)
		return NVML_ERROR_INVALID_ARGUMENT;
	*index = (unsigned int)device->index;
	return NVML_SUCCESS;
}

SIM_EXPORT nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device,
						 unsigned int *minorNumber)
{
	return nvmlDeviceGetIndex(device, minorNumber);
}

SIM_EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name,
					  unsigned int length)
{
	nvmlReturn_t ret = sim_nvml_check_dev(device);

	if (ret)
		return ret;
	if (!name || !length)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (strlen(nv.cfg.name) >= length)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	snprintf(name, length, "%s", nv.cfg.name);
	return NVML_SUCCESS;
}

/* the same bytes cuDeviceGetUuid gives, in NVML's text form */
SIM_EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid,
					  unsigned int length)
{
	nvmlReturn_t ret = sim_nvml_check_dev(device);
	uint64_t h = 0xcbf29ce484222325ULL;
	unsigned char b[16];
	const char *p;
	int i;

	if (ret)
		return ret;
	if (!uuid || length < 41)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	for (p = nv.cfg.dir; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
	memcpy(b, "SGPU", 4);
	for (i = 4; i < 16; i++) {
		h = (h ^ (uint64_t)(device->index + i)) * 0x100000001b3ULL;
		b[i] = (unsigned char)(h >> 56);
	}
	snprintf(uuid, length,
		 "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
	return NVML_SUCCESS;
}

static void memory_of(nvmlDevice_t device, uint64_t *total, uint64_t *used)
{
	struct sim_dev *d = &nv.state->dev[device->index];

	/* memory of processes that died unannounced is free: say so */
	sim_reclaim_dead(nv.state);
	*total = __atomic_load_n(&d->capacity, __ATOMIC_RELAXED);
	*used = __atomic_load_n(&d->used, __ATOMIC_RELAXED);
	if (*used > *total)
		*used = *total;
}

SIM_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device,
						nvmlMemory_t *memory)
{
	nvmlReturn_t ret = sim_nvml_check_dev(device);
	uint64_t total, used;

	if (ret)
		return ret;
	if (!memory)
		return NVML_ERROR_INVALID_ARGUMENT;
	memory_of(device, &total, &used);
	memory->total = total;
	memory->used = used;
	memory->free = total - used;
	return NVML_SUCCESS;
}

SIM_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device,
						   nvmlMemory_v2_t *memory)
{
	nvmlReturn_t ret = sim_nvml_check_dev(device);
	uint64_t total, used;

	if (ret)
		return ret;
	if (!memory)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (memory->version != nvmlMemory_v2)
		return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
	memory_of(device, &total, &used);
	memory->total = total;
	memory->reserved = 0;
	memory->used = used;
	memory->free = total - used;
	return NVML_SUCCESS;
}
