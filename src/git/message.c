/* What a commit says, as Kratix's Git writer says it: "Update from: <WorkPlacement>" for a
 * WorkPlacement whose files it wrote, "Delete from: <WorkPlacement>" for one whose files it
 * removed (lib/writers/git.go, commitAndPush). Kratix makes one commit per WorkPlacement;
 * kratixfs groups them, one line each, and signs with the first line's GitStateStore author. */
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/buf.h"
#include "git_writer.h"

void kfs_gitw_msg_add(struct commit_msg *m, const char *verb, const char *name, long dest)
{
	struct kfs_buf b = {0};
	kfs_buf_printf(&b, "%s from: %s", verb, name);
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->items[i].text, b.data) == 0) {
			kfs_buf_free(&b);
			return;
		}
	m->items = kfs_xrealloc(m->items, (m->n + 1) * sizeof(*m->items));
	m->items[m->n].text = kfs_buf_steal(&b);
	m->items[m->n++].dest = dest;
}

void kfs_gitw_msg_free(struct commit_msg *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->items[i].text);
	free(m->items);
	memset(m, 0, sizeof(*m));
}

void kfs_gitw_msg_text(const struct commit_msg *m, struct kfs_buf *out)
{
	/* The subject is one line, as Kratix's are; the other WorkPlacements follow in the body. */
	for (size_t i = 0; i < m->n; i++)
		kfs_buf_printf(out, "%s%s\n", i == 1 ? "\n" : "", m->items[i].text);
}

/* Whether path names the same thing (or nothing) in both trees. */
static bool same_at(git_tree *a, git_tree *b, const char *path)
{
	git_tree_entry *x = NULL, *y = NULL;
	bool hx = a && git_tree_entry_bypath(&x, a, path) == 0;
	bool hy = b && git_tree_entry_bypath(&y, b, path) == 0;
	bool same = hx == hy && (!hx || git_oid_equal(git_tree_entry_id(x), git_tree_entry_id(y)));
	git_tree_entry_free(x);
	git_tree_entry_free(y);
	return same;
}

/* The subtree at path of t, or NULL. */
static git_tree *subtree(git_repository *repo, git_tree *t, const char *path)
{
	git_tree_entry *te = NULL;
	git_tree *sub = NULL;
	if (t && git_tree_entry_bypath(&te, t, path) == 0 &&
	    git_tree_entry_type(te) == GIT_OBJECT_TREE)
		git_tree_lookup(&sub, repo, git_tree_entry_id(te));
	git_tree_entry_free(te);
	return sub;
}

