// SPDX-License-Identifier: Apache-2.0
/*
 * The allocations of this process, keyed by device address: what a free
 * gives back to which device, and which ranges a copy may touch (device
 * memory is host memory here, so a bad pointer would be a crash, not an
 * error code).
 */
#include <stdlib.h>

#include "simgpu.h"

#define BUCKETS 1024

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sim_alloc_entry *table[BUCKETS];

static unsigned int bucket(CUdeviceptr ptr)
{
	return (unsigned int)((ptr >> 12) * 0x9e3779b97f4a7c15ULL >> 54) %
	       BUCKETS;
}

void sim_table_insert(struct sim_alloc_entry *e)
{
	unsigned int b = bucket(e->ptr);

	pthread_mutex_lock(&table_lock);
	e->next = table[b];
	table[b] = e;
	pthread_mutex_unlock(&table_lock);
}

struct sim_alloc_entry *sim_table_remove(CUdeviceptr ptr,
					 enum sim_alloc_kind kind)
{
	struct sim_alloc_entry **pp, *e = NULL;

	pthread_mutex_lock(&table_lock);
	for (pp = &table[bucket(ptr)]; *pp; pp = &(*pp)->next) {
		if ((*pp)->ptr != ptr || (*pp)->kind != kind)
			continue;
		e = *pp;
		*pp = e->next;
		break;
	}
	pthread_mutex_unlock(&table_lock);
	return e;
}

static struct sim_alloc_entry *find_locked(CUdeviceptr ptr)
{
	struct sim_alloc_entry *e;
	unsigned int b;

	/* a linear walk: copies into the middle of allocations are rare */
	for (b = 0; b < BUCKETS; b++)
		for (e = table[b]; e; e = e->next)
			if (e->kind != SIM_ALLOC_VA && ptr >= e->ptr &&
			    ptr < e->ptr + e->len)
				return e;
	return NULL;
}

bool sim_table_covers(CUdeviceptr ptr, size_t len)
{
	struct sim_alloc_entry *e;
	bool ok;

	pthread_mutex_lock(&table_lock);
	e = find_locked(ptr);
	ok = e && len <= e->len - (ptr - e->ptr);
	pthread_mutex_unlock(&table_lock);
	return ok;
}

bool sim_table_range(CUdeviceptr ptr, CUdeviceptr *base, size_t *size)
{
	struct sim_alloc_entry *e;

	pthread_mutex_lock(&table_lock);
	e = find_locked(ptr);
	if (e) {
		*base = e->ptr;
		*size = e->len;
	}
	pthread_mutex_unlock(&table_lock);
	return e != NULL;
}

struct sim_alloc_entry *sim_table_take_ctx(struct CUctx_st *ctx)
{
	struct sim_alloc_entry **pp, *e, *taken = NULL;
	unsigned int b;

	pthread_mutex_lock(&table_lock);
	for (b = 0; b < BUCKETS; b++) {
		for (pp = &table[b]; (e = *pp);) {
			if (e->ctx != ctx) {
				pp = &e->next;
				continue;
			}
			*pp = e->next;
			e->next = taken;
			taken = e;
		}
	}
	pthread_mutex_unlock(&table_lock);
	return taken;
}

/* after fork: the child owns none of its parent's allocations */
void sim_alloc_forget_all(void)
{
	struct sim_alloc_entry *e, *next;
	unsigned int b;

	pthread_mutex_init(&table_lock, NULL);
	for (b = 0; b < BUCKETS; b++) {
		for (e = table[b]; e; e = next) {
			next = e->next;
			free(e);
		}
		table[b] = NULL;
	}
}
