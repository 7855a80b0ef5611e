/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libgpuslice-ledger.so: the daemon's side of the ledger operations that
 * need atomics on the shared file (Node has none on a file), called from
 * src/vgpu/ledger.ts through koffi.  Built from the same ledger.c/slots.c
 * as the interposer, so both sides run the very same protocol.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ledger.h"

#define GS_LIB_EXPORT __attribute__((visibility("default")))

/* reclaims slots of dead processes in <dir>/vgpu.usage; count or -errno */
GS_LIB_EXPORT int gs_ledger_reclaim(const char *dir)
{
	struct gs_usage *u;
	const char *why = "";
	int n;

	n = gs_usage_map(dir, false, &u, &why);
	if (n)
		return n;
	n = gs_usage_reclaim_dead(u, gs_proc_pidns(getpid()));
	munmap(u, sizeof(*u));
	return n;
}

/* sizeof the two files, for a layout check from the TypeScript side */
GS_LIB_EXPORT int gs_ledger_sizes(unsigned int *limits, unsigned int *usage)
{
	*limits = sizeof(struct gs_limits);
	*usage = sizeof(struct gs_usage);
	return GS_LEDGER_VERSION;
}
