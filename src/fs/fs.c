/* The mount's operations: route a path to a store view (root, promises/<p>, requests/<name>),
 * keep per-open state in fi->fh, buffer writes until flush, and turn store codes into replies.
 * Editors' scratch files in a request folder are real files under <state>/scratch/<request>/. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fs.h"
#include "kratixfs/buf.h"

/* Seconds the kernel keeps a name it looked up. The high-level API cannot drop a name, so
 * this bounds how long a path whose type changed (an output file that became a folder) fails
 * once with EIO before the kernel looks it up again. */
#define KFS_ENTRY_TIMEOUT 1.0

enum area { AREA_ROOT, AREA_PROMISES, AREA_REQUESTS };

/* A path split into the store's view folder and the path inside it. */
struct route {
	enum area area;
	bool list;		    /* "/promises" or "/requests" themselves */
	char folder[NAME_MAX + 16]; /* "", "promises/<p>", "requests/<name>" */
	char name[NAME_MAX + 1];    /* promise or request name */
	const char *rel;	    /* path inside the view, "" for its folder */
};

enum htype { H_READ, H_WRITE, H_SCRATCH };
enum wtarget { W_OBJECT, W_SLOT, W_FEEDBACK };

/* Per-open state, in fi->fh. */
struct handle {
	enum htype type;
	/* H_READ: the snapshot taken at open, so one fd always reads one text. */
	struct kfs_view *view;
	const struct kfs_view_file *file;
	/* H_SCRATCH */
	int fd;
	/* H_WRITE: the whole new content, submitted on flush. */
	enum wtarget target;
	char name[NAME_MAX + 1];
	/* The process that opened it: only its close() submits (see op_flush); and the thread,
	 * so that a close by that same thread (the common case) needs no look in /proc. */
	pid_t opener, opener_tid;
	struct kfs_owner owner; /* of the request, for fstat */
	bool append, dirty;
	/* Opened with O_TRUNC and not written since: a shell's redirection closes its first fd
	 * (dup2 then close) before writing, so this submits on release, not on that flush. */
	bool truncated;
	char *data;
	size_t len, cap; /* len: the bytes held, at most max_input + 1 */
	size_t size;	 /* the file's size as written, which may be larger than len */
	struct timespec mtime;
	pthread_mutex_t lock;
	/* Guards size and mtime for stat: lock is held across a whole submit (render and
	 * commit), and an `ls -l` of the folder must not wait for it. */
	pthread_mutex_t stat_lock;
	struct handle *next_writer;	       /* in fs->writers while open */
	struct handle *prev_open, *next_open; /* in fs->handles until freed */
};

/* Names a request folder's view may hold at its top: never scratch files. */
static const char *const generated_names[] = {
    "object.yaml", "status.yaml", "phase", "log", "feedback", "output", "metadata",
};

static int stat_writer(const struct route *r, struct stat *st);

static struct kfs_fs *ctx(void)
{
	return fuse_get_context()->private_data;
}

static struct handle *fh_of(const struct fuse_file_info *fi)
{
	return fi ? (struct handle *)(uintptr_t)fi->fh : NULL;
}

/* Store codes are negative errnos; anything else becomes EIO rather than a bogus reply. */
static int reply_code(int rc)
{
	return rc > 0 || rc < -4095 ? -EIO : rc;
}

static int route(const char *path, struct route *r)
{
	memset(r, 0, sizeof(*r));
	if (!path || path[0] != '/')
		return -ENOENT;
	const char *p = path + 1;
	r->area = AREA_ROOT;
	r->rel = p;
	const char *areas[] = {"promises", "requests"};
	for (int i = 0; i < 2; i++) {
		size_t n = strlen(areas[i]);
		if (strncmp(p, areas[i], n) != 0 || (p[n] != '\0' && p[n] != '/'))
			continue;
		r->area = i == 0 ? AREA_PROMISES : AREA_REQUESTS;
		if (p[n] == '\0' || p[n + 1] == '\0') {
			r->list = true;
			r->rel = "";
			return 0;
		}
		const char *name = p + n + 1;
		const char *slash = strchr(name, '/');
		size_t len = slash ? (size_t)(slash - name) : strlen(name);
		if (len > NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(r->name, name, len);
		snprintf(r->folder, sizeof(r->folder), "%s/%s", areas[i], r->name);
		r->rel = slash ? slash + 1 : "";
		return 0;
	}
	return 0;
}

static struct kfs_view *view_of(const struct route *r)
{
	return kfs_store_view(ctx()->store, r->folder);
}

static bool is_generated_name(const char *name)
{
	for (size_t i = 0; i < sizeof(generated_names) / sizeof(generated_names[0]); i++)
		if (strcmp(name, generated_names[i]) == 0)
			return true;
	return false;
}

/* A top-level name of a request folder that the store never shows: an editor's file. */
static bool is_scratch(const struct route *r, const struct kfs_view *v)
{
	return r->area == AREA_REQUESTS && !r->list && r->rel[0] && !strchr(r->rel, '/') &&
	       !is_generated_name(r->rel) && !kfs_view_file(v, r->rel) &&
	       !kfs_view_is_dir(v, r->rel) && strcmp(r->rel, ".") != 0 && strcmp(r->rel, "..") != 0;
}

static bool has_object(const struct kfs_view *v)
{
	return kfs_view_file(v, "object.yaml") != NULL;
}

/* The paths a user may write: object.yaml, feedback, the root slot. */
static bool is_writable_file(const struct route *r)
{
	if (r->area == AREA_REQUESTS && !r->list)
		return strcmp(r->rel, "object.yaml") == 0 || strcmp(r->rel, "feedback") == 0;
	return r->area == AREA_ROOT && strcmp(r->rel, "input/object.yaml") == 0;
}

static void scratch_path(char *out, size_t n, const char *request, const char *file)
{
	snprintf(out, n, "%s/%s%s%s", ctx()->scratch_dir, request, file ? "/" : "",
		 file ? file : "");
}

static int ensure_scratch_dir(const char *request)
{
	char dir[PATH_MAX];
	scratch_path(dir, sizeof(dir), request, NULL);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static void fill_common(struct stat *st, const struct kfs_owner *o, const struct timespec *mtime)
{
	st->st_uid = o->uid;
	st->st_gid = o->gid;
	st->st_mtim = *mtime;
	st->st_ctim = *mtime;
	st->st_atim = *mtime;
	st->st_blksize = 4096;
}

static void fill_dir(struct stat *st, mode_t mode, const struct kfs_owner *o,
		     const struct timespec *mtime)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFDIR | mode;
	st->st_nlink = 2;
	fill_common(st, o, mtime);
}

/* Writable files (object.yaml, feedback) have their owner's modes; generated ones are 0444. */
static void fill_file(struct stat *st, size_t size, bool writable, const struct kfs_owner *o,
		      const struct timespec *mtime)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | (writable ? o->obj_mode : 0444);
	st->st_nlink = 1;
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	fill_common(st, o, mtime);
}

