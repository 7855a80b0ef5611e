/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What this process reserved, keyed by device pointer, VMM handle, array or
 * graph allocation: a free releases exactly what its allocation reserved,
 * and a pointer we never saw (allocated before the ledger was in force)
 * releases nothing.  Each entry names its owner (the context or graph the
 * driver frees it with), so destroying the owner releases what it held.
 * A VMM handle holds its bytes until it is released and every mapping of it
 * is unmapped, as the driver keeps the physical memory until then.
 *
 * An insert must never fail after the driver said yes (the reservation
 * would never be given back), so room is prepared before the driver is
 * called: `pending` counts prepared rooms, and the table grows to hold them.
 * The mutex is per process: it dies with the process, so it can never hold
 * up another one.  Open addressing with tombstones, grown at 2/3 full.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vgpu.h"

#define TOMB 1ull

struct slot {
	uint64_t key; /* 0 empty, TOMB deleted */
	uint64_t size; /* bytes; GS_ALLOC_MAPPING: the handle */
	uint64_t owner; /* CUcontext or CUgraph; 0: none */
	int kind;
	int ldev;
	uint32_t maps; /* GS_ALLOC_HANDLE: live mappings */
	bool released; /* GS_ALLOC_HANDLE: cuMemRelease was called */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot *tab;
static size_t cap, used, pending; /* used counts live and tombstones */

static size_t hash(uint64_t key, int kind)
{
	key ^= (uint64_t)kind << 59;
	key *= 0x9e3779b97f4a7c15ull;
	return (size_t)(key >> 17);
}

static void insert(struct slot *t, size_t c, const struct slot *s)
{
	size_t i = hash(s->key, s->kind) & (c - 1);

	while (t[i].key > TOMB)
		i = (i + 1) & (c - 1);
	t[i] = *s;
}

/* rehash for `need` live entries, dropping tombstones; doubles only while
 * they would fill a third of it */
static int grow(size_t need)
{
	size_t ncap = cap ? cap : 1024, live = 0;
	struct slot *n;

	while (need * 3 >= ncap)
		ncap *= 2;
	n = calloc(ncap, sizeof(*n));
	if (!n)
		return -1;
	for (size_t i = 0; i < cap; i++)
		if (tab[i].key > TOMB) {
			insert(n, ncap, &tab[i]);
			live++;
		}
	free(tab);
	tab = n;
	cap = ncap;
	used = live;
	return 0;
}

static size_t live_count(void)
{
	size_t live = 0;

	for (size_t i = 0; i < cap; i++)
		live += tab[i].key > TOMB;
	return live;
}

CUresult gs_map_prepare(void)
{
	CUresult r = CUDA_SUCCESS;

	pthread_mutex_lock(&lock);
	if ((used + pending + 1) * 3 >= cap * 2 &&
	    grow(live_count() + pending + 1) < 0)
		r = CUDA_ERROR_OUT_OF_MEMORY;
	else
		pending++;
	pthread_mutex_unlock(&lock);
	return r;
}

void gs_map_cancel(void)
{
	pthread_mutex_lock(&lock);
	if (pending)
		pending--;
	pthread_mutex_unlock(&lock);
}

/* consumes the room gs_map_prepare made; keys 0 and 1 are never stored */
void gs_map_put(int kind, uint64_t key, uint64_t size, int ldev,
		uint64_t owner)
{
	struct slot s = { .key = key, .size = size, .owner = owner,
			  .kind = kind, .ldev = ldev };

	pthread_mutex_lock(&lock);
	if (pending)
		pending--;
	if (key > TOMB) {
		insert(tab, cap, &s);
		used++;
	}
	pthread_mutex_unlock(&lock);
}

static struct slot *find(int kind, uint64_t key)
{
	if (key <= TOMB || !cap)
		return NULL;
	for (size_t i = hash(key, kind) & (cap - 1); tab[i].key;
	     i = (i + 1) & (cap - 1))
		if (tab[i].key == key && tab[i].kind == kind)
			return &tab[i];
	return NULL;
}

static void take(struct slot *s, uint64_t *size, int *ldev)
{
	*size = s->size;
	*ldev = s->ldev;
	s->key = TOMB;
}

bool gs_map_take(int kind, uint64_t key, uint64_t *size, int *ldev)
{
	struct slot *s;

	pthread_mutex_lock(&lock);
	s = find(kind, key);
	if (s)
		take(s, size, ldev);
	pthread_mutex_unlock(&lock);
	return s != NULL;
}

bool gs_map_get(int kind, uint64_t key, uint64_t *size, int *ldev)
{
	struct slot *s;

	pthread_mutex_lock(&lock);
	s = find(kind, key);
	if (s) {
		*size = s->size;
		*ldev = s->ldev;
	}
	pthread_mutex_unlock(&lock);
	return s != NULL;
}

bool gs_map_handle_mapped(uint64_t handle)
{
	struct slot *s;

	pthread_mutex_lock(&lock);
	s = find(GS_ALLOC_HANDLE, handle);
	if (s)
		s->maps++;
	pthread_mutex_unlock(&lock);
	return s != NULL;
}

int gs_map_unmap_range(uint64_t lo, uint64_t hi,
		       uint64_t bytes[GS_LEDGER_MAX_DEVICES])
{
	struct slot *h;
	int n = 0;

	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < cap; i++) {
		struct slot *m = &tab[i];

		if (m->key <= TOMB || m->kind != GS_ALLOC_MAPPING ||
		    m->key < lo || m->key >= hi)
			continue;
		m->key = TOMB;
		h = find(GS_ALLOC_HANDLE, m->size);
		if (h && h->maps && --h->maps == 0 && h->released) {
			if (h->ldev >= 0 && h->ldev < GS_LEDGER_MAX_DEVICES)
				bytes[h->ldev] += h->size;
			h->key = TOMB;
			n++;
		}
	}
	pthread_mutex_unlock(&lock);
	return n;
}

