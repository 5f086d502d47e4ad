/* jsonalloc.c - jansson's allocator for the core: a count of failed
 * allocations, and a per-thread arena that a review's JSON lives in.
 *
 * A review parses a few hundred values, builds a few hundred more for the
 * patch and frees them all at the end: with malloc that is a malloc and a
 * free per value plus a walk of every tree to free it, about a third of a
 * review's instructions. In the arena an allocation is a pointer bump, a
 * free is a range check, and the trees are dropped with the arena. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jsonalloc.h"

/* jsonwrite's bytes were proven exact against jansson 2.14 (Debian 12): its
 * number formatting, object iteration and this file's allocator hooks are
 * jansson's behaviour, not its documented interface. Another jansson must be
 * checked (the goldens, check_jsonwrite, the fuzz replays) before this moves. */
#if JANSSON_VERSION_HEX != 0x020e00
#error "meshinject is proven against jansson 2.14 only (JANSSON_VERSION_HEX 0x020e00)"
#endif

/* Under AddressSanitizer the arena stays on (the path that ships is the path
 * tested), with every byte it has not handed out poisoned: the unused tail
 * of each block, and a kept block between reviews, so a value used after
 * its arena ended is reported. MemorySanitizer: the arena is off. */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ASAN 1
#endif
#if __has_feature(memory_sanitizer)
#define ARENA_POSSIBLE 0
#endif
#endif
#ifndef ARENA_POSSIBLE
#define ARENA_POSSIBLE 1
#endif
#ifdef ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define ARENA_POISON(p, n)	ASAN_POISON_MEMORY_REGION((p), (n))
#define ARENA_UNPOISON(p, n)	ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define ARENA_POISON(p, n)	((void)(p), (void)(n))
#define ARENA_UNPOISON(p, n)	((void)(p), (void)(n))
#endif

#define ARENA_ALIGN	16
#define ARENA_FIRST	(256 * 1024)	/* a ReplicaSet pod's review takes ~100 KB */
#define ARENA_KEEP_MAX	(1024 * 1024)	/* the most a thread keeps between reviews */

struct arena_block {
	struct arena_block *next;	/* the older, smaller blocks */
	size_t size;			/* bytes in data */
	size_t used;
	max_align_t data[];
};

static json_malloc_t next_malloc = malloc;
static json_free_t next_free = free;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static pthread_key_t kept_key;		/* frees a thread's kept block */
static bool arena_allowed;
static bool arena_wanted = true;	/* jsonalloc_set_arena; the shell's */

static _Thread_local unsigned long failures;
static _Thread_local struct arena_block *arena;	/* newest block first */
static _Thread_local bool arena_on;
static _Thread_local size_t arena_bytes;

/* A new newest block with room for n (rounded) bytes, or NULL. Out of
 * line, so that the pointer bump below needs no saved registers: a review
 * allocates some 800 times. */
static __attribute__((noinline)) struct arena_block *
arena_grow(size_t n)
{
	struct arena_block *b = arena;
	size_t size;

	/* Double, so that a big pod takes a handful of blocks and the range
	 * check in arena_owns stays short. */
	size = b != NULL ? b->size * 2 : ARENA_FIRST;
	while (size < n)
		size *= 2;
	b = next_malloc(sizeof(*b) + size);
	if (b == NULL)
		return NULL;
	b->next = arena;
	b->size = size;
	b->used = 0;
	ARENA_POISON(b->data, size);
	arena = b;
	return b;
}

static inline void *
arena_alloc(size_t n)
{
	struct arena_block *b = arena;
	size_t asked;
	void *p;

	if (n == 0)
		n = 1;
	if (n > SIZE_MAX / 4)
		return NULL;
	asked = n;
	n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if ((b == NULL || b->size - b->used < n) &&
	    (b = arena_grow(n)) == NULL)
		return NULL;
	p = (unsigned char *)b->data + b->used;
	ARENA_UNPOISON(p, asked);
	b->used += n;
	arena_bytes += n;
	return p;
}

static bool
arena_owns(const void *p)
{
	const struct arena_block *b;
	uintptr_t a = (uintptr_t)p, lo;

	for (b = arena; b != NULL; b = b->next) {
		lo = (uintptr_t)b->data;
		if (a >= lo && a < lo + b->size)
			return true;
	}
	return false;
}

/* A count kept out of line, for the same reason as arena_grow. */
static __attribute__((noinline)) void *
alloc_failed(void)
{
	failures++;
	return NULL;
}

static void *
jsonalloc_malloc(size_t n)
{
	void *p = arena_on ? arena_alloc(n) : next_malloc(n);

	if (p == NULL)
		return alloc_failed();
	return p;
}

static void
jsonalloc_free(void *p)
{
	if (p == NULL || (arena_on && arena_owns(p)))
		return;
	next_free(p);
}

static void
kept_free(void *block)
{
	free(block);
}

static void
jsonalloc_install(void)
{
	json_get_alloc_funcs(&next_malloc, &next_free);
	json_set_alloc_funcs(jsonalloc_malloc, jsonalloc_free);
	/* The arena cuts its blocks with plain malloc: over any other
	 * allocator (a test's failing one) it stays off. */
	arena_allowed = ARENA_POSSIBLE && next_malloc == malloc &&
	    next_free == free && arena_wanted &&
	    pthread_key_create(&kept_key, kept_free) == 0;
}

void
jsonalloc_set_arena(bool on)
{
	arena_wanted = on;
}

unsigned long
jsonalloc_failures(void)
{
	pthread_once(&install_once, jsonalloc_install);
	return failures;
}

bool
jsonalloc_arena_begin(void)
{
	json_malloc_t m;
	json_free_t f;

	pthread_once(&install_once, jsonalloc_install);
	if (!arena_allowed || arena_on)
		return false;
	json_get_alloc_funcs(&m, &f);
	if (m != jsonalloc_malloc || f != jsonalloc_free)
		return false;
	arena_on = true;
	arena_bytes = 0;
	return true;
}

void
jsonalloc_arena_end(void)
{
	struct arena_block *b, *next, *keep = NULL;

	if (!arena_on)
		return;
	arena_on = false;
	/* Keep the largest block up to ARENA_KEEP_MAX, so that the next
	 * review of the same size allocates nothing (a block malloc'd and
	 * freed per review is an mmap and a munmap, page faults and all);
	 * free the rest. */
	for (b = arena; b != NULL; b = next) {
		next = b->next;
		if (keep == NULL && b->size <= ARENA_KEEP_MAX)
			keep = b;
		else
			free(b);
	}
	arena = keep;
	if (keep != NULL) {
		keep->used = 0;
		keep->next = NULL;
		ARENA_POISON(keep->data, keep->size);
		pthread_setspecific(kept_key, keep);
	} else if (arena_allowed) {
		pthread_setspecific(kept_key, NULL);
	}
}

void
jsonalloc_drop(json_t *j)
{
	if (!arena_on)
		json_decref(j);
}

size_t
jsonalloc_arena_used(void)
{
	return arena_on ? arena_bytes : 0;
}

void
jsonalloc_arena_release(void)
{
	if (arena_on)
		return;
	free(arena);
	arena = NULL;
	if (arena_allowed)
		pthread_setspecific(kept_key, NULL);
}
