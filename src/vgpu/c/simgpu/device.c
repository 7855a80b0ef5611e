// SPDX-License-Identifier: Apache-2.0
/*
 * cuInit, versions, device queries.  cuInit reads SIMGPU_DIR/config and
 * CUDA_VISIBLE_DEVICES (visible.c), maps the shared state and claims this
 * process's slot; the slot goes back at exit (or is reclaimed by others
 * after a crash).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "simgpu.h"

struct sim_process sim = { .lock = PTHREAD_MUTEX_INITIALIZER };

/*
 * After fork the child is a new process with no slot, no contexts and no
 * allocations of its own (as with the real driver, where a child must not
 * use its parent's CUDA state): it starts over at cuInit.
 */
static void sim_atfork_child(void)
{
	pthread_mutex_init(&sim.lock, NULL);
	sim.initialized = false;
	sim.slot = NULL;
	memset(sim.primary, 0, sizeof(sim.primary));
	memset(sim.primary_refs, 0, sizeof(sim.primary_refs));
	sim_alloc_forget_all();
}

__attribute__((constructor)) static void sim_ctor(void)
{
	pthread_atfork(NULL, NULL, sim_atfork_child);
}

__attribute__((destructor)) static void sim_dtor(void)
{
	if (sim.initialized && sim.slot)
		sim_slot_release(sim.state, sim.slot);
}

SIM_EXPORT CUresult cuInit(unsigned int flags)
{
	CUresult res = CUDA_SUCCESS;
	int err, d;

	if (flags)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&sim.lock);
	if (sim.initialized)
		goto out;
	if (sim_config_load(&sim.cfg)) {
		res = CUDA_ERROR_NO_DEVICE;
		goto out;
	}
	sim.nvisible = sim_visible_parse(getenv("CUDA_VISIBLE_DEVICES"),
					 sim.cfg.count, sim.visible);
	if (!sim.nvisible) {
		/* the driver fails cuInit itself when it may show no device */
		sim_log(SIM_LOG_WARN, "CUDA_VISIBLE_DEVICES='%s' names none of "
			"the %d devices", getenv("CUDA_VISIBLE_DEVICES"),
			sim.cfg.count);
		res = CUDA_ERROR_NO_DEVICE;
		goto out;
	}
	if (!sim.state && sim_state_map(&sim.cfg, &sim.state)) {
		res = CUDA_ERROR_OPERATING_SYSTEM;
		goto out;
	}
	err = sim_slot_claim(sim.state, &sim.slot);
	if (err) {
		sim_log(SIM_LOG_ERROR, "no process slot in %s/state: %s",
			sim.cfg.dir, strerror(-err));
		res = CUDA_ERROR_OPERATING_SYSTEM;
		goto out;
	}
	sim_test_crash_locked = getenv("SIMGPU_TEST_CRASH_LOCKED") != NULL;
	for (d = 0; d < SIM_MAX_DEVICES; d++) {
		sim.default_pool[d].magic = SIM_POOL_MAGIC;
		sim.default_pool[d].dev = d;
		sim.default_pool[d].is_default = true;
	}
	sim.initialized = true;
out:
	pthread_mutex_unlock(&sim.lock);
	return res;
}

CUresult sim_check_init(void)
{
	return __atomic_load_n(&sim.initialized, __ATOMIC_ACQUIRE) ?
		       CUDA_SUCCESS :
		       CUDA_ERROR_NOT_INITIALIZED;
}

