/* Kratix Destinations and scheduling: which destination gets which outputs. */
#include "kratixfs/gitstore.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/buf.h"
#include "kratixfs/files.h"
#include "git_writer.h"

static void dest_free(struct kfs_destination *d)
{
	free(d->name);
	for (size_t i = 0; i < d->nlabels; i++) {
		free(d->labels[i].key);
		free(d->labels[i].value);
	}
	free(d->labels);
	free(d->path);
	free(d->filename);
	free(d->store);
	free(d->store_branch);
	free(d->spec_path);
	free(d->store_path);
	free(d->author_name);
	free(d->author_email);
}

void kfs_destinations_free(struct kfs_destinations *d)
{
	for (size_t i = 0; i < d->n; i++)
		dest_free(&d->items[i]);
	free(d->items);
	d->items = NULL;
	d->n = 0;
}

/* Go's filepath.Clean for the few shapes a destination path takes; "." and "/" mean the root. */
static char *clean_path(const char *p)
{
	struct kfs_buf b = {0};
	const char *s = p;

	while (*s) {
		while (*s == '/')
			s++;
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n && !(n == 1 && s[0] == '.')) {
			if (b.len)
				kfs_buf_addc(&b, '/');
			kfs_buf_add(&b, s, n);
		}
		s += n;
	}
	return kfs_buf_steal(&b);
}

char *kfs_gitw_go_clean(const char *p)
{
	bool rooted = *p == '/';
	struct kfs_buf b = {0};
	size_t *starts = kfs_xcalloc(strlen(p) / 2 + 2, sizeof(*starts)), depth = 0;

	if (rooted)
		kfs_buf_addc(&b, '/');
	for (const char *s = p; *s;) {
		while (*s == '/')
			s++;
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0 || (n == 1 && s[0] == '.')) {
			/* nothing */
		} else if (n == 2 && s[0] == '.' && s[1] == '.' && depth > 0) {
			b.len = starts[--depth];
		} else if (n == 2 && s[0] == '.' && s[1] == '.' && rooted) {
			/* ".." at the root stays at the root */
		} else {
			size_t at = b.len;
			if (b.len && !(rooted && b.len == 1))
				kfs_buf_addc(&b, '/');
			kfs_buf_add(&b, s, n);
			if (!(n == 2 && s[0] == '.' && s[1] == '.'))
				starts[depth++] = at;
		}
		s += n;
	}
	free(starts);
	if (!b.len)
		kfs_buf_addc(&b, '.');
	b.data[b.len] = '\0';
	return kfs_buf_steal(&b);
}

/* A GitStateStore: the folder its destinations' paths are in, the branch it writes, and who
 * signs its commits. */
struct state_store {
	const char *name, *path, *branch, *author_name, *author_email;
	int line;
};

/* The GitStateStore in the file that a destination refers to, or NULL. */
static const struct state_store *store_of(const struct state_store *stores, size_t nstores,
					  const struct kfs_node *doc)
{
	const char *kind = kfs_node_text_at(doc, "spec.stateStoreRef.kind");
	const char *ref = kfs_node_text_at(doc, "spec.stateStoreRef.name");
	for (size_t i = 0; ref && i < nstores; i++)
		if ((!kind || strcmp(kind, "GitStateStore") == 0) &&
		    strcmp(stores[i].name, ref) == 0)
			return &stores[i];
	return NULL;
}

static int load_one(const struct kfs_node *doc, const char *name,
		    const struct state_store *stores, size_t nstores, struct kfs_destination *d,
		    struct kfs_error *err)
{
	const char *dname = kfs_node_text_at(doc, "metadata.name");
	if (!dname || !*dname)
		return kfs_error_set(err, -EINVAL, "%s:%d: metadata.name is missing", name,
				     doc->line);
	d->name = kfs_xstrdup(dname);

	const struct kfs_node *labels = kfs_node_at(doc, "metadata.labels");
	if (labels && labels->type == KFS_MAP) {
		d->labels = kfs_xcalloc(labels->len ? labels->len : 1, sizeof(*d->labels));
		for (size_t i = 0; i < labels->len; i++) {
			const struct kfs_node *v = labels->pairs[i].value;
			if (v->type == KFS_MAP || v->type == KFS_SEQ)
				return kfs_error_set(err, -EINVAL,
						     "%s:%d: metadata.labels.%s must be a string",
						     name, v->line, labels->pairs[i].key);
			d->labels[i].key = kfs_xstrdup(labels->pairs[i].key);
			d->labels[i].value = kfs_xstrdup(v->text);
			d->nlabels++;
		}
	} else if (labels && labels->type != KFS_NULL) {
		return kfs_error_set(err, -EINVAL, "%s:%d: metadata.labels must be a map", name,
				     labels->line);
	}

