/* Commits on the branch: a batch of works becomes one commit, the branch moved by
 * compare-and-swap; concurrent callers are grouped into one commit; failed works wait in the
 * retry list for the background thread (gitstore.c). */
#include <errno.h>
#include <git2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kratixfs/buf.h"
#include "gitodb.h"
#include "git_error.h"
#include "git_writer.h"

/* Kratix's gitAuthor defaults to name "kratix" and no email; libgit2 refuses an empty email, so
 * kratixfs signs with Kratix's own domain. */
#define AUTHOR_NAME  "kratix"
#define AUTHOR_EMAIL "kratix@kratix.io"

/* A branch lock older than STALE_LOCK_S was left by a process that died while it moved the
 * branch (kratixfs killed with -9 leaves an empty one): git holds such a lock for milliseconds.
 * Removed, so that commits do not fail until someone deletes it by hand. True if it was. */
#define STALE_LOCK_S 2

static bool remove_stale_lock(struct kfs_git *g)
{
	struct kfs_buf path = {0};
	struct stat st;
	kfs_buf_printf(&path, "%s%s.lock", git_repository_path(g->repo), g->refname);
	bool stale = stat(path.data, &st) == 0 && time(NULL) - st.st_mtime >= STALE_LOCK_S &&
		     unlink(path.data) == 0;
	kfs_buf_free(&path);
	return stale;
}

/* Commits tree on parent (NULL: a root commit) and moves the branch to it if it still points at
 * expect (NULL: if it does not exist yet); -EAGAIN when another writer moved it first. The new
 * objects reach the disk, as one pack, before the branch may point at them. */
int kfs_gitw_commit_tree(struct kfs_git *g, const git_oid *parent, const git_oid *expect,
		       const git_oid *tree_id, const char *msg, git_oid *out, struct kfs_error *err)
{
	git_signature *sig = NULL;
	git_tree *tree = NULL;
	git_commit *pc = NULL;
	git_reference *ref = NULL;
	int rc = git_signature_now(&sig, AUTHOR_NAME, AUTHOR_EMAIL);
	if (rc == 0)
		rc = git_tree_lookup(&tree, g->repo, tree_id);
	if (rc == 0 && parent)
		rc = git_commit_lookup(&pc, g->repo, parent);
	const git_commit *parents[1] = {pc};
	if (rc == 0)
		rc = git_commit_create(out, g->repo, NULL, sig, sig, NULL, msg, tree, parent ? 1 : 0,
				       parents);
	if (rc == 0 && kfs_gitodb_flush(g->odb, err)) {
		rc = -EIO;
		goto out;
	}
	for (int attempt = 0; rc == 0 && attempt < 2; attempt++) {
		if (expect)
			rc = git_reference_create_matching(&ref, g->repo, g->refname, out, 1, expect,
							   "kratixfs: commit");
		else
			rc = git_reference_create(&ref, g->repo, g->refname, out, 0,
						  "kratixfs: commit");
		if (rc != GIT_ELOCKED || attempt > 0 || !remove_stale_lock(g))
			break;
		rc = 0;
	}
	if (rc == GIT_EMODIFIED || rc == GIT_EEXISTS)
		rc = -EAGAIN;
	else if (rc)
		rc = git_fail(err,
			      rc == GIT_ELOCKED ? "the branch is locked (another git process?)"
						: "committing",
			      g->path);
out:
	git_reference_free(ref);
	git_commit_free(pc);
	git_tree_free(tree);
	git_signature_free(sig);
	return rc;
}

int kfs_gitw_head_id(git_repository *repo, const char *refname, git_oid *id)
{
	int rc = git_reference_name_to_id(id, repo, refname);
	return rc == 0 ? 1 : rc == GIT_ENOTFOUND ? 0 : rc;
}

/* Applies works on the branch head and commits when the tree changed. changed[i] says whether
 * works[i] changed anything. Caller holds rlock. */
