/* coffer_backup against a real filesystem repository: every entry type and its metadata
 * compared field by field with the files (listings and contents read back from the
 * repository), incremental runs (unchanged, cp -a copy, one file modified, force-hash),
 * files that vanish, change or cannot be read during the walk, big files shared between
 * workers, and option errors. */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <coffer/coffer.h>
#include <coffer/sys/preload.h>

#include "testlib.h"
#include "tree.h"

typedef struct test_env {
	char *dir;          /* everything lives under here */
	char repo_url[4200];
	char cache[4200];
	coffer_core *core;
	coffer_repo *repo;
} test_env;

static void env_open_repo(test_env *env)
{
	coffer_repo_options ro = COFFER_REPO_OPTIONS_INIT;
	ro.cache_dir = env->cache;
	ck_assert_coffer_ok(coffer_repo_open(&env->repo, env->core, env->repo_url, "secret", &ro));
}

static void env_init(test_env *env)
{
	coffer_core_options co = COFFER_CORE_OPTIONS_INIT;
	coffer_repo_options ro = COFFER_REPO_OPTIONS_INIT;
	char path[4200];

	memset(env, 0, sizeof(*env));
	env->dir = test_tmpdir("backup");
	snprintf(path, sizeof(path), "%s/repo", env->dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(env->repo_url, sizeof(env->repo_url), "filesystem://%s", path);
	snprintf(env->cache, sizeof(env->cache), "%s/cache", env->dir);
	ck_assert_int_eq(mkdir(env->cache, 0700), 0);
	COFFER_SET_PRELOADED_PLUGINS();
	co.no_default_path = 1;
	co.plugin_path = "";
	ck_assert_coffer_ok(coffer_core_new(&env->core, &co));
	ro.cache_dir = env->cache;
	ro.scrypt_n = 1024;
	coffer_codec zstd;
	if (coffer_codec_lookup(env->core, "zstd", &zstd) != 0)
		ro.compression = "none";
	ck_assert_coffer_ok(coffer_repo_create(&env->repo, env->core, env->repo_url, "secret", &ro));
}

static void env_free(test_env *env)
{
	if (env->repo)
		coffer_repo_close(env->repo);
	coffer_core_free(env->core);
	test_rmtree(env->dir);
	free(env->dir);
}

static char *path_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);
	snprintf(p, n, "%s/%s", a, b);
	return p;
}

static void write_bytes(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_msg(fd >= 0, "creating %s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void write_text(const char *dir, const char *name, const char *text)
{
	char *p = path_join(dir, name);
	write_bytes(p, text, strlen(text));
	free(p);
}

/* Pseudo-random bytes from a seed (xorshift): incompressible and reproducible. */
static void fill_random(uint8_t *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)(x >> 24);
	}
}

static void write_random(const char *dir, const char *name, size_t len, uint64_t seed)
{
	uint8_t *buf = malloc(len ? len : 1);
	char *p = path_join(dir, name);
	fill_random(buf, len, seed);
	write_bytes(p, buf, len);
	free(buf);
	free(p);
}

static void make_dir(const char *dir, const char *name, mode_t mode)
{
	char *p = path_join(dir, name);
	ck_assert_msg(mkdir(p, mode) == 0, "mkdir %s: %s", p, strerror(errno));
	free(p);
}

static int read_whole(const char *path, coffer_buf *out)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	for (;;) {
		if (coffer_buf_reserve(out, 65536) != 0)
			abort();
		ssize_t n = read(fd, out->data + out->len, 65536);
		if (n <= 0)
			break;
		out->len += (size_t)n;
	}
	close(fd);
	return 0;
}

/* Collected events. */
typedef struct event_log {
	atomic_int in_callback;
	int overlapped;
	int progress;
	uint64_t last_total;
	int warnings;
	char warning_paths[32][256];
	char warning_messages[32][512];
	/* a hook for the walk test: on the first warning about `trigger`, run `action` */
	const char *trigger;
	void (*action)(void *);
	void *action_arg;
	int triggered;
} event_log;

static void on_event(const coffer_event *ev, void *ud)
{
	event_log *log = ud;
	if (atomic_fetch_add(&log->in_callback, 1) != 0)
		log->overlapped = 1;
	if (ev->kind == COFFER_EVENT_PROGRESS) {
		log->progress++;
		log->last_total = ev->total_bytes;
		ck_assert_ptr_nonnull(ev->stats);
	} else if (ev->kind == COFFER_EVENT_WARNING) {
		ck_assert_ptr_nonnull(ev->path);
		if (log->warnings < 32) {
			snprintf(log->warning_paths[log->warnings], 256, "%s", ev->path);
			snprintf(log->warning_messages[log->warnings], 512, "%s", ev->message ? ev->message : "");
		}
		log->warnings++;
		if (log->trigger && !log->triggered && strcmp(ev->path, log->trigger) == 0) {
			log->triggered = 1;
			log->action(log->action_arg);
		}
	}
	/* Stay a little so an overlapping call from another thread would be seen. */
	struct timespec pause = { 0, 100000 };
	nanosleep(&pause, NULL);
	atomic_fetch_sub(&log->in_callback, 1);
}

static int warned_about(const event_log *log, const char *path, const char *words)
{
	for (int i = 0; i < log->warnings && i < 32; i++)
		if (strcmp(log->warning_paths[i], path) == 0 && strstr(log->warning_messages[i], words))
			return 1;
	return 0;
}

