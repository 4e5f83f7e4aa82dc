/* `coffer ls ID[/path]`, `coffer cat ID/path`, `coffer diff ID1 ID2`. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const char browse_usage[] =
	"usage: coffer ls ID[/path] [--long] [--recursive] [--json]\n"
	"       coffer cat ID/path\n"
	"       coffer diff ID1 ID2 [--json]\n"
	"plus the repository options: --repository URL, --password-file F, --cache-dir D, --ca-file PEM\n";

/* Splits "ID/path" into the id and the path inside the snapshot. */
static void split_target(const char *target, char *id, size_t cap, const char **path)
{
	const char *slash = strchr(target, '/');
	size_t n = slash ? (size_t)(slash - target) : strlen(target);
	snprintf(id, cap, "%.*s", (int)(n < cap ? n : cap - 1), target);
	*path = slash ? slash + 1 : "";
}

static char type_char(coffer_entry_type t)
{
	switch (t) {
	case COFFER_ENTRY_DIR: return 'd';
	case COFFER_ENTRY_SYMLINK: return 'l';
	case COFFER_ENTRY_FIFO: return 'p';
	case COFFER_ENTRY_CHARDEV: return 'c';
	case COFFER_ENTRY_BLOCKDEV: return 'b';
	case COFFER_ENTRY_SOCKET: return 's';
	default: return '-';
	}
}

static void mode_string(const coffer_entry_info *e, char out[11])
{
	static const char rwx[] = "rwxrwxrwx";
	out[0] = type_char(e->type);
	for (int i = 0; i < 9; i++)
		out[i + 1] = (e->mode & (1u << (8 - i))) ? rwx[i] : '-';
	if (e->mode & 04000)
		out[3] = (e->mode & 0100) ? 's' : 'S';
	if (e->mode & 02000)
		out[6] = (e->mode & 0010) ? 's' : 'S';
	if (e->mode & 01000)
		out[9] = (e->mode & 0001) ? 't' : 'T';
	out[10] = '\0';
}

typedef struct ls_ctx {
	coffer_repo *repo;
	const char *id;
	char prefix[4096];
	int long_format, recursive;
	coffer_json *json;
	int rc;
} ls_ctx;

static int ls_entry(const coffer_entry_info *e, void *ud);

static int ls_dir(ls_ctx *c, const char *path)
{
	char saved[4096];
	memcpy(saved, c->prefix, sizeof(saved));
	snprintf(c->prefix, sizeof(c->prefix), "%s%s", path, path[0] ? "/" : "");
	int rc = coffer_snapshot_ls(c->repo, c->id, path, ls_entry, c);
	memcpy(c->prefix, saved, sizeof(saved));
	return rc;
}

static int ls_entry(const coffer_entry_info *e, void *ud)
{
	ls_ctx *c = ud;
	char full[4096];
	snprintf(full, sizeof(full), "%s%.*s", c->prefix, (int)e->name_len, e->name);
	if (c->json) {
		coffer_json *j = c->json;
		char t[40];
		coffer_time_format_rfc3339(e->mtime_ns, t);
		coffer_json_object_begin(j);
		coffer_json_key(j, "path");
		coffer_json_string(j, full);
		coffer_json_key(j, "type");
		char ty[2] = { type_char(e->type), 0 };
		coffer_json_string(j, ty);
		coffer_json_key(j, "mode");
		coffer_json_uint(j, e->mode);
		coffer_json_key(j, "uid");
		coffer_json_uint(j, e->uid);
		coffer_json_key(j, "gid");
		coffer_json_uint(j, e->gid);
		coffer_json_key(j, "size");
		coffer_json_uint(j, e->size);
		coffer_json_key(j, "mtime");
		coffer_json_string(j, t);
		coffer_json_key(j, "mtimeNs");
		coffer_json_int(j, e->mtime_ns);
		if (e->link_target) {
			coffer_json_key(j, "target");
			coffer_json_string(j, e->link_target);
		}
		coffer_json_object_end(j);
	} else if (c->long_format) {
		char m[11], t[40];
		mode_string(e, m);
		coffer_time_format_rfc3339(e->mtime_ns, t);
		printf("%s %6u %6u %12llu %s %s%s%s\n", m, e->uid, e->gid, (unsigned long long)e->size, t, full,
		       e->link_target ? " -> " : "", e->link_target ? e->link_target : "");
	} else {
		printf("%s%s\n", full, e->type == COFFER_ENTRY_DIR ? "/" : "");
	}
	if (c->recursive && e->type == COFFER_ENTRY_DIR) {
		int rc = ls_dir(c, full);
		if (rc)
			return rc;
	}
	return 0;
}

