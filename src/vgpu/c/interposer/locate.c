/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where this process's ledger is: GPUSLICE_LEDGER (a directory) if set,
 * otherwise the state dir's mirror of our cgroup v2 path, walking up to the
 * first ancestor that has a vgpu.limits: processes in sub-cgroups of a
 * container (nested systemd units, a runtime's own scopes) share its ledger.
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

int gs_locate(char *dir, size_t len, char *looked, size_t llen)
{
	const char *env = getenv("GPUSLICE_LEDGER");
	const char *state = getenv("GPUSLICE_STATE_DIR");
	char cg[4096], path[4200];
	char *slash;
	int err;

	if (env && *env) {
		snprintf(dir, len, "%s", env);
		snprintf(looked, llen, "%s/%s (GPUSLICE_LEDGER)", env,
			 GS_LIMITS_FILE);
		snprintf(path, sizeof(path), "%s/%s", env, GS_LIMITS_FILE);
		return access(path, F_OK) == 0 ? 0 : -ENOENT;
	}
	if (!state || !*state)
		state = "/run/gpuslice";
	err = own_cgroup(cg, sizeof(cg));
	if (err) {
		snprintf(looked, llen, "no cgroup v2 line in /proc/self/cgroup");
		return err;
	}
	snprintf(looked, llen, "%s/cgroup%s/%s and its parents", state,
		 strcmp(cg, "/") ? cg : "", GS_LIMITS_FILE);
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