static int run_backup(test_env *env, const char *path, const char *source, unsigned int workers, int force_hash,
                      event_log *log, coffer_snapshot_info *info)
{
	coffer_backup_options bo = { .version = COFFER_BACKUP_OPTIONS_VERSION };
	bo.path = path;
	bo.source = source;
	bo.parallelism = workers;
	bo.force_hash = force_hash;
	bo.on_event = log ? on_event : NULL;
	bo.event_ud = log;
	return coffer_backup(env->repo, &bo, info);
}

static void load_manifest(test_env *env, const char *id, coffer_manifest *m)
{
	coffer_snapshot_info found;
	ck_assert_coffer_ok(coffer_snapshot_find(env->repo, id, &found));
	ck_assert_ptr_nonnull(found.blob_name);
	ck_assert_coffer_ok(coffer_manifest_load(env->repo, found.blob_name, m));
	coffer_snapshot_info_clear(&found);
}

static int object_equal(const coffer_object *a, const coffer_object *b)
{
	if (a->count != b->count)
		return 0;
	for (size_t i = 0; i < a->count; i++)
		if (memcmp(&a->chunks[i], &b->chunks[i], sizeof(coffer_cid)) != 0 || a->sizes[i] != b->sizes[i])
			return 0;
	return 1;
}

/* ------------------------------------------------------------ comparing a tree */

typedef struct tree_counts {
	uint64_t files, dirs, symlinks, others, bytes;
	/* hard links seen: inode -> group */
	ino_t link_inodes[64];
	uint64_t link_groups[64];
	size_t links;
} tree_counts;

static int name_order(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	size_t lx = strlen(x), ly = strlen(y);
	int c = memcmp(x, y, lx < ly ? lx : ly);
	return c ? c : (lx < ly ? -1 : lx > ly);
}

static void check_xattrs(const char *path, const coffer_dirent *e)
{
	char names[8192];
	ssize_t len = llistxattr(path, names, sizeof(names));
	const char *sorted[64];
	size_t n = 0;

	if (len < 0) {
		ck_assert_msg(errno == ENOTSUP, "llistxattr %s: %s", path, strerror(errno));
		len = 0;
	}
	for (ssize_t at = 0; at < len; at += (ssize_t)strlen(names + at) + 1)
		sorted[n++] = names + at;
	qsort(sorted, n, sizeof(sorted[0]), name_order);
	ck_assert_msg(e->xattr_count == n, "%s: %zu xattrs stored, %zu on disk", path, e->xattr_count, n);
	for (size_t i = 0; i < n; i++) {
		uint8_t value[65536];
		ssize_t vlen = lgetxattr(path, sorted[i], value, sizeof(value));
		ck_assert_int_ge(vlen, 0);
		ck_assert_str_eq(e->xattrs[i].name, sorted[i]);
		ck_assert_uint_eq(e->xattrs[i].value_len, (size_t)vlen);
		ck_assert_msg(memcmp(e->xattrs[i].value, value, (size_t)vlen) == 0, "%s: xattr %s differs", path,
		              sorted[i]);
	}
}

static void check_content(test_env *env, const char *path, const coffer_dirent *e)
{
	coffer_buf stored = COFFER_BUF_INIT, disk = COFFER_BUF_INIT;
	uint64_t total = 0;

	for (size_t i = 0; i < e->content.count; i++) {
		size_t before = stored.len;
		ck_assert_coffer_ok(coffer_store_read(env->repo, &e->content.chunks[i], &stored));
		ck_assert_uint_eq(stored.len - before, e->content.sizes[i]);
		total += e->content.sizes[i];
	}
	ck_assert_uint_eq(total, e->size);
	ck_assert_int_eq(read_whole(path, &disk), 0);
	ck_assert_uint_eq(disk.len, stored.len);
	ck_assert_msg(disk.len == 0 || memcmp(disk.data, stored.data, disk.len) == 0, "%s: content differs", path);
	coffer_buf_free(&stored);
	coffer_buf_free(&disk);
}

static void check_owner_names(const coffer_dirent *e, const char *path)
{
	struct passwd *pw = getpwuid(e->uid);
	struct group *gr = getgrgid(e->gid);
	if (pw)
		ck_assert_msg(e->user && strcmp(e->user, pw->pw_name) == 0, "%s: user name", path);
	else
		ck_assert_msg(e->user == NULL, "%s: user name for an unnamed uid", path);
	if (gr)
		ck_assert_msg(e->group && strcmp(e->group, gr->gr_name) == 0, "%s: group name", path);
	else
		ck_assert_msg(e->group == NULL, "%s: group name for an unnamed gid", path);
}

