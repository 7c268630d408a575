/* handlers_operators.c -- HTTP handlers of /api/operators */
#include <stddef.h>
#include <stdio.h>

#include "crm/arena.h"
#include "crm/buf.h"
#include "crm/domain.h"
#include "crm/schedule.h"
#include "crm/schema.h"
#include "crm/service.h"
#include "handlers.h"

static void write_operator(struct crm_jw *w, const struct crm_operator *op)
{
	crm_jw_obj_begin(w);
	crm_jw_key(w, "id");
	crm_jw_int(w, op->id);
	crm_jw_key(w, "name");
	crm_jw_str(w, op->name);
	crm_jw_key(w, "is_active");
	crm_jw_bool(w, op->is_active);
	crm_jw_key(w, "max_load_limit");
	crm_jw_int(w, op->max_load_limit);
	crm_jw_key(w, "active_contacts");
	crm_jw_int(w, op->active_contacts);
	crm_jw_key(w, "schedule");
	if (op->schedule != NULL)
		crm_jw_raw(w, op->schedule);
	else
		crm_jw_null(w);
	crm_jw_key(w, "on_shift");
	crm_jw_bool(w, op->on_shift);
	crm_jw_obj_end(w);
}

/* The weekly shifts checked into s[] (arena); a field error for each bad part. */
static struct crm_shift *check_shifts(struct crm_arena *a, const struct crm_jarray *weekly, struct crm_err *err)
{
	const struct crm_schedule_shift_body *in = weekly->items;
	struct crm_shift *s = crm_arena_calloc(a, weekly->n ? weekly->n : 1, sizeof(*s));
	char f[64];

	for (size_t i = 0; i < weekly->n; i++) {
		bool times = true;

		snprintf(f, sizeof(f), "schedule.weekly[%zu].day", i);
		if (!crm_schedule_day(in[i].day, &s[i].day))
			crm_err_field(err, f, "must be one of mon, tue, wed, thu, fri, sat, sun");
		snprintf(f, sizeof(f), "schedule.weekly[%zu].from", i);
		if (!crm_schedule_time(in[i].from, &s[i].from))
			times = crm_err_field(err, f, "must be a local time HH:MM, 00:00 to 23:59");
		snprintf(f, sizeof(f), "schedule.weekly[%zu].to", i);
		if (!crm_schedule_time(in[i].to, &s[i].to))
			times = crm_err_field(err, f, "must be a local time HH:MM, 00:00 to 23:59");
		if (times && s[i].from == s[i].to)
			crm_err_field(err, f,
				"must differ from from (a later to ends the same day, an earlier one the next)");
	}
	return s;
}

/* The days off checked into yyyymmdd numbers (arena); a field error for each bad one. */
static int *check_days_off(struct crm_arena *a, const struct crm_jarray *days_off, struct crm_err *err)
{
	const char *const *in = days_off->items;
	int *d = crm_arena_calloc(a, days_off->n ? days_off->n : 1, sizeof(*d));
	char f[64];

	for (size_t i = 0; i < days_off->n; i++) {
		snprintf(f, sizeof(f), "schedule.days_off[%zu]", i);
		if (!crm_schedule_date(in[i], &d[i]))
			crm_err_field(err, f, "must be a date YYYY-MM-DD from %d to %d", CRM_SCHEDULE_YEAR_MIN,
				CRM_SCHEDULE_YEAR_MAX);
	}
	return d;
}

static void write_canonical(struct crm_buf *b, const char *zone, const struct crm_shift *s, size_t ns, const int *d,
	size_t nd)
{
	struct crm_jw w;
	char t[16];

	crm_jw_init(&w, b);
	crm_jw_obj_begin(&w);
	crm_jw_key(&w, "timezone");
	crm_jw_str(&w, zone);
	crm_jw_key(&w, "weekly");
	crm_jw_arr_begin(&w);
	for (size_t i = 0; i < ns; i++) {
		crm_jw_obj_begin(&w);
		crm_jw_key(&w, "day");
		crm_jw_str(&w, crm_schedule_day_name(s[i].day));
		snprintf(t, sizeof(t), "%02d:%02d", s[i].from / 60, s[i].from % 60);
		crm_jw_key(&w, "from");
		crm_jw_str(&w, t);
		snprintf(t, sizeof(t), "%02d:%02d", s[i].to / 60, s[i].to % 60);
		crm_jw_key(&w, "to");
		crm_jw_str(&w, t);
		crm_jw_obj_end(&w);
	}
	crm_jw_arr_end(&w);
	crm_jw_key(&w, "days_off");
	crm_jw_arr_begin(&w);
	for (size_t i = 0; i < nd; i++) {
		snprintf(t, sizeof(t), "%04d-%02d-%02d", d[i] / 10000, d[i] / 100 % 100, d[i] % 100);
		crm_jw_str(&w, t);
	}
	crm_jw_arr_end(&w);
	crm_jw_obj_end(&w);
}

