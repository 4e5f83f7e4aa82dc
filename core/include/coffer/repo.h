/* Repositories: create, open, change the password, describe. The on-disk format is in
 * docs/FORMAT.md. */
#ifndef COFFER_REPO_H
#define COFFER_REPO_H

#include <coffer/backend.h>
#include <coffer/core.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct coffer_repo coffer_repo;

typedef struct coffer_repo_options {
	unsigned int version;       /* COFFER_REPO_OPTIONS_VERSION */
	unsigned int parallelism;   /* backend connections / worker threads; 0 = number of cores */
	const char *cache_dir;      /* NULL: $KOPIA_CACHE_DIR, else $XDG_CACHE_HOME/coffer, else ~/.cache/coffer */
	uint64_t cache_capacity;    /* bytes; 0 = $KOPIA_CACHE_CAPACITY (MiB) or 5 GiB */
	const char *ca_file;        /* extra CA for TLS backends; NULL: $CUSTOM_CA */
	/* create only: */
	const char *compression;    /* default codec spec for new data; NULL = "zstd" */
	uint64_t scrypt_n;          /* 0 = 65536; tests use small values */
	uint32_t scrypt_r, scrypt_p;/* 0 = 8, 1 */
} coffer_repo_options;
#define COFFER_REPO_OPTIONS_VERSION 1u
#define COFFER_REPO_OPTIONS_INIT { COFFER_REPO_OPTIONS_VERSION, 0, NULL, 0, NULL, NULL, 0, 0, 0 }

/* Creates a repository at url. COFFER_EEXISTS when one is already there (nothing is
 * changed). */
int coffer_repo_create(coffer_repo **out, coffer_core *core, const char *url, const char *password,
                       const coffer_repo_options *opts);
/* Opens an existing repository. COFFER_ENOTFOUND: no repository at url (the backend
 * answered and there is no format blob); COFFER_EAUTH: wrong password; COFFER_ETRANSIENT:
 * the backend could not be reached. Nothing is written. */
int coffer_repo_open(coffer_repo **out, coffer_core *core, const char *url, const char *password,
                     const coffer_repo_options *opts);
void coffer_repo_close(coffer_repo *repo);

/* Re-seals the master key under a new password; only the format blob is rewritten. */
int coffer_repo_change_password(coffer_repo *repo, const char *new_password);

typedef struct coffer_repo_status {
	char unique_id[65];          /* hex */
	unsigned int format_version;
	char compression[64];        /* default codec spec */
	char hash[32];               /* content-id algorithm */
	char cipher[32];             /* "AES-256-GCM" */
	uint32_t chunk_min, chunk_avg, chunk_max;
	uint64_t scrypt_n;
	uint32_t scrypt_r, scrypt_p;
	uint64_t pack_count, pack_bytes;       /* data and metadata packs */
	uint64_t index_blob_count;
	uint64_t content_count;                /* distinct chunks in the index */
	uint64_t content_raw_bytes;            /* their size before compression */
	uint64_t content_stored_bytes;         /* after compression and encryption */
	char backend[512];                     /* plugin and describe() text */
	char cache_dir[4096];
} coffer_repo_status;

int coffer_repo_status_get(coffer_repo *repo, coffer_repo_status *out);
coffer_core *coffer_repo_core(coffer_repo *repo);
coffer_backend *coffer_repo_backend(coffer_repo *repo);

#ifdef __cplusplus
}
#endif
#endif
