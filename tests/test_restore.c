/* Restore, ls and cat against real repositories on the filesystem backend: a round trip of
 * a tree with every entry type, restores into non-empty destinations, subpaths, damaged
 * data, running as an ordinary user, and repositories crafted to escape the destination. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>

#include <coffer/sys/preload.h>

#include "testlib.h"
#include "../core/src/tree.h"
#include "../core/src/restore_private.h"

static coffer_core *core;
static char *tmpdir;
static coffer_repo *repo;
static char repo_dir[4096];
static char src_dir[4096];
static int have_user_xattrs;

/* ------------------------------------------------------------------ events */

typedef struct event_log {
	size_t count, warnings, errors;
	char paths[64][512];
	char messages[64][1024];
	int kinds[64];
} event_log;

static void log_event(const coffer_event *ev, void *ud)
{
	event_log *log = ud;
	if (ev->kind == COFFER_EVENT_PROGRESS)
		return;
	if (ev->kind == COFFER_EVENT_WARNING)
		log->warnings++;
	if (ev->kind == COFFER_EVENT_ERROR)
		log->errors++;
	if (log->count < 64) {
		snprintf(log->paths[log->count], 512, "%s", ev->path ? ev->path : "");
		snprintf(log->messages[log->count], 1024, "%s", ev->message ? ev->message : "");
		log->kinds[log->count] = ev->kind;
	}
	log->count++;
}

static int log_has(const event_log *log, int kind, const char *path, const char *needle)
{
	for (size_t i = 0; i < log->count && i < 64; i++)
		if (log->kinds[i] == kind && (!path || strcmp(log->paths[i], path) == 0) &&
		    (!needle || strstr(log->messages[i], needle)))
			return 1;
	return 0;
}

/* ------------------------------------------------------------------ building trees */

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_msg(fd >= 0, "create %s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

static void random_bytes(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)(x >> 24);
	}
}

static void path_join(char *out, size_t cap, const char *a, const char *b)
{
	snprintf(out, cap, "%s/%s", a, b);
}

/* An ACL in the kernel's xattr format: version 2, then (tag, perm, id) entries. */
static size_t make_acl(uint8_t *out, int with_user)
{
	struct { uint16_t tag, perm; uint32_t id; } entries[5];
	size_t n = 0;
	entries[n++] = (typeof(entries[0])){ 0x01, 6, UINT32_MAX };   /* user:: rw- */
	if (with_user)
		entries[n++] = (typeof(entries[0])){ 0x02, 4, 1234 }; /* user:1234 r-- */
	entries[n++] = (typeof(entries[0])){ 0x04, 4, UINT32_MAX };   /* group:: r-- */
	if (with_user)
		entries[n++] = (typeof(entries[0])){ 0x10, 4, UINT32_MAX }; /* mask r-- */
	entries[n++] = (typeof(entries[0])){ 0x20, 4, UINT32_MAX };   /* other r-- */
	uint32_t version = 2;
	memcpy(out, &version, 4);
	size_t len = 4;
	for (size_t i = 0; i < n; i++) {
		memcpy(out + len, &entries[i].tag, 2);
		memcpy(out + len + 2, &entries[i].perm, 2);
		memcpy(out + len + 4, &entries[i].id, 4);
		len += 8;
	}
	return len;
}

static int64_t time_counter = 1600000000LL * 1000000000LL + 123456789;

static int set_times(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	struct timespec ts[2];
	time_counter += 1000000007LL;
	ts[0].tv_sec = ts[1].tv_sec = (time_t)(time_counter / 1000000000LL);
	ts[0].tv_nsec = ts[1].tv_nsec = (long)(time_counter % 1000000000LL);
	utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
	return 0;
}

/* A tree with every kind of entry the restore must recreate. */
static void make_full_tree(const char *dir)
{
	char p[4096], q[4096];
	uint8_t *buf = malloc(3 << 20);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	path_join(p, sizeof(p), dir, "empty");
	write_file(p, "", 0, 0644);
	path_join(p, sizeof(p), dir, "small.txt");
	write_file(p, "hello world\n", 12, 0640);
	random_bytes(buf, 3 << 20, 1);
	path_join(p, sizeof(p), dir, "big.bin");
	write_file(p, buf, 3 << 20, 0600);
	random_bytes(buf, 200 << 10, 2);
	path_join(p, sizeof(p), dir, "dup1.bin");
	write_file(p, buf, 200 << 10, 0644);
	path_join(p, sizeof(p), dir, "setuid");
	write_file(p, "#!/bin/sh\n", 10, 04755);
	chmod(p, 04755);

	path_join(p, sizeof(p), dir, "sub");
	ck_assert_int_eq(mkdir(p, 0775), 0);
	chmod(p, 02775);
	path_join(p, sizeof(p), dir, "sub/dup2.bin");
	write_file(p, buf, 200 << 10, 0644);
	path_join(p, sizeof(p), dir, "sub/nested");
	mkdir(p, 0755);
	path_join(p, sizeof(p), dir, "sub/nested/deep");
	mkdir(p, 0700);
	path_join(p, sizeof(p), dir, "sub/nested/deep/file");
	write_file(p, "deep\n", 5, 0644);

	path_join(p, sizeof(p), dir, "links");
	mkdir(p, 0755);
	path_join(p, sizeof(p), dir, "links/a");
	write_file(p, "shared by three names\n", 22, 0644);
	path_join(q, sizeof(q), dir, "links/b");
	ck_assert_int_eq(link(p, q), 0);
	path_join(q, sizeof(q), dir, "sub/c");
	ck_assert_int_eq(link(p, q), 0);
	/* a third copy of dup1.bin: the restore's chunk cache serves it */
	path_join(p, sizeof(p), dir, "links/dup3.bin");
	write_file(p, buf, 200 << 10, 0644);

	path_join(p, sizeof(p), dir, "sym_rel");
	ck_assert_int_eq(symlink("small.txt", p), 0);
	path_join(p, sizeof(p), dir, "sym_abs");
	ck_assert_int_eq(symlink("/etc/passwd", p), 0);
	path_join(p, sizeof(p), dir, "sym_dangling");
	ck_assert_int_eq(symlink("nowhere/at/all", p), 0);
	path_join(p, sizeof(p), dir, "fifo");
	ck_assert_int_eq(mkfifo(p, 0640), 0);
	if (geteuid() == 0) {
		/* only trusted.* and security.* attributes can sit on symlinks and fifos */
		ck_assert_int_eq(lsetxattr(p, "trusted.fifo", "f", 1, 0), 0);
		path_join(p, sizeof(p), dir, "sym_rel");
		ck_assert_int_eq(lsetxattr(p, "trusted.link", "l", 1, 0), 0);
	}
	if (geteuid() == 0) {
		path_join(p, sizeof(p), dir, "chr");
		ck_assert_int_eq(mknod(p, S_IFCHR | 0644, makedev(1, 3)), 0);
		path_join(p, sizeof(p), dir, "blk");
		ck_assert_int_eq(mknod(p, S_IFBLK | 0600, makedev(7, 200)), 0);
	}
	path_join(p, sizeof(p), dir, "sock");
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un addr;
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	if (s >= 0 && strlen(p) < sizeof(addr.sun_path)) {
		strcpy(addr.sun_path, p);
		ck_assert_int_eq(bind(s, (struct sockaddr *)&addr, sizeof(addr)), 0);
	}
	if (s >= 0)
		close(s);

	path_join(p, sizeof(p), dir, "xattr.txt");
	write_file(p, "attributes\n", 11, 0644);
	have_user_xattrs = setxattr(p, "user.comment", "hello", 5, 0) == 0;
	if (have_user_xattrs)
		ck_assert_int_eq(setxattr(p, "user.binary", "a\0b\377", 4, 0), 0);
	uint8_t acl[64];
	size_t acl_len = make_acl(acl, 1);
	path_join(p, sizeof(p), dir, "acl.txt");
	write_file(p, "acl\n", 4, 0644);
	setxattr(p, "system.posix_acl_access", acl, acl_len, 0);
	path_join(p, sizeof(p), dir, "xdir");
	mkdir(p, 0750);
	if (have_user_xattrs)
		setxattr(p, "user.dirattr", "d", 1, 0);
	acl_len = make_acl(acl, 0);
	setxattr(p, "system.posix_acl_default", acl, acl_len, 0);

	path_join(p, sizeof(p), dir, "name-\xff\xfe-latin1-\xe9");
	write_file(p, "not utf-8\n", 10, 0644);
	char longname[256];
	memset(longname, 'n', 255);
	longname[255] = '\0';
	path_join(p, sizeof(p), dir, longname);
	write_file(p, "long name\n", 10, 0644);

	/* sparse: 64 MiB with three small islands of data and a hole at the end */
	path_join(p, sizeof(p), dir, "sparse.img");
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	random_bytes(buf, 8192, 3);
	ck_assert_int_eq(pwrite(fd, buf, 8192, 0), 8192);
	ck_assert_int_eq(pwrite(fd, buf, 4096, 20 << 20), 4096);
	ck_assert_int_eq(pwrite(fd, buf, 100, (40 << 20) + 17), 100);
	ck_assert_int_eq(ftruncate(fd, 64 << 20), 0);
	close(fd);

	/* read-only last: files inside first */
	path_join(p, sizeof(p), dir, "ro");
	mkdir(p, 0755);
	path_join(p, sizeof(p), dir, "ro/file");
	write_file(p, "read only\n", 10, 0444);
	path_join(p, sizeof(p), dir, "ro/inner");
	mkdir(p, 0555);
	path_join(p, sizeof(p), dir, "ro");
	chmod(p, 0555);
	path_join(p, sizeof(p), dir, "sticky");
	mkdir(p, 0755);
	chmod(p, 01777);

	if (geteuid() == 0) {
		path_join(p, sizeof(p), dir, "small.txt");
		ck_assert_int_eq(lchown(p, 1234, 5678), 0);
		path_join(p, sizeof(p), dir, "sym_rel");
		ck_assert_int_eq(lchown(p, 4321, 8765), 0);
		path_join(p, sizeof(p), dir, "sub");
		ck_assert_int_eq(chown(p, 1000, 1000), 0);
		chmod(p, 02775);
	}
	free(buf);
	/* distinct nanosecond mtimes everywhere, children before their directories */
	ck_assert_int_eq(nftw(dir, set_times, 32, FTW_PHYS | FTW_DEPTH), 0);
}

