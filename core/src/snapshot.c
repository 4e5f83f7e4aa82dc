/* Snapshot management: list (one LIST of a source's prefix, manifests read in parallel),
 * find by id prefix, delete, pin, and the VolSync restore selection. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <coffer/error.h>

#include "tree.h"

#define SNAPSHOTS_PREFIX "snapshots/"
#define MIN_ID_PREFIX 6
#define MAX_LIST_THREADS 32u
#define AMBIGUOUS_SHOWN 8u

/* ------------------------------------------------------------------ listing names */

typedef struct name_list {
	char **names;
	size_t count, cap;
	const char *id_prefix;  /* keep only names whose id starts with this, or NULL */
	int rc;
} name_list;

static int collect_name(const coffer_blob_info *blob, void *ud)
{
	name_list *list = ud;
	char id[COFFER_SNAPSHOT_ID_HEX + 1];

	/* Other names under snapshots/ are reserved for later versions and ignored. */
	if (coffer_manifest_name_parse(blob->name, NULL, NULL, id)) {
		coffer_error_clear();
		return 0;
	}
	if (list->id_prefix && strncmp(id, list->id_prefix, strlen(list->id_prefix)) != 0)
		return 0;
	if (list->count == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 32;
		char **bigger = coffer_realloc(list->names, cap * sizeof(*bigger));
		if (!bigger)
			return list->rc = COFFER_ENOMEM;
		list->names = bigger;
		list->cap = cap;
	}
	if (!(list->names[list->count] = coffer_strdup(blob->name)))
		return list->rc = COFFER_ENOMEM;
	list->count++;
	return 0;
}

static void name_list_free(name_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		coffer_free(list->names[i]);
	coffer_free(list->names);
	memset(list, 0, sizeof(*list));
}

static int list_names(coffer_repo *repo, const char *prefix, name_list *list)
{
	int rc = coffer_backend_list(repo->backend, prefix, collect_name, list);

	if (rc) {
		if (list->rc)
			rc = list->rc;
		else
			coffer_error_wrap("listing %s", prefix);
		name_list_free(list);
	}
	return rc;
}

/* ------------------------------------------------------------------ reading manifests */

typedef struct load_job {
	coffer_repo *repo;
	char **names;
	size_t count;
	coffer_snapshot_info *infos;
	int *codes;
	char **messages;     /* error text of each failed manifest (errors are per thread) */
	size_t next;
	int stop;            /* a failure that ends the listing was seen */
	pthread_mutex_t lock;
} load_job;

/* Failures that concern one manifest only; anything else (transient, auth) ends the call. */
static int failure_is_local(int code)
{
	return code == COFFER_ENOTFOUND || code == COFFER_ECORRUPT || code == COFFER_EUNSUPPORTED;
}

static void load_one(load_job *job, size_t i)
{
	coffer_manifest m;
	int rc = coffer_manifest_load(job->repo, job->names[i], &m);

	if (rc == 0) {
		job->infos[i] = m.info;
		memset(&m.info, 0, sizeof(m.info));
		coffer_manifest_clear(&m);
		return;
	}
	job->codes[i] = rc;
	job->messages[i] = coffer_strdup(coffer_error_last()->message);
	if (!failure_is_local(rc)) {
		pthread_mutex_lock(&job->lock);
		job->stop = 1;
		pthread_mutex_unlock(&job->lock);
	}
}

static void *load_worker(void *arg)
{
	load_job *job = arg;

	for (;;) {
		pthread_mutex_lock(&job->lock);
		size_t i = job->next++;
		int stop = job->stop;
		pthread_mutex_unlock(&job->lock);
		if (stop || i >= job->count)
			break;
		load_one(job, i);
	}
	coffer_crypto_thread_cleanup();
	return NULL;
}

static void run_load_job(load_job *job, unsigned int parallelism)
{
	pthread_t threads[MAX_LIST_THREADS];
	unsigned int started = 0;

	if (parallelism > MAX_LIST_THREADS)
		parallelism = MAX_LIST_THREADS;
	if (parallelism > job->count)
		parallelism = (unsigned int)job->count;
	/* The calling thread works too, so one thread fewer is started. */
	for (unsigned int t = 1; t < parallelism; t++)
		if (pthread_create(&threads[started], NULL, load_worker, job) == 0)
			started++;
	load_worker(job);
	for (unsigned int t = 0; t < started; t++)
		pthread_join(threads[t], NULL);
}

static int newest_first(const void *a, const void *b)
{
	const coffer_snapshot_info *x = a, *y = b;

	if (x->start_time_ns != y->start_time_ns)
		return x->start_time_ns < y->start_time_ns ? 1 : -1;
	return -strcmp(x->id, y->id);
}