static struct kfs_owner daemon_owner(void)
{
	return (struct kfs_owner){.uid = ctx()->uid, .gid = ctx()->gid, .dir_mode = 0755,
				  .obj_mode = 0644};
}

/* Stats a path; *writable tells whether a user may write (or create in) it. */
static int stat_route(const struct route *r, struct stat *st, bool *writable)
{
	*writable = false;
	if (r->list) {
		struct timespec t = kfs_store_mtime(ctx()->store);
		struct kfs_owner o = daemon_owner();
		/* Shared with other users, requests/ is like /tmp: anyone may mkdir, and only a
		 * folder's owner may remove it (the sticky bit). */
		bool shared = r->area == AREA_REQUESTS && ctx()->shared;
		fill_dir(st, shared ? 01777 : 0755, &o, &t);
		*writable = r->area == AREA_REQUESTS;
		return 0;
	}
	struct kfs_view *v = view_of(r);
	if (!v)
		return -ENOENT;
	int rc = 0;
	const struct kfs_view_file *f = kfs_view_file(v, r->rel);
	if (r->rel[0] == '\0' || (r->area == AREA_ROOT && strcmp(r->rel, "input") == 0)) {
		fill_dir(st, r->area == AREA_PROMISES ? 0755 : v->owner.dir_mode, &v->owner,
			 &v->mtime);
		*writable = r->area == AREA_REQUESTS || r->area == AREA_ROOT;
	} else if (f) {
		fill_file(st, f->len, f->writable || is_writable_file(r), &v->owner, &v->mtime);
		*writable = f->writable || is_writable_file(r);
	} else if (kfs_view_is_dir(v, r->rel)) {
		/* The folder's own mode: with default_permissions, rm -rf by the owner must reach
		 * the daemon, which refuses what is generated while the request is in force. */
		fill_dir(st, v->owner.dir_mode, &v->owner, &v->mtime);
	} else if (is_scratch(r, v)) {
		char p[PATH_MAX];
		scratch_path(p, sizeof(p), r->name, r->rel);
		rc = lstat(p, st) < 0 ? -errno : 0;
		*writable = true;
	} else if (is_writable_file(r)) {
		rc = stat_writer(r, st);
		if (rc == 0)
			st->st_mode = S_IFREG | v->owner.obj_mode;
		*writable = true;
	} else {
		rc = -ENOENT;
	}
	kfs_view_put(v);
	return rc;
}

static int handle_stat(struct handle *h, struct stat *st)
{
	switch (h->type) {
	case H_READ:
		fill_file(st, h->file->len, h->file->writable, &h->view->owner, &h->view->mtime);
		return 0;
	case H_SCRATCH:
		return fstat(h->fd, st) < 0 ? -errno : 0;
	case H_WRITE:
		pthread_mutex_lock(&h->stat_lock);
		fill_file(st, h->size, true, &h->owner, &h->mtime);
		pthread_mutex_unlock(&h->stat_lock);
		return 0;
	}
	return -EIO;
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct handle *h = fh_of(fi);
	if (h)
		return handle_stat(h, st);
	struct route r;
	bool w;
	int rc = route(path, &r);
	return rc ? rc : stat_route(&r, st, &w);
}

static int op_access(const char *path, int mask)
{
	struct route r;
	struct stat st;
	bool writable;
	int rc = route(path, &r);
	if (rc == 0)
		rc = stat_route(&r, &st, &writable);
	if (rc)
		return rc;
	if ((mask & W_OK) && !writable)
		return -EROFS;
	if ((mask & X_OK) && !S_ISDIR(st.st_mode) && !(st.st_mode & 0111))
		return -EACCES;
	return 0;
}