/* ------------------------------------------------------------------ comparing trees */

typedef struct inode_pair {
	dev_t src_dev;
	ino_t src_ino, dst_ino;
} inode_pair;

typedef struct compare_state {
	inode_pair pairs[256];
	size_t pair_count;
	const char *const *ignore_top; /* names in the destination's top level not to compare */
	int compare_root;
	size_t entries;
} compare_state;

static void compare_xattrs(const char *a, const char *b)
{
	char la[4096], lb[4096];
	ssize_t na = llistxattr(a, la, sizeof(la));
	ssize_t nb = llistxattr(b, lb, sizeof(lb));
	ck_assert_msg(na >= 0 && nb >= 0, "listxattr %s / %s", a, b);
	ck_assert_msg(na == nb, "xattr lists differ on %s (%zd vs %zd bytes)", b, na, nb);
	for (char *name = la; name < la + na; name += strlen(name) + 1) {
		char va[4096], vb[4096];
		ssize_t sa = lgetxattr(a, name, va, sizeof(va));
		ssize_t sb = lgetxattr(b, name, vb, sizeof(vb));
		ck_assert_msg(sa >= 0 && sa == sb && memcmp(va, vb, (size_t)sa) == 0,
		              "xattr %s differs on %s", name, b);
	}
}

static void compare_content(const char *a, const char *b, off_t size)
{
	int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY);
	ck_assert_msg(fa >= 0 && fb >= 0, "open %s / %s", a, b);
	static uint8_t ba[1 << 16], bb[1 << 16];
	off_t done = 0;
	for (;;) {
		ssize_t ra = read(fa, ba, sizeof(ba));
		ssize_t rb = read(fb, bb, sizeof(bb));
		ck_assert_msg(ra == rb && ra >= 0, "length differs at %lld in %s", (long long)done, b);
		if (ra == 0)
			break;
		ck_assert_msg(memcmp(ba, bb, (size_t)ra) == 0, "content differs near %lld in %s", (long long)done, b);
		done += ra;
	}
	ck_assert_int_eq(done, size);
	close(fa);
	close(fb);
}

static void compare_entry(compare_state *cs, const char *a, const char *b, int is_root)
{
	struct stat sa, sb;
	ck_assert_msg(lstat(a, &sa) == 0, "lstat %s", a);
	ck_assert_msg(lstat(b, &sb) == 0, "missing in the restore: %s", b);
	cs->entries++;
	ck_assert_msg((sa.st_mode & S_IFMT) == (sb.st_mode & S_IFMT), "type differs: %s", b);
	if (!S_ISLNK(sa.st_mode) && (!is_root || cs->compare_root))
		ck_assert_msg((sa.st_mode & 07777) == (sb.st_mode & 07777), "mode %o vs %o: %s",
		              sa.st_mode & 07777, sb.st_mode & 07777, b);
	if (geteuid() == 0 && (!is_root || cs->compare_root))
		ck_assert_msg(sa.st_uid == sb.st_uid && sa.st_gid == sb.st_gid, "owner %u:%u vs %u:%u: %s",
		              sa.st_uid, sa.st_gid, sb.st_uid, sb.st_gid, b);
	if (!is_root || cs->compare_root)
		ck_assert_msg(sa.st_mtim.tv_sec == sb.st_mtim.tv_sec && sa.st_mtim.tv_nsec == sb.st_mtim.tv_nsec,
		              "mtime %lld.%09ld vs %lld.%09ld: %s", (long long)sa.st_mtim.tv_sec,
		              sa.st_mtim.tv_nsec, (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec, b);
	if (!is_root || cs->compare_root)
		compare_xattrs(a, b);
	if (S_ISREG(sa.st_mode)) {
		ck_assert_msg(sa.st_size == sb.st_size, "size differs: %s", b);
		compare_content(a, b, sa.st_size);
		if (sa.st_nlink > 1) {
			ck_assert_msg(sb.st_nlink == sa.st_nlink, "link count %lu vs %lu: %s",
			              (unsigned long)sa.st_nlink, (unsigned long)sb.st_nlink, b);
			size_t i;
			for (i = 0; i < cs->pair_count; i++)
				if (cs->pairs[i].src_ino == sa.st_ino && cs->pairs[i].src_dev == sa.st_dev)
					break;
			if (i < cs->pair_count)
				ck_assert_msg(cs->pairs[i].dst_ino == sb.st_ino, "hardlink not shared: %s", b);
			else if (cs->pair_count < 256)
				cs->pairs[cs->pair_count++] = (inode_pair){ sa.st_dev, sa.st_ino, sb.st_ino };
		}
	} else if (S_ISLNK(sa.st_mode)) {
		char ta[4096], tb[4096];
		ssize_t la = readlink(a, ta, sizeof(ta)), lb = readlink(b, tb, sizeof(tb));
		ck_assert_msg(la == lb && la > 0 && memcmp(ta, tb, (size_t)la) == 0, "symlink target differs: %s", b);
	} else if (S_ISCHR(sa.st_mode) || S_ISBLK(sa.st_mode)) {
		ck_assert_msg(sa.st_rdev == sb.st_rdev, "device number differs: %s", b);
	} else if (S_ISDIR(sa.st_mode)) {
		/* both directions: every name on one side is on the other */
		DIR *d = opendir(a);
		ck_assert_ptr_nonnull(d);
		struct dirent *de;
		size_t count_a = 0;
		while ((de = readdir(d)) != NULL) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			char ca[4096], cb[4096];
			path_join(ca, sizeof(ca), a, de->d_name);
			path_join(cb, sizeof(cb), b, de->d_name);
			compare_entry(cs, ca, cb, 0);
			count_a++;
		}
		closedir(d);
		d = opendir(b);
		ck_assert_ptr_nonnull(d);
		size_t count_b = 0;
		while ((de = readdir(d)) != NULL) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			int ignored = 0;
			for (const char *const *ig = is_root ? cs->ignore_top : NULL; ig && *ig; ig++)
				if (!strcmp(*ig, de->d_name))
					ignored = 1;
			ck_assert_msg(strncmp(de->d_name, ".coffer-", 8) != 0, "temporary file left: %s/%s", b,
			              de->d_name);
			if (!ignored)
				count_b++;
		}
		closedir(d);
		ck_assert_msg(count_a == count_b, "%s has %zu entries, the source %zu", b, count_b, count_a);
	}
}

