/* The mount's FUSE low-level operations: inode numbers in, paths to the path layer, replies out,
 * with the kernel's caches doing most of the reading.
 *
 * Caching. A rendered file (output/..., metadata/..., promise.yaml: a view file neither live nor
 * writable) never changes: each render of it has its own inode (the view file's id, see
 * store.h), whose name, attributes and pages the kernel keeps for a day (KEEP_CACHE). Folders'
 * names and attributes are kept as long. Everything else (object.yaml, feedback, status.yaml,
 * phase, log, scratch files) keeps its name but never its attributes, and is read around the page
 * cache (direct_io). When a folder is published, the notifier (notify.c) drops the names whose
 * inode changed or went, and the attributes and listings of the folder and its sub-folders. A
 * reader that opened render N keeps reading render N: its handle holds that view and its inode's
 * pages are render N's. A write's close (FLUSH) waits until the notifier has told the kernel about
 * the publish it caused, so any open, stat or listing that starts after close() returns sees the
 * new render. No-open (ENOSYS from OPEN) is not used: Linux then skips OPEN for every file of
 * the mount, object.yaml too, and a write needs its open (its own buffer, O_TRUNC, its opener).
 *
 * Threads:
 *   FUSE workers (fuse_session_loop_mt; one with -s) serve requests. They call the store, which
 *     publishes and calls kfs_fs_on_publish from the publishing thread: the folder is queued for
 *     the notifier, never told to the kernel from a worker.
 *   The notifier (notify.c) takes queued folders in order and writes the kernel's invalidations.
 *   The watcher (daemon.c) reloads the promises on SIGHUP or inotify.
 *   The store's own threads (Git commits and pushes) may publish too: they only queue.
 *
 * Locks, outermost first (and so in src/store/store_internal.h, where the store's follow):
 *   1. fs->wlock (handles.c)     the open handles; a write handle's stat_lock under it
 *   2. a write handle's lock     held over its close's submit into the store
 *   then the store's locks; and leaves, never held while taking another lock: a write handle's
 *   stat_lock, the inode table's lock (inode.c), the notifier's lock (notify.c). A worker waits
 *   for the notifier (kfs_notifier_wait) holding none of them, and only in FLUSH, SETATTR and
 *   RENAME (but a rename within the slot's output/ or metadata/: see ll_rename). The kernel
 *   holds no folder lock over FLUSH; over SETATTR and RENAME it holds the file's and its
 *   folder's, which the notifier takes only to drop the name of a sub-folder
 *   that went (output/ of a render with no outputs): it drops names of rendered files, whose
 *   folders are output/ and metadata/, and never those of a request folder's own files. The
 *   wait is bounded (WAIT_MS) for that case, and because the notifier's invalidation of a name
 *   waits for its folder's lock, which a process may hold while its request waits for a free
 *   worker (-s, or every worker busy). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "inode.h"
#include "kratixfs/buf.h"
#include "notify.h"

__thread struct kfs_call kfs_cur;

/* Seconds the kernel keeps names and attributes of folders and rendered files: the notifier
 * drops them when they change. */
#define LONG_TIMEOUT 86400.0
/* How long a close waits for its invalidations (ms): in practice a few microseconds. */
#define WAIT_MS 2000

static struct kfs_fs *enter(fuse_req_t req)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct kfs_fs *fs = fuse_req_userdata(req);
	kfs_cur = (struct kfs_call){
	    .fs = fs, .uid = c->uid, .gid = c->gid, .pid = c->pid, .umask = c->umask};
	return fs;
}

/* The path of ino, or NULL (the reply is sent) when the kernel names an inode it forgot. */
static char *path_of(fuse_req_t req, fuse_ino_t ino, struct kfs_ident *id)
{
	char *p = kfs_itable_path(kfs_cur.fs->inodes, ino, id);
	if (!p)
		fuse_reply_err(req, ESTALE);
	return p;
}

