/* err.c -- the error table: names, titles, messages and HTTP statuses of every crm_errcode */
#include "crm/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "crm/arena.h"

struct err_info {
	const char *name;
	int status;
	const char *title;
	const char *message;
};

static const struct err_info err_table[] = {
#define CRM_ERR_ROW(name, status, title, msg) {#name, status, title, msg},
	CRM_ERR_MAP(CRM_ERR_ROW)
#undef CRM_ERR_ROW
};

static const struct err_info *info(enum crm_errcode code)
{
	if ((int)code < 0 || code >= CRM_E__COUNT)
		code = CRM_E_INTERNAL;
	return &err_table[code];
}

void crm_err_init(struct crm_err *err)
{
	crm_err_init_arena(err, NULL);
}

void crm_err_init_arena(struct crm_err *err, struct crm_arena *arena)
{
	err->arena = arena;
	crm_err_clear(err);
}

void crm_err_clear(struct crm_err *err)
{
	err->code = CRM_E_OK;
	err->detail[0] = '\0';
	err->nfields = 0;
	err->dropped = 0;
	err->more = NULL;
	err->more_cap = 0;
}

bool crm_err_set(struct crm_err *err, enum crm_errcode code, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	if (fmt == NULL) {
		snprintf(err->detail, sizeof(err->detail), "%s", info(code)->message);
		return false;
	}
	va_start(ap, fmt);
	vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
	va_end(ap);
	return false;
}

const struct crm_field_error *crm_err_field_at(const struct crm_err *err, size_t i)
{
	return i < CRM_ERR_FIELDS_INLINE ? &err->fields[i] : &err->more[i - CRM_ERR_FIELDS_INLINE];
}

/* The slot for the next field error, or NULL when it has no room. The overflow array doubles
 * in the arena (the old copy stays there until the request ends: at most as much again). */
static struct crm_field_error *next_slot(struct crm_err *err)
{
	size_t k = err->nfields - CRM_ERR_FIELDS_INLINE;

	if (err->nfields < CRM_ERR_FIELDS_INLINE)
		return &err->fields[err->nfields++];
	if (err->arena == NULL)
		return NULL;
	if (k == err->more_cap) {
		size_t cap = err->more_cap ? 2 * err->more_cap : CRM_ERR_FIELDS_INLINE;
		struct crm_field_error *more = crm_arena_calloc(err->arena, cap, sizeof(*more));

		if (k > 0)
			memcpy(more, err->more, k * sizeof(*more));
		err->more = more;
		err->more_cap = cap;
	}
	err->nfields++;
	return &err->more[k];
}

bool crm_err_field(struct crm_err *err, const char *field, const char *fmt, ...)
{
	struct crm_field_error *fe;
	va_list ap;

	if (err->code != CRM_E_INVALID) {
		err->code = CRM_E_INVALID;
		snprintf(err->detail, sizeof(err->detail), "the request has invalid fields");
	}
	if ((fe = next_slot(err)) == NULL) {
		err->dropped++;
		return false;
	}
	snprintf(fe->field, sizeof(fe->field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(fe->message, sizeof(fe->message), fmt, ap);
	va_end(ap);
	return false;
}

const char *crm_strerror(enum crm_errcode code)
{
	return info(code)->message;
}

const char *crm_err_name(enum crm_errcode code)
{
	return info(code)->name;
}

const char *crm_err_title(enum crm_errcode code)
{
	return info(code)->title;
}

int crm_err_http_status(enum crm_errcode code)
{
	return info(code)->status;
}