/* Compares a stored listing with the directory on disk, recursively. */
static void check_tree(test_env *env, const char *real, const coffer_object *listing, tree_counts *counts)
{
	coffer_dir d;
	DIR *dir = opendir(real);
	char *names[1024];
	size_t n = 0;
	struct dirent *de;

	ck_assert_ptr_nonnull(dir);
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		ck_assert_uint_lt(n, 1024);
		names[n++] = strdup(de->d_name);
	}
	closedir(dir);
	qsort(names, n, sizeof(names[0]), name_order);
	ck_assert_coffer_ok(coffer_dir_load(env->repo, listing, &d));
	ck_assert_msg(d.count == n, "%s: %zu entries stored, %zu on disk", real, d.count, n);
	for (size_t i = 0; i < n; i++) {
		const coffer_dirent *e = &d.entries[i];
		char *path = path_join(real, names[i]);
		struct stat st;

		ck_assert_uint_eq(e->name_len, strlen(names[i]));
		ck_assert_msg(memcmp(e->name, names[i], e->name_len) == 0, "%s: name %zu differs", real, i);
		ck_assert_int_eq(lstat(path, &st), 0);
		ck_assert_msg(e->mode == (st.st_mode & 07777), "%s: mode %o, disk %o", path, e->mode,
		              (unsigned)(st.st_mode & 07777));
		ck_assert_uint_eq(e->uid, st.st_uid);
		ck_assert_uint_eq(e->gid, st.st_gid);
		ck_assert_msg(e->mtime_ns == (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec,
		              "%s: mtime differs", path);
		check_owner_names(e, path);
		check_xattrs(path, e);
		if (S_ISDIR(st.st_mode)) {
			ck_assert_int_eq(e->type, COFFER_ENTRY_DIR);
			ck_assert_uint_eq(e->hardlink_group, 0);
			counts->dirs++;
			check_tree(env, path, &e->content, counts);
		} else {
			if (st.st_nlink > 1) {
				size_t k;
				ck_assert_msg(e->hardlink_group != 0, "%s: no hard-link group", path);
				for (k = 0; k < counts->links && counts->link_inodes[k] != st.st_ino; k++)
					ck_assert_uint_ne(counts->link_groups[k], e->hardlink_group);
				if (k == counts->links) {
					counts->link_inodes[k] = st.st_ino;
					counts->link_groups[k] = e->hardlink_group;
					counts->links++;
					if (S_ISREG(st.st_mode))
						counts->bytes += (uint64_t)st.st_size;
				} else {
					ck_assert_uint_eq(counts->link_groups[k], e->hardlink_group);
				}
			} else {
				ck_assert_uint_eq(e->hardlink_group, 0);
				if (S_ISREG(st.st_mode))
					counts->bytes += (uint64_t)st.st_size;
			}
			if (S_ISREG(st.st_mode)) {
				ck_assert_int_eq(e->type, COFFER_ENTRY_FILE);
				ck_assert_uint_eq(e->size, (uint64_t)st.st_size);
				ck_assert_uint_eq(!!(e->flags & COFFER_DIRENT_SPARSE),
				                  (uint64_t)st.st_blocks * 512 < (uint64_t)st.st_size);
				check_content(env, path, e);
				counts->files++;
			} else if (S_ISLNK(st.st_mode)) {
				char target[4096];
				ssize_t len = readlink(path, target, sizeof(target) - 1);
				ck_assert_int_ge(len, 0);
				target[len] = '\0';
				ck_assert_int_eq(e->type, COFFER_ENTRY_SYMLINK);
				ck_assert_str_eq(e->link_target, target);
				counts->symlinks++;
			} else {
				coffer_entry_type want = S_ISFIFO(st.st_mode)  ? COFFER_ENTRY_FIFO
				                         : S_ISCHR(st.st_mode) ? COFFER_ENTRY_CHARDEV
				                         : S_ISBLK(st.st_mode) ? COFFER_ENTRY_BLOCKDEV
				                                               : COFFER_ENTRY_SOCKET;
				ck_assert_int_eq(e->type, want);
				if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
					ck_assert_uint_eq(e->rdev, (uint64_t)st.st_rdev);
				ck_assert_uint_eq(e->content.count, 0);
				counts->others++;
			}
		}
		free(path);
		free(names[i]);
	}
	coffer_dir_clear(&d);
}

static void set_mtime(const char *dir, const char *name, time_t sec, long nsec)
{
	struct timespec times[2] = { { sec, nsec }, { sec, nsec } };
	char *path = path_join(dir, name);
	ck_assert_int_eq(utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW), 0);
	free(path);
}

/* A POSIX access ACL (user::rw-, user:1234:r--, group::r--, mask::r--, other::---) in the
 * kernel's xattr layout. */
static size_t make_acl(uint8_t *out)
{
	static const struct { uint16_t tag, perm; uint32_t id; } entries[] = {
		{ 0x01, 6, 0xFFFFFFFFu }, { 0x02, 4, 1234 }, { 0x04, 4, 0xFFFFFFFFu },
		{ 0x10, 4, 0xFFFFFFFFu }, { 0x20, 0, 0xFFFFFFFFu },
	};
	uint32_t version = 2;
	size_t at = 0;
	memcpy(out, &version, 4);
	at = 4;
	for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
		memcpy(out + at, &entries[i].tag, 2);
		memcpy(out + at + 2, &entries[i].perm, 2);
		memcpy(out + at + 4, &entries[i].id, 4);
		at += 8;
	}
	return at;
}

