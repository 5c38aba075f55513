/* An image or script container: the pipeline's /kratix handed to struct kfs_exec in memory,
 * and what it left there taken back, checked as template outputs are. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "render_internal.h"

/* The lines of a container's log kept in an error message. */
#define EXEC_ERR_LINES 10

bool render_is_exec_container(const struct kfs_container *c)
{
	if (c->exec)
		return true;
	return c->image && c->noutputs == 0 && !c->status && !c->selectors && !c->control &&
	       !c->values;
}

/* True when path stays inside output/: relative, no empty, "." or ".." component. */
static bool inside_output(const char *path)
{
	if (!*path || *path == '/')
		return false;
	for (const char *s = path;;) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		if (!e)
			return true;
		s = e + 1;
	}
}

static void emit_meta(const struct kfs_node *n, struct kfs_buf *text)
{
	if (n)
		kfs_doc_emit(n, text);
}

/* Appends the last EXEC_ERR_LINES lines of log to err, unless the runner's message already
 * ends with them. */
static void add_log_tail(struct kfs_error *err, const struct kfs_buf *log)
{
	if (!err || !log->len)
		return;
	size_t end = log->len, start = end, lines = 0;
	if (end && log->data[end - 1] == '\n')
		end--;
	start = end;
	while (start > 0 && lines < EXEC_ERR_LINES) {
		start--;
		if (log->data[start] == '\n' && ++lines == EXEC_ERR_LINES) {
			start++;
			break;
		}
	}
	size_t last = end;
	while (last > start && log->data[last - 1] != '\n')
		last--;
	struct kfs_buf tail = {0};
	kfs_buf_add(&tail, log->data + last, end - last);
	if (tail.len && strstr(err->msg, tail.data)) {
		kfs_buf_free(&tail);
		return;
	}
	kfs_buf_free(&tail);
	kfs_error_add(err, err->code ? err->code : -EIO, "its last output lines:\n%.*s",
		      (int)(end - start), log->data + start);
}

/* Checks every file of the reply before any replaces the pipeline's output/. */
static int check_reply_outputs(const struct kfs_container *c, const struct kfs_exec_reply *rep,
			       struct kfs_error *err)
{
	for (size_t i = 0; i < rep->noutputs; i++) {
		const struct kfs_output *o = &rep->outputs[i];
		if (!o->path || !inside_output(o->path))
			return kfs_error_set(err, -EIO,
					     "container %s wrote \"%s\": a file must stay inside "
					     "output/ (a relative path without . or .. parts)",
					     c->name, o->path ? o->path : "");
		if (render_is_yaml_path(o->path) &&
		    kfs_doc_check(o->data ? o->data : "", o->len, o->path, NULL) < 0) {
			struct kfs_buf label = {0};
			kfs_buf_printf(&label, "output/%s (from container %s)", o->path, c->name);
			kfs_doc_check(o->data ? o->data : "", o->len, label.data, err);
			kfs_buf_free(&label);
			return -EIO;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(rep->outputs[j].path, o->path) == 0)
				return kfs_error_set(err, -EIO,
						     "container %s: output/%s is returned twice",
						     c->name, o->path);
	}
	return 0;
}

/* The reply's metadata files, parsed, replace the pipeline's: a script may edit or delete
 * them. All are parsed before any is replaced. */
static int take_reply_meta(const struct kfs_container *c, struct kfs_exec_reply *rep,
			   struct rpipe *rp, struct kfs_error *err)
{
	const char *names[] = {"status.yaml", "destination-selectors.yaml",
			       "workflow-control.yaml"};
	const char *text[] = {rep->status, rep->selectors, rep->control};
	size_t len[] = {rep->status_len, rep->selectors_len, rep->control_len};
	struct kfs_node **dst[] = {&rp->status, &rp->selectors, &rp->control};
	struct kfs_node *parsed[3] = {NULL};
	int rc = 0;
	for (int i = 0; i < 3 && rc == 0; i++) {
		if (!text[i])
			continue;
		struct kfs_buf label = {0};
		kfs_buf_printf(&label, "metadata/%s (from container %s)", names[i], c->name);
		rc = render_parse_meta_text(text[i], len[i], label.data, &parsed[i], err);
		kfs_buf_free(&label);
	}
	for (int i = 0; i < 3; i++) {
		if (rc == 0) {
			kfs_node_free(*dst[i]);
			*dst[i] = parsed[i];
		} else {
			kfs_node_free(parsed[i]);
		}
	}
	return rc;
}

