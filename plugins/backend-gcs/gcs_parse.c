/* Readers of service-account keys, token responses, object resources, listings and
 * error bodies; see gcs_parse.h and docs/backend-gcs.md. */
#include "config.h"

#include <string.h>
#include <strings.h>

#include <coffer/error.h>

#include "gcs_json.h"
#include "gcs_parse.h"

static int parse_doc(gcs_json **doc, const char *body, size_t len, const char *what)
{
	int rc = gcs_json_parse(doc, body, len);
	if (rc)
		return coffer_error_wrap("%s", what);
	if ((*doc)->type != GCS_JSON_OBJECT) {
		gcs_json_free(*doc);
		*doc = NULL;
		return coffer_error_set(COFFER_ECORRUPT, "%s: not a JSON object", what);
	}
	return 0;
}

static char *dup_member(const gcs_json *obj, const char *key)
{
	const char *s = gcs_json_string(gcs_json_get(obj, key));
	return s ? coffer_strdup(s) : NULL;
}

void gcs_sa_key_free(gcs_sa_key *key)
{
	if (key->private_key) {
		/* explicit_bzero keeps the wipe from being optimised away */
		explicit_bzero(key->private_key, strlen(key->private_key));
		coffer_free(key->private_key);
	}
	coffer_free(key->client_email);
	coffer_free(key->private_key_id);
	coffer_free(key->token_uri);
	memset(key, 0, sizeof(*key));
}

int gcs_sa_key_parse(gcs_sa_key *out, const char *text, size_t len)
{
	gcs_json *doc = NULL;
	memset(out, 0, sizeof(*out));
	int rc = parse_doc(&doc, text, len, "service-account key");
	if (rc)
		return rc;
	const char *type = gcs_json_string(gcs_json_get(doc, "type"));
	const char *email = gcs_json_string(gcs_json_get(doc, "client_email"));
	const char *pem = gcs_json_string(gcs_json_get(doc, "private_key"));
	const char *token_uri = gcs_json_string(gcs_json_get(doc, "token_uri"));
	if (type && strcmp(type, "service_account") != 0)
		rc = coffer_error_set(COFFER_EUNSUPPORTED,
		                      "credentials of type \"%.40s\" are not supported: a service-account "
		                      "key (type \"service_account\") is needed",
		                      strspn(type, "abcdefghijklmnopqrstuvwxyz_") == strlen(type) ? type : "?");
	else if (!email || !email[0])
		rc = coffer_error_set(COFFER_EINVALID, "service-account key: client_email is missing");
	else if (!pem || strncmp(pem, "-----BEGIN ", 11) != 0)
		rc = coffer_error_set(COFFER_EINVALID,
		                      "service-account key %s: private_key is missing or not PEM", email);
	else if (token_uri && strncmp(token_uri, "https://", 8) != 0 &&
	         strncmp(token_uri, "http://", 7) != 0)
		rc = coffer_error_set(COFFER_EINVALID,
		                      "service-account key %s: token_uri is not an http(s) URL", email);
	if (rc == 0) {
		out->client_email = coffer_strdup(email);
		out->private_key = coffer_strdup(pem);
		out->private_key_id = dup_member(doc, "private_key_id");
		out->token_uri = coffer_strdup(token_uri ? token_uri : GCS_DEFAULT_TOKEN_URI);
		if (!out->client_email || !out->private_key || !out->token_uri) {
			gcs_sa_key_free(out);
			rc = coffer_error_set(COFFER_ENOMEM, "service-account key: out of memory");
		}
	}
	/* the tree holds a copy of the private key too */
	const gcs_json *pk = gcs_json_get(doc, "private_key");
	if (pk && pk->text)
		explicit_bzero(pk->text, pk->text_len);
	gcs_json_free(doc);
	return rc;
}

