/* Private to render*.c: one pipeline's /kratix while its containers run, and the steps that
 * render.c strings together. */
#ifndef KRATIXFS_RENDER_INTERNAL_H
#define KRATIXFS_RENDER_INTERNAL_H

#include "kratixfs/render.h"
#include "kratixfs/template.h"

/* A pipeline's output/ and metadata/ as its containers share them, in order. Each pipeline
 * starts with both empty, as a Kratix pipeline pod's volumes do. */
struct rpipe {
	const struct kfs_pipeline *pl;
	struct kfs_output *outs; /* output/: unique paths, each with pipeline set */
	size_t n, cap;
	struct kfs_node *status;    /* metadata/status.yaml, or NULL when absent */
	struct kfs_node *selectors; /* metadata/destination-selectors.yaml, or NULL */
	struct kfs_node *control;   /* metadata/workflow-control.yaml, or NULL */
};

void rpipe_free(struct rpipe *rp);

/* True when path names a YAML file (.yaml, .yml): those must parse. */
bool render_is_yaml_path(const char *path);

/* Puts one file into the pipeline's output/, taking data's bytes (a later container replaces
 * a file an earlier one wrote). */
void rpipe_put(struct rpipe *rp, const char *path, struct kfs_buf *data);

/* Runs a template container: its files into rp->outs, its status fragment merged into
 * rp->status, its selectors replacing rp->selectors, its workflow-control replacing
 * rp->control. -EIO with err naming the template on failure. */
int render_template_container(const struct kfs_container *c, struct rpipe *rp,
			      struct kfs_tcontext *ctx, struct kfs_error *err);

/* True when the container runs through struct kfs_exec: a folder run as a program (c->exec),
 * or an image with no folder (c->dir NULL). */
bool render_is_exec_container(const struct kfs_container *c);

/* Runs an image or script container through in->exec on the pipeline's state: its reply's
 * files replace rp->outs, its metadata files replace rp's. The container's log is appended to
 * log. -EIO (or -EINVAL: no runner, an image that is not there) with err naming it. */
int render_exec_container(const struct kfs_render_input *in, const struct kfs_container *c,
			  struct rpipe *rp, const struct kfs_node *object, struct kfs_buf *log,
			  struct kfs_error *err);

/* Parses a workflow-control.yaml document (Kratix's WorkflowControl: suspend, message,
 * retryAfter as a Go duration) into out (message and pipeline owned). source names the file
 * in messages. -EIO when a field has the wrong type or retryAfter is not a duration. */
int render_parse_control(const struct kfs_node *doc, const char *source,
			 struct kfs_workflow_control *out, struct kfs_error *err);

/* Checks a destination-selectors.yaml document as Kratix's ParseDestinationSelectors does: a
 * list of {matchLabels: map of strings, directory?}, each with labels, directories top-level
 * and unique. -EIO naming source and the entry. */
int render_check_selectors(const struct kfs_node *doc, const char *source, struct kfs_error *err);

/* Parses YAML text a container left in metadata/ into *out (NULL when empty). -EIO naming
 * label when it is not YAML or holds more than one document. */
int render_parse_meta_text(const char *text, size_t len, const char *label, struct kfs_node **out,
			   struct kfs_error *err);

#endif
