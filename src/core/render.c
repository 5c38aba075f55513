/* render(): runs one workflow of one promise over one input document, in memory. */
#include "kratixfs/render.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/status.h"


static bool is_yaml_path(const char *path)
{
	size_t n = strlen(path);
	return (n > 5 && strcmp(path + n - 5, ".yaml") == 0) ||
	       (n > 4 && strcmp(path + n - 4, ".yml") == 0);
}

static int cmp_output(const void *a, const void *b)
{
	return strcmp(((const struct kfs_output *)a)->path, ((const struct kfs_output *)b)->path);
}

/* Stores one rendered file. Containers of one pipeline share its output folder, so a later
 * container may replace a file; two pipelines writing the same path would shadow each other in
 * output/, so that is an error. */
static int put_output(struct kfs_render_result *r, size_t *cap, const char *pipeline,
		      const char *path, struct kfs_buf *data, struct kfs_error *err)
{
	for (size_t i = 0; i < r->noutputs; i++) {
		struct kfs_output *o = &r->outputs[i];
		if (strcmp(o->path, path) != 0)
			continue;
		if (strcmp(o->pipeline, pipeline) != 0)
			return kfs_error_set(err, -EIO,
					     "output/%s is written by pipelines %s and %s: rename "
					     "one of the files",
					     path, o->pipeline, pipeline);
		free(o->data);
		o->len = data->len;
		o->data = kfs_buf_steal(data);
		return 0;
	}
	if (r->noutputs == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		r->outputs = kfs_xrealloc(r->outputs, *cap * sizeof(*r->outputs));
	}
	struct kfs_output *o = &r->outputs[r->noutputs++];
	o->pipeline = kfs_xstrdup(pipeline);
	o->path = kfs_xstrdup(path);
	o->len = data->len;
	o->data = kfs_buf_steal(data);
	return 0;
}

/* Renders a metadata template (dir/templates/metadata/<file>) and parses it. Labels for
 * messages are built only on the error path: this runs for every render. */
static int render_metadata(const struct kfs_template *t, const struct kfs_tcontext *ctx,
			   const char *dir, const char *file, struct kfs_node **out,
			   struct kfs_error *err)
{
	struct kfs_buf text = {0};
	*out = NULL;
	int rc = kfs_template_render(t, ctx, &text, err);
	if (rc < 0) {
		kfs_buf_free(&text);
		return rc;
	}
	struct kfs_node **docs;
	size_t n;
	if (kfs_doc_parse_stream(text.data ? text.data : "", text.len, file, &docs, &n, NULL) < 0) {
		struct kfs_buf label = {0};
		kfs_buf_printf(&label, "%s/templates/metadata/%s", dir, file);
		kfs_doc_parse_stream(text.data, text.len, label.data, &docs, &n, err);
		kfs_buf_free(&label);
		rc = -EIO;
	} else if (n > 1) {
		rc = kfs_error_set(err, -EIO,
				   "%s/templates/metadata/%s: renders %zu YAML documents; write one",
				   dir, file, n);
		kfs_doc_free_stream(docs, n);
	} else {
		*out = n ? docs[0] : NULL;
		free(docs);
	}
	kfs_buf_free(&text);
	return rc;
}

struct split_put {
	struct kfs_render_result *r;
	size_t *cap;
	const char *pipeline;
	struct kfs_error *err;
};

/* One file of a split template (kfs_template_split). */
static int put_split(void *arg, const char *path, struct kfs_buf *data)
{
	struct split_put *sp = arg;
	return put_output(sp->r, sp->cap, sp->pipeline, path, data, sp->err);
}

