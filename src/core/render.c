/* render(): runs one workflow of one promise over one input document, in memory. */
#include "kratixfs/render.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/status.h"
#include "render_internal.h"

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
	/* A Promise's status is its own too; promise.yaml files exported from a cluster carry
	 * one, so it goes without a warning (as the API server drops it). */
	if (object->type == KFS_MAP)
		kfs_node_free(kfs_map_take(object, "status"));
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

void rpipe_free(struct rpipe *rp)
{
	for (size_t i = 0; i < rp->n; i++) {
		free(rp->outs[i].pipeline);
		free(rp->outs[i].path);
		free(rp->outs[i].data);
	}
	free(rp->outs);
	kfs_node_free(rp->status);
	kfs_node_free(rp->selectors);
	kfs_node_free(rp->control);
	memset(rp, 0, sizeof(*rp));
}

/* The object's status as pipelines see it: the input's .status is the object's, as Kratix's
 * reader writes input/object.yaml. */
static void set_object_status(struct kfs_node *object, const struct kfs_node *status)
{
	if (object->type != KFS_MAP)
		return;
	if (status)
		kfs_map_set(object, "status", kfs_node_copy(status));
	else
		kfs_node_free(kfs_map_take(object, "status"));
}

/* Kratix's update-status step at a pipeline's end: its status.yaml merges onto the object's
 * status (work-creator/cmd/update_status.go), which the next pipeline reads. */
static int merge_pipeline_status(const struct kfs_render_input *in, struct rpipe *rp,
				 struct kfs_render_result *r, struct kfs_error *err)
{
	if (!rp->status)
		return 0;
	struct kfs_buf label = {0};
	kfs_buf_printf(&label, "pipeline %s: metadata/status.yaml", rp->pl->name);
	bool fresh = !r->status;
	if (fresh)
		r->status = kfs_node_new(KFS_MAP);
	/* A refused file leaves r->status as it was (kfs_status_merge checks before it changes). */
	int rc = kfs_status_merge(r->status, rp->status, label.data, err);
	kfs_buf_free(&label);
	if (rc < 0) {
		if (fresh) {
			kfs_node_free(r->status);
			r->status = NULL;
		}
		return -EIO;
	}
	set_object_status(r->object, r->status);
	/* A Promise's status keeps only its message (update_status.go warns the same). */
	if (in->type == KFS_WF_PROMISE && rp->status->type == KFS_MAP) {
		for (size_t i = 0; i < rp->status->len; i++)
			if (strcmp(rp->status->pairs[i].key, "message") != 0)
				kfs_buf_printf(&r->log,
					       "%s: warning: promise workflow status has the key %s; "
					       "only 'message' can be updated in a Promise's status\n",
					       rp->pl->name, rp->status->pairs[i].key);
	}
	return 0;
}

/* Reads the pipeline's workflow-control.yaml into r->control (the last pipeline that wrote
 * one wins). */
static int take_control(struct rpipe *rp, struct kfs_render_result *r, struct kfs_error *err)
{
	if (!rp->control)
		return 0;
	struct kfs_workflow_control ctl;
	struct kfs_buf label = {0};
	kfs_buf_printf(&label, "pipeline %s: metadata/workflow-control.yaml", rp->pl->name);
	int rc = render_parse_control(rp->control, label.data, &ctl, err);
	kfs_buf_free(&label);
	if (rc < 0)
		return rc;
	free(r->control.message);
	free(r->control.pipeline);
	r->control = ctl;
	r->control.pipeline = kfs_xstrdup(rp->pl->name);
	return 0;
}

/* Moves the pipeline's files into the result, each keeping its pipeline: one Work per
 * pipeline. */
