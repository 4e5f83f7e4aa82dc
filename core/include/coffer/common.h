/* Types shared by the public API and the plugin ABI. */
#ifndef COFFER_COMMON_H
#define COFFER_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define COFFER_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define COFFER_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define COFFER_PRINTF(a, b)
#define COFFER_WARN_UNUSED
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* A growable byte buffer. Memory is always from coffer_malloc/coffer_realloc so it may
 * cross the plugin boundary; free with coffer_buf_free. */
typedef struct coffer_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
} coffer_buf;

#define COFFER_BUF_INIT { NULL, 0, 0 }

void *coffer_malloc(size_t n);
void *coffer_calloc(size_t count, size_t n);
void *coffer_realloc(void *p, size_t n);
char *coffer_strdup(const char *s);
void coffer_free(void *p);

/* 0 on success, -1 (COFFER_ERR_NOMEM set) when memory runs out. */
int coffer_buf_reserve(coffer_buf *b, size_t extra);
int coffer_buf_append(coffer_buf *b, const void *data, size_t n);
void coffer_buf_free(coffer_buf *b);

const char *coffer_version(void);

#ifdef __cplusplus
}
#endif
#endif