/* Buffer management of write handles: the content lives in memory until flush. */
static void hbuf_reserve(struct handle *h, size_t n)
{
	if (n + 1 <= h->cap)
		return;
	size_t cap = h->cap ? h->cap : 4096;
	while (cap < n + 1)
		cap *= 2;
	h->data = kfs_xrealloc(h->data, cap);
	h->cap = cap;
}

static void hbuf_resize(struct handle *h, size_t n)
{
	hbuf_reserve(h, n);
	if (n > h->len)
		memset(h->data + h->len, 0, n - h->len);
	h->len = n;
	h->data[n] = '\0';
}

static bool writer_matches(const struct handle *h, const struct route *r)
{
	if (r->area == AREA_ROOT)
		return h->target == W_SLOT;
	return r->area == AREA_REQUESTS && h->target == W_OBJECT && strcmp(h->name, r->name) == 0 &&
	       strcmp(r->rel, "object.yaml") == 0;
}

/* Stats an object.yaml that is being written but not yet accepted (create, then fstat). */
static int stat_writer(const struct route *r, struct stat *st)
{
	struct kfs_fs *fs = ctx();
	int rc = -ENOENT;
	pthread_mutex_lock(&fs->wlock);
	for (struct handle *h = fs->writers; h && rc; h = h->next_writer) {
		if (writer_matches(h, r)) {
			pthread_mutex_lock(&h->stat_lock);
			fill_file(st, h->size, true, &h->owner, &h->mtime);
			pthread_mutex_unlock(&h->stat_lock);
			rc = 0;
		}
	}
	pthread_mutex_unlock(&fs->wlock);
	return rc;
}

static void writer_add(struct handle *h)
{
	struct kfs_fs *fs = ctx();
	pthread_mutex_lock(&fs->wlock);
	h->next_writer = fs->writers;
	fs->writers = h;
	pthread_mutex_unlock(&fs->wlock);
}

static void writer_remove(struct handle *h)
{
	struct kfs_fs *fs = ctx();
	pthread_mutex_lock(&fs->wlock);
	for (struct handle **p = (struct handle **)&fs->writers; *p; p = &(*p)->next_writer) {
		if (*p == h) {
			*p = h->next_writer;
			break;
		}
	}
	pthread_mutex_unlock(&fs->wlock);
}

static struct handle *handle_new(enum htype type)
{
	struct kfs_fs *fs = ctx();
	struct handle *h = kfs_xcalloc(1, sizeof(*h));
	h->type = type;
	h->fd = -1;
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->stat_lock, NULL);
	clock_gettime(CLOCK_REALTIME, &h->mtime);
	pthread_mutex_lock(&fs->wlock);
	h->next_open = fs->handles;
	if (h->next_open)
		h->next_open->prev_open = h;
	fs->handles = h;
	pthread_mutex_unlock(&fs->wlock);
	return h;
}

/* Frees h; fs is the mount it was opened on. */
static void handle_free_in(struct kfs_fs *fs, struct handle *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&fs->wlock);
	if (h->prev_open)
		h->prev_open->next_open = h->next_open;
	else
		fs->handles = h->next_open;
	if (h->next_open)
		h->next_open->prev_open = h->prev_open;
	pthread_mutex_unlock(&fs->wlock);
	if (h->view)
		kfs_view_put(h->view);
	if (h->fd >= 0)
		close(h->fd);
	pthread_mutex_destroy(&h->lock);
	pthread_mutex_destroy(&h->stat_lock);
	free(h->data);
	free(h);
}

static void handle_free(struct handle *h)
{
	handle_free_in(ctx(), h);
}

void kfs_fs_drop_handles(struct kfs_fs *fs)
{
	while (fs->handles)
		handle_free_in(fs, fs->handles);
	fs->writers = NULL;
}

/* The process (thread group) of a thread that sent a request: FUSE names the thread. 0 when
 * it cannot be told (a process of another PID namespace, or already gone). */
static pid_t process_of(pid_t tid)
{
	if (tid <= 0)
		return 0;
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	const char *t = strstr(buf, "\nTgid:");
	return t ? (pid_t)strtol(t + 6, NULL, 10) : 0;
}

/* The store logs each outcome itself (masked, one line per event): nothing to print here. */
static int submit(enum wtarget target, const char *name, const char *data, size_t len)
{
	struct kfs_error err = {0};
	struct kfs_store *s = ctx()->store;
	int rc;
	switch (target) {
	case W_OBJECT:
		rc = kfs_store_submit(s, name, data, len, &err);
		break;
	case W_FEEDBACK:
		rc = kfs_store_feedback(s, name, data, len, &err);
		break;
	default:
		rc = kfs_store_submit_slot(s, data, len, &err);
		break;
	}
	return reply_code(rc);
}

/* A write handle on object.yaml, feedback or the slot; starts from the current content unless
 * truncated (feedback always starts empty: it is a message, not a document). */
