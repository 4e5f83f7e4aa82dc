/* Small helpers shared by the content store's files. */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "store_private.h"

typedef struct parallel_run {
	int (*fn)(void *arg, size_t i);
	void *arg;
	size_t count;
	atomic_size_t next;
	pthread_mutex_t lock;
	size_t failed_index;        /* lowest failing index so far, count when none */
	coffer_error failure;
} parallel_run;

static void *parallel_worker(void *opaque)
{
	parallel_run *run = opaque;
	for (;;) {
		size_t i = atomic_fetch_add(&run->next, 1);
		if (i >= run->count)
			break;
		int rc = run->fn(run->arg, i);
		if (rc) {
			pthread_mutex_lock(&run->lock);
			if (i < run->failed_index) {
				run->failed_index = i;
				run->failure = *coffer_error_last();
				if (run->failure.code == 0 || run->failure.code != rc)
					run->failure.code = rc;
			}
			pthread_mutex_unlock(&run->lock);
		}
	}
	return NULL;
}

int coffer_store_run_parallel(unsigned int threads, size_t count, int (*fn)(void *arg, size_t i), void *arg)
{
	if (count == 0)
		return 0;
	parallel_run run;
	memset(&run, 0, sizeof(run));
	run.fn = fn;
	run.arg = arg;
	run.count = count;
	run.failed_index = count;
	atomic_init(&run.next, 0);
	pthread_mutex_init(&run.lock, NULL);
	if (threads > count)
		threads = (unsigned int)count;
	if (threads == 0)
		threads = 1;
	/* The calling thread is one of the workers. */
	pthread_t extra[64];
	unsigned int started = 0;
	for (unsigned int t = 1; t < threads && t <= 64; t++)
		if (pthread_create(&extra[started], NULL, parallel_worker, &run) == 0)
			started++;
	parallel_worker(&run);
	for (unsigned int t = 0; t < started; t++)
		pthread_join(extra[t], NULL);
	pthread_mutex_destroy(&run.lock);
	if (run.failed_index < count)
		return coffer_error_set(run.failure.code, "%s", run.failure.message);
	return 0;
}
