/* The root a container sees: a merged root per image and container folder, made once, of hard
 * links to the unpacked image's files, with empty mount points where bwrap binds /kratix, /proc,
 * /dev, /tmp and the folder's COPY/ADD sources. The sources are bound as they are at each run,
 * so an edit of a script shows at the next render; the merged root never changes after it is
 * made, except for new mount points (docs/exec.md). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kratixfs/files.h"
#include "kratixfs/hash.h"
#include "run_internal.h"

/* Copies the tree src into dst (which exists): folders made, files hard-linked, symbolic links
 * copied; devices and sockets left out (bwrap gives the sandbox its own /dev). */
static int farm(const char *src, const char *dst, struct kfs_error *err)
{
	DIR *d = opendir(src);
	if (!d)
		return kfs_error_set(err, -errno, "exec: %s: %s", src, strerror(errno));
	int rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		struct kfs_buf s = {0}, t = {0};
		kfs_buf_printf(&s, "%s/%s", src, e->d_name);
		kfs_buf_printf(&t, "%s/%s", dst, e->d_name);
		struct stat st;
		char target[PATH_MAX];
		ssize_t n;
		if (lstat(s.data, &st) < 0) {
			rc = kfs_error_set(err, -errno, "exec: %s: %s", s.data, strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			if (mkdir(t.data, (st.st_mode & 07777) | 0700) < 0)
				rc = kfs_error_set(err, -errno, "exec: %s: %s", t.data,
						   strerror(errno));
			else
				rc = farm(s.data, t.data, err);
		} else if (S_ISREG(st.st_mode)) {
			if (link(s.data, t.data) < 0)
				rc = kfs_error_set(err, -errno, "exec: link %s: %s", t.data,
						   strerror(errno));
		} else if (S_ISLNK(st.st_mode) &&
			   (n = readlink(s.data, target, sizeof(target) - 1)) >= 0) {
			target[n] = 0;
			if (symlink(target, t.data) < 0)
				rc = kfs_error_set(err, -errno, "exec: %s: %s", t.data,
						   strerror(errno));
		}
		kfs_buf_free(&s);
		kfs_buf_free(&t);
	}
	closedir(d);
	return rc;
}

static int copy_file(const char *src, const char *dst, mode_t mode, struct kfs_error *err)
{
	struct kfs_buf data = {0};
	int rc = kfs_read_file(src, &data, err);
	int fd = rc == 0 ? open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777) : -1;
	if (rc == 0 && fd < 0)
		rc = kfs_error_set(err, -errno, "exec: %s: %s", dst, strerror(errno));
	if (fd >= 0) {
		if (data.len && write(fd, data.data, data.len) != (ssize_t)data.len)
			rc = kfs_error_set(err, -EIO, "exec: %s: short write", dst);
		close(fd);
	}
	kfs_buf_free(&data);
	return rc;
}

int root_copy_tree(const char *src, const char *dst, struct kfs_error *err)
{
	struct stat st;
	if (lstat(src, &st) < 0 || !S_ISDIR(st.st_mode))
		st.st_mode = S_IFDIR | 01777;
	if (mkdir(dst, 0700) < 0 || chmod(dst, st.st_mode & 07777) < 0)
		return kfs_error_set(err, -errno, "exec: %s: %s", dst, strerror(errno));
	DIR *d = opendir(src);
	int rc = 0;
	for (struct dirent *e; rc == 0 && d && (e = readdir(d));) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		struct kfs_buf s = {0}, t = {0};
		kfs_buf_printf(&s, "%s/%s", src, e->d_name);
		kfs_buf_printf(&t, "%s/%s", dst, e->d_name);
		char target[PATH_MAX];
		ssize_t n;
		if (lstat(s.data, &st) < 0)
			rc = kfs_error_set(err, -errno, "exec: %s: %s", s.data, strerror(errno));
		else if (S_ISDIR(st.st_mode))
			rc = root_copy_tree(s.data, t.data, err);
		else if (S_ISREG(st.st_mode))
			rc = copy_file(s.data, t.data, st.st_mode, err);
		else if (S_ISLNK(st.st_mode) && (n = readlink(s.data, target, sizeof(target) - 1)) >= 0)
			target[n] = '\0', rc = symlink(target, t.data) < 0 ? -errno : 0;
		kfs_buf_free(&s);
		kfs_buf_free(&t);
	}
	if (d)
		closedir(d);
	return rc;
}

/* Makes path (absolute in the sandbox) a folder under root, with its parents. A name that
 * is a symbolic link in the image is refused: bwrap would follow it out of the root. */
