/* cli.c -- `crm keys create|list|revoke`: API keys from the command line
 *
 * The first key of a deployment can only come from here (every /api/ route needs a key). The
 * same service functions as POST/GET/DELETE /api/keys do the work, so the rules (scope names,
 * sources, name length) are the same. `create` prints the key alone on stdout, once, so that
 * `crm keys create ... > file` stores exactly the key; everything else goes to stderr.
 */
#include "crm/cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm/arena.h"
#include "crm/service.h" /* and domain.h with it: scopes, limits */

#define SCOPES_MAX 8

static const char usage[] = "  keys create --name NAME --scope S[,S...] [--source ID]...\n"
			    "            create an API key (scopes: admin, intake, agent, read, metrics; --source\n"
			    "            limits an intake key to those sources) and print it once, alone on stdout\n"
			    "  keys list  list the keys (never their secrets)\n"
			    "  keys revoke ID\n"
			    "            revoke a key; workers refuse it within CRM_KEY_CACHE_MS\n";

const char *crm_cli_keys_usage(void)
{
	return usage;
}

static void print_err(const struct crm_err *err)
{
	fprintf(stderr, "crm keys: %s\n", err->detail[0] ? err->detail : crm_strerror(err->code));
	for (size_t i = 0; i < err->nfields; i++) {
		const struct crm_field_error *f = crm_err_field_at(err, i);

		fprintf(stderr, "  %s: %s\n", f->field, f->message);
	}
}

static bool parse_id(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	v = strtoll(s, &end, 10);
	if (*end != '\0' || v < 1 || v > CRM_ID_MAX)
		return false;
	*out = v;
	return true;
}

struct create_args {
	const char *name;
	const char *scopes[SCOPES_MAX];
	size_t nscopes;
	int64_t sources[CRM_KEY_SOURCES_MAX];
	size_t nsources;
};

/* --scope a,b may repeat; each comma-separated name is one scope. */
static bool add_scopes(struct create_args *c, char *list)
{
	for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		if (c->nscopes == SCOPES_MAX)
			return false;
		c->scopes[c->nscopes++] = tok;
	}
	return true;
}

/* One "--option value" pair of create. */
static bool create_option(struct create_args *c, const char *opt, char *value)
{
	if (strcmp(opt, "--name") == 0) {
		c->name = value;
		return true;
	}
	if (strcmp(opt, "--scope") == 0)
		return add_scopes(c, value);
	if (strcmp(opt, "--source") != 0 || c->nsources == CRM_KEY_SOURCES_MAX ||
		!parse_id(value, &c->sources[c->nsources]))
		return false;
	c->nsources++;
	return true;
}

static bool parse_create(int argc, char **argv, struct create_args *c)
{
	memset(c, 0, sizeof(*c));
	for (int i = 2; i < argc; i += 2) {
		if (i + 1 >= argc || !create_option(c, argv[i], argv[i + 1]))
			return false;
	}
	return c->name != NULL && c->nscopes > 0;
}

static int create(struct crm_service *svc, struct crm_arena *a, int argc, char **argv)
{
	struct create_args c;
	struct crm_api_key k;
	const char *text = NULL;
	struct crm_err err;

	if (!parse_create(argc, argv, &c)) {
		fprintf(stderr, "usage: crm keys create --name NAME --scope S[,S...] [--source ID]...\n");
		return 2;
	}
	crm_err_init_arena(&err, a);
	if (c.name[0] == '\0' || strlen(c.name) > CRM_NAME_MAX)
		crm_err_field(&err, "name", "must be 1 to %d characters", CRM_NAME_MAX);
	if (err.code != CRM_E_OK || !crm_service_key_create(svc, a, c.name, c.scopes, c.nscopes,
					    c.nsources ? c.sources : NULL, c.nsources, &k, &text, &err)) {
		print_err(&err);
		return 1;
	}
	fprintf(stderr, "crm keys: created key %" PRId64 " (public id %s); it is shown only now:\n", k.id, k.public_id);
	printf("%s\n", text);
	return 0;
}

static bool list_row(void *ctx, const struct crm_api_key *k)
{
	const char *sep = "";

	(void)ctx;
	printf("%" PRId64 "\t%s\t", k->id, k->public_id);
	for (unsigned bit = 1; bit & CRM_SCOPE_ALL; bit <<= 1) {
		if (k->scopes & bit) {
			printf("%s%s", sep, crm_scope_name(bit));
			sep = ",";
		}
	}
	putchar('\t');
	if (k->source_ids == NULL)
		putchar('-');
	for (size_t i = 0; i < k->nsources; i++)
		printf("%s%" PRId64, i ? "," : "", k->source_ids[i]);
	printf("\t%s\t%s\t%s\t%s\n", k->created_at, k->last_used_at ? k->last_used_at : "-",
		k->revoked_at ? k->revoked_at : "-", k->name);
	return true;
}

static int list(struct crm_service *svc, struct crm_arena *a)
{
	struct crm_err err;

	crm_err_init_arena(&err, a);
	printf("id\tpublic_id\tscopes\tsources\tcreated_at\tlast_used_at\trevoked_at\tname\n");
	if (!crm_service_keys_list(svc, a, 0, 0, list_row, NULL, &err)) {
		print_err(&err);
		return 1;
	}
	return 0;
}

static int revoke(struct crm_service *svc, struct crm_arena *a, int argc, char **argv)
{
	struct crm_api_key k;
	struct crm_err err;
	int64_t id;

	if (argc != 3 || !parse_id(argv[2], &id)) {
		fprintf(stderr, "usage: crm keys revoke ID\n");
		return 2;
	}
	crm_err_init_arena(&err, a);
	if (!crm_service_key_revoke(svc, a, id, &k, &err)) {
		print_err(&err);
		return 1;
	}
	fprintf(stderr, "crm keys: key %" PRId64 " (%s) revoked at %s\n", k.id, k.public_id, k.revoked_at);
	return 0;
}

int crm_cli_keys(const struct crm_config *cfg, int argc, char **argv)
{
	struct crm_service svc;
	struct crm_arena *a;
	struct crm_err err;
	int rc = 2;

	if (argc < 2) {
		fprintf(stderr, "usage: crm keys create|list|revoke ...\n%s", usage);
		return 2;
	}
	crm_err_init(&err);
	if (!crm_service_init(&svc, cfg->database_url, cfg->drain_batch, &err)) {
		print_err(&err);
		return 1;
	}
	a = crm_arena_create(16 * 1024);
	if (strcmp(argv[1], "create") == 0)
		rc = create(&svc, a, argc, argv);
	else if (strcmp(argv[1], "list") == 0 && argc == 2)
		rc = list(&svc, a);
	else if (strcmp(argv[1], "revoke") == 0)
		rc = revoke(&svc, a, argc, argv);
	else
		fprintf(stderr, "usage: crm keys create|list|revoke ...\n%s", usage);
	crm_arena_destroy(a);
	crm_service_finish(&svc);
	return rc;
}