static struct handle *write_handle(const struct route *r, const struct kfs_view_file *cur,
				   int flags)
{
	struct handle *h = handle_new(H_WRITE);
	if (r->area == AREA_ROOT)
		h->target = W_SLOT;
	else
		h->target = strcmp(r->rel, "feedback") == 0 ? W_FEEDBACK : W_OBJECT;
	snprintf(h->name, sizeof(h->name), "%s", r->name);
	h->append = flags & O_APPEND;
	h->opener_tid = fuse_get_context()->pid;
	h->opener = process_of(h->opener_tid);
	hbuf_reserve(h, 0);
	h->data[0] = '\0';
	/* O_TRUNC, or O_EXCL on a new file: the caller says the content is what it writes now,
	 * even nothing (`cp /dev/null`); a plain open that writes nothing (touch) changes nothing. */
	if (flags & (O_TRUNC | O_EXCL))
		h->truncated = h->target != W_FEEDBACK;
	else if (cur && h->target != W_FEEDBACK) {
		hbuf_resize(h, cur->len);
		memcpy(h->data, cur->data, cur->len);
		h->size = cur->len;
	}
	return h;
}

/* Gives a scratch file the daemon just created to the user who asked for it (when the daemon
 * may: as root). */
static void own_new_file(int fd)
{
	const struct fuse_context *c = fuse_get_context();
	if (geteuid() == 0 && (c->uid != 0 || c->gid != 0) && fchown(fd, c->uid, c->gid) < 0) {
		/* The file stays the daemon's: stricter, never looser. */
	}
}

static int open_scratch(const struct route *r, int flags, mode_t mode, struct fuse_file_info *fi)
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

static int do_open(const char *path, struct fuse_file_info *fi, bool create, mode_t mode)
{
	struct route r;
	int rc = route(path, &r);
	if (rc)
		return rc;
	if (r.list)
		return create ? -EEXIST : -EISDIR;
	struct kfs_view *v = view_of(&r);
	if (!v)
		return r.area == AREA_ROOT ? -EIO : -ENOENT;
	if (r.rel[0] == '\0') {
		/* A file named like a request, directly in requests/: only folders live there. */
		rc = create ? -EPERM : -EISDIR;
		goto out;
	}
	if (is_scratch(&r, v)) {
		rc = open_scratch(&r, fi->flags | (create ? O_CREAT : 0), mode, fi);
		goto out;
	}
	const struct kfs_view_file *f = kfs_view_file(v, r.rel);
	bool wants_write = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
	if (!f && !create && !is_writable_file(&r)) {
		rc = kfs_view_is_dir(v, r.rel) ? -EISDIR : -ENOENT;
		goto out;
	}
	if (wants_write || create) {
		if (!is_writable_file(&r)) {
			rc = -EROFS;
			goto out;
		}
		/* A write OPEN of a missing object.yaml is no error: the kernel sends OPEN, not
		 * CREATE (O_CREAT stripped), while it holds the name: another writer is open, or
		 * a rejected first write left it cached. The content is the user's all the same. */
		if (create && f && (fi->flags & O_EXCL)) {
			rc = -EEXIST;
			goto out;
		}
		struct handle *h = write_handle(&r, f, fi->flags);
		h->owner = v->owner;
		writer_add(h);
		fi->fh = (uintptr_t)h;
		fi->direct_io = 1;
		goto out;
	}
	if (!f) {
		/* object.yaml stats while a writer has it open, and a cached name outlives a
		 * rejected write: nothing accepted to read yet. */
		rc = -ENOENT;
		goto out;
	}
	struct handle *h = handle_new(H_READ);
	h->view = v;
	h->file = f;
	v = NULL;
	fi->fh = (uintptr_t)h;
	/* op_flush has nothing to do for a read handle: no FLUSH round trip on its close. */
	fi->noflush = 1;
	/* Every read comes from this handle's snapshot, never from the page cache: with the
	 * path API all renders of a file share one inode and so one page cache, and a reader of
	 * render N would get pages that a reader of render N+1 filled (a torn read). */
	fi->direct_io = 1;
out:
	if (v)
		kfs_view_put(v);
	return rc;
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
	return do_open(path, fi, false, 0);
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return do_open(path, fi, true, mode);
}

static int op_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)path;
	struct handle *h = fh_of(fi);
	const char *data;
	size_t len;
	int n;
	switch (h->type) {
	case H_SCRATCH:
		n = (int)pread(h->fd, buf, size, off);
		return n < 0 ? -errno : n;
	case H_READ:
		data = h->file->data;
		len = h->file->len;
		if ((size_t)off >= len)
			return 0;
		if (size > len - (size_t)off)
			size = len - (size_t)off;
		memcpy(buf, data + off, size);
		return (int)size;
	case H_WRITE:
		pthread_mutex_lock(&h->lock);
		if ((size_t)off >= h->len)
			size = 0;
		else if (size > h->len - (size_t)off)
			size = h->len - (size_t)off;
		if (size)
			memcpy(buf, h->data + off, size);
		pthread_mutex_unlock(&h->lock);
		return (int)size;
	}
	return -EIO;
}