static int run_container(const struct kfs_container *c, const struct kfs_pipeline *pl,
			 struct kfs_tcontext *ctx, struct kfs_render_result *r, size_t *cap,
			 struct kfs_error *err)
{
	if (c->exec)
		return kfs_error_set(err, -EIO,
				     "%s: exec mode (%s) is not supported by this version of "
				     "kratixfs; use templates/ instead",
				     c->dir, c->exec);
	struct kfs_node *values = NULL;
	int rc = 0;
	if (c->values && (rc = kfs_values_eval(c->values, ctx, &values, err)) < 0)
		return rc;
	ctx->values = values;
	struct kfs_buf data = {0};
	for (size_t i = 0; i < c->noutputs && rc == 0; i++) {
		const struct kfs_template_file *tf = &c->outputs[i];
		kfs_buf_reset(&data);
		rc = kfs_template_render(tf->tmpl, ctx, &data, err);
		if (rc == 0 && kfs_template_splits(tf->tmpl)) {
			struct split_put sp = {r, cap, pl->name, err};
			rc = kfs_template_split(tf->path, data.data, data.len, put_split, &sp, err);
			continue;
		}
		if (rc == 0 && is_yaml_path(tf->path) &&
		    kfs_doc_check(data.data ? data.data : "", data.len, tf->path, NULL) < 0) {
			struct kfs_buf label = {0};
			kfs_buf_printf(&label, "output/%s (from %s/templates/output/%s)", tf->path,
				       c->dir, tf->path);
			kfs_doc_check(data.data, data.len, label.data, err);
			kfs_buf_free(&label);
			rc = -EIO;
		}
		if (rc == 0 && !kfs_template_blank(data.data, data.len))
			rc = put_output(r, cap, pl->name, tf->path, &data, err);
	}
	kfs_buf_free(&data);
	if (rc == 0 && c->status) {
		struct kfs_node *fragment;
		rc = render_metadata(c->status, ctx, c->dir, "status.yaml", &fragment, err);
		if (rc == 0 && fragment) {
			if (!r->status)
				r->status = kfs_node_new(KFS_MAP);
			if (kfs_status_merge(r->status, fragment, "status.yaml", err) < 0) {
				kfs_error_prefix(err, "%s/templates/metadata", c->dir);
				rc = -EIO;
			}
		}
		kfs_node_free(fragment);
	}
	if (rc == 0 && c->selectors) {
		struct kfs_node *sel;
		rc = render_metadata(c->selectors, ctx, c->dir, "destination-selectors.yaml", &sel,
				     err);
		if (rc == 0 && sel && sel->type != KFS_SEQ)
			rc = kfs_error_set(err, -EIO,
					   "%s/templates/metadata/destination-selectors.yaml: must be "
					   "a list of {matchLabels, directory} entries",
					   c->dir);
		if (rc == 0 && sel) {
			if (!r->selectors)
				r->selectors = kfs_node_new(KFS_SEQ);
			for (size_t i = 0; i < sel->len; i++) {
				kfs_seq_append(r->selectors, sel->items[i]);
				sel->items[i] = NULL;
			}
			sel->len = 0;
		}
		kfs_node_free(sel);
	}
	ctx->values = NULL;
	kfs_node_free(values);
	return rc;
}

static int admit_input(const struct kfs_render_input *in, struct kfs_node *object,
		       struct kfs_buf *warnings, struct kfs_error *err)
{
	if (in->type == KFS_WF_RESOURCE && in->name && object->type == KFS_MAP) {
		struct kfs_node *meta = kfs_map_get(object, "metadata");
		if (!meta) {
			meta = kfs_node_new(KFS_MAP);
			kfs_map_set(object, "metadata", meta);
		}
		const char *name = kfs_node_text_at(meta, "name");
		if (meta->type == KFS_MAP && !name)
			kfs_map_set(meta, "name", kfs_node_new_str(in->name));
		else if (name && strcmp(name, in->name) != 0)
			return kfs_error_set(err, -EINVAL,
					     "metadata.name: \"%s\" differs from the folder name \"%s\"; "
					     "remove it or make them equal",
					     name, in->name);
	}
	if (in->type == KFS_WF_RESOURCE)
		return kfs_promise_admit(in->promise, object, warnings, err);
	const char *kind = kfs_node_text_at(object, "kind");
	const char *name = kfs_node_text_at(object, "metadata.name");
	if (!kind || strcmp(kind, "Promise") != 0)
		return kfs_error_set(err, -EINVAL,
				     "kind: the promise workflow takes the Promise document, not %s",
				     kind ? kind : "a document without kind");
	if (!name || strcmp(name, in->promise->name) != 0)
		return kfs_error_set(err, -EINVAL, "metadata.name: expected promise %s, got %s",
				     in->promise->name, name ? name : "none");
	return 0;
}

