/* RS256 JWT for the service-account token exchange; see gcs_jwt.h. */
#include "config.h"

#include <inttypes.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <coffer/error.h>
#include <coffer/http.h>

#include "gcs_json.h"
#include "gcs_jwt.h"

int gcs_jwt_load_key(EVP_PKEY **out, const gcs_sa_key *key)
{
	*out = NULL;
	BIO *bio = BIO_new_mem_buf(key->private_key, (int)strlen(key->private_key));
	EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	ERR_clear_error(); /* OpenSSL's queue is per thread; leave nothing behind */
	if (!pkey || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
		EVP_PKEY_free(pkey);
		return coffer_error_set(COFFER_EINVALID,
		                        "service-account key %s: private_key is not a readable RSA key",
		                        key->client_email);
	}
	*out = pkey;
	return 0;
}

static int jwt_append_part(coffer_buf *out, const coffer_buf *json)
{
	return coffer_http_base64url_encode(json->data, json->len, out);
}

static int jwt_sign(coffer_buf *out, EVP_PKEY *pkey, const gcs_sa_key *key)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t sig[1024];
	size_t sig_len = sizeof(sig);
	int ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
	         EVP_DigestSign(md, NULL, &sig_len, out->data, out->len) == 1 && sig_len <= sizeof(sig) &&
	         EVP_DigestSign(md, sig, &sig_len, out->data, out->len) == 1;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	if (!ok)
		return coffer_error_set(COFFER_ERROR, "service-account key %s: RS256 signing failed",
		                        key->client_email);
	int rc = coffer_http_bufprintf(out, ".");
	if (rc == 0)
		rc = coffer_http_base64url_encode(sig, sig_len, out);
	return rc;
}

int gcs_jwt_build(coffer_buf *out, EVP_PKEY *pkey, const gcs_sa_key *key, const char *scope,
                  int64_t now)
{
	coffer_buf header = COFFER_BUF_INIT, claims = COFFER_BUF_INIT;
	int rc = coffer_http_bufprintf(&header, "{\"alg\":\"RS256\",\"typ\":\"JWT\"");
	if (rc == 0 && key->private_key_id) {
		rc = coffer_http_bufprintf(&header, ",\"kid\":");
		if (rc == 0)
			rc = gcs_json_append_string(&header, key->private_key_id);
	}
	if (rc == 0)
		rc = coffer_http_bufprintf(&header, "}");
	if (rc == 0)
		rc = coffer_http_bufprintf(&claims, "{\"iss\":");
	if (rc == 0)
		rc = gcs_json_append_string(&claims, key->client_email);
	if (rc == 0)
		rc = coffer_http_bufprintf(&claims, ",\"scope\":");
	if (rc == 0)
		rc = gcs_json_append_string(&claims, scope);
	if (rc == 0)
		rc = coffer_http_bufprintf(&claims, ",\"aud\":");
	if (rc == 0)
		rc = gcs_json_append_string(&claims, key->token_uri);
	if (rc == 0)
		rc = coffer_http_bufprintf(&claims, ",\"iat\":%" PRId64 ",\"exp\":%" PRId64 "}", now,
		                           now + GCS_JWT_LIFETIME_S);
	/* built apart, so `out` only ever gets a whole JWT */
	coffer_buf input = COFFER_BUF_INIT;
	if (rc == 0)
		rc = jwt_append_part(&input, &header);
	if (rc == 0)
		rc = coffer_http_bufprintf(&input, ".");
	if (rc == 0)
		rc = jwt_append_part(&input, &claims);
	if (rc == 0)
		rc = jwt_sign(&input, pkey, key);
	if (rc == 0 && coffer_buf_append(out, input.data, input.len + 1) == 0)
		out->len--;
	else if (rc == 0)
		rc = coffer_error_set(COFFER_ENOMEM, "JWT: out of memory");
	coffer_buf_free(&header);
	coffer_buf_free(&claims);
	coffer_buf_free(&input);
	return rc;
}
