/* The signed JWT of Google's service-account flow (RFC 7523 bearer assertion, RS256). */
#ifndef COFFER_GCS_JWT_H
#define COFFER_GCS_JWT_H

#include <stdint.h>

#include <openssl/evp.h>

#include <coffer/common.h>

#include "gcs_parse.h"

#define GCS_JWT_LIFETIME_S 3600 /* the longest Google accepts */

/* The key's private_key as an RSA key; COFFER_EINVALID naming the account otherwise. */
int gcs_jwt_load_key(EVP_PKEY **out, const gcs_sa_key *key);

/* Appends base64url(header) "." base64url(claims) "." base64url(RS256 signature), with
 * header {"alg":"RS256","typ":"JWT"[,"kid":private_key_id]} and claims {"iss":
 * client_email, "scope": scope, "aud": token_uri, "iat": now, "exp": now + 3600}. */
int gcs_jwt_build(coffer_buf *out, EVP_PKEY *pkey, const gcs_sa_key *key, const char *scope,
                  int64_t now);

#endif
