/* Editors' scratch files: any name at the top of a request folder that the store never shows
 * (vim's swap and backup files, sed -i's temporary file, 4913) is a real file under
 * <state>/scratch/<request>/. The operations ask is_scratch first and hand such a name here;
 * renames between a scratch file and object.yaml submit or copy the request. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "front.h"
#include "kratixfs/buf.h"

/* Names a request folder's view may hold at its top: never scratch files. */
static const char *const generated_names[] = {
    "object.yaml", "status.yaml", "phase", "log", "feedback", "output", "metadata",
};

bool is_generated_name(const char *name)
{
	for (size_t i = 0; i < sizeof(generated_names) / sizeof(generated_names[0]); i++)
		if (strcmp(name, generated_names[i]) == 0)
			return true;
	return false;
}

/* A top-level name of a request folder that the store never shows: an editor's file. */
bool is_scratch(const struct route *r, const struct kfs_view *v)
{
	return r->area->user_folders && !r->list && r->rel[0] && !strchr(r->rel, '/') &&
	       !is_generated_name(r->rel) && !kfs_view_file(v, r->rel) &&
	       !kfs_view_is_dir(v, r->rel) && strcmp(r->rel, ".") != 0 && strcmp(r->rel, "..") != 0;
}

void scratch_path(char *out, size_t n, const char *request, const char *file)
{
	snprintf(out, n, "%s/%s%s%s", ctx()->scratch_dir, request, file ? "/" : "",
		 file ? file : "");
}

int ensure_scratch_dir(const char *request)
{
	char dir[PATH_MAX];
	scratch_path(dir, sizeof(dir), request, NULL);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Gives a scratch file the daemon just created to the user who asked for it (when the daemon
 * may: as root). */
static void own_new_file(int fd)
{
	const struct kfs_call *c = &kfs_cur;
	if (geteuid() == 0 && (c->uid != 0 || c->gid != 0) && fchown(fd, c->uid, c->gid) < 0) {
		/* The file stays the daemon's: stricter, never looser. */
	}
}

int open_scratch(const struct route *r, int flags, mode_t mode, struct fuse_file_info *fi)
{
	char p[PATH_MAX];
	int rc = ensure_scratch_dir(r->name);
	if (rc)
		return rc;
	scratch_path(p, sizeof(p), r->name, r->rel);
	/* A file this open creates belongs to its creator, as on any filesystem: with
	 * allow_other the kernel checks that owner on every later access. */
	int fd = -1;
	if (flags & O_CREAT) {
		fd = open(p, (flags & ~O_NOFOLLOW) | O_EXCL, mode);
		if (fd >= 0)
			own_new_file(fd);
		else if (errno != EEXIST || (flags & O_EXCL))
			return -errno;
	}
	if (fd < 0)
		fd = open(p, flags & ~(O_NOFOLLOW | O_CREAT), mode);
	if (fd < 0)
		return -errno;
	struct handle *h = handle_new(H_SCRATCH);
	h->fd = fd;
	fi->fh = (uintptr_t)h;
	fi->direct_io = 1;
	/* Every write already went to the real file: a FLUSH would do nothing. */
	fi->noflush = 1;
	return 0;
}

bool scratch_dir_empty(const char *request)
{
	char p[PATH_MAX];
	scratch_path(p, sizeof(p), request, NULL);
	DIR *d = opendir(p);
	if (!d)
		return true;
	struct dirent *e;
	bool empty = true;
	while (empty && (e = readdir(d)))
		empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
	closedir(d);
	return empty;
}

static int read_file_fd(int fd, struct kfs_buf *out, size_t max)
{
	char chunk[65536];
	ssize_t n;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		if (out->len < max)
			kfs_buf_add(out, chunk,
				    (size_t)n > max - out->len ? max - out->len : (size_t)n);
	}
	return n < 0 ? -errno : 0;
}