/* parent's path joined with name, or NULL (the reply is sent). */
static char *child_of(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (strlen(name) > NAME_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return NULL;
	}
	char *pp = path_of(req, parent, NULL);
	if (!pp)
		return NULL;
	struct kfs_buf b = {0};
	kfs_buf_printf(&b, "%s/%s", strcmp(pp, "/") == 0 ? "" : pp, name);
	free(pp);
	return kfs_buf_steal(&b);
}

static double attr_timeout(enum kfs_kind k)
{
	return k == KFS_K_VOL ? 0.0 : LONG_TIMEOUT;
}

/* The entry of path (found in parent): its inode is counted as looked up once more. */
static int entry_of(const char *path, fuse_ino_t parent, struct fuse_entry_param *e)
{
	struct kfs_fs *fs = kfs_cur.fs;
	struct kfs_ident id;
	memset(e, 0, sizeof(*e));
	int rc = kfs_p_stat(path, &e->attr, &id);
	if (rc)
		return rc;
	e->ino = kfs_itable_ref(fs->inodes, path, &id, parent);
	e->generation = kfs_itable_generation(fs->inodes);
	e->attr.st_ino = e->ino;
	e->attr_timeout = attr_timeout(id.kind);
	e->entry_timeout = LONG_TIMEOUT;
	return 0;
}

/* Replies with the entry of path, as a lookup in flight (notify.h). */
static void reply_entry(fuse_req_t req, const char *path, fuse_ino_t parent)
{
	struct kfs_fs *fs = kfs_cur.fs;
	struct fuse_entry_param e;
	uint64_t ticket = kfs_lookup_begin(fs->notifier);
	int rc = entry_of(path, parent, &e);
	if (rc)
		fuse_reply_err(req, -rc);
	else if (fuse_reply_entry(req, &e) != 0)
		kfs_itable_forget(fs->inodes, e.ino, 1);
	kfs_lookup_end(fs->notifier, ticket);
}

/* Before an operation that may publish: forget what this thread queued before, so that a
 * publish whose folder was still waiting in the queue (the same entry number as before) is
 * waited for too. */
static void watch_published(void)
{
	kfs_notify_last = 0;
}

/* After it: its invalidations reach the kernel first. */
static void wait_published(void)
{
	if (kfs_notify_last != 0)
		kfs_notifier_wait(kfs_cur.fs->notifier, kfs_notify_last, WAIT_MS);
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	enter(req);
	char *path = child_of(req, parent, name);
	if (!path)
		return;
	reply_entry(req, path, parent);
	free(path);
}

/* -o log_level=debug: the inodes the kernel holds, after each batch of FORGETs, every 1,000
 * single ones, and each single one that leaves the table small (the kernel sends single FORGETs
 * when it does not batch them, so the table's last size is always in the log): what memory the
 * inode table takes, and that it shrinks. */
static void log_inodes(struct kfs_fs *fs, unsigned long forgets)
{
	char line[96];
	snprintf(line, sizeof(line), "inodes count=%zu forgets=%lu", kfs_itable_count(fs->inodes),
		 forgets);
	fs->log(fs->log_ctx, KFS_LOG_DEBUG, line);
}

static unsigned long forgets;

static void ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct kfs_fs *fs = enter(req);
	kfs_itable_forget(fs->inodes, ino, nlookup);
	unsigned long n = __atomic_add_fetch(&forgets, 1, __ATOMIC_RELAXED);
	if (fs->log && (n % 1000 == 0 || kfs_itable_count(fs->inodes) <= 64))
		log_inodes(fs, n);
	fuse_reply_none(req);
}

static void ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *list)
{
	struct kfs_fs *fs = enter(req);
	for (size_t i = 0; i < count; i++)
		kfs_itable_forget(fs->inodes, list[i].ino, list[i].nlookup);
	unsigned long n = __atomic_add_fetch(&forgets, count, __ATOMIC_RELAXED);
	if (fs->log)
		log_inodes(fs, n);
	fuse_reply_none(req);
}

