/* What the Git writer's files share (private to src/git): the writer's state, the group-commit
 * queue, and the tree building that commits and pushes both use.
 *   tree.c      works applied to trees: owned folders and indexes removed, files and
 *               aggregatedYAML parts written
 *   commit.c    commits on the branch (compare-and-swap), the group commit, the retry list
 *   push.c      fetch, re-apply on a moved remote, push
 *   gitstore.c  the background thread, open and close; its top comment: threads and locks
 *   sink.c      renders in, outcomes out; owner keys */
#ifndef KRATIXFS_GIT_WRITER_H
#define KRATIXFS_GIT_WRITER_H

#include <git2.h>
#include <pthread.h>
#include <stdbool.h>

#include "kratixfs/buf.h"
#include "kratixfs/gitstore.h"

/* Kratix's gitAuthor defaults to name "kratix" and no email; libgit2 refuses an empty email, so
 * kratixfs signs with Kratix's own domain. */
#define AUTHOR_NAME  "kratix"
#define AUTHOR_EMAIL "kratix@kratix.io"
/* One kfs_git_commit call waiting in the group-commit queue. */
struct req {
	const struct kfs_git_work *works;
	size_t n;
	struct kfs_git_result *res;
	struct kfs_error err;
	int rc;
	bool done;
	struct req *next;
};

struct kfs_git {
	char *path;
	char *refname;	/* refs/heads/<branch> */
	char *tracking; /* refs/remotes/kratixfs/<branch>: the remote's head after a fetch */
	struct kfs_git_options opts;
	char *remote;

	/* rlock and qlock are never held together (gitstore.c says who takes which). */
	pthread_mutex_t rlock; /* the repository handle, retry works */
	git_repository *repo;
	struct kfs_gitodb *odb; /* repo's object database */
	struct kfs_git_work *retry;
	size_t nretry;

	pthread_mutex_t qlock; /* queue, thread state */
	pthread_cond_t qcond;
	struct req *head, *tail;
	bool committing;
	bool stop, dirty, force;
	char pushed[41]; /* the head the remote is known to have */
	pthread_t thread;
	bool thread_started;
};

struct edits {
	git_tree_update *u;
	size_t n, cap;
	char **paths; /* owned copies, u[i].path points at them */
};

/* The aggregatedYAML files a batch of works changes, as parts: read from the tree at their
 * first use, written once after the last work. */
struct agg_file {
	char *path;
	struct kfs_git_parts parts;
	bool dirty;
};

struct agg_files {
	struct agg_file *items;
	size_t n;
};

/* tree.c */
/* Adds one tree edit (upsert of id at p, or removal): the path is copied. */
void kfs_gitw_edit_add(struct edits *e, git_tree_update_t action, const git_oid *id, const char *p);
void kfs_gitw_edits_free(struct edits *e);
bool kfs_gitw_tree_has(git_tree *t, const char *path);
/* Drops removals of paths t does not have: git_tree_create_updated refuses them. */
void kfs_gitw_drop_absent_removals(struct edits *e, git_tree *t);
/* The blob at path in t into out (appended). */
int kfs_gitw_read_blob(git_repository *repo, git_tree *t, const char *path, struct kfs_buf *out);
/* Writes parts as the file at path (removes it when there are none) through e. */
int kfs_gitw_agg_write(git_repository *repo, git_tree *t, const char *path,
		       struct kfs_git_parts *parts, struct edits *e);
/* Writes the batch's changed aggregatedYAML files into tree *id. */
int kfs_gitw_agg_flush(struct kfs_git *g, git_oid *id, struct agg_files *af, struct kfs_error *err);
void kfs_gitw_agg_files_free(struct agg_files *af);
/* Applies work w to tree *id and to the batch's aggregatedYAML files af. */
int kfs_gitw_apply_work(struct kfs_git *g, git_oid *id, const struct kfs_git_work *w,
			struct agg_files *af, bool *parts_changed, struct kfs_error *err);
int kfs_gitw_empty_tree(git_repository *repo, git_oid *id);

/* commit.c (callers hold rlock, but for wake_thread: qlock) */
/* Commits tree on parent and moves the branch from expect to it; -EAGAIN if it moved. */
int kfs_gitw_commit_tree(struct kfs_git *g, const git_oid *parent, const git_oid *expect,
			 const git_oid *tree_id, const char *msg, git_oid *out, struct kfs_error *err);
/* 1 with *id set, 0 if refname does not exist, or libgit2's error. */
int kfs_gitw_head_id(git_repository *repo, const char *refname, git_oid *id);
/* Commits the queued requests as one commit (each alone on failure); failed works are kept for
 * a retry, and an owner's retry is dropped when a newer work of it lands. */
void kfs_gitw_commit_reqs(struct kfs_git *g, struct req **reqs, size_t nreq);
/* Tells the background thread there is something to push (force: now, whatever the backoff). */
void kfs_gitw_wake_thread(struct kfs_git *g, bool force);

/* push.c */
/* One push attempt (fetch, re-apply, push): 0 with head, the pushed commit, or an error. Takes
 * rlock for the parts that read the repository handle; call it with no lock held. */
int kfs_gitw_push_once(struct kfs_git *g, char head[41], struct kfs_error *err);

#endif