static size_t compare_trees(const char *a, const char *b, const char *const *ignore_top, int compare_root)
{
	compare_state *cs = calloc(1, sizeof(*cs));
	cs->ignore_top = ignore_top;
	cs->compare_root = compare_root;
	compare_entry(cs, a, b, 1);
	size_t n = cs->entries;
	free(cs);
	return n;
}

/* ------------------------------------------------------------------ repositories */

static void make_url(char *out, size_t cap, const char *path)
{
	snprintf(out, cap, "filesystem://%s", path);
}

static coffer_repo *create_repo(const char *tag)
{
	char url[4200], cache[4200];
	snprintf(repo_dir, sizeof(repo_dir), "%s/%s-repo", tmpdir, tag);
	snprintf(cache, sizeof(cache), "%s/%s-cache", tmpdir, tag);
	make_url(url, sizeof(url), repo_dir);
	coffer_repo_options o = COFFER_REPO_OPTIONS_INIT;
	o.scrypt_n = 1024;
	o.compression = TEST_COMPRESSION;
	o.cache_dir = cache;
	o.parallelism = 2;
	coffer_repo *r = NULL;
	ck_assert_coffer_ok(coffer_repo_create(&r, core, url, "secret", &o));
	return r;
}

static void backup(coffer_repo *r, const char *path, coffer_snapshot_info *info)
{
	coffer_backup_options o;
	memset(&o, 0, sizeof(o));
	o.version = COFFER_BACKUP_OPTIONS_VERSION;
	o.path = path;
	o.source = "tester@host:/data";
	o.parallelism = 2;
	ck_assert_coffer_ok(coffer_backup(r, &o, info));
}

static int do_restore(coffer_repo *r, const char *id, const char *dest, const char *subpath, int delete_extra,
                      event_log *log, coffer_restore_stats *stats)
{
	coffer_restore_options o;
	memset(&o, 0, sizeof(o));
	o.version = COFFER_RESTORE_OPTIONS_VERSION;
	o.dest = dest;
	o.subpath = subpath;
	o.delete_extra = delete_extra;
	o.on_event = log_event;
	o.event_ud = log;
	return coffer_restore(r, id, &o, stats);
}

static void setup(void)
{
	COFFER_SET_PRELOADED_PLUGINS();
	coffer_core_options co = COFFER_CORE_OPTIONS_INIT;
	co.no_default_path = 1;
	co.plugin_path = "";
	ck_assert_coffer_ok(coffer_core_new(&core, &co));
	tmpdir = test_tmpdir("restore");
	snprintf(src_dir, sizeof(src_dir), "%s/src", tmpdir);
	repo = create_repo("main");
}

static void teardown(void)
{
	if (repo)
		coffer_repo_close(repo);
	repo = NULL;
	coffer_core_free(core);
	core = NULL;
	/* read-only directories of the restores: make them removable first */
	char cmd[4300];
	snprintf(cmd, sizeof(cmd), "chmod -R u+rwx '%s' 2>/dev/null", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "chmod failed\n");
	test_rmtree(tmpdir);
	free(tmpdir);
}

/* ------------------------------------------------------------------ round trip */

START_TEST(test_round_trip)
{
	coffer_snapshot_info info;
	make_full_tree(src_dir);
	backup(repo, src_dir, &info);

	char dest[4200];
	snprintf(dest, sizeof(dest), "%s/out/new/dest", tmpdir);  /* created with its parents */
	event_log log;
	memset(&log, 0, sizeof(log));
	coffer_restore_stats st;
	int rc = do_restore(repo, info.id, dest, NULL, 0, &log, &st);
	ck_assert_msg(rc == 0, "restore: %d %s", rc, coffer_error_last()->message);
	ck_assert_msg(log.errors == 0 && log.warnings == 0, "events: %zu (%s: %s)", log.count, log.paths[0],
	              log.messages[0]);
	size_t n = compare_trees(src_dir, dest, NULL, 1);
	ck_assert_uint_ge(n, 30);

	/* the counts: links/a, links/b and sub/c are one file and two links */
	ck_assert_uint_eq(st.hardlinks, 2);
	ck_assert_uint_eq(st.symlinks, 3);
	ck_assert_uint_eq(st.dirs, 8);  /* the root is DEST itself */
	ck_assert_uint_eq(st.others, geteuid() == 0 ? 4 : 2);
	ck_assert_uint_eq(st.files, 15);
	ck_assert_uint_ge(st.bytes, (3u << 20) + (600u << 10) + (64u << 20));

	/* the sparse file kept its holes */
	char p[4300];
	struct stat sb;
	path_join(p, sizeof(p), dest, "sparse.img");
	ck_assert_int_eq(stat(p, &sb), 0);
	ck_assert_int_eq(sb.st_size, 64 << 20);
	ck_assert_msg(sb.st_blocks * 512 < (1 << 20), "sparse file takes %lld bytes",
	              (long long)sb.st_blocks * 512);

	/* restoring again over the same tree changes nothing and leaves no temporary files */
	memset(&log, 0, sizeof(log));
	rc = do_restore(repo, info.id, dest, NULL, 0, &log, &st);
	ck_assert_msg(rc == 0, "second restore: %d %s", rc, coffer_error_last()->message);
	compare_trees(src_dir, dest, NULL, 1);
	coffer_snapshot_info_clear(&info);
}
END_TEST