int cli_ls(coffer_core *core, int argc, char **argv)
{
	cli_repo_args a = { 0 };
	int long_format = 0, recursive = 0;
	cli_option opts[] = { CLI_REPO_OPTIONS(&a), { "--long", NULL, &long_format, NULL, NULL },
		              { "--recursive", NULL, &recursive, NULL, NULL },
		              { NULL, NULL, NULL, NULL, NULL } };
	char *pos[1];
	int npos, rc = cli_parse(argc, argv, 1, opts, pos, &npos, 1, browse_usage);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (npos != 1) {
		fprintf(stderr, "coffer: ls needs ID[/path]\n%s", browse_usage);
		return COFFER_EXIT_USAGE;
	}
	char id[128];
	const char *path;
	split_target(pos[0], id, sizeof(id), &path);
	coffer_repo *repo;
	if ((rc = cli_open_repo(core, &a, 0, NULL, &repo)) != 0)
		return rc;
	coffer_json j;
	ls_ctx c = { .repo = repo, .id = id, .long_format = long_format, .recursive = recursive,
		     .json = a.json ? &j : NULL };
	if (a.json) {
		coffer_json_init(&j, stdout, 1);
		coffer_json_array_begin(&j);
	}
	rc = ls_dir(&c, path);
	if (a.json) {
		coffer_json_array_end(&j);
		coffer_json_finish(&j);
	}
	coffer_repo_close(repo);
	return rc ? cli_fail(rc) : 0;
}

int cli_cat(coffer_core *core, int argc, char **argv)
{
	cli_repo_args a = { 0 };
	cli_option opts[] = { CLI_REPO_OPTIONS(&a), { NULL, NULL, NULL, NULL, NULL } };
	char *pos[1];
	int npos, rc = cli_parse(argc, argv, 1, opts, pos, &npos, 1, browse_usage);
	if (rc)
		return rc < 0 ? 0 : rc;
	char id[128];
	const char *path;
	if (npos != 1 || (split_target(pos[0], id, sizeof(id), &path), !path[0])) {
		fprintf(stderr, "coffer: cat needs ID/path\n%s", browse_usage);
		return COFFER_EXIT_USAGE;
	}
	coffer_repo *repo;
	if ((rc = cli_open_repo(core, &a, 0, NULL, &repo)) != 0)
		return rc;
	rc = coffer_snapshot_cat(repo, id, path, STDOUT_FILENO);
	coffer_repo_close(repo);
	return rc ? cli_fail(rc) : 0;
}

/* diff: both directories' entries are collected, then merged by name. */
typedef struct diff_entry {
	char *name;
	size_t name_len;
	coffer_entry_info info;
	char *target;
} diff_entry;

typedef struct diff_list {
	diff_entry *items;
	size_t count, cap;
} diff_list;

static int collect(const coffer_entry_info *e, void *ud)
{
	diff_list *l = ud;
	if (l->count == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->items = realloc(l->items, l->cap * sizeof(*l->items));
		if (!l->items)
			return coffer_error_set(COFFER_ENOMEM, "out of memory");
	}
	diff_entry *d = &l->items[l->count++];
	d->name = malloc(e->name_len + 1);
	memcpy(d->name, e->name, e->name_len);
	d->name[e->name_len] = '\0';
	d->name_len = e->name_len;
	d->info = *e;
	d->target = e->link_target ? strdup(e->link_target) : NULL;
	d->info.name = d->name;
	d->info.link_target = d->target;
	return 0;
}

static void free_list(diff_list *l)
{
	for (size_t i = 0; i < l->count; i++) {
		free(l->items[i].name);
		free(l->items[i].target);
	}
	free(l->items);
}

static int compare_names(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);
	return c ? c : (an < bn ? -1 : an > bn);
}

typedef struct diff_ctx {
	coffer_repo *repo;
	const char *id1, *id2;
	coffer_json *json;
	uint64_t changes;
} diff_ctx;

static void report(diff_ctx *c, char what, const char *path, const char *detail)
{
	c->changes++;
	if (c->json) {
		coffer_json_object_begin(c->json);
		coffer_json_key(c->json, "change");
		coffer_json_string(c->json, what == '+' ? "added" : what == '-' ? "removed" : "modified");
		coffer_json_key(c->json, "path");
		coffer_json_string(c->json, path);
		if (detail) {
			coffer_json_key(c->json, "detail");
			coffer_json_string(c->json, detail);
		}
		coffer_json_object_end(c->json);
	} else {
		printf("%c %s%s%s%s\n", what, path, detail ? "  (" : "", detail ? detail : "", detail ? ")" : "");
	}
}

