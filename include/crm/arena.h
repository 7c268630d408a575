/* arena.h -- per-request bump allocator (PostgreSQL's per-cycle memory context)
 *
 * Everything a request allocates comes from one arena that is reset after the response is
 * written. Allocation never fails: out of memory logs and aborts (the master restarts us).
 */
#ifndef CRM_ARENA_H
#define CRM_ARENA_H

#include <stddef.h>

struct crm_arena;

struct crm_arena *crm_arena_create(size_t block_size);
void crm_arena_destroy(struct crm_arena *a);
/* Frees everything allocated since creation; keeps the first block for reuse. */
void crm_arena_reset(struct crm_arena *a);

void *crm_arena_alloc(struct crm_arena *a, size_t size);
void *crm_arena_calloc(struct crm_arena *a, size_t n, size_t size);
char *crm_arena_strndup(struct crm_arena *a, const char *s, size_t len);
char *crm_arena_strdup(struct crm_arena *a, const char *s);

/* Process-wide allocation helpers that abort on failure (Redis zmalloc). */
void *crm_xmalloc(size_t size);
void *crm_xrealloc(void *p, size_t size);
char *crm_xstrdup(const char *s);

#endif
