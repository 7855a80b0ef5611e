// SPDX-License-Identifier: Apache-2.0
/*
 * gpuload --resolve NAME[@VERSION][:ptds] ...: asks the driver's
 * cuGetProcAddress_v2 for each name (version default 12040, legacy stream
 * unless :ptds) and prints one JSON line per name with the symbol the
 * returned address belongs to (dladdr), e.g.
 *   {"symbol":"cuMemAlloc","version":3020,"flags":0,"result":"CUDA_SUCCESS",
 *    "status":0,"resolved":"cuMemAlloc_v2"}
 * Run under an interposer, "resolved" names the wrapper handed out.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpuload.h"

static int resolve_one(typeof(&cuGetProcAddress_v2) get,
		       typeof(&cuGetErrorName) err_name, const char *arg)
{
	CUdriverProcAddressQueryResult status = CU_GET_PROC_ADDRESS_SUCCESS;
	cuuint64_t flags = CU_GET_PROC_ADDRESS_LEGACY_STREAM;
	char name[128], *at, *colon;
	const char *rname = NULL;
	int version = GS_CUDA_VERSION;
	void *fn = NULL;
	Dl_info info;
	CUresult res;

	snprintf(name, sizeof(name), "%s", arg);
	colon = strchr(name, ':');
	if (colon) {
		*colon = '\0';
		if (!strcmp(colon + 1, "ptds"))
			flags = CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM;
	}
	at = strchr(name, '@');
	if (at) {
		*at = '\0';
		version = atoi(at + 1);
	}
	res = get(name, &fn, version, flags, &status);
	err_name(res, &rname);
	printf("{\"symbol\":\"%s\",\"version\":%d,\"flags\":%llu,"
	       "\"result\":\"%s\",\"status\":%d,\"resolved\":",
	       name, version, (unsigned long long)flags,
	       rname ? rname : "?", (int)status);
	if (fn && dladdr(fn, &info) && info.dli_sname &&
	    info.dli_saddr == fn)
		printf("\"%s\"}\n", info.dli_sname);
	else
		printf("%s}\n", fn ? "\"?\"" : "null");
	return 0;
}

int gl_resolve(int argc, char **argv)
{
	typeof(&cuGetProcAddress_v2) get;
	typeof(&cuGetErrorName) err_name;
	void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
	int i;

	if (!h) {
		fprintf(stderr, "gpuload: dlopen libcuda.so.1: %s\n",
			dlerror());
		return 1;
	}
	*(void **)&get = dlsym(h, "cuGetProcAddress_v2");
	*(void **)&err_name = dlsym(h, "cuGetErrorName");
	if (!get || !err_name) {
		fprintf(stderr, "gpuload: libcuda.so.1 has no "
				"cuGetProcAddress_v2\n");
		return 1;
	}
	for (i = 0; i < argc; i++)
		resolve_one(get, err_name, argv[i]);
	return 0;
}
