/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reaching the real driver, and making sure every way an application reaches
 * it lands on our wrappers:
 *  - linked against libcuda.so.1: LD_PRELOAD puts our exported symbols first;
 *  - dlopen("libcuda.so.1") + dlsym(handle, "cuMemAlloc_v2"), as the CUDA
 *    runtime does: a handle lookup searches libcuda only, so we interpose
 *    dlsym itself and swap in our wrapper when the answer is the real entry
 *    point of a call we wrap;
 *  - cuGetProcAddress / _v2 (the runtime since CUDA 11.3, and drivers that
 *    hand out versioned entry points): we call the real one, then map the
 *    pointer it returns to the wrapper of that exact ABI variant.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "vgpu.h"

struct gs_real gs_real;

struct entry {
	const char *name;
	void **real;
	void *wrapper;
};

#define GS_ENTRY(name) { #name, (void **)&gs_real.name, (void *)name },
static const struct entry cuda_entries[] = { GS_CUDA_WRAPPED(GS_ENTRY) };
static const struct entry nvml_entries[] = { GS_NVML_WRAPPED(GS_ENTRY) };
#define N_CUDA (sizeof(cuda_entries) / sizeof(cuda_entries[0]))
#define N_NVML (sizeof(nvml_entries) / sizeof(nvml_entries[0]))

typedef void *(*dlsym_fn)(void *, const char *);
static dlsym_fn real_dlsym;

static dlsym_fn get_real_dlsym(void)
{
	dlsym_fn f = __atomic_load_n(&real_dlsym, __ATOMIC_ACQUIRE);

	if (gs_unlikely(!f)) {
		/* glibc 2.34 moved dlsym into libc under a new version */
		f = (dlsym_fn)dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
		if (!f)
			f = (dlsym_fn)dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
		if (!f)
			f = (dlsym_fn)dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.17");
		__atomic_store_n(&real_dlsym, f, __ATOMIC_RELEASE);
	}
	return f;
}

/*
 * Loading libcuda may run its constructors, which may call dlsym, which
 * lands here again on the same thread: that nested call must not wait for
 * itself, so a thread-local flag lets it through with what is resolved so far.
 */
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread int loading;

