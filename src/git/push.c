/* Pushes: fetch the remote's branch, re-apply kratixfs's changes when another writer moved it,
 * and push exactly the commit checked (a local path remote is moved by compare-and-swap). */
#include <errno.h>
#include <git2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/buf.h"
#include "kratixfs/files.h"
#include "gitodb.h"
#include "git_error.h"
#include "git_writer.h"
#include "ssh_auth.h"
/* ---- push ----------------------------------------------------------------------------------- */

struct replay_ctx {
	git_repository *repo;
	git_tree *base, *local; /* the common ancestor's tree (may be NULL) and kratixfs's */
	git_tree *remote; /* the remote's tree, which kratixfs's changes go onto */
	struct edits *e;
	char **done; /* aggregatedYAML files merged already */
	size_t ndone;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The parts of the aggregatedYAML file at path in t (none if t is NULL). */
static int parts_in(git_repository *repo, git_tree *t, const char *path, struct kfs_git_parts *out)
{
	struct kfs_buf text = {0}, index = {0};
	char *ipath = kfs_git_parts_index_path(path);
	int rc = 0;
	if (t && kfs_gitw_tree_has(t, path))
		rc = kfs_gitw_read_blob(repo, t, path, &text);
	if (rc == 0 && t && kfs_gitw_tree_has(t, ipath))
		rc = kfs_gitw_read_blob(repo, t, ipath, &index);
	kfs_git_parts_parse(text.data ? text.data : "", text.len, index.data, index.len, out);
	free(ipath);
	kfs_buf_free(&text);
	kfs_buf_free(&index);
	return rc;
}

/* An aggregatedYAML file that kratixfs changed since the common ancestor (base → local): the
 * remote's file, with the parts of each owner kratixfs changed replaced by kratixfs's. Another
 * daemon's parts, which this one never had, are kept. */
static int merge_parts(struct replay_ctx *c, const char *path)
{
	struct kfs_git_parts base = {0}, local = {0}, remote = {0};
	int rc = parts_in(c->repo, c->base, path, &base);
	if (rc == 0)
		rc = parts_in(c->repo, c->local, path, &local);
	if (rc == 0)
		rc = parts_in(c->repo, c->remote, path, &remote);
	size_t n = base.n + local.n, k = 0;
	char **owners = kfs_xcalloc(n ? n : 1, sizeof(*owners));
	for (size_t i = 0; i < base.n; i++)
		owners[k++] = base.items[i].owner;
	for (size_t i = 0; i < local.n; i++)
		owners[k++] = local.items[i].owner;
	qsort(owners, n, sizeof(*owners), cmp_str);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (i && strcmp(owners[i], owners[i - 1]) == 0)
			continue;
		if (kfs_git_parts_same(&base, &local, owners[i], NULL))
			continue;
		kfs_git_parts_take(&remote, owners[i], NULL);
		for (size_t j = 0; j < local.n; j++)
			if (strcmp(local.items[j].owner, owners[i]) == 0)
				kfs_git_parts_add(&remote, owners[i], local.items[j].key,
						  local.items[j].data, local.items[j].len);
	}
	free(owners);
	if (rc == 0)
		rc = kfs_gitw_agg_write(c->repo, c->remote, path, &remote, c->e);
	kfs_git_parts_free(&base);
	kfs_git_parts_free(&local);
	kfs_git_parts_free(&remote);
	return rc;
}

#define INDEX_DIR ".kratixfs/aggregated/"

/* The aggregatedYAML file path belongs to (itself, or the one it is the parts index of), or
 * NULL for an ordinary file. Caller frees. */
static char *aggregate_of(struct replay_ctx *c, const char *path)
{
	size_t n = strlen(path), dl = sizeof(INDEX_DIR) - 1;
	if (strncmp(path, INDEX_DIR, dl) == 0 && n > dl + 6 && strcmp(path + n - 6, ".parts") == 0)
		return kfs_xstrndup(path + dl, n - dl - 6);
	char *ipath = kfs_git_parts_index_path(path);
	bool has = kfs_gitw_tree_has(c->base, ipath) || kfs_gitw_tree_has(c->local, ipath);
	free(ipath);
	return has ? kfs_xstrdup(path) : NULL;
}