/* Every kind of entry a volume holds. Returns whether device nodes could be made. */
static int build_full_tree(const char *root)
{
	char *p;
	int devices = 0;

	ck_assert_int_eq(mkdir(root, 0755), 0);
	write_text(root, "text.txt", "hello, world\n");
	write_text(root, "empty_file", "");
	make_dir(root, "empty_dir", 0700);
	write_random(root, "random.bin", 3 * 1024 * 1024 + 12345, 1);

	/* sparse: 16 MiB with 4 bytes of data in the middle */
	p = path_join(root, "sparse.img");
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 16 << 20), 0);
	ck_assert_int_eq(pwrite(fd, "data", 4, 8 << 20), 4);
	close(fd);
	free(p);

	/* hard links: three names of one file, across directories */
	make_dir(root, "sub", 0755);
	write_random(root, "link_a", 100000, 2);
	char *a = path_join(root, "link_a"), *b = path_join(root, "sub/link_b"), *c = path_join(root, "sub/link_c");
	ck_assert_int_eq(link(a, b), 0);
	ck_assert_int_eq(link(a, c), 0);
	free(a);
	free(b);
	free(c);

	p = path_join(root, "symlink");
	ck_assert_int_eq(symlink("text.txt", p), 0);
	free(p);
	p = path_join(root, "dangling");
	ck_assert_int_eq(symlink("does/not/exist", p), 0);
	free(p);
	p = path_join(root, "fifo");
	ck_assert_int_eq(mkfifo(p, 0640), 0);
	free(p);

	p = path_join(root, "socket");
	int sock = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	ck_assert_uint_lt(strlen(p), sizeof(addr.sun_path));
	strcpy(addr.sun_path, p);
	ck_assert_int_eq(bind(sock, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(sock);
	free(p);

	if (geteuid() == 0) {
		char *chr = path_join(root, "chardev"), *blk = path_join(root, "blockdev");
		if (mknod(chr, S_IFCHR | 0600, makedev(1, 3)) == 0 && mknod(blk, S_IFBLK | 0600, makedev(7, 200)) == 0)
			devices = 1;
		else {
			unlink(chr);
			unlink(blk);
		}
		free(chr);
		free(blk);
	}

	/* special modes, owners, nanosecond times */
	write_text(root, "setuid", "#!/bin/sh\n");
	p = path_join(root, "setuid");
	ck_assert_int_eq(chmod(p, 04755), 0);
	free(p);
	make_dir(root, "sticky", 0755);
	p = path_join(root, "sticky");
	ck_assert_int_eq(chmod(p, 01777), 0);
	free(p);
	write_text(root, "private", "secret\n");
	p = path_join(root, "private");
	ck_assert_int_eq(chmod(p, 0640), 0);
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(p, 1234, 5678), 0);
		char *q = path_join(root, "text.txt");
		ck_assert_int_eq(chown(q, 65534, 65534), 0);
		free(q);
	}
	free(p);
	set_mtime(root, "text.txt", 1600000000, 123456789);
	set_mtime(root, "symlink", 1500000000, 987654321);

	/* names: not UTF-8, 255 bytes, dots */
	write_text(root, "caf\xe9", "latin-1 name\n");
	write_text(root, "\xff\xfe\x80\x01", "binary name\n");
	char long_name[256];
	memset(long_name, 'n', 255);
	long_name[255] = '\0';
	write_text(root, long_name, "long name\n");
	write_text(root, ".hidden", "dot file\n");
	write_text(root, "..double", "two dots\n");

	/* deep nesting */
	char deep[4096];
	snprintf(deep, sizeof(deep), "%s/deep", root);
	for (int level = 0; level < 40; level++) {
		ck_assert_int_eq(mkdir(deep, 0755), 0);
		strcat(deep, "/d");
	}
	ck_assert_int_eq(mkdir(deep, 0755), 0);
	write_text(deep, "bottom", "at the bottom\n");

	/* extended attributes, when the filesystem has them */
	p = path_join(root, "text.txt");
	if (lsetxattr(p, "user.comment", "hello", 5, 0) == 0) {
		uint8_t big[2500];  /* ext4 keeps all of an inode's attributes in one block */
		fill_random(big, sizeof(big), 3);
		ck_assert_int_eq(lsetxattr(p, "user.big", big, sizeof(big), 0), 0);
		ck_assert_int_eq(lsetxattr(p, "user.empty", "", 0, 0), 0);
		char *q = path_join(root, "sub");
		ck_assert_int_eq(lsetxattr(q, "user.binary", "a\0b\xff", 4, 0), 0);
		free(q);
	}
	uint8_t acl[64];
	size_t acl_len = make_acl(acl);
	char *q = path_join(root, "private");
	if (lsetxattr(q, "system.posix_acl_access", acl, acl_len, 0) != 0)
		fprintf(stderr, "note: POSIX ACLs not supported here (%s)\n", strerror(errno));
	free(q);
	free(p);
	return devices;
}