static void resolve(const char *soname, const struct entry *e, size_t n,
		    int *done, void (*more)(void *))
{
	void *h;

	if (__atomic_load_n(done, __ATOMIC_ACQUIRE) || loading)
		return;
	loading = 1;
	pthread_mutex_lock(&load_lock);
	if (!*done) {
		h = dlopen(soname, RTLD_NOW | RTLD_GLOBAL);
		if (h) {
			for (size_t i = 0; i < n; i++)
				*e[i].real = get_real_dlsym()(h, e[i].name);
			more(h);
		} else {
			gs_log(GS_LOG_DEBUG, "cannot load %s: %s", soname,
			       dlerror());
		}
		__atomic_store_n(done, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&load_lock);
	loading = 0;
}

void gs_real_fork(int phase)
{
	/* a fork from inside our own load (a driver constructor) holds it */
	if (loading)
		return;
	if (phase == 0)
		pthread_mutex_lock(&load_lock);
	else
		pthread_mutex_unlock(&load_lock);
}

#define GS_RESOLVE_USED(name)                                               \
	gs_real.name = (typeof(gs_real.name))get_real_dlsym()(h, #name);

static void cuda_used(void *h)
{
	GS_CUDA_USED(GS_RESOLVE_USED)
}

static void nvml_used(void *h)
{
	GS_NVML_USED(GS_RESOLVE_USED)
}

int gs_cuda_done;
static int nvml_done;

void gs_real_cuda(void)
{
	resolve("libcuda.so.1", cuda_entries, N_CUDA, &gs_cuda_done,
		cuda_used);
}

void gs_real_nvml(void)
{
	resolve("libnvidia-ml.so.1", nvml_entries, N_NVML, &nvml_done,
		nvml_used);
}

void *gs_wrapper_for(const void *fn)
{
	for (size_t i = 0; i < N_CUDA; i++)
		if (*cuda_entries[i].real == fn)
			return cuda_entries[i].wrapper;
	return NULL;
}

static const struct entry *by_name(const char *name)
{
	if (name[0] == 'c' && name[1] == 'u') {
		for (size_t i = 0; i < N_CUDA; i++)
			if (!strcmp(cuda_entries[i].name, name))
				return &cuda_entries[i];
	} else if (!strncmp(name, "nvml", 4)) {
		for (size_t i = 0; i < N_NVML; i++)
			if (!strcmp(nvml_entries[i].name, name))
				return &nvml_entries[i];
	}
	return NULL;
}

void *gs_wrapper_named(const char *name)
{
	const struct entry *e = by_name(name);

	return e && *e->real ? e->wrapper : NULL;
}

/*
 * dlsym(RTLD_NEXT, name) for the caller: the first object after the
 * caller's in the link map that defines name itself.  The real dlsym would
 * search after *our* object, since we are the one calling it: a library
 * preloaded after us that wraps a driver call would get itself back.
 */
static void *next_after(const void *caller, const char *name)
{
	struct link_map *lm = NULL;
	Dl_info info;

	if (!dladdr1(caller, &info, (void **)&lm, RTLD_DL_LINKMAP) || !lm)
		return NULL;
	for (lm = lm->l_next; lm; lm = lm->l_next) {
		struct link_map *def = NULL;
		Dl_info di;
		void *h, *p;

		if (!lm->l_name || !*lm->l_name)
			continue;
		h = dlopen(lm->l_name, RTLD_LAZY | RTLD_NOLOAD);
		if (!h)
			continue;
		/* a handle searches the object's dependencies too: keep only
		 * a definition in the object itself */
		p = get_real_dlsym()(h, name);
		dlclose(h);
		if (p && dladdr1(p, &di, (void **)&def, RTLD_DL_LINKMAP) &&
		    def == lm)
			return p;
	}
	return NULL;
}

static __attribute__((noinline)) void *dlsym_driver(void *handle,
						     const char *name,
						     const void *caller)
{
	const struct entry *e = by_name(name);
	void *p;

	if (handle == RTLD_NEXT)
		p = next_after(caller, name);
	else
		p = get_real_dlsym()(handle, name);
	if (!e || !p)
		return p;
	if (name[0] == 'c')
		gs_real_cuda();
	else
		gs_real_nvml();
	/* only the driver's own entry point is swapped, never a lookalike */
	return *e->real == p ? e->wrapper : p;
}

/*
 * glibc resolves RTLD_NEXT relative to the caller's return address, so
 * everything that is not a driver name must reach the real dlsym as a tail
 * call (a jump, keeping the application's return address): other
 * interposers' dlsym(RTLD_NEXT, "malloc") keep working.  Driver names are
 * resolved here, relative to the caller (next_after).
 */
GS_EXPORT void *dlsym(void *handle, const char *name)
{
	if (gs_unlikely(((name[0] == 'c' && name[1] == 'u') ||
				 (name[0] == 'n' && name[1] == 'v'))))
		return dlsym_driver(handle, name,
				    __builtin_return_address(0));
	return get_real_dlsym()(handle, name);
}

/* the suffix cuGetProcAddress picks for a base name, version and flags */
static const struct variant {
	const char *base;
	int v2_from; /* cudaVersion from which the _v2 ABI is handed out */
	int stream;  /* has a per-thread-default-stream (_ptsz) variant */
} variants[] = {
	{ "cuMemAlloc", 3020, 0 },	  { "cuMemFree", 3020, 0 },
	{ "cuMemAllocPitch", 3020, 0 },	  { "cuMemGetInfo", 3020, 0 },
	{ "cuDeviceTotalMem", 3020, 0 },  { "cuArrayCreate", 3020, 0 },
	{ "cuArray3DCreate", 3020, 0 },	  { "cuGetProcAddress", 12000, 0 },
	{ "cuMemAllocAsync", 0, 1 },	  { "cuMemFreeAsync", 0, 1 },
	{ "cuMemAllocFromPoolAsync", 0, 1 }, { "cuLaunchKernel", 0, 1 },
	{ "cuLaunchKernelEx", 0, 1 },	  { "cuLaunchCooperativeKernel", 0, 1 },
	{ "cuGraphLaunch", 0, 1 },
	{ "cuCtxDestroy", 4000, 0 },	  { "cuDevicePrimaryCtxRelease", 11000, 0 },
	{ "cuDevicePrimaryCtxReset", 11000, 0 },
};

static void *wrapper_by_variant(const char *sym, int ver, cuuint64_t flags)
{
	char name[128];

	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		const struct variant *v = &variants[i];

		if (strcmp(v->base, sym))
			continue;
		snprintf(name, sizeof(name), "%s%s%s", sym,
			 v->v2_from && ver >= v->v2_from ? "_v2" : "",
			 v->stream && (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) ? "_ptsz" : "");
		return gs_wrapper_named(name);
	}
	return gs_wrapper_named(sym);
}

/*
 * The driver's answer decides: the pointer it returns is matched against the
 * real entry points we wrap, which gives the exact variant asked for.  A
 * driver that hands out internal aliases instead is matched by name.
 */
static void swap_proc(const char *sym, void **pfn, int ver, cuuint64_t flags)
{
	void *w;

	if (!pfn || !*pfn)
		return;
	w = gs_wrapper_for(*pfn);
	if (!w && sym)
		w = wrapper_by_variant(sym, ver, flags);
	if (w)
		*pfn = w;
}

GS_EXPORT CUresult cuGetProcAddress(const char *symbol, void **pfn,
				    int cudaVersion, cuuint64_t flags)
{
	CUresult r;

	gs_real_cuda();
	r = GS_REAL(cuGetProcAddress, symbol, pfn, cudaVersion, flags);
	if (r == CUDA_SUCCESS)
		swap_proc(symbol, pfn, cudaVersion, flags);
	return r;
}

GS_EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn,
				       int cudaVersion, cuuint64_t flags,
				       CUdriverProcAddressQueryResult *status)
{
	CUresult r;

	gs_real_cuda();
	r = GS_REAL(cuGetProcAddress_v2, symbol, pfn, cudaVersion, flags,
		    status);
	if (r == CUDA_SUCCESS)
		swap_proc(symbol, pfn, cudaVersion, flags);
	return r;
}