static void take_outputs(struct rpipe *rp, struct kfs_render_result *r, size_t *cap)
{
	if (rp->n == 0) /* a pipeline that wrote nothing: memcpy must not see NULL */
		return;
	if (r->noutputs + rp->n > *cap) {
		*cap = (r->noutputs + rp->n) * 2;
		r->outputs = kfs_xrealloc(r->outputs, *cap * sizeof(*r->outputs));
	}
	memcpy(r->outputs + r->noutputs, rp->outs, rp->n * sizeof(*rp->outs));
	r->noutputs += rp->n;
	rp->n = 0;
}

static void add_pipeline(struct rpipe *rp, struct kfs_render_result *r)
{
	r->pipelines = kfs_xrealloc(r->pipelines, (r->npipelines + 1) * sizeof(*r->pipelines));
	struct kfs_render_pipeline *p = &r->pipelines[r->npipelines++];
	p->name = kfs_xstrdup(rp->pl->name);
	p->work = !(r->control.stopped && r->control.pipeline &&
		    strcmp(r->control.pipeline, rp->pl->name) == 0);
	p->selectors = rp->selectors;
	rp->selectors = NULL;
	p->status = rp->status;
	rp->status = NULL;
	if (!p->selectors)
		return;
	if (!r->selectors)
		r->selectors = kfs_node_new(KFS_SEQ);
	for (size_t i = 0; i < p->selectors->len; i++)
		kfs_seq_append(r->selectors, kfs_node_copy(p->selectors->items[i]));
}

/* What Kratix does after a pipeline's containers: the work-creator checks its selectors and
 * control (and makes no Work when it suspends), update-status merges its status. */
static int finish_pipeline(const struct kfs_render_input *in, struct rpipe *rp,
			   struct kfs_render_result *r, size_t *cap, struct kfs_error *err)
{
	int rc = take_control(rp, r, err);
	if (rc == 0 && rp->selectors) {
		struct kfs_buf label = {0};
		kfs_buf_printf(&label, "pipeline %s: metadata/destination-selectors.yaml",
			       rp->pl->name);
		rc = render_check_selectors(rp->selectors, label.data, err);
		kfs_buf_free(&label);
	}
	if (rc == 0)
		rc = merge_pipeline_status(in, rp, r, err);
	if (rc < 0)
		return rc;
	add_pipeline(rp, r);
	if (r->pipelines[r->npipelines - 1].work) {
		take_outputs(rp, r, cap);
		return 0;
	}
	kfs_buf_printf(&r->log,
		       "%s: workflow-control.yaml %s: the workflow stops here; its %zu file(s) make "
		       "no Work\n",
		       rp->pl->name, r->control.suspend ? "suspends" : "asks for a retry", rp->n);
	return 0;
}

static int run_pipeline(const struct kfs_render_input *in, const struct kfs_pipeline *pl,
			struct kfs_tcontext *ctx, struct kfs_render_result *r, size_t *cap,
			struct kfs_error *err)
{
	struct rpipe rp = {.pl = pl};
	int rc = 0;
	for (size_t i = 0; i < pl->ncontainers && rc == 0; i++) {
		const struct kfs_container *c = &pl->containers[i];
		size_t before = rp.n;
		if (render_is_exec_container(c)) {
			rc = render_exec_container(in, c, &rp, r->object, &r->log, err);
			if (rc == 0)
				kfs_buf_printf(&r->log, "%s/%s: ran; output/ holds %zu file(s)\n",
					       pl->name, c->name, rp.n);
		} else {
			rc = render_template_container(c, &rp, ctx, err);
			if (rc == 0)
				kfs_buf_printf(&r->log, "%s/%s: rendered %zu file(s)\n", pl->name,
					       c->name, rp.n - before);
		}
	}
	if (rc == 0)
		rc = finish_pipeline(in, &rp, r, cap, err);
	if (rc < 0)
		r->failed_pipeline = kfs_xstrdup(pl->name);
	rpipe_free(&rp);
	return rc;
}

struct ordered {
	struct kfs_output o;
	size_t seq;
};