/* The attributes of ino: an open file's own (fstat), else its path's now. */
static int attr_of(fuse_ino_t ino, const char *path, struct fuse_file_info *fi, struct stat *st)
{
	struct kfs_ident now;
	int rc = fi && fi->fh ? kfs_h_stat(fi, st) : kfs_p_stat(path, st, &now);
	if (rc == -ENOENT)
		rc = kfs_h_stat_ino(ino, st);
	st->st_ino = ino;
	return rc;
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	enter(req);
	struct kfs_ident id;
	char *path = path_of(req, ino, &id);
	if (!path)
		return;
	struct stat st;
	int rc = attr_of(ino, path, fi, &st);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, attr_timeout(id.kind));
	free(path);
}

static int set_times(const char *path, struct fuse_file_info *fi, const struct stat *a, int set)
{
	struct timespec tv[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_nsec = UTIME_OMIT}};
	if (set & FUSE_SET_ATTR_ATIME_NOW)
		tv[0].tv_nsec = UTIME_NOW;
	else if (set & FUSE_SET_ATTR_ATIME)
		tv[0] = a->st_atim;
	if (set & FUSE_SET_ATTR_MTIME_NOW)
		tv[1].tv_nsec = UTIME_NOW;
	else if (set & FUSE_SET_ATTR_MTIME)
		tv[1] = a->st_mtim;
	return kfs_p_meta(path, fi, KFS_META_TIMES, tv, 0, 0, 0);
}

/* chmod, chown, truncate and times, in that order (as the path API did them). */
static int set_attrs(const char *path, struct fuse_file_info *fi, const struct stat *a, int set)
{
	int rc = 0;
	if (set & FUSE_SET_ATTR_MODE)
		rc = kfs_p_meta(path, fi, KFS_META_MODE, NULL, a->st_mode & 07777, 0, 0);
	if (rc == 0 && (set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		rc = kfs_p_meta(path, fi, KFS_META_OWNER, NULL, 0,
				(set & FUSE_SET_ATTR_UID) ? a->st_uid : (uid_t)-1,
				(set & FUSE_SET_ATTR_GID) ? a->st_gid : (gid_t)-1);
	if (rc == 0 && (set & FUSE_SET_ATTR_SIZE))
		rc = kfs_p_truncate(path, a->st_size, fi);
	if (rc == 0 && (set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
			       FUSE_SET_ATTR_MTIME_NOW)))
		rc = set_times(path, fi, a, set);
	return rc;
}

static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	enter(req);
	struct kfs_ident id;
	char *path = path_of(req, ino, &id);
	if (!path)
		return;
	watch_published();
	int rc = set_attrs(path, fi, attr, to_set);
	wait_published();
	struct stat st;
	if (rc == 0)
		rc = attr_of(ino, path, fi, &st);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, attr_timeout(id.kind));
	free(path);
}

static void ll_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	enter(req);
	char *path = path_of(req, ino, NULL);
	if (!path)
		return;
	fuse_reply_err(req, -kfs_p_access(path, mask));
	free(path);
}

static void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	enter(req);
	char *path = child_of(req, parent, name);
	if (!path)
		return;
	int rc = kfs_p_mkdir(path, mode);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		reply_entry(req, path, parent);
	free(path);
}

/* unlink and rmdir: the kernel drops the name itself. */
static void remove_name(fuse_req_t req, fuse_ino_t parent, const char *name, bool dir)
{
	enter(req);
	char *path = child_of(req, parent, name);
	if (!path)
		return;
	int rc = dir ? kfs_p_rmdir(path) : kfs_p_unlink(path);
	if (rc == 0 && dir)
		kfs_itable_gone(kfs_cur.fs->inodes, path);
	fuse_reply_err(req, -rc);
	free(path);
}

static void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, false);
}

static void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, true);
}

/* The kernel moves the source's name onto the target: the source's inode now names the target
 * path. A replaced object.yaml's inode keeps naming object.yaml, so a process that holds it
 * (an open or a cached name while sed -i renames) gets the new object, not ESTALE. */
