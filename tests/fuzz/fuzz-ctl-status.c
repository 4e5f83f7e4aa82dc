// FUZZ_SOURCES: plugins/frontend-controller/ctl_status.c core/src/json.c core/src/timefmt.c core/src/error.c core/src/alloc.c plugins/frontend-controller/ctl_util.c
// FUZZ_LIBS: -lconfig -lyaml
// FUZZ_CORPUS:
/* The controller's status file loader on arbitrary bytes (through a real file, as
 * ctl_status_load reads it): no crash, no leak, a message naming the file for every
 * refusal; a loaded status saves and loads back the same, prints as JSON, and prints as YAML
 * that libyaml reads. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "../../plugins/frontend-controller/ctl_status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* libconfig before 1.7.3 leaks the string a syntax error discards (hyperrealm/libconfig#142,
 * in the lexer and its string buffer); Debian 12 ships 1.5. The Check tests, without this,
 * still catch a missing config_destroy on files that parse. */
const char *__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n";
}

static char state[96];
static char *path;

static void remove_tree(const char *dir)
{
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static void remove_state(void)
{
	remove_tree(state);
}

/* libFuzzer often ends with _Exit, so the folders of earlier runs are removed here, once the
 * process that made each one is gone. */
static void remove_stale(const char *base)
{
	DIR *d = opendir(base);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		long pid;
		char full[128];
		if (sscanf(e->d_name, "fuzz-ctl-status-%ld", &pid) == 1 && pid > 0 && kill((pid_t)pid, 0) != 0 &&
		    errno == ESRCH) {
			snprintf(full, sizeof(full), "%s/%s", base, e->d_name);
			remove_tree(full);
		}
	}
	if (d)
		closedir(d);
}

static void setup(void)
{
	/* tmpfs when there is one: every accepted input is saved with fsync. */
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	remove_stale(base);
	snprintf(state, sizeof(state), "%s/fuzz-ctl-status-%ld", base, (long)getpid());
	remove_tree(state);
	if (mkdir(state, 0700) != 0)
		abort();
	atexit(remove_state);
	ctl_status s;
	char err[512];
	ctl_status_init(&s);
	s.kind = "ReplicationSource";
	s.namespace_ = "ns";
	s.name = "obj";
	if (ctl_status_save(state, &s, err, sizeof(err)) != 0)
		abort();
	path = ctl_status_path(state, "ReplicationSource", "ns", "obj");
}

static char *print(const ctl_status *s, ctl_output fmt)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f || ctl_status_print(f, s, NULL, fmt) != 0)
		abort();
	fclose(f);
	/* JSON may hold characters YAML 1.1 streams may not (U+FFFF); only YAML is read back. */
	if (fmt == CTL_OUTPUT_JSON)
		return buf;
	yaml_parser_t parser;
	yaml_document_t doc;
	if (!yaml_parser_initialize(&parser))
		abort();
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc) || !yaml_document_get_root_node(&doc)) {
		fprintf(stderr, "libyaml cannot read:\n%s\n", buf);
		abort();
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return buf;
}

/* The input as a valid file whose string values are the input's NUL-separated pieces, so
 * that printing and saving see arbitrary bytes (libconfig itself is not instrumented, so the
 * fuzzer would rarely find valid files on its own). */
static void write_structured(FILE *f, const uint8_t *data, size_t size)
{
	static const char *const keys[] = { "mover_logs",  "cond_message", "last_manual_sync", "mover_result",
		                            "last_snapshot", "latest_image", "cond_reason",      "cond_status",
		                            "spec_digest" };
	int64_t t = 0;
	for (size_t i = 0; i < 8 && i < size; i++)
		t = (int64_t)((uint64_t)t << 8 | data[i]);
	fprintf(f, "last_sync_time = %lldL;\nretry_time = %lldL;\nlast_sync_duration_ns = %lldL;\n", (long long)t,
	        (long long)~t, (long long)(t >> 8));
	size_t k = 0;
	for (size_t start = 0; start < size && k < sizeof(keys) / sizeof(keys[0]); k++) {
		const uint8_t *end = memchr(data + start, 0, size - start);
		size_t stop = end ? (size_t)(end - data) : size;
		fprintf(f, "%s = \"", keys[k]);
		for (size_t i = start; i < stop; i++) {
			if (data[i] >= 0x20 && data[i] < 0x7f && data[i] != '"' && data[i] != '\\')
				fputc(data[i], f);
			else
				fprintf(f, "\\x%02x", data[i]);
		}
		fputs("\";\n", f);
		start = stop + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!path)
		setup();
	FILE *f = fopen(path, "wb");
	if (!f)
		abort();
	if (size > 0 && data[0] == 'S')
		write_structured(f, data + 1, size - 1);
	else
		fwrite(data, 1, size, f);
	fclose(f);

	ctl_status s, back;
	char err[1024];
	err[0] = '\0';
	if (ctl_status_load(state, "ReplicationSource", "ns", "obj", &s, err, sizeof(err)) != 0) {
		if (!strstr(err, path) || s.name)
			abort();
		return 0;
	}
	char *yaml = print(&s, CTL_OUTPUT_YAML);
	char *json = print(&s, CTL_OUTPUT_JSON);
	if (ctl_status_save(state, &s, err, sizeof(err)) != 0 ||
	    ctl_status_load(state, "ReplicationSource", "ns", "obj", &back, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	char *yaml2 = print(&back, CTL_OUTPUT_YAML);
	if (strcmp(yaml, yaml2) != 0 || strcmp(s.spec_digest ? s.spec_digest : "", back.spec_digest ? back.spec_digest : "") ||
	    s.last_sync_duration_ns != back.last_sync_duration_ns) {
		fprintf(stderr, "not the same after save and load:\n%s\n---\n%s\n", yaml, yaml2);
		abort();
	}
	free(yaml);
	free(yaml2);
	free(json);
	ctl_status_clear(&s);
	ctl_status_clear(&back);
	return 0;
}
