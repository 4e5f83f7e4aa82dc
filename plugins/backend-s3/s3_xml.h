/* The S3 XML documents the backend reads (listings, errors, multipart and batch-delete
 * results) and writes (CompleteMultipartUpload, Delete). Everything read here comes from
 * the network: the functions check what they use and fail with COFFER_ECORRUPT. */
#ifndef COFFER_S3_XML_H
#define COFFER_S3_XML_H

#include <stddef.h>
#include <stdint.h>

#include <coffer/common.h>

/* One object of a ListObjectsV2 page; `key` is decoded (EncodingType=url undone). */
typedef struct s3_xml_object {
	char *key;
	size_t key_len;
	uint64_t size;
	int64_t mtime_ns;
} s3_xml_object;

typedef struct s3_xml_list_page {
	s3_xml_object *objects;
	size_t count, cap;
	int truncated;          /* IsTruncated */
	char *next_token;       /* NextContinuationToken, or NULL */
} s3_xml_list_page;

/* Parses a ListBucketResult (ListObjectsV2). Keys holding NUL after decoding, sizes that
 * are not decimal numbers and unreadable dates are COFFER_ECORRUPT. A truncated page must
 * carry a NextContinuationToken. */
int s3_xml_list_parse(const char *doc, size_t len, s3_xml_list_page *page);
void s3_xml_list_free(s3_xml_list_page *page);

/* <Error><Code>..</Code><Message>..</Message></Error>: copies Code and Message (control
 * bytes replaced by '?', cut to the buffers). Nothing else of the document is kept (AWS
 * error bodies may echo the string to sign and the signature). Returns 1 when the
 * document's root is Error, 0 when it is something else or unreadable. */
typedef struct s3_xml_error_info {
	char code[64];
	char message[256];
} s3_xml_error_info;
int s3_xml_error_parse(const char *doc, size_t len, s3_xml_error_info *out);

/* InitiateMultipartUploadResult/UploadId; *out is coffer_malloc'ed. */
int s3_xml_upload_id(const char *doc, size_t len, char **out);

/* DeleteResult: calls cb for every <Error> entry (key decoded from XML, code, message).
 * Deleted entries are ignored (the backend asks for Quiet mode). */
typedef int (*s3_xml_delete_error_fn)(void *ud, const char *key, const char *code,
                                      const char *message);
int s3_xml_delete_result(const char *doc, size_t len, s3_xml_delete_error_fn cb, void *ud);

/* Appends `s` with & < > " ' escaped; keys with bytes XML 1.0 cannot carry (controls
 * other than tab, newline, carriage return) are COFFER_EINVALID. */
int s3_xml_escape(const char *s, coffer_buf *out);

/* Undoes EncodingType=url: %XX and '+' (space). COFFER_ECORRUPT on a bad escape or NUL.
 * *out is coffer_malloc'ed and NUL-terminated. */
int s3_xml_url_decode(const char *s, size_t len, char **out, size_t *out_len);

#endif
