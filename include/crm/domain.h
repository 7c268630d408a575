/* domain.h -- the plain structs of the product, its limits and its small rules
 *
 * Plain structs and the rules that belong to them (domain.c: contact statuses, stats shares);
 * email.h holds the larger pure rule (the distribution's rules live in SQL). Strings inside these structs are
 * borrowed (usually from the request arena); a struct never owns memory.
 */
#ifndef CRM_DOMAIN_H
#define CRM_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRM_NAME_MAX 200
#define CRM_DESCRIPTION_MAX 2000
#define CRM_LIMIT_MAX 1000000
#define CRM_WEIGHT_MAX 1000000
#define CRM_EMAIL_MAX 254
#define CRM_PAGE_MAX 1000
#define CRM_SOURCE_OPERATORS_MAX 1000
#define CRM_ID_MAX 9007199254740991LL /* 2^53 - 1: exact in every JSON client */

struct crm_operator {
	int64_t id;
	const char *name;
	bool is_active;
	int32_t max_load_limit;
	int32_t active_contacts; /* stored exact count of its contacts with status 'active' */
	const char *schedule;    /* working hours: canonical JSON text, or NULL (always at work) */
	bool on_shift;           /* at work now, by its schedule */
};

/* A partial update: only the has_* members are applied. */
struct crm_operator_patch {
	bool has_name, has_is_active, has_max_load_limit, has_schedule;
	const char *name;
	bool is_active;
	int32_t max_load_limit;
	const char *schedule; /* canonical JSON text, or NULL (always at work) */
};

struct crm_source {
	int64_t id;
	const char *name;
	const char *description;        /* NULL means JSON null */
	int32_t accept_timeout_seconds; /* 0: none (JSON null) */
	const char *mode;               /* "weighted_random" or "least_loaded" (crm_source_mode_valid) */
	int32_t sticky_window_seconds;  /* 0: not sticky (JSON null); README "Sticky returning leads" */
};

/* PATCH of a source: each field written only when given (README "Accept or lose it"). */
struct crm_source_patch {
	bool has_name, has_description, has_accept_timeout;
	bool has_sticky_window;
	const char *name;
	const char *description;        /* NULL: JSON null */
	int32_t accept_timeout_seconds; /* 0: null (no timeout) */
	bool has_mode;
	const char *mode;              /* checked by crm_source_mode_valid */
	int32_t sticky_window_seconds; /* 0: null (not sticky) */
};

struct crm_source_operator {
	int64_t id;
	int64_t source_id;
	int64_t operator_id;
	int32_t weight;
};

struct crm_contact {
	int64_t id;
	int64_t lead_id;
	int64_t source_id;
	int64_t operator_id;     /* 0 when unassigned */
	const char *status;      /* "active" or "closed" (crm_contact_status_valid) */
	const char *created_at;  /* RFC 3339, UTC */
	const char *accepted_at; /* RFC 3339, UTC; NULL until accepted (README "Accept or lose it") */
};

/* A contact's status is "active" or "closed"; false for anything else, NULL included. */
bool crm_contact_status_valid(const char *status);
/* The field error message for a status that is not valid. */
#define CRM_CONTACT_STATUS_RULE "must be active or closed"

/* A source's decision rule (README "Least loaded"): "weighted_random" or "least_loaded". */
bool crm_source_mode_valid(const char *mode);
#define CRM_SOURCE_MODE_RULE "must be weighted_random or least_loaded"

struct crm_lead {
	int64_t id;
	const char *email;
	int64_t next_after; /* a full page (?limit=N): the after_id of the next page; else 0 */
};

/* Filters of GET /api/contacts; 0 / NULL / false mean "not given". */
struct crm_contact_filter {
	int64_t source_id;
	int64_t operator_id;
	int64_t lead_id;
	const char *status;
	bool has_unassigned;
	bool unassigned;
	int64_t after_id;
	int32_t limit; /* 0 = whole list */
};

/* PATCH of a contact: a new status and/or a new operator (0 = unassign); or, with accepted,
 * an acceptance (operator_id then names the operator expected to hold it, 0: any). */
struct crm_contact_patch {
	bool has_status, has_operator, accepted;
	const char *status;  /* "active" or "closed" */
	int64_t operator_id; /* 0 returns the contact to the unassigned queue */
};

/* One assignment decision, as recorded (append-only). */
struct crm_assignment {
	int64_t id;
	int64_t contact_id;
	int64_t operator_id; /* 0: nobody was chosen (or unassigned by hand) */
	const char *reason;  /* intake, sticky, backlog, manual, unassigned, timeout */
	const char *note;    /* why nobody was chosen, or NULL */
	bool has_load;
	int32_t load_before; /* chosen operator's load just before, read under its lock */
	int32_t load_limit;
	const char *candidates; /* JSON array text made by the database */
	const char *created_at;
	bool has_version;          /* false: recorded before configuration versions existed */
	int32_t config_version;    /* the source's configuration version it was made on (0: none) */
	int64_t sticky_contact_id; /* reason sticky: the earlier contact it followed; else 0 */
};