START_TEST(test_every_entry_type)
{
	test_env env;
	event_log log;
	coffer_snapshot_info info;
	coffer_manifest m;
	tree_counts counts;
	coffer_tag tags[2] = { { "kind", "test" }, { "volume", "data" } };

	env_init(&env);
	char *root = path_join(env.dir, "tree");
	int devices = build_full_tree(root);
	if (!devices)
		fprintf(stderr, "note: device nodes skipped (not root or mknod not permitted)\n");

	memset(&log, 0, sizeof(log));
	coffer_backup_options bo = { .version = COFFER_BACKUP_OPTIONS_VERSION };
	bo.path = root;
	bo.source = "tester@host:/data";
	bo.tags = tags;
	bo.tag_count = 2;
	bo.parallelism = 2;
	bo.start_time_ns = INT64_C(1700000000123456789);
	bo.on_event = on_event;
	bo.event_ud = &log;
	ck_assert_coffer_ok(coffer_backup(env.repo, &bo, &info));
	ck_assert_int_eq(log.warnings, 0);
	ck_assert_int_ge(log.progress, 1);
	ck_assert_int_eq(log.overlapped, 0);
	ck_assert_int_eq(info.incomplete, 0);
	ck_assert_str_eq(info.source, "tester@host:/data");
	ck_assert_int_eq(info.start_time_ns, INT64_C(1700000000123456789));
	ck_assert_int_gt(info.end_time_ns, info.start_time_ns);
	ck_assert_str_eq(info.tool_version, coffer_version());
	ck_assert_uint_eq(info.tag_count, 2);
	ck_assert_str_eq(info.tags[1].key, "volume");
	ck_assert_str_eq(info.tags[1].value, "data");
	ck_assert_uint_eq(strlen(info.id), COFFER_SNAPSHOT_ID_HEX);
	ck_assert_ptr_nonnull(info.blob_name);

	load_manifest(&env, info.id, &m);
	ck_assert_str_eq(m.info.source, "tester@host:/data");
	ck_assert_int_eq(m.info.start_time_ns, info.start_time_ns);
	ck_assert_uint_eq(m.info.tag_count, 2);
	struct stat rst;
	ck_assert_int_eq(stat(root, &rst), 0);
	ck_assert_uint_eq(m.root_mode, rst.st_mode & 07777);
	ck_assert_uint_eq(m.root_uid, rst.st_uid);
	ck_assert_int_eq(m.root_mtime_ns, (int64_t)rst.st_mtim.tv_sec * 1000000000 + rst.st_mtim.tv_nsec);

	memset(&counts, 0, sizeof(counts));
	check_tree(&env, root, &m.root, &counts);
	ck_assert_uint_eq(info.stats.files, counts.files);
	ck_assert_uint_eq(info.stats.dirs, counts.dirs);
	ck_assert_uint_eq(info.stats.symlinks, counts.symlinks);
	ck_assert_uint_eq(info.stats.others, counts.others);
	ck_assert_uint_eq(info.stats.others, devices ? 4 : 2);
	ck_assert_uint_eq(info.stats.bytes, counts.bytes);
	ck_assert_uint_eq(info.stats.read_bytes, counts.bytes);
	ck_assert_uint_eq(info.stats.cached_files, 0);
	ck_assert_uint_eq(info.stats.errors, 0);
	ck_assert_uint_gt(info.stats.new_bytes, 3 * 1024 * 1024);
	ck_assert_uint_gt(info.stats.stored_bytes, 3 * 1024 * 1024);
	ck_assert_uint_eq(counts.links, 1);
	ck_assert_uint_ge(log.last_total, info.stats.bytes);

	coffer_manifest_clear(&m);
	coffer_snapshot_info_clear(&info);
	free(root);
	env_free(&env);
}
END_TEST

/* A tree for the incremental runs: small and large files, a hard-link pair, an empty file. */
static void build_small_tree(const char *root)
{
	ck_assert_int_eq(mkdir(root, 0755), 0);
	write_text(root, "a.txt", "alpha\n");
	write_random(root, "big.bin", 2500000, 7);
	write_text(root, "empty", "");
	make_dir(root, "dir", 0755);
	char *dir = path_join(root, "dir");
	write_text(dir, "b.txt", "beta\n");
	write_random(dir, "c.bin", 300000, 8);
	make_dir(dir, "inner", 0755);
	char *inner = path_join(dir, "inner");
	write_text(inner, "d.txt", "delta\n");
	char *from = path_join(dir, "c.bin"), *to = path_join(inner, "c-link.bin");
	ck_assert_int_eq(link(from, to), 0);
	free(from);
	free(to);
	free(inner);
	free(dir);
}

START_TEST(test_incremental)
{
	test_env env;
	coffer_snapshot_info s1, s2, s3, s4, s5;
	coffer_manifest m1, m2, m3;
	const char *source = "tester@host:/data";

	env_init(&env);
	char *root = path_join(env.dir, "tree");
	build_small_tree(root);

	ck_assert_coffer_ok(run_backup(&env, root, source, 2, 0, NULL, &s1));
	ck_assert_uint_eq(s1.stats.files, 7);
	ck_assert_uint_eq(s1.stats.cached_files, 0);
	/* the hard-linked c.bin once */
	ck_assert_uint_eq(s1.stats.read_bytes, 6 + 2500000 + 5 + 300000 + 6);
	ck_assert_uint_eq(s1.stats.bytes, s1.stats.read_bytes);

	/* unchanged: nothing read, nothing stored, the same root listing */
	ck_assert_coffer_ok(run_backup(&env, root, source, 2, 0, NULL, &s2));
	ck_assert_uint_eq(s2.stats.cached_files, s2.stats.files);
	ck_assert_uint_eq(s2.stats.files, 7);
	ck_assert_uint_eq(s2.stats.read_bytes, 0);
	ck_assert_uint_eq(s2.stats.new_bytes, 0);
	ck_assert_uint_eq(s2.stats.stored_bytes, 0);
	ck_assert_uint_eq(s2.stats.bytes, s1.stats.bytes);
	load_manifest(&env, s1.id, &m1);
	load_manifest(&env, s2.id, &m2);
	ck_assert(object_equal(&m1.root, &m2.root));

	/* a copy with cp -a, backed up under the same source: still nothing read */
	char *copy = path_join(env.dir, "copy");
	char cmd[9000];
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", root, copy);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_coffer_ok(run_backup(&env, copy, source, 2, 0, NULL, &s3));
	ck_assert_uint_eq(s3.stats.cached_files, 7);
	ck_assert_uint_eq(s3.stats.read_bytes, 0);
	ck_assert_uint_eq(s3.stats.stored_bytes, 0);
	load_manifest(&env, s3.id, &m3);
	ck_assert(object_equal(&m1.root, &m3.root));

	/* one file modified: only it is read */
	char *dir = path_join(copy, "dir");
	write_text(dir, "b.txt", "beta, changed\n");
	ck_assert_coffer_ok(run_backup(&env, copy, source, 2, 0, NULL, &s4));
	ck_assert_uint_eq(s4.stats.cached_files, 6);
	ck_assert_uint_eq(s4.stats.read_bytes, strlen("beta, changed\n"));
	ck_assert_uint_gt(s4.stats.stored_bytes, 0);

	/* force-hash reads everything (hard-linked content once) and stores nothing new */
	ck_assert_coffer_ok(run_backup(&env, copy, source, 2, 1, NULL, &s5));
	ck_assert_uint_eq(s5.stats.cached_files, 0);
	ck_assert_uint_eq(s5.stats.read_bytes, s5.stats.bytes);
	ck_assert_uint_eq(s5.stats.bytes, 6 + 2500000 + 14 + 300000 + 6);
	ck_assert_uint_eq(s5.stats.new_bytes, 0);

	/* the last snapshot is complete and right */
	coffer_manifest m5;
	tree_counts counts;
	memset(&counts, 0, sizeof(counts));
	load_manifest(&env, s5.id, &m5);
	check_tree(&env, copy, &m5.root, &counts);
	ck_assert_uint_eq(counts.files, 7);

	coffer_manifest_clear(&m1);
	coffer_manifest_clear(&m2);
	coffer_manifest_clear(&m3);
	coffer_manifest_clear(&m5);
	coffer_snapshot_info_clear(&s1);
	coffer_snapshot_info_clear(&s2);
	coffer_snapshot_info_clear(&s3);
	coffer_snapshot_info_clear(&s4);
	coffer_snapshot_info_clear(&s5);
	free(dir);
	free(copy);
	free(root);
	env_free(&env);
}
END_TEST