START_TEST(test_destination_is_file)
{
	coffer_snapshot_info info;
	ck_assert_int_eq(mkdir(src_dir, 0755), 0);
	char p[4300];
	path_join(p, sizeof(p), src_dir, "f");
	write_file(p, "x", 1, 0644);
	backup(repo, src_dir, &info);
	char dest[4200];
	snprintf(dest, sizeof(dest), "%s/plainfile", tmpdir);
	write_file(dest, "x", 1, 0644);
	event_log log;
	memset(&log, 0, sizeof(log));
	int rc = do_restore(repo, info.id, dest, NULL, 0, &log, NULL);
	ck_assert_int_eq(rc, COFFER_EINVALID);
	ck_assert_msg(strstr(coffer_error_last()->message, "not a directory"), "%s", coffer_error_last()->message);
	/* an unknown snapshot changes nothing */
	snprintf(dest, sizeof(dest), "%s/never", tmpdir);
	rc = do_restore(repo, "ffffffffffffffff", dest, NULL, 0, &log, NULL);
	ck_assert_int_eq(rc, COFFER_ENOTFOUND);
	ck_assert_int_ne(access(dest, F_OK), 0);
	coffer_snapshot_info_clear(&info);
}
END_TEST

/* ------------------------------------------------------------------ non-empty destinations */

static void make_small_tree(const char *dir)
{
	char p[4300];
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	path_join(p, sizeof(p), dir, "keep.txt");
	write_file(p, "snapshot content\n", 17, 0644);
	path_join(p, sizeof(p), dir, "was_dir");
	write_file(p, "now a file\n", 11, 0644);
	path_join(p, sizeof(p), dir, "was_file");
	mkdir(p, 0755);
	path_join(p, sizeof(p), dir, "was_file/inside");
	write_file(p, "inside\n", 7, 0644);
	path_join(p, sizeof(p), dir, "link");
	symlink("keep.txt", p);
	path_join(p, sizeof(p), dir, "d");
	mkdir(p, 0755);
	path_join(p, sizeof(p), dir, "d/one");
	write_file(p, "1", 1, 0644);
}

static void make_cluttered_dest(const char *dest)
{
	char p[4300];
	ck_assert_int_eq(mkdir(dest, 0755), 0);
	path_join(p, sizeof(p), dest, "keep.txt");
	write_file(p, "an older, longer content that must disappear\n", 46, 0600);
	path_join(p, sizeof(p), dest, "was_dir");
	mkdir(p, 0755);
	path_join(p, sizeof(p), dest, "was_dir/child");
	write_file(p, "c", 1, 0644);
	path_join(p, sizeof(p), dest, "was_file");
	write_file(p, "file in the way\n", 16, 0644);
	path_join(p, sizeof(p), dest, "link");
	write_file(p, "a file where the symlink goes\n", 30, 0644);
	path_join(p, sizeof(p), dest, "extra.txt");
	write_file(p, "extra\n", 6, 0644);
	path_join(p, sizeof(p), dest, "lost+found");
	mkdir(p, 0700);
	path_join(p, sizeof(p), dest, "lost+found/#123");
	write_file(p, "fsck\n", 5, 0644);
	path_join(p, sizeof(p), dest, "extra_dir");
	mkdir(p, 0755);
	path_join(p, sizeof(p), dest, "extra_dir/ro");
	mkdir(p, 0755);
	path_join(p, sizeof(p), dest, "extra_dir/ro/f");
	write_file(p, "f", 1, 0644);
	path_join(p, sizeof(p), dest, "extra_dir/ro");
	chmod(p, 0555);
	path_join(p, sizeof(p), dest, "d");
	mkdir(p, 0755);
	path_join(p, sizeof(p), dest, "d/lost+found");
	mkdir(p, 0755);
	path_join(p, sizeof(p), dest, "d/extra");
	write_file(p, "e", 1, 0644);
}

START_TEST(test_nonempty_dest_overwrite)
{
	coffer_snapshot_info info;
	make_small_tree(src_dir);
	backup(repo, src_dir, &info);
	char dest[4200], p[4300];
	snprintf(dest, sizeof(dest), "%s/dest", tmpdir);
	make_cluttered_dest(dest);
	event_log log;
	memset(&log, 0, sizeof(log));
	coffer_restore_stats st;
	int rc = do_restore(repo, info.id, dest, NULL, 0, &log, &st);
	ck_assert_msg(rc == 0, "restore: %d %s", rc, coffer_error_last()->message);
	/* was_dir and its child made way for a file, the file was_file for a directory */
	ck_assert_uint_eq(st.deleted, 3);
	/* the snapshot's entries are exact; the extras are still there */
	path_join(p, sizeof(p), dest, "extra.txt");
	ck_assert_int_eq(access(p, F_OK), 0);
	path_join(p, sizeof(p), dest, "d/extra");
	ck_assert_int_eq(access(p, F_OK), 0);
	path_join(p, sizeof(p), dest, "keep.txt");
	compare_content(p, p, 17);
	char a[4300];
	path_join(a, sizeof(a), src_dir, "keep.txt");
	compare_content(a, p, 17);
	path_join(p, sizeof(p), dest, "was_dir");
	path_join(a, sizeof(a), src_dir, "was_dir");
	compare_content(a, p, 11);
	path_join(p, sizeof(p), dest, "was_file/inside");
	ck_assert_int_eq(access(p, F_OK), 0);
	struct stat sb;
	path_join(p, sizeof(p), dest, "link");
	ck_assert_int_eq(lstat(p, &sb), 0);
	ck_assert(S_ISLNK(sb.st_mode));
	coffer_snapshot_info_clear(&info);
}
END_TEST

START_TEST(test_nonempty_dest_delete_extra)
{
	coffer_snapshot_info info;
	make_small_tree(src_dir);
	backup(repo, src_dir, &info);
	char dest[4200], p[4300];
	snprintf(dest, sizeof(dest), "%s/dest", tmpdir);
	make_cluttered_dest(dest);
	event_log log;
	memset(&log, 0, sizeof(log));
	coffer_restore_stats st;
	int rc = do_restore(repo, info.id, dest, NULL, 1, &log, &st);
	ck_assert_msg(rc == 0, "restore: %d %s", rc, coffer_error_last()->message);
	/* exactly the snapshot, plus the top-level lost+found with what fsck put there */
	static const char *const ignore[] = { "lost+found", NULL };
	compare_trees(src_dir, dest, ignore, 1);
	path_join(p, sizeof(p), dest, "lost+found/#123");
	ck_assert_int_eq(access(p, F_OK), 0);
	path_join(p, sizeof(p), dest, "d/lost+found");
	ck_assert_int_ne(access(p, F_OK), 0);
	/* extra.txt, extra_dir, extra_dir/ro, extra_dir/ro/f, d/lost+found, d/extra, plus
	 * was_dir (and child) replaced by a file and the file was_file by a directory */
	ck_assert_uint_eq(st.deleted, 9);

	/* a snapshot that does not exist deletes nothing */
	path_join(p, sizeof(p), dest, "new_extra");
	write_file(p, "x", 1, 0644);
	rc = do_restore(repo, "0123456789abcdef0123456789abcdef", dest, NULL, 1, &log, &st);
	ck_assert_int_eq(rc, COFFER_ENOTFOUND);
	ck_assert_int_eq(access(p, F_OK), 0);
	coffer_snapshot_info_clear(&info);
}
END_TEST

/* ------------------------------------------------------------------ subpaths */