int coffer_snapshot_list_ex(coffer_repo *repo, const char *source, coffer_event_cb on_event, void *ud,
                            coffer_snapshot_info **out, size_t *n)
{
	char prefix[128];
	name_list names = { 0 };
	load_job job;
	int rc;

	*out = NULL;
	*n = 0;
	if (source && (rc = coffer_manifest_prefix(repo, source, prefix, sizeof(prefix))))
		return rc;
	if ((rc = list_names(repo, source ? prefix : SNAPSHOTS_PREFIX, &names)))
		return rc;
	if (names.count == 0) {
		name_list_free(&names);
		return 0;
	}
	memset(&job, 0, sizeof(job));
	job.repo = repo;
	job.names = names.names;
	job.count = names.count;
	job.infos = coffer_calloc(names.count, sizeof(*job.infos));
	job.codes = coffer_calloc(names.count, sizeof(*job.codes));
	job.messages = coffer_calloc(names.count, sizeof(*job.messages));
	if (!job.infos || !job.codes || !job.messages) {
		rc = COFFER_ENOMEM;
		goto done;
	}
	pthread_mutex_init(&job.lock, NULL);
	run_load_job(&job, repo->parallelism ? repo->parallelism : 1);
	pthread_mutex_destroy(&job.lock);

	/* Report in name order; the first failure that is not skipped decides the result. */
	for (size_t i = 0; i < job.count && !rc; i++) {
		int code = job.codes[i];
		const char *why = job.messages[i] ? job.messages[i] : "out of memory";
		if (code == 0 || code == COFFER_ENOTFOUND)
			continue;  /* not found: deleted since the LIST, so not a snapshot any more */
		if (on_event && (code == COFFER_ECORRUPT || code == COFFER_EUNSUPPORTED)) {
			coffer_event ev = { COFFER_EVENT_WARNING, job.names[i], why, NULL, 0 };
			on_event(&ev, ud);
			continue;
		}
		rc = coffer_error_set(code, "%s", why);
	}
	if (!rc && job.stop)
		rc = coffer_error_set(COFFER_ERROR, "listing snapshots stopped");
	if (rc)
		goto done;

	/* Compact the readable manifests of the requested source, then sort. */
	size_t kept = 0;
	for (size_t i = 0; i < job.count; i++) {
		coffer_snapshot_info *info = &job.infos[i];
		if (!info->source)
			continue;
		if (source && strcmp(info->source, source) != 0) {
			coffer_snapshot_info_clear(info);
			continue;
		}
		if (kept != i) {
			job.infos[kept] = *info;
			memset(info, 0, sizeof(*info));
		}
		kept++;
	}
	qsort(job.infos, kept, sizeof(*job.infos), newest_first);
	*out = job.infos;
	*n = kept;
	job.infos = NULL;
done:
	if (job.infos)
		coffer_snapshot_info_free_array(job.infos, job.count);
	if (job.messages)
		for (size_t i = 0; i < job.count; i++)
			coffer_free(job.messages[i]);
	coffer_free(job.messages);
	coffer_free(job.codes);
	name_list_free(&names);
	return rc;
}

int coffer_snapshot_list(coffer_repo *repo, const char *source, coffer_snapshot_info **out, size_t *n)
{
	return coffer_snapshot_list_ex(repo, source, NULL, NULL, out, n);
}

/* ------------------------------------------------------------------ by id */

/* The manifest blob of the snapshot whose id is `id` or starts with it. */
static int find_blob(coffer_repo *repo, const char *id, char *blob, size_t cap)
{
	char prefix[COFFER_SNAPSHOT_ID_HEX + 1];
	name_list names = { 0 };
	size_t len = id ? strlen(id) : 0;
	int rc;

	if (len < MIN_ID_PREFIX || len > COFFER_SNAPSHOT_ID_HEX)
		return coffer_error_set(COFFER_EINVALID,
		                        "snapshot id \"%s\": give the full id or at least %d of its hex digits",
		                        id ? id : "", MIN_ID_PREFIX);
	for (size_t i = 0; i < len; i++) {
		char c = id[i];
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return coffer_error_set(COFFER_EINVALID, "snapshot id \"%s\" is not hexadecimal", id);
		prefix[i] = c;
	}
	prefix[len] = '\0';
	names.id_prefix = prefix;
	if ((rc = list_names(repo, SNAPSHOTS_PREFIX, &names)))
		return rc;
	if (names.count == 0) {
		rc = coffer_error_set(COFFER_ENOTFOUND, "no snapshot %s", id);
	} else if (names.count > 1) {
		char list[AMBIGUOUS_SHOWN * (COFFER_SNAPSHOT_ID_HEX + 2) + 32] = "";
		char match[COFFER_SNAPSHOT_ID_HEX + 1];
		for (size_t i = 0; i < names.count && i < AMBIGUOUS_SHOWN; i++) {
			coffer_manifest_name_parse(names.names[i], NULL, NULL, match);
			strcat(list, i ? ", " : "");
			strcat(list, match);
		}
		if (names.count > AMBIGUOUS_SHOWN)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), " and %zu more",
			         names.count - AMBIGUOUS_SHOWN);
		rc = coffer_error_set(COFFER_EINVALID, "snapshot id %s is ambiguous: it matches %s", id, list);
	} else if (strlen(names.names[0]) >= cap) {
		rc = coffer_error_set(COFFER_EINVALID, "snapshot manifest name too long");
	} else {
		strcpy(blob, names.names[0]);
	}
	name_list_free(&names);
	return rc;
}

