/* Repository paths: where Kratix writes each workload for each filepath mode, and the "work" a
 * render owns (what to replace, what to write). */
#include "kratixfs/gitstore.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/buf.h"
#include "kratixfs/hash.h"
#include "git_writer.h"

void kfs_git_id5(const char *directory, char out[6])
{
	char hex[33];
	kfs_md5_hex(directory, hex);
	memcpy(out, hex, 5);
	out[5] = '\0';
}

/* ---- paths -------------------------------------------------------------------------------- */

/* Joins the non-empty parts with '/', as Go's filepath.Join does for clean parts. */
static char *join(const char *const *parts, size_t n)
{
	struct kfs_buf b = {0};
	for (size_t i = 0; i < n; i++) {
		if (!parts[i] || !*parts[i])
			continue;
		if (b.len)
			kfs_buf_addc(&b, '/');
		kfs_buf_adds(&b, parts[i]);
	}
	return kfs_buf_steal(&b);
}

char *kfs_git_nested_dir(const struct kfs_destination *d, const char *ns, const char *promise,
			 const char *request, const char *pipeline, const char *directory)
{
	char id5[6];
	kfs_git_id5(directory, id5);
	if (!request) {
		const char *p[] = {d->path, "dependencies", promise, pipeline, id5};
		return join(p, 5);
	}
	const char *p[] = {d->path, "resources", ns, promise, request, pipeline, id5};
	return join(p, 7);
}

/* Kratix's GenerateObjectName appends five random characters; kratixfs uses the first five of
 * md5(identifier) (Kratix's GenerateDeterministicObjectName) so names survive restarts. */
static char *object_name(const char *identifier)
{
	char hex[33];
	size_t n = strlen(identifier);

	kfs_md5_hex(identifier, hex);
	if (n > 56)
		n = 55;
	while (n > 0 && !((identifier[n - 1] >= 'a' && identifier[n - 1] <= 'z') ||
			  (identifier[n - 1] >= 'A' && identifier[n - 1] <= 'Z') ||
			  (identifier[n - 1] >= '0' && identifier[n - 1] <= '9')))
		n--;
	struct kfs_buf b = {0};
	kfs_buf_add(&b, identifier, n);
	kfs_buf_printf(&b, "-%.5s", hex);
	return kfs_buf_steal(&b);
}

/* The Work name for one pipeline (Kratix's buildWorkIdentifier, then GenerateObjectName). */
static char *work_name(const char *promise, const char *ns, const char *request,
		       const char *pipeline, bool is_static)
{
	struct kfs_buf id = {0};
	if (is_static)
		kfs_buf_printf(&id, "%s-static-deps", promise);
	else if (request)
		kfs_buf_printf(&id, "%s-%s-%s-%s", promise, request, ns ? ns : "default", pipeline);
	else
		kfs_buf_printf(&id, "%s-%s", promise, pipeline);
	char *name = object_name(id.data);
	kfs_buf_free(&id);
	return name;
}

char *kfs_gitw_wp_name(const char *promise, const char *ns, const char *request,
		       const char *pipeline, bool is_static, const char *dest, const char *id5)
{
	char *w = work_name(promise, ns, request, pipeline ? pipeline : "", is_static);
	struct kfs_buf b = {0};
	kfs_buf_printf(&b, "%s.%s-%s", w, dest, id5);
	free(w);
	return kfs_buf_steal(&b);
}

const char *kfs_gitw_wp_namespace(const char *ns, const char *request)
{
	return request ? (ns ? ns : "default") : "kratix-platform-system";
}

/* ---- works -------------------------------------------------------------------------------- */

static bool strv_add(char ***v, size_t *n, char *s)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*v)[i], s) == 0) {
			free(s);
			return false;
		}
	*v = kfs_xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = s;
	return true;
}

/* Adds s, owned on destination dest, to an owned list and its destination list. */
static void owned_add(char ***v, size_t **dests, size_t *n, char *s, size_t dest)
{
	size_t before = *n;
	if (!strv_add(v, n, s))
		return;
	*dests = kfs_xrealloc(*dests, *n * sizeof(**dests));
	(*dests)[before] = dest;
}