static int cmp_ordered(const void *a, const void *b)
{
	const struct ordered *x = a, *y = b;
	int c = strcmp(x->o.path, y->o.path);
	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Sorts by path, then workflow order (the order pipelines were added in). */
static void sort_outputs(struct kfs_render_result *r)
{
	if (r->noutputs < 2)
		return;
	struct ordered *v = kfs_xmalloc(r->noutputs * sizeof(*v));
	for (size_t i = 0; i < r->noutputs; i++)
		v[i] = (struct ordered){r->outputs[i], i};
	qsort(v, r->noutputs, sizeof(*v), cmp_ordered);
	for (size_t i = 0; i < r->noutputs; i++)
		r->outputs[i] = v[i].o;
	free(v);
}

/* Says which file output/ shows where pipelines wrote the same path (sorted outputs). */
static void log_shadowed(struct kfs_render_result *r)
{
	for (size_t i = 1; i < r->noutputs; i++) {
		const struct kfs_output *a = &r->outputs[i - 1], *b = &r->outputs[i];
		if (strcmp(a->path, b->path) == 0)
			kfs_buf_printf(&r->log,
				       "output/%s: written by pipelines %s and %s (one Work each); "
				       "output/ shows %s's\n",
				       b->path, a->pipeline, b->pipeline, b->pipeline);
	}
}

static int run_workflow(const struct kfs_render_input *in, struct kfs_render_result *r,
			struct kfs_error *err)
{
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
	int rc = 0;
	for (size_t i = 0; i < wf->npipelines && rc == 0 && !r->control.stopped; i++) {
		const struct kfs_pipeline *pl = &wf->pipelines[i];
		if (in->pipeline && strcmp(in->pipeline, pl->name) != 0)
			continue;
		ran = true;
		kfs_map_set(workflow, "pipeline", kfs_node_new_str(pl->name));
		rc = run_pipeline(in, pl, &ctx, r, &cap, err);
	}
	if (rc == 0 && in->pipeline && !ran)
		rc = kfs_error_set(err, -EIO, "pipeline %s is not in the %s %s workflow of promise %s",
				   in->pipeline, kfs_wtype_names[in->type], kfs_waction_names[in->action],
				   in->promise->name);
	kfs_node_free(workflow);
	return rc;
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
	if (in->status) {
		r->status = kfs_node_copy(in->status);
		set_object_status(r->object, r->status);
	}
	rc = run_workflow(in, r, err);
	sort_outputs(r);
	log_shadowed(r);
	if (rc < 0)
		kfs_buf_printf(&r->log, "error: %s\n", err ? err->msg : "render failed");
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
	for (size_t i = 0; i < r->npipelines; i++) {
		free(r->pipelines[i].name);
		kfs_node_free(r->pipelines[i].selectors);
		kfs_node_free(r->pipelines[i].status);
	}
	free(r->pipelines);
	free(r->control.message);
	free(r->control.pipeline);
	free(r->failed_pipeline);
	memset(r, 0, sizeof(*r));
}

const struct kfs_output *kfs_render_output(const struct kfs_render_result *r, const char *path)
{
	const struct kfs_output *found = NULL;
	for (size_t i = 0; i < r->noutputs; i++)
		if (strcmp(r->outputs[i].path, path) == 0)
			found = &r->outputs[i];
	return found;
}

void kfs_workflow_control_emit(const struct kfs_workflow_control *c, struct kfs_buf *out)
{
	struct kfs_node *doc = kfs_node_new(KFS_MAP);
	kfs_map_set(doc, "suspend", kfs_node_new_bool(c->suspend));
	if (c->retry_after >= 0) {
		char text[32];
		snprintf(text, sizeof(text), "%llds", c->retry_after);
		kfs_map_set(doc, "retryAfter", kfs_node_new_str(text));
	}
	if (c->message)
		kfs_map_set(doc, "message", kfs_node_new_str(c->message));
	kfs_doc_emit(doc, out);
	kfs_node_free(doc);
}
