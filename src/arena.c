/* arena.c -- per-request bump allocator and the aborting malloc wrappers
 *
 * Blocks are chained; a request that needs more than the first block gets further blocks,
 * which reset() frees so one large request does not keep a worker's memory high.
 */
#include "crm/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/log.h"

#define ALIGN 16

struct block {
	struct block *next;
	size_t size;
	size_t used;
	max_align_t data[];
};

struct crm_arena {
	struct block *head; /* current block; the first block is at the end of the chain */
	size_t block_size;
};

static void oom(size_t size)
{
	crm_log_error("out of memory allocating %zu bytes", size);
	abort();
}

void *crm_xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL)
		oom(size);
	return p;
}

void *crm_xrealloc(void *p, size_t size)
{
	void *q = realloc(p, size ? size : 1);

	if (q == NULL)
		oom(size);
	return q;
}

char *crm_xstrdup(const char *s)
{
	size_t len = strlen(s);
	char *p = crm_xmalloc(len + 1);

	memcpy(p, s, len + 1);
	return p;
}

static struct block *block_new(size_t size)
{
	struct block *b = crm_xmalloc(sizeof(*b) + size);

	b->next = NULL;
	b->size = size;
	b->used = 0;
	return b;
}

struct crm_arena *crm_arena_create(size_t block_size)
{
	struct crm_arena *a = crm_xmalloc(sizeof(*a));

	a->block_size = block_size;
	a->head = block_new(block_size);
	return a;
}

void crm_arena_destroy(struct crm_arena *a)
{
	struct block *b, *next;

	if (a == NULL)
		return;
	for (b = a->head; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	free(a);
}

void crm_arena_reset(struct crm_arena *a)
{
	struct block *b = a->head;

	while (b->next != NULL) {
		struct block *next = b->next;

		free(b);
		b = next;
	}
	b->used = 0;
	a->head = b;
}

void *crm_arena_alloc(struct crm_arena *a, size_t size)
{
	struct block *b = a->head;
	size_t need = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	void *p;

	if (need < size)
		oom(size);
	if (b->size - b->used < need) {
		size_t bsize = need > a->block_size ? need : a->block_size;

		b = block_new(bsize);
		b->next = a->head;
		a->head = b;
	}
	p = (char *)b->data + b->used;
	b->used += need;
	return p;
}

void *crm_arena_calloc(struct crm_arena *a, size_t n, size_t size)
{
	void *p;

	if (size != 0 && n > SIZE_MAX / size)
		oom(SIZE_MAX);
	p = crm_arena_alloc(a, n * size);
	memset(p, 0, n * size);
	return p;
}

char *crm_arena_strndup(struct crm_arena *a, const char *s, size_t len)
{
	char *p = crm_arena_alloc(a, len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *crm_arena_strdup(struct crm_arena *a, const char *s)
{
	return crm_arena_strndup(a, s, strlen(s));
}