/* Per operator of a source: configuration, the share it actually got, its load. */
struct crm_operator_stats {
	int64_t operator_id;
	const char *name;
	int32_t weight;
	int64_t assigned; /* contacts of this source currently assigned to it */
	int32_t active_contacts;
	int32_t max_load_limit;
	bool is_active;
	bool on_shift;           /* at work now, by its schedule */
	double configured_share; /* weight / sum of the source's weights (crm_source_stats_shares) */
	double actual_share;     /* assigned / assigned_total of the source */
};

struct crm_source_stats {
	int64_t source_id;
	int64_t waiting;                      /* active contacts without an operator */
	int64_t assigned_total;               /* contacts of the source with an operator */
	const char *mode;                     /* the source's mode (crm_source_mode_valid) */
	struct crm_operator_stats *operators; /* arena array, by operator id */
	size_t noperators;
};

/* Fills configured_share and actual_share of every operator; a share of a zero total is 0. */
void crm_source_stats_shares(struct crm_source_stats *st);

/* Idempotency-Key: a request that carries one (see sql/functions/70_idempotency.sql). */
struct crm_idem_request {
	const char *client;  /* whose key: the API key's public id ("" when auth is off for a benchmark) */
	const char *key;     /* 1 to 255 visible ASCII characters */
	const char *request; /* the canonical request text whose sha256 is the fingerprint */
};

/* What the claim of a key found. */
enum crm_idem_outcome {
	CRM_IDEM_NEW,      /* first use: do the work in the claim's transaction, then store */
	CRM_IDEM_REPLAY,   /* answered before: the stored response */
	CRM_IDEM_MISMATCH, /* the key was used for a different request */
	CRM_IDEM_BUSY,     /* a request with this key is running */
};

/* A stored response: the status, its Location (NULL when none) and its JSON body. */
struct crm_idem_response {
	int status;
	const char *location;
	const char *body;
};

/* What a keyed POST /api/contacts decided when it made a contact (its answer is the body). */
struct crm_idem_intake_made {
	int64_t operator_id; /* 0: none, it waits */
	bool sticky;         /* given back to the operator of the lead's last contact */
};

/* --- API keys and scopes (issue 9) --- */

/* The scopes a key may hold, as bits; a route's mask says which of them may call it. */
enum crm_scope {
	CRM_SCOPE_ADMIN = 1u << 0,   /* everything, keys included */
	CRM_SCOPE_INTAKE = 1u << 1,  /* POST /api/contacts, optionally for some sources only */
	CRM_SCOPE_AGENT = 1u << 2,   /* every GET but the keys, and PATCH /api/contacts/{id} */
	CRM_SCOPE_READ = 1u << 3,    /* every GET but the keys */
	CRM_SCOPE_METRICS = 1u << 4, /* GET /metrics only (a Prometheus server's key) */
	CRM_SCOPE_PUBLIC = 1u << 8,  /* a route mask only: no key needed (never a key's scope) */
};
#define CRM_SCOPE_ALL (CRM_SCOPE_ADMIN | CRM_SCOPE_INTAKE | CRM_SCOPE_AGENT | CRM_SCOPE_READ | CRM_SCOPE_METRICS)
#define CRM_KEY_SOURCES_MAX 100 /* source ids one intake key may be limited to */

/* The scope bit of a name ("admin", ...), or 0 for anything else. */
unsigned crm_scope_from_name(const char *name);
/* "admin", "intake", "agent", "read" or "metrics" for one bit; NULL for anything else. */
const char *crm_scope_name(unsigned bit);
/* The names of the bits of mask (public included) as "a, b or c" into out; out is "" for 0. */
void crm_scopes_describe(unsigned mask, char *out, size_t size);

/* A stored key as listed (never its secret or hash). */
struct crm_api_key {
	int64_t id;
	const char *public_id;
	const char *name;
	unsigned scopes;
	const int64_t *source_ids; /* NULL when any source */
	size_t nsources;
	const char *created_at;   /* RFC 3339 */
	const char *last_used_at; /* NULL: never */
	const char *revoked_at;   /* NULL: live */
};

/* The key a request presented, once verified: who it is and what it may do. */
struct crm_principal {
	int64_t key_id;
	const char *public_id;
	unsigned scopes;
	const int64_t *source_ids; /* NULL: any source */
	size_t nsources;
};

/* An intake that names source_id is allowed for p: admin, or no source list, or listed. */
bool crm_principal_may_use_source(const struct crm_principal *p, int64_t source_id);

typedef bool (*crm_api_key_fn)(void *ctx, const struct crm_api_key *key);

/* Row callbacks of the list functions (filled by pg, passed through the service to the
 * handlers): return false to stop (the client went away). */
typedef bool (*crm_operator_fn)(void *ctx, const struct crm_operator *op);
typedef bool (*crm_source_fn)(void *ctx, const struct crm_source *src);
typedef bool (*crm_source_operator_fn)(void *ctx, const struct crm_source_operator *so);
typedef bool (*crm_contact_fn)(void *ctx, const struct crm_contact *c);
/* Leads stream as (lead, contact) pairs ordered by lead then contact; contact is NULL for a
 * lead without contacts. */
typedef bool (*crm_lead_contact_fn)(void *ctx, const struct crm_lead *lead, const struct crm_contact *c);
typedef bool (*crm_assignment_fn)(void *ctx, const struct crm_assignment *as);

#endif
