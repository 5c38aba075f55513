/* Open files: a read handle holds the view it opened (one fd reads one render), a write handle
 * buffers the whole new content until close submits it, a scratch handle is a real file. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "front.h"
#include "kratixfs/buf.h"

int kfs_h_stat(struct fuse_file_info *fi, struct stat *st)
{
	struct handle *h = fh_of(fi);
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

void kfs_h_opened(struct fuse_file_info *fi, fuse_ino_t ino)
{
	struct handle *h = fh_of(fi);
	if (!h)
		return;
	/* Under wlock: kfs_h_stat_ino reads it from another worker. */
	pthread_mutex_lock(&ctx()->wlock);
	h->ino = ino;
	pthread_mutex_unlock(&ctx()->wlock);
}

int kfs_h_stat_ino(fuse_ino_t ino, struct stat *st)
{
	struct kfs_fs *fs = ctx();
	int rc = -ENOENT;
	pthread_mutex_lock(&fs->wlock);
	for (struct handle *h = fs->handles; h && rc; h = h->next_open) {
		if (h->ino != ino || h->type == H_SCRATCH)
			continue;
		struct fuse_file_info fi = {.fh = (uintptr_t)h};
		rc = kfs_h_stat(&fi, st);
		st->st_nlink = 0;
	}
	pthread_mutex_unlock(&fs->wlock);
	return rc;
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

void hbuf_resize(struct handle *h, size_t n)
{
	hbuf_reserve(h, n);
	if (n > h->len)
		memset(h->data + h->len, 0, n - h->len);
	h->len = n;
	h->data[n] = '\0';
}

static bool writer_matches(const struct handle *h, const struct route *r)
{
	enum wtarget t;
	return r->area->writes && r->area->writes(r->rel, &t) && t != W_FEEDBACK &&
	       h->target == t && strcmp(h->name, r->name) == 0 &&
	       (t != W_SLOT_FILE || strcmp(h->path, r->rel) == 0);
}

/* Stats an object.yaml that is being written but not yet accepted (create, then fstat). */
int stat_writer(const struct route *r, struct stat *st)
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

void writer_add(struct handle *h)
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

struct handle *handle_new(enum htype type)
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
	free(h->path);
	free(h);
}

void handle_free(struct handle *h)
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
int submit(enum wtarget target, const char *name, const char *data, size_t len)
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
	case W_SLOT_FILE:
		rc = kfs_store_slot_put(s, name, data, len, &err);
		break;
	default:
		rc = kfs_store_submit_slot(s, data, len, &err);
		break;
	}
	return reply_code(rc);
}

const char *target_of(const struct handle *h)
{
	return h->path ? h->path : h->name;
}

/* Submits data as h's content: a slot file's only while the slot's run is the one h was
 * opened in (a new run's files are never overwritten with bytes written for the old one). */
static int submit_handle(const struct handle *h, const char *data, size_t len)
{
	if (h->target != W_SLOT_FILE)
		return submit(h->target, h->name, data, len);
	struct kfs_error err = {0};
	return reply_code(kfs_store_slot_put_in(ctx()->store, h->run, h->path, data, len, &err));
}

/* A write handle on object.yaml, feedback or the slot; starts from the current content unless
 * truncated (feedback always starts empty: it is a message, not a document). A slot file's
 * handle that is new or truncated stores nothing until something is written: if nothing ever
 * is, its release stores the file empty (see kfs_h_flush). */
struct handle *write_handle(const struct route *r, const struct kfs_view_file *cur, int flags)
{
	struct handle *h = handle_new(H_WRITE);
	/* Only a file the area lets users write gets here. */
	r->area->writes(r->rel, &h->target);
	snprintf(h->name, sizeof(h->name), "%s", r->name);
	if (h->target == W_SLOT_FILE) {
		h->path = kfs_xstrdup(r->rel);
		h->run = kfs_store_slot_run(ctx()->store);
		h->created = !cur;
	}
	h->append = flags & O_APPEND;
	h->opener_tid = kfs_cur.pid;
	h->opener = process_of(h->opener_tid);
	hbuf_reserve(h, 0);
	h->data[0] = '\0';
	/* O_TRUNC, or O_EXCL on a new file: the caller says the content is what it writes now,
	 * even nothing (`cp /dev/null`); a plain open that writes nothing (touch) changes nothing,
	 * but for a slot file that did not exist: touch creates it, empty. */
	if ((flags & (O_TRUNC | O_EXCL)) || (!cur && h->target == W_SLOT_FILE))
		h->truncated = h->target != W_FEEDBACK;
	else if (cur && h->target != W_FEEDBACK) {
		hbuf_resize(h, cur->len);
		memcpy(h->data, cur->data, cur->len);
		h->size = cur->len;
	}
	return h;
}

int kfs_p_open(const char *path, struct fuse_file_info *fi, bool create, mode_t mode,
	       uint64_t want_id)
{
	struct route r;
	int rc = route(path, &r);
	if (rc)
		return rc;
	if (r.list)
		return create ? -EEXIST : -EISDIR;
	struct kfs_view *v = view_of(&r);
	if (!v)
		return r.area->no_view;
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
	if (!f && is_slot_path(&r) && kfs_view_is_dir(v, r.rel)) {
		rc = create ? -EEXIST : -EISDIR;
		goto out;
	}
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
	/* Every render of a rendered file has its own inode (lowlevel.c), so its pages may stay
	 * in the kernel's cache for good. Anything else (status.yaml, phase, log are built when
	 * read), or an inode whose render is no longer the view's, reads from this handle's
	 * snapshot and never through the page cache: a reader of render N must never get pages
	 * that a reader of render N+1 filled (a torn read). */
	if (!f->live && !f->writable && want_id && f->id == want_id) {
		fi->keep_cache = 1;
	} else {
		fi->direct_io = 1;
	}
out:
	if (v)
		kfs_view_put(v);
	return rc;
}