static int replay_cb(const git_diff_delta *d, float progress, void *payload)
{
	struct replay_ctx *c = payload;
	(void)progress;
	const char *path = d->status == GIT_DELTA_DELETED ? d->old_file.path : d->new_file.path;
	char *agg = aggregate_of(c, path);
	if (agg) {
		for (size_t i = 0; i < c->ndone; i++)
			if (strcmp(c->done[i], agg) == 0) {
				free(agg);
				return 0;
			}
		c->done = kfs_xrealloc(c->done, (c->ndone + 1) * sizeof(*c->done));
		c->done[c->ndone++] = agg;
		return merge_parts(c, agg);
	}
	if (d->status == GIT_DELTA_DELETED)
		kfs_gitw_edit_add(c->e, GIT_TREE_UPDATE_REMOVE, NULL, d->old_file.path);
	else
		kfs_gitw_edit_add(c->e, GIT_TREE_UPDATE_UPSERT, &d->new_file.id, d->new_file.path);
	return 0;
}

/* The message of a replayed commit: the lines of the local commits being replayed (those of
 * local not in base; base NULL: all), oldest first. */
static int replayed_message(git_repository *repo, const git_oid *local, const git_oid *base,
			    struct kfs_buf *msg)
{
	git_revwalk *walk = NULL;
	int rc = git_revwalk_new(&walk, repo);
	if (rc == 0) {
		git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
		rc = git_revwalk_push(walk, local);
		if (rc == 0 && base)
			rc = git_revwalk_hide(walk, base);
	}
	git_oid id;
	while (rc == 0 && git_revwalk_next(&id, walk) == 0) {
		git_commit *c;
		if (git_commit_lookup(&c, repo, &id) == 0) {
			const char *m = git_commit_message(c);
			size_t len = strlen(m);
			while (len && m[len - 1] == '\n')
				len--;
			if (msg->len)
				kfs_buf_addc(msg, '\n');
			kfs_buf_add(msg, m, len);
			git_commit_free(c);
		}
	}
	git_revwalk_free(walk);
	return rc;
}

/* The local branch diverged from the remote's: re-applies what kratixfs changed since their
 * common ancestor on top of the remote head, so the other writers' commits are kept, and moves
 * the local branch there. Caller holds rlock. */
static int replay(struct kfs_git *g, const git_oid *local, const git_oid *remote,
		  struct kfs_error *err)
{
	git_oid base, tree_id, commit;
	git_commit *lc = NULL, *rc_ = NULL, *bc = NULL;
	git_tree *lt = NULL, *rt = NULL, *bt = NULL;
	git_diff *diff = NULL;
	struct edits e = {0};
	struct kfs_buf msg = {0};
	int rc = git_commit_lookup(&lc, g->repo, local);

	if (rc == 0)
		rc = git_commit_lookup(&rc_, g->repo, remote);
	if (rc == 0)
		rc = git_commit_tree(&lt, lc);
	if (rc == 0)
		rc = git_commit_tree(&rt, rc_);
	bool has_base = rc == 0 && git_merge_base(&base, g->repo, local, remote) == 0;
	if (rc == 0 && has_base) {
		rc = git_commit_lookup(&bc, g->repo, &base);
		if (rc == 0)
			rc = git_commit_tree(&bt, bc);
	}
	if (rc == 0)
		rc = git_diff_tree_to_tree(&diff, g->repo, bt, lt, NULL);
	struct replay_ctx ctx = {.repo = g->repo, .base = bt, .local = lt, .remote = rt, .e = &e};
	if (rc == 0)
		rc = git_diff_foreach(diff, replay_cb, NULL, NULL, NULL, &ctx);
	for (size_t i = 0; i < ctx.ndone; i++)
		free(ctx.done[i]);
	free(ctx.done);
	if (rc == 0)
		kfs_gitw_drop_absent_removals(&e, rt);
	if (rc == 0)
		tree_id = *git_tree_id(rt);
	if (rc == 0 && e.n)
		rc = git_tree_create_updated(&tree_id, g->repo, rt, e.n, e.u);
	if (rc == 0)
		rc = replayed_message(g->repo, local, has_base ? &base : NULL, &msg);
	if (rc) {
		rc = git_fail(err, "re-applying kratixfs's changes on the remote head", g->path);
	} else if (git_oid_equal(&tree_id, git_tree_id(rt))) {
		/* The remote already has everything: take its head as ours. */
		git_reference *ref = NULL;
		rc = git_reference_create_matching(&ref, g->repo, g->refname, remote, 1, local,
						   "kratixfs: fast-forward to the remote");
		git_reference_free(ref);
		rc = rc ? git_fail(err, "moving the branch", g->path) : 0;
	} else {
		kfs_buf_addc(&msg, '\n');
		/* Signed as the commits it re-applies were (the local head's author). */
		const git_signature *a = git_commit_author(lc);
		struct git_author who = {a->name, a->email};
		rc = kfs_gitw_commit_tree(g, remote, local, &tree_id, msg.data, &who, &commit, err);
		if (rc == -EAGAIN)
			rc = kfs_error_set(err, -EIO, "git %s: the branch moved while re-applying",
					   g->path);
	}
	kfs_buf_free(&msg);
	kfs_gitw_edits_free(&e);
	git_diff_free(diff);
	git_tree_free(bt);
	git_tree_free(rt);
	git_tree_free(lt);
	git_commit_free(bc);
	git_commit_free(rc_);
	git_commit_free(lc);
	return rc;
}