static int diff_dir(diff_ctx *c, const char *path, int in1, int in2);

static int diff_dir(diff_ctx *c, const char *path, int in1, int in2)
{
	diff_list l1 = { 0 }, l2 = { 0 };
	int rc = 0;
	if (in1 && (rc = coffer_snapshot_ls(c->repo, c->id1, path, collect, &l1)) != 0)
		goto out;
	if (in2 && (rc = coffer_snapshot_ls(c->repo, c->id2, path, collect, &l2)) != 0)
		goto out;
	size_t i = 0, k = 0;
	while (i < l1.count || k < l2.count) {
		int cmp = i >= l1.count ? 1 : k >= l2.count ? -1
		                                           : compare_names(l1.items[i].name, l1.items[i].name_len,
		                                                           l2.items[k].name, l2.items[k].name_len);
		const diff_entry *e = cmp <= 0 ? &l1.items[i] : &l2.items[k];
		char full[4096];
		snprintf(full, sizeof(full), "%s%s%s", path, path[0] ? "/" : "", e->name);
		if (cmp < 0) {
			report(c, '-', full, NULL);
			i++;
		} else if (cmp > 0) {
			report(c, '+', full, NULL);
			k++;
		} else {
			const coffer_entry_info *a = &l1.items[i].info, *b = &l2.items[k].info;
			char detail[256] = "";
			size_t used = 0;
#define DIFF_ADD(cond, text)                                                                       \
	if (cond)                                                                                  \
	used += (size_t)snprintf(detail + used, sizeof(detail) - used, "%s%s", used ? ", " : "", text)
			DIFF_ADD(a->type != b->type, "type");
			DIFF_ADD(a->size != b->size, "size");
			DIFF_ADD(a->mtime_ns != b->mtime_ns, "mtime");
			DIFF_ADD(a->mode != b->mode, "mode");
			DIFF_ADD(a->uid != b->uid || a->gid != b->gid, "owner");
			DIFF_ADD((a->link_target || b->link_target) &&
			                 (!a->link_target || !b->link_target || strcmp(a->link_target, b->link_target)),
			         "target");
			DIFF_ADD(a->xattr_count != b->xattr_count, "xattrs");
#undef DIFF_ADD
			if (used && !(a->type == COFFER_ENTRY_DIR && b->type == COFFER_ENTRY_DIR &&
			              strcmp(detail, "mtime") == 0))
				report(c, 'M', full, detail);
			if (a->type == COFFER_ENTRY_DIR || b->type == COFFER_ENTRY_DIR) {
				rc = diff_dir(c, full, a->type == COFFER_ENTRY_DIR, b->type == COFFER_ENTRY_DIR);
				if (rc)
					goto out;
			}
			i++;
			k++;
			continue;
		}
		if (e->info.type == COFFER_ENTRY_DIR && (rc = diff_dir(c, full, cmp < 0, cmp > 0)) != 0)
			goto out;
	}
out:
	free_list(&l1);
	free_list(&l2);
	return rc;
}

int cli_diff(coffer_core *core, int argc, char **argv)
{
	cli_repo_args a = { 0 };
	cli_option opts[] = { CLI_REPO_OPTIONS(&a), { NULL, NULL, NULL, NULL, NULL } };
	char *pos[2];
	int npos, rc = cli_parse(argc, argv, 1, opts, pos, &npos, 2, browse_usage);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (npos != 2) {
		fprintf(stderr, "coffer: diff needs two snapshot ids\n%s", browse_usage);
		return COFFER_EXIT_USAGE;
	}
	coffer_repo *repo;
	if ((rc = cli_open_repo(core, &a, 0, NULL, &repo)) != 0)
		return rc;
	coffer_snapshot_info s1 = { 0 }, s2 = { 0 };
	if ((rc = coffer_snapshot_find(repo, pos[0], &s1)) != 0 || (rc = coffer_snapshot_find(repo, pos[1], &s2)) != 0) {
		coffer_snapshot_info_clear(&s1);
		coffer_repo_close(repo);
		return cli_fail(rc);
	}
	coffer_json j;
	diff_ctx c = { repo, s1.id, s2.id, a.json ? &j : NULL, 0 };
	if (a.json) {
		coffer_json_init(&j, stdout, 1);
		coffer_json_array_begin(&j);
	}
	rc = diff_dir(&c, "", 1, 1);
	if (a.json) {
		coffer_json_array_end(&j);
		coffer_json_finish(&j);
	}
	coffer_snapshot_info_clear(&s1);
	coffer_snapshot_info_clear(&s2);
	coffer_repo_close(repo);
	return rc ? cli_fail(rc) : 0;
}
