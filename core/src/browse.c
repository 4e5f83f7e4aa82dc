/* Browsing a snapshot without restoring it: list a directory, stream a file. */
#include "config.h"

#include "restore_private.h"

#include <coffer/error.h>
#include <coffer/snapshot.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

static void entry_info(const coffer_dirent *e, coffer_entry_info *out)
{
	memset(out, 0, sizeof(*out));
	out->name = e->name ? e->name : "";
	out->name_len = e->name ? e->name_len : 0;
	out->type = e->type;
	out->mode = e->mode;
	out->uid = e->uid;
	out->gid = e->gid;
	out->mtime_ns = e->mtime_ns;
	out->size = e->size;
	out->link_target = e->link_target;
	out->hardlink_group = e->hardlink_group;
	out->rdev = e->rdev;
	out->xattr_count = e->xattr_count;
}

int coffer_snapshot_ls(coffer_repo *repo, const char *snapshot_id, const char *path, coffer_entry_cb cb,
                       void *ud)
{
	if (!repo || !cb)
		return coffer_error_set(COFFER_EINVALID, "ls: no repository or callback");
	coffer_manifest m;
	int rc = coffer_restore_load_manifest(repo, snapshot_id, &m);
	if (rc < 0)
		return rc;
	coffer_dirent entry;
	rc = coffer_restore_resolve(repo, &m, path, &entry, NULL);
	coffer_manifest_clear(&m);
	if (rc < 0)
		return rc;
	coffer_entry_info info;
	if (entry.type != COFFER_ENTRY_DIR) {
		/* a file path lists just that entry, like ls does */
		entry_info(&entry, &info);
		rc = cb(&info, ud);
		coffer_dirent_clear(&entry);
		return rc;
	}
	coffer_dir listing;
	memset(&listing, 0, sizeof(listing));
	rc = coffer_dir_load(repo, &entry.content, &listing);
	if (rc < 0)
		coffer_error_wrap("ls: reading directory /%s", path ? path : "");
	coffer_dirent_clear(&entry);
	for (size_t i = 0; rc == 0 && i < listing.count; i++) {
		entry_info(&listing.entries[i], &info);
		rc = cb(&info, ud);
	}
	coffer_dir_clear(&listing);
	return rc;
}

static int write_all(int fd, const uint8_t *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int coffer_snapshot_cat(coffer_repo *repo, const char *snapshot_id, const char *path, int fd)
{
	if (!repo || fd < 0)
		return coffer_error_set(COFFER_EINVALID, "cat: no repository or output");
	coffer_manifest m;
	int rc = coffer_restore_load_manifest(repo, snapshot_id, &m);
	if (rc < 0)
		return rc;
	coffer_dirent entry;
	char *normalized = NULL;
	rc = coffer_restore_resolve(repo, &m, path, &entry, &normalized);
	coffer_manifest_clear(&m);
	if (rc < 0)
		return rc;
	if (entry.type != COFFER_ENTRY_FILE) {
		rc = coffer_error_set(COFFER_EINVALID, "cat: /%s is not a regular file", normalized);
		goto out;
	}
	coffer_buf buf = COFFER_BUF_INIT;
	uint64_t written = 0;
	for (size_t i = 0; i < entry.content.count && rc == 0; i++) {
		buf.len = 0;
		rc = coffer_store_read(repo, &entry.content.chunks[i], &buf);
		if (rc < 0) {
			coffer_error_wrap("cat: /%s", normalized);
			break;
		}
		if (buf.len != entry.content.sizes[i] || buf.len > entry.size - written) {
			rc = coffer_error_set(COFFER_ECORRUPT,
			                      "cat: /%s: chunk %zu holds %zu bytes where the listing says %u",
			                      normalized, i, buf.len, entry.content.sizes[i]);
			break;
		}
		if (write_all(fd, buf.data, buf.len) < 0) {
			rc = coffer_error_set_errno(COFFER_ERROR, errno, "cat: writing /%s", normalized);
			break;
		}
		written += buf.len;
	}
	if (rc == 0 && written != entry.size)
		rc = coffer_error_set(COFFER_ECORRUPT, "cat: /%s: content is %llu bytes where the listing says %llu",
		                      normalized, (unsigned long long)written, (unsigned long long)entry.size);
	coffer_buf_free(&buf);
out:
	coffer_dirent_clear(&entry);
	coffer_free(normalized);
	return rc;
}
