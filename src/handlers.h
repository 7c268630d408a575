/* handlers.h -- the HTTP handlers, private to the http layer (listed in routes.c) */
#ifndef CRM_HANDLERS_H
#define CRM_HANDLERS_H

#include "crm/domain.h"
#include "crm/http.h"
#include "crm/json.h"

void crm_h_operator_create(struct crm_ctx *ctx);
void crm_h_operators_list(struct crm_ctx *ctx);
void crm_h_operator_get(struct crm_ctx *ctx);
void crm_h_operator_update(struct crm_ctx *ctx);
void crm_h_source_create(struct crm_ctx *ctx);
void crm_h_sources_list(struct crm_ctx *ctx);
void crm_h_source_get(struct crm_ctx *ctx);
void crm_h_source_operators_set(struct crm_ctx *ctx);
void crm_h_source_operators_list(struct crm_ctx *ctx);
void crm_h_contact_create(struct crm_ctx *ctx);
void crm_h_contacts_list(struct crm_ctx *ctx);
void crm_h_contact_get(struct crm_ctx *ctx);
void crm_h_leads_list(struct crm_ctx *ctx);
void crm_h_lead_get(struct crm_ctx *ctx);
void crm_h_contact_update(struct crm_ctx *ctx);
void crm_h_assignments_list(struct crm_ctx *ctx);
void crm_h_source_stats(struct crm_ctx *ctx);

/* Shared by the handler files. */

/* Streams a JSON array: rows are written into resp->body; the headers go out with the first
 * flush, so an error before any row still gets a proper problem answer. */
struct crm_list {
	struct crm_ctx *ctx;
	struct crm_jw w;
	bool stream;  /* false: buffer the whole answer (small pages that need a Link header) */
	size_t count;
};

void crm_list_begin(struct crm_list *l, struct crm_ctx *ctx, bool stream);
/* After writing one element: flushes when enough is buffered; false when the client is gone. */
bool crm_list_row_done(struct crm_list *l);
/* Closes the array; on !ok answers the error instead (or cuts a started stream). */
void crm_list_end(struct crm_list *l, bool ok, const struct crm_err *err);

/* Decodes the body or answers the error; returns false when answered. */
bool crm_h_decode(struct crm_ctx *ctx, const struct crm_jschema *schema, void *out);
/* Answers err as problem+json. */
void crm_h_fail(struct crm_ctx *ctx, const struct crm_err *err);
/* The contact object, shared by contact and lead answers. */
void crm_h_write_contact(struct crm_jw *w, const struct crm_contact *c);
/* 201 with Location: <prefix>/<id>. */
void crm_h_created(struct crm_ctx *ctx, const char *prefix, int64_t id);

#define CRM_ID_MAX 9007199254740991LL /* 2^53 - 1: exact in every JSON client */

#endif
