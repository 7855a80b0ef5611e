/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The interposer's only output: stderr, prefixed, at a level chosen by
 * GPUSLICE_VGPU_LOG (0 errors, 1 warnings, 2 info: default, 3 debug).
 * Called at start and on rare events only, never per allocation or launch.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "vgpu.h"

void gs_log(int level, const char *fmt, ...)
{
	static int threshold = -1;
	char buf[512];
	va_list ap;
	int n;

	if (threshold < 0) {
		const char *e = getenv("GPUSLICE_VGPU_LOG");

		threshold = e && *e ? atoi(e) : GS_LOG_INFO;
	}
	if (level > threshold)
		return;
	n = snprintf(buf, sizeof(buf), "gpuslice-vgpu[%d]: ", (int)getpid());
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	/* one write(2): lines of concurrent processes do not interleave */
	if (write(STDERR_FILENO, buf, n) < 0)
		return;
}
