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

/* The Work name for one pipeline of a render (Kratix's buildWorkIdentifier). */
static char *work_name(const struct kfs_git_render *r, const char *pipeline, bool is_static)
{
	struct kfs_buf id = {0};
	if (is_static)
		kfs_buf_printf(&id, "%s-static-deps", r->promise);
	else if (r->request)
		kfs_buf_printf(&id, "%s-%s-%s-%s", r->promise, r->request,
			       r->ns ? r->ns : "default", pipeline);
	else
		kfs_buf_printf(&id, "%s-%s", r->promise, pipeline);
	char *name = object_name(id.data);
	kfs_buf_free(&id);
	return name;
}

/* WorkPlacements live in the request's namespace, or Kratix's own for the promise. */
static const char *wp_namespace(const struct kfs_git_render *r)
{
	return r->request ? (r->ns ? r->ns : "default") : "kratix-platform-system";
}

/* ---- works -------------------------------------------------------------------------------- */

static void strv_add(char ***v, size_t *n, char *s)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*v)[i], s) == 0) {
			free(s);
			return;
		}
	*v = kfs_xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = s;
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

void kfs_git_work_free(struct kfs_git_work *w)
{
	free(w->name);
	kfs_git_key_free(&w->key);
	free(w->part_owner);
	for (size_t i = 0; i < w->ndirs; i++)
		free(w->dirs[i]);
	free(w->dirs);
	for (size_t i = 0; i < w->nindexes; i++)
		free(w->indexes[i]);
	free(w->indexes);
	for (size_t i = 0; i < w->naggregates; i++)
		free(w->aggregates[i]);
	free(w->aggregates);
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
	memset(w, 0, sizeof(*w));
}

static char *aggregate_file(const struct kfs_destination *d)
{
	const char *p[] = {d->path, d->filename};
	return join(p, 2);
}

/* Writes one placement's outputs into the work, per its destination's mode. */
static void lay_out(struct kfs_git_work *w, const struct kfs_git_render *r,
		    const struct kfs_destination *d, const struct kfs_placement *p,
		    const struct kfs_output *outs, bool is_static)
{
	char id5[6];
	kfs_git_id5(p->directory, id5);
	char *wname = work_name(r, p->pipeline, is_static);
	struct kfs_buf wp = {0};
	kfs_buf_printf(&wp, "%s.%s-%s", wname, d->name, id5);

	if (d->mode == KFS_FP_NESTED) {
		char *dir = kfs_git_nested_dir(d, r->ns ? r->ns : "default", r->promise, r->request,
					       p->pipeline, p->directory);
		for (size_t i = 0; i < p->noutputs; i++) {
			const struct kfs_output *o = &outs[p->outputs[i]];
			const char *parts[] = {dir, o->path};
			file_add(w, join(parts, 2), o->data, o->len);
		}
		free(dir);
	} else if (d->mode == KFS_FP_NONE) {
		/* The index lists what this WorkPlacement wrote, so the next write (or the
		 * delete) removes exactly that: Kratix's .kratix/<ns>-<workplacement>.yaml. */
		struct kfs_buf idx = {0};
		kfs_buf_adds(&idx, p->noutputs ? "files:\n" : "files: []\n");
		for (size_t i = 0; i < p->noutputs; i++) {
			const struct kfs_output *o = &outs[p->outputs[i]];
			const char *parts[] = {d->path, o->path};
			char *path = join(parts, 2);
			kfs_buf_printf(&idx, "- %s\n", path);
			file_add(w, path, o->data, o->len);
		}
		struct kfs_buf name = {0};
		kfs_buf_printf(&name, ".kratix/%s-%s.yaml", wp_namespace(r), wp.data);
		const char *parts[] = {d->path, name.data};
		file_add(w, join(parts, 2), idx.data, idx.len);
		kfs_buf_free(&name);
		kfs_buf_free(&idx);
	} else {
		char *file = aggregate_file(d);
		for (size_t i = 0; i < p->noutputs; i++) {
			const struct kfs_output *o = &outs[p->outputs[i]];
			frag_add(w, file, wp.data, o->data, o->len);
		}
		free(file);
	}
	kfs_buf_free(&wp);
	free(wname);
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
				strv_add(&w->dirs, &w->ndirs, join(p, 5));
			} else {
				const char *p[] = {d->path, "dependencies", r->promise};
				strv_add(&w->dirs, &w->ndirs, join(p, 3));
			}
		} else if (d->mode == KFS_FP_AGGREGATED) {
			strv_add(&w->aggregates, &w->naggregates, aggregate_file(d));
		} else {
			/* One index per pipeline Work; its name ends "-<hash>." so the prefix
			 * cannot match another request's index. */
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
				char *wname = work_name(r, pipe ? pipe : "", is_static);
				struct kfs_buf b = {0};
				kfs_buf_printf(&b, ".kratix/%s-%s.", wp_namespace(r), wname);
				const char *p[] = {d->path, b.data};
				strv_add(&w->indexes, &w->nindexes, join(p, 2));
				kfs_buf_free(&b);
				free(wname);
			}
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
	struct kfs_git_key key = kfs_git_key_of(r);
	kfs_git_key_copy(&out->key, &key);
	out->part_owner = part_owner(r);
	out->delete = r->delete;
	add_owned(out, d, r);
	if (r->delete)
		return 0;

	struct kfs_sched_input in = {
	    .type = r->type,
	    .promise_selectors = r->promise_selectors,
	    .promise_workflow_selectors = r->promise_workflow_selectors,
	    .selectors = r->selectors,
	    .outputs = r->outputs,
	    .noutputs = r->noutputs,
	};
	rc = kfs_schedule(d, &in, &s, err);
	if (rc)
		goto out;
	for (size_t i = 0; i < s.n; i++)
		lay_out(out, r, &d->items[s.items[i].dest], &s.items[i], r->outputs, false);

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
			lay_out(out, r, &d->items[st.items[i].dest], &st.items[i], &o, true);
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

