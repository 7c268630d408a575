/* json.c -- strict schema-driven decoding with json-c, and a small streaming JSON writer
 *
 * The only includer of json-c. Ownership: the tokener result `root` is owned here and put
 * exactly once in crm_json_decode; json_object_object_get_ex and json_object_array_get_idx
 * borrow. Decoded strings are copied into the request arena before the root is put.
 *
 * Untrusted input: json-c is more lenient than RFC 8259 even in strict mode, so the whole
 * body is checked by crm_json_validate (json_valid.c) first; json-c only builds the tree of a
 * text already known to be JSON (and its own strict checks stay on as a second line).
 */
#include "crm/json.h"
#include "crm/json_valid.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <json.h>

#define PATH_MAX_LEN 64

static size_t utf8_length(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xC0) != 0x80;
	return n;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* "prefix.name"; an overlong path is cut (field names are short and nesting is shallow). */
static void field_path(char *out, const char *prefix, const char *name)
{
	int n;

	if (prefix[0] == '\0')
		n = snprintf(out, PATH_MAX_LEN, "%s", name);
	else
		n = snprintf(out, PATH_MAX_LEN, "%s.%s", prefix, name);
	if (n < 0)
		out[0] = '\0';
}

static bool decode_object(json_object *obj, const struct crm_jschema *schema, void *out, const char *prefix,
	struct crm_arena *arena, struct crm_err *err);

static void decode_string(json_object *v, const struct crm_jfield *f, const char *path, void *dst,
	struct crm_arena *arena, struct crm_err *err)
{
	const char *s;
	size_t len, chars;

	if (!json_object_is_type(v, json_type_string)) {
		crm_err_field(err, path, "must be a string");
		return;
	}
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (memchr(s, '\0', len) != NULL) {
		crm_err_field(err, path, "must not contain NUL characters");
		return;
	}
	if (f->flags & CRM_JF_TRIM) {
		while (len > 0 && is_space(s[0]))
			s++, len--;
		while (len > 0 && is_space(s[len - 1]))
			len--;
	}
	chars = utf8_length(s, len);
	if ((int64_t)chars < f->min || (int64_t)chars > f->max) {
		if (f->min > 0)
			crm_err_field(err, path, "must be %" PRId64 " to %" PRId64 " characters", f->min, f->max);
		else
			crm_err_field(err, path, "must be at most %" PRId64 " characters", f->max);
		return;
	}
	*(const char **)dst = crm_arena_strndup(arena, s, len);
}

static void decode_int(json_object *v, const struct crm_jfield *f, const char *path, void *dst, struct crm_err *err)
{
	int64_t i;

	if (!json_object_is_type(v, json_type_int)) {
		crm_err_field(err, path, "must be an integer");
		return;
	}
	i = json_object_get_int64(v); /* saturates at INT64_MAX, which is above every max we use */
	if (i < f->min || i > f->max || (i == INT64_MAX)) {
		crm_err_field(err, path, "must be an integer from %" PRId64 " to %" PRId64, f->min, f->max);
		return;
	}
	*(int64_t *)dst = i;
}

static void decode_array(json_object *v, const struct crm_jfield *f, const char *path, void *dst,
	struct crm_arena *arena, struct crm_err *err);

/* A nested object into a zeroed arena struct; dst receives its address. */
static void decode_nested(json_object *v, const struct crm_jfield *f, const char *path, void *dst,
	struct crm_arena *arena, struct crm_err *err)
{
	void *obj;

	if (!json_object_is_type(v, json_type_object)) {
		crm_err_field(err, path, "must be an object");
		return;
	}
	obj = crm_arena_calloc(arena, 1, f->items->size);
	(void)decode_object(v, f->items, obj, path, arena, err);
	*(void **)dst = obj;
}

/* One non-null JSON value by the field's type into dst. */
static void decode_value(json_object *v, const struct crm_jfield *f, const char *path, void *dst,
	struct crm_arena *arena, struct crm_err *err)
{
	switch (f->type) {
	case CRM_JT_STRING: decode_string(v, f, path, dst, arena, err); break;
	case CRM_JT_INT: decode_int(v, f, path, dst, err); break;
	case CRM_JT_BOOL:
		if (!json_object_is_type(v, json_type_boolean))
			crm_err_field(err, path, "must be true or false");
		else
			*(bool *)dst = json_object_get_boolean(v);
		break;
	case CRM_JT_ARRAY: decode_array(v, f, path, dst, arena, err); break;
	case CRM_JT_OBJECT: decode_nested(v, f, path, dst, arena, err); break;
	}
}

