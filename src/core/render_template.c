/* A template container: its templates/output/ rendered into the pipeline's output/, its
 * templates/metadata/ files into the pipeline's metadata/. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/status.h"
#include "render_internal.h"

bool render_is_yaml_path(const char *path)
{
	size_t n = strlen(path);
	return (n > 5 && strcmp(path + n - 5, ".yaml") == 0) ||
	       (n > 4 && strcmp(path + n - 4, ".yml") == 0);
}

void rpipe_put(struct rpipe *rp, const char *path, struct kfs_buf *data)
{
	for (size_t i = 0; i < rp->n; i++) {
		struct kfs_output *o = &rp->outs[i];
		if (strcmp(o->path, path) == 0) {
			free(o->data);
			o->len = data->len;
			o->data = kfs_buf_steal(data);
			return;
		}
	}
	if (rp->n == rp->cap) {
		rp->cap = rp->cap ? rp->cap * 2 : 8;
		rp->outs = kfs_xrealloc(rp->outs, rp->cap * sizeof(*rp->outs));
	}
	struct kfs_output *o = &rp->outs[rp->n++];
	o->pipeline = kfs_xstrdup(rp->pl->name);
	o->path = kfs_xstrdup(path);
	o->len = data->len;
	o->data = kfs_buf_steal(data);
}

int render_parse_meta_text(const char *text, size_t len, const char *label, struct kfs_node **out,
			   struct kfs_error *err)
{
	struct kfs_node **docs;
	size_t n;
	*out = NULL;
	if (kfs_doc_parse_stream(text ? text : "", len, label, &docs, &n, err) < 0)
		return -EIO;
	if (n > 1) {
		kfs_doc_free_stream(docs, n);
		return kfs_error_set(err, -EIO, "%s: holds %zu YAML documents; write one", label, n);
	}
	*out = n ? docs[0] : NULL;
	free(docs);
	return 0;
}

/* Renders a metadata template (dir/templates/metadata/<file>) and parses it. The label for
 * messages is built only on the error path: this runs for every render. */
static int render_metadata(const struct kfs_template *t, const struct kfs_tcontext *ctx,
			   const char *dir, const char *file, struct kfs_node **out,
			   struct kfs_error *err)
{
	struct kfs_buf text = {0};
	*out = NULL;
	int rc = kfs_template_render(t, ctx, &text, err);
	if (rc == 0 && render_parse_meta_text(text.data, text.len, file, out, NULL) < 0) {
		struct kfs_buf label = {0};
		kfs_buf_printf(&label, "%s/templates/metadata/%s", dir, file);
		rc = render_parse_meta_text(text.data, text.len, label.data, out, err);
		kfs_buf_free(&label);
	}
	kfs_buf_free(&text);
	return rc;
}

/* One file of a split template (kfs_template_split). */
static int put_split(void *arg, const char *path, struct kfs_buf *data)
{
	rpipe_put(arg, path, data);
	return 0;
}

static int render_outputs(const struct kfs_container *c, struct rpipe *rp,
			  const struct kfs_tcontext *ctx, struct kfs_error *err)
{
	struct kfs_buf data = {0};
	int rc = 0;
	for (size_t i = 0; i < c->noutputs && rc == 0; i++) {
		const struct kfs_template_file *tf = &c->outputs[i];
		kfs_buf_reset(&data);
		rc = kfs_template_render(tf->tmpl, ctx, &data, err);
		if (rc == 0 && kfs_template_splits(tf->tmpl)) {
			rc = kfs_template_split(tf->path, data.data, data.len, put_split, rp, err);
			continue;
		}
		if (rc == 0 && render_is_yaml_path(tf->path) &&
		    kfs_doc_check(data.data ? data.data : "", data.len, tf->path, NULL) < 0) {
			struct kfs_buf label = {0};
			kfs_buf_printf(&label, "output/%s (from %s/templates/output/%s)", tf->path,
				       c->dir, tf->path);
			kfs_doc_check(data.data, data.len, label.data, err);
			kfs_buf_free(&label);
			rc = -EIO;
		}
		if (rc == 0 && !kfs_template_blank(data.data, data.len))
			rpipe_put(rp, tf->path, &data);
	}
	kfs_buf_free(&data);
	return rc;
}

/* The container's status fragment merges into the pipeline's status.yaml: a template
 * container writes only the keys it names. */
static int render_status(const struct kfs_container *c, struct rpipe *rp,
			 const struct kfs_tcontext *ctx, struct kfs_error *err)
{
	struct kfs_node *fragment;
	int rc = render_metadata(c->status, ctx, c->dir, "status.yaml", &fragment, err);
	if (rc == 0 && fragment) {
		if (!rp->status)
			rp->status = kfs_node_new(KFS_MAP);
		if (kfs_status_merge(rp->status, fragment, "status.yaml", err) < 0) {
			kfs_error_prefix(err, "%s/templates/metadata", c->dir);
			rc = -EIO;
		}
	}
	kfs_node_free(fragment);
	return rc;
}

static int render_selectors(const struct kfs_container *c, struct rpipe *rp,
			    const struct kfs_tcontext *ctx, struct kfs_error *err)
{
	struct kfs_node *sel;
	int rc = render_metadata(c->selectors, ctx, c->dir, "destination-selectors.yaml", &sel,
				 err);
	if (rc == 0 && sel && sel->type != KFS_SEQ)
		rc = kfs_error_set(err, -EIO,
				   "%s/templates/metadata/destination-selectors.yaml: must be a list "
				   "of {matchLabels, directory} entries",
				   c->dir);
	/* The file a container writes on the pipeline's shared metadata/ replaces the one an
	 * earlier container left: entries are not appended (a directory twice would be refused). */
	if (rc == 0 && sel) {
		kfs_node_free(rp->selectors);
		rp->selectors = sel;
		sel = NULL;
	}
	kfs_node_free(sel);
	return rc;
}

int render_template_container(const struct kfs_container *c, struct rpipe *rp,
			      struct kfs_tcontext *ctx, struct kfs_error *err)
{
	struct kfs_node *values = NULL;
	int rc = 0;
	if (c->values && (rc = kfs_values_eval(c->values, ctx, &values, err)) < 0)
		return rc;
	ctx->values = values;
	rc = render_outputs(c, rp, ctx, err);
	if (rc == 0 && c->status)
		rc = render_status(c, rp, ctx, err);
	if (rc == 0 && c->selectors)
		rc = render_selectors(c, rp, ctx, err);
	if (rc == 0 && c->control) {
		struct kfs_node *control;
		rc = render_metadata(c->control, ctx, c->dir, "workflow-control.yaml", &control,
				     err);
		/* The file is the container's to write whole: it replaces an earlier one. */
		if (rc == 0 && control) {
			kfs_node_free(rp->control);
			rp->control = control;
		}
	}
	ctx->values = NULL;
	kfs_node_free(values);
	return rc;
}