int kfs_h_read(struct fuse_file_info *fi, char *buf, size_t size, off_t off)
{
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

int kfs_h_write(struct fuse_file_info *fi, const char *buf, size_t size, off_t off)
{
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

/* The opener's close of a handle emptied and closed with nothing written (`cp /dev/null
 * object.yaml`, or a shell's redirection, which closes a first descriptor this way before its
 * command writes through the second). Nothing that exists is replaced yet: if nothing comes,
 * the release records the empty file; the verdict is the one an empty file would get now (an
 * empty request is never valid). A slot file that did not exist is stored empty at once: no
 * bytes can be lost, and a `touch` or `: >` followed by `cat` or `mv` finds it. h->lock held. */
static int flush_truncated(struct handle *h)
{
	if (h->target != W_SLOT_FILE)
		return -EINVAL;
	struct kfs_error err = {0};
	if (!h->created)
		return reply_code(kfs_store_slot_check(ctx()->store, h->path, "", 0, &err));
	int rc = submit_handle(h, "", 0);
	if (rc == 0)
		h->truncated = h->created = false;
	return rc;
}

/* close() reaches here: the buffered content is submitted and its verdict is close's. Only a
 * close by the process that opened the file submits: a child that inherited the descriptor
 * (`{ cat head.yaml; echo ...; } > object.yaml`) closes it when it exits, half-way through
 * the writing, and a submit then would publish and commit half a request. Such a close gets
 * the verdict the content would get now (dash opens `cmd > file` itself and runs cmd in a
 * child: cmd's close is the only one whose error anyone sees), and nothing is published; the
 * opener's close submits, or the last close (release) if the opener closed first. */
int kfs_h_flush(struct fuse_file_info *fi)
{
	struct handle *h = fh_of(fi);
	if (!h || h->type != H_WRITE)
		return 0;
	int rc = 0;
	pid_t tid = kfs_cur.pid;
	pid_t closer = tid == h->opener_tid ? h->opener : process_of(tid);
	if (h->opener && closer && closer != h->opener) {
		pthread_mutex_lock(&h->lock);
		if (h->dirty && h->target == W_OBJECT) {
			struct kfs_error err = {0};
			rc = reply_code(
			    kfs_store_check(ctx()->store, h->name, h->data, h->size, &err));
		} else if (h->dirty && h->target == W_SLOT_FILE) {
			struct kfs_error err = {0};
			rc = reply_code(
			    kfs_store_slot_check(ctx()->store, h->path, h->data, h->size, &err));
		} else if (h->dirty && h->target == W_FEEDBACK) {
			/* One line, not a document, never committed: no half to fear. */
			rc = submit_handle(h, h->data, h->size);
			h->dirty = false;
		}
		pthread_mutex_unlock(&h->lock);
		return rc;
	}
	pthread_mutex_lock(&h->lock);
	if (h->dirty) {
		rc = submit_handle(h, h->data, h->size);
		h->dirty = false;
		h->truncated = false;
	} else if (h->truncated) {
		rc = flush_truncated(h);
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

int kfs_h_release(struct fuse_file_info *fi)
{
	struct handle *h = fh_of(fi);
	if (h && h->type == H_WRITE) {
		/* Written by a process that did not open it and closed after the opener, or
		 * truncated and never written (`: > object.yaml`): still the user's new content;
		 * no close is left to report the verdict, status.yaml does. Submitted before the
		 * handle leaves the writers, so that a new file (`touch output/a.yaml`) never
		 * looks gone in between. */
		if (h->dirty)
			submit_handle(h, h->data, h->size);
		else if (h->truncated)
			submit_handle(h, "", 0);
		writer_remove(h);
	}
	handle_free(h);
	return 0;
}

/* The content is complete only at close, so fsync does not submit a half-written file; the
 * store persists every accepted submit itself. */
int kfs_h_fsync(struct fuse_file_info *fi, int datasync)
{
	struct handle *h = fh_of(fi);
	if (h && h->type == H_SCRATCH)
		return (datasync ? fdatasync(h->fd) : fsync(h->fd)) < 0 ? -errno : 0;
	return 0;
}

int kfs_p_truncate(const char *path, off_t size, struct fuse_file_info *fi)
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
	struct kfs_view *v;
	int rc = route_entry(path, &r, &v, -EISDIR);
	if (rc)
		return rc;
	const struct kfs_view_file *f = kfs_view_file(v, r.rel);
	if (is_scratch(&r, v)) {
		rc = scratch_truncate(&r, size);
	} else if (!is_writable_file(&r)) {
		rc = f || kfs_view_is_dir(v, r.rel) ? -EROFS : -ENOENT;
	} else if (strcmp(r.rel, "feedback") == 0) {
		rc = 0; /* a message, not a document: nothing to truncate */
	} else if (!f && is_slot_path(&r)) {
		rc = kfs_view_is_dir(v, r.rel) ? -EISDIR : -ENOENT;
	} else {
		/* truncate(2) without an open file: the truncated content is the new request. */
		struct handle *w = write_handle(&r, f, 0);
		hbuf_resize(w, (size_t)size > ctx()->max_input + 1 ? ctx()->max_input + 1
								   : (size_t)size);
		rc = submit_handle(w, w->data, (size_t)size);
		handle_free(w);
	}
	kfs_view_put(v);
	return rc;
}
