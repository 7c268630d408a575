/* buf.h -- growable byte buffer on the heap (response bodies, SQL array literals) */
#ifndef CRM_BUF_H
#define CRM_BUF_H

#include <stddef.h>

struct crm_buf {
	char *data; /* always NUL-terminated when len > 0 or after crm_buf_init */
	size_t len;
	size_t cap;
};

void crm_buf_init(struct crm_buf *b);
void crm_buf_finish(struct crm_buf *b);
void crm_buf_clear(struct crm_buf *b);
void crm_buf_append(struct crm_buf *b, const void *data, size_t len);
void crm_buf_puts(struct crm_buf *b, const char *s);
void crm_buf_putc(struct crm_buf *b, char c);
void crm_buf_printf(struct crm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
