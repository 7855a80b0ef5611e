// SPDX-License-Identifier: Apache-2.0
/*
 * Streams and events.  Work is asynchronous as on a GPU: a launch books
 * its time on the device timeline and returns; a stream remembers when
 * its last kernel ends, and a sync sleeps until then.  A stream holds at
 * most SIM_QUEUE_DEPTH pending kernels; the next launch blocks until the
 * oldest has ended, like a full hardware queue.
 */
#include <stdlib.h>

#include "simgpu.h"

static void atomic_max(_Atomic uint64_t *v, uint64_t x)
{
	uint64_t old = atomic_load(v);

	while (old < x && !atomic_compare_exchange_weak(v, &old, x))
		;
}

void sim_stream_init(struct CUstream_st *s, struct CUctx_st *ctx)
{
	s->magic = SIM_STREAM_MAGIC;
	s->ctx = ctx;
	pthread_mutex_init(&s->lock, NULL);
}

CUresult sim_stream_resolve(CUstream h, struct CUstream_st **out)
{
	struct CUctx_st *ctx;
	CUresult res;

	if (h && h != CU_STREAM_LEGACY && h != CU_STREAM_PER_THREAD) {
		res = sim_check_init();
		if (res)
			return res;
		if (h->magic != SIM_STREAM_MAGIC)
			return CUDA_ERROR_INVALID_HANDLE;
		*out = h;
		return CUDA_SUCCESS;
	}
	res = sim_current_ctx(&ctx);
	if (!res)
		*out = &ctx->null_stream;
	return res;
}

CUresult sim_stream_submit(struct CUstream_st *s, uint64_t dur_ns,
			   uint32_t kernels)
{
	uint64_t *slot, end;

	pthread_mutex_lock(&s->lock);
	if (s->capture) {
		s->capture->nodes += kernels;
		s->capture->dur_ns += dur_ns;
		goto out;
	}
	slot = &s->queue[s->queued % SIM_QUEUE_DEPTH];
	if (*slot > sim_now_ns())
		sim_sleep_until(*slot);
	end = sim_timeline_reserve(sim.state, sim.slot, s->ctx->dev, dur_ns,
				   kernels);
	*slot = end;
	s->queued++;
	atomic_max(&s->last_end_ns, end);
	atomic_max(&s->ctx->last_end_ns, end);
out:
	pthread_mutex_unlock(&s->lock);
	return CUDA_SUCCESS;
}

