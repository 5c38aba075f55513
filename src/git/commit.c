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

/* Kratix's default GitStateStore author: spec.gitAuthor is {name: kratix}, no email. */
static const struct git_author default_author = {"kratix", ""};

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

/* Writes the commit object itself: libgit2's signatures refuse an empty email, and Kratix's
 * default author has none ("kratix <>", as git writes it). */
static int write_commit(git_repository *repo, const git_oid *tree, const git_oid *parent,
			const struct git_author *who, const char *msg, git_oid *out)
{
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	long off = tm.tm_gmtoff / 60;
	char sign = off < 0 ? '-' : '+';
	off = off < 0 ? -off : off;
	char hex[GIT_OID_HEXSZ + 1];
	struct kfs_buf b = {0};
	kfs_buf_printf(&b, "tree %s\n", git_oid_tostr(hex, sizeof(hex), tree));
	if (parent)
		kfs_buf_printf(&b, "parent %s\n", git_oid_tostr(hex, sizeof(hex), parent));
	for (int i = 0; i < 2; i++)
		kfs_buf_printf(&b, "%s %s <%s> %lld %c%02ld%02ld\n", i ? "committer" : "author",
			       who->name, who->email, (long long)now, sign, off / 60, off % 60);
	kfs_buf_printf(&b, "\n%s", msg);
	git_odb *odb = NULL;
	int rc = git_repository_odb(&odb, repo);
	if (rc == 0)
		rc = git_odb_write(out, odb, b.data, b.len, GIT_OBJECT_COMMIT);
	git_odb_free(odb);
	kfs_buf_free(&b);
	return rc;
}

/* Commits tree on parent (NULL: a root commit) and moves the branch to it if it still points at
 * expect (NULL: if it does not exist yet); -EAGAIN when another writer moved it first. The new
 * objects reach the disk, as one pack, before the branch may point at them. */
int kfs_gitw_commit_tree(struct kfs_git *g, const git_oid *parent, const git_oid *expect,
			 const git_oid *tree_id, const char *msg, const struct git_author *who,
			 git_oid *out, struct kfs_error *err)
{
	git_reference *ref = NULL;
	int rc = write_commit(g->repo, tree_id, parent, who ? who : &default_author, msg, out);
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
	return rc;
}

int kfs_gitw_head_id(git_repository *repo, const char *refname, git_oid *id)
{
	int rc = git_reference_name_to_id(id, repo, refname);
	return rc == 0 ? 1 : rc == GIT_ENOTFOUND ? 0 : rc;
}

/* The author of a commit: the GitStateStore of its first line's destination. */
static struct git_author author_of(const struct kfs_git *g, const struct commit_msg *m)
{
	const struct kfs_destinations *ds = g->opts.destinations;
	for (size_t i = 0; ds && i < m->n; i++)
		if (m->items[i].dest >= 0 && (size_t)m->items[i].dest < ds->n) {
			const struct kfs_destination *d = &ds->items[m->items[i].dest];
			return (struct git_author){d->author_name ? d->author_name : "kratix",
						   d->author_email ? d->author_email : ""};
		}
	return default_author;
}

/* Applies one work to *tree_id; *changed says whether it changed anything, and its lines go
 * to m. */