/* What one push attempt's callbacks share; the SSH callbacks' part first (ssh_auth.h). */
struct push_ctx {
	struct kfs_ssh_auth auth;
	char rejected[512]; /* the remote's reason for refusing the branch */
};

static int push_ref_cb(const char *refname, const char *status, void *data)
{
	struct push_ctx *pc = data;
	if (status)
		snprintf(pc->rejected, sizeof(pc->rejected), "%s: %s", refname, status);
	return 0;
}


/* Moves the local remote's branch from theirs (NULL: absent) to ours, only if nobody moved it
 * since the fetch, as receive-pack would; the objects came with the incoming ref. */
static int local_move(const char *path, const char *refname, const char *incoming,
		      const git_oid *ours, const git_oid *theirs, struct kfs_error *err)
{
	git_repository *r = NULL;
	git_reference *ref = NULL;
	if (git_repository_open_bare(&r, path))
		return git_fail(err, "opening the remote", path);
	int rc = theirs ? git_reference_create_matching(&ref, r, refname, ours, 1, theirs,
							"kratixfs: push")
			: git_reference_create(&ref, r, refname, ours, 0, "kratixfs: push");
	if (rc == GIT_EMODIFIED || rc == GIT_EEXISTS || rc == GIT_ENOTFOUND)
		rc = kfs_error_set(err, -EIO, "git %s: push rejected: %s moved since the fetch",
				   path, refname);
	else if (rc)
		rc = git_fail(err, "pushing", path);
	git_reference_free(ref);
	ref = NULL;
	/* The incoming ref only carried the objects; another daemon may have replaced it. */
	if (git_reference_lookup(&ref, r, incoming) == 0 && git_reference_target(ref) &&
	    git_oid_equal(git_reference_target(ref), ours))
		git_reference_delete(ref);
	git_reference_free(ref);
	git_repository_free(r);
	return rc;
}

/* Opens the remote on repo and fetches its branch into the tracking ref. */
static int fetch(struct kfs_git *g, git_repository *repo, git_remote **remote,
		 struct push_ctx *pc, struct kfs_error *err)
{
	/* url.*.insteadOf rewriting is skipped: the remote is spelled out in -o git_push, and
	 * libgit2 1.5 leaks a PCRE2 match block per lookup. */
	git_remote_create_options ro;
	git_remote_create_options_init(&ro, GIT_REMOTE_CREATE_OPTIONS_VERSION);
	ro.repository = repo;
	ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	if (git_remote_create_with_opts(remote, g->remote, &ro))
		return git_fail(err, "opening the remote", g->remote);
	struct kfs_buf fspec = {0};
	kfs_buf_printf(&fspec, "+%s:%s", g->refname, g->tracking);
	char *fs[] = {fspec.data};
	git_strarray fetch_specs = {fs, 1};
	git_fetch_options fo;
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	fo.update_fetchhead = 0;
	fo.callbacks.credentials = kfs_ssh_credentials_cb;
	fo.callbacks.certificate_check = kfs_ssh_hostkey_cb;
	fo.callbacks.payload = pc;
	int rc = git_remote_fetch(*remote, &fetch_specs, &fo, NULL)
		     ? git_fail(err, "fetching", g->remote)
		     : 0;
	kfs_buf_free(&fspec);
	return rc;
}

/* After a fetch, under rlock: the local head (*has_local 1 with *local) and the remote's
 * (*has_theirs 1 with *theirs); a local branch that is no descendant of the remote's is
 * re-applied on it first (replay). */
static int catch_up(struct kfs_git *g, git_oid *local, int *has_local, git_oid *theirs,
		    int *has_theirs, struct kfs_error *err)
{
	pthread_mutex_lock(&g->rlock);
	/* The fetch, through the other handle, may have brought a pack: look before reading. */
	int rc = kfs_gitodb_refresh(g->odb, err);
	*has_local = kfs_gitw_head_id(g->repo, g->refname, local);
	*has_theirs = kfs_gitw_head_id(g->repo, g->tracking, theirs);
	int ahead = *has_local == 1 && *has_theirs == 1 && !git_oid_equal(local, theirs)
			? git_graph_descendant_of(g->repo, local, theirs)
			: 1;
	if (rc == 0 && ahead < 0)
		rc = git_fail(err, "comparing the branch with the remote's", g->path);
	if (rc == 0 && ahead == 0) {
		rc = replay(g, local, theirs, err);
		if (rc == 0 && kfs_gitw_head_id(g->repo, g->refname, local) != 1)
			rc = git_fail(err, "reading the branch", g->path);
	}
	pthread_mutex_unlock(&g->rlock);
	return rc;
}