bool gs_map_handle_released(uint64_t handle, uint64_t *size, int *ldev)
{
	struct slot *s;
	bool gone = false;

	pthread_mutex_lock(&lock);
	s = find(GS_ALLOC_HANDLE, handle);
	if (s) {
		s->released = true;
		if (!s->maps) {
			take(s, size, ldev);
			gone = true;
		}
	}
	pthread_mutex_unlock(&lock);
	return gone;
}

int gs_map_drop_owner(int kind, uint64_t owner,
		      uint64_t bytes[GS_LEDGER_MAX_DEVICES])
{
	int n = 0;

	if (!owner)
		return 0;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < cap; i++) {
		struct slot *s = &tab[i];

		if (s->key <= TOMB || s->owner != owner ||
		    (kind ? s->kind != kind :
			    s->kind != GS_ALLOC_PTR &&
				    s->kind != GS_ALLOC_ARRAY &&
				    s->kind != GS_ALLOC_MIPMAP))
			continue;
		if (s->ldev >= 0 && s->ldev < GS_LEDGER_MAX_DEVICES)
			bytes[s->ldev] += s->size;
		s->key = TOMB;
		n++;
	}
	pthread_mutex_unlock(&lock);
	return n;
}

/*
 * fork(): the forking thread holds the lock across it, so the child never
 * copies a table halfway through a grow (its memory freed, the pointer not
 * yet moved); the child starts with a fresh lock either way.
 */
void gs_map_fork(int phase)
{
	if (phase == 0)
		pthread_mutex_lock(&lock);
	else if (phase == 1)
		pthread_mutex_unlock(&lock);
	else
		pthread_mutex_init(&lock, NULL);
}

void gs_map_reset(void)
{
	if (tab)
		memset(tab, 0, cap * sizeof(*tab));
	used = 0;
	pending = 0;
}
