/* Helpers shared by the CLI commands: option parsing, password, opening the repository,
 * progress lines, JSON of snapshots. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int cli_fail(int rc)
{
	const coffer_error *e = coffer_error_last();
	fprintf(stderr, "coffer: %s\n", e->message[0] ? e->message : coffer_error_name(rc));
	return coffer_exit_code(rc);
}

int cli_parse(int argc, char **argv, int first, const cli_option *opts, char **positional, int *npos,
              int max_pos, const char *usage)
{
	*npos = 0;
	int only_positional = 0;
	for (int i = first; i < argc; i++) {
		const char *arg = argv[i];
		if (only_positional || arg[0] != '-' || strcmp(arg, "-") == 0) {
			if (*npos >= max_pos) {
				fprintf(stderr, "coffer: unexpected argument '%s'\n%s", arg, usage);
				return COFFER_EXIT_USAGE;
			}
			positional[(*npos)++] = argv[i];
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_positional = 1;
			continue;
		}
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			fputs(usage, stdout);
			return -1;
		}
		const char *eq = strchr(arg, '=');
		size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
		const cli_option *o = NULL;
		for (const cli_option *k = opts; k && k->name; k++)
			if (strlen(k->name) == name_len && strncmp(k->name, arg, name_len) == 0)
				o = k;
		if (!o) {
			fprintf(stderr, "coffer: unknown option '%.*s'\n%s", (int)name_len, arg, usage);
			return COFFER_EXIT_USAGE;
		}
		if (o->flag) {
			if (eq) {
				fprintf(stderr, "coffer: option %s takes no value\n", o->name);
				return COFFER_EXIT_USAGE;
			}
			*o->flag = 1;
			continue;
		}
		const char *value = eq ? eq + 1 : NULL;
		if (!value) {
			if (i + 1 >= argc) {
				fprintf(stderr, "coffer: option %s needs a value\n%s", o->name, usage);
				return COFFER_EXIT_USAGE;
			}
			value = argv[++i];
		}
		if (o->value)
			*o->value = value;
		else
			o->add(o->add_ud, value);
	}
	return 0;
}

int cli_uint(const char *option, const char *text, unsigned long long max, unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (!text[0] || *end || errno || text[0] == '-' || v > max) {
		fprintf(stderr, "coffer: %s: '%s' is not a number from 0 to %llu\n", option, text, max);
		return COFFER_EXIT_USAGE;
	}
	*out = v;
	return 0;
}

/* Reads one line of a password without echo from the terminal. */
static char *prompt_password(const char *prompt)
{
	FILE *tty = fopen("/dev/tty", "r+");
	if (!tty)
		return NULL;
	struct termios old, quiet;
	int have_term = tcgetattr(fileno(tty), &old) == 0;
	if (have_term) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	}
	fputs(prompt, tty);
	fflush(tty);
	char buf[1024];
	char *line = fgets(buf, sizeof(buf), tty);
	if (have_term)
		tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputs("\n", tty);
	fclose(tty);
	if (!line)
		return NULL;
	buf[strcspn(buf, "\r\n")] = '\0';
	return strdup(buf);
}

static char *read_password_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		coffer_error_set_errno(COFFER_EINVALID, errno, "cannot read password file %s", path);
		return NULL;
	}
	char buf[1024];
	char *line = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!line) {
		coffer_error_set(COFFER_EINVALID, "password file %s is empty", path);
		return NULL;
	}
	buf[strcspn(buf, "\r\n")] = '\0';
	return strdup(buf);
}

static char *get_password(const cli_repo_args *a, int create)
{
	if (a->password_file)
		return read_password_file(a->password_file);
	const char *env = getenv("KOPIA_PASSWORD");
	if (env && env[0])
		return strdup(env);
	if (isatty(STDIN_FILENO)) {
		char *pw = prompt_password("Repository password: ");
		if (pw && create) {
			char *again = prompt_password("Repeat password: ");
			if (!again || strcmp(pw, again) != 0) {
				free(pw);
				free(again);
				coffer_error_set(COFFER_EINVALID, "the passwords do not match");
				return NULL;
			}
			free(again);
		}
		if (pw && !pw[0]) {
			free(pw);
			coffer_error_set(COFFER_EINVALID, "the password must not be empty");
			return NULL;
		}
		if (pw)
			return pw;
	}
	coffer_error_set(COFFER_EINVALID,
	                 "no password: set KOPIA_PASSWORD, use --password-file FILE, or run on a terminal");
	return NULL;
}

