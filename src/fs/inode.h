/* The inode table: the inode numbers the kernel holds, each naming a path and what was there
 * (a folder, one render of a rendered file, or a file read afresh at each open). An inode lives
 * while the kernel counts lookups of it (FORGET ends it); its number is never reused. */
#ifndef KRATIXFS_FS_INODE_H
#define KRATIXFS_FS_INODE_H

#include <limits.h>

#include "fs.h"

struct kfs_itable *kfs_itable_new(void);
void kfs_itable_free(struct kfs_itable *t);
/* The inode of path with identity id, found or made, with one more lookup; parent is the folder
 * the kernel looked it up in (for the notifier's inval_entry). */
fuse_ino_t kfs_itable_ref(struct kfs_itable *t, const char *path, const struct kfs_ident *id,
			  fuse_ino_t parent);
/* A copy of ino's path (free it) and its identity; NULL when the kernel forgot it. */
char *kfs_itable_path(struct kfs_itable *t, fuse_ino_t ino, struct kfs_ident *id);
/* The kernel dropped n lookups; the inode goes at zero. */
void kfs_itable_forget(struct kfs_itable *t, fuse_ino_t ino, uint64_t n);
/* A rename: every inode at from (or below it) is now at to, in the folder newparent. */
void kfs_itable_rename(struct kfs_itable *t, const char *from, const char *to,
		       fuse_ino_t newparent);
/* A folder was removed: its inode and those under it keep their numbers until the kernel forgets
 * them, but a lookup of the name no longer finds them, so a folder made again there is a new
 * inode (the kernel holds the old one dead while a process has it as its working folder). */
void kfs_itable_gone(struct kfs_itable *t, const char *dir);
size_t kfs_itable_count(struct kfs_itable *t);
/* The generation of every inode of this daemon (its start time): numbers are never reused
 * within one daemon, so one generation tells this daemon's inodes from an earlier one's. */
uint64_t kfs_itable_generation(struct kfs_itable *t);

/* What the notifier checks after a publish: the inodes of one view folder. */
struct kfs_inode_ref {
	fuse_ino_t ino, parent;
	char *path; /* the name is after its last '/' */
	struct kfs_ident id;
};
/* The inodes whose path lies in folder ("requests/x", "promises/p", "" for the root's files,
 * "requests" and "promises" for those folders themselves); free with kfs_itable_refs_free. */
size_t kfs_itable_in_folder(struct kfs_itable *t, const char *folder, struct kfs_inode_ref **out);
void kfs_itable_refs_free(struct kfs_inode_ref *refs, size_t n);
/* The view folder of a path, as kfs_itable_in_folder names it: its length in folder. */
size_t kfs_folder_of(const char *path, char *folder, size_t size);

#endif