START_TEST(test_subpath)
{
	coffer_snapshot_info info;
	make_full_tree(src_dir);
	backup(repo, src_dir, &info);
	char dest[4200], a[4300], b[4300];
	event_log log;
	memset(&log, 0, sizeof(log));
	coffer_restore_stats st;

	/* a directory: DEST receives its contents and its metadata */
	snprintf(dest, sizeof(dest), "%s/dest-sub", tmpdir);
	int rc = do_restore(repo, info.id, dest, "/sub//nested/", 0, &log, &st);
	ck_assert_msg(rc == 0, "restore: %d %s", rc, coffer_error_last()->message);
	path_join(a, sizeof(a), src_dir, "sub/nested");
	compare_trees(a, dest, NULL, 1);

	/* a file: DEST receives that file */
	snprintf(dest, sizeof(dest), "%s/dest-file", tmpdir);
	rc = do_restore(repo, info.id, dest, "sub/dup2.bin", 0, &log, &st);
	ck_assert_msg(rc == 0, "restore: %d %s", rc, coffer_error_last()->message);
	ck_assert_uint_eq(st.files, 1);
	path_join(a, sizeof(a), src_dir, "sub/dup2.bin");
	path_join(b, sizeof(b), dest, "dup2.bin");
	compare_content(a, b, 200 << 10);

	/* a hardlink member alone is restored as a file with the content */
	snprintf(dest, sizeof(dest), "%s/dest-link", tmpdir);
	rc = do_restore(repo, info.id, dest, "sub/c", 0, &log, &st);
	ck_assert_msg(rc == 0, "restore: %d %s", rc, coffer_error_last()->message);
	path_join(a, sizeof(a), src_dir, "sub/c");
	path_join(b, sizeof(b), dest, "c");
	compare_content(a, b, 22);

	/* missing parts, "..", and paths through symlinks are refused */
	snprintf(dest, sizeof(dest), "%s/dest-none", tmpdir);
	ck_assert_int_eq(do_restore(repo, info.id, dest, "sub/nope", 0, &log, &st), COFFER_ENOTFOUND);
	ck_assert_int_eq(do_restore(repo, info.id, dest, "sub/../sub", 0, &log, &st), COFFER_EINVALID);
	ck_assert_int_eq(do_restore(repo, info.id, dest, "sym_rel/x", 0, &log, &st), COFFER_ENOTFOUND);
	ck_assert_int_ne(access(dest, F_OK), 0);
	coffer_snapshot_info_clear(&info);
}
END_TEST

/* ------------------------------------------------------------------ crafted repositories */

typedef struct crafted {
	coffer_store_writer *writer;
	coffer_dir dir;
} crafted;

static coffer_dirent *crafted_add(coffer_dir *d, const char *name, coffer_entry_type type, uint32_t mode)
{
	d->entries = realloc(d->entries, (d->count + 1) * sizeof(*d->entries));
	coffer_dirent *e = &d->entries[d->count++];
	memset(e, 0, sizeof(*e));
	e->name = coffer_strdup(name);
	e->name_len = strlen(name);
	e->type = type;
	e->mode = mode;
	e->mtime_ns = 1700000000LL * 1000000000LL;
	return e;
}

static void crafted_content(coffer_store_writer *w, coffer_dirent *e, const char *text)
{
	e->content.chunks = coffer_malloc(sizeof(coffer_cid));
	e->content.sizes = coffer_malloc(sizeof(uint32_t));
	coffer_store_write_result res;
	ck_assert_coffer_ok(coffer_store_write(w, 0, COFFER_CHUNK_DATA, text, strlen(text), &e->content.chunks[0], &res));
	e->content.sizes[0] = (uint32_t)strlen(text);
	e->content.count = 1;
	e->size = strlen(text);
}

/* Stores a listing whose encoding is changed after the encoder checked it: `from`
 * becomes `to` (same length). Returns 0 (nothing stored) unless `from` occurs exactly once
 * in the bytes; callers retry with other content ids then. */
static int store_patched(coffer_store_writer *w, const coffer_dir *d, const char *from, const char *to,
                         coffer_object *out)
{
	coffer_buf enc = COFFER_BUF_INIT;
	ck_assert_coffer_ok(coffer_dir_encode(d, &enc));
	size_t n = strlen(from), hits = 0, at = 0;
	for (size_t i = 0; i + n <= enc.len; i++) {
		if (memcmp(enc.data + i, from, n) == 0) {
			at = i;
			hits++;
		}
	}
	if (hits != 1) {
		coffer_buf_free(&enc);
		return 0;
	}
	memcpy(enc.data + at, to, n);
	memset(out, 0, sizeof(*out));
	out->chunks = coffer_malloc(sizeof(coffer_cid));
	out->sizes = coffer_malloc(sizeof(uint32_t));
	coffer_store_write_result res;
	ck_assert_coffer_ok(coffer_store_write(w, 0, COFFER_CHUNK_META, enc.data, enc.len, &out->chunks[0], &res));
	out->sizes[0] = (uint32_t)enc.len;
	out->count = 1;
	coffer_buf_free(&enc);
	return 1;
}

static int64_t crafted_clock = 1700000000LL * 1000000000LL;

static void save_snapshot(coffer_repo *r, const coffer_object *root, char id[COFFER_SNAPSHOT_ID_HEX + 1])
{
	coffer_manifest m;
	memset(&m, 0, sizeof(m));
	m.info.source = coffer_strdup("mallory@host:/evil");
	crafted_clock += 1000000000LL;
	m.info.start_time_ns = crafted_clock;
	m.info.end_time_ns = crafted_clock + 1;
	ck_assert_coffer_ok(coffer_restore_object_copy(&m.root, root));
	m.root_mode = 0755;
	m.root_mtime_ns = crafted_clock;
	ck_assert_coffer_ok(coffer_manifest_save(r, &m));
	memcpy(id, m.info.id, COFFER_SNAPSHOT_ID_HEX + 1);
	coffer_manifest_clear(&m);
}

static coffer_store_writer *crafted_writer(coffer_repo *r)
{
	coffer_store_writer *w = NULL;
	ck_assert_coffer_ok(coffer_store_writer_new(&w, r, 1, NULL));
	return w;
}

static void assert_outside_untouched(const char *outside)
{
	DIR *d = opendir(outside);
	ck_assert_ptr_nonnull(d);
	struct dirent *de;
	size_t n = 0;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	ck_assert_msg(n == 1, "something was written outside the destination (%zu entries)", n);
}