static int apply_batch(struct kfs_git *g, const struct kfs_git_work *const *works, size_t n,
		       bool *changed, char hex[41], bool *any, struct kfs_error *err)
{
	for (int attempt = 0; attempt < 8; attempt++) {
		git_oid head, tree_id, base_id, commit;
		int has = kfs_gitw_head_id(g->repo, g->refname, &head);
		if (has < 0)
			return git_fail(err, "reading the branch", g->path);
		if (has) {
			git_commit *c;
			if (git_commit_lookup(&c, g->repo, &head))
				return git_fail(err, "reading the head commit", g->path);
			base_id = *git_commit_tree_id(c);
			git_commit_free(c);
		} else if (kfs_gitw_empty_tree(g->repo, &base_id)) {
			return git_fail(err, "writing the empty tree", g->path);
		}
		tree_id = base_id;
		struct kfs_buf msg = {0};
		struct agg_files af = {0};
		*any = false;
		for (size_t i = 0; i < n; i++) {
			git_oid before = tree_id;
			bool parts_changed;
			int rc = kfs_gitw_apply_work(g, &tree_id, works[i], &af, &parts_changed, err);
			if (rc) {
				kfs_gitw_agg_files_free(&af);
				kfs_buf_free(&msg);
				return rc;
			}
			changed[i] = parts_changed || !git_oid_equal(&before, &tree_id);
			if (changed[i]) {
				kfs_buf_printf(&msg, "%s%s from: %s", msg.len ? "\n" : "",
					       works[i]->delete ? "Delete" : "Update",
					       works[i]->name);
				*any = true;
			}
		}
		int arc = kfs_gitw_agg_flush(g, &tree_id, &af, err);
		kfs_gitw_agg_files_free(&af);
		if (arc) {
			kfs_buf_free(&msg);
			return arc;
		}
		/* Works of one batch can undo each other (a write and its revert): only the final
		 * tree decides. */
		if (git_oid_equal(&tree_id, &base_id)) {
			*any = false;
			memset(changed, 0, n * sizeof(*changed));
		}
		if (!*any) {
			kfs_buf_free(&msg);
			if (has)
				git_oid_tostr(hex, 41, &head);
			else
				hex[0] = '\0';
			return 0;
		}
		kfs_buf_addc(&msg, '\n');
		int rc = kfs_gitw_commit_tree(g, has ? &head : NULL, has ? &head : NULL, &tree_id, msg.data,
				     &commit, err);
		kfs_buf_free(&msg);
		if (rc == -EAGAIN)
			continue;
		if (rc)
			return rc;
		git_oid_tostr(hex, 41, &commit);
		return 0;
	}
	return kfs_error_set(err, -EIO, "git %s: the branch %s kept moving under kratixfs", g->path,
			     g->refname);
}

/* ---- retry of failed commits ------------------------------------------------------------ */

static char **strv_copy(char **v, size_t n)
{
	char **c = kfs_xcalloc(n ? n : 1, sizeof(*c));
	for (size_t i = 0; i < n; i++)
		c[i] = kfs_xstrdup(v[i]);
	return c;
}

static void work_copy(struct kfs_git_work *d, const struct kfs_git_work *s)
{
	d->name = kfs_xstrdup(s->name);
	kfs_git_key_copy(&d->key, &s->key);
	d->part_owner = kfs_xstrdup(s->part_owner);
	d->serial = s->serial;
	d->delete = s->delete;
	d->dirs = strv_copy(s->dirs, d->ndirs = s->ndirs);
	d->indexes = strv_copy(s->indexes, d->nindexes = s->nindexes);
	d->aggregates = strv_copy(s->aggregates, d->naggregates = s->naggregates);
	d->frags = kfs_xcalloc(s->nfrags ? s->nfrags : 1, sizeof(*d->frags));
	for (d->nfrags = 0; d->nfrags < s->nfrags; d->nfrags++) {
		const struct kfs_git_frag *f = &s->frags[d->nfrags];
		d->frags[d->nfrags] =
		    (struct kfs_git_frag){kfs_xstrdup(f->file), kfs_xstrdup(f->key),
					  kfs_xstrndup(f->data, f->len), f->len};
	}
	d->files = kfs_xcalloc(s->nfiles ? s->nfiles : 1, sizeof(*d->files));
	for (d->nfiles = 0; d->nfiles < s->nfiles; d->nfiles++) {
		const struct kfs_git_file *f = &s->files[d->nfiles];
		d->files[d->nfiles] = (struct kfs_git_file){kfs_xstrdup(f->path),
							    kfs_xstrndup(f->data, f->len), f->len};
	}
}

/* A newer work of the same owner carries the owner's whole state: the older one is moot. */
static void retry_drop(struct kfs_git *g, const struct kfs_git_key *owner)
{
	size_t n = 0;
	for (size_t i = 0; i < g->nretry; i++) {
		if (kfs_git_key_equal(&g->retry[i].key, owner))
			kfs_git_work_free(&g->retry[i]);
		else
			g->retry[n++] = g->retry[i];
	}
	g->nretry = n;
}

static void retry_add(struct kfs_git *g, const struct kfs_git_work *w)
{
	retry_drop(g, &w->key);
	g->retry = kfs_xrealloc(g->retry, (g->nretry + 1) * sizeof(*g->retry));
	work_copy(&g->retry[g->nretry++], w);
}

