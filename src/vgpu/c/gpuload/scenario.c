// SPDX-License-Identifier: Apache-2.0
/*
 * gpuload --scenario NAME [--entry E] [--alloc-api API] [--alloc SIZE]
 *                         [--chunk SIZE]
 * Memory accounting scenarios: driver call sequences whose outcome shows
 * whether the memory an application holds is what is counted.  "used" is
 * cuMemGetInfo's total - free on the current context: under the interposer
 * the container's reservations, on simgpu alone the device's used memory.
 * One JSON line each:
 *   cycle          --alloc in --chunk pieces through --alloc-api, freed,
 *                  twice: {"rounds":[{"allocated":N,"error":E|null},..]}
 *   vmm-release    cuMemCreate + AddressReserve + Map, then cuMemRelease
 *                  at once (as NVIDIA's samples do), until --alloc or a
 *                  failure; then everything unmapped; then one handle
 *                  mapped twice, released, unmapped one mapping at a time;
 *                  then one range striped over 4 handles of --chunk (as
 *                  NVIDIA's multi-device samples do), unmapped in one call
 *   ctx            --chunk allocated in a created context, destroyed; in
 *                  the primary context, released for the last time; and
 *                  again, reset: "used" after each
 *   stream-device  device 1's stream used from device 0's context:
 *                  cuMemAllocAsync, a pool on device 1, a pool in host
 *                  memory (2 x --chunk): [used on 0, used on 1] after each
 *   capture-invalidated  --chunk by cuMemAllocAsync into a capture, then
 *                  a cuStreamSynchronize (illegal while capturing: it
 *                  invalidates the capture), then cuStreamEndCapture;
 *                  and the same capture ended properly, its graph
 *                  destroyed: "used" after each step
 *   odd-array      an 8192 x 8192 array of a format newer than CUDA 11
 *                  (UNORM_INT8X4, 4 bytes a texel), then one of FLOAT:
 *                  {"odd":E|null,"float":E|null}
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpuload.h"

static const char *err(const struct gl_driver *d, CUresult r)
{
	static char buf[8][48];
	static int n;

	if (!r)
		return "null";
	n = (n + 1) % 8;
	snprintf(buf[n], sizeof(buf[n]), "\"%s\"", gl_err_name(d, r));
	return buf[n];
}

static long long used(const struct gl_driver *d)
{
	size_t free_b = 0, total = 0;

	if (d->MemGetInfo(&free_b, &total))
		return -1;
	return (long long)(total - free_b);
}

static void cycle(const struct gl_driver *d, struct gl_options *o,
		  CUstream s)
{
	struct gl_allocs *a;
	size_t got;
	CUresult r;

	printf("{\"rounds\":[");
	for (int i = 0; i < 2; i++) {
		r = gl_alloc_all(d, o, s, &a, &got);
		printf("%s{\"allocated\":%zu,\"error\":%s}", i ? "," : "", got,
		       err(d, r));
		gl_free_all(d, a, s);
	}
	printf("]}\n");
}

#define MAX_VMM 64

static CUresult vmm_one(const struct gl_driver *d, size_t size,
			CUmemGenericAllocationHandle *h, CUdeviceptr *va)
{
	CUmemAllocationProp prop = {
		.type = CU_MEM_ALLOCATION_TYPE_PINNED,
		.location = { .type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 0 },
	};
	CUresult r = d->MemCreate(h, size, &prop, 0);

	if (r)
		return r;
	r = d->MemAddressReserve(va, size, 0, 0, 0);
	if (!r)
		r = d->MemMap(*va, size, 0, *h, 0);
	d->MemRelease(*h); /* mapped: the memory lives on until unmapped */
	return r;
}

#define STRIPES 4

/* "striped":E|null,"used_striped":N,"used_striped_unmapped":N */
static const char *striped(const struct gl_driver *d, size_t chunk)
{
	static char out[160];
	CUmemAllocationProp prop = {
		.type = CU_MEM_ALLOCATION_TYPE_PINNED,
		.location = { .type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 0 },
	};
	CUmemGenericAllocationHandle h;
	long long mapped, unmapped;
	CUdeviceptr va = 0;
	CUresult r;

	r = d->MemAddressReserve(&va, STRIPES * chunk, 0, 0, 0);
	for (int i = 0; !r && i < STRIPES; i++) {
		r = d->MemCreate(&h, chunk, &prop, 0);
		if (r)
			break;
		r = d->MemMap(va + i * chunk, chunk, 0, h, 0);
		d->MemRelease(h);
	}
	mapped = used(d);
	if (!r)
		r = d->MemUnmap(va, STRIPES * chunk);
	unmapped = used(d);
	if (va)
		d->MemAddressFree(va, STRIPES * chunk);
	snprintf(out, sizeof(out),
		 "\"striped\":%s,\"used_striped\":%lld,"
		 "\"used_striped_unmapped\":%lld",
		 err(d, r), mapped, unmapped);
	return out;
}

