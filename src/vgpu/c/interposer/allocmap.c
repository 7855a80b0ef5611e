/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What this process reserved, keyed by device pointer, VMM handle or array:
 * a free releases exactly what its allocation reserved, and a pointer we
 * never saw (allocated before the ledger was in force) releases nothing.
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
	uint64_t size;
	int kind;
	int ldev;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot *tab;
static size_t cap, used; /* used counts live and tombstones */

static size_t hash(uint64_t key, int kind)
{
	key ^= (uint64_t)kind << 61;
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

/* rehash; doubles only when live entries (not tombstones) fill a third */
static int grow(void)
{
	size_t ncap = 1024, live = 0;
	struct slot *n;

	for (size_t i = 0; i < cap; i++)
		live += tab[i].key > TOMB;
	while (ncap < cap || (live + 1) * 3 >= ncap)
		ncap *= 2;
	if (cap && live * 3 >= cap)
		ncap = cap * 2;
	n = calloc(ncap, sizeof(*n));
	if (!n)
		return -1;
	live = 0;
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

/* keys are never 0 or 1 for a successful allocation */
void gs_map_put(int kind, uint64_t key, uint64_t size, int ldev)
{
	struct slot s = { .key = key, .size = size, .kind = kind, .ldev = ldev };

	if (key <= TOMB)
		return;
	pthread_mutex_lock(&lock);
	if ((used + 1) * 3 >= cap * 2 && grow() < 0) {
		pthread_mutex_unlock(&lock);
		return;
	}
	insert(tab, cap, &s);
	used++;
	pthread_mutex_unlock(&lock);
}

bool gs_map_take(int kind, uint64_t key, uint64_t *size, int *ldev)
{
	bool found = false;

	if (key <= TOMB)
		return false;
	pthread_mutex_lock(&lock);
	if (!cap)
		goto out;
	for (size_t i = hash(key, kind) & (cap - 1); tab[i].key;
	     i = (i + 1) & (cap - 1)) {
		if (tab[i].key == key && tab[i].kind == kind) {
			*size = tab[i].size;
			*ldev = tab[i].ldev;
			tab[i].key = TOMB;
			found = true;
			break;
		}
	}
out:
	pthread_mutex_unlock(&lock);
	return found;
}

void gs_map_reset(void)
{
	/* after fork(): the lock may have been held by a thread now gone */
	pthread_mutex_init(&lock, NULL);
	if (tab)
		memset(tab, 0, cap * sizeof(*tab));
	used = 0;
}
