/* Helpers for the image tests: tiny layer tars written with libarchive, and OCI layouts and
 * docker archives made of them, as `buildah push oci:DIR` and `podman save` lay them out. */
#ifndef KRATIXFS_IMGTEST_H
#define KRATIXFS_IMGTEST_H

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kratixfs/exec.h"
#include "kratixfs/hash.h"
#include "testutil.h"

/* One member of a tar: a file (data), a folder ('d'), a symbolic link ('l', data the target)
 * or a hard link ('h', data the member it names). */
struct it_ent {
	char type; /* 'f', 'd', 'l', 'h' */
	const char *name;
	const char *data;
	int mode;
	size_t len; /* of data, when it is not a C string (0: strlen) */
};

static inline size_t it_len(const struct it_ent *e)
{
	return e->len ? e->len : strlen(e->data);
}

enum it_filter { IT_PLAIN, IT_GZIP, IT_ZSTD };

/* Writes the members as a tar into b; false when libarchive lacks the filter. */
static inline bool it_tar(struct kfs_buf *b, const struct it_ent *e, size_t n, enum it_filter f)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	int r = ARCHIVE_OK;
	if (f == IT_GZIP)
		r = archive_write_add_filter_gzip(a);
	if (f == IT_ZSTD)
		r = archive_write_add_filter_zstd(a);
	if (r != ARCHIVE_OK) {
		archive_write_free(a);
		return false;
	}
	size_t cap = 1 << 23, used = 0;
	char *mem = malloc(cap);
	assert_int_equal(archive_write_open_memory(a, mem, cap, &used), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *en = archive_entry_new();
		archive_entry_set_pathname(en, e[i].name);
		archive_entry_set_mtime(en, 1700000000, 0);
		int mode = e[i].mode ? e[i].mode : (e[i].type == 'd' ? 0755 : 0644);
		if (e[i].type == 'd') {
			archive_entry_set_filetype(en, AE_IFDIR);
		} else if (e[i].type == 'l') {
			archive_entry_set_filetype(en, AE_IFLNK);
			archive_entry_set_symlink(en, e[i].data);
			mode = 0777;
		} else if (e[i].type == 'h') {
			archive_entry_set_filetype(en, AE_IFREG);
			archive_entry_set_hardlink(en, e[i].data);
		} else {
			archive_entry_set_filetype(en, AE_IFREG);
			archive_entry_set_size(en, (la_int64_t)it_len(&e[i]));
		}
		archive_entry_set_perm(en, (mode_t)mode);
		assert_int_equal(archive_write_header(a, en), ARCHIVE_OK);
		if (e[i].type == 'f' && it_len(&e[i]))
			assert_true(archive_write_data(a, e[i].data, it_len(&e[i])) > 0);
		archive_entry_free(en);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	kfs_buf_add(b, mem, used);
	free(mem);
	return true;
}

/* Writes bytes as a blob of an OCI layout; its digest into d. */
static inline void it_blob(const char *layout, const char *data, size_t len,
			   char d[KFS_DIGEST_LEN])
{
	kfs_sha256_digest(data, len, d);
	char rel[128];
	snprintf(rel, sizeof(rel), "blobs/sha256/%s", d + 7);
	struct kfs_error err = {0};
	if (kfs_write_file(layout, rel, data, len, &err) != 0)
		fail_msg("%s", err.msg);
}

/* A config: Entrypoint, Cmd, Env, WorkingDir, User and rootfs.diff_ids of the layers. */
static inline char *it_config(const struct kfs_buf *layers, size_t n)
{
	struct kfs_buf c = {0};
	kfs_buf_adds(&c, "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{"
			 "\"Entrypoint\":[\"/bin/tool\",\"--flag\"],\"Cmd\":[\"run\"],"
			 "\"Env\":[\"PATH=/bin\",\"MODE=test\"],\"WorkingDir\":\"/work\","
			 "\"User\":\"1000:1000\"},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[");
	for (size_t i = 0; i < n; i++) {
		char d[KFS_DIGEST_LEN];
		struct kfs_error err = {0};
		struct kfs_buf raw = {0};
		struct archive *a = archive_read_new();
		archive_read_support_filter_all(a);
		archive_read_support_format_raw(a);
		assert_int_equal(archive_read_open_memory(a, layers[i].data, layers[i].len), 0);
		struct archive_entry *e;
		assert_int_equal(archive_read_next_header(a, &e), ARCHIVE_OK);
		char chunk[65536];
		la_ssize_t r;
		while ((r = archive_read_data(a, chunk, sizeof(chunk))) > 0)
			kfs_buf_add(&raw, chunk, (size_t)r);
		archive_read_free(a);
		kfs_sha256_digest(raw.data, raw.len, d);
		(void)err;
		kfs_buf_printf(&c, "%s\"%s\"", i ? "," : "", d);
		kfs_buf_free(&raw);
	}
	kfs_buf_adds(&c, "]}}");
	return kfs_buf_steal(&c);
}

/* An OCI layout at dir holding one image of these layers, named ref_name (NULL: no name);
 * its config's digest into cfg_digest and its manifest's into man_digest (either may be NULL). */