	/* Kratix's webhook defaults spec.path to the destination's name. */
	const char *path = kfs_node_text_at(doc, "spec.path");
	const struct state_store *store = store_of(stores, nstores, doc);
	struct kfs_buf joined = {0}; /* inside the store's path, as Kratix's path.Join does */
	kfs_buf_printf(&joined, "%s/%s", store ? store->path : "", path && *path ? path : dname);
	d->path = clean_path(joined.data);
	kfs_buf_free(&joined);
	d->spec_path = kfs_gitw_go_clean(path && *path ? path : dname);
	d->store_path = clean_path(store ? store->path : "");
	d->author_name = kfs_xstrdup(store && store->author_name ? store->author_name : "kratix");
	d->author_email = kfs_xstrdup(store && store->author_email ? store->author_email : "");
	if (store) {
		d->store = kfs_xstrdup(store->name);
		d->store_branch = kfs_xstrdup(store->branch);
	}
	for (size_t i = 0; i < d->nlabels; i++)
		if (strcmp(d->labels[i].key, "kratix.io/dry-run") == 0 &&
		    strcmp(d->labels[i].value, "true") == 0)
			d->dry_run = true;
	const struct kfs_node *init = kfs_node_at(doc, "spec.initWorkloads.enabled");
	if (init && init->type != KFS_BOOL && init->type != KFS_NULL)
		return kfs_error_set(err, -EINVAL,
				     "%s:%d: spec.initWorkloads.enabled must be true or false", name,
				     init->line);
	d->init_workloads = !init || init->type == KFS_NULL || kfs_node_truthy(init);
	const char *cleanup = kfs_node_text_at(doc, "spec.cleanup");
	if (cleanup && *cleanup && strcmp(cleanup, "none") != 0 && strcmp(cleanup, "all") != 0)
		return kfs_error_set(err, -EINVAL, "%s:%d: spec.cleanup must be none or all, not %s",
				     name, doc->line, cleanup);

	const struct kfs_node *strict = kfs_node_at(doc, "spec.strictMatchLabels");
	if (strict && strict->type != KFS_BOOL && strict->type != KFS_NULL)
		return kfs_error_set(err, -EINVAL,
				     "%s:%d: spec.strictMatchLabels must be true or false", name,
				     strict->line);
	d->strict = strict && strict->type == KFS_BOOL && kfs_node_truthy(strict);

	const struct kfs_node *mode = kfs_node_at(doc, "spec.filepath.mode");
	const char *m = mode ? mode->text : NULL;
	if (!m || mode->type == KFS_NULL || strcmp(m, "nestedByMetadata") == 0)
		d->mode = KFS_FP_NESTED;
	else if (strcmp(m, "none") == 0)
		d->mode = KFS_FP_NONE;
	else if (strcmp(m, "aggregatedYAML") == 0)
		d->mode = KFS_FP_AGGREGATED;
	else
		return kfs_error_set(err, -EINVAL,
				     "%s:%d: spec.filepath.mode must be nestedByMetadata, none or "
				     "aggregatedYAML, not %s",
				     name, mode->line, m ? m : "(not a string)");
	const char *fname = kfs_node_text_at(doc, "spec.filepath.filename");
	d->filename = kfs_xstrdup(fname && *fname ? fname : "aggregated.yaml");
	return 0;
}

/* A signature part git takes: no angle brackets, no line breaks. */
static bool ident_ok(const char *s)
{
	return !strpbrk(s, "<>\n");
}

