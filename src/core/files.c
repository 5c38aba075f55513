/* Files and folders: what the front ends and promise loading share. */
#include "kratixfs/files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int kfs_read_file(const char *path, struct kfs_buf *out, struct kfs_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kfs_error_set(err, -errno, "%s: %s", path, strerror(errno));
	char chunk[65536];
	ssize_t r;
	while ((r = read(fd, chunk, sizeof(chunk))) > 0)
		kfs_buf_add(out, chunk, (size_t)r);
	int saved = errno;
	close(fd);
	if (r < 0)
		return kfs_error_set(err, -saved, "%s: %s", path, strerror(saved));
	kfs_buf_add(out, "", 0); /* data is never NULL after a successful read */
	return 0;
}

/* Makes every folder of path up to its last '/' (all of it when it ends in one). */
static int mkdir_parents(char *path, struct kfs_error *err)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int r = mkdir(path, 0755);
		int e = errno;
		*p = '/';
		if (r < 0 && e != EEXIST)
			return kfs_error_set(err, -e, "%.*s: %s", (int)(p - path), path, strerror(e));
	}
	return 0;
}

int kfs_mkdir_p(const char *dir, struct kfs_error *err)
{
	struct kfs_buf path = {0};
	kfs_buf_printf(&path, "%s/", dir);
	int rc = mkdir_parents(path.data, err);
	kfs_buf_free(&path);
	return rc;
}

/* Opens path with flags, creating missing parent folders only when the open says they are
 * missing: in the common case they exist and that costs no syscall. */
static int open_creating(char *path, int flags, struct kfs_error *err)
{
	int fd = open(path, flags, 0644);
	if (fd < 0 && errno == ENOENT) {
		int rc = mkdir_parents(path, err);
		if (rc < 0)
			return rc;
		fd = open(path, flags, 0644);
	}
	if (fd < 0)
		return kfs_error_set(err, -errno, "%s: %s", path, strerror(errno));
	return fd;
}

/* Writes all of data to fd and closes it. */
static int write_close(int fd, const char *data, size_t len, const char *path,
		       struct kfs_error *err)
{
	int rc = 0;
	for (size_t off = 0; rc == 0 && off < len;) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			rc = kfs_error_set(err, -errno, "%s: %s", path, strerror(errno));
		else
			off += (size_t)w;
	}
	if (close(fd) < 0 && rc == 0)
		rc = kfs_error_set(err, -errno, "%s: %s", path, strerror(errno));
	return rc;
}

int kfs_write_file(const char *dir, const char *rel, const char *data, size_t len,
		   struct kfs_error *err)
{
	struct kfs_buf path = {0}, tmp = {0};
	kfs_buf_printf(&path, "%s/%s", dir, rel);
	kfs_buf_printf(&tmp, "%s.kratixfs-tmp.%ld", path.data, (long)getpid());
	int rc = open_creating(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, err);
	if (rc >= 0)
		rc = write_close(rc, data, len, tmp.data, err);
	if (rc == 0 && rename(tmp.data, path.data) < 0)
		rc = kfs_error_set(err, -errno, "%s: %s", path.data, strerror(errno));
	if (rc < 0)
		unlink(tmp.data);
	kfs_buf_free(&path);
	kfs_buf_free(&tmp);
	return rc;
}

int kfs_write_new_file(const char *dir, const char *rel, const char *data, size_t len,
		       struct kfs_error *err)
{
	struct kfs_buf path = {0};
	kfs_buf_printf(&path, "%s/%s", dir, rel);
	int rc = open_creating(path.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, err);
	if (rc >= 0) {
		rc = write_close(rc, data, len, path.data, err);
		if (rc < 0)
			unlink(path.data);
	}
	kfs_buf_free(&path);
	return rc;
}