static int op_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)path;
	struct handle *h = fh_of(fi);
	if (h->type == H_SCRATCH) {
		ssize_t n = pwrite(h->fd, buf, size, off);
		return n < 0 ? -errno : (int)n;
	}
	if (h->type != H_WRITE)
		return -EBADF;
	pthread_mutex_lock(&h->lock);
	size_t at = h->append ? h->size : (size_t)off;
	pthread_mutex_lock(&h->stat_lock);
	if (at + size > h->size)
		h->size = at + size;
	clock_gettime(CLOCK_REALTIME, &h->mtime);
	pthread_mutex_unlock(&h->stat_lock);
	/* Keep at most one byte past the limit: enough for the store to answer EFBIG on
	 * close, without holding an arbitrarily large file in memory. */
	size_t limit = ctx()->max_input + 1;
	size_t keep = at >= limit ? 0 : (size > limit - at ? limit - at : size);
	if (keep) {
		if (at + keep > h->len)
			hbuf_resize(h, at + keep);
		memcpy(h->data + at, buf, keep);
	} else if (at >= limit && h->len < limit) {
		hbuf_resize(h, limit);
	}
	h->dirty = true;
	pthread_mutex_unlock(&h->lock);
	return (int)size;
}

/* close() reaches here: the buffered content is submitted and its verdict is close's. Only a
 * close by the process that opened the file submits: a child that inherited the descriptor
 * (`{ cat head.yaml; echo ...; } > object.yaml`) closes it when it exits, half-way through
 * the writing, and a submit then would publish and commit half a request. Such a close gets
 * the verdict the content would get now (dash opens `cmd > file` itself and runs cmd in a
 * child: cmd's close is the only one whose error anyone sees), and nothing is published; the
 * opener's close submits, or the last close (release) if the opener closed first. */
static int op_flush(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	struct handle *h = fh_of(fi);
	if (!h || h->type != H_WRITE)
		return 0;
	int rc = 0;
	pid_t tid = fuse_get_context()->pid;
	pid_t closer = tid == h->opener_tid ? h->opener : process_of(tid);
	if (h->opener && closer && closer != h->opener) {
		pthread_mutex_lock(&h->lock);
		if (h->dirty && h->target == W_OBJECT) {
			struct kfs_error err = {0};
			rc = reply_code(
			    kfs_store_check(ctx()->store, h->name, h->data, h->size, &err));
		} else if (h->dirty && h->target == W_FEEDBACK) {
			/* One line, not a document, never committed: no half to fear. */
			rc = submit(h->target, h->name, h->data, h->size);
			h->dirty = false;
		}
		pthread_mutex_unlock(&h->lock);
		return rc;
	}
	pthread_mutex_lock(&h->lock);
	if (h->dirty) {
		rc = submit(h->target, h->name, h->data, h->size);
		h->dirty = false;
		h->truncated = false;
	} else if (h->truncated) {
		/* Emptied and closed with nothing written (`cp /dev/null object.yaml`): an empty
		 * request is never valid. Nothing is submitted yet: a shell's redirection closes a
		 * first descriptor this way before its command writes through the second; if
		 * nothing comes, the release records the empty file. */
		rc = -EINVAL;
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	struct handle *h = fh_of(fi);
	if (h && h->type == H_WRITE) {
		writer_remove(h);
		/* Written by a process that did not open it and closed after the opener, or
		 * truncated and never written (`: > object.yaml`): still the user's new content;
		 * no close is left to report the verdict, status.yaml does. */
		if (h->dirty)
			submit(h->target, h->name, h->data, h->size);
		else if (h->truncated)
			submit(h->target, h->name, "", 0);
	}
	handle_free(h);
	return 0;
}

/* The content is complete only at close, so fsync does not submit a half-written file; the
 * store persists every accepted submit itself. */
static int op_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path;
	struct handle *h = fh_of(fi);
	if (h && h->type == H_SCRATCH)
		return (datasync ? fdatasync(h->fd) : fsync(h->fd)) < 0 ? -errno : 0;
	return 0;
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct handle *h = fh_of(fi);
	if (size < 0)
		return -EINVAL;
	if (h) {
		if (h->type == H_SCRATCH)
			return ftruncate(h->fd, size) < 0 ? -errno : 0;
		if (h->type != H_WRITE)
			return -EROFS;
		pthread_mutex_lock(&h->lock);
		size_t limit = ctx()->max_input + 1;
		hbuf_resize(h, (size_t)size > limit ? limit : (size_t)size);
		pthread_mutex_lock(&h->stat_lock);
		h->size = (size_t)size;
		pthread_mutex_unlock(&h->stat_lock);
		h->dirty = true;
		pthread_mutex_unlock(&h->lock);
		return 0;
	}
	struct route r;
	int rc = route(path, &r);
	if (rc)
		return rc;
	if (r.list)
		return -EISDIR;
	struct kfs_view *v = view_of(&r);
	if (!v)
		return -ENOENT;
	const struct kfs_view_file *f = kfs_view_file(v, r.rel);
	if (is_scratch(&r, v)) {
		char p[PATH_MAX];
		scratch_path(p, sizeof(p), r.name, r.rel);
		rc = truncate(p, size) < 0 ? -errno : 0;
	} else if (!is_writable_file(&r)) {
		rc = f || kfs_view_is_dir(v, r.rel) ? -EROFS : -ENOENT;
	} else if (strcmp(r.rel, "feedback") == 0) {
		rc = 0; /* a message, not a document: nothing to truncate */
	} else {
		/* truncate(2) without an open file: the truncated content is the new request. */
		struct handle *w = write_handle(&r, f, 0);
		hbuf_resize(w, (size_t)size > ctx()->max_input + 1 ? ctx()->max_input + 1
								   : (size_t)size);
		rc = submit(w->target, w->name, w->data, (size_t)size);
		handle_free(w);
	}
	kfs_view_put(v);
	return rc;
}