/* ---- group commit ------------------------------------------------------------------------- */

void kfs_gitw_wake_thread(struct kfs_git *g, bool force)
{
	/* Caller holds qlock. */
	g->dirty = true;
	g->force = g->force || force;
	pthread_cond_broadcast(&g->qcond);
}

/* Commits a list of requests as one commit; on failure, each alone, so one bad work cannot
 * fail the others. Caller holds rlock. */
void kfs_gitw_commit_reqs(struct kfs_git *g, struct req **reqs, size_t nreq)
{
	size_t n = 0;
	for (size_t i = 0; i < nreq; i++)
		n += reqs[i]->n;
	const struct kfs_git_work **works = kfs_xcalloc(n ? n : 1, sizeof(*works));
	bool *changed = kfs_xcalloc(n ? n : 1, sizeof(*changed));
	size_t k = 0;
	for (size_t i = 0; i < nreq; i++)
		for (size_t j = 0; j < reqs[i]->n; j++)
			works[k++] = &reqs[i]->works[j];
	char hex[41] = "";
	bool any;
	struct kfs_error err = {0};
	int rc = apply_batch(g, works, n, changed, hex, &any, &err);
	if (rc && nreq > 1) {
		for (size_t i = 0; i < nreq; i++)
			kfs_gitw_commit_reqs(g, &reqs[i], 1);
		goto out;
	}
	k = 0;
	for (size_t i = 0; i < nreq; i++) {
		struct req *r = reqs[i];
		r->rc = rc;
		if (rc)
			r->err = err;
		r->res->changed = false;
		snprintf(r->res->commit, sizeof(r->res->commit), "%s", rc ? "" : hex);
		for (size_t j = 0; j < r->n; j++, k++) {
			r->res->changed = r->res->changed || (rc == 0 && changed[k]);
			if (rc)
				retry_add(g, &r->works[j]);
			else
				retry_drop(g, &r->works[j].key);
		}
	}
out:
	free(works);
	free(changed);
}

int kfs_git_commit(struct kfs_git *g, const struct kfs_git_work *works, size_t n,
		   struct kfs_git_result *res, struct kfs_error *err)
{
	struct req me = {.works = works, .n = n, .res = res};

	pthread_mutex_lock(&g->qlock);
	if (g->tail)
		g->tail->next = &me;
	else
		g->head = &me;
	g->tail = &me;
	while (!me.done) {
		if (g->committing) {
			pthread_cond_wait(&g->qcond, &g->qlock);
			continue;
		}
		/* Nobody is committing: this caller commits everything queued so far. */
		g->committing = true;
		size_t nreq = 0;
		for (struct req *r = g->head; r; r = r->next)
			nreq++;
		struct req **reqs = kfs_xcalloc(nreq, sizeof(*reqs));
		nreq = 0;
		for (struct req *r = g->head; r; r = r->next)
			reqs[nreq++] = r;
		g->head = g->tail = NULL;
		pthread_mutex_unlock(&g->qlock);

		pthread_mutex_lock(&g->rlock);
		kfs_gitw_commit_reqs(g, reqs, nreq);
		pthread_mutex_unlock(&g->rlock);

		pthread_mutex_lock(&g->qlock);
		for (size_t i = 0; i < nreq; i++)
			reqs[i]->done = true;
		free(reqs);
		g->committing = false;
		kfs_gitw_wake_thread(g, false);
	}
	pthread_mutex_unlock(&g->qlock);
	if (me.rc) {
		kfs_error_set(err, me.rc, "%s", me.err.msg);
		kfs_error_add(err, me.rc, "kratixfs retries the commit in the background");
	}
	return me.rc;
}

void kfs_git_forget(struct kfs_git *g, const struct kfs_git_key *owner)
{
	pthread_mutex_lock(&g->rlock);
	size_t n = 0;
	for (size_t i = 0; i < g->nretry; i++) {
		/* A Delete still has to land: the files of the request that was removed go. */
		if (kfs_git_key_equal(&g->retry[i].key, owner) && !g->retry[i].delete)
			kfs_git_work_free(&g->retry[i]);
		else
			g->retry[n++] = g->retry[i];
	}
	g->nretry = n;
	pthread_mutex_unlock(&g->rlock);
}

void kfs_git_head(struct kfs_git *g, char hex[41])
{
	git_oid id;
	pthread_mutex_lock(&g->rlock);
	if (kfs_gitw_head_id(g->repo, g->refname, &id) == 1)
		git_oid_tostr(hex, 41, &id);
	else
		hex[0] = '\0';
	pthread_mutex_unlock(&g->rlock);
}