static int ensure_dir(const char *root, const char *path, struct kfs_error *err)
{
	struct kfs_buf at = {0};
	kfs_buf_adds(&at, root);
	int rc = 0;
	for (const char *p = path; *p && rc == 0;) {
		while (*p == '/')
			p++;
		const char *end = strchrnul(p, '/');
		if (end == p)
			break;
		kfs_buf_addc(&at, '/');
		kfs_buf_add(&at, p, (size_t)(end - p));
		struct stat st;
		if (lstat(at.data, &st) == 0 && !S_ISDIR(st.st_mode))
			rc = kfs_error_set(err, -EINVAL,
					   "exec: %s: needs a folder at %.*s, and the image has a "
					   "file or link there",
					   path, (int)(end - path), path);
		else if (mkdir(at.data, 0755) < 0 && errno != EEXIST)
			rc = kfs_error_set(err, -errno, "exec: %s: %s", at.data, strerror(errno));
		p = end;
	}
	kfs_buf_free(&at);
	return rc;
}

int root_ensure_dir(struct runner *r, const char *root, const char *path, struct kfs_error *err)
{
	pthread_mutex_lock(&r->lock);
	int rc = ensure_dir(root, path, err);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* An empty file at path under root (its folder made), unless a file is there. */
static int ensure_file(const char *root, const char *path, struct kfs_error *err)
{
	char *parent = kfs_xstrdup(path);
	char *slash = strrchr(parent, '/');
	if (slash)
		*slash = '\0';
	int rc = ensure_dir(root, parent, err);
	free(parent);
	struct kfs_buf at = {0};
	kfs_buf_printf(&at, "%s%s", root, path);
	struct stat st;
	if (rc == 0 && lstat(at.data, &st) == 0) {
		if (!S_ISREG(st.st_mode))
			rc = kfs_error_set(err, -EINVAL,
					   "exec: %s: the image has a folder or link there; COPY a "
					   "file to a path the image does not use",
					   path);
	} else if (rc == 0) {
		int fd = open(at.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 && errno != EEXIST)
			rc = kfs_error_set(err, -errno, "exec: %s: %s", at.data, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	kfs_buf_free(&at);
	return rc;
}

int root_get(struct runner *r, const struct kfs_image *img, const char *folder, char **out,
	     struct kfs_error *err)
{
	struct kfs_buf key = {0};
	kfs_buf_printf(&key, "%s%c%s", img ? img->digest : "scratch", '\0', folder ? folder : "");
	char digest[KFS_DIGEST_LEN];
	kfs_sha256_digest(key.data, key.len, digest);
	kfs_buf_free(&key);
	struct kfs_buf path = {0};
	kfs_buf_printf(&path, "%s/%.16s", r->roots_dir, digest + 7);
	struct stat st;
	int rc = 0;
	pthread_mutex_lock(&r->lock);
	if (stat(path.data, &st) != 0) {
		kfs_mkdir_p(r->roots_dir, NULL);
		struct kfs_buf tmp = {0};
		kfs_buf_printf(&tmp, "%s.new", path.data);
		kfs_remove_tree(tmp.data, NULL);
		if (mkdir(tmp.data, 0755) < 0)
			rc = kfs_error_set(err, -errno, "exec: %s: %s", tmp.data, strerror(errno));
		if (rc == 0 && img)
			rc = farm(img->rootfs, tmp.data, err);
		static const char *const points[] = {"/kratix/input", "/kratix/output",
						     "/kratix/metadata", "/proc", "/dev", "/tmp"};
		for (size_t i = 0; i < sizeof(points) / sizeof(*points) && rc == 0; i++)
			rc = ensure_dir(tmp.data, points[i], err);
		if (rc == 0 && rename(tmp.data, path.data) < 0)
			rc = kfs_error_set(err, -errno, "exec: %s: %s", path.data, strerror(errno));
		if (rc < 0)
			kfs_remove_tree(tmp.data, NULL);
		kfs_buf_free(&tmp);
	}
	pthread_mutex_unlock(&r->lock);
	if (rc < 0) {
		kfs_buf_free(&path);
		return rc;
	}
	*out = kfs_buf_steal(&path);
	return 0;
}

/* Binds host (a file or folder of the container folder) at dest, making its mount point. A
 * folder copied onto a folder the image already fills is bound entry by entry, so that the
 * image's files stay beside the copied ones, as COPY merges them. */
static int bind_one(struct runner *r, struct sandbox *sb, const char *host, const char *dest,
		    struct kfs_error *err)
{
	struct stat st, in_image;
	if (stat(host, &st) < 0)
		return kfs_error_set(err, -EINVAL, "%s: %s", host, strerror(errno));
	struct kfs_buf img_path = {0};
	kfs_buf_printf(&img_path, "%s%s", sb->root, dest);
	bool merge = S_ISDIR(st.st_mode) && lstat(img_path.data, &in_image) == 0 &&
		     S_ISDIR(in_image.st_mode);
	DIR *d = merge ? opendir(img_path.data) : NULL;
	size_t entries = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		entries += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	if (d)
		closedir(d);
	kfs_buf_free(&img_path);
	int rc = 0;
	if (merge && entries > 0) {
		d = opendir(host);
		for (struct dirent *e; rc == 0 && d && (e = readdir(d));) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			struct kfs_buf h = {0}, t = {0};
			kfs_buf_printf(&h, "%s/%s", host, e->d_name);
			kfs_buf_printf(&t, "%s%s%s", dest, dest[strlen(dest) - 1] == '/' ? "" : "/",
				       e->d_name);
			rc = bind_one(r, sb, h.data, t.data, err);
			kfs_buf_free(&h);
			kfs_buf_free(&t);
		}
		if (d)
			closedir(d);
		return rc;
	}
	pthread_mutex_lock(&r->lock);
	rc = S_ISDIR(st.st_mode) ? ensure_dir(sb->root, dest, err)
				 : ensure_file(sb->root, dest, err);
	pthread_mutex_unlock(&r->lock);
	if (rc == 0) {
		strv_add(&sb->binds, host);
		strv_add(&sb->binds, dest);
	}
	return rc;
}

/* The sources one COPY names, as host paths inside folder (globs expanded). */
static int copy_sources(const char *folder, const char *src, glob_t *g, struct kfs_error *err)
{
	struct kfs_buf pattern = {0};
	kfs_buf_printf(&pattern, "%s/%s", folder, src);
	int grc = glob(pattern.data, GLOB_NOSORT | GLOB_NOESCAPE, NULL, g);
	int rc = 0;
	if (grc != 0)
		rc = kfs_error_set(err, -EINVAL,
				   "%s/Dockerfile: COPY %s: no such file in the container folder",
				   folder, src);
	char *top = rc == 0 ? realpath(folder, NULL) : NULL;
	for (size_t i = 0; rc == 0 && i < g->gl_pathc; i++) {
		char *real = realpath(g->gl_pathv[i], NULL);
		size_t tl = top ? strlen(top) : 0;
		if (!real || !top || strncmp(real, top, tl) != 0 || (real[tl] && real[tl] != '/'))
			rc = kfs_error_set(err, -EINVAL,
					   "%s/Dockerfile: COPY %s: leaves the container folder (the "
					   "build context)",
					   folder, src);
		free(real);
	}
	free(top);
	kfs_buf_free(&pattern);
	if (rc < 0 && grc == 0)
		globfree(g);
	return rc;
}

int root_add_copies(struct runner *r, struct sandbox *sb, const struct kfs_recipe *rc,
		    const struct kfs_image *base, const char *folder, struct kfs_error *err)
{
	int ret = 0;
	for (size_t i = 0; i < rc->ncopies && ret == 0; i++) {
		const struct kfs_copy *cp = &rc->copies[i];
		glob_t g;
		if ((ret = copy_sources(folder, cp->src, &g, err)) < 0)
			break;
		struct kfs_buf dest = {0};
		char *abs = kfs_recipe_dest(cp, base);
		kfs_buf_adds(&dest, abs);
		free(abs);
		struct stat st;
		struct kfs_buf in_image = {0};
		kfs_buf_printf(&in_image, "%s%s", sb->root, dest.data);
		bool into = dest.data[dest.len - 1] == '/' || g.gl_pathc > 1 ||
			    (lstat(in_image.data, &st) == 0 && S_ISDIR(st.st_mode));
		kfs_buf_free(&in_image);
		for (size_t k = 0; k < g.gl_pathc && ret == 0; k++) {
			const char *host = g.gl_pathv[k];
			struct stat hs;
			bool is_dir = stat(host, &hs) == 0 && S_ISDIR(hs.st_mode);
			struct kfs_buf target = {0};
			const char *base = strrchr(host, '/') + 1;
			if (into && !is_dir)
				kfs_buf_printf(&target, "%s%s%s", dest.data,
					       dest.data[dest.len - 1] == '/' ? "" : "/", base);
			else
				kfs_buf_adds(&target, dest.data);
			ret = bind_one(r, sb, host, target.data, err);
			kfs_buf_free(&target);
		}
		kfs_buf_free(&dest);
		globfree(&g);
	}
	return ret;
}