/* Pushes exactly commit local (a newer one gets the next round) onto the remote's branch,
 * which was at theirs (NULL: absent) at the fetch. */
static int push_commit(struct kfs_git *g, git_repository *repo, git_remote *remote,
		       struct push_ctx *pc, const git_oid *local, const git_oid *theirs,
		       struct kfs_error *err)
{
	/* libgit2 pushes references only, so the commit gets one of its own. */
	struct kfs_buf pspec = {0}, incoming = {0}, spec = {0};
	kfs_buf_printf(&pspec, "refs/kratixfs/push/%s", g->refname + strlen("refs/heads/"));
	git_reference *pref = NULL;
	int rc = 0;
	if (git_reference_create(&pref, repo, pspec.data, local, 1, "kratixfs: to push")) {
		rc = git_fail(err, "preparing the push", g->path);
		goto out;
	}
	git_reference_free(pref);
	/* libgit2 pushes to a local path by force, so kratixfs moves that branch itself, by
	 * compare-and-swap (local_move). */
	const char *lpath = kfs_url_local_path(g->remote);
	if (lpath)
		kfs_buf_printf(&incoming, "refs/kratixfs/incoming/%s",
			       g->refname + strlen("refs/heads/"));
	/* Forced to incoming: another daemon's incoming ref is no ancestor of ours. */
	kfs_buf_printf(&spec, "%s%s:%s", lpath ? "+" : "", pspec.data,
		       lpath ? incoming.data : g->refname);
	char *ps_[] = {spec.data};
	git_strarray push_specs = {ps_, 1};
	git_push_options po;
	git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
	po.callbacks.push_update_reference = push_ref_cb;
	po.callbacks.credentials = kfs_ssh_credentials_cb;
	po.callbacks.certificate_check = kfs_ssh_hostkey_cb;
	po.callbacks.payload = pc;
	pc->auth.key_tries = 0;
	if (git_remote_push(remote, &push_specs, &po))
		rc = git_fail(err, "pushing", g->remote);
	else if (pc->rejected[0])
		rc = kfs_error_set(err, -EIO, "git %s: push rejected: %s", g->remote, pc->rejected);
	if (rc == 0 && lpath)
		rc = local_move(lpath, g->refname, incoming.data, local, theirs, err);
	if (rc == 0) {
		/* Record what the remote now has, so that a later attempt knows it. */
		git_reference *ref = NULL;
		git_reference_create(&ref, repo, g->tracking, local, 1, "kratixfs: pushed");
		git_reference_free(ref);
	}
out:
	kfs_buf_free(&incoming);
	kfs_buf_free(&spec);
	kfs_buf_free(&pspec);
	return rc;
}

/* One push attempt: fetch, re-apply if the remote moved, push. 0 with head set, or an error.
 * The network parts use a second repository handle, without rlock, so commits go on. */
int kfs_gitw_push_once(struct kfs_git *g, char head[41], struct kfs_error *err)
{
	git_repository *repo = NULL;
	git_remote *remote = NULL;
	struct push_ctx pc = {.auth = {.remote = g->remote}};
	git_oid local, theirs;
	int has_local = 0, has_theirs = 0;
	int rc;

	head[0] = '\0';
	if (git_repository_open_bare(&repo, g->path))
		rc = git_fail(err, "opening the repository", g->path);
	else
		rc = fetch(g, repo, &remote, &pc, err);
	if (rc == 0)
		rc = catch_up(g, &local, &has_local, &theirs, &has_theirs, err);
	if (rc == 0 && has_local == 1) {
		git_oid_tostr(head, 41, &local);
		if (has_theirs != 1 || !git_oid_equal(&local, &theirs))
			rc = push_commit(g, repo, remote, &pc, &local,
					 has_theirs == 1 ? &theirs : NULL, err);
	}
	if (rc && err) {
		/* The reason goes to status.yaml as well as to the log. */
		char quoted[KFS_ERROR_MAX];
		memcpy(quoted, err->msg, sizeof(quoted));
		kfs_mask_userinfo(quoted, err->msg, sizeof(err->msg));
	}
	git_remote_free(remote);
	git_repository_free(repo);
	return rc;
}
