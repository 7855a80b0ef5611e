// SPDX-License-Identifier: Apache-2.0
/*
 * Configuration of the simulated GPUs: SIMGPU_DIR (default
 * /run/gpuslice/simgpu) holds `config`, written by setupSimGpu in
 * src/vgpu/simgpu.ts, as key=value lines:
 *
 *   count=2                   simulated devices (1..16)
 *   memory=17179869184        bytes per device
 *   memory.1=8589934592       bytes of one device (optional)
 *   name=gpuslice simulated GPU
 *   kernel_default_us=100     device time of a kernel other than gs_spin
 *
 * and one log function shared by libcuda.so.1 and libnvidia-ml.so.1.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simgpu.h"

static int log_threshold(void)
{
	static int level = -1;
	const char *env;

	if (level >= 0)
		return level;
	env = getenv("SIMGPU_LOG");
	level = SIM_LOG_WARN;
	if (!env)
		return level;
	if (!strcmp(env, "error"))
		level = SIM_LOG_ERROR;
	else if (!strcmp(env, "info"))
		level = SIM_LOG_INFO;
	else if (!strcmp(env, "debug"))
		level = SIM_LOG_DEBUG;
	return level;
}

void sim_log(enum sim_log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char line[512];
	va_list ap;
	int n;

	if ((int)level > log_threshold())
		return;
	n = snprintf(line, sizeof(line), "simgpu: %s: ", names[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	/* one write, so lines of concurrent processes do not interleave */
	fprintf(stderr, "%s\n", line);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || (*end && *end != '\n'))
		return -EINVAL;
	*out = v;
	return 0;
}

static int apply_line(struct sim_config *cfg, char *key, char *val)
{
	uint64_t v;
	char *dot;
	int idx;

	if (!strcmp(key, "name")) {
		snprintf(cfg->name, sizeof(cfg->name), "%s", val);
		return 0;
	}
	if (parse_u64(val, &v))
		return -EINVAL;
	if (!strcmp(key, "count")) {
		if (v < 1 || v > SIM_MAX_DEVICES)
			return -ERANGE;
		cfg->count = (int)v;
	} else if (!strcmp(key, "memory")) {
		for (idx = 0; idx < SIM_MAX_DEVICES; idx++)
			cfg->memory[idx] = v;
	} else if (!strncmp(key, "memory.", 7)) {
		idx = (int)strtol(key + 7, &dot, 10);
		if (*dot || idx < 0 || idx >= SIM_MAX_DEVICES)
			return -ERANGE;
		cfg->memory[idx] = v;
	} else if (!strcmp(key, "kernel_default_us")) {
		cfg->kernel_default_ns = v * 1000;
	}
	/* unknown keys are left for newer versions of the writer */
	return 0;
}

int sim_config_load(struct sim_config *cfg)
{
	const char *dir = getenv("SIMGPU_DIR");
	char path[600], line[256], *eq, *nl;
	int err = 0, lineno = 0;
	FILE *f;

	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->dir, sizeof(cfg->dir), "%s",
		 dir && *dir ? dir : SIM_DEFAULT_DIR);
	snprintf(cfg->name, sizeof(cfg->name), "%s", SIM_DEFAULT_NAME);
	cfg->kernel_default_ns = SIM_DEFAULT_KERNEL_NS;
	snprintf(path, sizeof(path), "%s/config", cfg->dir);
	f = fopen(path, "re");
	if (!f) {
		err = -errno;
		sim_log(SIM_LOG_WARN, "cannot read %s: %s (run setupSimGpu)",
			path, strerror(errno));
		goto out;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (line[0] == '#' || !line[0])
			continue;
		eq = strchr(line, '=');
		if (eq)
			*eq = '\0';
		if (!eq || apply_line(cfg, line, eq + 1)) {
			if (eq)
				*eq = '=';
			sim_log(SIM_LOG_ERROR, "%s:%d: bad line '%s'", path,
				lineno, line);
			err = -EINVAL;
			goto out_close;
		}
	}
	if (cfg->count < 1) {
		sim_log(SIM_LOG_ERROR, "%s: no count", path);
		err = -EINVAL;
	}
out_close:
	fclose(f);
out:
	return err;
}

int sim_device_node(const struct sim_config *cfg, int dev, char *buf,
		    size_t len)
{
	int n = snprintf(buf, len, "%s/dev/nvidia%d", cfg->dir, dev);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