static inline void it_layout(const char *dir, const char *ref_name, const struct kfs_buf *layers,
			     size_t n, char *cfg_digest, char *man_digest)
{
	char *config = it_config(layers, n);
	char cd[KFS_DIGEST_LEN], md[KFS_DIGEST_LEN];
	it_blob(dir, config, strlen(config), cd);
	struct kfs_buf m = {0};
	kfs_buf_printf(&m, "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest."
			   "v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config."
			   "v1+json\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[", cd, strlen(config));
	for (size_t i = 0; i < n; i++) {
		char ld[KFS_DIGEST_LEN];
		it_blob(dir, layers[i].data, layers[i].len, ld);
		kfs_buf_printf(&m, "%s{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
				   "\"digest\":\"%s\",\"size\":%zu}", i ? "," : "", ld, layers[i].len);
	}
	kfs_buf_adds(&m, "]}");
	it_blob(dir, m.data, m.len, md);
	struct kfs_buf idx = {0};
	kfs_buf_printf(&idx, "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci."
			     "image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu", md, m.len);
	if (ref_name)
		kfs_buf_printf(&idx, ",\"annotations\":{\"org.opencontainers.image.ref.name\":\"%s\"}",
			       ref_name);
	kfs_buf_adds(&idx, "}]}");
	tu_write(dir, "index.json", idx.data);
	tu_write(dir, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
	if (cfg_digest)
		strcpy(cfg_digest, cd);
	if (man_digest)
		strcpy(man_digest, md);
	kfs_buf_free(&m);
	kfs_buf_free(&idx);
	free(config);
}

/* A docker archive (as `podman save` writes one) at file: manifest.json naming the image
 * repo_tag, its config <hex>.json, each layer as <n>/layer.tar, reached through a symbolic link
 * member when via_link (as older `docker save` does). */
static inline void it_docker_archive(const char *file, const char *repo_tag,
				     const struct kfs_buf *layers, size_t n, bool via_link,
				     char *cfg_digest)
{
	char *config = it_config(layers, n);
	char cd[KFS_DIGEST_LEN];
	kfs_sha256_digest(config, strlen(config), cd);
	struct it_ent ents[20];
	char names[8][80], links[8][80], targets[8][84];
	size_t k = 0;
	struct kfs_buf man = {0};
	kfs_buf_printf(&man, "[{\"Config\":\"%s.json\",\"RepoTags\":[\"%s\"],\"Layers\":[", cd + 7,
		       repo_tag);
	for (size_t i = 0; i < n && i < 8; i++) {
		snprintf(names[i], sizeof(names[i]), "blob%zu.tar", i);
		snprintf(links[i], sizeof(links[i]), "layer%zu/layer.tar", i);
		snprintf(targets[i], sizeof(targets[i]), "../blob%zu.tar", i);
		ents[k++] = (struct it_ent){'f', names[i], layers[i].data, 0644, layers[i].len};
		if (via_link)
			ents[k++] = (struct it_ent){'l', links[i], targets[i], 0, 0};
		kfs_buf_printf(&man, "%s\"%s\"", i ? "," : "", via_link ? links[i] : names[i]);
	}
	kfs_buf_adds(&man, "]}]");
	char cfgname[80];
	snprintf(cfgname, sizeof(cfgname), "%s.json", cd + 7);
	ents[k++] = (struct it_ent){'f', cfgname, config, 0644, 0};
	ents[k++] = (struct it_ent){'f', "manifest.json", man.data, 0644, 0};
	struct kfs_buf tar = {0};
	assert_true(it_tar(&tar, ents, k, IT_PLAIN));
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, tar.data, tar.len), (ssize_t)tar.len);
	close(fd);
	if (cfg_digest)
		strcpy(cfg_digest, cd);
	kfs_buf_free(&tar);
	kfs_buf_free(&man);
	free(config);
}

/* The image tests' fixture; cmocka comes first (these fail the test). */
/* A scratch folder with layout/ (or archives) and cache/. */
struct fx {
	char *dir, *layout, *cache;
	struct kfs_image_opts o;
	const char *srcs[4];
};

static inline void fx_init(struct fx *f)
{
	f->dir = tu_mkdtemp();
	f->layout = kfs_path_join(f->dir, "layout");
	f->cache = kfs_path_join(f->dir, "cache");
	f->srcs[0] = f->layout;
	f->o = (struct kfs_image_opts){.cache_dir = f->cache, .archives = f->srcs, .narchives = 1};
}

static inline void fx_free(struct fx *f)
{
	free(f->layout);
	free(f->cache);
	tu_rmdir(f->dir);
}

static inline char *in_root(const struct kfs_image *img, const char *rel)
{
	return kfs_path_join(img->rootfs, rel);
}

static inline bool exists_in(const struct kfs_image *img, const char *rel)
{
	char *p = in_root(img, rel);
	struct stat st;
	bool ok = lstat(p, &st) == 0;
	free(p);
	return ok;
}

static inline char *read_in(const struct kfs_image *img, const char *rel)
{
	char *p = in_root(img, rel);
	struct kfs_buf b = {0};
	struct kfs_error err = {0};
	if (kfs_read_file(p, &b, &err) != 0)
		fail_msg("%s", err.msg);
	free(p);
	return kfs_buf_steal(&b);
}

static inline struct kfs_image *get_ok(const struct kfs_image_opts *o, const char *ref)
{
	struct kfs_image *img = NULL;
	struct kfs_error err = {0};
	if (kfs_image_get(o, ref, &img, &err) != 0)
		fail_msg("%s: %s", ref, err.msg);
	return img;
}

#endif