/* A GitStateStore document; spec.gitAuthor defaults to {name: kratix}, as Kratix's CRD says. */
static int load_store(const struct kfs_node *doc, const char *name, struct state_store *st,
		      struct kfs_error *err)
{
	const char *sname = kfs_node_text_at(doc, "metadata.name");
	const char *spath = kfs_node_text_at(doc, "spec.path");
	const char *branch = kfs_node_text_at(doc, "spec.branch");
	const struct kfs_node *author = kfs_node_at(doc, "spec.gitAuthor");
	if (!sname || !*sname)
		return kfs_error_set(err, -EINVAL, "%s:%d: metadata.name is missing", name,
				     doc->line);
	*st = (struct state_store){sname, spath ? spath : "", branch && *branch ? branch : "main",
				   "kratix", "", doc->line};
	if (!author || author->type == KFS_NULL)
		return 0;
	const char *an = kfs_node_text_at(author, "name");
	const char *ae = kfs_node_text_at(author, "email");
	if (!an || !*an)
		return kfs_error_set(err, -EINVAL,
				     "%s:%d: GitStateStore %s: spec.gitAuthor.name is empty: git "
				     "refuses a commit without an author name",
				     name, author->line, sname);
	if (!ident_ok(an) || (ae && !ident_ok(ae)))
		return kfs_error_set(err, -EINVAL,
				     "%s:%d: GitStateStore %s: spec.gitAuthor's name and email "
				     "must not hold <, > or a line break",
				     name, author->line, sname);
	st->author_name = an;
	st->author_email = ae ? ae : "";
	return 0;
}

static int cmp_dest(const void *a, const void *b)
{
	return strcmp(((const struct kfs_destination *)a)->name,
		      ((const struct kfs_destination *)b)->name);
}

/* The stream's documents, a List's items (kubectl get -o yaml) in its place. */
static const struct kfs_node **flatten(struct kfs_node **docs, size_t n, size_t *nout)
{
	size_t cap = n ? n : 1, k = 0;
	const struct kfs_node **out = kfs_xcalloc(cap, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		const char *kind = kfs_node_text_at(docs[i], "kind");
		const struct kfs_node *items = kfs_node_at(docs[i], "items");
		bool list = kind && strcmp(kind, "List") == 0 && items && items->type == KFS_SEQ;
		size_t add = list ? items->len : 1;
		if (k + add > cap) {
			cap = (k + add) * 2;
			out = kfs_xrealloc(out, cap * sizeof(*out));
		}
		for (size_t j = 0; j < add; j++)
			out[k++] = list ? items->items[j] : docs[i];
	}
	*nout = k;
	return out;
}

static bool kind_is(const struct kfs_node *doc, const char *kind)
{
	const char *k = kfs_node_text_at(doc, "kind");
	return k && strcmp(k, kind) == 0;
}

int kfs_destinations_parse(const char *buf, size_t len, const char *name,
			   struct kfs_destinations *out, struct kfs_error *err)
{
	struct kfs_node **stream = NULL;
	size_t nstream = 0, n = 0, nstores = 0;

	out->items = NULL;
	out->n = 0;
	int rc = kfs_doc_parse_stream(buf, len, name, &stream, &nstream, err);
	if (rc)
		return rc;
	const struct kfs_node **docs = flatten(stream, nstream, &n);
	struct state_store *stores = kfs_xcalloc(n ? n : 1, sizeof(*stores));
	size_t ndests = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *kind = kfs_node_text_at(docs[i], "kind");
		if (kind_is(docs[i], "Destination")) {
			ndests++;
		} else if (kind_is(docs[i], "GitStateStore")) {
			rc = load_store(docs[i], name, &stores[nstores++], err);
		} else if (!kind_is(docs[i], "BucketStateStore")) {
			rc = kfs_error_set(err, -EINVAL,
					   "%s:%d: kind must be Destination, GitStateStore or "
					   "BucketStateStore, not %s",
					   name, docs[i]->line, kind ? kind : "(missing)");
		}
	}
	if (rc == 0 && ndests == 0)
		rc = kfs_error_set(err, -EINVAL, "%s: holds no Destination document", name);
	if (rc == 0)
		out->items = kfs_xcalloc(ndests, sizeof(*out->items));
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (!kind_is(docs[i], "Destination"))
			continue;
		struct kfs_destination *d = &out->items[out->n++];
		rc = load_one(docs[i], name, stores, nstores, d, err);
		for (size_t j = 0; rc == 0 && j + 1 < out->n; j++)
			if (strcmp(out->items[j].name, d->name) == 0)
				rc = kfs_error_set(err, -EINVAL,
						   "%s:%d: destination %s is defined twice", name,
						   docs[i]->line, d->name);
	}
	free(stores);
	free(docs);
	kfs_doc_free_stream(stream, nstream);
	if (rc) {
		kfs_destinations_free(out);
		return rc;
	}
	qsort(out->items, out->n, sizeof(*out->items), cmp_dest);
	return 0;
}

