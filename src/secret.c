/* secret.c -- API key text, random secrets, SHA-256 and the constant-time compare
 *
 * The only includer of OpenSSL (libcrypto) headers, checked by tests/layers.py. Pure apart from
 * getrandom(2). Secrets are random, so one SHA-256 is enough to store them: there is nothing
 * to guess from the hash, and a slow KDF would only cost every request's cache miss. The hash
 * is compared with CRYPTO_memcmp, whose time does not depend on where the bytes differ.
 */
#include "crm/secret.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

static const char hex[] = "0123456789abcdef";

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

bool crm_secret_key_parse(const char *key, struct crm_key_text *out)
{
	const size_t pre = sizeof(CRM_KEY_PREFIX) - 1;
	const char *pub = key + pre, *sec = pub + CRM_KEY_PUBLIC_LEN + 1;

	if (key == NULL || strlen(key) != CRM_KEY_LEN || strncmp(key, CRM_KEY_PREFIX, pre) != 0 ||
		pub[CRM_KEY_PUBLIC_LEN] != '_' || !all_hex(pub, CRM_KEY_PUBLIC_LEN) ||
		!all_hex(sec, CRM_KEY_SECRET_LEN))
		return false;
	memcpy(out->public_id, pub, CRM_KEY_PUBLIC_LEN);
	out->public_id[CRM_KEY_PUBLIC_LEN] = '\0';
	memcpy(out->secret, sec, CRM_KEY_SECRET_LEN);
	out->secret[CRM_KEY_SECRET_LEN] = '\0';
	return true;
}

void crm_secret_key_format(const struct crm_key_text *k, char *out)
{
	memcpy(out, CRM_KEY_PREFIX, sizeof(CRM_KEY_PREFIX) - 1);
	out += sizeof(CRM_KEY_PREFIX) - 1;
	memcpy(out, k->public_id, CRM_KEY_PUBLIC_LEN);
	out[CRM_KEY_PUBLIC_LEN] = '_';
	memcpy(out + CRM_KEY_PUBLIC_LEN + 1, k->secret, CRM_KEY_SECRET_LEN + 1);
}

/* n random bytes as 2n hex digits and a NUL. */
static bool random_hex(char *out, size_t n, struct crm_err *err)
{
	uint8_t buf[CRM_KEY_SECRET_LEN / 2];
	size_t got = 0;

	while (got < n) {
		ssize_t r = getrandom(buf + got, n - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return crm_err_set(err, CRM_E_INTERNAL, "getrandom failed: %s", strerror(errno));
		got += (size_t)r;
	}
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[buf[i] >> 4];
		out[2 * i + 1] = hex[buf[i] & 15];
	}
	out[2 * n] = '\0';
	memset(buf, 0, sizeof(buf));
	return true;
}

bool crm_secret_key_generate(struct crm_key_text *out, struct crm_err *err)
{
	return random_hex(out->public_id, CRM_KEY_PUBLIC_LEN / 2, err) &&
	       random_hex(out->secret, CRM_KEY_SECRET_LEN / 2, err);
}

void crm_secret_sha256(const void *data, size_t len, uint8_t out[CRM_SHA256_LEN])
{
	unsigned int n = 0;

	if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != CRM_SHA256_LEN)
		abort(); /* cannot fail with a built-in digest; out of memory at worst */
}

void crm_secret_key_hash(const struct crm_key_text *k, uint8_t out[CRM_SHA256_LEN])
{
	crm_secret_sha256(k->secret, CRM_KEY_SECRET_LEN, out);
}

bool crm_secret_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}
