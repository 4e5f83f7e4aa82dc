/* The storage backend conformance suite: the behaviour every backend (filesystem, S3,
 * GCS, Azure, third-party plugins) must show through coffer_backend_*.
 *
 * A test program creates a coffer_core that can serve the URL's scheme, then runs
 *
 *     coffer_conformance_options opts = COFFER_CONFORMANCE_OPTIONS_INIT;
 *     Suite *s = coffer_conformance_suite(core, "s3://bucket/some/prefix", &opts);
 *
 * (or adds coffer_conformance_tcase() to a Suite of its own). Every run works under a
 * fresh prefix "coffer-conformance/<time>-<pid>-<random>/" below the URL, removes what it
 * wrote, and never touches anything else, so it may run against a shared bucket. The
 * backend is opened with create = 1. The suite keeps its target in static storage: one
 * target per process. */
#ifndef COFFER_TESTS_BACKEND_CONFORMANCE_H
#define COFFER_TESTS_BACKEND_CONFORMANCE_H

#include <check.h>
#include <stddef.h>

#include <coffer/coffer.h>

typedef struct coffer_conformance_options {
	/* Length in bytes of the longest name tested (prefix included); 0: 1000, below the
	 * 1024-byte limit of S3, GCS and Azure. */
	size_t max_name_length;
	/* Size of the large blob; 0: 40 MiB + 4099 bytes. */
	size_t large_blob_size;
	/* Blobs written for the paging test; 0: 1234 (remote lists page at 1000). */
	unsigned int many_blobs;
	/* Threads for the concurrency tests; 0: 8. */
	unsigned int threads;
} coffer_conformance_options;
#define COFFER_CONFORMANCE_OPTIONS_INIT { 0, 0, 0, 0 }

/* A TCase named "conformance" with every test. `core` and `url` must outlive the run. */
TCase *coffer_conformance_tcase(coffer_core *core, const char *url,
                                const coffer_conformance_options *opts);
/* A Suite named "backend conformance <url>" holding that TCase. */
Suite *coffer_conformance_suite(coffer_core *core, const char *url,
                                const coffer_conformance_options *opts);

#endif