/* An editor's scratch file renamed onto object.yaml: its content is the new request. */
int scratch_into_object(const struct route *from, const struct route *to)
{
	char p[PATH_MAX];
	scratch_path(p, sizeof(p), from->name, from->rel);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* The daemon reads as root: the renamer must be one who could read the file, or its
	 * content would become theirs to read in object.yaml. */
	const struct kfs_call *c = &kfs_cur;
	struct stat st;
	if (fstat(fd, &st) < 0 ||
	    !(c->uid == 0 || (c->uid == st.st_uid && (st.st_mode & 0400)) ||
	      (c->uid != st.st_uid && c->gid == st.st_gid && (st.st_mode & 0040)) ||
	      (c->uid != st.st_uid && c->gid != st.st_gid && (st.st_mode & 0004)))) {
		close(fd);
		return -EACCES;
	}
	struct kfs_buf b = {0};
	int rc = read_file_fd(fd, &b, ctx()->max_input + 1);
	close(fd);
	if (rc == 0)
		rc = submit(W_OBJECT, to->name, b.data ? b.data : "", b.len);
	if (rc == 0)
		unlink(p);
	kfs_buf_free(&b);
	return rc;
}

/* object.yaml renamed to a scratch name (vim's backup): copy it, keep the request. */
int scratch_copy_object(const struct kfs_view_file *obj, const struct kfs_owner *owner,
			const struct route *to)
{
	char p[PATH_MAX], tmp[PATH_MAX];
	int rc = ensure_scratch_dir(to->name);
	if (rc)
		return rc;
	scratch_path(p, sizeof(p), to->name, to->rel);
	/* As a renamed file keeps its inode, the copy keeps object.yaml's owner and mode (a 0600
	 * object.yaml must not become readable by whoever renamed it); written aside and renamed
	 * into place, so an existing target is replaced, not reused with its owner. */
	snprintf(tmp, sizeof(tmp), "%s/.copy-XXXXXX", ctx()->scratch_dir);
	int fd = mkstemp(tmp);
	if (fd < 0)
		return -errno;
	if ((geteuid() == 0 && fchown(fd, owner->uid, owner->gid) < 0) ||
	    fchmod(fd, owner->obj_mode) < 0)
		rc = -errno;
	size_t done = 0;
	while (rc == 0 && done < obj->len) {
		ssize_t n = write(fd, obj->data + done, obj->len - done);
		if (n < 0)
			rc = -errno;
		else
			done += (size_t)n;
	}
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, p) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

int scratch_stat(const struct route *r, struct stat *st)
{
	char p[PATH_MAX];
	scratch_path(p, sizeof(p), r->name, r->rel);
	return lstat(p, st) < 0 ? -errno : 0;
}

int scratch_meta(const struct route *r, enum kfs_meta_op op, const struct timespec tv[2],
		 mode_t mode, uid_t uid, gid_t gid)
{
	char p[PATH_MAX];
	scratch_path(p, sizeof(p), r->name, r->rel);
	int rc = op == KFS_META_TIMES  ? utimensat(AT_FDCWD, p, tv, AT_SYMLINK_NOFOLLOW)
		 : op == KFS_META_MODE ? chmod(p, mode)
				       : lchown(p, uid, gid);
	return rc < 0 ? -errno : 0;
}

int scratch_truncate(const struct route *r, off_t size)
{
	char p[PATH_MAX];
	scratch_path(p, sizeof(p), r->name, r->rel);
	return truncate(p, size) < 0 ? -errno : 0;
}

int scratch_unlink(const struct route *r)
{
	char p[PATH_MAX];
	scratch_path(p, sizeof(p), r->name, r->rel);
	return unlink(p) < 0 ? -errno : 0;
}

int scratch_rename(const struct route *from, const struct route *to, unsigned int flags)
{
	char a[PATH_MAX], b[PATH_MAX];
	int rc = ensure_scratch_dir(to->name);
	scratch_path(a, sizeof(a), from->name, from->rel);
	scratch_path(b, sizeof(b), to->name, to->rel);
	if (rc == 0)
		rc = renameat2(AT_FDCWD, a, AT_FDCWD, b, flags) < 0 ? -errno : 0;
	return rc;
}

void scratch_remove_dir(const char *request)
{
	char p[PATH_MAX];
	scratch_path(p, sizeof(p), request, NULL);
	rmdir(p);
}

void scratch_list(const char *request, kfs_dirent_fn add, void *ctx)
{
	char p[PATH_MAX];
	scratch_path(p, sizeof(p), request, NULL);
	DIR *d = opendir(p);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
		    !is_generated_name(e->d_name))
			add(ctx, e->d_name, strlen(e->d_name),
			    e->d_type == DT_DIR ? S_IFDIR : S_IFREG);
	closedir(d);
}
