/* The documents the GCS backend reads: the service-account key, OAuth token responses,
 * object resources, listings and error bodies. Messages never quote key material. */
#ifndef COFFER_GCS_PARSE_H
#define COFFER_GCS_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include <coffer/common.h>

#define GCS_DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"

typedef struct gcs_sa_key {
	char *client_email;
	char *private_key;     /* PEM (PKCS#8) */
	char *private_key_id;  /* or NULL */
	char *token_uri;       /* the key's, or GCS_DEFAULT_TOKEN_URI */
} gcs_sa_key;

/* A service-account key file (type "service_account"; client_email and private_key
 * required). COFFER_EINVALID naming what is missing; COFFER_EUNSUPPORTED for other
 * credential types (authorized_user, external_account). */
int gcs_sa_key_parse(gcs_sa_key *out, const char *text, size_t len);
void gcs_sa_key_free(gcs_sa_key *key);

/* A successful token response: access_token (non-empty) and expires_in (seconds, > 0;
 * 3600 when absent); token_type, when present, must be Bearer. *token is coffer_malloc'd. */
int gcs_token_response_parse(const char *body, size_t len, char **token, uint64_t *expires_in);

/* The human part of an error body, coffer_malloc'd: "<error>: <error_description>" of an
 * OAuth error, or error.message of a JSON API error. NULL when the body is neither. */
char *gcs_error_detail(const char *body, size_t len);

/* One object of a listing or an object resource. `updated` is RFC 3339 or NULL. */
typedef struct gcs_object_info {
	const char *name;
	uint64_t size;
	const char *updated;
} gcs_object_info;

/* An object resource (the answer to GET .../o/NAME). */
typedef int (*gcs_object_cb)(const gcs_object_info *obj, void *ud);
int gcs_object_parse(const char *body, size_t len, gcs_object_cb cb, void *ud);

/* A listing page: cb for each of `items` (name and size required), and *next_page_token
 * (coffer_malloc'd) when there is a nextPageToken, else NULL. A nonzero cb return stops
 * and is returned. */
int gcs_list_parse(const char *body, size_t len, gcs_object_cb cb, void *ud, char **next_page_token);

#endif