int kfs_destinations_load(const char *file, struct kfs_destinations *out, struct kfs_error *err)
{
	if (!file) {
		out->items = kfs_xcalloc(1, sizeof(*out->items));
		out->n = 1;
		out->items[0].name = kfs_xstrdup("default");
		out->items[0].path = kfs_xstrdup("default");
		out->items[0].spec_path = kfs_xstrdup("default");
		out->items[0].store_path = kfs_xstrdup("");
		out->items[0].author_name = kfs_xstrdup("kratix");
		out->items[0].author_email = kfs_xstrdup("");
		out->items[0].init_workloads = true;
		out->items[0].filename = kfs_xstrdup("aggregated.yaml");
		out->items[0].any = true;
		return 0;
	}
	struct kfs_buf b = {0};
	int rc = kfs_read_file(file, &b, err);
	if (rc == 0)
		rc = kfs_destinations_parse(b.data, b.len, file, out, err);
	kfs_buf_free(&b);
	return rc;
}

int kfs_destinations_check_branch(const struct kfs_destinations *d, const char *branch,
				  const char *file, struct kfs_error *err)
{
	const char *ours = branch && *branch ? branch : "main";
	for (size_t i = 0; i < d->n; i++)
		if (d->items[i].store_branch && strcmp(d->items[i].store_branch, ours) != 0)
			return kfs_error_set(err, -EINVAL,
					     "%s: destination %s is on GitStateStore %s, which "
					     "writes branch %s, but kratixfs writes %s (-o "
					     "git_branch): make them the same",
					     file, d->items[i].name, d->items[i].store,
					     d->items[i].store_branch, ours);
	return 0;
}

/* ---- selectors -------------------------------------------------------------------------- */

/* A label set being merged: later sets override earlier keys, as Go maps do. */
struct labelset {
	struct kfs_label *items; /* borrowed strings */
	size_t n, cap;
};

static void ls_set(struct labelset *ls, char *key, char *value)
{
	for (size_t i = 0; i < ls->n; i++)
		if (strcmp(ls->items[i].key, key) == 0) {
			ls->items[i].value = value;
			return;
		}
	if (ls->n == ls->cap) {
		ls->cap = ls->cap ? ls->cap * 2 : 8;
		ls->items = kfs_xrealloc(ls->items, ls->cap * sizeof(*ls->items));
	}
	ls->items[ls->n].key = key;
	ls->items[ls->n++].value = value;
}

static void ls_add_map(struct labelset *ls, const struct kfs_node *m)
{
	if (!m || m->type != KFS_MAP)
		return;
	for (size_t i = 0; i < m->len; i++)
		ls_set(ls, m->pairs[i].key, m->pairs[i].value->text);
}

/* Promise selectors: the first entry wins (Kratix's SquashPromiseScheduling). */
static void ls_add_promise(struct labelset *ls, const struct kfs_node *seq)
{
	if (!seq || seq->type != KFS_SEQ)
		return;
	for (size_t i = seq->len; i-- > 0;)
		ls_add_map(ls, kfs_map_get(seq->items[i], "matchLabels"));
}

static bool dest_matches(const struct kfs_destination *d, const struct labelset *ls)
{
	/* Kratix never routes a normal work to a dry-run destination (scheduler.go). */
	if (d->dry_run)
		return false;
	if (d->any)
		return true;
	/* A strict destination with labels takes only works that select something. */
	if (ls->n == 0)
		return !(d->strict && d->nlabels > 0);
	for (size_t i = 0; i < ls->n; i++) {
		bool found = false;
		for (size_t j = 0; j < d->nlabels && !found; j++)
			found = strcmp(d->labels[j].key, ls->items[i].key) == 0 &&
				strcmp(d->labels[j].value, ls->items[i].value) == 0;
		if (!found)
			return false;
	}
	return true;
}

static void describe_labels(struct kfs_buf *b, const struct labelset *ls)
{
	if (ls->n == 0) {
		kfs_buf_adds(b, "no destination takes works without labels (every destination with "
				"labels sets strictMatchLabels)");
		return;
	}
	kfs_buf_adds(b, "no destination has labels ");
	for (size_t i = 0; i < ls->n; i++)
		kfs_buf_printf(b, "%s%s=%s", i ? ", " : "", ls->items[i].key, ls->items[i].value);
}

/* One validated entry of destination-selectors.yaml. */
struct wsel {
	char *directory; /* cleaned; "." for the root */
	const struct kfs_node *labels;
};