/* ---- aggregatedYAML parts ------------------------------------------------------------------ */

#define PART_MARK "# kratixfs-part: owner="
#define PART_SEP  "\n---\n"

/* The next line that starts with the mark, from text + at; NULL if none. */
static const char *next_mark(const char *text, size_t len, size_t at)
{
	const size_t ml = sizeof(PART_MARK) - 1;
	for (size_t i = at; i + ml <= len; i++) {
		if ((i == 0 || text[i - 1] == '\n') && memcmp(text + i, PART_MARK, ml) == 0)
			return text + i;
		const char *nl = memchr(text + i, '\n', len - i);
		if (!nl)
			break;
		i = (size_t)(nl - text); /* the loop's i++ moves past the newline */
	}
	return NULL;
}

/* Whether text from at to len holds nothing but newlines. */
static bool only_newlines(const char *text, size_t at, size_t len)
{
	while (at < len && text[at] == '\n')
		at++;
	return at == len;
}

/* Whether text + at .. end starts with the mark. */
static bool mark_at(const char *text, size_t len, size_t at)
{
	const size_t ml = sizeof(PART_MARK) - 1;
	return at + ml <= len && memcmp(text + at, PART_MARK, ml) == 0;
}

void kfs_git_parts_parse(const char *text, size_t len, struct kfs_git_parts *out)
{
	memset(out, 0, sizeof(*out));
	const size_t sl = sizeof(PART_SEP) - 1;
	const char *m = text ? next_mark(text, len, 0) : NULL;
	while (m) {
		const char *end = text + len;
		const char *eol = memchr(m, '\n', (size_t)(end - m));
		const char *line_end = eol ? eol : end;
		const char *owner = m + sizeof(PART_MARK) - 1;
		const char *k = memmem(owner, (size_t)(line_end - owner), " key=", 5);
		const char *b = k ? memmem(k, (size_t)(line_end - k), " bytes=", 7) : NULL;
		const char *data = eol ? eol + 1 : end, *data_end, *next;
		size_t at = (size_t)(data - text), n = b ? strtoull(b + 7, NULL, 10) : 0;
		if (b && n <= len - at && (only_newlines(text, at + n, len) ||
					   (len - at - n >= sl && memcmp(data + n, PART_SEP, sl) == 0 &&
					    mark_at(text, len, at + n + sl)))) {
			/* The part's length says where it ends, whatever lines it holds (the file
			 * may have gained a final newline, from an editor). */
			data_end = data + n;
			next = only_newlines(text, at + n, len) ? NULL : data_end + sl;
		} else {
			/* No length, or not this text's (edited by hand): up to the next mark. */
			next = eol ? next_mark(text, len, at) : NULL;
			data_end = next ? next : end;
			if (next && (size_t)(data_end - data) >= sl &&
			    memcmp(data_end - sl, PART_SEP, sl) == 0)
				data_end -= sl; /* the file's separator, not the part's */
		}
		if (k) {
			const char *key_end = b ? b : line_end;
			char *o = kfs_xstrndup(owner, (size_t)(k - owner));
			char *key = kfs_xstrndup(k + 5, (size_t)(key_end - k - 5));
			kfs_git_parts_add(out, o, key, data, (size_t)(data_end - data));
			free(o);
			free(key);
		}
		m = next;
	}
}