START_TEST(test_escape_symlink_then_directory)
{
	char outside[4200], dest[4200], p[4300];
	snprintf(outside, sizeof(outside), "%s/outside", tmpdir);
	ck_assert_int_eq(mkdir(outside, 0755), 0);
	path_join(p, sizeof(p), outside, "canary");
	write_file(p, "canary\n", 7, 0644);
	snprintf(dest, sizeof(dest), "%s/dest", tmpdir);

	/* snapshot 1: "a" and "b" are symlinks to the outside folder; "c" to a file outside */
	coffer_store_writer *w = crafted_writer(repo);
	coffer_dir d1 = { NULL, 0 };
	crafted_add(&d1, "a", COFFER_ENTRY_SYMLINK, 0777)->link_target = coffer_strdup(outside);
	crafted_add(&d1, "b", COFFER_ENTRY_SYMLINK, 0777)->link_target = coffer_strdup(outside);
	crafted_add(&d1, "c", COFFER_ENTRY_SYMLINK, 0777)->link_target = coffer_strdup(p);
	coffer_object root1;
	ck_assert_coffer_ok(coffer_dir_store(w, 0, &d1, &root1));

	/* snapshot 2: "a" is a directory with a file, "b" a file, "c" a file, all with the same
	 * names as the symlinks now in DEST */
	coffer_dir inner = { NULL, 0 };
	crafted_content(w, crafted_add(&inner, "canary", COFFER_ENTRY_FILE, 0644), "overwritten\n");
	crafted_content(w, crafted_add(&inner, "pwned", COFFER_ENTRY_FILE, 0644), "escaped\n");
	coffer_dir d2 = { NULL, 0 };
	coffer_dirent *a = crafted_add(&d2, "a", COFFER_ENTRY_DIR, 0755);
	ck_assert_coffer_ok(coffer_dir_store(w, 0, &inner, &a->content));
	crafted_content(w, crafted_add(&d2, "b", COFFER_ENTRY_FILE, 0644), "file b\n");
	crafted_content(w, crafted_add(&d2, "c", COFFER_ENTRY_FILE, 0644), "file c\n");
	coffer_object root2;
	ck_assert_coffer_ok(coffer_dir_store(w, 0, &d2, &root2));
	ck_assert_coffer_ok(coffer_store_writer_commit(w));
	coffer_store_writer_free(w);
	char id1[COFFER_SNAPSHOT_ID_HEX + 1], id2[COFFER_SNAPSHOT_ID_HEX + 1];
	save_snapshot(repo, &root1, id1);
	save_snapshot(repo, &root2, id2);

	event_log log;
	memset(&log, 0, sizeof(log));
	ck_assert_coffer_ok(do_restore(repo, id1, dest, NULL, 0, &log, NULL));
	struct stat sb;
	path_join(p, sizeof(p), dest, "a");
	ck_assert_int_eq(lstat(p, &sb), 0);
	ck_assert(S_ISLNK(sb.st_mode));
	ck_assert_coffer_ok(do_restore(repo, id2, dest, NULL, 0, &log, NULL));
	assert_outside_untouched(outside);
	path_join(p, sizeof(p), outside, "canary");
	char a_path[4300];
	compare_content(p, p, 7);
	path_join(a_path, sizeof(a_path), dest, "a/pwned");
	ck_assert_int_eq(lstat(a_path, &sb), 0);
	ck_assert(S_ISREG(sb.st_mode));
	path_join(a_path, sizeof(a_path), dest, "a");
	ck_assert_int_eq(lstat(a_path, &sb), 0);
	ck_assert(S_ISDIR(sb.st_mode));
	path_join(a_path, sizeof(a_path), dest, "c");
	ck_assert_int_eq(lstat(a_path, &sb), 0);
	ck_assert(S_ISREG(sb.st_mode));
	int fd = open(p, O_RDONLY);
	char text[32] = { 0 };
	ck_assert_int_eq(read(fd, text, sizeof(text)), 7);
	close(fd);
	ck_assert_str_eq(text, "canary\n");

	/* the same with delete_extra, and with DEST's symlinks made by someone else */
	test_rmtree(dest);
	ck_assert_int_eq(mkdir(dest, 0755), 0);
	path_join(p, sizeof(p), dest, "a");
	ck_assert_int_eq(symlink(outside, p), 0);
	ck_assert_coffer_ok(do_restore(repo, id2, dest, NULL, 1, &log, NULL));
	assert_outside_untouched(outside);

	/* subpath through a symlink of the snapshot */
	test_rmtree(dest);
	ck_assert_int_eq(do_restore(repo, id1, dest, "a/canary", 0, &log, NULL), COFFER_ENOTFOUND);
	assert_outside_untouched(outside);

	coffer_dir_clear(&d1);
	coffer_dir_clear(&d2);
	coffer_dir_clear(&inner);
	coffer_object_clear(&root1);
	coffer_object_clear(&root2);
}
END_TEST

static size_t ls_count;

static int count_entries(const coffer_entry_info *e, void *ud)
{
	(void)e;
	++*(size_t *)ud;
	return 0;
}

/* A listing holding a directory named `bad` (patched in after encoding) with a file
 * "canary" inside; stored under a writer of its own and committed. */
static void store_bad_listing(const char *placeholder, const char *bad, int attempt, coffer_store_writer *w,
                              coffer_object *out)
{
	for (int tries = 0; tries < 50; tries++) {
		char text[64];
		snprintf(text, sizeof(text), "overwritten %d/%d\n", attempt, tries);
		coffer_dir inner = { NULL, 0 };
		crafted_content(w, crafted_add(&inner, "canary", COFFER_ENTRY_FILE, 0644), text);
		coffer_dir top = { NULL, 0 };
		coffer_dirent *e = crafted_add(&top, placeholder, COFFER_ENTRY_DIR, 0755);
		ck_assert_coffer_ok(coffer_dir_store(w, 0, &inner, &e->content));
		int stored = store_patched(w, &top, placeholder, bad, out);
		coffer_dir_clear(&inner);
		coffer_dir_clear(&top);
		if (stored)
			return;
	}
	ck_abort_msg("could not place %s in a listing", placeholder);
}

START_TEST(test_escape_bad_names)
{
	char box[4200], dest[4200], outside[4200], p[4300];
	snprintf(outside, sizeof(outside), "%s/outside", tmpdir);
	ck_assert_int_eq(mkdir(outside, 0755), 0);
	path_join(p, sizeof(p), outside, "canary");
	write_file(p, "canary\n", 7, 0644);
	snprintf(box, sizeof(box), "%s/box", tmpdir);
	snprintf(dest, sizeof(dest), "%s/box/dest", tmpdir);

	/* each listing is valid when encoded and patched afterwards, as an attacker would */
	const char *names[] = { "~~", "~", "a~b", "z~~z" };
	const char *repl[] = { "..", ".", "a/b", "z\0\0z" };
	for (size_t k = 0; k < 4; k++) {
		char from[8], to[8];
		memcpy(from, names[k], strlen(names[k]) + 1);
		memcpy(to, repl[k], strlen(names[k]) + 1);

		/* at the top: refused before DEST is touched */
		coffer_store_writer *w = crafted_writer(repo);
		coffer_object root;
		store_bad_listing(from, to, (int)k, w, &root);
		ck_assert_coffer_ok(coffer_store_writer_commit(w));
		coffer_store_writer_free(w);
		char id[COFFER_SNAPSHOT_ID_HEX + 1];
		save_snapshot(repo, &root, id);
		coffer_object_clear(&root);
		event_log log;
		memset(&log, 0, sizeof(log));
		int rc = do_restore(repo, id, dest, NULL, 0, &log, NULL);
		ck_assert_msg(rc == COFFER_ECORRUPT, "name %zu: restore gave %d (%s)", k, rc, coffer_error_last()->message);
		assert_outside_untouched(outside);
		ck_assert_int_ne(access(box, F_OK), 0);
		ls_count = 0;
		ck_assert_int_eq(coffer_snapshot_ls(repo, id, "", count_entries, &ls_count), COFFER_ECORRUPT);

		/* one level down ("sub" holds the bad listing): the damaged directory is reported
		 * and skipped, nothing lands beside or above it */
		w = crafted_writer(repo);
		coffer_dir top = { NULL, 0 };
		coffer_dirent *sub = crafted_add(&top, "sub", COFFER_ENTRY_DIR, 0755);
		store_bad_listing(from, to, (int)k + 10, w, &sub->content);
		ck_assert_coffer_ok(coffer_dir_store(w, 0, &top, &root));
		ck_assert_coffer_ok(coffer_store_writer_commit(w));
		coffer_store_writer_free(w);
		save_snapshot(repo, &root, id);
		coffer_object_clear(&root);
		coffer_dir_clear(&top);
		memset(&log, 0, sizeof(log));
		rc = do_restore(repo, id, dest, NULL, 0, &log, NULL);
		ck_assert_msg(rc == COFFER_ECORRUPT, "name %zu below: restore gave %d (%s)", k, rc,
		              coffer_error_last()->message);
		ck_assert(log_has(&log, COFFER_EVENT_ERROR, "sub", "listing"));
		assert_outside_untouched(outside);
		path_join(p, sizeof(p), dest, "canary");
		ck_assert_int_ne(access(p, F_OK), 0);
		path_join(p, sizeof(p), box, "canary");
		ck_assert_int_ne(access(p, F_OK), 0);
		test_rmtree(box);
	}
}
END_TEST