/* A decoded schedule (NULL: JSON null) to the canonical JSON the database stores: its parts
 * checked (schedule.h; the zone's existence is the database's to say), shifts ordered by day,
 * start and end, days off by date, exact repeats dropped. *out is NULL for a null schedule. */
static bool schedule_canonical(struct crm_arena *a, const struct crm_schedule_body *b, const char **out,
	struct crm_err *err)
{
	struct crm_shift *s;
	struct crm_buf buf;
	size_t ns, nd;
	int *d;

	*out = NULL;
	if (b == NULL)
		return true;
	if (!crm_schedule_zone_name(b->timezone))
		crm_err_field(err, "schedule.timezone", "must be an IANA time zone name, e.g. Europe/Berlin");
	s = check_shifts(a, &b->weekly, err);
	d = check_days_off(a, &b->days_off, err);
	if (err->nfields > 0)
		return false;
	ns = crm_schedule_sort_shifts(s, b->weekly.n);
	nd = crm_schedule_sort_dates(d, b->days_off.n);
	crm_buf_init(&buf);
	write_canonical(&buf, b->timezone, s, ns, d, nd);
	*out = crm_arena_strndup(a, buf.data, buf.len);
	crm_buf_finish(&buf);
	return true;
}

static void answer_operator(struct crm_ctx *ctx, const struct crm_operator *op)
{
	struct crm_jw w;

	crm_jw_init(&w, &ctx->resp->body);
	write_operator(&w, op);
}

static void operator_create(struct crm_ctx *ctx)
{
	struct crm_operator_body b;
	struct crm_operator op;
	const char *schedule;
	struct crm_err err;

	crm_err_init_arena(&err, ctx->arena);
	if (!crm_h_decode(ctx, &crm_schema_operator_create, &b))
		return;
	if (!schedule_canonical(ctx->arena, b.schedule, &schedule, &err) ||
		!crm_service_operator_create(ctx->svc, ctx->arena, b.name, b.has_is_active ? b.is_active : true,
			(int32_t)b.max_load_limit, schedule, &op, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	crm_h_created(ctx, "/api/operators", op.id);
	answer_operator(ctx, &op);
}

void crm_h_operator_create(struct crm_ctx *ctx)
{
	crm_h_idempotent(ctx, "POST /api/operators", operator_create);
}

static bool operator_row(void *p, const struct crm_operator *op)
{
	struct crm_list *l = p;

	write_operator(&l->w, op);
	return crm_list_row_done(l);
}

void crm_h_operators_list(struct crm_ctx *ctx)
{
	struct crm_list l;
	struct crm_err err;
	bool ok;

	crm_err_init_arena(&err, ctx->arena);
	crm_list_begin(&l, ctx, true);
	ok = crm_service_operators_list(ctx->svc, ctx->arena, operator_row, &l, &err);
	crm_list_end(&l, ok, &err);
}

void crm_h_operator_get(struct crm_ctx *ctx)
{
	struct crm_operator op;
	struct crm_err err;

	crm_err_init_arena(&err, ctx->arena);
	if (!crm_service_operator_get(ctx->svc, ctx->arena, ctx->req->params[0], &op, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	answer_operator(ctx, &op);
}

void crm_h_operator_update(struct crm_ctx *ctx)
{
	struct crm_operator_patch patch;
	struct crm_operator_body b;
	struct crm_operator op;
	struct crm_err err;

	crm_err_init_arena(&err, ctx->arena);
	if (!crm_h_decode(ctx, &crm_schema_operator_patch, &b))
		return;
	patch.has_name = b.has_name;
	patch.has_is_active = b.has_is_active;
	patch.has_max_load_limit = b.has_max_load_limit;
	patch.has_schedule = b.has_schedule;
	patch.name = b.name;
	patch.is_active = b.is_active;
	patch.max_load_limit = (int32_t)b.max_load_limit;
	if (!schedule_canonical(ctx->arena, b.schedule, &patch.schedule, &err) ||
		!crm_service_operator_update(ctx->svc, ctx->arena, ctx->req->params[0], &patch, &op, &err)) {
		crm_h_fail(ctx, &err);
		return;
	}
	answer_operator(ctx, &op);
}