void kfs_git_parts_add(struct kfs_git_parts *p, const char *owner, const char *key,
		       const char *data, size_t len)
{
	p->items = kfs_xrealloc(p->items, (p->n + 1) * sizeof(*p->items));
	p->items[p->n++] = (struct kfs_git_part){kfs_xstrdup(owner), kfs_xstrdup(key),
						 kfs_xstrndup(data, len), len, p->seq++};
}

static void part_free(struct kfs_git_part *x)
{
	free(x->owner);
	free(x->key);
	free(x->data);
}

void kfs_git_parts_take(struct kfs_git_parts *p, const char *owner, struct kfs_git_parts *out)
{
	size_t n = 0;
	for (size_t i = 0; i < p->n; i++) {
		struct kfs_git_part *x = &p->items[i];
		if (strcmp(x->owner, owner) != 0) {
			p->items[n++] = *x;
		} else if (out) {
			out->items = kfs_xrealloc(out->items, (out->n + 1) * sizeof(*out->items));
			out->items[out->n] = *x;
			out->items[out->n++].seq = out->seq++;
		} else {
			part_free(x);
		}
	}
	p->n = n;
}

static int cmp_part(const void *a, const void *b)
{
	const struct kfs_git_part *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Owner's parts of p, in the order the file has them (by key, then arrival). */
static const struct kfs_git_part **parts_of(const struct kfs_git_parts *p, const char *owner,
					    size_t *n)
{
	const struct kfs_git_part **out = kfs_xcalloc(p->n ? p->n : 1, sizeof(*out));
	*n = 0;
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->items[i].owner, owner) == 0)
			out[(*n)++] = &p->items[i];
	for (size_t i = 1; i < *n; i++) /* insertion sort: an owner has a handful */
		for (size_t j = i; j > 0 && cmp_part(out[j - 1], out[j]) > 0; j--) {
			const struct kfs_git_part *t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return out;
}

bool kfs_git_parts_same(const struct kfs_git_parts *a, const struct kfs_git_parts *b,
			const char *owner)
{
	size_t na, nb;
	const struct kfs_git_part **x = parts_of(a, owner, &na), **y = parts_of(b, owner, &nb);
	bool same = na == nb;
	for (size_t i = 0; same && i < na; i++)
		same = strcmp(x[i]->key, y[i]->key) == 0 && x[i]->len == y[i]->len &&
		       memcmp(x[i]->data, y[i]->data, x[i]->len) == 0;
	free(x);
	free(y);
	return same;
}

void kfs_git_parts_render(struct kfs_git_parts *p, struct kfs_buf *out)
{
	if (p->n > 1)
		qsort(p->items, p->n, sizeof(*p->items), cmp_part);
	for (size_t i = 0; i < p->n; i++) {
		const struct kfs_git_part *x = &p->items[i];
		kfs_buf_printf(out, "%s" PART_MARK "%s key=%s bytes=%zu\n", i ? PART_SEP : "",
			       x->owner, x->key, x->len);
		kfs_buf_add(out, x->data, x->len);
	}
}

void kfs_git_parts_free(struct kfs_git_parts *p)
{
	for (size_t i = 0; i < p->n; i++)
		part_free(&p->items[i]);
	free(p->items);
	memset(p, 0, sizeof(*p));
}
