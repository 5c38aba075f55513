/* The object database kratixfs commits through: new objects are kept in memory and written to
 * disk as one pack per commit (two files) instead of one loose file per object (about twelve a
 * commit), and small packs are merged as they pile up, so the number of packs, and with it the
 * cost of every object lookup, grows with the logarithm of the history.
 *
 *   kfs_gitpacks_attach(repo, &p, err)   gives repo this object database
 *   ... git_blob_create_*, git_tree_create_updated, git_commit_create ...   (in memory)
 *   kfs_gitpacks_flush(p, err)           before a reference may point at the new objects
 *   ... git_reference_create ...
 *   kfs_gitpacks_settle(p)               once it does (or the attempt failed)
 *
 * Packs are standard (version 2, with version 2 indexes): git, libgit2, Argo CD and Flux read
 * them. The packs kratixfs writes hold no deltas, so merging copies entries byte for byte. Packs
 * found in the folder at start take part in merging unless they hold deltas (git's, from a fetch
 * or gc: those are only read) or have a .keep file (but the one kratixfs leaves on a pack whose
 * commit a crash interrupted). Not thread-safe: one caller at a time, as
 * for the git_repository it serves.
 *
 * For bench/git's comparison, the daemon's environment may choose libgit2's own ways instead:
 * KFS_GIT_OBJECTS=mempack (libgit2's mempack, written as one pack per flush through
 * git_mempack_dump and git_odb_write_pack, never merged) or KFS_GIT_OBJECTS=loose (libgit2's
 * loose objects; flush and settle do nothing). */
#ifndef KRATIXFS_GITPACKS_H
#define KRATIXFS_GITPACKS_H

#include <git2.h>
#include <stddef.h>

#include "kratixfs/error.h"

/* How many packs of one level make one pack of the next level. */
#define KFS_GITPACKS_FANOUT 8
/* Packs found in the folder at start are put at levels by their objects: a pack of the first
 * level holds about this many (one commit's, on the bundled promise). */
#define KFS_GITPACKS_LEVEL0 12

struct kfs_gitpacks;

int kfs_gitpacks_attach(git_repository *repo, struct kfs_gitpacks **out, struct kfs_error *err);
/* Writes the objects created since the last flush as one pack (nothing to write: no pack), with
 * a .keep file until kfs_gitpacks_settle: its objects are not reachable yet, and `git repack
 * -a -d` would delete it. */
int kfs_gitpacks_flush(struct kfs_gitpacks *p, struct kfs_error *err);
/* The branch points at the flushed objects now (or will not): the pack loses its .keep file,
 * and the newest packs are merged when KFS_GITPACKS_FANOUT of one size have piled up. */
void kfs_gitpacks_settle(struct kfs_gitpacks *p);
/* Looks at the pack folder again, for packs another process wrote (a fetch). Lookups that miss
 * do it by themselves only when the folder changed since the last look. */
int kfs_gitpacks_refresh(struct kfs_gitpacks *p, struct kfs_error *err);
/* The number of packs that take part in merging: those this database wrote, and those found
 * in the folder at start that were not yet found to be someone else's. */
size_t kfs_gitpacks_count(const struct kfs_gitpacks *p);
/* Detaches nothing: the repository keeps the object database; this frees the bookkeeping. */
void kfs_gitpacks_free(struct kfs_gitpacks *p);

#endif