/* A hardlink group whose first member is a symlink to the outside: the other members must
 * become links to the symlink itself, never to its target. */
START_TEST(test_escape_hardlink_to_symlink)
{
	char dest[4200], outside[4200], p[4300];
	snprintf(outside, sizeof(outside), "%s/outside", tmpdir);
	ck_assert_int_eq(mkdir(outside, 0755), 0);
	path_join(p, sizeof(p), outside, "canary");
	write_file(p, "canary\n", 7, 0644);
	snprintf(dest, sizeof(dest), "%s/dest", tmpdir);
	coffer_store_writer *w = crafted_writer(repo);
	coffer_dir top = { NULL, 0 };
	coffer_dirent *e = crafted_add(&top, "a", COFFER_ENTRY_SYMLINK, 0777);
	e->link_target = coffer_strdup(p);
	e->hardlink_group = 7;
	e = crafted_add(&top, "b", COFFER_ENTRY_FILE, 0644);
	crafted_content(w, e, "content of b\n");
	e->hardlink_group = 7;
	coffer_object root;
	ck_assert_coffer_ok(coffer_dir_store(w, 0, &top, &root));
	ck_assert_coffer_ok(coffer_store_writer_commit(w));
	coffer_store_writer_free(w);
	char id[COFFER_SNAPSHOT_ID_HEX + 1];
	save_snapshot(repo, &root, id);
	event_log log;
	memset(&log, 0, sizeof(log));
	ck_assert_coffer_ok(do_restore(repo, id, dest, NULL, 0, &log, NULL));
	assert_outside_untouched(outside);
	struct stat sb, so;
	path_join(p, sizeof(p), dest, "b");
	ck_assert_int_eq(lstat(p, &sb), 0);
	ck_assert(S_ISLNK(sb.st_mode));
	path_join(p, sizeof(p), outside, "canary");
	ck_assert_int_eq(stat(p, &so), 0);
	ck_assert_uint_eq(so.st_nlink, 1);
	coffer_dir_clear(&top);
	coffer_object_clear(&root);
}
END_TEST

/* ------------------------------------------------------------------ damaged data */

static void corrupt_chunk_of(coffer_repo *r, const char *snapshot_id, const char *path)
{
	coffer_manifest m;
	ck_assert_coffer_ok(coffer_restore_load_manifest(r, snapshot_id, &m));
	coffer_dirent e;
	ck_assert_coffer_ok(coffer_restore_resolve(r, &m, path, &e, NULL));
	ck_assert_uint_ge(e.content.count, 1);
	coffer_chunk_location loc;
	ck_assert_coffer_ok(coffer_store_lookup(r, &e.content.chunks[0], &loc));
	coffer_backend *be = coffer_repo_backend(r);
	coffer_buf pack = COFFER_BUF_INIT;
	ck_assert_coffer_ok(coffer_backend_get(be, loc.pack, 0, COFFER_WHOLE, &pack));
	ck_assert_uint_gt(pack.len, loc.offset + loc.stored_length / 2);
	pack.data[loc.offset + loc.stored_length / 2] ^= 0x40;
	ck_assert_coffer_ok(coffer_backend_put(be, loc.pack, pack.data, pack.len, COFFER_PUT_OVERWRITE));
	coffer_buf_free(&pack);
	coffer_dirent_clear(&e);
	coffer_manifest_clear(&m);
}

/* The repository opened again with an empty cache, so reads go to the backend. */
static coffer_repo *reopen_repo(coffer_repo *r, const char *tag)
{
	coffer_repo_close(r);
	char url[4200], cache[4200];
	make_url(url, sizeof(url), repo_dir);
	snprintf(cache, sizeof(cache), "%s/%s-cache", tmpdir, tag);
	coffer_repo_options o = COFFER_REPO_OPTIONS_INIT;
	o.cache_dir = cache;
	o.parallelism = 2;
	coffer_repo *fresh = NULL;
	ck_assert_coffer_ok(coffer_repo_open(&fresh, core, url, "secret", &o));
	return fresh;
}

START_TEST(test_restore_damaged_file)
{
	coffer_snapshot_info info;
	ck_assert_int_eq(mkdir(src_dir, 0755), 0);
	char p[4300], dest[4200];
	uint8_t *buf = malloc(300000);
	random_bytes(buf, 300000, 77);
	path_join(p, sizeof(p), src_dir, "victim.bin");
	write_file(p, buf, 300000, 0644);
	char q[4300];
	path_join(q, sizeof(q), src_dir, "victim.link");
	ck_assert_int_eq(link(p, q), 0);
	random_bytes(buf, 1000, 78);
	path_join(p, sizeof(p), src_dir, "fine.bin");
	write_file(p, buf, 1000, 0644);
	free(buf);
	backup(repo, src_dir, &info);
	corrupt_chunk_of(repo, info.id, "victim.bin");
	repo = reopen_repo(repo, "fresh");

	snprintf(dest, sizeof(dest), "%s/dest", tmpdir);
	event_log log;
	memset(&log, 0, sizeof(log));
	coffer_restore_stats st;
	int rc = do_restore(repo, info.id, dest, NULL, 0, &log, &st);
	ck_assert_int_eq(rc, COFFER_ECORRUPT);
	ck_assert_msg(strstr(coffer_error_last()->message, "victim.bin"), "%s", coffer_error_last()->message);
	ck_assert_uint_eq(log.errors, 1);
	ck_assert(log_has(&log, COFFER_EVENT_ERROR, "victim.bin", NULL));
	/* the other file is restored; the damaged one is not left half-written */
	ck_assert_uint_eq(st.files, 1);
	char a[4300];
	path_join(a, sizeof(a), src_dir, "fine.bin");
	path_join(p, sizeof(p), dest, "fine.bin");
	compare_content(a, p, 1000);
	path_join(p, sizeof(p), dest, "victim.bin");
	ck_assert_int_ne(access(p, F_OK), 0);
	/* its other name is not linked to anything (a warning says so) */
	path_join(p, sizeof(p), dest, "victim.link");
	ck_assert_int_ne(access(p, F_OK), 0);
	ck_assert(log_has(&log, COFFER_EVENT_WARNING, "victim.link", "hardlink not restored"));
	ck_assert_uint_eq(st.hardlinks, 0);
	DIR *d = opendir(dest);
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		ck_assert_msg(strncmp(de->d_name, ".coffer-", 8) != 0, "temporary file left: %s", de->d_name);
	closedir(d);
	coffer_snapshot_info_clear(&info);
}
END_TEST