static int apply_one(struct kfs_git *g, git_oid *tree_id, const struct kfs_git_work *w,
		     struct agg_files *af, bool *changed, struct commit_msg *m,
		     struct kfs_error *err)
{
	git_oid before_id = *tree_id;
	struct agg_keys keys = {0};
	int rc = kfs_gitw_apply_work(g, tree_id, w, af, &keys, err);
	if (rc == 0) {
		*changed = keys.nchanged || keys.ngone || !git_oid_equal(&before_id, tree_id);
		size_t before_n = m->n;
		if (*changed) {
			git_tree *before = NULL, *after = NULL;
			git_tree_lookup(&before, g->repo, &before_id);
			git_tree_lookup(&after, g->repo, tree_id);
			kfs_gitw_work_lines(g->repo, before, after, w, &keys, m);
			git_tree_free(before);
			git_tree_free(after);
		}
		/* A work without a WorkPlacement to name (kfs_git_commit's own): its owner. */
		if (*changed && m->n == before_n && !w->canary)
			kfs_gitw_msg_add(m, w->delete ? "Delete" : "Update", w->name, -1);
	}
	kfs_gitw_agg_keys_free(&keys);
	return rc;
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
		struct commit_msg msg = {0};
		struct agg_files af = {0};
		*any = false;
		int rc = 0;
		for (size_t i = 0; rc == 0 && i < n; i++) {
			/* The canary files go in only with a commit that writes something else. */
			if (works[i]->canary && !*any) {
				changed[i] = false;
				continue;
			}
			rc = apply_one(g, &tree_id, works[i], &af, &changed[i], &msg, err);
			*any = *any || changed[i];
		}
		if (rc == 0)
			rc = kfs_gitw_agg_flush(g, &tree_id, &af, err);
		kfs_gitw_agg_files_free(&af);
		if (rc) {
			kfs_gitw_msg_free(&msg);
			return rc;
		}
		/* Works of one batch can undo each other (a write and its revert): only the final
		 * tree decides. */
		if (git_oid_equal(&tree_id, &base_id)) {
			*any = false;
			memset(changed, 0, n * sizeof(*changed));
		}
		if (!*any) {
			kfs_gitw_msg_free(&msg);
			if (has)
				git_oid_tostr(hex, 41, &head);
			else
				hex[0] = '\0';
			return 0;
		}
		struct kfs_buf text = {0};
		kfs_gitw_msg_text(&msg, &text);
		struct git_author who = author_of(g, &msg);
		rc = kfs_gitw_commit_tree(g, has ? &head : NULL, has ? &head : NULL, &tree_id,
					  text.data, &who, &commit, err);
		kfs_buf_free(&text);
		kfs_gitw_msg_free(&msg);
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

static size_t *idx_copy(const size_t *v, size_t n)
{
	if (!v)
		return NULL;
	size_t *c = kfs_xcalloc(n ? n : 1, sizeof(*c));
	memcpy(c, v, n * sizeof(*c));
	return c;
}

static void placements_copy(struct kfs_git_work *d, const struct kfs_git_work *s)
{
	d->placements = kfs_xcalloc(s->nplacements ? s->nplacements : 1, sizeof(*d->placements));
	for (d->nplacements = 0; d->nplacements < s->nplacements; d->nplacements++) {
		const struct kfs_git_placement *p = &s->placements[d->nplacements];
		struct kfs_git_placement *q = &d->placements[d->nplacements];
		q->name = kfs_xstrdup(p->name);
		q->dest = p->dest;
		q->dir = p->dir ? kfs_xstrdup(p->dir) : NULL;
		q->paths = strv_copy(p->paths, q->npaths = p->npaths);
		q->aggregate = p->aggregate ? kfs_xstrdup(p->aggregate) : NULL;
	}
}

static void work_copy(struct kfs_git_work *d, const struct kfs_git_work *s)
{
	memset(d, 0, sizeof(*d));
	d->name = kfs_xstrdup(s->name);
	d->promise = kfs_xstrdup(s->promise ? s->promise : "");
	d->canary = s->canary;
	d->dirs_dest = idx_copy(s->dirs_dest, s->ndirs);
	d->indexes_dest = idx_copy(s->indexes_dest, s->nindexes);
	d->aggregates_dest = idx_copy(s->aggregates_dest, s->naggregates);
	placements_copy(d, s);
	d->dest_names = strv_copy(s->dest_names, d->ndest_names = s->ndest_names);
	kfs_git_key_copy(&d->key, &s->key);
	d->part_owner = kfs_xstrdup(s->part_owner ? s->part_owner : "");
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
	const struct kfs_git_work **works = kfs_xcalloc(n + 1, sizeof(*works));
	bool *changed = kfs_xcalloc(n + 1, sizeof(*changed));
	size_t k = 0;
	for (size_t i = 0; i < nreq; i++)
		for (size_t j = 0; j < reqs[i]->n; j++)
			works[k++] = &reqs[i]->works[j];
	/* The first commit of a run brings the destinations' canary files up to date, as
	 * Kratix's destination controller does when it starts: last, so that the commit's
	 * subject is the first WorkPlacement's. */
	struct kfs_git_work canary = {0};
	bool with_canary = !g->canary_done && g->opts.destinations;
	if (with_canary) {
		kfs_git_canary_work(g->opts.destinations, &canary);
		works[n] = &canary;
	}
	char hex[41] = "";
	bool any;
	struct kfs_error err = {0};
	int rc = apply_batch(g, works, n + with_canary, changed, hex, &any, &err);
	if (with_canary)
		kfs_git_work_free(&canary);
	if (rc == 0 && with_canary && any)
		g->canary_done = true;
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
