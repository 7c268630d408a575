/* buf.c -- growable byte buffer (heap, aborting on out of memory) */
#include "crm/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/arena.h"

void crm_buf_init(struct crm_buf *b)
{
	b->cap = 256;
	b->data = crm_xmalloc(b->cap);
	b->data[0] = '\0';
	b->len = 0;
}

void crm_buf_finish(struct crm_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void crm_buf_clear(struct crm_buf *b)
{
	b->len = 0;
	b->data[0] = '\0';
}

static void reserve(struct crm_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;

	if (need <= b->cap)
		return;
	while (b->cap < need)
		b->cap *= 2;
	b->data = crm_xrealloc(b->data, b->cap);
}

void crm_buf_append(struct crm_buf *b, const void *data, size_t len)
{
	reserve(b, len);
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void crm_buf_puts(struct crm_buf *b, const char *s)
{
	crm_buf_append(b, s, strlen(s));
}

void crm_buf_putc(struct crm_buf *b, char c)
{
	reserve(b, 1);
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
}

void crm_buf_printf(struct crm_buf *b, const char *fmt, ...)
{
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	if ((size_t)len >= b->cap - b->len) {
		reserve(b, (size_t)len);
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)len;
}