CUresult sim_stream_sync(struct CUstream_st *s)
{
	sim_sleep_until(atomic_load(&s->last_end_ns));
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuStreamCreate(CUstream *phStream, unsigned int flags)
{
	struct CUstream_st *s;
	struct CUctx_st *ctx;
	CUresult res = sim_current_ctx(&ctx);

	if (res)
		return res;
	if (!phStream || flags > CU_STREAM_NON_BLOCKING)
		return CUDA_ERROR_INVALID_VALUE;
	s = calloc(1, sizeof(*s));
	if (!s)
		return CUDA_ERROR_OUT_OF_MEMORY;
	sim_stream_init(s, ctx);
	*phStream = s;
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuStreamCreateWithPriority(CUstream *phStream,
					       unsigned int flags, int priority)
{
	(void)priority;
	return cuStreamCreate(phStream, flags);
}

SIM_EXPORT CUresult cuStreamDestroy_v2(CUstream hStream)
{
	struct CUstream_st *s;
	CUresult res = sim_stream_resolve(hStream, &s);

	if (res)
		return res;
	if (s == &s->ctx->null_stream)
		return CUDA_ERROR_INVALID_HANDLE;
	/* pending work completes on its own: the timeline already has it */
	s->magic = 0;
	pthread_mutex_destroy(&s->lock);
	free(s);
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuStreamSynchronize(CUstream hStream)
{
	struct CUstream_st *s;
	CUresult res = sim_stream_resolve(hStream, &s);

	if (res)
		return res;
	/* illegal while capturing, as on NVIDIA's driver: the capture is
	 * invalidated, and ending it gives no graph */
	pthread_mutex_lock(&s->lock);
	if (s->capture) {
		s->capture->invalidated = true;
		res = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
	}
	pthread_mutex_unlock(&s->lock);
	return res ? res : sim_stream_sync(s);
}

SIM_EXPORT CUresult cuStreamQuery(CUstream hStream)
{
	struct CUstream_st *s;
	CUresult res = sim_stream_resolve(hStream, &s);

	if (res)
		return res;
	return sim_now_ns() >= atomic_load(&s->last_end_ns) ?
		       CUDA_SUCCESS :
		       CUDA_ERROR_NOT_READY;
}

static bool event_valid(CUevent e)
{
	return e && e->magic == SIM_EVENT_MAGIC;
}

SIM_EXPORT CUresult cuStreamWaitEvent(CUstream hStream, CUevent hEvent,
				      unsigned int flags)
{
	struct CUstream_st *s;
	CUresult res = sim_stream_resolve(hStream, &s);

	(void)flags;
	if (res)
		return res;
	if (!event_valid(hEvent))
		return CUDA_ERROR_INVALID_HANDLE;
	atomic_max(&s->last_end_ns, atomic_load(&hEvent->at_ns));
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuEventCreate(CUevent *phEvent, unsigned int flags)
{
	struct CUevent_st *e;
	CUresult res = sim_check_init();

	if (res)
		return res;
	if (!phEvent)
		return CUDA_ERROR_INVALID_VALUE;
	e = calloc(1, sizeof(*e));
	if (!e)
		return CUDA_ERROR_OUT_OF_MEMORY;
	e->magic = SIM_EVENT_MAGIC;
	e->flags = flags;
	*phEvent = e;
	return CUDA_SUCCESS;
}

/* an event completes when the work before it on its stream does */
SIM_EXPORT CUresult cuEventRecord(CUevent hEvent, CUstream hStream)
{
	struct CUstream_st *s;
	CUresult res = sim_stream_resolve(hStream, &s);
	uint64_t now = sim_now_ns(), end;

	if (res)
		return res;
	if (!event_valid(hEvent))
		return CUDA_ERROR_INVALID_HANDLE;
	end = atomic_load(&s->last_end_ns);
	atomic_store(&hEvent->at_ns, end > now ? end : now);
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuEventQuery(CUevent hEvent)
{
	if (!event_valid(hEvent))
		return CUDA_ERROR_INVALID_HANDLE;
	return sim_now_ns() >= atomic_load(&hEvent->at_ns) ?
		       CUDA_SUCCESS :
		       CUDA_ERROR_NOT_READY;
}

SIM_EXPORT CUresult cuEventSynchronize(CUevent hEvent)
{
	if (!event_valid(hEvent))
		return CUDA_ERROR_INVALID_HANDLE;
	sim_sleep_until(atomic_load(&hEvent->at_ns));
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuEventElapsedTime(float *pMilliseconds, CUevent hStart,
				       CUevent hEnd)
{
	uint64_t a, b;

	if (!pMilliseconds)
		return CUDA_ERROR_INVALID_VALUE;
	if (!event_valid(hStart) || !event_valid(hEnd) ||
	    (hStart->flags | hEnd->flags) & CU_EVENT_DISABLE_TIMING)
		return CUDA_ERROR_INVALID_HANDLE;
	a = atomic_load(&hStart->at_ns);
	b = atomic_load(&hEnd->at_ns);
	if (!a || !b)
		return CUDA_ERROR_INVALID_HANDLE;
	if (sim_now_ns() < (a > b ? a : b))
		return CUDA_ERROR_NOT_READY;
	*pMilliseconds = (float)((double)((int64_t)(b - a)) / 1e6);
	return CUDA_SUCCESS;
}

SIM_EXPORT CUresult cuEventDestroy_v2(CUevent hEvent)
{
	if (!event_valid(hEvent))
		return CUDA_ERROR_INVALID_HANDLE;
	hEvent->magic = 0;
	free(hEvent);
	return CUDA_SUCCESS;
}