static void vmm_release(const struct gl_driver *d, const struct gl_options *o)
{
	CUdeviceptr va[MAX_VMM], two[2];
	CUmemGenericAllocationHandle h;
	CUmemAllocationProp prop = {
		.type = CU_MEM_ALLOCATION_TYPE_PINNED,
		.location = { .type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 0 },
	};
	long long mapped, unmapped, one, none;
	CUresult r = CUDA_SUCCESS, r2;
	size_t n = 0;

	while (n < MAX_VMM && n * o->chunk < o->alloc) {
		r = vmm_one(d, o->chunk, &h, &va[n]);
		if (r)
			break;
		n++;
	}
	mapped = used(d);
	while (n-- > 0) {
		d->MemUnmap(va[n], o->chunk);
		d->MemAddressFree(va[n], o->chunk);
	}
	unmapped = used(d);
	r2 = d->MemCreate(&h, o->chunk, &prop, 0);
	if (!r2)
		r2 = d->MemAddressReserve(&two[0], o->chunk, 0, 0, 0);
	if (!r2)
		r2 = d->MemAddressReserve(&two[1], o->chunk, 0, 0, 0);
	if (!r2)
		r2 = d->MemMap(two[0], o->chunk, 0, h, 0);
	if (!r2)
		r2 = d->MemMap(two[1], o->chunk, 0, h, 0);
	d->MemRelease(h);
	d->MemUnmap(two[0], o->chunk);
	one = used(d);
	d->MemUnmap(two[1], o->chunk);
	none = used(d);
	printf("{\"allocated\":%zu,\"error\":%s,\"used_mapped\":%lld,"
	       "\"used_unmapped\":%lld,\"twice\":%s,\"used_one_mapping\":%lld,"
	       "\"used_no_mapping\":%lld,%s}\n",
	       (size_t)(mapped >= 0 ? mapped : 0), err(d, r), mapped, unmapped,
	       err(d, r2), one, none, striped(d, o->chunk));
}

static CUresult fill(const struct gl_driver *d, size_t chunk, int n)
{
	CUdeviceptr p;
	CUresult r = CUDA_SUCCESS;

	for (int i = 0; i < n && !r; i++)
		r = d->MemAlloc(&p, chunk);
	return r; /* never freed: the context's end frees them */
}

static void ctx(const struct gl_driver *d, const struct gl_options *o,
		CUdevice dev)
{
	CUcontext c, p;
	CUresult r1, r2, r3;
	long long u1, u2, u3, h1, h2, h3;

	r1 = d->CtxCreate(&c, 0, dev);
	if (!r1)
		r1 = fill(d, o->chunk, 2);
	h1 = used(d);
	d->CtxDestroy(c);
	u1 = used(d); /* back on the primary context */
	r2 = fill(d, o->chunk, 2);
	h2 = used(d);
	d->PrimaryCtxRelease(dev); /* the last reference: it is destroyed */
	d->PrimaryCtxRetain(&p, dev);
	d->CtxSetCurrent(p);
	u2 = used(d);
	r3 = fill(d, o->chunk, 2);
	h3 = used(d);
	d->PrimaryCtxReset(dev);
	d->PrimaryCtxRetain(&p, dev);
	d->CtxSetCurrent(p);
	u3 = used(d);
	printf("{\"created\":{\"error\":%s,\"held\":%lld,\"after\":%lld},"
	       "\"released\":{\"error\":%s,\"held\":%lld,\"after\":%lld},"
	       "\"reset\":{\"error\":%s,\"held\":%lld,\"after\":%lld}}\n",
	       err(d, r1), h1, u1, err(d, r2), h2, u2, err(d, r3), h3, u3);
}

static void both(const struct gl_driver *d, CUcontext c0, CUcontext c1,
		 long long u[2])
{
	d->CtxSetCurrent(c1);
	u[1] = used(d);
	d->CtxSetCurrent(c0);
	u[0] = used(d);
}

static void stream_device(const struct gl_driver *d,
			  const struct gl_options *o, CUcontext c0)
{
	CUmemPoolProps props = {
		.allocType = CU_MEM_ALLOCATION_TYPE_PINNED,
		.location = { .type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 1 },
	};
	CUmemoryPool p1 = NULL, ph = NULL;
	long long a[2], b[2], h[2];
	CUresult ra, rb, rh;
	CUdeviceptr x, y, z;
	CUcontext c1;
	CUdevice dev1;
	CUstream s1;

	if (d->DeviceGet(&dev1, 1) || d->PrimaryCtxRetain(&c1, dev1) ||
	    d->CtxSetCurrent(c1) ||
	    d->StreamCreate(&s1, CU_STREAM_NON_BLOCKING) ||
	    d->CtxSetCurrent(c0)) {
		printf("{\"error\":\"no device 1\"}\n");
		return;
	}
	ra = d->MemAllocAsync(&x, o->chunk, s1);
	both(d, c0, c1, a);
	rb = d->MemPoolCreate(&p1, &props);
	if (!rb)
		rb = d->MemAllocFromPoolAsync(&y, o->chunk, p1, s1);
	both(d, c0, c1, b);
	props.location.type = CU_MEM_LOCATION_TYPE_HOST;
	props.location.id = 0;
	rh = d->MemPoolCreate(&ph, &props);
	if (!rh)
		rh = d->MemAllocFromPoolAsync(&z, 2 * o->chunk, ph, s1);
	both(d, c0, c1, h);
	printf("{\"async\":{\"error\":%s,\"used\":[%lld,%lld]},"
	       "\"pool\":{\"error\":%s,\"used\":[%lld,%lld]},"
	       "\"host_pool\":{\"error\":%s,\"used\":[%lld,%lld]}}\n",
	       err(d, ra), a[0], a[1], err(d, rb), b[0], b[1], err(d, rh),
	       h[0], h[1]);
}

