/* kfs_image_get: finds an image in the -o images= sources (OCI layouts, save archives), then in
 * the local container storage, and unpacks it once into the cache:
 *
 *   <cache_dir>/sha256-<hex>/rootfs        the image's root folder, its layers applied in order
 *   <cache_dir>/sha256-<hex>/config.json   its config (Entrypoint, Cmd, Env, WorkingDir, User)
 *
 * keyed by the config's digest (the image ID). An image is unpacked into a temporary folder
 * <cache_dir>/.tmp-<hex>-XXXXXX, held under an flock while it is filled, and renamed into place
 * when whole: a crash or a second daemon never leaves half a root where a container runs, and a
 * temporary folder whose lock nobody holds is left from a crash and removed. */
#include "kratixfs/exec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "image_internal.h"
#include "kratixfs/files.h"

static char *entry_dir(const char *cache, const char *digest)
{
	struct kfs_buf b = {0};
	kfs_buf_printf(&b, "%s/sha256-%s", cache, digest + 7);
	return kfs_buf_steal(&b);
}

void kfs_image_free(struct kfs_image *img)
{
	if (!img)
		return;
	free(img->ref);
	free(img->digest);
	free(img->rootfs);
	kfs_strv_free(img->entrypoint);
	kfs_strv_free(img->cmd);
	kfs_strv_free(img->env);
	free(img->workdir);
	free(img->user);
	free(img);
}

static char *nonempty(const char *s)
{
	return s && *s ? kfs_xstrdup(s) : NULL;
}

/* Reads an unpacked image's config.json into a kfs_image. 0, or -ENOENT when not unpacked. */
static int load_cached(const char *dir, const char *ref, const char *digest,
		       struct kfs_image **out, struct kfs_error *err)
{
	struct kfs_buf path = {0}, text = {0};
	kfs_buf_printf(&path, "%s/rootfs", dir);
	bool there = kfs_is_dir(path.data);
	kfs_buf_reset(&path);
	kfs_buf_printf(&path, "%s/config.json", dir);
	struct kfs_error ignored = {0};
	int rc = there ? kfs_read_file(path.data, &text, &ignored) : -ENOENT;
	struct kfs_node *conf = NULL;
	if (rc == 0)
		rc = img_json_parse(&text, path.data, &conf, err);
	kfs_buf_free(&text);
	kfs_buf_free(&path);
	if (rc < 0)
		return rc;
	struct kfs_image *img = kfs_xcalloc(1, sizeof(*img));
	img->ref = kfs_xstrdup(ref);
	img->digest = kfs_xstrdup(digest);
	img->rootfs = kfs_path_join(dir, "rootfs");
	struct kfs_node *c = kfs_map_get(conf, "config");
	img->entrypoint = img_json_strv(kfs_map_get(c, "Entrypoint"));
	img->cmd = img_json_strv(kfs_map_get(c, "Cmd"));
	img->env = img_json_strv(kfs_map_get(c, "Env"));
	img->workdir = nonempty(img_json_str(c, "WorkingDir"));
	img->user = nonempty(img_json_str(c, "User"));
	kfs_node_free(conf);
	*out = img;
	return 0;
}

/* Removes the temporary folders of unpacks that died: their flock is free, and they are older
 * than STALE_AFTER seconds (a folder just made is not locked yet). */
#define STALE_AFTER 60

static void clean_stale(const char *cache)
{
	DIR *d = opendir(cache);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, ".tmp-", 5) != 0)
			continue;
		int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		struct stat st;
		if (fstat(fd, &st) == 0 && st.st_mtime + STALE_AFTER < time(NULL) &&
		    flock(fd, LOCK_EX | LOCK_NB) == 0)
			img_remove_at(dirfd(d), e->d_name);
		close(fd);
	}
	closedir(d);
}

struct unpack {
	char *tmp;    /* the temporary folder */
	int lockfd;   /* holds its flock */
};

