/* Works applied to trees, with no work tree and no index: the folders and index files a work
 * owns are removed, its files written, and its parts of aggregatedYAML files replaced. */
#include <errno.h>
#include <git2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/buf.h"
#include "git_error.h"
#include "git_writer.h"

void kfs_gitw_edit_add(struct edits *e, git_tree_update_t action, const git_oid *id, const char *p)
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

void kfs_gitw_edits_free(struct edits *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->paths[i]);
	free(e->paths);
	free(e->u);
}

bool kfs_gitw_tree_has(git_tree *t, const char *path)
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
void kfs_gitw_drop_absent_removals(struct edits *e, git_tree *t)
{
	size_t n = 0;
	for (size_t i = 0; i < e->n; i++) {
		if (e->u[i].action == GIT_TREE_UPDATE_REMOVE && !kfs_gitw_tree_has(t, e->paths[i])) {
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
	kfs_gitw_edit_add(w->e, GIT_TREE_UPDATE_REMOVE, NULL, b.data);
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
		kfs_gitw_edit_add(e, GIT_TREE_UPDATE_REMOVE, NULL, dir);
	}
	git_tree_entry_free(te);
	return rc;
}

int kfs_gitw_read_blob(git_repository *repo, git_tree *t, const char *path, struct kfs_buf *out)
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
static int remove_indexed(git_repository *repo, git_tree *t, const char *spec,
			  const char *store_path, struct edits *e)
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
		kfs_gitw_edit_add(e, GIT_TREE_UPDATE_REMOVE, NULL, path.data);
		struct kfs_node *doc = NULL;
		struct kfs_error perr = {0};
		/* An unreadable index only means its files stay: never fail the commit for it. */
		if (kfs_gitw_read_blob(repo, t, path.data, &text) == 0 && text.len &&
		    kfs_doc_parse(text.data, text.len, path.data, &doc, &perr) == 0) {
			const struct kfs_node *files = kfs_map_get(doc, "files");
			for (size_t k = 0; files && files->type == KFS_SEQ && k < files->len; k++) {
				if (files->items[k]->type != KFS_STR)
					continue;
				/* Entries are relative to the store's path, as Kratix writes them. */
				char *p = kfs_gitw_index_repo_path(store_path, files->items[k]->text);
				if (kfs_gitw_tree_has(t, p))
					kfs_gitw_edit_add(e, GIT_TREE_UPDATE_REMOVE, NULL, p);
				free(p);
			}
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


void kfs_gitw_agg_files_free(struct agg_files *af)
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
	struct kfs_buf text = {0}, index = {0};
	char *ipath = kfs_git_parts_index_path(path);
	int rc = t && kfs_gitw_tree_has(t, path) ? kfs_gitw_read_blob(repo, t, path, &text) : 0;
	if (rc == 0 && t && kfs_gitw_tree_has(t, ipath))
		rc = kfs_gitw_read_blob(repo, t, ipath, &index);
	if (rc == 0) {
		af->items = kfs_xrealloc(af->items, (af->n + 1) * sizeof(*af->items));
		*out = &af->items[af->n++];
		memset(*out, 0, sizeof(**out));
		(*out)->path = kfs_xstrdup(path);
		kfs_git_parts_parse(text.data ? text.data : "", text.len, index.data, index.len,
				    &(*out)->parts);
	}
	free(ipath);
	kfs_buf_free(&text);
	kfs_buf_free(&index);
	return rc;
}

static void strv_push(char ***v, size_t *n, const char *s)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*v)[i], s) == 0)
			return;
	*v = kfs_xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = kfs_xstrdup(s);
}

void kfs_gitw_agg_keys_free(struct agg_keys *k)
{
	for (size_t i = 0; i < k->nchanged; i++)
		free(k->changed[i]);
	free(k->changed);
	for (size_t i = 0; i < k->ngone; i++)
		free(k->gone[i]);
	free(k->gone);
	free(k->gone_dest);
	memset(k, 0, sizeof(*k));
}

/* Which of the owner's WorkPlacements changed between before and after (parts of f). */
static void agg_diff(const struct kfs_git_parts *before, const struct kfs_git_parts *after,
		     const char *owner, long dest, struct agg_keys *keys)
{
	for (int side = 0; side < 2; side++) {
		const struct kfs_git_parts *p = side ? after : before;
		for (size_t i = 0; i < p->n; i++) {
			const char *key = p->items[i].key;
			if (strcmp(p->items[i].owner, owner) != 0 ||
			    kfs_git_parts_same(before, after, owner, key))
				continue;
			bool kept = false;
			for (size_t j = 0; j < after->n && !kept; j++)
				kept = strcmp(after->items[j].owner, owner) == 0 &&
				       strcmp(after->items[j].key, key) == 0;
			if (kept) {
				strv_push(&keys->changed, &keys->nchanged, key);
				continue;
			}
			size_t n = keys->ngone;
			strv_push(&keys->gone, &keys->ngone, key);
			if (keys->ngone > n) {
				keys->gone_dest = kfs_xrealloc(keys->gone_dest,
							       keys->ngone * sizeof(*keys->gone_dest));
				keys->gone_dest[n] = dest;
			}
		}
	}
}

/* Replaces w's parts in one aggregatedYAML file (on destination dest); true when they
 * changed, with keys saying which WorkPlacements. */
