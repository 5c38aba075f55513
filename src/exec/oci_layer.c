/* Applying a layer (a tar, maybe gzip or zstd) onto an image's root folder, for layers nobody
 * vetted: every path is resolved inside the root (img_open_in_root), so a symbolic
 * link an earlier entry made ("etc -> /etc") is followed as it would be inside the container,
 * never out to the host; an entry whose name has a ".." is refused. Devices are skipped (a
 * container gets its /dev from bwrap), set-user-ID bits dropped, ownership kept only as root.
 *
 * A layer is read twice: its whiteouts first (they remove what the layers below made), then its
 * files, so a whiteout never removes a file of its own layer. */
#include "image_internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define WHITEOUT ".wh."
#define OPAQUE ".wh..wh..opq"

/* Opens the folder rel inside the root, making its missing folders (0755). */
static int open_dir_made(int rootfd, char *rel)
{
	int fd = img_open_in_root(rootfd, rel);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	for (char *p = rel;; p++) {
		if (*p != '/' && *p)
			continue;
		char saved = *p;
		*p = '\0';
		char *slash = strrchr(rel, '/');
		fd = img_open_in_root(rootfd, rel);
		if (fd < 0 && errno == ENOENT) {
			if (slash)
				*slash = '\0';
			int parent = img_open_in_root(rootfd, slash ? rel : "");
			if (slash)
				*slash = '/';
			const char *base = slash ? slash + 1 : rel;
			int r = parent >= 0 ? mkdirat(parent, base, 0755) : -1;
			int e = errno;
			if (parent >= 0)
				close(parent);
			fd = r == 0 ? img_open_in_root(rootfd, rel) : -1;
			if (r < 0)
				errno = e;
		}
		*p = saved;
		if (fd < 0 || !saved)
			return fd;
		close(fd);
	}
}

int img_remove_at(int dirfd, const char *name)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	fchmod(fd, st.st_mode | 0700);
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			rc = img_remove_at(fd, e->d_name);
	closedir(d);
	if (rc == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) < 0)
		rc = -errno;
	return rc;
}

/* Empties a folder (an opaque whiteout): what the layers below put there is gone. */
static int empty_dir(int fd)
{
	int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dup >= 0 ? fdopendir(dup) : NULL;
	if (!d) {
		if (dup >= 0)
			close(dup);
		return -errno;
	}
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			rc = img_remove_at(fd, e->d_name);
	closedir(d);
	return rc;
}

/* Splits an entry's name into its folder and its last component, relative to the root:
 * leading "/" and "./" dropped, "." and empty components skipped. -EPERM for a "..". */
static int split_name(const char *name, char **dir, char **base)
{
	struct kfs_buf out = {0};
	const char *p = name;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 2 && strncmp(p, "..", 2) == 0) {
			kfs_buf_free(&out);
			return -EPERM;
		}
		if (n && !(n == 1 && *p == '.')) {
			if (out.len)
				kfs_buf_addc(&out, '/');
			kfs_buf_add(&out, p, n);
		}
		p += n + (slash ? 1 : 0);
	}
	char *all = kfs_buf_steal(&out);
	char *last = strrchr(all, '/');
	if (last) {
		*last = '\0';
		*dir = all;
		*base = kfs_xstrdup(last + 1);
	} else {
		*dir = kfs_xstrdup("");
		*base = all;
	}
	return 0;
}

struct apply {
	int rootfd;
	const struct img_layer *layer;
	struct archive *a;
	struct kfs_error *err;
	bool root_user; /* running as root: ownership is kept */
};

static int fail(struct apply *ap, int code, const char *entry, const char *what)
{
	return kfs_error_set(ap->err, code, "layer %s: entry '%s': %s", ap->layer->name, entry,
			     what);
}

/* Pass one: a whiteout entry removes its target from the layers below. */
static int apply_whiteout(struct apply *ap, const char *entry, char *dir, const char *base)
{
	const char *target = base + strlen(WHITEOUT);
	bool opaque = strcmp(base, OPAQUE) == 0;
	bool meta = strncmp(base, WHITEOUT WHITEOUT, 8) == 0; /* .wh..wh.*: not a whiteout */
	if (!opaque && !meta &&
	    (!*target || !strcmp(target, ".") || !strcmp(target, "..") || strchr(target, '/'))) {
		char what[160];
		snprintf(what, sizeof(what), "whiteout names '%.40s', which is not a file in its "
			 "folder: refused", target);
		return fail(ap, -EPERM, entry, what);
	}
	int fd = img_open_in_root(ap->rootfd, dir);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0
							  : fail(ap, -EINVAL, entry, strerror(errno));
	int rc = 0;
	if (opaque)
		rc = empty_dir(fd);
	else if (!meta)
		rc = img_remove_at(fd, target);
	close(fd);
	return rc < 0 ? fail(ap, -EINVAL, entry, strerror(-rc)) : 0;
}

static int write_data(struct apply *ap, int fd)
{
	return archive_read_data_into_fd(ap->a, fd) == ARCHIVE_OK ? 0 : -EIO;
}