static void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct kfs_fs *fs = enter(req);
	char *from = child_of(req, parent, name);
	if (!from)
		return;
	char *to = child_of(req, newparent, newname);
	if (!to) {
		free(from);
		return;
	}
	watch_published();
	int rc = kfs_p_rename(from, to, flags);
	if (rc == 0)
		kfs_itable_rename(fs->inodes, from, to, newparent);
	/* A rename onto object.yaml submits it (sed -i): its render is told to the kernel first.
	 * The notifier never needs this folder's lock, which the kernel holds now (notify.c).
	 * A rename in the slot's output/ or metadata/ has nothing to tell that the kernel did not
	 * do itself, and the notifier may need that folder's lock (a name a new run removed). */
	if (!kfs_p_in_slot(from) || !kfs_p_in_slot(to))
		wait_published();
	fuse_reply_err(req, -rc);
	free(from);
	free(to);
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	enter(req);
	struct kfs_ident id;
	char *path = path_of(req, ino, &id);
	if (!path)
		return;
	int rc = kfs_p_open(path, fi, false, 0, id.kind == KFS_K_IMM ? id.id : 0);
	if (rc == 0)
		kfs_h_opened(fi, ino);
	if (rc)
		fuse_reply_err(req, -rc);
	else if (fuse_reply_open(req, fi) != 0)
		kfs_h_release(fi); /* interrupted: the kernel has no such file */
	free(path);
}

static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct kfs_fs *fs = enter(req);
	char *path = child_of(req, parent, name);
	if (!path)
		return;
	struct fuse_entry_param e;
	uint64_t ticket = kfs_lookup_begin(fs->notifier);
	int rc = kfs_p_open(path, fi, true, mode, 0);
	if (rc == 0 && (rc = entry_of(path, parent, &e)) != 0)
		kfs_h_release(fi);
	if (rc == 0)
		kfs_h_opened(fi, e.ino);
	if (rc) {
		fuse_reply_err(req, -rc);
	} else if (fuse_reply_create(req, &e, fi) != 0) {
		kfs_h_release(fi);
		kfs_itable_forget(fs->inodes, e.ino, 1);
	}
	kfs_lookup_end(fs->notifier, ticket);
	free(path);
}

static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)ino;
	enter(req);
	char *buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	int n = kfs_h_read(fi, buf, size, off);
	if (n < 0)
		fuse_reply_err(req, -n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	(void)ino;
	enter(req);
	int n = kfs_h_write(fi, buf, size, off);
	if (n < 0)
		fuse_reply_err(req, -n);
	else
		fuse_reply_write(req, (size_t)n);
}

static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	enter(req);
	watch_published();
	int rc = kfs_h_flush(fi);
	wait_published();
	fuse_reply_err(req, -rc);
}

/* RELEASE is sent after close(2) returned: nobody waits for it, nor for its invalidations. */
static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	enter(req);
	fuse_reply_err(req, -kfs_h_release(fi));
}

static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	enter(req);
	fuse_reply_err(req, -kfs_h_fsync(fi, datasync));
}

/* A folder's listing, taken at opendir: names and types, served by offset. */
struct listing {
	char *path;
	char **names;
	mode_t *types;
	size_t n, cap;
};

static void listing_add(void *ctx, const char *name, size_t len, mode_t type)
{
	struct listing *l = ctx;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 32;
		l->names = kfs_xrealloc(l->names, l->cap * sizeof(*l->names));
		l->types = kfs_xrealloc(l->types, l->cap * sizeof(*l->types));
	}
	l->names[l->n] = kfs_xstrndup(name, len);
	l->types[l->n++] = type;
}

static void listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	free(l->types);
	free(l->path);
	free(l);
}

static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	enter(req);
	char *path = path_of(req, ino, NULL);
	if (!path)
		return;
	struct listing *l = kfs_xcalloc(1, sizeof(*l));
	int rc = kfs_p_readdir(path, listing_add, l);
	l->path = path;
	if (rc) {
		listing_free(l);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)l;
	/* The kernel keeps the listing until the notifier (a publish) or a change made through
	 * the mount (mkdir, create, unlink, rename) drops it. */
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi) != 0)
		listing_free(l);
}

