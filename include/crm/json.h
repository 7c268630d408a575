/* json.h -- JSON in and out: schema-driven strict decoding (json-c) and a streaming writer
 *
 * json.c is the only includer of json-c. Decoding is driven by a static table of fields per
 * request body; every type rule of the API lives here: integers must be JSON integers (not
 * strings, not 5.0), booleans must be true/false, unknown members are ignored. All bad fields
 * are reported at once as field errors (422); malformed text is CRM_E_BAD_JSON (400).
 */
#ifndef CRM_JSON_H
#define CRM_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crm/arena.h"
#include "crm/buf.h"
#include "crm/err.h"
#include "crm/util.h"

#define CRM_JSON_MAX_DEPTH 16

enum crm_jtype {
	CRM_JT_STRING, /* const char * (arena copy); NULL for JSON null when nullable */
	CRM_JT_INT,    /* int64_t, range [min, max] */
	CRM_JT_BOOL,   /* bool */
	CRM_JT_ARRAY,  /* struct crm_jarray of elements decoded with `items`: objects, or scalars
			* when `items` has one field without a name (its type and range apply to each) */
	CRM_JT_OBJECT, /* void *: an arena struct of `items->size` bytes decoded with `items`; NULL
			* for JSON null when nullable. Errors name members "field.member". */
};

#define CRM_JF_REQUIRED 0x1u
#define CRM_JF_NULLABLE 0x2u
#define CRM_JF_TRIM 0x4u /* strings: strip ASCII whitespace before the length check */

#define CRM_JNOSEEN ((size_t)-1)

struct crm_jschema;

struct crm_jfield {
	const char *name;
	enum crm_jtype type;
	unsigned flags;
	int64_t min, max;                /* INT: value range; STRING: length range; ARRAY: element count */
	size_t offset;                   /* where the value is stored in the output struct */
	size_t seen_offset;              /* a bool set when the member is present, or CRM_JNOSEEN */
	const struct crm_jschema *items; /* ARRAY and OBJECT only */
};

struct crm_jschema {
	const struct crm_jfield *fields;
	size_t nfields;
	size_t size; /* sizeof the output struct (used for array elements) */
};

/* A schema over a static array of fields: the count is the array's, never typed by hand. */
#define CRM_JSCHEMA(fields_array, out_type)                               \
	{                                                                 \
		(fields_array), CRM_COUNT(fields_array), sizeof(out_type) \
	}

struct crm_jarray {
	void *items; /* arena array of `size`-byte elements */
	size_t n;
};

/* Decodes a request body that must be one JSON object into *out (zeroed first). Strings and
 * arrays are allocated from the arena. */
bool crm_json_decode(const char *text, size_t len, const struct crm_jschema *schema, void *out, struct crm_arena *arena,
	struct crm_err *err) CRM_MUSTCHECK;

/* Streaming writer: appends compact JSON to a buffer, handling commas and escaping. */
struct crm_jw {
	struct crm_buf *buf;
	int depth;
	bool need_comma[CRM_JSON_MAX_DEPTH + 1];
};

void crm_jw_init(struct crm_jw *w, struct crm_buf *buf);
void crm_jw_obj_begin(struct crm_jw *w);
void crm_jw_obj_end(struct crm_jw *w);
void crm_jw_arr_begin(struct crm_jw *w);
void crm_jw_arr_end(struct crm_jw *w);
void crm_jw_key(struct crm_jw *w, const char *key);
void crm_jw_str(struct crm_jw *w, const char *s); /* NULL writes null */
void crm_jw_int(struct crm_jw *w, int64_t v);
void crm_jw_bool(struct crm_jw *w, bool v);
void crm_jw_null(struct crm_jw *w);
/* v when present, else null (optional ids and figures). */
void crm_jw_opt_int(struct crm_jw *w, bool present, int64_t v);
/* A finite number with up to 4 decimals (shares, ratios). */
void crm_jw_double(struct crm_jw *w, double v);
/* The same with `decimals` decimals (the dry run's expectations: 6). */
void crm_jw_double_digits(struct crm_jw *w, double v, int decimals);
/* A value that is already JSON text, e.g. made by the database; the caller vouches for it. */
void crm_jw_raw(struct crm_jw *w, const char *json);

/* RFC 9457 problem document for err (errors[] member for field errors; request_id member unless NULL). */
void crm_json_problem(struct crm_buf *buf, const struct crm_err *err, const char *request_id);

#endif