int coffer_snapshot_find(coffer_repo *repo, const char *id, coffer_snapshot_info *out)
{
	char blob[128];
	coffer_manifest m;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = find_blob(repo, id, blob, sizeof(blob))) || (rc = coffer_manifest_load(repo, blob, &m)))
		return rc;
	*out = m.info;
	memset(&m.info, 0, sizeof(m.info));
	coffer_manifest_clear(&m);
	return 0;
}

/* Works from the name alone, so a damaged manifest can be deleted too. Pins guard only
 * against retention, not against an explicit delete. */
int coffer_snapshot_delete(coffer_repo *repo, const char *id)
{
	char blob[128];
	int rc;

	if ((rc = find_blob(repo, id, blob, sizeof(blob))))
		return rc;
	if ((rc = coffer_backend_remove(repo->backend, blob)))
		return coffer_error_wrap("deleting snapshot %s (%s)", id, blob);
	return 0;
}

int coffer_snapshot_delete_listed(coffer_repo *repo, const coffer_snapshot_info *snap)
{
	if (!snap->blob_name)
		return coffer_snapshot_delete(repo, snap->id);
	if (coffer_backend_remove(repo->backend, snap->blob_name))
		return coffer_error_wrap("deleting snapshot %s (%s)", snap->id, snap->blob_name);
	return 0;
}

int coffer_snapshot_set_pinned(coffer_repo *repo, const char *id, int pinned)
{
	char blob[128];
	coffer_manifest m;
	coffer_buf encoded = COFFER_BUF_INIT;
	int rc;

	if ((rc = find_blob(repo, id, blob, sizeof(blob))) || (rc = coffer_manifest_load(repo, blob, &m)))
		return rc;
	if (m.info.pinned != !!pinned) {
		m.info.pinned = !!pinned;
		if (!(rc = coffer_manifest_encode(&m, &encoded)) &&
		    (rc = coffer_store_put_sealed(repo, blob, encoded.data, encoded.len, COFFER_PUT_OVERWRITE)))
			coffer_error_wrap("rewriting snapshot manifest %s", blob);
	}
	coffer_buf_free(&encoded);
	coffer_manifest_clear(&m);
	return rc;
}

/* ------------------------------------------------------------------ restore selection */

int coffer_snapshot_select_index(const coffer_snapshot_info *newest_first_list, size_t n,
                                 const coffer_selection *sel, size_t *index)
{
	const char *source = sel->source ? sel->source : "(any source)";
	char as_of[40] = "";
	size_t start = 0, window;

	if (sel->as_of_ns) {
		coffer_time_format_rfc3339(sel->as_of_ns, as_of);
		/* The list is newest first, so the ones that started too late form its head. */
		while (start < n && newest_first_list[start].start_time_ns > sel->as_of_ns)
			start++;
	}
	window = n - start;
	if (sel->shallow && sel->shallow < window)
		window = sel->shallow;
	if (n == 0)
		return coffer_error_set(COFFER_ENOTFOUND, "no eligible snapshot: %s has no snapshots", source);
	if (start == n)
		return coffer_error_set(COFFER_ENOTFOUND,
		                        "no eligible snapshot: none of the %zu snapshots of %s started at or before %s",
		                        n, source, as_of);
	if (sel->previous >= window) {
		char limits[128] = "";
		if (sel->as_of_ns)
			snprintf(limits, sizeof(limits), " started at or before %s", as_of);
		if (sel->shallow)
			snprintf(limits + strlen(limits), sizeof(limits) - strlen(limits), "%s among the %u newest",
			         sel->as_of_ns ? "," : "", sel->shallow);
		return coffer_error_set(COFFER_ENOTFOUND,
		                        "no eligible snapshot: previous=%u needs at least %llu snapshots of %s, "
		                        "found %zu eligible of %zu%s%s",
		                        sel->previous, (unsigned long long)sel->previous + 1, source, window, n,
		                        limits[0] ? ":" : "", limits);
	}
	*index = start + sel->previous;
	return 0;
}

int coffer_snapshot_select(coffer_repo *repo, const coffer_selection *sel, coffer_snapshot_info *out)
{
	coffer_snapshot_info *infos;
	size_t n, index;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!sel || !sel->source || !sel->source[0])
		return coffer_error_set(COFFER_EINVALID, "snapshot selection needs a source (user@host:/path)");
	if ((rc = coffer_snapshot_list(repo, sel->source, &infos, &n)))
		return rc;
	if (!(rc = coffer_snapshot_select_index(infos, n, sel, &index))) {
		*out = infos[index];
		memset(&infos[index], 0, sizeof(infos[index]));
	}
	coffer_snapshot_info_free_array(infos, n);
	return rc;
}
