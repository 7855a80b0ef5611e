// SPDX-License-Identifier: Apache-2.0
/*
 * NVML's view of processes: who holds memory on a device, and how much of
 * the device's time each got.  Utilization is device time booked by the
 * process's kernels over wall time since the previous sample this library
 * took of it (the first sample covers the process's life so far);
 * lastSeenTimeStamp is accepted and not used.
 */
#include <time.h>

#include "nvml_local.h"

static bool on_device(const struct sim_proc *p, int dev)
{
	return __atomic_load_n(&p->key, __ATOMIC_ACQUIRE) &&
	       (p->mem[dev] || p->launches[dev]);
}

static unsigned int count_on(int dev)
{
	unsigned int n = 0;
	int i;

	for (i = 0; i < SIM_MAX_PROCS; i++)
		if (on_device(&nv.state->proc[i], dev))
			n++;
	return n;
}

/* fills pids[]/mem[] for up to *count processes; INSUFFICIENT_SIZE if more */
static nvmlReturn_t list(nvmlDevice_t device, unsigned int *count,
			 void (*put)(void *infos, unsigned int i,
				     const struct sim_proc *p, int dev),
			 void *infos)
{
	nvmlReturn_t ret = sim_nvml_check_dev(device);
	unsigned int n = 0, want;
	int i, dev;

	if (ret)
		return ret;
	if (!count)
		return NVML_ERROR_INVALID_ARGUMENT;
	dev = device->index;
	sim_reclaim_dead(nv.state);
	want = count_on(dev);
	if (want > *count || (!infos && want)) {
		*count = want;
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	for (i = 0; i < SIM_MAX_PROCS && n < *count; i++)
		if (on_device(&nv.state->proc[i], dev))
			put(infos, n++, &nv.state->proc[i], dev);
	*count = n;
	return NVML_SUCCESS;
}

static void put_v1(void *infos, unsigned int i, const struct sim_proc *p,
		   int dev)
{
	nvmlProcessInfo_v1_t *info = (nvmlProcessInfo_v1_t *)infos + i;

	info->pid = p->pid;
	info->usedGpuMemory = p->mem[dev];
}

static void put_v2(void *infos, unsigned int i, const struct sim_proc *p,
		   int dev)
{
	nvmlProcessInfo_t *info = (nvmlProcessInfo_t *)infos + i;

	info->pid = p->pid;
	info->usedGpuMemory = p->mem[dev];
	/* no MIG: NVML says 0xFFFFFFFF for "not applicable" */
	info->gpuInstanceId = 0xFFFFFFFFu;
	info->computeInstanceId = 0xFFFFFFFFu;
}

SIM_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(
	nvmlDevice_t device, unsigned int *infoCount,
	nvmlProcessInfo_v1_t *infos)
{
	return list(device, infoCount, put_v1, infos);
}

SIM_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(
	nvmlDevice_t device, unsigned int *infoCount, nvmlProcessInfo_t *infos)
{
	return list(device, infoCount, put_v2, infos);
}

SIM_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(
	nvmlDevice_t device, unsigned int *infoCount, nvmlProcessInfo_t *infos)
{
	return list(device, infoCount, put_v2, infos);
}

static unsigned int percent(uint64_t busy, uint64_t wall)
{
	if (!wall)
		return 0;
	return busy >= wall ? 100 : (unsigned int)(busy * 100 / wall);
}

static unsigned long long realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL +
	       (unsigned long long)ts.tv_nsec / 1000;
}

SIM_EXPORT nvmlReturn_t nvmlDeviceGetProcessUtilization(
	nvmlDevice_t device, nvmlProcessUtilizationSample_t *utilization,
	unsigned int *processSamplesCount, unsigned long long lastSeenTimeStamp)
{
	unsigned long long stamp = realtime_us();
	uint64_t now = sim_now_ns(), busy, since, base;
	nvmlProcessUtilizationSample_t *u;
	struct sim_proc *p;
	unsigned int n = 0, want;
	nvmlReturn_t ret;
	int i, dev;

	(void)lastSeenTimeStamp;
	ret = sim_nvml_check_dev(device);
	if (ret)
		return ret;
	if (!processSamplesCount)
		return NVML_ERROR_INVALID_ARGUMENT;
	dev = device->index;
	sim_reclaim_dead(nv.state);
	want = count_on(dev);
	if (!utilization || want > *processSamplesCount) {
		*processSamplesCount = want;
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	pthread_mutex_lock(&nv.lock);
	for (i = 0; i < SIM_MAX_PROCS; i++) {
		p = &nv.state->proc[i];
		if (!on_device(p, dev) || n >= *processSamplesCount)
			continue;
		busy = __atomic_load_n(&p->busy_ns[dev], __ATOMIC_RELAXED);
		if (nv.seen_key[i][dev] == p->key) {
			since = nv.seen_ns[i][dev];
			base = nv.seen_busy[i][dev];
		} else {
			since = p->attach_ns;
			base = 0;
		}
		u = &utilization[n++];
		u->pid = p->pid;
		u->timeStamp = stamp;
		u->smUtil = percent(busy - base, now - since);
		u->memUtil = 0;
		u->encUtil = 0;
		u->decUtil = 0;
		nv.seen_key[i][dev] = p->key;
		nv.seen_busy[i][dev] = busy;
		nv.seen_ns[i][dev] = now;
	}
	pthread_mutex_unlock(&nv.lock);
	*processSamplesCount = n;
	return n ? NVML_SUCCESS : NVML_ERROR_NOT_FOUND;
}

SIM_EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(
	nvmlDevice_t device, nvmlUtilization_t *utilization)
{
	nvmlReturn_t ret = sim_nvml_check_dev(device);
	uint64_t now = sim_now_ns(), busy;

	if (ret)
		return ret;
	if (!utilization)
		return NVML_ERROR_INVALID_ARGUMENT;
	busy = __atomic_load_n(&nv.state->dev[device->index].busy_ns,
			       __ATOMIC_RELAXED);
	pthread_mutex_lock(&nv.lock);
	utilization->gpu = percent(busy - device->last_busy_ns,
				   now - device->last_ns);
	utilization->memory = 0;
	device->last_busy_ns = busy;
	device->last_ns = now;
	pthread_mutex_unlock(&nv.lock);
	return NVML_SUCCESS;
}