/* The reply's files become the pipeline's output/, whole: a file the container removed is
 * gone. */
static void take_reply_outputs(struct kfs_exec_reply *rep, struct rpipe *rp)
{
	for (size_t i = 0; i < rp->n; i++) {
		free(rp->outs[i].pipeline);
		free(rp->outs[i].path);
		free(rp->outs[i].data);
	}
	free(rp->outs);
	rp->outs = rep->outputs;
	rp->n = rp->cap = rep->noutputs;
	for (size_t i = 0; i < rp->n; i++) {
		free(rp->outs[i].pipeline);
		rp->outs[i].pipeline = kfs_xstrdup(rp->pl->name);
		if (!rp->outs[i].data)
			rp->outs[i].data = kfs_xstrdup("");
	}
	rep->outputs = NULL;
	rep->noutputs = 0;
}

static int no_runner(const struct kfs_container *c, struct kfs_error *err)
{
	if (c->exec)
		return kfs_error_set(err, -EINVAL,
				     "%s: container %s runs a script (%s): script and image "
				     "containers need the exec runner, which this caller does not have",
				     c->dir ? c->dir : c->name, c->name, c->exec);
	return kfs_error_set(err, -EINVAL,
			     "container %s runs the image %s: image and script containers need "
			     "the exec runner, which this caller does not have",
			     c->name, c->image);
}

int render_exec_container(const struct kfs_render_input *in, const struct kfs_container *c,
			  struct rpipe *rp, const struct kfs_node *object, struct kfs_buf *log,
			  struct kfs_error *err)
{
	if (!in->exec || !in->exec->run)
		return no_runner(c, err);
	struct kfs_buf meta[3] = {{0}};
	emit_meta(rp->status, &meta[0]);
	emit_meta(rp->selectors, &meta[1]);
	emit_meta(rp->control, &meta[2]);
	struct kfs_exec_call call = {
		.promise = in->promise,
		.pipeline = rp->pl,
		.container = c,
		.type = in->type,
		.action = in->action,
		.object = object,
		.outputs = rp->outs,
		.noutputs = rp->n,
		.status = rp->status ? meta[0].data : NULL,
		.status_len = meta[0].len,
		.selectors = rp->selectors ? meta[1].data : NULL,
		.selectors_len = meta[1].len,
		.control = rp->control ? meta[2].data : NULL,
		.control_len = meta[2].len,
	};
	struct kfs_exec_reply rep = {0};
	int rc = in->exec->run(in->exec->ctx, &call, &rep, err);
	if (rep.log.len)
		kfs_buf_add(log, rep.log.data, rep.log.len);
	if (rep.log.len && rep.log.data[rep.log.len - 1] != '\n')
		kfs_buf_addc(log, '\n');
	if (rc < 0) {
		if (!err || !err->code)
			kfs_error_set(err, rc, "container %s failed", c->name);
		add_log_tail(err, &rep.log);
	} else if ((rc = check_reply_outputs(c, &rep, err)) == 0 &&
		   (rc = take_reply_meta(c, &rep, rp, err)) == 0) {
		take_reply_outputs(&rep, rp);
	}
	kfs_exec_reply_free(&rep);
	for (int i = 0; i < 3; i++)
		kfs_buf_free(&meta[i]);
	return rc < 0 ? rc : 0;
}
