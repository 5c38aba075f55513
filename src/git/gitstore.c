/* The libgit2 writer: works become blobs and trees in a bare repository, one commit per batch,
 * the branch moved by compare-and-swap; a background thread retries failed commits and pushes. */
#include "kratixfs/gitstore.h"

#include <errno.h>
#include <git2.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kratixfs/buf.h"
#include "kratixfs/files.h"
#include "gitodb.h"
#include "git_error.h"
#include "ssh_auth.h"

/* Kratix's gitAuthor defaults to name "kratix" and no email; libgit2 refuses an empty email, so
 * kratixfs signs with Kratix's own domain. */
#define AUTHOR_NAME  "kratix"
#define AUTHOR_EMAIL "kratix@kratix.io"
/* While pushes fail, a new commit makes the next attempt come at most this long after it. */
#define RETRY_SOON_MS 1000

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

	/* rlock and qlock are never held together (lock order: src/store/store_internal.h). */
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

/* ---- building trees ------------------------------------------------------------------------- */

struct edits {
	git_tree_update *u;
	size_t n, cap;
	char **paths; /* owned copies, u[i].path points at them */
};

static void edit_add(struct edits *e, git_tree_update_t action, const git_oid *id, const char *p)
{
	for (size_t i = 0; i < e->n; i++)
		if (strcmp(e->paths[i], p) == 0) {
			/* A later write of the same path replaces an earlier removal. */
			if (action == GIT_TREE_UPDATE_UPSERT) {
				e->u[i].action = action;
				e->u[i].id = *id;
				e->u[i].filemode = GIT_FILEMODE_BLOB;
			}
			return;
		}
	if (e->n == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 32;
		e->u = kfs_xrealloc(e->u, e->cap * sizeof(*e->u));
		e->paths = kfs_xrealloc(e->paths, e->cap * sizeof(*e->paths));
	}
	e->paths[e->n] = kfs_xstrdup(p);
	memset(&e->u[e->n], 0, sizeof(e->u[e->n]));
	e->u[e->n].action = action;
	if (id)
		e->u[e->n].id = *id;
	e->u[e->n].filemode = GIT_FILEMODE_BLOB;
	e->n++;
}

static void edits_free(struct edits *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->paths[i]);
	free(e->paths);
	free(e->u);
}

static bool tree_has(git_tree *t, const char *path)
{
	git_tree_entry *te;
	if (!t || git_tree_entry_bypath(&te, t, path) != 0)
		return false;
	git_tree_entry_free(te);
	return true;
}

struct walk_ctx {
	struct edits *e;
	const char *root;
};

/* Drops the removals of paths that t does not have: git_tree_create_updated refuses them. */
static void drop_absent_removals(struct edits *e, git_tree *t)
{
	size_t n = 0;
	for (size_t i = 0; i < e->n; i++) {
		if (e->u[i].action == GIT_TREE_UPDATE_REMOVE && !tree_has(t, e->paths[i])) {
			free(e->paths[i]);
			continue;
		}
		e->paths[n] = e->paths[i];
		e->u[n] = e->u[i];
		e->u[n].path = e->paths[n];
		n++;
	}
	e->n = n;
}

static int walk_cb(const char *dir, const git_tree_entry *te, void *payload)
{
	struct walk_ctx *w = payload;
	if (git_tree_entry_type(te) == GIT_OBJECT_TREE)
		return 0;
	struct kfs_buf b = {0};
	kfs_buf_printf(&b, "%s/%s%s", w->root, dir, git_tree_entry_name(te));
	edit_add(w->e, GIT_TREE_UPDATE_REMOVE, NULL, b.data);
	kfs_buf_free(&b);
	return 0;
}

/* Removes every file under dir (a folder or a single file). */
static int remove_under(git_repository *repo, git_tree *t, const char *dir, struct edits *e)
{
	git_tree_entry *te;
	if (!t || git_tree_entry_bypath(&te, t, dir) != 0)
		return 0;
	int rc = 0;
	if (git_tree_entry_type(te) == GIT_OBJECT_TREE) {
		git_tree *sub;
		rc = git_tree_lookup(&sub, repo, git_tree_entry_id(te));
		if (rc == 0) {
			struct walk_ctx w = {e, dir};
			rc = git_tree_walk(sub, GIT_TREEWALK_PRE, walk_cb, &w);
			git_tree_free(sub);
		}
	} else {
		edit_add(e, GIT_TREE_UPDATE_REMOVE, NULL, dir);
	}
	git_tree_entry_free(te);
	return rc;
}

