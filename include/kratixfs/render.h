/* render(): a pure function from (promise, workflow, input bytes) to output files, a status
 * fragment and destination selectors. It touches no files and no globals. */
#ifndef KRATIXFS_RENDER_H
#define KRATIXFS_RENDER_H

#include "kratixfs/buf.h"
#include "kratixfs/doc.h"
#include "kratixfs/error.h"
#include "kratixfs/promise.h"

struct kfs_render_input {
	const struct kfs_promise *promise;
	enum kfs_wtype type;
	enum kfs_waction action;
	const char *pipeline; /* run only this pipeline (KRATIX_PIPELINE_NAME), or NULL for all */
	const char *name;     /* the request's folder: fills a missing metadata.name and refuses a
			       * different one; NULL to take the document's own */
	const char *data;     /* the input document: a request, or the Promise for type promise */
	size_t len;
	struct kfs_node *doc; /* data already parsed, or NULL: kfs_render takes it over (it becomes
			       * the result's object), so a caller that parsed to choose the
			       * promise does not parse twice */
};

struct kfs_output {
	char *pipeline; /* the pipeline that wrote it */
	char *path;     /* relative to output/, '/'-separated */
	char *data;
	size_t len;
};

struct kfs_render_result {
	struct kfs_node *object;    /* the admitted input: defaults applied, unknown fields pruned */
	struct kfs_output *outputs; /* sorted by path (static dependencies are not outputs) */
	size_t noutputs;
	struct kfs_node *status;    /* merged metadata/status.yaml of all containers, or NULL */
	struct kfs_node *selectors; /* sequence: the pipelines' destination-selectors, or NULL */
	struct kfs_buf log;         /* one line per step: what ran, what it produced */
	struct kfs_buf warnings;    /* one line per unknown field of the input, pruned on admission:
				     * `unknown field "spec.sise"` (kubectl's warning) */
};

/* Renders. Returns 0; -EINVAL when the input is rejected (not YAML, wrong kind, schema, name);
 * -EIO when the render fails (template error, invalid YAML output, refused status). err says
 * what to fix; result holds what was produced so far (free it either way). */
int kfs_render(const struct kfs_render_input *in, struct kfs_render_result *result,
	       struct kfs_error *err);
void kfs_render_result_free(struct kfs_render_result *result);

/* The output named path, or NULL. */
const struct kfs_output *kfs_render_output(const struct kfs_render_result *result, const char *path);

#endif