static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)ino;
	struct listing *l = (struct listing *)(uintptr_t)fi->fh;
	char *buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t used = 0;
	for (size_t i = (size_t)off; off >= 0 && i < l->n; i++) {
		/* Inode numbers come with LOOKUP: a listing's are unknown, as with the path API. */
		struct stat st = {.st_ino = 0xffffffffu, .st_mode = l->types[i]};
		size_t need = fuse_add_direntry(req, buf + used, size - used, l->names[i], &st,
						(off_t)(i + 1));
		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

/* READDIRPLUS: each name with its entry, as LOOKUP gives it, so that `find` and `ls -l` need no
 * LOOKUP per name. The listing's path is kept for this. */
static void ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	struct kfs_fs *fs = enter(req);
	struct listing *l = (struct listing *)(uintptr_t)fi->fh;
	char *buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	uint64_t ticket = kfs_lookup_begin(fs->notifier);
	size_t used = 0;
	for (size_t i = (size_t)off; off >= 0 && i < l->n; i++) {
		struct fuse_entry_param e = {.attr = {.st_ino = ino, .st_mode = S_IFDIR}};
		bool dots = strcmp(l->names[i], ".") == 0 || strcmp(l->names[i], "..") == 0;
		struct kfs_buf p = {0};
		kfs_buf_printf(&p, "%s/%s", strcmp(l->path, "/") == 0 ? "" : l->path, l->names[i]);
		/* A name that went since the listing was taken is left out. */
		bool ok = dots || entry_of(p.data, ino, &e) == 0;
		kfs_buf_free(&p);
		if (!ok)
			continue;
		size_t need = fuse_add_direntry_plus(req, buf + used, size - used, l->names[i], &e,
						     (off_t)(i + 1));
		if (need > size - used) {
			if (!dots)
				kfs_itable_forget(fs->inodes, e.ino, 1);
			break;
		}
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	kfs_lookup_end(fs->notifier, ticket);
	free(buf);
}

static void ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	listing_free((struct listing *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void ll_statfs(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	struct statvfs st;
	memset(&st, 0, sizeof(st));
	st.f_bsize = 4096;
	st.f_frsize = 4096;
	st.f_namemax = NAME_MAX;
	fuse_reply_statfs(req, &st);
}

static void ll_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* The notifier drops what changed; the kernel must not drop a rendered file's pages
	 * itself because its mtime moved with a later publish of the same bytes. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
}

static const struct fuse_lowlevel_ops operations = {
    .init = ll_init,
    .lookup = ll_lookup,
    .forget = ll_forget,
    .forget_multi = ll_forget_multi,
    .getattr = ll_getattr,
    .setattr = ll_setattr,
    .access = ll_access,
    .mkdir = ll_mkdir,
    .unlink = ll_unlink,
    .rmdir = ll_rmdir,
    .rename = ll_rename,
    .open = ll_open,
    .create = ll_create,
    .read = ll_read,
    .write = ll_write,
    .flush = ll_flush,
    .release = ll_release,
    .fsync = ll_fsync,
    .opendir = ll_opendir,
    .readdir = ll_readdir,
    .readdirplus = ll_readdirplus,
    .releasedir = ll_releasedir,
    .statfs = ll_statfs,
};

const struct fuse_lowlevel_ops *kfs_fs_operations(void)
{
	return &operations;
}

int kfs_fs_start(struct kfs_fs *fs)
{
	fs->inodes = kfs_itable_new();
	struct kfs_notifier *n = kfs_notifier_start(fs);
	if (!n)
		return -EAGAIN;
	__atomic_store_n(&fs->notifier, n, __ATOMIC_RELEASE);
	return 0;
}

void kfs_fs_stop(struct kfs_fs *fs)
{
	kfs_notifier_stop(fs->notifier);
}

void kfs_fs_free(struct kfs_fs *fs)
{
	kfs_notifier_free(fs->notifier);
	fs->notifier = NULL;
	kfs_itable_free(fs->inodes);
	fs->inodes = NULL;
}

void kfs_fs_on_publish(void *ctx, const char *folder)
{
	struct kfs_fs *fs = ctx;
	struct kfs_notifier *n = __atomic_load_n(&fs->notifier, __ATOMIC_ACQUIRE);
	if (n)
		kfs_notify_last = kfs_notifier_queue(n, folder);
}