SIM_EXPORT CUresult cuDriverGetVersion(int *version)
{
	if (!version)
		return CUDA_ERROR_INVALID_VALUE;
	*version = GS_CUDA_VERSION;
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuDeviceGetCount(int *count)
{
	CUresult res = sim_check_init();

	if (res)
		return res;
	if (!count)
		return CUDA_ERROR_INVALID_VALUE;
	*count = sim.nvisible;
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuDeviceGet(CUdevice *device, int ordinal)
{
	int phys;
	CUresult res = sim_device(ordinal, &phys);

	if (res)
		return res;
	if (!device)
		return CUDA_ERROR_INVALID_VALUE;
	*device = ordinal;
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuDeviceGetName(char *name, int len, CUdevice dev)
{
	int phys;
	CUresult res = sim_device(dev, &phys);

	if (res)
		return res;
	if (!name || len <= 0)
		return CUDA_ERROR_INVALID_VALUE;
	snprintf(name, (size_t)len, "%s", sim.cfg.name);
	return CUDA_SUCCESS;
}

/* stable per SIMGPU_DIR and index, different between two simgpu dirs */
static void make_uuid(CUuuid *uuid, int dev)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const char *p;
	int i;

	for (p = sim.cfg.dir; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
	memcpy(uuid->bytes, "SGPU", 4);
	for (i = 4; i < 16; i++) {
		h = (h ^ (uint64_t)(dev + i)) * 0x100000001b3ULL;
		uuid->bytes[i] = (char)(h >> 56);
	}
}

SIM_EXPORT CUresult cuDeviceGetUuid(CUuuid *uuid, CUdevice dev)
{
	int phys;
	CUresult res = sim_device(dev, &phys);

	if (res)
		return res;
	if (!uuid)
		return CUDA_ERROR_INVALID_VALUE;
	make_uuid(uuid, phys);
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuDeviceGetUuid_v2(CUuuid *uuid, CUdevice dev)
{
	return cuDeviceGetUuid(uuid, dev);
}

SIM_EXPORT CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
{
	int phys;
	CUresult res = sim_device(dev, &phys);

	if (res)
		return res;
	if (!bytes)
		return CUDA_ERROR_INVALID_VALUE;
	*bytes = __atomic_load_n(&sim.state->dev[phys].capacity,
				 __ATOMIC_RELAXED);
	return CUDA_SUCCESS;
}

/* a Hopper-like device: enough for programs that size their launches */
static int attribute_value(CUdevice_attribute attrib)
{
	switch (attrib) {
	case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK:
	case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X:
	case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y:
		return 1024;
	case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z:
		return 64;
	case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X:
		return 2147483647;
	case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y:
	case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z:
		return 65535;
	case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK:
		return 49152;
	case CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY:
		return 65536;
	case CU_DEVICE_ATTRIBUTE_WARP_SIZE:
		return 32;
	case CU_DEVICE_ATTRIBUTE_MAX_PITCH:
		return 2147483647;
	case CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK:
		return 65536;
	case CU_DEVICE_ATTRIBUTE_CLOCK_RATE:
		return 1755000;
	case CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT:
		return 512;
	case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT:
		return 132;
	case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR:
		return 2048;
	case CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE:
		return 2619000;
	case CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH:
		return 5120;
	case CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE:
		return 52428800;
	case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR:
		return 9;
	case CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY:
	case CU_DEVICE_ATTRIBUTE_CONCURRENT_KERNELS:
	case CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING:
	case CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY:
	case CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS:
	case CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH:
	case CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED:
	case CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED:
		return 1;
	default:
		return 0;
	}
}

SIM_EXPORT CUresult cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib,
					 CUdevice dev)
{
	int phys;
	CUresult res = sim_device(dev, &phys);

	if (res)
		return res;
	if (!pi || attrib < 1 || attrib > 150)
		return CUDA_ERROR_INVALID_VALUE;
	*pi = attrib == CU_DEVICE_ATTRIBUTE_PCI_BUS_ID ? 0x10 + phys :
							 attribute_value(attrib);
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuDeviceComputeCapability(int *major, int *minor,
					      CUdevice dev)
{
	int phys;
	CUresult res = sim_device(dev, &phys);

	if (res)
		return res;
	if (!major || !minor)
		return CUDA_ERROR_INVALID_VALUE;
	*major = 9;
	*minor = 0;
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuDeviceGetPCIBusId(char *pciBusId, int len, CUdevice dev)
{
	int phys;
	CUresult res = sim_device(dev, &phys);

	if (res)
		return res;
	if (!pciBusId || len <= 0)
		return CUDA_ERROR_INVALID_VALUE;
	snprintf(pciBusId, (size_t)len, "0000:%02x:00.0", 0x10 + phys);
	return CUDA_SUCCESS;
}