/* utimens, chmod, chown: passed to the real file for scratch files; chmod and chown kept for
 * request folders and object.yaml (set_owner); times accepted on the writable files and request
 * folders (touch, cp -p) but not kept: a request's times are its renders'. EROFS on generated
 * files and EPERM on the mount's own folders. */
enum meta_op { META_TIMES, META_MODE, META_OWNER };

/* chmod and chown of a request folder (and its output/, metadata/) or its object.yaml, checked
 * as a real filesystem checks them (the store does, under the request's lock) and kept with the
 * request: what the kernel checks with allow_other. */
static int set_owner(const char *request, bool object, enum meta_op op, mode_t mode, uid_t uid,
		     gid_t gid)
{
	const struct fuse_context *c = fuse_get_context();
	struct kfs_error err = {0};
	int rc = op == META_MODE
		     ? kfs_store_chmod(ctx()->store, request, object, mode, c->uid, &err)
		     : kfs_store_chown(ctx()->store, request, uid, gid, c->uid, c->gid, &err);
	return reply_code(rc);
}



static int meta(const char *path, struct fuse_file_info *fi, enum meta_op op,
		const struct timespec tv[2], mode_t mode, uid_t uid, gid_t gid)
{
	struct handle *h = fh_of(fi);
	if (h && h->type == H_SCRATCH) {
		int rc = op == META_TIMES  ? futimens(h->fd, tv)
			 : op == META_MODE ? fchmod(h->fd, mode)
					   : fchown(h->fd, uid, gid);
		return rc < 0 ? -errno : 0;
	}
	if (h && h->type == H_WRITE && h->target == W_OBJECT && op != META_TIMES)
		return set_owner(h->name, true, op, mode, uid, gid);
	if (h)
		return h->type == H_WRITE ? (op == META_TIMES ? 0 : -EPERM) : -EROFS;
	struct route r;
	int rc = route(path, &r);
	if (rc)
		return rc;
	if (r.list)
		return op == META_TIMES ? 0 : -EPERM;
	struct kfs_view *v = view_of(&r);
	if (!v)
		return -ENOENT;
	if (is_scratch(&r, v)) {
		char p[PATH_MAX];
		scratch_path(p, sizeof(p), r.name, r.rel);
		rc = op == META_TIMES  ? utimensat(AT_FDCWD, p, tv, AT_SYMLINK_NOFOLLOW)
		     : op == META_MODE ? chmod(p, mode)
				       : lchown(p, uid, gid);
		rc = rc < 0 ? -errno : 0;
	} else if (is_writable_file(&r) || (r.area == AREA_REQUESTS && r.rel[0] == '\0')) {
		/* futimens/fchmod on a file being written arrive without its handle (cp -p,
		 * touch of a new object.yaml): an open writer makes the file exist. */
		struct stat st;
		rc = kfs_view_file(v, r.rel) || r.rel[0] == '\0' || stat_writer(&r, &st) == 0
			     ? 0
			     : -ENOENT;
		if (rc == 0 && op != META_TIMES)
			rc = r.area == AREA_REQUESTS && strcmp(r.rel, "feedback") != 0
				     ? set_owner(r.name, r.rel[0] != '\0', op, mode, uid, gid)
				     : -EPERM;
	} else if (r.area == AREA_REQUESTS && op != META_TIMES && kfs_view_is_dir(v, r.rel)) {
		rc = -EPERM; /* output/, metadata/: they follow the folder's mode */
	} else {
		rc = kfs_view_file(v, r.rel) || kfs_view_is_dir(v, r.rel) || r.rel[0] == '\0'
			 ? -EROFS
			 : -ENOENT;
	}
	kfs_view_put(v);
	return rc;
}

static int op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	return meta(path, fi, META_TIMES, tv, 0, 0, 0);
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return meta(path, fi, META_MODE, NULL, mode, 0, 0);
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	return meta(path, fi, META_OWNER, NULL, 0, uid, gid);
}

/* Directory listing with duplicates removed: a view lists files and folders separately. */
struct lister {
	void *buf;
	fuse_fill_dir_t filler;
	char **seen;
	size_t nseen, capseen;
};

static void emit(struct lister *l, const char *name, size_t len)
{
	for (size_t i = 0; i < l->nseen; i++)
		if (strlen(l->seen[i]) == len && memcmp(l->seen[i], name, len) == 0)
			return;
	if (l->nseen == l->capseen) {
		l->capseen = l->capseen ? l->capseen * 2 : 16;
		l->seen = kfs_xrealloc(l->seen, l->capseen * sizeof(*l->seen));
	}
	l->seen[l->nseen] = kfs_xstrndup(name, len);
	l->filler(l->buf, l->seen[l->nseen], NULL, 0, 0);
	l->nseen++;
}