static int read_blob(git_repository *repo, git_tree *t, const char *path, struct kfs_buf *out)
{
	git_tree_entry *te;
	if (git_tree_entry_bypath(&te, t, path) != 0)
		return -1;
	git_blob *blob;
	int rc = git_blob_lookup(&blob, repo, git_tree_entry_id(te));
	git_tree_entry_free(te);
	if (rc)
		return rc;
	kfs_buf_add(out, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
	git_blob_free(blob);
	return 0;
}

/* Mode none: every index file matching "<folder>/<prefix>" is removed with the files it lists
 * (Kratix's cleanupWorkloadsWithPrefix reads the same index). */
static int remove_indexed(git_repository *repo, git_tree *t, const char *spec, struct edits *e)
{
	const char *slash = strrchr(spec, '/');
	char *folder = kfs_xstrndup(spec, (size_t)(slash - spec));
	const char *prefix = slash + 1;
	git_tree_entry *te = NULL;
	git_tree *sub = NULL;
	int rc = 0;

	if (!t || git_tree_entry_bypath(&te, t, folder) != 0 ||
	    git_tree_entry_type(te) != GIT_OBJECT_TREE)
		goto out;
	rc = git_tree_lookup(&sub, repo, git_tree_entry_id(te));
	for (size_t i = 0; rc == 0 && i < git_tree_entrycount(sub); i++) {
		const git_tree_entry *ie = git_tree_entry_byindex(sub, i);
		const char *name = git_tree_entry_name(ie);
		if (strncmp(name, prefix, strlen(prefix)) != 0)
			continue;
		struct kfs_buf path = {0}, text = {0};
		kfs_buf_printf(&path, "%s/%s", folder, name);
		edit_add(e, GIT_TREE_UPDATE_REMOVE, NULL, path.data);
		struct kfs_node *doc = NULL;
		struct kfs_error perr = {0};
		/* An unreadable index only means its files stay: never fail the commit for it. */
		if (read_blob(repo, t, path.data, &text) == 0 && text.len &&
		    kfs_doc_parse(text.data, text.len, path.data, &doc, &perr) == 0) {
			const struct kfs_node *files = kfs_map_get(doc, "files");
			for (size_t k = 0; files && files->type == KFS_SEQ && k < files->len; k++)
				if (files->items[k]->type == KFS_STR &&
				    tree_has(t, files->items[k]->text))
					edit_add(e, GIT_TREE_UPDATE_REMOVE, NULL,
						 files->items[k]->text);
		}
		kfs_node_free(doc);
		kfs_buf_free(&path);
		kfs_buf_free(&text);
	}
out:
	git_tree_free(sub);
	git_tree_entry_free(te);
	free(folder);
	return rc;
}

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

static void agg_files_free(struct agg_files *af)
{
	for (size_t i = 0; i < af->n; i++) {
		free(af->items[i].path);
		kfs_git_parts_free(&af->items[i].parts);
	}
	free(af->items);
	memset(af, 0, sizeof(*af));
}

/* The parts of file path as the batch has them (read from t the first time). */
static int agg_file_of(git_repository *repo, git_tree *t, struct agg_files *af, const char *path,
		       struct agg_file **out)
{
	for (size_t i = 0; i < af->n; i++)
		if (strcmp(af->items[i].path, path) == 0) {
			*out = &af->items[i];
			return 0;
		}
	struct kfs_buf text = {0};
	int rc = t && tree_has(t, path) ? read_blob(repo, t, path, &text) : 0;
	if (rc == 0) {
		af->items = kfs_xrealloc(af->items, (af->n + 1) * sizeof(*af->items));
		*out = &af->items[af->n++];
		memset(*out, 0, sizeof(**out));
		(*out)->path = kfs_xstrdup(path);
		kfs_git_parts_parse(text.data, text.len, &(*out)->parts);
	}
	kfs_buf_free(&text);
	return rc;
}

/* Replaces w's parts in one aggregatedYAML file; true when they changed. */
static bool agg_apply(struct agg_file *f, const struct kfs_git_work *w)
{
	struct kfs_git_parts before = {0};
	kfs_git_parts_take(&f->parts, w->owner, &before);
	for (size_t i = 0; !w->delete && i < w->nfrags; i++)
		if (strcmp(w->frags[i].file, f->path) == 0)
			kfs_git_parts_add(&f->parts, w->owner, w->frags[i].key, w->frags[i].data,
					  w->frags[i].len);
	bool changed = !kfs_git_parts_same(&before, &f->parts, w->owner);
	kfs_git_parts_free(&before);
	f->dirty = f->dirty || changed;
	return changed;
}

/* Writes parts as the file at path: upserted, or removed when there are none. */
static int agg_write(git_repository *repo, git_tree *t, const char *path,
		     struct kfs_git_parts *parts, struct edits *e)
{
	struct kfs_buf b = {0};
	kfs_git_parts_render(parts, &b);
	int rc = 0;
	if (parts->n) {
		git_oid id;
		rc = git_blob_create_from_buffer(&id, repo, b.data ? b.data : "", b.len);
		if (rc == 0)
			edit_add(e, GIT_TREE_UPDATE_UPSERT, &id, path);
	} else if (tree_has(t, path)) {
		edit_add(e, GIT_TREE_UPDATE_REMOVE, NULL, path);
	}
	kfs_buf_free(&b);
	return rc;
}

/* Writes the batch's changed aggregatedYAML files into the tree *id. */
static int agg_flush(struct kfs_git *g, git_oid *id, struct agg_files *af, struct kfs_error *err)
{
	git_tree *t = NULL;
	struct edits e = {0};
	int rc = git_tree_lookup(&t, g->repo, id);
	for (size_t i = 0; rc == 0 && i < af->n; i++)
		if (af->items[i].dirty)
			rc = agg_write(g->repo, t, af->items[i].path, &af->items[i].parts, &e);
	if (rc == 0)
		drop_absent_removals(&e, t); /* also points the updates at their paths */
	if (rc == 0 && e.n)
		rc = git_tree_create_updated(id, g->repo, t, e.n, e.u);
	if (rc)
		git_fail(err, "writing an aggregatedYAML file", g->path);
	edits_free(&e);
	git_tree_free(t);
	return rc ? -EIO : 0;
}

/* Applies one work to the tree *id (replaced by the new tree's id) and to the batch's
 * aggregatedYAML files; *parts_changed says whether its parts in those changed. */
static int apply_work(struct kfs_git *g, git_oid *id, const struct kfs_git_work *w,
		      struct agg_files *af, bool *parts_changed, struct kfs_error *err)
{
	git_tree *t = NULL;
	struct edits e = {0};
	int rc = git_tree_lookup(&t, g->repo, id);

	*parts_changed = false;
	for (size_t i = 0; rc == 0 && i < w->ndirs; i++)
		rc = remove_under(g->repo, t, w->dirs[i], &e);
	for (size_t i = 0; rc == 0 && i < w->nindexes; i++)
		rc = remove_indexed(g->repo, t, w->indexes[i], &e);
	/* Every file it takes part in: its parts leave the ones it is no longer placed on. */
	for (size_t i = 0; rc == 0 && i < w->naggregates; i++) {
		struct agg_file *f;
		rc = agg_file_of(g->repo, t, af, w->aggregates[i], &f);
		if (rc == 0 && agg_apply(f, w))
			*parts_changed = true;
	}
	for (size_t i = 0; rc == 0 && !w->delete && i < w->nfiles; i++) {
		git_oid bid;
		rc = git_blob_create_from_buffer(&bid, g->repo, w->files[i].data, w->files[i].len);
		if (rc == 0)
			edit_add(&e, GIT_TREE_UPDATE_UPSERT, &bid, w->files[i].path);
	}
	/* Removing a path a later write brought back is an upsert; one still absent is a no-op. */
	if (rc == 0)
		drop_absent_removals(&e, t);
	if (rc == 0 && e.n)
		rc = git_tree_create_updated(id, g->repo, t, e.n, e.u);
	if (rc)
		git_fail(err, "writing the tree", g->path);
	edits_free(&e);
	git_tree_free(t);
	return rc ? -EIO : 0;
}

static int empty_tree(git_repository *repo, git_oid *id)
{
	git_treebuilder *tb;
	int rc = git_treebuilder_new(&tb, repo, NULL);
	if (rc == 0) {
		rc = git_treebuilder_write(id, tb);
		git_treebuilder_free(tb);
	}
	return rc;
}

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
static int commit_tree(struct kfs_git *g, const git_oid *parent, const git_oid *expect,
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

static int head_id(git_repository *repo, const char *refname, git_oid *id)
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
		int has = head_id(g->repo, g->refname, &head);
		if (has < 0)
			return git_fail(err, "reading the branch", g->path);
		if (has) {
			git_commit *c;
			if (git_commit_lookup(&c, g->repo, &head))
				return git_fail(err, "reading the head commit", g->path);
			base_id = *git_commit_tree_id(c);
			git_commit_free(c);
		} else if (empty_tree(g->repo, &base_id)) {
			return git_fail(err, "writing the empty tree", g->path);
		}
		tree_id = base_id;
		struct kfs_buf msg = {0};
		struct agg_files af = {0};
		*any = false;
		for (size_t i = 0; i < n; i++) {
			git_oid before = tree_id;
			bool parts_changed;
			int rc = apply_work(g, &tree_id, works[i], &af, &parts_changed, err);
			if (rc) {
				agg_files_free(&af);
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
		int arc = agg_flush(g, &tree_id, &af, err);
		agg_files_free(&af);
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
		int rc = commit_tree(g, has ? &head : NULL, has ? &head : NULL, &tree_id, msg.data,
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
	d->owner = kfs_xstrdup(s->owner);
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
static void retry_drop(struct kfs_git *g, const char *owner)
{
	size_t n = 0;
	for (size_t i = 0; i < g->nretry; i++) {
		if (strcmp(g->retry[i].owner, owner) == 0)
			kfs_git_work_free(&g->retry[i]);
		else
			g->retry[n++] = g->retry[i];
	}
	g->nretry = n;
}

static void retry_add(struct kfs_git *g, const struct kfs_git_work *w)
{
	retry_drop(g, w->owner);
	g->retry = kfs_xrealloc(g->retry, (g->nretry + 1) * sizeof(*g->retry));
	work_copy(&g->retry[g->nretry++], w);
}

/* ---- group commit ------------------------------------------------------------------------- */

static void wake_thread(struct kfs_git *g, bool force)
{
	/* Caller holds qlock. */
	g->dirty = true;
	g->force = g->force || force;
	pthread_cond_broadcast(&g->qcond);
}

/* Commits a list of requests as one commit; on failure, each alone, so one bad work cannot
 * fail the others. Caller holds rlock. */
static void commit_reqs(struct kfs_git *g, struct req **reqs, size_t nreq)
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
			commit_reqs(g, &reqs[i], 1);
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
				retry_drop(g, r->works[j].owner);
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
		commit_reqs(g, reqs, nreq);
		pthread_mutex_unlock(&g->rlock);

		pthread_mutex_lock(&g->qlock);
		for (size_t i = 0; i < nreq; i++)
			reqs[i]->done = true;
		free(reqs);
		g->committing = false;
		wake_thread(g, false);
	}
	pthread_mutex_unlock(&g->qlock);
	if (me.rc) {
		kfs_error_set(err, me.rc, "%s", me.err.msg);
		kfs_error_add(err, me.rc, "kratixfs retries the commit in the background");
	}
	return me.rc;
}

void kfs_git_forget(struct kfs_git *g, const char *owner)
{
	pthread_mutex_lock(&g->rlock);
	size_t n = 0;
	for (size_t i = 0; i < g->nretry; i++) {
		/* A Delete still has to land: the files of the request that was removed go. */
		if (strcmp(g->retry[i].owner, owner) == 0 && !g->retry[i].delete)
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
	if (head_id(g->repo, g->refname, &id) == 1)
		git_oid_tostr(hex, 41, &id);
	else
		hex[0] = '\0';
	pthread_mutex_unlock(&g->rlock);
}

/* ---- push ----------------------------------------------------------------------------------- */

struct replay_ctx {
	git_repository *repo;
	git_tree *remote; /* the remote's tree, which kratixfs's changes go onto */
	struct edits *e;
};

/* One side of a change: its text, or nothing if the file is absent on that side. */
static int side_text(git_repository *repo, const git_diff_file *f, struct kfs_buf *out)
{
	if (git_oid_is_zero(&f->id))
		return 0;
	git_blob *b;
	int rc = git_blob_lookup(&b, repo, &f->id);
	if (rc == 0) {
		kfs_buf_add(out, git_blob_rawcontent(b), (size_t)git_blob_rawsize(b));
		git_blob_free(b);
	}
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* An aggregatedYAML file that kratixfs changed since the common ancestor (base → local): the
 * remote's file, with the parts of each owner kratixfs changed replaced by kratixfs's. Another
 * daemon's parts, which this one never had, are kept. */
static int merge_parts(struct replay_ctx *c, const char *path, struct kfs_git_parts *base,
		       struct kfs_git_parts *local)
{
	struct kfs_git_parts remote;
	struct kfs_buf text = {0};
	int rc = tree_has(c->remote, path) ? read_blob(c->repo, c->remote, path, &text) : 0;
	if (rc)
		return rc;
	kfs_git_parts_parse(text.data, text.len, &remote);
	kfs_buf_free(&text);
	size_t n = base->n + local->n, k = 0;
	char **owners = kfs_xcalloc(n ? n : 1, sizeof(*owners));
	for (size_t i = 0; i < base->n; i++)
		owners[k++] = base->items[i].owner;
	for (size_t i = 0; i < local->n; i++)
		owners[k++] = local->items[i].owner;
	qsort(owners, n, sizeof(*owners), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (i && strcmp(owners[i], owners[i - 1]) == 0)
			continue;
		if (kfs_git_parts_same(base, local, owners[i]))
			continue;
		kfs_git_parts_take(&remote, owners[i], NULL);
		for (size_t j = 0; j < local->n; j++)
			if (strcmp(local->items[j].owner, owners[i]) == 0)
				kfs_git_parts_add(&remote, owners[i], local->items[j].key,
						  local->items[j].data, local->items[j].len);
	}
	free(owners);
	rc = agg_write(c->repo, c->remote, path, &remote, c->e);
	kfs_git_parts_free(&remote);
	return rc;
}

static int replay_cb(const git_diff_delta *d, float progress, void *payload)
{
	struct replay_ctx *c = payload;
	struct kfs_buf old_text = {0}, new_text = {0};
	struct kfs_git_parts base = {0}, local = {0};
	(void)progress;
	int rc = side_text(c->repo, &d->old_file, &old_text);
	if (rc == 0)
		rc = side_text(c->repo, &d->new_file, &new_text);
	if (rc == 0) {
		kfs_git_parts_parse(old_text.data, old_text.len, &base);
		kfs_git_parts_parse(new_text.data, new_text.len, &local);
	}
	if (rc == 0 && (base.n || local.n))
		rc = merge_parts(c, d->status == GIT_DELTA_DELETED ? d->old_file.path
								     : d->new_file.path,
				 &base, &local);
	else if (rc == 0 && d->status == GIT_DELTA_DELETED)
		edit_add(c->e, GIT_TREE_UPDATE_REMOVE, NULL, d->old_file.path);
	else if (rc == 0)
		edit_add(c->e, GIT_TREE_UPDATE_UPSERT, &d->new_file.id, d->new_file.path);
	kfs_git_parts_free(&base);
	kfs_git_parts_free(&local);
	kfs_buf_free(&old_text);
	kfs_buf_free(&new_text);
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
	git_revwalk *walk = NULL;
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
	struct replay_ctx ctx = {g->repo, rt, &e};
	if (rc == 0)
		rc = git_diff_foreach(diff, replay_cb, NULL, NULL, NULL, &ctx);
	if (rc == 0)
		drop_absent_removals(&e, rt);
	if (rc == 0)
		tree_id = *git_tree_id(rt);
	if (rc == 0 && e.n)
		rc = git_tree_create_updated(&tree_id, g->repo, rt, e.n, e.u);
	/* The message keeps the lines of the local commits being replayed, oldest first. */
	if (rc == 0)
		rc = git_revwalk_new(&walk, g->repo);
	if (rc == 0) {
		git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
		rc = git_revwalk_push(walk, local);
		if (rc == 0 && has_base)
			rc = git_revwalk_hide(walk, &base);
		git_oid id;
		while (rc == 0 && git_revwalk_next(&id, walk) == 0) {
			git_commit *c;
			if (git_commit_lookup(&c, g->repo, &id) == 0) {
				const char *m = git_commit_message(c);
				size_t len = strlen(m);
				while (len && m[len - 1] == '\n')
					len--;
				if (msg.len)
					kfs_buf_addc(&msg, '\n');
				kfs_buf_add(&msg, m, len);
				git_commit_free(c);
			}
		}
	}
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
		rc = commit_tree(g, remote, local, &tree_id, msg.data, &commit, err);
		if (rc == -EAGAIN)
			rc = kfs_error_set(err, -EIO, "git %s: the branch moved while re-applying",
					   g->path);
	}
	kfs_buf_free(&msg);
	git_revwalk_free(walk);
	edits_free(&e);
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

/* One push attempt: fetch, re-apply if the remote moved, push. 0 with head set, or an error.
 * The network parts use a second repository handle, without rlock, so commits go on. */
static int push_once(struct kfs_git *g, char head[41], struct kfs_error *err)
{
	git_repository *repo = NULL;
	git_remote *remote = NULL;
	struct kfs_buf fspec = {0}, pspec = {0};
	struct push_ctx pc = {.auth = {.remote = g->remote}};
	git_oid local, theirs;
	int rc;

	head[0] = '\0';
	if (git_repository_open_bare(&repo, g->path)) {
		rc = git_fail(err, "opening the repository", g->path);
		goto out;
	}
	/* url.*.insteadOf rewriting is skipped: the remote is spelled out in -o git_push, and
	 * libgit2 1.5 leaks a PCRE2 match block per lookup. */
	git_remote_create_options ro;
	git_remote_create_options_init(&ro, GIT_REMOTE_CREATE_OPTIONS_VERSION);
	ro.repository = repo;
	ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	if (git_remote_create_with_opts(&remote, g->remote, &ro)) {
		rc = git_fail(err, "opening the remote", g->remote);
		goto out;
	}
	kfs_buf_printf(&fspec, "+%s:%s", g->refname, g->tracking);
	char *fs[] = {fspec.data};
	git_strarray fetch_specs = {fs, 1};
	git_fetch_options fo;
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	fo.update_fetchhead = 0;
	fo.callbacks.credentials = kfs_ssh_credentials_cb;
	fo.callbacks.certificate_check = kfs_ssh_hostkey_cb;
	fo.callbacks.payload = &pc;
	if (git_remote_fetch(remote, &fetch_specs, &fo, NULL)) {
		rc = git_fail(err, "fetching", g->remote);
		goto out;
	}

	pthread_mutex_lock(&g->rlock);
	/* The fetch, through the other handle, may have brought a pack: look before reading. */
	rc = kfs_gitodb_refresh(g->odb, err);
	int has_local = head_id(g->repo, g->refname, &local);
	int has_theirs = head_id(g->repo, g->tracking, &theirs);
	int ahead = has_local == 1 && has_theirs == 1 && !git_oid_equal(&local, &theirs)
			? git_graph_descendant_of(g->repo, &local, &theirs)
			: 1;
	if (rc == 0 && ahead < 0)
		rc = git_fail(err, "comparing the branch with the remote's", g->path);
	if (rc == 0 && ahead == 0) {
		rc = replay(g, &local, &theirs, err);
		if (rc == 0 && head_id(g->repo, g->refname, &local) != 1)
			rc = git_fail(err, "reading the branch", g->path);
	}
	pthread_mutex_unlock(&g->rlock);
	if (rc || has_local != 1)
		goto out;
	git_oid_tostr(head, 41, &local);
	if (has_theirs == 1 && git_oid_equal(&local, &theirs))
		goto out;

	/* Push exactly the commit checked above (a newer one gets the next round): libgit2
	 * pushes references only, so it gets one of its own. */
	kfs_buf_printf(&pspec, "refs/kratixfs/push/%s", g->refname + strlen("refs/heads/"));
	git_reference *pref = NULL;
	if (git_reference_create(&pref, repo, pspec.data, &local, 1, "kratixfs: to push")) {
		rc = git_fail(err, "preparing the push", g->path);
		goto out;
	}
	git_reference_free(pref);
	/* libgit2 pushes to a local path by force, so kratixfs moves that branch itself, by
	 * compare-and-swap (local_move). */
	const char *lpath = kfs_url_local_path(g->remote);
	struct kfs_buf incoming = {0};
	if (lpath)
		kfs_buf_printf(&incoming, "refs/kratixfs/incoming/%s",
			       g->refname + strlen("refs/heads/"));
	/* Forced to incoming: another daemon's incoming ref is no ancestor of ours. */
	struct kfs_buf spec = {0};
	kfs_buf_printf(&spec, "%s%s:%s", lpath ? "+" : "", pspec.data,
		       lpath ? incoming.data : g->refname);
	char *ps_[] = {spec.data};
	git_strarray push_specs = {ps_, 1};
	git_push_options po;
	git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
	po.callbacks.push_update_reference = push_ref_cb;
	po.callbacks.credentials = kfs_ssh_credentials_cb;
	po.callbacks.certificate_check = kfs_ssh_hostkey_cb;
	po.callbacks.payload = &pc;
	pc.auth.key_tries = 0;
	if (git_remote_push(remote, &push_specs, &po))
		rc = git_fail(err, "pushing", g->remote);
	else if (pc.rejected[0])
		rc = kfs_error_set(err, -EIO, "git %s: push rejected: %s", g->remote, pc.rejected);
	if (rc == 0 && lpath)
		rc = local_move(lpath, g->refname, incoming.data, &local,
				has_theirs == 1 ? &theirs : NULL, err);
	kfs_buf_free(&incoming);
	kfs_buf_free(&spec);
	if (rc == 0) {
		/* Record what the remote now has, so that a later attempt knows it. */
		git_reference *ref = NULL;
		git_reference_create(&ref, repo, g->tracking, &local, 1, "kratixfs: pushed");
		git_reference_free(ref);
	}
out:
	if (rc && err) {
		/* The reason goes to status.yaml as well as to the log. */
		char quoted[KFS_ERROR_MAX];
		memcpy(quoted, err->msg, sizeof(quoted));
		kfs_mask_userinfo(quoted, err->msg, sizeof(err->msg));
	}
	git_remote_free(remote);
	git_repository_free(repo);
	kfs_buf_free(&fspec);
	kfs_buf_free(&pspec);
	return rc;
}

static void deadline_after(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Retries failed commits, oldest first, under rlock so that no newer commit of the same owner
 * can slip in between; stops at the first failure. Reports each through on_commit. */
static bool retry_commits(struct kfs_git *g)
{
	struct report {
		char *owner;
		unsigned long long serial;
		char commit[41];
		char *reason;
	} *reps = NULL;
	size_t nreps = 0;
	bool failed = false;

	pthread_mutex_lock(&g->rlock);
	while (g->nretry > 0 && !failed) {
		struct kfs_git_work w = g->retry[0];
		memmove(g->retry, g->retry + 1, (g->nretry - 1) * sizeof(*g->retry));
		g->nretry--;
		struct kfs_git_result res = {0};
		struct req r = {.works = &w, .n = 1, .res = &res};
		struct req *rp = &r;
		commit_reqs(g, &rp, 1); /* a failure puts the work back */
		failed = r.rc != 0;
		reps = kfs_xrealloc(reps, (nreps + 1) * sizeof(*reps));
		reps[nreps].owner = kfs_xstrdup(w.owner);
		reps[nreps].serial = w.serial;
		snprintf(reps[nreps].commit, sizeof(reps[nreps].commit), "%s", res.commit);
		reps[nreps].reason = failed ? kfs_xstrdup(r.err.msg) : NULL;
		nreps++;
		kfs_git_work_free(&w);
	}
	pthread_mutex_unlock(&g->rlock);

	for (size_t i = 0; i < nreps; i++) {
		if (g->opts.on_commit)
			g->opts.on_commit(g->opts.ctx, reps[i].owner, reps[i].serial,
					  reps[i].reason ? NULL : reps[i].commit, reps[i].reason);
		free(reps[i].owner);
		free(reps[i].reason);
	}
	free(reps);
	return failed;
}

static void *background(void *arg)
{
	struct kfs_git *g = arg;
	unsigned min = g->opts.backoff_min_ms ? g->opts.backoff_min_ms : 200;
	unsigned max = g->opts.backoff_max_ms ? g->opts.backoff_max_ms : 30000;
	unsigned delay = 0; /* 0: no failure pending */

	/* libgit2 and libssh2 write to sockets without MSG_NOSIGNAL: a remote that hangs up in
	 * the middle of a push would kill the whole process with SIGPIPE, silently. Blocked in
	 * this thread, the only one that talks to remotes, the write fails with EPIPE instead
	 * and the push is retried; the signal stays pending in this thread, harmless. */
	sigset_t pipe_signal;
	sigemptyset(&pipe_signal);
	sigaddset(&pipe_signal, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_signal, NULL);

	pthread_mutex_lock(&g->qlock);
	while (!g->stop) {
		if (!g->dirty && !g->force && delay == 0) {
			pthread_cond_wait(&g->qcond, &g->qlock);
			continue;
		}
		if (delay && !g->force) {
			struct timespec ts;
			deadline_after(&ts, delay);
			int w = 0;
			bool soon = false;
			while (!g->stop && !g->force && w != ETIMEDOUT) {
				/* A new commit while pushes fail: try again within RETRY_SOON_MS,
				 * so a remote that is back gets it, not a full backoff later. */
				if (g->dirty && !soon && delay > RETRY_SOON_MS) {
					struct timespec t;
					deadline_after(&t, RETRY_SOON_MS);
					if (t.tv_sec < ts.tv_sec ||
					    (t.tv_sec == ts.tv_sec && t.tv_nsec < ts.tv_nsec))
						ts = t;
					soon = true;
				}
				w = pthread_cond_timedwait(&g->qcond, &g->qlock, &ts);
			}
			if (g->stop)
				break;
		}
		g->dirty = g->force = false;
		pthread_mutex_unlock(&g->qlock);

		bool failed = retry_commits(g);
		char head[41] = "", reason[KFS_ERROR_MAX] = "";
		if (g->remote) {
			struct kfs_error err = {0};
			if (push_once(g, head, &err)) {
				failed = true;
				snprintf(reason, sizeof(reason), "%s", err.msg);
			}
			if (g->opts.on_push)
				g->opts.on_push(g->opts.ctx, !reason[0], reason[0] ? NULL : head,
						reason[0] ? reason : NULL);
		}
		pthread_mutex_lock(&g->qlock);
		if (g->remote && !reason[0])
			snprintf(g->pushed, sizeof(g->pushed), "%s", head);
		pthread_cond_broadcast(&g->qcond);
		delay = failed ? (delay ? (delay * 2 > max ? max : delay * 2) : min) : 0;
	}
	pthread_mutex_unlock(&g->qlock);
	return NULL;
}

void kfs_git_push_now(struct kfs_git *g)
{
	pthread_mutex_lock(&g->qlock);
	wake_thread(g, true);
	pthread_mutex_unlock(&g->qlock);
}

int kfs_git_push_wait(struct kfs_git *g, unsigned timeout_ms)
{
	struct timespec ts;
	char head[41];
	int rc = 0;

	deadline_after(&ts, timeout_ms);
	pthread_mutex_lock(&g->qlock);
	for (;;) {
		pthread_mutex_unlock(&g->qlock);
		kfs_git_head(g, head);
		pthread_mutex_lock(&g->qlock);
		if (!g->remote || (head[0] && strcmp(head, g->pushed) == 0))
			break;
		if (rc == ETIMEDOUT) {
			rc = -ETIMEDOUT;
			break;
		}
		rc = pthread_cond_timedwait(&g->qcond, &g->qlock, &ts);
	}
	pthread_mutex_unlock(&g->qlock);
	return rc == -ETIMEDOUT ? rc : 0;
}

/* ---- open / close --------------------------------------------------------------------------- */

int kfs_git_open(const struct kfs_git_options *opts, struct kfs_git **out, struct kfs_error *err)
{
	const char *branch = opts->branch && *opts->branch ? opts->branch : "main";
	struct kfs_git *g = kfs_xcalloc(1, sizeof(*g));
	struct kfs_buf b = {0};
	int rc;

	git_libgit2_init();
	g->opts = *opts;
	g->path = kfs_xstrdup(opts->repo);
	g->remote = opts->remote && *opts->remote ? kfs_xstrdup(opts->remote) : NULL;
	g->opts.repo = g->path;
	g->opts.remote = g->remote;
	g->opts.branch = NULL;
	kfs_buf_printf(&b, "refs/heads/%s", branch);
	g->refname = kfs_buf_steal(&b);
	kfs_buf_printf(&b, "refs/remotes/kratixfs/%s", branch);
	g->tracking = kfs_buf_steal(&b);
	kfs_buf_free(&b);
	pthread_mutex_init(&g->rlock, NULL);
	pthread_mutex_init(&g->qlock, NULL);
	pthread_cond_init(&g->qcond, NULL);

	if (!git_reference_is_valid_name(g->refname)) {
		rc = kfs_error_set(err, -EINVAL, "git_branch=%s: not a valid branch name", branch);
		goto fail;
	}
	rc = git_repository_open_bare(&g->repo, g->path);
	if (rc == GIT_ENOTFOUND) {
		/* A repository kratixfs creates holds every request's outputs (secrets among
		 * them): its owner's alone. An existing folder keeps the mode it has. */
		struct stat st;
		if (stat(g->path, &st) < 0 && errno == ENOENT) {
			struct kfs_error merr = {0};
			if (kfs_mkdir_p(g->path, &merr) == 0)
				chmod(g->path, 0700);
		}
		git_repository_init_options io;
		git_repository_init_options_init(&io, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
		io.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
		io.initial_head = branch;
		rc = git_repository_init_ext(&g->repo, g->path, &io);
	}
	if (rc) {
		rc = git_fail(err, "opening or creating the bare repository", g->path);
		goto fail;
	}
	rc = kfs_gitodb_attach(g->repo, &g->odb, err);
	if (rc)
		goto fail;
	if (pthread_create(&g->thread, NULL, background, g) != 0) {
		rc = kfs_error_set(err, -EAGAIN, "git %s: cannot start the push thread", g->path);
		goto fail;
	}
	g->thread_started = true;
	if (g->remote)
		kfs_git_push_now(g);
	*out = g;
	return 0;
fail:
	kfs_git_close(g);
	return rc;
}

void kfs_git_close(struct kfs_git *g)
{
	if (!g)
		return;
	if (g->thread_started) {
		pthread_mutex_lock(&g->qlock);
		g->stop = true;
		pthread_cond_broadcast(&g->qcond);
		pthread_mutex_unlock(&g->qlock);
		pthread_join(g->thread, NULL);
	}
	for (size_t i = 0; i < g->nretry; i++)
		kfs_git_work_free(&g->retry[i]);
	free(g->retry);
	kfs_gitodb_free(g->odb);
	git_repository_free(g->repo);
	pthread_cond_destroy(&g->qcond);
	pthread_mutex_destroy(&g->qlock);
	pthread_mutex_destroy(&g->rlock);
	free(g->path);
	free(g->remote);
	free(g->refname);
	free(g->tracking);
	free(g);
	git_libgit2_shutdown();
}
