/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where this process's ledger is: the state dir's mirror of our cgroup v2
 * path, walking up to the first ancestor that has a vgpu.limits (processes
 * in sub-cgroups of a container, nested systemd units, a runtime's own
 * scopes, share its ledger); GPUSLICE_LEDGER (a directory) only where our
 * cgroup has none.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vgpu.h"

/* the "0::/path" line of /proc/self/cgroup (also on hybrid hierarchies) */
static int own_cgroup(char *out, size_t len)
{
	char line[4096];
	FILE *f = fopen("/proc/self/cgroup", "re");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(out, len, "%s", line + 3);
		err = 0;
		break;
	}
	fclose(f);
	return err;
}

/* the first ancestor of cg (itself included) with a ledger under state */
static int under_state(const char *state, const char *cgroup, char *dir,
		       size_t len)
{
	char cg[4096], path[4200];
	char *slash;

	snprintf(cg, sizeof(cg), "%s", cgroup);
	/* the root itself is no container: stop below it */
	while (cg[0] == '/' && cg[1] != '\0') {
		snprintf(path, sizeof(path), "%s/cgroup%s/%s", state, cg,
			 GS_LIMITS_FILE);
		if (access(path, F_OK) == 0) {
			snprintf(dir, len, "%s/cgroup%s", state, cg);
			return 0;
		}
		slash = strrchr(cg, '/');
		if (slash == cg)
			break;
		*slash = '\0';
	}
	return -ENOENT;
}

/*
 * The environment is the workload's own: it must not be able to trade its
 * container's ledger for one of its choosing.  The ledger of our cgroup
 * under the default state dir wins, then under GPUSLICE_STATE_DIR;
 * GPUSLICE_LEDGER names one only for a process whose cgroup has none.
 */
int gs_locate(char *dir, size_t len, char *looked, size_t llen)
{
	static const char default_state[] = "/run/gpuslice";
	const char *env = getenv("GPUSLICE_LEDGER");
	const char *state = getenv("GPUSLICE_STATE_DIR");
	char cg[4096], path[4200];
	int err;

	if (!state || !*state)
		state = default_state;
	err = own_cgroup(cg, sizeof(cg));
	if (!err) {
		if (under_state(default_state, cg, dir, len) == 0)
			return 0;
		if (strcmp(state, default_state) &&
		    under_state(state, cg, dir, len) == 0)
			return 0;
	}
	if (env && *env) {
		snprintf(dir, len, "%s", env);
		snprintf(looked, llen, "%s/%s (GPUSLICE_LEDGER)", env,
			 GS_LIMITS_FILE);
		snprintf(path, sizeof(path), "%s/%s", env, GS_LIMITS_FILE);
		return access(path, F_OK) == 0 ? 0 : -ENOENT;
	}
	if (err) {
		snprintf(looked, llen, "no cgroup v2 line in /proc/self/cgroup");
		return err;
	}
	snprintf(looked, llen, "%s/cgroup%s/%s and its parents", state,
		 strcmp(cg, "/") ? cg : "", GS_LIMITS_FILE);
	return -ENOENT;
}
