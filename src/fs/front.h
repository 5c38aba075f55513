/* The path layer's shared pieces, private to src/fs: a path split into its area and view folder
 * (route.c), and the per-open state (handles.c). */
#ifndef KRATIXFS_FS_FRONT_H
#define KRATIXFS_FS_FRONT_H

#include <errno.h>
#include <limits.h>

#include "fs.h"

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
	/* The process that opened it: only its close() submits (see kfs_h_flush); and the thread,
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
	struct handle *next_writer;	      /* in fs->writers while open */
	struct handle *prev_open, *next_open; /* in fs->handles until freed */
};

static inline struct kfs_fs *ctx(void)
{
	return kfs_cur.fs;
}

static inline struct handle *fh_of(const struct fuse_file_info *fi)
{
	return fi ? (struct handle *)(uintptr_t)fi->fh : NULL;
}

/* Store codes are negative errnos; anything else becomes EIO rather than a bogus reply. */
static inline int reply_code(int rc)
{
	return rc > 0 || rc < -4095 ? -EIO : rc;
}

/* route.c */
int route(const char *path, struct route *r);
struct kfs_view *view_of(const struct route *r);
bool is_generated_name(const char *name);
bool is_scratch(const struct route *r, const struct kfs_view *v);
bool has_object(const struct kfs_view *v);
bool is_writable_file(const struct route *r);
void scratch_path(char *out, size_t n, const char *request, const char *file);
int ensure_scratch_dir(const char *request);
void fill_file(struct stat *st, size_t size, bool writable, const struct kfs_owner *o,
	       const struct timespec *mtime);

/* handles.c */
struct handle *handle_new(enum htype type);
void handle_free(struct handle *h);
struct handle *write_handle(const struct route *r, const struct kfs_view_file *cur, int flags);
void hbuf_resize(struct handle *h, size_t n);
int stat_writer(const struct route *r, struct stat *st);
void writer_add(struct handle *h);
int submit(enum wtarget target, const char *name, const char *data, size_t len);
int open_scratch(const struct route *r, int flags, mode_t mode, struct fuse_file_info *fi);

#endif
