/* The FUSE front end, private to src/fs: the daemon (daemon.c, log.c, mounted.c) mounts a
 * low-level FUSE session (lowlevel.c) whose inodes (inode.c) name paths; the path layer turns a
 * path into store calls: route.c (the route table of areas, stat, access), handles.c (open
 * files), dirops.c (names), scratch.c (editors' files); the notifier (notify.c) tells the kernel
 * what a publish changed. Thin by design: the store renders, publishes and persists. The
 * threads and the locks are described at the top of lowlevel.c. */
#ifndef KRATIXFS_FS_H
#define KRATIXFS_FS_H

#define FUSE_USE_VERSION 35

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "kratixfs/store.h"

struct kfs_itable;
struct kfs_notifier;

/* Everything the daemon owns. */
struct kfs_fs {
	struct kfs_store *store;
	char *scratch_dir; /* <state>/scratch: editors' files, one folder per request */
	size_t max_input;  /* the store's limit: write buffers keep at most one byte more */
	uid_t uid;
	gid_t gid;
	bool shared; /* allow_other: requests/ is 1777, as /tmp, so that every user can mkdir */
	bool single; /* -s: one worker thread */

	/* Open write handles (handles.c), so that a created object.yaml stats before its close;
	 * and every handle not yet freed, for kfs_fs_drop_handles. */
	pthread_mutex_t wlock;
	void *writers;
	void *handles;

	struct fuse_session *se;
	struct kfs_itable *inodes;
	struct kfs_notifier *notifier;
	/* -o log_level=debug: a line per 1,000 FORGETs with the inode count. */
	void (*log)(void *ctx, enum kfs_log_level level, const char *line);
	void *log_ctx;
};

/* Who is asking: set by the low-level glue at the start of every operation, for this thread. */
struct kfs_call {
	struct kfs_fs *fs;
	uid_t uid;
	gid_t gid;
	pid_t pid; /* the calling thread */
	mode_t umask;
};
extern __thread struct kfs_call kfs_cur;

/* What a path is, for the inode table and the kernel's caches:
 *   KFS_K_DIR  a folder: names and attributes cached, invalidated by the notifier
 *   KFS_K_IMM  a rendered file (neither live nor writable): one inode per view file id, its
 *              pages and attributes cached for long
 *   KFS_K_VOL  everything else (object.yaml, feedback, status.yaml, phase, log, scratch files):
 *              no page cache, attributes never cached */
enum kfs_kind { KFS_K_DIR, KFS_K_IMM, KFS_K_VOL };

struct kfs_ident {
	enum kfs_kind kind;
	uint64_t id; /* KFS_K_IMM: the view file's id */
};

/* ---- the path layer: paths are absolute in the mount ("/requests/x/object.yaml"); every
 * function returns 0 or a negative errno. ---- */
int kfs_p_stat(const char *path, struct stat *st, struct kfs_ident *id);
int kfs_p_access(const char *path, int mask);
/* Opens path; want_id is the inode's view file id (0: none): a read of that very render is
 * served through the page cache (keep_cache), any other read bypasses it (direct_io). */
int kfs_p_open(const char *path, struct fuse_file_info *fi, bool create, mode_t mode,
	       uint64_t want_id);
int kfs_p_truncate(const char *path, off_t size, struct fuse_file_info *fi);
enum kfs_meta_op { KFS_META_TIMES, KFS_META_MODE, KFS_META_OWNER };
int kfs_p_meta(const char *path, struct fuse_file_info *fi, enum kfs_meta_op op,
	       const struct timespec tv[2], mode_t mode, uid_t uid, gid_t gid);
/* Calls add for every name of the folder at path, "." and ".." first; type is S_IFDIR or S_IFREG.
 */
typedef void (*kfs_dirent_fn)(void *ctx, const char *name, size_t len, mode_t type);
int kfs_p_readdir(const char *path, kfs_dirent_fn add, void *ctx);
int kfs_p_mkdir(const char *path, mode_t mode);
int kfs_p_unlink(const char *path);
int kfs_p_rmdir(const char *path);
int kfs_p_rename(const char *from, const char *to, unsigned int flags);
/* path lies under the root slot's output/ or metadata/, where other processes change files. */
bool kfs_p_in_slot(const char *path);

/* ---- open handles (handles.c) ---- */
int kfs_h_stat(struct fuse_file_info *fi, struct stat *st);
/* fi was opened on inode ino. */
void kfs_h_opened(struct fuse_file_info *fi, fuse_ino_t ino);
/* The attributes of a file open on ino whose name went (a slot file a new run removed): fstat
 * of an open file works, with no link left. -ENOENT when no handle is open on it. */
int kfs_h_stat_ino(fuse_ino_t ino, struct stat *st);
int kfs_h_read(struct fuse_file_info *fi, char *buf, size_t size, off_t off);
int kfs_h_write(struct fuse_file_info *fi, const char *buf, size_t size, off_t off);
int kfs_h_flush(struct fuse_file_info *fi);
int kfs_h_release(struct fuse_file_info *fi);
int kfs_h_fsync(struct fuse_file_info *fi, int datasync);
/* Frees the handles the kernel never released: files still open when the mount ended. */
void kfs_fs_drop_handles(struct kfs_fs *fs);

/* ---- the low-level session (lowlevel.c) ---- */
const struct fuse_lowlevel_ops *kfs_fs_operations(void);
/* Starts the inode table and the notifier for fs->se; kfs_fs_stop ends the notifier (after the
 * loop, before the unmount); kfs_fs_free frees both once the store is closed. */
int kfs_fs_start(struct kfs_fs *fs);
void kfs_fs_stop(struct kfs_fs *fs);
void kfs_fs_free(struct kfs_fs *fs);
/* The store's on_publish: queues folder for the notifier. */
void kfs_fs_on_publish(void *ctx, const char *folder);

/* `kratixfs [-f] [-d] [-s] [-o OPTIONS] MOUNTPOINT`: mounts, serves until unmounted or signalled,
 * returns the exit code. */
int kfs_daemon_main(int argc, char **argv);
/* Prints the daemon's usage and options. */
void kfs_daemon_usage(FILE *out);

#endif