/* A file modified while the previous backup ran is read again, even with the same size
 * and mtime (its content there may predate the change). */
START_TEST(test_racy_file_is_reread)
{
	test_env env;
	coffer_snapshot_info s1, s2;
	const char *source = "tester@host:/racy";

	env_init(&env);
	char *root = path_join(env.dir, "tree");
	build_small_tree(root);
	ck_assert_coffer_ok(run_backup(&env, root, source, 1, 0, NULL, &s1));
	/* pretend a.txt was modified during that run */
	int64_t mid = s1.start_time_ns + (s1.end_time_ns - s1.start_time_ns) / 2;
	set_mtime(root, "a.txt", (time_t)(mid / 1000000000), (long)(mid % 1000000000));
	coffer_snapshot_info_clear(&s1);
	ck_assert_coffer_ok(run_backup(&env, root, source, 1, 0, NULL, &s1));
	ck_assert_uint_eq(s1.stats.cached_files, 6);
	ck_assert_uint_eq(s1.stats.read_bytes, 6);
	/* the next run trusts it: its mtime is before that run started */
	ck_assert_coffer_ok(run_backup(&env, root, source, 1, 0, NULL, &s2));
	ck_assert_uint_eq(s2.stats.cached_files, 7);
	coffer_snapshot_info_clear(&s1);
	coffer_snapshot_info_clear(&s2);
	free(root);
	env_free(&env);
}
END_TEST

/* Run from the warning about the unreadable directory: one file goes away, another grows,
 * both after the walker listed them and before they are read. */
typedef struct walk_race {
	char *vanish;
	char *grow;
} walk_race;

static void race_action(void *arg)
{
	walk_race *race = arg;
	unlink(race->vanish);
	int fd = open(race->grow, O_WRONLY | O_APPEND);
	if (fd >= 0) {
		if (write(fd, "more bytes\n", 11) != 11)
			abort();
		close(fd);
	}
}

START_TEST(test_vanished_changed_unreadable)
{
	test_env env;
	event_log log;
	coffer_snapshot_info info;
	coffer_manifest m;
	walk_race race;

	if (geteuid() == 0 && getenv("CK_FORK") && strcmp(getenv("CK_FORK"), "no") == 0) {
		fprintf(stderr, "skipped: needs to drop root privileges, which needs CK_FORK\n");
		return;
	}
	env_init(&env);
	char *root = path_join(env.dir, "tree");
	ck_assert_int_eq(mkdir(root, 0755), 0);
	make_dir(root, "a_locked", 0755);
	write_text(root, "a_locked/inside", "never seen\n");
	write_text(root, "b_vanish", "here when listed\n");
	write_text(root, "c_changed", "short\n");
	write_text(root, "d_secret", "unreadable\n");
	write_text(root, "e_ok", "fine\n");
	char *locked = path_join(root, "a_locked"), *secret = path_join(root, "d_secret");
	ck_assert_int_eq(chmod(locked, 0), 0);
	ck_assert_int_eq(chmod(secret, 0), 0);
	race.vanish = path_join(root, "b_vanish");
	race.grow = path_join(root, "c_changed");

	if (geteuid() == 0) {
		/* root reads everything: run as nobody (this test runs in its own process) */
		char cmd[4400];
		coffer_repo_close(env.repo);
		env.repo = NULL;
		snprintf(cmd, sizeof(cmd), "chown -R 65534:65534 '%s'", env.dir);
		ck_assert_int_eq(system(cmd), 0);
		ck_assert_int_eq(setgroups(0, NULL), 0);
		ck_assert_int_eq(setgid(65534), 0);
		ck_assert_int_eq(setuid(65534), 0);
		env_open_repo(&env);
	}

	memset(&log, 0, sizeof(log));
	log.trigger = "a_locked";
	log.action = race_action;
	log.action_arg = &race;
	ck_assert_coffer_ok(run_backup(&env, root, "tester@host:/race", 2, 0, &log, &info));
	ck_assert_int_eq(log.triggered, 1);
	ck_assert_msg(warned_about(&log, "a_locked", "not stored"), "no warning for a_locked");
	ck_assert_msg(warned_about(&log, "b_vanish", "vanished"), "no warning for b_vanish");
	ck_assert_msg(warned_about(&log, "c_changed", "changed"), "no warning for c_changed");
	ck_assert_msg(warned_about(&log, "d_secret", "not stored"), "no warning for d_secret");
	ck_assert_int_eq(log.warnings, 4);
	ck_assert_uint_eq(info.stats.errors, 4);
	ck_assert_int_eq(info.incomplete, 1);
	ck_assert_int_eq(log.overlapped, 0);

	load_manifest(&env, info.id, &m);
	coffer_dir d;
	ck_assert_coffer_ok(coffer_dir_load(env.repo, &m.root, &d));
	ck_assert_uint_eq(d.count, 3);
	ck_assert_str_eq(d.entries[0].name, "a_locked");
	ck_assert_int_eq(d.entries[0].type, COFFER_ENTRY_DIR);
	ck_assert_uint_eq(d.entries[0].mode, 0);
	coffer_dir inner;
	ck_assert_coffer_ok(coffer_dir_load(env.repo, &d.entries[0].content, &inner));
	ck_assert_uint_eq(inner.count, 0);
	ck_assert_str_eq(d.entries[1].name, "c_changed");
	ck_assert_uint_eq(d.entries[1].size, strlen("short\nmore bytes\n"));
	check_content(&env, race.grow, &d.entries[1]);
	ck_assert_str_eq(d.entries[2].name, "e_ok");
	ck_assert_uint_eq(info.stats.files, 2);
	ck_assert_uint_eq(info.stats.dirs, 1);

	coffer_dir_clear(&inner);
	coffer_dir_clear(&d);
	coffer_manifest_clear(&m);
	coffer_snapshot_info_clear(&info);
	chmod(locked, 0755);
	free(locked);
	free(secret);
	free(race.vanish);
	free(race.grow);
	free(root);
	env_free(&env);
}
END_TEST