static int unpack_begin(const char *cache, const char *digest, struct unpack *u,
			struct kfs_error *err)
{
	int rc = kfs_mkdir_p(cache, err);
	if (rc < 0)
		return rc;
	clean_stale(cache);
	struct kfs_buf b = {0};
	kfs_buf_printf(&b, "%s/.tmp-%.16s-XXXXXX", cache, digest + 7);
	u->tmp = kfs_buf_steal(&b);
	if (!mkdtemp(u->tmp))
		return kfs_error_set(err, -errno, "%s: %s", u->tmp, strerror(errno));
	u->lockfd = open(u->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (u->lockfd < 0 || flock(u->lockfd, LOCK_EX) < 0)
		return kfs_error_set(err, -errno, "%s: %s", u->tmp, strerror(errno));
	return 0;
}

/* Removes the temporary folder (when it was not renamed into place) and drops the lock. */
static void unpack_end(struct unpack *u)
{
	if (u->tmp && access(u->tmp, F_OK) == 0)
		img_remove_at(AT_FDCWD, u->tmp);
	if (u->lockfd >= 0)
		close(u->lockfd);
	free(u->tmp);
	u->tmp = NULL;
	u->lockfd = -1;
}

/* Makes tmp/rootfs and opens it into *fd. */
static int open_root(const char *tmp, int *fd, struct kfs_error *err)
{
	struct kfs_buf root = {0};
	kfs_buf_printf(&root, "%s/rootfs", tmp);
	int rc = 0;
	if (mkdir(root.data, 0755) < 0 ||
	    (*fd = open(root.data, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		rc = kfs_error_set(err, -errno, "%s: %s", root.data, strerror(errno));
	kfs_buf_free(&root);
	return rc;
}

/* Fills u->tmp from what was found: config.json and rootfs/ with every layer applied. */
static int unpack_fill(struct unpack *u, const struct img_source *s, struct img_found *f,
		       struct kfs_error *err)
{
	int rc = img_source_fetch(s, f, u->tmp, err);
	if (rc == 0)
		rc = img_found_verify(f, err);
	if (rc == 0)
		rc = kfs_write_file(u->tmp, "config.json", f->config.data, f->config.len, err);
	int rootfd = -1;
	if (rc == 0)
		rc = open_root(u->tmp, &rootfd, err);
	for (size_t i = 0; rc == 0 && i < f->nlayers; i++) {
		rc = img_layer_apply(rootfd, &f->layers[i], err);
		if (rc < 0)
			kfs_error_prefix(err, "%s", f->where);
	}
	if (rootfd >= 0)
		close(rootfd);
	for (size_t i = 0; i < f->nlayers; i++)
		if (f->layers[i].path && strncmp(f->layers[i].path, u->tmp, strlen(u->tmp)) == 0)
			unlink(f->layers[i].path);
	return rc;
}

/* Whether an unpacked image's folder holds its root and config. */
static bool is_whole(const char *dir)
{
	struct kfs_buf b = {0};
	kfs_buf_printf(&b, "%s/rootfs", dir);
	bool ok = kfs_is_dir(b.data);
	kfs_buf_reset(&b);
	kfs_buf_printf(&b, "%s/config.json", dir);
	ok = ok && kfs_is_file(b.data);
	kfs_buf_free(&b);
	return ok;
}

/* Renames the filled folder into place; another process that got there first wins. */
static int unpack_commit(struct unpack *u, const char *dir, struct kfs_error *err)
{
	struct kfs_buf b = {0};
	kfs_buf_printf(&b, "%s/oci", u->tmp);
	img_remove_at(AT_FDCWD, b.data);
	kfs_buf_free(&b);
	if (rename(u->tmp, dir) == 0)
		return 0;
	if (errno != EEXIST && errno != ENOTEMPTY)
		return kfs_error_set(err, -errno, "%s: %s", dir, strerror(errno));
	if (is_whole(dir))
		return 0;
	/* a folder someone damaged (its rootfs or config.json removed): replaced */
	kfs_buf_printf(&b, "%s.broken", u->tmp);
	if (rename(dir, b.data) == 0)
		img_remove_at(AT_FDCWD, b.data);
	kfs_buf_free(&b);
	if (rename(u->tmp, dir) == 0 || is_whole(dir))
		return 0;
	return kfs_error_set(err, -EIO, "%s: cannot be replaced by a whole unpack", dir);
}

/* Unpacks an image found in an -o images= source. */
static int unpack_found(const char *cache, const struct img_source *s, struct img_found *f,
			struct kfs_error *err)
{
	struct unpack u = {.lockfd = -1};
	char *dir = entry_dir(cache, f->digest);
	int rc = unpack_begin(cache, f->digest, &u, err);
	if (rc == 0)
		rc = unpack_fill(&u, s, f, err);
	if (rc == 0)
		rc = unpack_commit(&u, dir, err);
	unpack_end(&u);
	free(dir);
	return rc;
}

/* Unpacks an image of the container storage: copied out as an OCI layout first. */
static int unpack_storage(const char *cache, const char *root, const char *id,
			  struct kfs_error *err)
{
	struct unpack u = {.lockfd = -1};
	char *dir = entry_dir(cache, id);
	int rc = unpack_begin(cache, id, &u, err);
	char *oci = kfs_path_join(u.tmp ? u.tmp : cache, "oci");
	if (rc == 0)
		rc = img_storage_export(root, id, oci, err);
	struct img_source s = {0};
	struct img_found f = {0};
	struct img_ref want = {.digest = (char *)id, .domain = "localhost", .path = "x"};
	if (rc == 0)
		rc = img_source_open(oci, &s, err);
	if (rc == 0 && (rc = img_source_find(&s, &want, false, &f, err)) == 0)
		rc = kfs_error_set(err, -EIO, "container storage %s: the copy of %s does not hold "
				   "it", root, id);
	if (rc > 0)
		rc = unpack_fill(&u, &s, &f, err);
	if (rc == 0)
		rc = unpack_commit(&u, dir, err);
	img_found_free(&f);
	img_source_close(&s);
	unpack_end(&u);
	free(oci);
	free(dir);
	return rc;
}

/* Looks through the -o images= sources for full names, or (weak) for a layout's bare tag.
 * 1 found (s and f filled), 0 not, negative on a broken source. */
static int find_in_sources(const struct kfs_image_opts *o, const struct img_ref *want, bool weak,
			   struct img_source *s, struct img_found *f, struct kfs_error *err)
{
	for (size_t i = 0; i < o->narchives; i++) {
		int rc = img_source_open(o->archives[i], s, err);
		if (rc == 0)
			rc = img_source_find(s, want, weak, f, err);
		if (rc != 0)
			return rc;
		img_source_close(s);
	}
	return 0;
}

static int not_found(const struct kfs_image_opts *o, const char *ref, const char *storage,
		     struct kfs_error *err)
{
	struct kfs_buf b = {0};
	kfs_buf_printf(&b, "image '%s' not found: looked in ", ref);
	for (size_t i = 0; i < o->narchives; i++)
		kfs_buf_printf(&b, "%s%s", i ? ", " : "-o images=", o->archives[i]);
	if (storage)
		kfs_buf_printf(&b, "%sthe local container storage %s", o->narchives ? " and " : "",
			       storage);
	if (!storage && !o->narchives)
		kfs_buf_adds(&b, "nothing (no -o images= and no container storage)");
	kfs_buf_printf(&b, "; get it with `podman pull %s`, or `podman load -i FILE` for a saved "
		       "archive, or name an OCI layout folder or a save archive with -o images=PATH",
		       ref);
	int rc = kfs_error_set(err, -ENOENT, "%s", b.data);
	kfs_buf_free(&b);
	return rc;
}

/* The image from the -o images= sources, unpacked. 1 found, 0 not, negative on errors. */
static int get_from_sources(const struct kfs_image_opts *o, const char *ref,
			    const struct img_ref *want, bool weak, struct kfs_image **out,
			    struct kfs_error *err)
{
	struct img_source s = {0};
	struct img_found f = {0};
	int rc = find_in_sources(o, want, weak, &s, &f, err);
	if (rc > 0) {
		char *dir = entry_dir(o->cache_dir, f.digest);
		rc = load_cached(dir, ref, f.digest, out, err);
		if (rc == -ENOENT) {
			rc = unpack_found(o->cache_dir, &s, &f, err);
			if (rc == 0)
				rc = load_cached(dir, ref, f.digest, out, err);
		}
		free(dir);
		rc = rc < 0 ? rc : 1;
	}
	img_found_free(&f);
	img_source_close(&s);
	return rc;
}

/* The image from the container storage, unpacked. 1 found, 0 not, negative on errors. */
static int get_from_storage(const struct kfs_image_opts *o, const char *root, const char *ref,
			    const struct img_ref *want, struct kfs_image **out,
			    struct kfs_error *err)
{
	char id[KFS_DIGEST_LEN];
	int rc = img_storage_find(root, want, id, err);
	if (rc <= 0)
		return rc;
	char *dir = entry_dir(o->cache_dir, id);
	rc = load_cached(dir, ref, id, out, err);
	if (rc == -ENOENT) {
		rc = unpack_storage(o->cache_dir, root, id, err);
		if (rc == 0)
			rc = load_cached(dir, ref, id, out, err);
	}
	free(dir);
	return rc < 0 ? rc : 1;
}

int kfs_image_get(const struct kfs_image_opts *opts, const char *ref, struct kfs_image **out,
		  struct kfs_error *err)
{
	*out = NULL;
	if (!opts->cache_dir)
		return kfs_error_set(err, -EINVAL, "image '%s': no cache folder to unpack it in", ref);
	struct img_ref want;
	int rc = img_ref_parse(ref, &want, err);
	if (rc < 0)
		return rc;
	/* full names in every source first: a layout's bare tag is the last resort */
	rc = get_from_sources(opts, ref, &want, false, out, err);
	char *root = opts->use_storage ? img_storage_root() : NULL;
	if (rc == 0 && root)
		rc = get_from_storage(opts, root, ref, &want, out, err);
	if (rc == 0)
		rc = get_from_sources(opts, ref, &want, true, out, err);
	if (rc == 0)
		rc = not_found(opts, ref, root, err);
	free(root);
	img_ref_free(&want);
	return rc < 0 ? rc : 0;
}
