/* Tree prefetch: a few threads stat every entry of a tree so the kernel's dentry and inode
 * caches are warm when the backup walker gets there. It runs while the repository is
 * opened (key derivation is half a second of CPU) and beside the walk, turning one
 * thread's chain of cold metadata reads into several in flight. It reads no file data and
 * changes nothing; any error just ends that branch. */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <coffer/snapshot.h>

#define PREFETCH_MAX_THREADS 16

struct coffer_prefetch {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	char **queue;            /* folders waiting, as paths */
	size_t count, cap;
	unsigned busy;           /* threads inside a folder */
	atomic_int stop;
	unsigned threads;
	pthread_t tids[PREFETCH_MAX_THREADS];
	_Atomic uint64_t entries; /* entries stat'ed, for tests */
};

static int prefetch_push(coffer_prefetch *p, char *path)
{
	if (p->count == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 256;
		char **q = realloc(p->queue, cap * sizeof(*q));
		if (!q) {
			free(path);
			return -1;
		}
		p->queue = q;
		p->cap = cap;
	}
	p->queue[p->count++] = path;
	return 0;
}

static void prefetch_folder(coffer_prefetch *p, const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	size_t path_len = strlen(path);
	struct dirent *de;
	while (!atomic_load(&p->stop) && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		atomic_fetch_add(&p->entries, 1);
		if (!S_ISDIR(st.st_mode))
			continue;
		size_t n = strlen(de->d_name);
		char *child = malloc(path_len + n + 2);
		if (!child)
			continue;
		memcpy(child, path, path_len);
		child[path_len] = '/';
		memcpy(child + path_len + 1, de->d_name, n + 1);
		pthread_mutex_lock(&p->lock);
		if (prefetch_push(p, child) == 0)
			pthread_cond_signal(&p->wake);
		pthread_mutex_unlock(&p->lock);
	}
	closedir(d);
}

static void *prefetch_main(void *arg)
{
	coffer_prefetch *p = arg;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->count && p->busy && !atomic_load(&p->stop))
			pthread_cond_wait(&p->wake, &p->lock);
		if (atomic_load(&p->stop) || (!p->count && !p->busy))
			break;
		/* depth first (newest folder first) keeps the warm part close to the walker's */
		char *path = p->queue[--p->count];
		p->busy++;
		pthread_mutex_unlock(&p->lock);
		prefetch_folder(p, path);
		free(path);
		pthread_mutex_lock(&p->lock);
		p->busy--;
		if (!p->count && !p->busy)
			pthread_cond_broadcast(&p->wake);
	}
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int coffer_prefetch_start(coffer_prefetch **out, const char *path, unsigned int threads)
{
	*out = NULL;
	coffer_prefetch *p = calloc(1, sizeof(*p));
	char *root = path ? strdup(path) : NULL;
	if (!p || !root) {
		free(p);
		free(root);
		return coffer_error_set(COFFER_ENOMEM, "out of memory starting the tree prefetch");
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	prefetch_push(p, root);
	threads = threads ? threads : 4;
	if (threads > PREFETCH_MAX_THREADS)
		threads = PREFETCH_MAX_THREADS;
	pthread_mutex_lock(&p->lock);
	for (unsigned i = 0; i < threads; i++) {
		if (pthread_create(&p->tids[i], NULL, prefetch_main, p) != 0)
			break;
		p->threads++;
	}
	pthread_mutex_unlock(&p->lock);
	*out = p;
	return 0;
}

void coffer_prefetch_stop(coffer_prefetch *p)
{
	if (!p)
		return;
	atomic_store(&p->stop, 1);
	pthread_mutex_lock(&p->lock);
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->threads; i++)
		pthread_join(p->tids[i], NULL);
	for (size_t i = 0; i < p->count; i++)
		free(p->queue[i]);
	free(p->queue);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

uint64_t coffer_prefetch_entries(const coffer_prefetch *p)
{
	return p ? atomic_load(&((coffer_prefetch *)p)->entries) : 0;
}