static void file_add(struct kfs_git_work *w, char *path, const char *data, size_t len)
{
	w->files = kfs_xrealloc(w->files, (w->nfiles + 1) * sizeof(*w->files));
	struct kfs_git_file *f = &w->files[w->nfiles++];
	f->path = path;
	f->data = kfs_xmalloc(len + 1);
	memcpy(f->data, data, len);
	f->data[len] = '\0';
	f->len = len;
}

static void frag_add(struct kfs_git_work *w, const char *file, const char *key, const char *data,
		     size_t len)
{
	w->frags = kfs_xrealloc(w->frags, (w->nfrags + 1) * sizeof(*w->frags));
	struct kfs_git_frag *f = &w->frags[w->nfrags++];
	f->file = kfs_xstrdup(file);
	f->key = kfs_xstrdup(key);
	f->data = kfs_xstrndup(data, len);
	f->len = len;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void kfs_git_work_free(struct kfs_git_work *w)
{
	free(w->name);
	free(w->promise);
	kfs_git_key_free(&w->key);
	free(w->part_owner);
	strv_free(w->dirs, w->ndirs);
	free(w->dirs_dest);
	strv_free(w->indexes, w->nindexes);
	free(w->indexes_dest);
	strv_free(w->aggregates, w->naggregates);
	free(w->aggregates_dest);
	for (size_t i = 0; i < w->nfrags; i++) {
		free(w->frags[i].file);
		free(w->frags[i].key);
		free(w->frags[i].data);
	}
	free(w->frags);
	for (size_t i = 0; i < w->nfiles; i++) {
		free(w->files[i].path);
		free(w->files[i].data);
	}
	free(w->files);
	for (size_t i = 0; i < w->nplacements; i++) {
		free(w->placements[i].name);
		free(w->placements[i].dir);
		strv_free(w->placements[i].paths, w->placements[i].npaths);
		free(w->placements[i].aggregate);
	}
	free(w->placements);
	strv_free(w->dest_names, w->ndest_names);
	memset(w, 0, sizeof(*w));
}

static char *aggregate_file(const struct kfs_destination *d)
{
	const char *p[] = {d->path, d->filename};
	return join(p, 2);
}

static struct kfs_git_placement *placement_add(struct kfs_git_work *w, char *name, size_t dest)
{
	w->placements =
	    kfs_xrealloc(w->placements, (w->nplacements + 1) * sizeof(*w->placements));
	struct kfs_git_placement *pl = &w->placements[w->nplacements++];
	memset(pl, 0, sizeof(*pl));
	pl->name = name;
	pl->dest = dest;
	return pl;
}

/* Mode none: the files as Kratix's .kratix index lists them, relative to the store's path
 * (filepath.Join(spec.path + "/", file)), and the repository path of such an entry. */
static char *index_entry(const struct kfs_destination *d, const char *file)
{
	struct kfs_buf b = {0};
	kfs_buf_printf(&b, "%s//%s", d->spec_path, file);
	char *c = kfs_gitw_go_clean(b.data);
	kfs_buf_free(&b);
	return c;
}

char *kfs_gitw_index_repo_path(const char *store_path, const char *entry)
{
	struct kfs_buf b = {0};
	kfs_buf_printf(&b, "/%s/%s", store_path, entry);
	char *c = kfs_gitw_go_clean(b.data);
	kfs_buf_free(&b);
	char *out = kfs_xstrdup(strcmp(c, "/") == 0 ? "" : c + 1);
	free(c);
	return out;
}

/* Kratix reads a pipeline's output/ with os.ReadDir, folder by folder, entries by name: its
 * workloads (the order of a .kratix index and of an aggregatedYAML file) come in the order of
 * their paths compared folder by folder, '/' below every other byte. */
static int readdir_cmp(const char *x, const char *y)
{
	for (; *x && *x == *y; x++, y++)
		;
	return (*x == '/' ? 0 : (unsigned char)*x) - (*y == '/' ? 0 : (unsigned char)*y);
}

static void readdir_order(size_t *idx, size_t n, const struct kfs_output *outs)
{
	for (size_t i = 1; i < n; i++) /* insertion sort: the outputs come nearly in order */
		for (size_t j = i; j > 0 && readdir_cmp(outs[idx[j - 1]].path, outs[idx[j]].path) > 0;
		     j--) {
			size_t t = idx[j];
			idx[j] = idx[j - 1];
			idx[j - 1] = t;
		}
}

/* Writes one placement's outputs into the work, per its destination's mode. */
static void lay_out(struct kfs_git_work *w, const struct kfs_git_render *r,
		    const struct kfs_destinations *ds, struct kfs_placement *p,
		    const struct kfs_output *outs, bool is_static)
{
	const struct kfs_destination *d = &ds->items[p->dest];
	readdir_order(p->outputs, p->noutputs, outs);
	char id5[6];
	kfs_git_id5(p->directory, id5);
	struct kfs_git_placement *pl = placement_add(
	    w, kfs_gitw_wp_name(r->promise, r->ns, r->request, p->pipeline, is_static, d->name, id5),
	    p->dest);

	if (d->mode == KFS_FP_NESTED) {
		pl->dir = kfs_git_nested_dir(d, r->ns ? r->ns : "default", r->promise, r->request,
					     p->pipeline, p->directory);
		for (size_t i = 0; i < p->noutputs; i++) {
			const struct kfs_output *o = &outs[p->outputs[i]];
			const char *parts[] = {pl->dir, o->path};
			file_add(w, join(parts, 2), o->data, o->len);
		}
	} else if (d->mode == KFS_FP_NONE) {
		/* The index lists what this WorkPlacement wrote, so the next write (or the
		 * delete) removes exactly that: Kratix's .kratix/<ns>-<workplacement>.yaml. */
		struct kfs_buf idx = {0};
		kfs_buf_adds(&idx, p->noutputs ? "files:\n" : "files: []\n");
		pl->paths = kfs_xcalloc(p->noutputs + 1, sizeof(*pl->paths));
		for (size_t i = 0; i < p->noutputs; i++) {
			const struct kfs_output *o = &outs[p->outputs[i]];
			char *entry = index_entry(d, o->path);
			char *path = kfs_gitw_index_repo_path(d->store_path, entry);
			kfs_buf_printf(&idx, "- %s\n", entry);
			pl->paths[pl->npaths++] = kfs_xstrdup(path);
			file_add(w, path, o->data, o->len);
			free(entry);
		}
		struct kfs_buf name = {0};
		kfs_buf_printf(&name, ".kratix/%s-%s.yaml", kfs_gitw_wp_namespace(r->ns, r->request),
			       pl->name);
		const char *parts[] = {d->path, name.data};
		char *ipath = join(parts, 2);
		pl->paths[pl->npaths++] = kfs_xstrdup(ipath);
		file_add(w, ipath, idx.data, idx.len);
		kfs_buf_free(&name);
		kfs_buf_free(&idx);
	} else {
		pl->aggregate = aggregate_file(d);
		for (size_t i = 0; i < p->noutputs; i++) {
			const struct kfs_output *o = &outs[p->outputs[i]];
			frag_add(w, pl->aggregate, pl->name, o->data, o->len);
		}
	}
}

/* Mode none: the index prefixes of every Work the render may have made on d. */
static void add_owned_indexes(struct kfs_git_work *w, const struct kfs_git_render *r,
			      const struct kfs_destination *d, size_t di)
{
	/* One index per pipeline Work; its name ends "-<hash>." so the prefix cannot match
	 * another request's index. */
	size_t np = r->npipelines + r->noutputs + 1;
	for (size_t k = 0; k < np; k++) {
		const char *pipe;
		bool is_static = false;
		if (k < r->npipelines)
			pipe = r->pipelines[k];
		else if (k < r->npipelines + r->noutputs)
			pipe = r->outputs[k - r->npipelines].pipeline;
		else if (!r->request)
			pipe = "", is_static = true;
		else
			continue;
		char *wname = work_name(r->promise, r->ns, r->request, pipe ? pipe : "", is_static);
		struct kfs_buf b = {0};
		kfs_buf_printf(&b, ".kratix/%s-%s.", kfs_gitw_wp_namespace(r->ns, r->request), wname);
		const char *p[] = {d->path, b.data};
		owned_add(&w->indexes, &w->indexes_dest, &w->nindexes, join(p, 2), di);
		kfs_buf_free(&b);
		free(wname);
	}
}

/* What a render owns on every destination, scheduled there or not, so that moving to another
 * destination, or deleting, removes the old files. */
static void add_owned(struct kfs_git_work *w, const struct kfs_destinations *ds,
		      const struct kfs_git_render *r)
{
	const char *ns = r->ns ? r->ns : "default";

	for (size_t i = 0; i < ds->n; i++) {
		const struct kfs_destination *d = &ds->items[i];
		if (d->mode == KFS_FP_NESTED) {
			if (r->request) {
				const char *p[] = {d->path, "resources", ns, r->promise,
						   r->request};
				owned_add(&w->dirs, &w->dirs_dest, &w->ndirs, join(p, 5), i);
			} else {
				const char *p[] = {d->path, "dependencies", r->promise};
				owned_add(&w->dirs, &w->dirs_dest, &w->ndirs, join(p, 3), i);
			}
		} else if (d->mode == KFS_FP_AGGREGATED) {
			owned_add(&w->aggregates, &w->aggregates_dest, &w->naggregates,
				  aggregate_file(d), i);
		} else {
			add_owned_indexes(w, r, d, i);
		}
	}
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct kfs_git_file *)a)->path,
		      ((const struct kfs_git_file *)b)->path);
}