/* Many small files and big ones whose chunks are shared between workers, with 1 and 3
 * workers: the same snapshot either way. */
START_TEST(test_parallel_contents)
{
	test_env env;
	coffer_snapshot_info s1, s3;
	coffer_manifest m1, m3;
	tree_counts counts;
	char name[64];

	env_init(&env);
	char *root = path_join(env.dir, "tree");
	ck_assert_int_eq(mkdir(root, 0755), 0);
	write_random(root, "huge-1.bin", 40u << 20, 11);
	for (int d = 0; d < 10; d++) {
		snprintf(name, sizeof(name), "d%02d", d);
		make_dir(root, name, 0755);
		char *dir = path_join(root, name);
		for (int f = 0; f < 150; f++) {
			snprintf(name, sizeof(name), "f%03d", f);
			write_random(dir, name, (size_t)((f * 7919 + d * 104729) % 40000), (uint64_t)(d * 1000 + f));
		}
		free(dir);
	}
	write_random(root, "huge-2.bin", 24u << 20, 12);

	ck_assert_coffer_ok(run_backup(&env, root, "tester@host:/p1", 1, 0, NULL, &s1));
	ck_assert_coffer_ok(run_backup(&env, root, "tester@host:/p3", 3, 0, NULL, &s3));
	ck_assert_uint_eq(s1.stats.files, 1502);
	ck_assert_uint_eq(s3.stats.files, 1502);
	ck_assert_uint_eq(s3.stats.cached_files, 0);
	ck_assert_uint_eq(s3.stats.new_bytes, 0);
	load_manifest(&env, s1.id, &m1);
	load_manifest(&env, s3.id, &m3);
	ck_assert(object_equal(&m1.root, &m3.root));
	memset(&counts, 0, sizeof(counts));
	check_tree(&env, root, &m3.root, &counts);
	ck_assert_uint_eq(counts.files, 1502);
	ck_assert_uint_eq(counts.bytes, s3.stats.bytes);

	coffer_manifest_clear(&m1);
	coffer_manifest_clear(&m3);
	coffer_snapshot_info_clear(&s1);
	coffer_snapshot_info_clear(&s3);
	free(root);
	env_free(&env);
}
END_TEST