/* As an ordinary user: devices are skipped with a warning, read-only directories are still
 * filled, owners are not changed. */
START_TEST(test_restore_as_user)
{
	if (geteuid() != 0)
		return;  /* needs root to switch to another user; the plain round trip covers it */
	coffer_snapshot_info info;
	make_full_tree(src_dir);
	backup(repo, src_dir, &info);
	char cmd[4400], dest[4200];
	snprintf(cmd, sizeof(cmd), "chmod -R a+rwX '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(dest, sizeof(dest), "%s/user-dest", tmpdir);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* the child: nobody, with a repository handle of its own */
		coffer_repo_close(repo);
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(10);
		repo = NULL;
		char url[4200], cache[4200];
		make_url(url, sizeof(url), repo_dir);
		snprintf(cache, sizeof(cache), "%s/user-cache", tmpdir);
		coffer_repo_options o = COFFER_REPO_OPTIONS_INIT;
		o.cache_dir = cache;
		if (coffer_repo_open(&repo, core, url, "secret", &o) < 0) {
			fprintf(stderr, "open as user: %s\n", coffer_error_last()->message);
			_exit(11);
		}
		event_log log;
		memset(&log, 0, sizeof(log));
		coffer_restore_stats st;
		int rc = do_restore(repo, info.id, dest, NULL, 0, &log, &st);
		if (rc != 0) {
			fprintf(stderr, "restore as user: %s\n", coffer_error_last()->message);
			_exit(12);
		}
		if (!log_has(&log, COFFER_EVENT_WARNING, "chr", "only root") ||
		    !log_has(&log, COFFER_EVENT_WARNING, "blk", "only root"))
			_exit(13);
		if (st.others != 2)  /* fifo and socket */
			_exit(14);
		_exit(0);
	}
	int status = 0;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
	/* modes, times and content as in the source, owner the user */
	char p[4300];
	struct stat sb;
	path_join(p, sizeof(p), dest, "ro");
	ck_assert_int_eq(lstat(p, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0555);
	ck_assert_uint_eq(sb.st_uid, 65534);
	path_join(p, sizeof(p), dest, "ro/file");
	ck_assert_int_eq(lstat(p, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0444);
	path_join(p, sizeof(p), dest, "chr");
	ck_assert_int_ne(lstat(p, &sb), 0);
	char a[4300];
	path_join(a, sizeof(a), src_dir, "big.bin");
	path_join(p, sizeof(p), dest, "big.bin");
	compare_content(a, p, 3 << 20);
	coffer_snapshot_info_clear(&info);
}
END_TEST

/* ------------------------------------------------------------------ ls and cat */

typedef struct ls_result {
	size_t count;
	char names[64][300];
	coffer_entry_type types[64];
	uint64_t sizes[64];
} ls_result;

static int collect_entry(const coffer_entry_info *e, void *ud)
{
	ls_result *r = ud;
	if (r->count < 64) {
		memcpy(r->names[r->count], e->name, e->name_len);
		r->names[r->count][e->name_len] = '\0';
		r->types[r->count] = e->type;
		r->sizes[r->count] = e->size;
	}
	r->count++;
	return 0;
}

static int stop_after_two(const coffer_entry_info *e, void *ud)
{
	(void)e;
	int *n = ud;
	return ++*n == 2 ? 42 : 0;
}

START_TEST(test_ls_cat)
{
	coffer_snapshot_info info;
	make_full_tree(src_dir);
	backup(repo, src_dir, &info);
	ls_result r;
	memset(&r, 0, sizeof(r));
	ck_assert_coffer_ok(coffer_snapshot_ls(repo, info.id, "", collect_entry, &r));
	ck_assert_uint_ge(r.count, 20);
	for (size_t i = 1; i < r.count && i < 64; i++)
		ck_assert_msg(strcmp(r.names[i - 1], r.names[i]) < 0, "not in name order: %s, %s", r.names[i - 1],
		              r.names[i]);
	memset(&r, 0, sizeof(r));
	ck_assert_coffer_ok(coffer_snapshot_ls(repo, info.id, "sub", collect_entry, &r));
	ck_assert_uint_eq(r.count, 3);
	ck_assert_str_eq(r.names[0], "c");
	ck_assert_str_eq(r.names[1], "dup2.bin");
	ck_assert_str_eq(r.names[2], "nested");
	ck_assert_int_eq(r.types[2], COFFER_ENTRY_DIR);
	ck_assert_uint_eq(r.sizes[1], 200 << 10);
	memset(&r, 0, sizeof(r));
	ck_assert_coffer_ok(coffer_snapshot_ls(repo, info.id, "/sub/nested/deep/file", collect_entry, &r));
	ck_assert_uint_eq(r.count, 1);
	ck_assert_str_eq(r.names[0], "file");
	ck_assert_int_eq(r.types[0], COFFER_ENTRY_FILE);
	ck_assert_int_eq(coffer_snapshot_ls(repo, info.id, "sub/none", collect_entry, &r), COFFER_ENOTFOUND);
	int n = 0;
	ck_assert_int_eq(coffer_snapshot_ls(repo, info.id, "", stop_after_two, &n), 42);
	ck_assert_int_eq(n, 2);

	char out[4200], a[4300];
	snprintf(out, sizeof(out), "%s/cat.out", tmpdir);
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_coffer_ok(coffer_snapshot_cat(repo, info.id, "big.bin", fd));
	close(fd);
	path_join(a, sizeof(a), src_dir, "big.bin");
	compare_content(a, out, 3 << 20);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_coffer_ok(coffer_snapshot_cat(repo, info.id, "sparse.img", fd));
	close(fd);
	path_join(a, sizeof(a), src_dir, "sparse.img");
	compare_content(a, out, 64 << 20);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_eq(coffer_snapshot_cat(repo, info.id, "sub", fd), COFFER_EINVALID);
	ck_assert_int_eq(coffer_snapshot_cat(repo, info.id, "sym_rel", fd), COFFER_EINVALID);
	ck_assert_int_eq(coffer_snapshot_cat(repo, info.id, "missing", fd), COFFER_ENOTFOUND);
	close(fd);
	coffer_snapshot_info_clear(&info);
}
END_TEST

static Suite *restore_suite(void)
{
	Suite *s = suite_create("restore");
	TCase *tc = tcase_create("restore");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_destination_is_file);
	tcase_add_test(tc, test_nonempty_dest_overwrite);
	tcase_add_test(tc, test_nonempty_dest_delete_extra);
	tcase_add_test(tc, test_subpath);
	tcase_add_test(tc, test_escape_symlink_then_directory);
	tcase_add_test(tc, test_escape_bad_names);
	tcase_add_test(tc, test_escape_hardlink_to_symlink);
	tcase_add_test(tc, test_restore_damaged_file);
	tcase_add_test(tc, test_restore_as_user);
	tcase_add_test(tc, test_ls_cat);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* every test's folder goes below one of the whole run, removed even after a failed
	 * test (a failing test skips its teardown) */
	char *base = test_tmpdir("restore-run");
	chmod(base, 0711);  /* test_restore_as_user reaches its folder as another user */
	setenv("TMPDIR", base, 1);
	int status = test_run_suite(restore_suite());
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "chmod -R u+rwx '%s' 2>/dev/null", base);
	if (system(cmd) != 0)
		fprintf(stderr, "chmod failed\n");
	test_rmtree(base);
	free(base);
	return status;
}