static void decode_array(json_object *v, const struct crm_jfield *f, const char *path, void *dst,
	struct crm_arena *arena, struct crm_err *err)
{
	const struct crm_jschema *items = f->items;
	struct crm_jarray *arr = dst;
	size_t n;

	if (!json_object_is_type(v, json_type_array)) {
		crm_err_field(err, path, "must be an array");
		return;
	}
	n = json_object_array_length(v);
	if ((int64_t)n < f->min || (int64_t)n > f->max) {
		crm_err_field(err, path, "must have %" PRId64 " to %" PRId64 " items", f->min, f->max);
		return;
	}
	arr->n = n;
	arr->items = crm_arena_calloc(arena, n ? n : 1, items->size);
	for (size_t i = 0; i < n; i++) {
		json_object *el = json_object_array_get_idx(v, i);
		char elpath[PATH_MAX_LEN];

		snprintf(elpath, sizeof(elpath), "%s[%zu]", path, i);
		if (items->nfields == 1 && items->fields[0].name == NULL) { /* an array of scalars */
			if (el == NULL)
				crm_err_field(err, elpath, "must not be null");
			else
				decode_value(el, &items->fields[0], elpath, (char *)arr->items + i * items->size, arena,
					err);
			continue;
		}
		if (!json_object_is_type(el, json_type_object)) {
			crm_err_field(err, elpath, "must be an object");
			continue;
		}
		(void)decode_object(el, items, (char *)arr->items + i * items->size, elpath, arena, err);
	}
}

static void decode_field(json_object *obj, const struct crm_jfield *f, void *out, const char *prefix,
	struct crm_arena *arena, struct crm_err *err)
{
	char path[PATH_MAX_LEN];
	json_object *v = NULL;
	void *dst = (char *)out + f->offset;
	bool present = json_object_object_get_ex(obj, f->name, &v);

	field_path(path, prefix, f->name);
	if (!present) {
		if (f->flags & CRM_JF_REQUIRED)
			crm_err_field(err, path, "is required");
		return;
	}
	if (f->seen_offset != CRM_JNOSEEN)
		*(bool *)((char *)out + f->seen_offset) = true;
	if (v == NULL) { /* JSON null */
		if (!(f->flags & CRM_JF_NULLABLE))
			crm_err_field(err, path, "must not be null");
		return;
	}
	decode_value(v, f, path, dst, arena, err);
}

static bool decode_object(json_object *obj, const struct crm_jschema *schema, void *out, const char *prefix,
	struct crm_arena *arena, struct crm_err *err)
{
	for (size_t i = 0; i < schema->nfields; i++)
		decode_field(obj, &schema->fields[i], out, prefix, arena, err);
	return err->nfields == 0 && err->code == CRM_E_OK;
}

bool crm_json_decode(const char *text, size_t len, const struct crm_jschema *schema, void *out, struct crm_arena *arena,
	struct crm_err *err)
{
	struct json_tokener *tok;
	enum json_tokener_error jerr;
	json_object *root;
	size_t end;
	bool ok;

	memset(out, 0, schema->size);
	if (!crm_json_validate(text, len, arena, err))
		return false;
	tok = json_tokener_new_ex(CRM_JSON_MAX_DEPTH);
	if (tok == NULL)
		return crm_err_set(err, CRM_E_INTERNAL, NULL);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (jerr == json_tokener_continue && len > 0) {
		/* a top-level scalar ("5", "null") needs a terminator to be complete */
		root = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		end = len;
	}
	json_tokener_free(tok);
	if (jerr != json_tokener_success) {
		json_object_put(root);
		if (len == 0 || jerr == json_tokener_continue)
			return crm_err_set(err, CRM_E_BAD_JSON, "request body is not complete JSON");
		return crm_err_set(err, CRM_E_BAD_JSON, "request body is not valid JSON: %s",
			json_tokener_error_desc(jerr));
	}
	while (end < len && is_space(text[end]))
		end++;
	if (end < len) {
		json_object_put(root);
		return crm_err_set(err, CRM_E_BAD_JSON, "request body has data after the JSON value");
	}
	if (!json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		return crm_err_field(err, "body", "must be a JSON object");
	}
	ok = decode_object(root, schema, out, "", arena, err);
	json_object_put(root);
	return ok;
}

/* --- writer --- */

void crm_jw_init(struct crm_jw *w, struct crm_buf *buf)
{
	w->buf = buf;
	w->depth = 0;
	w->need_comma[0] = false;
}

static void before_value(struct crm_jw *w)
{
	if (w->need_comma[w->depth])
		crm_buf_putc(w->buf, ',');
	w->need_comma[w->depth] = true;
}

