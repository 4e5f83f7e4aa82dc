// FUZZ_SOURCES: core/src/error.c core/src/alloc.c
// FUZZ_LIBS:
// FUZZ_CORPUS:
/* backend-fs name mapping on arbitrary bytes. As a blob name: the path stays below the
 * root, every segment is a safe file name, and decoding the segments gives the name back.
 * As a directory entry read from a (possibly hostile) repository: decoding never
 * overflows, and whatever decodes has exactly one spelling. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

/* The plugin's helpers are static; compile them into this target. */
#include "../../plugins/backend-fs/backend-fs.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *name)
{
	fs_state st = { (char *)"/r", 2 };
	fs_blob_path where;
	if (fs_blob_path_make(&st, name, &where) != 0)
		abort();
	const char *p = where.file;
	if (strncmp(p, "/r/", 3) != 0 || strlen(p) < 9 || p[5] != '/' || p[8] != '/' ||
	    strncmp(p, where.dir, strlen(where.dir)) != 0)
		abort();
	char decoded[FS_NAME_MAX + 1];
	size_t len = 0;
	const char *segment = p + 9;
	for (;;) {
		const char *slash = strchr(segment, '/');
		size_t seg_len = slash ? (size_t)(slash - segment) : strlen(segment);
		if (seg_len == 0 || seg_len > FS_SEGMENT_HARD_MAX + 1 || segment[0] == '.')
			abort();
		for (size_t i = 0; i < seg_len; i++)
			if ((unsigned char)segment[i] < 0x20 || segment[i] == 0x7f)
				abort();
		int continuation = slash != NULL;
		if (continuation != (segment[seg_len - 1] == '%'))
			abort(); /* only folders end in a bare '%' */
		if (fs_decode_segment(segment, seg_len - (size_t)continuation, decoded, &len) != 0)
			abort();
		if (!slash)
			break;
		segment = slash + 1;
	}
	if (len != strlen(name) || memcmp(decoded, name, len) != 0)
		abort();
	fs_blob_path_free(&where);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[FS_NAME_MAX + 1];
	size_t n = size > FS_NAME_MAX ? FS_NAME_MAX : size;
	memcpy(name, data, n);
	name[n] = '\0';
	if (name[0])
		check_name(name);

	/* as a directory entry */
	char decoded[FS_NAME_MAX + 1];
	size_t len = 0;
	if (n > 0 && strlen(name) == n && fs_decode_segment(name, n, decoded, &len) == 0) {
		if (len == 0 || len > FS_NAME_MAX)
			abort();
		decoded[len] = '\0';
		if (n <= FS_SEGMENT_SOFT_MAX && strlen(decoded) == len) {
			fs_state st = { (char *)"/r", 2 };
			fs_blob_path where;
			if (fs_blob_path_make(&st, decoded, &where) != 0)
				abort();
			if (strcmp(where.file + 9, name) != 0)
				abort(); /* one spelling per name */
			fs_blob_path_free(&where);
		}
	}
	return 0;
}