/* Emits the first component of path when it lies directly under dir ("" for the top). */
static void emit_child(struct lister *l, const char *dir, const char *path)
{
	size_t dl = strlen(dir);
	if (dl) {
		if (strncmp(path, dir, dl) != 0 || path[dl] != '/')
			return;
		path += dl + 1;
	}
	const char *slash = strchr(path, '/');
	if (*path)
		emit(l, path, slash ? (size_t)(slash - path) : strlen(path));
}

static void emit_scratch(struct lister *l, const char *request)
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
			emit(l, e->d_name, strlen(e->d_name));
	closedir(d);
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	(void)off;
	(void)fi;
	(void)flags;
	struct route r;
	int rc = route(path, &r);
	if (rc)
		return rc;
	struct lister l = {.buf = buf, .filler = filler};
	emit(&l, ".", 1);
	emit(&l, "..", 2);
	if (r.list) {
		char **names;
		size_t n;
		rc = kfs_store_list(ctx()->store, r.area == AREA_PROMISES ? "promises" : "requests",
				    &names, &n);
		/* Names are unique: no need for emit's duplicate check, which is quadratic. */
		if (rc == 0) {
			for (size_t i = 0; i < n; i++)
				filler(buf, names[i], NULL, 0, 0);
			kfs_store_free_names(names, n);
		}
		goto out;
	}
	struct kfs_view *v = view_of(&r);
	if (!v) {
		rc = -ENOENT;
		goto out;
	}
	bool root_input = r.area == AREA_ROOT && strcmp(r.rel, "input") == 0;
	if (r.rel[0] && !root_input && !kfs_view_is_dir(v, r.rel)) {
		rc = kfs_view_file(v, r.rel) ? -ENOTDIR : -ENOENT;
	} else {
		if (r.area == AREA_ROOT && r.rel[0] == '\0') {
			emit(&l, "input", 5);
			emit(&l, "promises", 8);
			emit(&l, "requests", 8);
		}
		/* object.yaml first: `rm -rf` unlinks in this order, and that unlink is what
		 * deletes the request, after which the generated files may go. */
		if (r.area == AREA_REQUESTS && r.rel[0] == '\0' && has_object(v))
			emit(&l, "object.yaml", 11);
		for (size_t i = 0; i < v->nfiles; i++)
			emit_child(&l, r.rel, v->files[i].path);
		for (size_t i = 0; i < v->ndirs; i++)
			emit_child(&l, r.rel, v->dirs[i]);
		if (r.area == AREA_REQUESTS && r.rel[0] == '\0')
			emit_scratch(&l, r.name);
	}
	kfs_view_put(v);
out:
	for (size_t i = 0; i < l.nseen; i++)
		free(l.seen[i]);
	free(l.seen);
	return rc;
}

static int op_mkdir(const char *path, mode_t mode)
{
	struct route r;
	int rc = route(path, &r);
	if (rc)
		return rc;
	if (r.list)
		return -EEXIST;
	if (r.area != AREA_REQUESTS || r.rel[0])
		return -EROFS;
	const struct fuse_context *c = fuse_get_context();
	struct kfs_owner o = {.uid = c->uid, .gid = c->gid, .dir_mode = mode & 07777,
			      .obj_mode = 0666 & ~c->umask};
	struct kfs_error err = {0};
	rc = kfs_store_create_as(ctx()->store, r.name, &o, &err);
	return reply_code(rc);
}

static int op_unlink(const char *path)
{
	struct route r;
	int rc = route(path, &r);
	if (rc)
		return rc;
	if (r.list)
		return -EISDIR;
	struct kfs_view *v = view_of(&r);
	if (!v)
		return -ENOENT;
	if (r.area != AREA_REQUESTS || r.rel[0] == '\0') {
		rc = -EROFS;
	} else if (is_scratch(&r, v)) {
		char p[PATH_MAX];
		scratch_path(p, sizeof(p), r.name, r.rel);
		rc = unlink(p) < 0 ? -errno : 0;
	} else if (strcmp(r.rel, "object.yaml") == 0) {
		/* Not a deletion: tools replace a file by unlinking and creating it again (mv
		 * across filesystems, tar, install, vim). Only the folder's removal deletes. */
		if (has_object(v)) {
			struct kfs_error err = {0};
			rc = reply_code(kfs_store_unlink_object(ctx()->store, r.name, &err));
		} else {
			rc = -ENOENT;
		}
	} else if (has_object(v)) {
		rc = kfs_view_file(v, r.rel)	 ? -EROFS
		     : kfs_view_is_dir(v, r.rel) ? -EISDIR
						 : -ENOENT;
	} else {
		rc = 0; /* an empty request protects nothing: let `rm -rf` proceed */
	}
	kfs_view_put(v);
	return rc;
}

static bool scratch_dir_empty(const char *request)
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