static bool agg_apply(struct agg_file *f, const struct kfs_git_work *w, long dest,
		      struct agg_keys *keys)
{
	struct kfs_git_parts before = {0};
	kfs_git_parts_take(&f->parts, w->part_owner, &before);
	for (size_t i = 0; !w->delete && i < w->nfrags; i++)
		if (strcmp(w->frags[i].file, f->path) == 0)
			kfs_git_parts_add(&f->parts, w->part_owner, w->frags[i].key, w->frags[i].data,
					  w->frags[i].len);
	bool changed = !kfs_git_parts_same(&before, &f->parts, w->part_owner, NULL);
	if (changed)
		agg_diff(&before, &f->parts, w->part_owner, dest, keys);
	kfs_git_parts_free(&before);
	f->dirty = f->dirty || changed;
	return changed;
}

/* Writes parts as the file at path: upserted, or removed when there are none. */
int kfs_gitw_agg_write(git_repository *repo, git_tree *t, const char *path,
		     struct kfs_git_parts *parts, struct edits *e)
{
	struct kfs_buf b = {0}, index = {0};
	kfs_git_parts_render(parts, &b, &index);
	char *ipath = kfs_git_parts_index_path(path);
	int rc = 0;
	if (parts->n) {
		git_oid id, iid;
		rc = git_blob_create_from_buffer(&id, repo, b.data ? b.data : "", b.len);
		if (rc == 0)
			rc = git_blob_create_from_buffer(&iid, repo, index.data, index.len);
		if (rc == 0) {
			kfs_gitw_edit_add(e, GIT_TREE_UPDATE_UPSERT, &id, path);
			kfs_gitw_edit_add(e, GIT_TREE_UPDATE_UPSERT, &iid, ipath);
		}
	} else {
		if (kfs_gitw_tree_has(t, path))
			kfs_gitw_edit_add(e, GIT_TREE_UPDATE_REMOVE, NULL, path);
		if (kfs_gitw_tree_has(t, ipath))
			kfs_gitw_edit_add(e, GIT_TREE_UPDATE_REMOVE, NULL, ipath);
	}
	free(ipath);
	kfs_buf_free(&b);
	kfs_buf_free(&index);
	return rc;
}

/* Writes the batch's changed aggregatedYAML files into the tree *id. */
int kfs_gitw_agg_flush(struct kfs_git *g, git_oid *id, struct agg_files *af, struct kfs_error *err)
{
	git_tree *t = NULL;
	struct edits e = {0};
	int rc = git_tree_lookup(&t, g->repo, id);
	for (size_t i = 0; rc == 0 && i < af->n; i++)
		if (af->items[i].dirty)
			rc = kfs_gitw_agg_write(g->repo, t, af->items[i].path, &af->items[i].parts, &e);
	if (rc == 0)
		kfs_gitw_drop_absent_removals(&e, t); /* also points the updates at their paths */
	if (rc == 0 && e.n)
		rc = git_tree_create_updated(id, g->repo, t, e.n, e.u);
	if (rc)
		git_fail(err, "writing an aggregatedYAML file", g->path);
	kfs_gitw_edits_free(&e);
	git_tree_free(t);
	return rc ? -EIO : 0;
}

/* Applies one work to the tree *id (replaced by the new tree's id) and to the batch's
 * aggregatedYAML files; *parts_changed says whether its parts in those changed. */
int kfs_gitw_apply_work(struct kfs_git *g, git_oid *id, const struct kfs_git_work *w,
		      struct agg_files *af, struct agg_keys *keys, struct kfs_error *err)
{
	git_tree *t = NULL;
	struct edits e = {0};
	const struct kfs_destinations *ds = g->opts.destinations;
	int rc = git_tree_lookup(&t, g->repo, id);

	for (size_t i = 0; rc == 0 && i < w->ndirs; i++)
		rc = remove_under(g->repo, t, w->dirs[i], &e);
	for (size_t i = 0; rc == 0 && i < w->nindexes; i++) {
		const char *store = ds && w->indexes_dest && w->indexes_dest[i] < ds->n
					? ds->items[w->indexes_dest[i]].store_path
					: NULL;
		rc = remove_indexed(g->repo, t, w->indexes[i], store ? store : "", &e);
	}
	/* Every file it takes part in: its parts leave the ones it is no longer placed on. */
	for (size_t i = 0; rc == 0 && i < w->naggregates; i++) {
		struct agg_file *f;
		rc = agg_file_of(g->repo, t, af, w->aggregates[i], &f);
		if (rc == 0)
			agg_apply(f, w, w->aggregates_dest ? (long)w->aggregates_dest[i] : -1, keys);
	}
	for (size_t i = 0; rc == 0 && !w->delete && i < w->nfiles; i++) {
		git_oid bid;
		rc = git_blob_create_from_buffer(&bid, g->repo, w->files[i].data, w->files[i].len);
		if (rc == 0)
			kfs_gitw_edit_add(&e, GIT_TREE_UPDATE_UPSERT, &bid, w->files[i].path);
	}
	/* Removing a path a later write brought back is an upsert; one still absent is a no-op. */
	if (rc == 0)
		kfs_gitw_drop_absent_removals(&e, t);
	if (rc == 0 && e.n)
		rc = git_tree_create_updated(id, g->repo, t, e.n, e.u);
	if (rc)
		git_fail(err, "writing the tree", g->path);
	kfs_gitw_edits_free(&e);
	git_tree_free(t);
	return rc ? -EIO : 0;
}

int kfs_gitw_empty_tree(git_repository *repo, git_oid *id)
{
	git_treebuilder *tb;
	int rc = git_treebuilder_new(&tb, repo, NULL);
	if (rc == 0) {
		rc = git_treebuilder_write(id, tb);
		git_treebuilder_free(tb);
	}
	return rc;
}