static bool is_id5(const char *s)
{
	if (strlen(s) != 5)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

/* nestedByMetadata: the WorkPlacements whose folders under the owned folder dir were in before
 * and are gone from after: <pipeline>/<id5>, or <id5>/static for the static dependencies. */
static void gone_nested(git_repository *repo, git_tree *before, git_tree *after,
			const struct kfs_git_work *w, size_t k, struct commit_msg *m)
{
	git_tree *owned = subtree(repo, before, w->dirs[k]);
	const bool request = w->key.kind == KFS_GIT_REQUEST;
	const char *dest = w->dirs_dest && w->dirs_dest[k] < w->ndest_names
			       ? w->dest_names[w->dirs_dest[k]]
			       : NULL;
	for (size_t i = 0; owned && dest && i < git_tree_entrycount(owned); i++) {
		const char *c = git_tree_entry_name(git_tree_entry_byindex(owned, i));
		struct kfs_buf cp = {0};
		kfs_buf_printf(&cp, "%s/%s", w->dirs[k], c);
		git_tree *sub = subtree(repo, before, cp.data);
		for (size_t j = 0; sub && j < git_tree_entrycount(sub); j++) {
			const char *s = git_tree_entry_name(git_tree_entry_byindex(sub, j));
			bool is_static = !request && is_id5(c) && strcmp(s, "static") == 0;
			if (!is_static && !is_id5(s))
				continue;
			struct kfs_buf wp = {0};
			kfs_buf_printf(&wp, "%s%s%s", cp.data, is_static ? "" : "/",
				       is_static ? "" : s);
			if (!kfs_gitw_tree_has(after, wp.data)) {
				char *name = kfs_gitw_wp_name(w->promise, w->key.ns,
							      request ? w->key.name : NULL,
							      is_static ? "" : c, is_static, dest,
							      is_static ? c : s);
				kfs_gitw_msg_add(m, "Delete", name, (long)w->dirs_dest[k]);
				free(name);
			}
			kfs_buf_free(&wp);
		}
		git_tree_free(sub);
		kfs_buf_free(&cp);
	}
	git_tree_free(owned);
}

/* Mode none: the index files under the owned prefix that were in before and are gone. */
static void gone_indexed(git_repository *repo, git_tree *before, git_tree *after,
			 const struct kfs_git_work *w, size_t k, struct commit_msg *m)
{
	const char *spec = w->indexes[k], *slash = strrchr(spec, '/');
	char *folder = kfs_xstrndup(spec, (size_t)(slash - spec));
	const char *prefix = slash + 1;
	/* .kratix/<namespace>-<WorkPlacement>.yaml */
	const bool request = w->key.kind == KFS_GIT_REQUEST;
	const size_t skip = strlen(kfs_gitw_wp_namespace(w->key.ns, request ? w->key.name : NULL)) + 1;
	git_tree *sub = subtree(repo, before, folder);
	for (size_t i = 0; sub && i < git_tree_entrycount(sub); i++) {
		const char *name = git_tree_entry_name(git_tree_entry_byindex(sub, i));
		size_t n = strlen(name);
		if (strncmp(name, prefix, strlen(prefix)) != 0 || n < skip + 5 ||
		    strcmp(name + n - 5, ".yaml") != 0)
			continue;
		struct kfs_buf path = {0};
		kfs_buf_printf(&path, "%s/%s", folder, name);
		if (!kfs_gitw_tree_has(after, path.data)) {
			char *wp = kfs_xstrndup(name + skip, n - skip - 5);
			kfs_gitw_msg_add(m, "Delete", wp, w->indexes_dest ? (long)w->indexes_dest[k] : -1);
			free(wp);
		}
		kfs_buf_free(&path);
	}
	git_tree_free(sub);
	free(folder);
}

void kfs_gitw_work_lines(git_repository *repo, git_tree *before, git_tree *after,
			 const struct kfs_git_work *w, const struct agg_keys *agg,
			 struct commit_msg *m)
{
	if (w->canary) {
		for (size_t i = 0; i < w->ndirs; i++)
			if (!same_at(before, after, w->dirs[i])) {
				kfs_gitw_msg_add(m, w->nfiles ? "Update" : "Delete", "kratix-canary",
						 w->dirs_dest ? (long)w->dirs_dest[i] : -1);
				break;
			}
		return;
	}
	for (size_t i = 0; !w->delete && i < w->nplacements; i++) {
		const struct kfs_git_placement *pl = &w->placements[i];
		bool changed = pl->dir && !same_at(before, after, pl->dir);
		for (size_t j = 0; !changed && j < pl->npaths; j++)
			changed = !same_at(before, after, pl->paths[j]);
		for (size_t j = 0; !changed && pl->aggregate && j < agg->nchanged; j++)
			changed = strcmp(agg->changed[j], pl->name) == 0;
		if (changed)
			kfs_gitw_msg_add(m, "Update", pl->name, (long)pl->dest);
	}
	for (size_t k = 0; k < w->ndirs; k++)
		gone_nested(repo, before, after, w, k, m);
	for (size_t k = 0; k < w->nindexes; k++)
		gone_indexed(repo, before, after, w, k, m);
	for (size_t k = 0; k < agg->ngone; k++)
		kfs_gitw_msg_add(m, "Delete", agg->gone[k], agg->gone_dest[k]);
}