/* Sorts the files; of two with the same path the later one written wins. */
static void sort_files(struct kfs_git_work *w)
{
	size_t n = 0;

	for (size_t i = 0; i < w->nfiles; i++) {
		bool later = false;
		for (size_t j = i + 1; j < w->nfiles && !later; j++)
			later = strcmp(w->files[i].path, w->files[j].path) == 0;
		if (later) {
			free(w->files[i].path);
			free(w->files[i].data);
		} else {
			w->files[n++] = w->files[i];
		}
	}
	w->nfiles = n;
	if (w->nfiles > 1)
		qsort(w->files, w->nfiles, sizeof(*w->files), cmp_file);
}

/* The mark of a render's parts in aggregatedYAML files (kfs_git_work.part_owner). */
static char *part_owner(const struct kfs_git_render *r)
{
	struct kfs_buf owner = {0};
	if (r->request)
		kfs_buf_printf(&owner, "resource/%s/%s/%s", r->ns ? r->ns : "default", r->promise,
			       r->request);
	else
		kfs_buf_printf(&owner, "promise/%s", r->promise);
	return kfs_buf_steal(&owner);
}

int kfs_git_work_build(const struct kfs_destinations *d, const struct kfs_git_render *r,
		       struct kfs_git_work *out, char **unscheduled, struct kfs_error *err)
{
	struct kfs_schedule s = {0}, st = {0};
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (unscheduled)
		*unscheduled = NULL;
	out->name = kfs_xstrdup(r->request ? r->request : r->promise);
	out->promise = kfs_xstrdup(r->promise);
	struct kfs_git_key key = kfs_git_key_of(r);
	kfs_git_key_copy(&out->key, &key);
	out->part_owner = part_owner(r);
	out->delete = r->delete;
	out->dest_names = kfs_xcalloc(d->n ? d->n : 1, sizeof(*out->dest_names));
	for (out->ndest_names = 0; out->ndest_names < d->n; out->ndest_names++)
		out->dest_names[out->ndest_names] = kfs_xstrdup(d->items[out->ndest_names].name);
	add_owned(out, d, r);
	if (r->delete)
		return 0;

