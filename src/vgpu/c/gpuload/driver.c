// SPDX-License-Identifier: Apache-2.0
/*
 * The three ways an application reaches the CUDA driver, each of which an
 * interposer must cover:
 *   linked       calls bound at link time to libcuda.so.1's exported names;
 *   dlsym        dlopen("libcuda.so.1") and dlsym of the exported (_v2)
 *                names, as the CUDA runtime did before CUDA 11.3;
 *   procaddress  dlsym of cuGetProcAddress_v2 only, and every other entry
 *                fetched through it by base name for CUDA 12.4, as the
 *                runtime does today.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>

#include "gpuload.h"

static int load_linked(struct gl_driver *d)
{
#define GL_LINK(field, sym, base) d->field = &sym;
	GL_DRIVER_CALLS(GL_LINK)
#undef GL_LINK
#define GL_LINK_AT(field, sym, base, ver) d->field = &sym;
	GL_DRIVER_CALLS_AT(GL_LINK_AT)
#undef GL_LINK_AT
	return 0;
}

static void *open_driver(void)
{
	void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);

	if (!h)
		fprintf(stderr, "gpuload: dlopen libcuda.so.1: %s\n",
			dlerror());
	return h;
}

static int load_dlsym(struct gl_driver *d)
{
	void *h = open_driver();
	int err = 0;

	if (!h)
		return -ENOENT;
#define GL_DLSYM(field, sym, base)                                          \
	*(void **)&d->field = dlsym(h, #sym);                               \
	if (!d->field) {                                                    \
		fprintf(stderr, "gpuload: dlsym %s: %s\n", #sym, dlerror()); \
		err = -ENOENT;                                              \
	}
	GL_DRIVER_CALLS(GL_DLSYM)
#define GL_DLSYM_AT(field, sym, base, ver) GL_DLSYM(field, sym, base)
	GL_DRIVER_CALLS_AT(GL_DLSYM_AT)
#undef GL_DLSYM_AT
#undef GL_DLSYM
	return err;
}

static int load_procaddress(struct gl_driver *d, bool per_thread)
{
	cuuint64_t flags = per_thread ?
				   CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM :
				   CU_GET_PROC_ADDRESS_DEFAULT;
	typeof(&cuGetProcAddress_v2) get;
	CUdriverProcAddressQueryResult status;
	void *h = open_driver();
	CUresult res;
	int err = 0;

	if (!h)
		return -ENOENT;
	*(void **)&get = dlsym(h, "cuGetProcAddress_v2");
	if (!get) {
		fprintf(stderr, "gpuload: dlsym cuGetProcAddress_v2: %s\n",
			dlerror());
		return -ENOENT;
	}
#define GL_PROC(field, sym, base) GL_PROC_AT(field, sym, base, GS_CUDA_VERSION)
#define GL_PROC_AT(field, sym, base, ver)                                   \
	res = get(base, (void **)&d->field, ver, flags, &status);            \
	if (res || !d->field) {                                             \
		fprintf(stderr,                                             \
			"gpuload: cuGetProcAddress_v2(%s): error %d, "      \
			"status %d\n",                                      \
			base, (int)res, (int)status);                       \
		err = -ENOENT;                                              \
	}
	GL_DRIVER_CALLS(GL_PROC)
	GL_DRIVER_CALLS_AT(GL_PROC_AT)
#undef GL_PROC
#undef GL_PROC_AT
	return err;
}

int gl_driver_load(struct gl_driver *d, enum gl_entry entry,
		   bool per_thread)
{
	switch (entry) {
	case GL_ENTRY_LINKED:
		return load_linked(d);
	case GL_ENTRY_DLSYM:
		return load_dlsym(d);
	case GL_ENTRY_PROCADDRESS:
		return load_procaddress(d, per_thread);
	}
	return -EINVAL;
}

const char *gl_err_name(const struct gl_driver *d, CUresult res)
{
	static __thread char buf[32];
	const char *name = NULL;

	if (d->GetErrorName && !d->GetErrorName(res, &name) && name)
		return name;
	snprintf(buf, sizeof(buf), "CUDA_ERROR_%d", (int)res);
	return buf;
}
