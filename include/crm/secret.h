/* secret.h -- API key text, its random secret, SHA-256 and the constant-time compare
 *
 * A key is "crm_<public id>_<secret>": the public id is 16 lower-case hex digits (64 random
 * bits; it names the key in logs, in the list and in the workers' cache), the secret 64 lower-
 * case hex digits (256 bits from getrandom(2)). Only SHA-256 of the secret's text is stored.
 * secret.c is the only includer of OpenSSL's headers (libcrypto: SHA-256 and CRYPTO_memcmp).
 */
#ifndef CRM_SECRET_H
#define CRM_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crm/err.h"

#define CRM_KEY_PREFIX "crm_"
#define CRM_KEY_PUBLIC_LEN 16
#define CRM_KEY_SECRET_LEN 64
/* "crm_" + public id + "_" + secret */
#define CRM_KEY_LEN (sizeof(CRM_KEY_PREFIX) - 1 + CRM_KEY_PUBLIC_LEN + 1 + CRM_KEY_SECRET_LEN)
#define CRM_SHA256_LEN 32

/* The parts of a presented key. */
struct crm_key_text {
	char public_id[CRM_KEY_PUBLIC_LEN + 1];
	char secret[CRM_KEY_SECRET_LEN + 1];
};

/* A key exactly of the form above (lower-case hex, nothing before or after)? Fills out. */
bool crm_secret_key_parse(const char *key, struct crm_key_text *out);
/* "crm_<public_id>_<secret>" into out (CRM_KEY_LEN + 1 bytes). */
void crm_secret_key_format(const struct crm_key_text *k, char *out);
/* A fresh key from getrandom(2); false (err set) only when the kernel gives no randomness. */
bool crm_secret_key_generate(struct crm_key_text *out, struct crm_err *err) CRM_MUSTCHECK;

/* SHA-256 of data. */
void crm_secret_sha256(const void *data, size_t len, uint8_t out[CRM_SHA256_LEN]);
/* The stored hash of a key: SHA-256 of its secret's text. */
void crm_secret_key_hash(const struct crm_key_text *k, uint8_t out[CRM_SHA256_LEN]);
/* a == b, in time independent of where they differ (CRYPTO_memcmp). */
bool crm_secret_equal(const uint8_t *a, const uint8_t *b, size_t len);

#endif