int gcs_token_response_parse(const char *body, size_t len, char **token, uint64_t *expires_in)
{
	gcs_json *doc = NULL;
	*token = NULL;
	int rc = parse_doc(&doc, body, len, "token response");
	if (rc)
		return rc;
	const char *access = gcs_json_string(gcs_json_get(doc, "access_token"));
	const gcs_json *exp = gcs_json_get(doc, "expires_in");
	const gcs_json *type = gcs_json_get(doc, "token_type");
	*expires_in = 3600;
	if (!access || !access[0])
		rc = coffer_error_set(COFFER_ECORRUPT, "token response: access_token is missing");
	else if (type && (!gcs_json_string(type) || strcasecmp(gcs_json_string(type), "Bearer") != 0))
		rc = coffer_error_set(COFFER_ECORRUPT, "token response: token_type is not Bearer");
	else if (exp && (gcs_json_uint64(exp, expires_in) != 0 || *expires_in == 0))
		rc = coffer_error_set(COFFER_ECORRUPT, "token response: expires_in is not a positive integer");
	if (rc == 0 && !(*token = coffer_strdup(access)))
		rc = coffer_error_set(COFFER_ENOMEM, "token response: out of memory");
	gcs_json_free(doc);
	return rc;
}

char *gcs_error_detail(const char *body, size_t len)
{
	gcs_json *doc = NULL;
	if (gcs_json_parse(&doc, body, len) != 0) {
		coffer_error_clear();
		return NULL;
	}
	coffer_buf out = COFFER_BUF_INIT;
	const gcs_json *err = gcs_json_get(doc, "error");
	const char *oauth = gcs_json_string(err);
	const char *text = oauth ? oauth : gcs_json_string(gcs_json_get(err, "message"));
	if (text) {
		const char *desc = oauth ? gcs_json_string(gcs_json_get(doc, "error_description")) : NULL;
		int bad = coffer_buf_append(&out, text, strlen(text)) != 0;
		if (desc)
			bad |= coffer_buf_append(&out, ": ", 2) != 0 || coffer_buf_append(&out, desc, strlen(desc)) != 0;
		if (bad || coffer_buf_append(&out, "", 1) != 0)
			coffer_buf_free(&out);
	}
	gcs_json_free(doc);
	return (char *)out.data;
}

static int object_from(const gcs_json *item, gcs_object_cb cb, void *ud)
{
	gcs_object_info info = { 0 };
	info.name = gcs_json_string(gcs_json_get(item, "name"));
	info.updated = gcs_json_string(gcs_json_get(item, "updated"));
	if (!info.name)
		return coffer_error_set(COFFER_ECORRUPT, "object resource without a name");
	if (gcs_json_uint64(gcs_json_get(item, "size"), &info.size) != 0)
		return coffer_error_set(COFFER_ECORRUPT, "object resource without a valid size");
	return cb(&info, ud);
}

int gcs_object_parse(const char *body, size_t len, gcs_object_cb cb, void *ud)
{
	gcs_json *doc = NULL;
	int rc = parse_doc(&doc, body, len, "object resource");
	if (rc == 0)
		rc = object_from(doc, cb, ud);
	gcs_json_free(doc);
	return rc;
}

int gcs_list_parse(const char *body, size_t len, gcs_object_cb cb, void *ud, char **next_page_token)
{
	gcs_json *doc = NULL;
	*next_page_token = NULL;
	int rc = parse_doc(&doc, body, len, "object listing");
	if (rc)
		return rc;
	const gcs_json *items = gcs_json_get(doc, "items");
	const gcs_json *next = gcs_json_get(doc, "nextPageToken");
	if (items && items->type != GCS_JSON_ARRAY)
		rc = coffer_error_set(COFFER_ECORRUPT, "object listing: items is not an array");
	else if (next && !gcs_json_string(next))
		rc = coffer_error_set(COFFER_ECORRUPT, "object listing: nextPageToken is not a string");
	for (size_t i = 0; rc == 0 && items && i < items->count; i++)
		rc = object_from(items->items[i], cb, ud);
	if (rc == 0 && next && next->text_len > 0 && !(*next_page_token = coffer_strdup(next->text)))
		rc = coffer_error_set(COFFER_ENOMEM, "object listing: out of memory");
	gcs_json_free(doc);
	return rc;
}