int kfs_remove_tree(const char *dir, struct kfs_error *err)
{
	DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		if (errno == ENOTDIR)
			return unlink(dir) == 0 ? 0
						: kfs_error_set(err, -errno, "%s: %s", dir,
								strerror(errno));
		return kfs_error_set(err, -errno, "%s: %s", dir, strerror(errno));
	}
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		struct kfs_buf sub = {0};
		kfs_buf_printf(&sub, "%s/%s", dir, e->d_name);
		struct stat st;
		if (lstat(sub.data, &st) == 0 && S_ISDIR(st.st_mode))
			rc = kfs_remove_tree(sub.data, err);
		else if (unlink(sub.data) < 0)
			rc = kfs_error_set(err, -errno, "%s: %s", sub.data, strerror(errno));
		kfs_buf_free(&sub);
	}
	closedir(d);
	if (rc == 0 && rmdir(dir) < 0)
		rc = kfs_error_set(err, -errno, "%s: %s", dir, strerror(errno));
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* True when path is a symbolic link to a regular file inside root. */
static bool link_inside(const char *root, const char *path)
{
	struct stat st;
	char *target = realpath(path, NULL), *top = realpath(root, NULL);
	size_t tl = top ? strlen(top) : 0;
	bool ok = target && top && strncmp(target, top, tl) == 0 && target[tl] == '/' &&
		  stat(target, &st) == 0 && S_ISREG(st.st_mode);
	free(target);
	free(top);
	return ok;
}

static int walk(const char *root, const char *rel, char ***files, size_t *n, size_t *cap,
		struct kfs_error *err)
{
	struct kfs_buf full = {0};
	kfs_buf_printf(&full, "%s%s%s", root, rel[0] ? "/" : "", rel);
	DIR *d = opendir(full.data);
	if (!d) {
		int rc = errno == ENOENT ? 0
					 : kfs_error_set(err, -errno, "%s: %s", full.data,
							 strerror(errno));
		kfs_buf_free(&full);
		return rc;
	}
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		struct kfs_buf sub = {0}, subfull = {0};
		kfs_buf_printf(&sub, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
		kfs_buf_printf(&subfull, "%s/%s", root, sub.data);
		struct stat st;
		if (lstat(subfull.data, &st) < 0) {
			rc = kfs_error_set(err, -errno, "%s: %s", subfull.data, strerror(errno));
			kfs_buf_free(&sub);
		} else if (S_ISDIR(st.st_mode)) {
			rc = walk(root, sub.data, files, n, cap, err);
			kfs_buf_free(&sub);
		} else if (!S_ISREG(st.st_mode) && !link_inside(root, subfull.data)) {
			/* A link out of the folder would publish any file the daemon can read
			 * (and commit it to Git); a FIFO would hang every reload. */
			rc = kfs_error_set(err, -EPERM,
					   "%s: %s; only regular files, and symbolic links to "
					   "regular files inside %s, are read",
					   subfull.data,
					   S_ISLNK(st.st_mode) ? "a symbolic link out of its folder, "
								 "or to something not a file"
							       : "not a regular file",
					   root);
			kfs_buf_free(&sub);
		} else {
			if (*n == *cap) {
				*cap = *cap ? *cap * 2 : 8;
				*files = kfs_xrealloc(*files, *cap * sizeof(**files));
			}
			(*files)[(*n)++] = kfs_buf_steal(&sub);
		}
		kfs_buf_free(&subfull);
	}
	closedir(d);
	kfs_buf_free(&full);
	return rc;
}

int kfs_list_files(const char *dir, char ***files, size_t *n, struct kfs_error *err)
{
	size_t cap = 0;
	*files = NULL;
	*n = 0;
	int rc = walk(dir, "", files, n, &cap, err);
	if (*n > 1)
		qsort(*files, *n, sizeof(**files), cmp_str);
	return rc;
}

void kfs_free_list(char **files, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
}

const char *kfs_url_local_path(const char *url)
{
	if (strncmp(url, "file://", 7) == 0)
		return url + 7;
	if (strstr(url, "://"))
		return NULL;
	const char *colon = strchr(url, ':'), *slash = strchr(url, '/');
	return colon && (!slash || colon < slash) ? NULL : url; /* host:path is ssh */
}

bool kfs_is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool kfs_is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

char *kfs_path_join(const char *a, const char *b)
{
	struct kfs_buf p = {0};
	kfs_buf_printf(&p, "%s/%s", a, b);
	return kfs_buf_steal(&p);
}
