// SPDX-License-Identifier: Apache-2.0
/*
 * CUDA_VISIBLE_DEVICES, read once at cuInit as the real driver reads it.
 * A CUdevice is an ordinal among the visible devices; everything behind
 * the API (the node dev/nvidiaN, the shared state, contexts, pools) is
 * indexed by the physical device, so each call taking a CUdevice maps it
 * here first.  gpuslice sets the variable to the GPUs a container was
 * given, and the interposer maps ordinals back the same way.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "simgpu.h"

/*
 * Unset: every device, in order.  Set: decimal indices left to right; the
 * first entry that is not one (a UUID, a negative number, an index past
 * the configured devices, a duplicate) ends the list, as with the driver.
 */
int sim_visible_parse(const char *env, int count, int map[SIM_MAX_DEVICES])
{
	bool seen[SIM_MAX_DEVICES] = { false };
	const char *p = env;
	int n = 0;
	char *end;
	long v;

	if (!env) {
		for (n = 0; n < count; n++)
			map[n] = n;
		return count;
	}
	while (n < count) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!isdigit((unsigned char)*p))
			break;
		errno = 0;
		v = strtol(p, &end, 10);
		if (errno || v >= count || seen[v] || (*end && *end != ','))
			break;
		seen[v] = true;
		map[n++] = (int)v;
		if (!*end)
			break;
		p = end + 1;
	}
	return n;
}

CUresult sim_device(CUdevice ordinal, int *phys)
{
	CUresult res = sim_check_init();

	if (res)
		return res;
	if (ordinal < 0 || ordinal >= sim.nvisible)
		return CUDA_ERROR_INVALID_DEVICE;
	*phys = sim.visible[ordinal];
	return CUDA_SUCCESS;
}

int sim_ordinal(int phys)
{
	int i;

	for (i = 0; i < sim.nvisible; i++)
		if (sim.visible[i] == phys)
			return i;
	return -1;
}