/* Makes the file, folder, link or FIFO the entry describes under pfd (the folder it is in). */
static int make_entry(struct apply *ap, struct archive_entry *e, int pfd, const char *base)
{
	mode_t type = archive_entry_filetype(e);
	mode_t mode = archive_entry_perm(e) & 01777; /* no set-user-ID or set-group-ID */
	struct stat st;
	bool exists = fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (type == AE_IFDIR) {
		if (exists && S_ISDIR(st.st_mode))
			return fchmodat(pfd, base, mode | 0700, 0) < 0 ? -errno : 0;
		int r = exists ? img_remove_at(pfd, base) : 0;
		if (r < 0)
			return r;
		return mkdirat(pfd, base, mode | 0700) < 0 ? -errno : 0;
	}
	if (exists) {
		int r = img_remove_at(pfd, base);
		if (r < 0)
			return r;
	}
	const char *hard = archive_entry_hardlink(e);
	if (hard) {
		char *hdir, *hbase;
		if (split_name(hard, &hdir, &hbase) < 0)
			return -EPERM;
		int hfd = img_open_in_root(ap->rootfd, hdir);
		int r = hfd >= 0 && linkat(hfd, hbase, pfd, base, 0) == 0 ? 0 : -errno;
		if (hfd >= 0)
			close(hfd);
		free(hdir);
		free(hbase);
		return r;
	}
	if (type == AE_IFLNK) {
		const char *target = archive_entry_symlink(e);
		if (!target || !*target)
			return -EINVAL; /* a symbolic link to nothing */
		return symlinkat(target, pfd, base) < 0 ? -errno : 0;
	}
	if (type == AE_IFIFO)
		return mkfifoat(pfd, base, mode) < 0 ? -errno : 0;
	if (type != AE_IFREG)
		return 0; /* devices and sockets: bwrap gives the container its /dev */
	int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int r = write_data(ap, fd);
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	struct timespec t[2] = {{archive_entry_mtime(e), 0}, {archive_entry_mtime(e), 0}};
	if (r == 0)
		futimens(fd, t);
	close(fd);
	return r;
}

/* Pass two: one entry that is not a whiteout. */
static int apply_entry(struct apply *ap, struct archive_entry *e, const char *entry, char *dir,
		       const char *base)
{
	int pfd = open_dir_made(ap->rootfd, dir);
	if (pfd < 0)
		return fail(ap, -EPERM, entry, "its folder cannot be made inside the image's root "
			    "(a symbolic link in the way?): refused");
	int r = make_entry(ap, e, pfd, base);
	if (r == -EIO) {
		close(pfd);
		return kfs_error_set(ap->err, -EIO, "layer %s: entry '%s': %s", ap->layer->name,
				     entry, archive_error_string(ap->a));
	}
	if (r == 0 && ap->root_user)
		fchownat(pfd, base, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
			 AT_SYMLINK_NOFOLLOW);
	close(pfd);
	return r < 0 ? fail(ap, -EINVAL, entry, strerror(-r)) : 0;
}

static struct archive *open_layer(const struct img_layer *l)
{
	struct archive *a = archive_read_new();
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_empty(a);
	int r = l->path ? archive_read_open_filename(a, l->path, 1 << 16)
			: archive_read_open_memory(a, l->mem->data, l->mem->len);
	if (r != ARCHIVE_OK) {
		archive_read_free(a);
		return NULL;
	}
	return a;
}

static bool is_whiteout(const char *base)
{
	return strncmp(base, WHITEOUT, strlen(WHITEOUT)) == 0;
}

/* One read through the layer: whiteouts only (pass 1) or everything else (pass 2). */
static int apply_pass(struct apply *ap, int pass)
{
	ap->a = open_layer(ap->layer);
	if (!ap->a)
		return kfs_error_set(ap->err, -EINVAL, "layer %s: not a tar archive",
				     ap->layer->name);
	struct archive_entry *e;
	int r, rc = 0;
	while (rc == 0 && (r = archive_read_next_header(ap->a, &e)) == ARCHIVE_OK) {
		const char *entry = archive_entry_pathname(e);
		char *dir, *base;
		if (!entry || split_name(entry, &dir, &base) < 0) {
			rc = fail(ap, -EPERM, entry ? entry : "", "its name has a '..', which would "
				  "leave the image's root: refused");
			break;
		}
		if (*base && is_whiteout(base) == (pass == 1))
			rc = pass == 1 ? apply_whiteout(ap, entry, dir, base)
				       : apply_entry(ap, e, entry, dir, base);
		free(dir);
		free(base);
	}
	if (rc == 0 && r != ARCHIVE_EOF)
		rc = kfs_error_set(ap->err, -EINVAL, "layer %s: %s", ap->layer->name,
				   archive_error_string(ap->a));
	archive_read_free(ap->a);
	ap->a = NULL;
	return rc;
}

int img_layer_apply(int rootfd, const struct img_layer *layer, struct kfs_error *err)
{
	struct apply ap = {.rootfd = rootfd, .layer = layer, .err = err,
			   .root_user = geteuid() == 0};
	int rc = apply_pass(&ap, 1);
	return rc < 0 ? rc : apply_pass(&ap, 2);
}