	struct kfs_sched_input in = {
	    .type = r->type,
	    .promise_selectors = r->promise_selectors,
	    .selectors = r->selectors,
	    .rpipelines = r->rpipelines,
	    .nrpipelines = r->nrpipelines,
	    .outputs = r->outputs,
	    .noutputs = r->noutputs,
	};
	rc = kfs_schedule(d, &in, &s, err);
	if (rc)
		goto out;
	for (size_t i = 0; i < s.n; i++)
		lay_out(out, r, d, &s.items[i], r->outputs, false);

	/* Static dependencies are their own Work, scheduled by the promise's selectors only. */
	if (!r->request && r->static_deps) {
		struct kfs_buf path = {0};
		kfs_buf_printf(&path, "static/%s-dependencies.yaml", r->promise);
		struct kfs_output o = {.pipeline = "",
				       .path = path.data,
				       .data = (char *)r->static_deps,
				       .len = strlen(r->static_deps)};
		struct kfs_sched_input sin = {.type = KFS_WF_PROMISE,
					      .promise_selectors = r->promise_selectors,
					      .outputs = &o,
					      .noutputs = 1};
		rc = kfs_schedule(d, &sin, &st, err);
		for (size_t i = 0; rc == 0 && i < st.n; i++)
			lay_out(out, r, d, &st.items[i], &o, true);
		kfs_buf_free(&path);
	}
	sort_files(out);
	if (unscheduled && (s.unscheduled || st.unscheduled)) {
		struct kfs_buf b = {0};
		if (s.unscheduled)
			kfs_buf_adds(&b, s.unscheduled);
		if (st.unscheduled && (!s.unscheduled || strcmp(s.unscheduled, st.unscheduled)))
			kfs_buf_printf(&b, "%s%s", b.len ? "; " : "", st.unscheduled);
		*unscheduled = kfs_buf_steal(&b);
	}
out:
	kfs_schedule_free(&s);
	kfs_schedule_free(&st);
	if (rc)
		kfs_git_work_free(out);
	return rc;
}


