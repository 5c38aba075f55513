/* The FUSE front end: path routing and per-open state over the store (fs.c), and the daemon that
 * mounts it (daemon.c). Thin by design: the store renders, publishes and persists. */
#ifndef KRATIXFS_FS_H
#define KRATIXFS_FS_H

#define FUSE_USE_VERSION 35

#include <fuse.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "kratixfs/store.h"

/* Everything the daemon owns; passed to every operation as the FUSE private data. */
struct kfs_fs {
	struct kfs_store *store;
	char *scratch_dir; /* <state>/scratch: editors' files, one folder per request */
	size_t max_input;  /* the store's limit: write buffers keep at most one byte more */
	uid_t uid;
	gid_t gid;
	bool shared; /* allow_other: requests/ is 1777, as /tmp, so that every user can mkdir */

	/* Open write handles (fs.c's), so that a created object.yaml stats before its close; and
	 * every handle not yet freed, for kfs_fs_drop_handles. The lock order of wlock
	 * and the store's locks is in src/store/store_internal.h. */
	pthread_mutex_t wlock;
	void *writers;
	void *handles;

	struct fuse *fuse;
};

/* The operations table of the mount. */
const struct fuse_operations *kfs_fs_operations(void);
/* Frees the handles the kernel never released: files still open when the mount ended. */
void kfs_fs_drop_handles(struct kfs_fs *fs);

/* `kratixfs [-f] [-d] [-s] [-o OPTIONS] MOUNTPOINT`: mounts, serves until unmounted or signalled,
 * returns the exit code. */
int kfs_daemon_main(int argc, char **argv);
/* Prints the daemon's usage and options. */
void kfs_daemon_usage(FILE *out);

#endif
