/* How the Git store's new objects reach the disk: libgit2's loose objects, one file per object,
 * written before the branch moves (bench/git measured a pack per commit, kratixfs's own or
 * libgit2's mempack, against them: docs/performance.md). This sets libgit2 up for a
 * repository only kratixfs writes, and keeps the object database seeing what other processes
 * add.
 *
 *   kfs_gitodb_attach(repo, &o, err)   once, after opening the repository
 *   ... git_blob_create_*, git_tree_create_updated, git_commit_create ...
 *   kfs_gitodb_flush(o, err)           before a reference may point at the new objects
 *   ... git_reference_create ...
 *
 * For bench/git's comparison, the daemon's environment may choose KFS_GIT_OBJECTS=mempack:
 * new objects stay in libgit2's mempack and each flush writes them as one pack
 * (git_mempack_dump, then git_odb_write_pack). Not thread-safe: one caller at a time, as for the
 * git_repository it serves. */
#ifndef KRATIXFS_GITODB_H
#define KRATIXFS_GITODB_H

#include <git2.h>

#include "kratixfs/error.h"

struct kfs_gitodb;

int kfs_gitodb_attach(git_repository *repo, struct kfs_gitodb **out, struct kfs_error *err);
/* The objects created since the last flush are on disk when it returns 0. */
int kfs_gitodb_flush(struct kfs_gitodb *o, struct kfs_error *err);
/* Looks at the object folders again, for packs another process wrote (a fetch). */
int kfs_gitodb_refresh(struct kfs_gitodb *o, struct kfs_error *err);
/* The repository keeps its object database; this frees the bookkeeping. */
void kfs_gitodb_free(struct kfs_gitodb *o);

#endif
