/* Remembered lookups: which image (config digest) a source gives for a reference, or that it
 * has none, so that a later lookup need not read the source again: a compressed save archive
 * is decompressed whole to read its manifest. One small file per answer:
 *
 *   <cache>/refs/<sha256 of (source path, its device, inode, size, mtime; ref; weak)>
 *       "sha256:<hex>\n" (the source gives that image) or "none\n"
 *
 * A source that changes (any write moves its mtime; a new file has a new inode) has a new key:
 * the old answers are never read again. For a layout folder the file is its index.json, which
 * changes when an image is added or removed. */
#include "image_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kratixfs/files.h"

char *img_memo_path(const char *cache, const char *source, const char *ref, bool weak)
{
	struct stat st;
	char *idx = kfs_path_join(source, "index.json");
	char *man = kfs_path_join(source, "manifest.json");
	const char *file = kfs_is_dir(source) ? (kfs_is_file(idx) ? idx : man) : source;
	int r = stat(file, &st);
	free(idx);
	free(man);
	if (r < 0)
		return NULL;
	struct kfs_buf key = {0};
	kfs_buf_printf(&key, "1\n%s\n%llu %llu %lld %lld.%09ld\n%s\n%d", source,
		       (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
		       (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, ref,
		       weak);
	char d[KFS_DIGEST_LEN];
	kfs_sha256_digest(key.data, key.len, d);
	kfs_buf_reset(&key);
	kfs_buf_printf(&key, "%s/refs/%s", cache, d + 7);
	return kfs_buf_steal(&key);
}

int img_memo_get(const char *memo, char digest[KFS_DIGEST_LEN])
{
	struct kfs_buf b = {0};
	struct kfs_error ignored = {0};
	int rc = -1;
	if (memo && kfs_read_file(memo, &b, &ignored) == 0) {
		if (strcmp(b.data, "none\n") == 0)
			rc = 0;
		else if (b.len == KFS_DIGEST_LEN && b.data[KFS_DIGEST_LEN - 1] == '\n') {
			b.data[KFS_DIGEST_LEN - 1] = '\0';
			if (img_is_digest(b.data)) {
				strcpy(digest, b.data);
				rc = 1;
			}
		}
	}
	kfs_buf_free(&b);
	return rc;
}

void img_memo_put(const char *memo, const char *digest)
{
	if (!memo)
		return;
	char text[KFS_DIGEST_LEN + 1];
	snprintf(text, sizeof(text), "%s\n", digest ? digest : "none");
	const char *slash = strrchr(memo, '/');
	char *dir = kfs_xstrndup(memo, (size_t)(slash - memo));
	struct kfs_error ignored = {0};
	kfs_write_file(dir, slash + 1, text, strlen(text), &ignored); /* a memo only saves time */
	free(dir);
}