static void jw_open(struct crm_jw *w, char c)
{
	before_value(w);
	crm_buf_putc(w->buf, c);
	if (w->depth < CRM_JSON_MAX_DEPTH)
		w->depth++;
	w->need_comma[w->depth] = false;
}

static void jw_close(struct crm_jw *w, char c)
{
	crm_buf_putc(w->buf, c);
	if (w->depth > 0)
		w->depth--;
}

void crm_jw_obj_begin(struct crm_jw *w)
{
	jw_open(w, '{');
}

void crm_jw_obj_end(struct crm_jw *w)
{
	jw_close(w, '}');
}

void crm_jw_arr_begin(struct crm_jw *w)
{
	jw_open(w, '[');
}

void crm_jw_arr_end(struct crm_jw *w)
{
	jw_close(w, ']');
}

static void put_escaped(struct crm_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;

	crm_buf_putc(b, '"');
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[7] = {'\\', 'u', '0', '0', 0, 0, 0};

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		crm_buf_append(b, run, (size_t)(s - run));
		run = s + 1;
		switch (c) {
		case '"': crm_buf_append(b, "\\\"", 2); break;
		case '\\': crm_buf_append(b, "\\\\", 2); break;
		case '\n': crm_buf_append(b, "\\n", 2); break;
		case '\r': crm_buf_append(b, "\\r", 2); break;
		case '\t': crm_buf_append(b, "\\t", 2); break;
		default:
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			crm_buf_append(b, esc, 6);
		}
	}
	crm_buf_append(b, run, (size_t)(s - run));
	crm_buf_putc(b, '"');
}

void crm_jw_key(struct crm_jw *w, const char *key)
{
	before_value(w);
	put_escaped(w->buf, key);
	crm_buf_putc(w->buf, ':');
	w->need_comma[w->depth] = false; /* the value follows without a comma */
}

void crm_jw_str(struct crm_jw *w, const char *s)
{
	if (s == NULL) {
		crm_jw_null(w);
		return;
	}
	before_value(w);
	put_escaped(w->buf, s);
}

void crm_jw_int(struct crm_jw *w, int64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%" PRId64, v);

	before_value(w);
	crm_buf_append(w->buf, tmp, (size_t)n);
}

void crm_jw_bool(struct crm_jw *w, bool v)
{
	before_value(w);
	crm_buf_puts(w->buf, v ? "true" : "false");
}

void crm_jw_null(struct crm_jw *w)
{
	before_value(w);
	crm_buf_puts(w->buf, "null");
}

void crm_jw_opt_int(struct crm_jw *w, bool present, int64_t v)
{
	if (present)
		crm_jw_int(w, v);
	else
		crm_jw_null(w);
}

void crm_jw_double(struct crm_jw *w, double v)
{
	crm_jw_double_digits(w, v, 4);
}

void crm_jw_double_digits(struct crm_jw *w, double v, int decimals)
{
	char tmp[64];
	int n = snprintf(tmp, sizeof(tmp), "%.*f", decimals, v);

	before_value(w);
	if (n <= 0 || (size_t)n >= sizeof(tmp) || v != v) {
		crm_buf_puts(w->buf, "null");
		return;
	}
	crm_buf_append(w->buf, tmp, (size_t)n);
}

void crm_jw_raw(struct crm_jw *w, const char *json)
{
	before_value(w);
	crm_buf_puts(w->buf, json);
}

void crm_json_problem(struct crm_buf *buf, const struct crm_err *err, const char *request_id)
{
	struct crm_jw w;

	crm_jw_init(&w, buf);
	crm_jw_obj_begin(&w);
	crm_jw_key(&w, "type");
	crm_jw_str(&w, "about:blank");
	crm_jw_key(&w, "title");
	crm_jw_str(&w, crm_err_title(err->code));
	crm_jw_key(&w, "status");
	crm_jw_int(&w, crm_err_http_status(err->code));
	crm_jw_key(&w, "detail");
	crm_jw_str(&w, err->detail[0] ? err->detail : crm_strerror(err->code));
	if (err->nfields > 0) {
		crm_jw_key(&w, "errors");
		crm_jw_arr_begin(&w);
		for (size_t i = 0; i < err->nfields; i++) {
			const struct crm_field_error *fe = crm_err_field_at(err, i);

			crm_jw_obj_begin(&w);
			crm_jw_key(&w, "field");
			crm_jw_str(&w, fe->field);
			crm_jw_key(&w, "message");
			crm_jw_str(&w, fe->message);
			crm_jw_obj_end(&w);
		}
		crm_jw_arr_end(&w);
	}
	if (request_id != NULL) {
		crm_jw_key(&w, "request_id");
		crm_jw_str(&w, request_id);
	}
	crm_jw_obj_end(&w);
}