int kfs_render(const struct kfs_render_input *in, struct kfs_render_result *r,
	       struct kfs_error *err)
{
	memset(r, 0, sizeof(*r));
	r->control.retry_after = -1;
	int rc = 0;
	if (in->doc)
		r->object = in->doc;
	else if (kfs_doc_parse(in->data, in->len, "object.yaml", &r->object, err) < 0)
		return -EINVAL;
	if ((rc = admit_input(in, r->object, &r->warnings, err)) < 0)
		return rc;
	const struct kfs_workflow *wf = &in->promise->workflows[in->type][in->action];
	struct kfs_node *workflow = kfs_node_new(KFS_MAP);
	kfs_map_set(workflow, "type", kfs_node_new_str(kfs_wtype_names[in->type]));
	kfs_map_set(workflow, "action", kfs_node_new_str(kfs_waction_names[in->action]));
	struct kfs_tcontext ctx = {
		.root = r->object,
		.promise = in->promise->tcontext_promise,
		.workflow = workflow,
	};
	size_t cap = 0;
	bool ran = false;
	for (size_t i = 0; i < wf->npipelines && rc == 0; i++) {
		const struct kfs_pipeline *pl = &wf->pipelines[i];
		if (in->pipeline && strcmp(in->pipeline, pl->name) != 0)
			continue;
		ran = true;
		kfs_map_set(workflow, "pipeline", kfs_node_new_str(pl->name));
		for (size_t c = 0; c < pl->ncontainers && rc == 0; c++) {
			size_t before = r->noutputs;
			rc = run_container(&pl->containers[c], pl, &ctx, r, &cap, err);
			if (rc == 0)
				kfs_buf_printf(&r->log, "%s/%s: rendered %zu file(s)\n", pl->name,
					       pl->containers[c].name, r->noutputs - before);
		}
	}
	if (rc == 0 && in->pipeline && !ran)
		rc = kfs_error_set(err, -EIO, "pipeline %s is not in the %s %s workflow of promise %s",
				   in->pipeline, kfs_wtype_names[in->type], kfs_waction_names[in->action],
				   in->promise->name);
	if (rc < 0)
		kfs_buf_printf(&r->log, "error: %s\n", err ? err->msg : "render failed");
	kfs_node_free(workflow);
	if (r->noutputs > 1)
		qsort(r->outputs, r->noutputs, sizeof(*r->outputs), cmp_output);
	return rc;
}

void kfs_exec_reply_free(struct kfs_exec_reply *reply)
{
	for (size_t i = 0; i < reply->noutputs; i++) {
		free(reply->outputs[i].pipeline);
		free(reply->outputs[i].path);
		free(reply->outputs[i].data);
	}
	free(reply->outputs);
	free(reply->status);
	free(reply->selectors);
	free(reply->control);
	kfs_buf_free(&reply->log);
	memset(reply, 0, sizeof(*reply));
}

void kfs_render_result_free(struct kfs_render_result *r)
{
	kfs_node_free(r->object);
	for (size_t i = 0; i < r->noutputs; i++) {
		free(r->outputs[i].pipeline);
		free(r->outputs[i].path);
		free(r->outputs[i].data);
	}
	free(r->outputs);
	kfs_node_free(r->status);
	kfs_node_free(r->selectors);
	kfs_buf_free(&r->log);
	kfs_buf_free(&r->warnings);
	free(r->control.message);
	free(r->failed_pipeline);
	memset(r, 0, sizeof(*r));
}

const struct kfs_output *kfs_render_output(const struct kfs_render_result *r, const char *path)
{
	for (size_t i = 0; i < r->noutputs; i++)
		if (strcmp(r->outputs[i].path, path) == 0)
			return &r->outputs[i];
	return NULL;
}