static int parse_selectors(const struct kfs_node *seq, struct wsel **out, size_t *n,
			   struct kfs_error *err)
{
	*out = NULL;
	*n = 0;
	if (!seq || seq->type == KFS_NULL)
		return 0;
	if (seq->type != KFS_SEQ)
		return kfs_error_set(err, -EINVAL,
				     "destination-selectors.yaml:%d: must be a list of "
				     "{matchLabels, directory}",
				     seq->line);
	*out = kfs_xcalloc(seq->len ? seq->len : 1, sizeof(**out));
	int rc = 0;
	for (size_t i = 0; i < seq->len && rc == 0; i++) {
		const struct kfs_node *e = seq->items[i];
		const struct kfs_node *ml = kfs_map_get(e, "matchLabels");
		const char *dir = e->type == KFS_MAP ? kfs_node_text_at(e, "directory") : NULL;
		char *c = clean_path(dir ? dir : "");
		if (!*c) {
			free(c);
			c = kfs_xstrdup(".");
		}
		(*out)[i].directory = c;
		(*out)[i].labels = ml;
		(*n)++;
		if (!ml || ml->type != KFS_MAP || ml->len == 0)
			rc = kfs_error_set(
			    err, -EINVAL,
			    "destination-selectors.yaml:%d: entry with index %zu has no "
			    "matchLabels",
			    e->line, i);
		else if (strchr(c, '/') || strcmp(c, "..") == 0)
			rc = kfs_error_set(
			    err, -EINVAL,
			    "destination-selectors.yaml:%d: directory %s: sub-directories "
			    "are not allowed",
			    e->line, c);
		for (size_t j = 0; rc == 0 && j < i; j++)
			if (strcmp((*out)[j].directory, c) == 0)
				rc = kfs_error_set(err, -EINVAL,
						   "destination-selectors.yaml:%d: directory %s is "
						   "listed twice",
						   e->line, c);
	}
	return rc;
}

static void free_selectors(struct wsel *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(s[i].directory);
	free(s);
}

void kfs_schedule_free(struct kfs_schedule *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->items[i].pipeline);
		free(s->items[i].directory);
		free(s->items[i].outputs);
	}
	free(s->items);
	free(s->unscheduled);
	memset(s, 0, sizeof(*s));
}

static bool in_directory(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(path, dir, n) == 0 && path[n] == '/';
}

/* Places one workload group: every matching destination for the promise workflow, the first
 * (by name) for a request. Kratix picks a random one and keeps it; kratixfs picks the first so
 * that the same input always gives the same repository. */
static void place_group(const struct kfs_destinations *d, const struct kfs_sched_input *in,
			const struct labelset *ls, const char *pipeline, const char *directory,
			const size_t *outs, size_t nouts, struct kfs_schedule *s,
			struct kfs_buf *unscheduled)
{
	bool any = false;

	for (size_t i = 0; i < d->n; i++) {
		if (!dest_matches(&d->items[i], ls))
			continue;
		any = true;
		s->items = kfs_xrealloc(s->items, (s->n + 1) * sizeof(*s->items));
		struct kfs_placement *p = &s->items[s->n++];
		p->dest = i;
		p->pipeline = kfs_xstrdup(pipeline);
		p->directory = kfs_xstrdup(directory);
		p->outputs = kfs_xmalloc((nouts ? nouts : 1) * sizeof(*p->outputs));
		memcpy(p->outputs, outs, nouts * sizeof(*outs));
		p->noutputs = nouts;
		if (in->type == KFS_WF_RESOURCE)
			break;
	}
	if (any)
		return;
	if (unscheduled->len)
		kfs_buf_adds(unscheduled, "; ");
	size_t mark = unscheduled->len;
	describe_labels(unscheduled, ls);
	if (strcmp(directory, ".") != 0)
		kfs_buf_printf(unscheduled, " (output folder %s)", directory);
	/* The same message for several pipelines says nothing new. */
	const char *msg = unscheduled->data + mark;
	const char *prev = strstr(unscheduled->data, msg);
	if (prev && prev != msg) {
		unscheduled->len = mark >= 2 ? mark - 2 : mark;
		unscheduled->data[unscheduled->len] = '\0';
	}
}

/* The selectors that schedule pipeline's outputs: its own file when the render gave each
 * pipeline's, else the render's. */
static const struct kfs_node *selectors_of(const struct kfs_sched_input *in, const char *pipeline)
{
	for (size_t i = 0; i < in->nrpipelines; i++)
		if (in->rpipelines[i].name && strcmp(in->rpipelines[i].name, pipeline) == 0)
			return in->rpipelines[i].selectors;
	return in->selectors;
}

