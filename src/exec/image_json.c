/* JSON (read with the YAML reader: JSON is YAML) and digests of files and layers. */
#include "image_internal.h"

#include <archive.h>
#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kratixfs/doc.h"

#define CHUNK (1 << 16)

int img_json_parse(const struct kfs_buf *text, const char *name, struct kfs_node **out,
		   struct kfs_error *err)
{
	if (!text->data || text->len == 0)
		return kfs_error_set(err, -EINVAL, "%s: empty, expected JSON", name);
	int rc = kfs_doc_parse(text->data, text->len, name, out, err);
	if (rc == 0 && (*out)->type != KFS_MAP && (*out)->type != KFS_SEQ) {
		kfs_node_free(*out);
		*out = NULL;
		return kfs_error_set(err, -EINVAL, "%s: expected a JSON object", name);
	}
	return rc;
}

const char *img_json_str(const struct kfs_node *map, const char *key)
{
	if (!map || map->type != KFS_MAP)
		return NULL;
	struct kfs_node *n = kfs_map_get(map, key);
	return n && n->type != KFS_MAP && n->type != KFS_SEQ && n->type != KFS_NULL ? n->text
										    : NULL;
}

char **img_json_strv(const struct kfs_node *n)
{
	if (!n || n->type != KFS_SEQ)
		return NULL;
	char **v = kfs_xcalloc(n->len + 1, sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; i < n->len; i++)
		if (n->items[i]->type != KFS_MAP && n->items[i]->type != KFS_SEQ)
			v[k++] = kfs_xstrdup(n->items[i]->text);
	return v;
}

static void digest_out(struct sha256_ctx *ctx, char out[KFS_DIGEST_LEN])
{
	unsigned char d[SHA256_DIGEST_SIZE];
	sha256_digest(ctx, sizeof(d), d);
	memcpy(out, "sha256:", 7);
	for (size_t i = 0; i < sizeof(d); i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", d[i]);
}

int img_digest_file(const char *path, char out[KFS_DIGEST_LEN], struct kfs_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kfs_error_set(err, -errno, "%s: %s", path, strerror(errno));
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	unsigned char *chunk = kfs_xmalloc(CHUNK);
	ssize_t r;
	while ((r = read(fd, chunk, CHUNK)) > 0)
		sha256_update(&ctx, (size_t)r, chunk);
	int e = errno;
	free(chunk);
	close(fd);
	if (r < 0)
		return kfs_error_set(err, -e, "%s: %s", path, strerror(e));
	digest_out(&ctx, out);
	return 0;
}

/* Opens a tar as raw bytes with every decompression libarchive knows (gzip, zstd, xz...). */
static struct archive *open_raw(const char *path, const void *mem, size_t len)
{
	struct archive *a = archive_read_new();
	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	int r = path ? archive_read_open_filename(a, path, 1 << 16)
		     : archive_read_open_memory(a, mem, len);
	if (r != ARCHIVE_OK) {
		archive_read_free(a);
		return NULL;
	}
	return a;
}

int img_digest_uncompressed(const char *path, const void *mem, size_t len,
			    char out[KFS_DIGEST_LEN], struct kfs_error *err)
{
	const char *what = path ? path : "layer";
	struct archive *a = open_raw(path, mem, len);
	struct archive_entry *e;
	if (!a || archive_read_next_header(a, &e) != ARCHIVE_OK) {
		int rc = kfs_error_set(err, -EINVAL, "%s: cannot be read: %s", what,
				       a ? archive_error_string(a) : "out of memory");
		if (a)
			archive_read_free(a);
		return rc;
	}
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	unsigned char *chunk = kfs_xmalloc(CHUNK);
	la_ssize_t r;
	while ((r = archive_read_data(a, chunk, CHUNK)) > 0)
		sha256_update(&ctx, (size_t)r, chunk);
	free(chunk);
	int rc = 0;
	if (r < 0)
		rc = kfs_error_set(err, -EINVAL, "%s: cannot be decompressed: %s", what,
				   archive_error_string(a));
	archive_read_free(a);
	if (rc == 0)
		digest_out(&ctx, out);
	return rc;
}
