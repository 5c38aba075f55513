/* The path layer's shared pieces, private to src/fs: a path split into its area and view folder
 * (route.c), and the per-open state (handles.c). */
#ifndef KRATIXFS_FS_FRONT_H
#define KRATIXFS_FS_FRONT_H

#include <errno.h>
#include <limits.h>

#include "fs.h"

/* What a write handle writes: a request's object.yaml, the slot's input/object.yaml, a
 * request's feedback, a file under the slot's output/ or metadata/. */
enum wtarget { W_OBJECT, W_SLOT, W_FEEDBACK, W_SLOT_FILE };

/* The route table's rows (route.c): the areas of the tree, by their first path component, and
 * what each allows. Handlers ask the route's area, never which area it is. */
struct area {
	const char *name; /* "promises", "requests"; "" for the root (every other path) */
	/* Whether rel (a path in one of the area's folders) is a file a user may write, and what
	 * a write of it is (target may be NULL). NULL: the area is read-only. */
	bool (*writes)(const char *rel, enum wtarget *target);
	/* Folders beyond its views' ("input" at the root), and names listed at the top beyond its
	 * views' (the root's input, promises, requests). */
	const char *const *extra_dirs;
	const char *const *top_names;
	/* The user's own folders (requests): made by mkdir in the area's listing (1777 when
	 * shared), removed by rmdir, with their owners' modes (chmod, chown), object.yaml listed
	 * first, unlinks and renames of their files, editors' scratch files at their top. */
	bool user_folders;
	/* Its folders have the view owner's mode (else 0755); a user may create in them. */
	bool owner_modes, folder_writable;
	/* The root slot: other processes change files and folders under output/ and metadata/
	 * (a pipeline's shared /kratix), through the store's kfs_store_slot_* calls. */
	bool slot_files;
	int no_view; /* the error when a folder's view is missing */
};

/* A path split into the store's view folder and the path inside it. */
struct route {
	const struct area *area;
	bool list;		    /* "/promises" or "/requests" themselves */
	char folder[NAME_MAX + 16]; /* "", "promises/<p>", "requests/<name>" */
	char name[NAME_MAX + 1];    /* promise or request name */
	const char *rel;	    /* path inside the view, "" for its folder */
};

enum htype { H_READ, H_WRITE, H_SCRATCH };

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
	char *path; /* W_SLOT_FILE: the file's path in the slot ("output/a.yaml") */
	/* The process that opened it: only its close() submits (see kfs_h_flush); and the thread,
	 * so that a close by that same thread (the common case) needs no look in /proc. */
	pid_t opener, opener_tid;
	struct kfs_owner owner; /* of the request, for fstat */
	bool append, dirty;
	/* Opened with O_TRUNC (a slot file: or created) and not written since: a shell's
	 * redirection closes its first fd (dup2 then close) before writing, so this submits on
	 * release, not on that flush. */
	bool truncated;
	bool created; /* W_SLOT_FILE: the file did not exist at open (see flush_truncated) */
	uint64_t run; /* W_SLOT_FILE: the slot's run at open; a later run refuses its bytes */
	char *data;
	size_t len, cap; /* len: the bytes held, at most max_input + 1 */
	size_t size;	 /* the file's size as written, which may be larger than len */
	struct timespec mtime;
	pthread_mutex_t lock;
	/* Guards size and mtime for stat: lock is held across a whole submit (render and
	 * commit), and an `ls -l` of the folder must not wait for it. */
	pthread_mutex_t stat_lock;
	fuse_ino_t ino; /* the inode it was opened on (lowlevel.c), for fstat once the name went */
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
/* Routes path to an entry of a view's folder: 0 with *v held (kfs_view_put it); list_rc when
 * path is a listing folder (requests/, promises/); -ENOENT when the folder has no view. */
int route_entry(const char *path, struct route *r, struct kfs_view **v, int list_rc);
bool has_object(const struct kfs_view *v);
bool is_writable_file(const struct route *r);
/* rel is one of the area's extra folders ("input" at the root). */
bool is_extra_dir(const struct route *r);
/* A path under the slot's output/ or metadata/ (a file or a folder there), and those two
 * folders themselves. */
bool is_slot_path(const struct route *r);
bool is_slot_top(const struct route *r);
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
/* What a write handle's submit names: the request, or the slot file's path. */
const char *target_of(const struct handle *h);

/* scratch.c: editors' files, real files under <state>/scratch/<request>/ */
bool is_generated_name(const char *name);
/* A top-level name of a user folder that the store never shows: an editor's file. */
bool is_scratch(const struct route *r, const struct kfs_view *v);
void scratch_path(char *out, size_t n, const char *request, const char *file);
int ensure_scratch_dir(const char *request);
int open_scratch(const struct route *r, int flags, mode_t mode, struct fuse_file_info *fi);
int scratch_stat(const struct route *r, struct stat *st);
int scratch_meta(const struct route *r, enum kfs_meta_op op, const struct timespec tv[2],
		 mode_t mode, uid_t uid, gid_t gid);
int scratch_truncate(const struct route *r, off_t size);
int scratch_unlink(const struct route *r);
int scratch_rename(const struct route *from, const struct route *to, unsigned int flags);
/* A scratch file renamed onto object.yaml submits its content; object.yaml renamed to a
 * scratch name is copied there (the request keeps it). */
int scratch_into_object(const struct route *from, const struct route *to);
int scratch_copy_object(const struct kfs_view_file *obj, const struct kfs_owner *owner,
			const struct route *to);
bool scratch_dir_empty(const char *request);
void scratch_remove_dir(const char *request);
void scratch_list(const char *request, kfs_dirent_fn add, void *ctx);

#endif