#define FORMAT_UNORM_INT8X4 0xc2

/* "<tag>":{"alloc":E,"end":E,"graph":bool,"during":N,"after":N} */
static void capture_once(const struct gl_driver *d, size_t chunk, CUstream s,
			 bool invalidate, const char *tag)
{
	CUresult a, end;
	CUdeviceptr p;
	CUgraph g = NULL;
	long long during, after;

	a = d->StreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_RELAXED);
	if (!a)
		a = d->MemAllocAsync(&p, chunk, s);
	during = used(d);
	if (invalidate)
		d->StreamSynchronize(s);
	end = d->StreamEndCapture(s, &g);
	if (g)
		d->GraphDestroy(g);
	after = used(d);
	printf("\"%s\":{\"alloc\":%s,\"end\":%s,\"graph\":%s,"
	       "\"during\":%lld,\"after\":%lld}",
	       tag, err(d, a), err(d, end), g ? "true" : "false", during,
	       after);
}

static void capture_invalidated(const struct gl_driver *d,
				const struct gl_options *o, CUstream s)
{
	printf("{");
	capture_once(d, o->chunk, s, true, "invalidated");
	printf(",");
	capture_once(d, o->chunk, s, false, "ended");
	printf("}\n");
}

static void odd_array(const struct gl_driver *d)
{
	CUDA_ARRAY_DESCRIPTOR a = { .Width = 8192, .Height = 8192,
				    .Format = FORMAT_UNORM_INT8X4,
				    .NumChannels = 1 };
	CUarray x = NULL, y = NULL;
	CUresult ro, rf;

	ro = d->ArrayCreate(&x, &a);
	if (!ro)
		d->ArrayDestroy(x);
	a.Format = CU_AD_FORMAT_FLOAT;
	rf = d->ArrayCreate(&y, &a);
	if (!rf)
		d->ArrayDestroy(y);
	printf("{\"odd\":%s,\"float\":%s}\n", err(d, ro), err(d, rf));
}

int gl_scenario(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "entry", required_argument, NULL, 'e' },
		{ "alloc-api", required_argument, NULL, 'A' },
		{ "alloc", required_argument, NULL, 'a' },
		{ "chunk", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const entries[] = { "linked", "dlsym",
					       "procaddress" };
	struct gl_options o = { .chunk = 64ULL << 20, .kernels = -1 };
	const char *name = argc > 1 ? argv[1] : "";
	CUcontext c0 = NULL;
	struct gl_driver d;
	CUstream s = NULL;
	CUdevice dev;
	int c, i;

	optind = 2;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'e':
			for (i = 0; i < 3 && strcmp(optarg, entries[i]); i++)
				;
			o.entry = (enum gl_entry)i;
			break;
		case 'A':
			for (i = 0; i < gl_alloc_api_count &&
				    strcmp(optarg, gl_alloc_api_names[i]);
			     i++)
				;
			o.alloc_api = (enum gl_alloc_api)i;
			break;
		case 'a':
			gl_parse_size(optarg, &o.alloc);
			break;
		case 'c':
			gl_parse_size(optarg, &o.chunk);
			break;
		default:
			return 2;
		}
	}
	if (o.entry > GL_ENTRY_PROCADDRESS ||
	    (int)o.alloc_api >= gl_alloc_api_count || !o.chunk) {
		fprintf(stderr, "gpuload --scenario: bad option\n");
		return 2;
	}
	memset(&d, 0, sizeof(d));
	if (gl_driver_load(&d, o.entry, false) || d.Init(0) ||
	    d.DeviceGet(&dev, 0) || d.PrimaryCtxRetain(&c0, dev) ||
	    d.CtxSetCurrent(c0) || d.StreamCreate(&s, CU_STREAM_NON_BLOCKING)) {
		fprintf(stderr, "gpuload --scenario: no driver or device\n");
		return 1;
	}
	if (!strcmp(name, "cycle"))
		cycle(&d, &o, s);
	else if (!strcmp(name, "vmm-release"))
		vmm_release(&d, &o);
	else if (!strcmp(name, "ctx"))
		ctx(&d, &o, dev);
	else if (!strcmp(name, "capture-invalidated"))
		capture_invalidated(&d, &o, s);
	else if (!strcmp(name, "odd-array"))
		odd_array(&d);
	else if (!strcmp(name, "stream-device"))
		stream_device(&d, &o, c0);
	else
		return 2;
	fflush(stdout);
	return 0;
}