/* ---- canary files -------------------------------------------------------------------------- */

/* What Kratix's destination controller writes (getCanaryWorkloads): a Namespace and a ConfigMap,
 * as sigs.k8s.io/yaml marshals them. */
static const char canary_namespace[] = "apiVersion: v1\n"
				       "kind: Namespace\n"
				       "metadata:\n"
				       "  name: kratix-worker-system\n"
				       "spec: {}\n"
				       "status: {}\n";
static const char canary_configmap[] =
    "apiVersion: v1\n"
    "data:\n"
    "  canary: this confirms your infrastructure is reading from Kratix state stores\n"
    "kind: ConfigMap\n"
    "metadata:\n"
    "  name: kratix-info\n"
    "  namespace: kratix-worker-system\n";

void kfs_git_canary_work(const struct kfs_destinations *ds, struct kfs_git_work *out)
{
	memset(out, 0, sizeof(*out));
	out->name = kfs_xstrdup("kratix-canary");
	out->promise = kfs_xstrdup("");
	out->key = (struct kfs_git_key){.kind = KFS_GIT_PROMISE, .name = kfs_xstrdup("")};
	out->part_owner = kfs_xstrdup("");
	out->canary = true;
	for (size_t i = 0; i < ds->n; i++) {
		const struct kfs_destination *d = &ds->items[i];
		bool nested = d->mode == KFS_FP_NESTED;
		const char *ns[] = {d->path, nested ? "dependencies" : "",
				    "kratix-canary-namespace.yaml"};
		const char *cm[] = {d->path, nested ? "resources" : "",
				    "kratix-canary-configmap.yaml"};
		char *nsp = join(ns, 3), *cmp = join(cm, 3);
		/* Owned, so that initWorkloads.enabled: false removes them. */
		owned_add(&out->dirs, &out->dirs_dest, &out->ndirs, kfs_xstrdup(nsp), i);
		owned_add(&out->dirs, &out->dirs_dest, &out->ndirs, kfs_xstrdup(cmp), i);
		if (d->init_workloads) {
			file_add(out, nsp, canary_namespace, sizeof(canary_namespace) - 1);
			file_add(out, cmp, canary_configmap, sizeof(canary_configmap) - 1);
		} else {
			free(nsp);
			free(cmp);
		}
	}
	sort_files(out);
}
