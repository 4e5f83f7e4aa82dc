/* Service-account credentials for the GCS backend: the key from
 * GOOGLE_APPLICATION_CREDENTIALS, the JWT exchange at the key's token_uri, and a
 * thread-safe cache of the access token that refreshes it before it expires. */
#ifndef COFFER_GCS_AUTH_H
#define COFFER_GCS_AUTH_H

#include <coffer/http.h>

typedef struct gcs_auth gcs_auth;

#define GCS_SCOPE_READ_WRITE "https://www.googleapis.com/auth/devstorage.read_write"

/* `credentials` is the service-account JSON itself, or (when it does not start with '{')
 * the path of a file holding it. The private key is registered as a secret of `http`. */
int gcs_auth_open(gcs_auth **out, coffer_http *http, const char *credentials, const char *scope);
void gcs_auth_close(gcs_auth *auth);
const char *gcs_auth_email(const gcs_auth *auth);

/* A copy (coffer_free it) of a token valid for a while yet, exchanging a new JWT when the
 * cached one is missing or near its expiry. Errors: COFFER_EAUTH when the token endpoint
 * refuses, naming token_uri, the account and the endpoint's error; COFFER_ETRANSIENT. */
int gcs_auth_token(gcs_auth *auth, char **out);
/* The server refused `token`: drop it from the cache if it is still the cached one. */
void gcs_auth_invalidate(gcs_auth *auth, const char *token);

#endif