int cli_open_repo(coffer_core *core, const cli_repo_args *a, int create, const char *compression,
                  coffer_repo **out)
{
	*out = NULL;
	const char *url = a->repository ? a->repository : getenv("KOPIA_REPOSITORY");
	if (!url || !url[0]) {
		fprintf(stderr, "coffer: no repository: use --repository URL or set KOPIA_REPOSITORY\n");
		return COFFER_EXIT_USAGE;
	}
	coffer_repo_options opts = COFFER_REPO_OPTIONS_INIT;
	opts.cache_dir = a->cache_dir;
	opts.ca_file = a->ca_file;
	opts.compression = compression;
	unsigned long long v;
	if (a->parallel) {
		if (cli_uint("--parallel", a->parallel, 1024, &v))
			return COFFER_EXIT_USAGE;
		opts.parallelism = (unsigned)v;
	}
	if (a->cache_capacity) {
		if (cli_uint("--cache-capacity", a->cache_capacity, 1ull << 40, &v))
			return COFFER_EXIT_USAGE;
		opts.cache_capacity = v << 20;
	}
	const char *scrypt_n = getenv("COFFER_TEST_SCRYPT_N"); /* documented test knob */
	if (scrypt_n && create)
		opts.scrypt_n = strtoull(scrypt_n, NULL, 10);
	char *password = get_password(a, create);
	if (!password)
		return cli_fail(COFFER_EINVALID);
	int rc = create ? coffer_repo_create(out, core, url, password, &opts)
	                : coffer_repo_open(out, core, url, password, &opts);
	memset(password, 0, strlen(password));
	free(password);
	return rc ? cli_fail(rc) : 0;
}

void cli_format_bytes(uint64_t n, char out[32])
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, 32, "%llu B", (unsigned long long)n);
	else
		snprintf(out, 32, "%.1f %s", v, units[u]);
}

static int progress_shown;
static struct timespec progress_start;

void cli_progress_event(const coffer_event *ev, void *ud)
{
	if (ev->kind == COFFER_EVENT_WARNING || ev->kind == COFFER_EVENT_ERROR) {
		if (progress_shown) {
			fputs("\r\033[K", stderr);
			progress_shown = 0;
		}
		fprintf(stderr, "%s: %s%s%s\n", ev->kind == COFFER_EVENT_ERROR ? "error" : "warning",
		        ev->path ? ev->path : "", ev->path ? ": " : "", ev->message ? ev->message : "");
		return;
	}
	if (!isatty(STDERR_FILENO) || !ev->stats)
		return;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!progress_start.tv_sec)
		progress_start = now;
	double elapsed = (double)(now.tv_sec - progress_start.tv_sec) +
	                 (double)(now.tv_nsec - progress_start.tv_nsec) / 1e9;
	const coffer_snapshot_stats *s = ev->stats;
	char done[32], rate[32];
	cli_format_bytes(s->bytes, done);
	double bps = elapsed > 0.1 ? (double)s->bytes / elapsed : 0;
	cli_format_bytes((uint64_t)bps, rate);
	char eta[32] = "";
	if (ev->total_bytes > s->bytes && bps > 0) {
		unsigned long secs = (unsigned long)((double)(ev->total_bytes - s->bytes) / bps);
		snprintf(eta, sizeof(eta), ", ETA %lu:%02lu", secs / 60, secs % 60);
	}
	fprintf(stderr, "\r\033[K%llu files, %s, %s/s%s", (unsigned long long)s->files, done, rate, eta);
	fflush(stderr);
	progress_shown = 1;
}

void cli_progress_done(void)
{
	if (progress_shown) {
		fputs("\r\033[K", stderr);
		progress_shown = 0;
	}
	progress_start.tv_sec = 0;
}

void cli_json_snapshot(coffer_json *j, const coffer_snapshot_info *s)
{
	char start[40], end[40];
	coffer_time_format_rfc3339(s->start_time_ns, start);
	coffer_time_format_rfc3339(s->end_time_ns, end);
	coffer_json_object_begin(j);
	coffer_json_key(j, "id");
	coffer_json_string(j, s->id);
	coffer_json_key(j, "source");
	coffer_json_string(j, s->source);
	coffer_json_key(j, "startTime");
	coffer_json_string(j, start);
	coffer_json_key(j, "endTime");
	coffer_json_string(j, end);
	coffer_json_key(j, "incomplete");
	coffer_json_bool(j, s->incomplete);
	coffer_json_key(j, "pinned");
	coffer_json_bool(j, s->pinned);
	coffer_json_key(j, "tags");
	coffer_json_object_begin(j);
	for (size_t i = 0; i < s->tag_count; i++) {
		coffer_json_key(j, s->tags[i].key);
		coffer_json_string(j, s->tags[i].value);
	}
	coffer_json_object_end(j);
	coffer_json_key(j, "stats");
	coffer_json_object_begin(j);
	const coffer_snapshot_stats *st = &s->stats;
	coffer_json_key(j, "files");
	coffer_json_uint(j, st->files);
	coffer_json_key(j, "dirs");
	coffer_json_uint(j, st->dirs);
	coffer_json_key(j, "symlinks");
	coffer_json_uint(j, st->symlinks);
	coffer_json_key(j, "others");
	coffer_json_uint(j, st->others);
	coffer_json_key(j, "bytes");
	coffer_json_uint(j, st->bytes);
	coffer_json_key(j, "readBytes");
	coffer_json_uint(j, st->read_bytes);
	coffer_json_key(j, "newBytes");
	coffer_json_uint(j, st->new_bytes);
	coffer_json_key(j, "storedBytes");
	coffer_json_uint(j, st->stored_bytes);
	coffer_json_key(j, "cachedFiles");
	coffer_json_uint(j, st->cached_files);
	coffer_json_key(j, "errors");
	coffer_json_uint(j, st->errors);
	coffer_json_object_end(j);
	coffer_json_key(j, "toolVersion");
	coffer_json_string(j, s->tool_version);
	coffer_json_object_end(j);
}