static int op_rmdir(const char *path)
{
	struct route r;
	int rc = route(path, &r);
	if (rc)
		return rc;
	if (r.list || r.area != AREA_REQUESTS)
		return -EROFS;
	struct kfs_view *v = view_of(&r);
	if (!v)
		return -ENOENT;
	if (r.rel[0] == '\0') {
		if (!scratch_dir_empty(r.name)) {
			rc = -ENOTEMPTY;
		} else {
			struct kfs_error err = {0};
			rc = reply_code(kfs_store_remove(ctx()->store, r.name, &err));
			if (rc == 0) {
				char p[PATH_MAX];
				scratch_path(p, sizeof(p), r.name, NULL);
				rmdir(p);
			}
		}
	} else if (has_object(v)) {
		rc = kfs_view_is_dir(v, r.rel) ? -ENOTEMPTY
		     : kfs_view_file(v, r.rel) ? -ENOTDIR
					       : -ENOENT;
	} else {
		rc = 0; /* the folders of an empty request: nothing to protect */
	}
	kfs_view_put(v);
	return rc;
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
static int rename_into_object(const struct route *from, const struct route *to)
{
	char p[PATH_MAX];
	scratch_path(p, sizeof(p), from->name, from->rel);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* The daemon reads as root: the renamer must be one who could read the file, or its
	 * content would become theirs to read in object.yaml. */
	const struct fuse_context *c = fuse_get_context();
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
static int copy_object_out(const struct kfs_view_file *obj, const struct kfs_owner *owner,
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

static int op_rename(const char *from, const char *to, unsigned int flags)
{
	if (flags & RENAME_EXCHANGE)
		return -EINVAL;
	struct route rf, rt;
	int rc = route(from, &rf);
	if (rc == 0)
		rc = route(to, &rt);
	if (rc)
		return rc;
	if (rf.area != AREA_REQUESTS || rt.area != AREA_REQUESTS || rf.list || rt.list ||
	    !rf.rel[0] || !rt.rel[0])
		return -EROFS;
	struct kfs_view *vf = view_of(&rf);
	struct kfs_view *vt = view_of(&rt);
	if (!vf || !vt) {
		rc = -ENOENT;
		goto out;
	}
	bool from_scratch = is_scratch(&rf, vf), to_scratch = is_scratch(&rt, vt);
	bool to_object = strcmp(rt.rel, "object.yaml") == 0;
	const struct kfs_view_file *obj = kfs_view_file(vf, "object.yaml");
	if ((flags & RENAME_NOREPLACE) && to_object && has_object(vt)) {
		rc = -EEXIST;
	} else if (!to_scratch && !to_object) {
		/* Onto status.yaml, output/..., feedback: generated, not a name to take. */
		rc = kfs_view_file(vf, rf.rel) || kfs_view_is_dir(vf, rf.rel) || from_scratch
			     ? -EROFS
			     : -ENOENT;
	} else if (from_scratch && to_object) {
		rc = rename_into_object(&rf, &rt);
	} else if (from_scratch && to_scratch) {
		char a[PATH_MAX], b[PATH_MAX];
		rc = ensure_scratch_dir(rt.name);
		scratch_path(a, sizeof(a), rf.name, rf.rel);
		scratch_path(b, sizeof(b), rt.name, rt.rel);
		if (rc == 0)
			rc = renameat2(AT_FDCWD, a, AT_FDCWD, b, flags) < 0 ? -errno : 0;
	} else if (strcmp(rf.rel, "object.yaml") == 0 && to_scratch) {
		rc = obj ? copy_object_out(obj, &vf->owner, &rt) : -ENOENT;
	} else if (strcmp(rf.rel, "object.yaml") == 0 && to_object) {
		/* Between requests: let mv copy the content and then unlink the source. */
		rc = strcmp(rf.name, rt.name) == 0 ? 0 : -EXDEV;
	} else {
		rc = kfs_view_file(vf, rf.rel) || kfs_view_is_dir(vf, rf.rel) ? -EROFS : -ENOENT;
	}
out:
	if (vf)
		kfs_view_put(vf);
	if (vt)
		kfs_view_put(vt);
	return rc;
}

static int op_statfs(const char *path, struct statvfs *st)
{
	(void)path;
	memset(st, 0, sizeof(*st));
	st->f_bsize = 4096;
	st->f_frsize = 4096;
	st->f_namemax = NAME_MAX;
	return 0;
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	/* Names are cached, which saves a LOOKUP per path component: a name the daemon no
	 * longer has (an output dropped by a re-render) still reaches the daemon on open and
	 * stat, which answer ENOENT from the current view. Attributes and missing names are
	 * never cached: every stat and read asks for the size of what the open file reads, as
	 * handles of one file opened before and after a publish read different texts. Output
	 * pages are cached per open (keep_cache) and dropped after each publish. */
	cfg->use_ino = 0;
	cfg->entry_timeout = KFS_ENTRY_TIMEOUT;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->kernel_cache = 0;
	cfg->auto_cache = 0;
	/* Nothing here needs .fuse_hidden files: handles hold their own snapshot or buffer. */
	cfg->hard_remove = 1;
	/* Paths are needed by readdir; handles never need theirs. */
	cfg->nullpath_ok = 0;
	return fuse_get_context()->private_data;
}

static const struct fuse_operations operations = {
    .init = op_init,
    .getattr = op_getattr,
    .access = op_access,
    .readdir = op_readdir,
    .open = op_open,
    .create = op_create,
    .read = op_read,
    .write = op_write,
    .flush = op_flush,
    .release = op_release,
    .fsync = op_fsync,
    .truncate = op_truncate,
    .utimens = op_utimens,
    .chmod = op_chmod,
    .chown = op_chown,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .rename = op_rename,
    .statfs = op_statfs,
};

const struct fuse_operations *kfs_fs_operations(void)
{
	return &operations;
}