/* Places the outputs of one pipeline (the first is outputs[p]) by its selectors, marking them
 * done. */
static int schedule_pipeline(const struct kfs_destinations *d, const struct kfs_sched_input *in,
			     size_t p, bool *done, size_t *outs, struct kfs_schedule *out,
			     struct kfs_buf *unscheduled, struct kfs_error *err)
{
	const char *pipeline = in->outputs[p].pipeline ? in->outputs[p].pipeline : "";
	struct wsel *sel;
	size_t nsel;
	int rc = parse_selectors(selectors_of(in, pipeline), &sel, &nsel, err);
	if (rc) {
		free_selectors(sel, nsel);
		return rc;
	}
	/* The root group's labels: the workflow's own lowest, then the promise's (Kratix's
	 * sortWorkloadGroupDestinationsByLowestPriority). Kratix stopped handing a promise
	 * workflow's selectors to its resources (commit 0f802ff3, "don't pass along dynamic
	 * scheduling from promise to resource"): a resource work carries its own and the
	 * promise's spec.destinationSelectors only. */
	struct labelset root = {0};
	for (size_t i = 0; i < nsel; i++)
		if (strcmp(sel[i].directory, ".") == 0)
			ls_add_map(&root, sel[i].labels);
	ls_add_promise(&root, in->promise_selectors);
	for (size_t k = 0; k < nsel; k++) {
		if (strcmp(sel[k].directory, ".") == 0)
			continue;
		size_t n = 0;
		for (size_t i = p; i < in->noutputs; i++) {
			const char *pi = in->outputs[i].pipeline ? in->outputs[i].pipeline : "";
			if (!done[i] && strcmp(pi, pipeline) == 0 &&
			    in_directory(in->outputs[i].path, sel[k].directory)) {
				outs[n++] = i;
				done[i] = true;
			}
		}
		if (n == 0)
			continue;
		/* A directory entry is scheduled by its own labels only. */
		struct labelset ls = {0};
		ls_add_map(&ls, sel[k].labels);
		place_group(d, in, &ls, pipeline, sel[k].directory, outs, n, out, unscheduled);
		free(ls.items);
	}
	size_t n = 0;
	for (size_t i = p; i < in->noutputs; i++) {
		const char *pi = in->outputs[i].pipeline ? in->outputs[i].pipeline : "";
		if (!done[i] && strcmp(pi, pipeline) == 0) {
			outs[n++] = i;
			done[i] = true;
		}
	}
	if (n)
		place_group(d, in, &root, pipeline, ".", outs, n, out, unscheduled);
	free(root.items);
	free_selectors(sel, nsel);
	return 0;
}

int kfs_schedule(const struct kfs_destinations *d, const struct kfs_sched_input *in,
		 struct kfs_schedule *out, struct kfs_error *err)
{
	struct kfs_buf unscheduled = {0};
	memset(out, 0, sizeof(*out));
	/* Every list is checked, even one of a pipeline without outputs: each pipeline's own when
	 * the render gave them (two pipelines may each list a directory once), else the render's. */
	struct wsel *sel;
	size_t nsel;
	int rc = 0;
	size_t nlists = in->nrpipelines ? in->nrpipelines : 1;
	for (size_t i = 0; i < nlists && rc == 0; i++) {
		rc = parse_selectors(in->nrpipelines ? in->rpipelines[i].selectors : in->selectors,
				     &sel, &nsel, err);
		free_selectors(sel, nsel);
	}
	size_t *outs = kfs_xmalloc((in->noutputs ? in->noutputs : 1) * sizeof(*outs));
	bool *done = kfs_xcalloc(in->noutputs ? in->noutputs : 1, sizeof(*done));
	/* Kratix makes one Work per pipeline: group the outputs by pipeline, in order seen. */
	for (size_t p = 0; p < in->noutputs && rc == 0; p++)
		if (!done[p])
			rc = schedule_pipeline(d, in, p, done, outs, out, &unscheduled, err);
	free(outs);
	free(done);
	if (rc) {
		kfs_buf_free(&unscheduled);
		kfs_schedule_free(out);
		return rc;
	}
	out->unscheduled = unscheduled.len ? kfs_buf_steal(&unscheduled) : NULL;
	kfs_buf_free(&unscheduled);
	return 0;
}
