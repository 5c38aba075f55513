/* What the Git writer's files share (private to src/git): the writer's state, the group-commit
 * queue, and the tree building that commits and pushes both use.
 *   tree.c      works applied to trees: owned folders and indexes removed, files and
 *               aggregatedYAML parts written
 *   commit.c    commits on the branch (compare-and-swap), the group commit, the retry list
 *   push.c      fetch, re-apply on a moved remote, push
 *   gitstore.c  the background thread, open and close; its top comment: threads and locks
 *   sink.c      renders in, outcomes out; owner keys
 *   message.c   a commit's lines: one per WorkPlacement it changed
 *   parts.c     aggregatedYAML files and their parts index (public API, gitstore.h)
 *   layout.c    repository paths, works, canary files (public API, gitstore.h) */
#ifndef KRATIXFS_GIT_WRITER_H
#define KRATIXFS_GIT_WRITER_H

#include <git2.h>
#include <pthread.h>
#include <stdbool.h>

#include "kratixfs/buf.h"
#include "kratixfs/gitstore.h"

/* layout.c, schedule.c */
/* Go's filepath.Clean: "." for an empty result, a rooted path stays rooted. Caller frees. */
char *kfs_gitw_go_clean(const char *p);
/* The WorkPlacement name "<work>.<dest>-<id5>" of a Work of promise: of the request (ns,
 * request) or the promise workflow (request NULL), for pipeline, or of the static
 * dependencies (is_static). Caller frees. */
char *kfs_gitw_wp_name(const char *promise, const char *ns, const char *request,
		       const char *pipeline, bool is_static, const char *dest, const char *id5);
/* The repository path of a .kratix index entry, which is relative to the store's path. */
char *kfs_gitw_index_repo_path(const char *store_path, const char *entry);
/* The namespace of a WorkPlacement: the request's, or Kratix's own for a promise. */
const char *kfs_gitw_wp_namespace(const char *ns, const char *request);
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
	bool canary_done; /* this run's commits have written the canary files */

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

/* A commit message being built: one line per WorkPlacement (message.c). */
struct msg_line {
	char *text;
	long dest; /* the destination whose GitStateStore signs, or -1 */
};

struct commit_msg {
	struct msg_line *items;
	size_t n;
};

/* What one work changed in aggregatedYAML files, by WorkPlacement. */
struct agg_keys {
	char **changed; /* WorkPlacements whose parts it wrote or changed */
	size_t nchanged;
	char **gone; /* WorkPlacements whose parts it removed, all of them */
	long *gone_dest;
	size_t ngone;
};

void kfs_gitw_agg_keys_free(struct agg_keys *k);

/* message.c */
/* Adds "<verb> from: <name>" unless the message has it. */
void kfs_gitw_msg_add(struct commit_msg *m, const char *verb, const char *name, long dest);
void kfs_gitw_msg_free(struct commit_msg *m);
/* The message's text: its lines, each ending in a newline. */
void kfs_gitw_msg_text(const struct commit_msg *m, struct kfs_buf *out);
/* The lines work w adds, from the tree before and after it and its aggregatedYAML changes:
 * its WorkPlacements whose files changed, and those whose files it removed. */
void kfs_gitw_work_lines(git_repository *repo, git_tree *before, git_tree *after,
			 const struct kfs_git_work *w, const struct agg_keys *agg,
			 struct commit_msg *m);

/* tree.c */
/* Adds one tree edit (upsert of id at p, or removal): the path is copied. */
void kfs_gitw_edit_add(struct edits *e, git_tree_update_t action, const git_oid *id, const char *p);
void kfs_gitw_edits_free(struct edits *e);
bool kfs_gitw_tree_has(git_tree *t, const char *path);
/* Drops removals of paths t does not have: git_tree_create_updated refuses them. */
void kfs_gitw_drop_absent_removals(struct edits *e, git_tree *t);
/* The blob at path in t into out (appended). */
int kfs_gitw_read_blob(git_repository *repo, git_tree *t, const char *path, struct kfs_buf *out);
/* Writes parts as the file at path with its parts index (removes both when there are none)
 * through e. */
int kfs_gitw_agg_write(git_repository *repo, git_tree *t, const char *path,
		       struct kfs_git_parts *parts, struct edits *e);
/* Writes the batch's changed aggregatedYAML files into tree *id. */
int kfs_gitw_agg_flush(struct kfs_git *g, git_oid *id, struct agg_files *af, struct kfs_error *err);
void kfs_gitw_agg_files_free(struct agg_files *af);
/* Applies work w to tree *id and to the batch's aggregatedYAML files af; keys gets which
 * WorkPlacements' parts changed. */
int kfs_gitw_apply_work(struct kfs_git *g, git_oid *id, const struct kfs_git_work *w,
			struct agg_files *af, struct agg_keys *keys, struct kfs_error *err);
int kfs_gitw_empty_tree(git_repository *repo, git_oid *id);

/* commit.c (callers hold rlock, but for wake_thread: qlock) */
/* Who signs a commit: a GitStateStore's spec.gitAuthor (Kratix's default: kratix, no email). */
struct git_author {
	const char *name, *email;
};
/* Commits tree on parent, signed by who (author and committer, as Kratix's git commit -c
 * user.name -c user.email --author does), and moves the branch from expect to it; -EAGAIN if
 * it moved. */
int kfs_gitw_commit_tree(struct kfs_git *g, const git_oid *parent, const git_oid *expect,
			 const git_oid *tree_id, const char *msg, const struct git_author *who,
			 git_oid *out, struct kfs_error *err);
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
