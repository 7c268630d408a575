/* test_err.c -- field errors: inline ones, overflow into the arena, none lost, drop counting */
#include <stdio.h>

#include "check.h"
#include "crm/arena.h"
#include "crm/err.h"

static void add(struct crm_err *err, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char field[64];

		snprintf(field, sizeof(field), "operators[%zu].weight", i);
		CHECK(!crm_err_field(err, field, "must be > %zu", i));
	}
}

static void test_every_field_kept_with_an_arena(void)
{
	struct crm_arena *a = crm_arena_create(4096);
	struct crm_err err;
	size_t n = 1000;
	size_t bad = 0;

	crm_err_init_arena(&err, a);
	add(&err, n);
	CHECK(err.code == CRM_E_INVALID && err.nfields == n && err.dropped == 0);
	for (size_t i = 0; i < err.nfields; i++) {
		char field[64], message[32];

		snprintf(field, sizeof(field), "operators[%zu].weight", i);
		snprintf(message, sizeof(message), "must be > %zu", i);
		if (strcmp(crm_err_field_at(&err, i)->field, field) != 0 ||
			strcmp(crm_err_field_at(&err, i)->message, message) != 0)
			bad++;
	}
	CHECK(bad == 0);
	crm_err_clear(&err); /* a retried transaction: fields gone, arena kept */
	CHECK(err.code == CRM_E_OK && err.nfields == 0 && err.arena == a);
	add(&err, CRM_ERR_FIELDS_INLINE + 1);
	CHECK(err.nfields == CRM_ERR_FIELDS_INLINE + 1);
	CHECK_STR(crm_err_field_at(&err, CRM_ERR_FIELDS_INLINE)->field, "operators[16].weight");
	crm_arena_destroy(a);
}

static void test_without_arena_extra_fields_are_counted(void)
{
	struct crm_err err;

	crm_err_init(&err);
	add(&err, 40);
	CHECK(err.code == CRM_E_INVALID);
	CHECK(err.nfields == CRM_ERR_FIELDS_INLINE && err.dropped == 40 - CRM_ERR_FIELDS_INLINE);
	CHECK_STR(crm_err_field_at(&err, CRM_ERR_FIELDS_INLINE - 1)->field, "operators[15].weight");
}

static void test_timeout_is_a_503(void)
{
	CHECK(crm_err_http_status(CRM_E_TIMEOUT) == 503);
	CHECK(crm_err_http_status(CRM_E_RETRY) == 503);
}

int main(void)
{
	test_every_field_kept_with_an_arena();
	test_without_arena_extra_fields_are_counted();
	test_timeout_is_a_503();
	return check_done("err");
}