START_TEST(test_default_source_and_errors)
{
	test_env env;
	coffer_snapshot_info info;
	char host[256], expected[8192];

	env_init(&env);
	char *root = path_join(env.dir, "tree");
	ck_assert_int_eq(mkdir(root, 0755), 0);
	write_text(root, "one", "1\n");

	/* a path through a symlink and "..": the source names the real path */
	char *alias = path_join(env.dir, "alias");
	ck_assert_int_eq(symlink(root, alias), 0);
	ck_assert_coffer_ok(run_backup(&env, alias, NULL, 0, 0, NULL, &info));
	char *real = realpath(root, NULL);
	struct passwd *pw = getpwuid(geteuid());
	ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
	snprintf(expected, sizeof(expected), "%s@%s:%s", pw->pw_name, host, real);
	ck_assert_str_eq(info.source, expected);
	ck_assert_uint_eq(info.stats.files, 1);
	coffer_snapshot_info_clear(&info);

	/* an empty folder */
	char *empty = path_join(env.dir, "empty");
	ck_assert_int_eq(mkdir(empty, 0700), 0);
	ck_assert_coffer_ok(run_backup(&env, empty, "tester@host:/empty", 0, 0, NULL, &info));
	ck_assert_uint_eq(info.stats.files + info.stats.dirs, 0);
	coffer_manifest m;
	coffer_dir d;
	load_manifest(&env, info.id, &m);
	ck_assert_coffer_ok(coffer_dir_load(env.repo, &m.root, &d));
	ck_assert_uint_eq(d.count, 0);
	coffer_manifest_clear(&m);
	coffer_snapshot_info_clear(&info);

	coffer_backup_options bo = { .version = 0, .path = root };
	ck_assert_int_eq(coffer_backup(env.repo, &bo, &info), COFFER_EUNSUPPORTED);
	bo.version = COFFER_BACKUP_OPTIONS_VERSION;
	bo.path = NULL;
	ck_assert_int_eq(coffer_backup(env.repo, &bo, &info), COFFER_EINVALID);
	char *missing = path_join(env.dir, "missing");
	bo.path = missing;
	ck_assert_int_eq(coffer_backup(env.repo, &bo, &info), COFFER_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(coffer_error_last()->message, "missing"));
	char *file = path_join(root, "one");
	bo.path = file;
	ck_assert_int_ne(coffer_backup(env.repo, &bo, &info), 0);
	bo.path = root;
	bo.compression = "no-such-codec";
	ck_assert_int_ne(coffer_backup(env.repo, &bo, &info), 0);
	bo.compression = "none";
	bo.source = "tester@host:/none";
	ck_assert_coffer_ok(coffer_backup(env.repo, &bo, &info));
	coffer_snapshot_info_clear(&info);

	/* exclude_top drops names at the top only; a version 1 caller never reads it */
	char *lf = path_join(root, "lost+found");
	ck_assert_int_eq(mkdir(lf, 0700), 0);
	write_text(lf, "orphan", "x\n");
	char *sub = path_join(root, "sub");
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	write_text(sub, "lost+found", "a file deeper down\n");
	static const char *const excluded[] = { "lost+found", "no-such-name" };
	bo.exclude_top = excluded;
	bo.exclude_top_count = 2;
	bo.source = "tester@host:/exclude";
	ck_assert_coffer_ok(coffer_backup(env.repo, &bo, &info));
	ck_assert_uint_eq(info.stats.files, 2); /* one, sub/lost+found */
	ck_assert_uint_eq(info.stats.dirs, 1);
	load_manifest(&env, info.id, &m);
	ck_assert_coffer_ok(coffer_dir_load(env.repo, &m.root, &d));
	ck_assert_uint_eq(d.count, 2);
	ck_assert_str_eq(d.entries[0].name, "one");
	ck_assert_str_eq(d.entries[1].name, "sub");
	coffer_dir_clear(&d);
	coffer_manifest_clear(&m);
	coffer_snapshot_info_clear(&info);
	bo.version = 1;
	bo.source = "tester@host:/v1";
	ck_assert_coffer_ok(coffer_backup(env.repo, &bo, &info));
	ck_assert_uint_eq(info.stats.files, 3);
	coffer_snapshot_info_clear(&info);

	free(lf);
	free(sub);
	free(file);
	free(missing);
	free(empty);
	free(real);
	free(alias);
	free(root);
	env_free(&env);
}
END_TEST

/* The tree prefetch stats every entry once (folders below folders, a symlink to a folder
 * not followed), and stops at once when asked. */
START_TEST(test_prefetch)
{
	char *dir = test_tmpdir("prefetch");
	char path[4200];
	unsigned expect = 0;
	for (int a = 0; a < 6; a++) {
		snprintf(path, sizeof(path), "%s/d%d", dir, a);
		ck_assert_int_eq(mkdir(path, 0755), 0);
		expect++;
		for (int b = 0; b < 5; b++) {
			snprintf(path, sizeof(path), "%s/d%d/e%d", dir, a, b);
			ck_assert_int_eq(mkdir(path, 0755), 0);
			expect++;
			for (int c = 0; c < 7; c++) {
				snprintf(path, sizeof(path), "%s/d%d/e%d/f%d", dir, a, b, c);
				FILE *fp = fopen(path, "w");
				ck_assert_ptr_nonnull(fp);
				fclose(fp);
				expect++;
			}
		}
	}
	snprintf(path, sizeof(path), "%s/loop", dir);
	ck_assert_int_eq(symlink(".", path), 0);
	expect++;
	coffer_prefetch *p;
	ck_assert_coffer_ok(coffer_prefetch_start(&p, dir, 3));
	for (int i = 0; i < 1000 && coffer_prefetch_entries(p) < expect; i++)
		usleep(5000);
	usleep(20000);
	ck_assert_uint_eq(coffer_prefetch_entries(p), expect);
	coffer_prefetch_stop(p);
	/* stopped before it could finish; a missing root is no error */
	ck_assert_coffer_ok(coffer_prefetch_start(&p, dir, 0));
	coffer_prefetch_stop(p);
	ck_assert_coffer_ok(coffer_prefetch_start(&p, "/nonexistent/coffer-prefetch", 2));
	coffer_prefetch_stop(p);
	test_rmtree(dir);
	free(dir);
}
END_TEST


static Suite *backup_suite(void)
{
	Suite *s = suite_create("backup");
	TCase *tc = tcase_create("backup");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_every_entry_type);
	tcase_add_test(tc, test_incremental);
	tcase_add_test(tc, test_racy_file_is_reread);
	tcase_add_test(tc, test_vanished_changed_unreadable);
	tcase_add_test(tc, test_parallel_contents);
	tcase_add_test(tc, test_prefetch);
	tcase_add_test(tc, test_default_source_and_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(backup_suite());
}
