/* render(): a pure function from (promise, workflow, input bytes) to output files, a status
 * fragment and destination selectors. It touches no files and no globals. */
#ifndef KRATIXFS_RENDER_H
#define KRATIXFS_RENDER_H

#include "kratixfs/buf.h"
#include "kratixfs/doc.h"
#include "kratixfs/error.h"
#include "kratixfs/promise.h"

struct kfs_exec;

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
	/* The object's status as it stands (Kratix keeps it on the object between runs), or NULL:
	 * it is the input's `.status` (templates and input/object.yaml see it, as Kratix's reader
	 * writes the whole object) and the base each pipeline's metadata/status.yaml merges onto. */
	const struct kfs_node *status;
	/* Runs the containers that are not template containers (image and script containers), or
	 * NULL: such a container then fails the render with an error naming it. */
	const struct kfs_exec *exec;
};

/* What a container that is not a template container sees and leaves: its /kratix, in memory.
 * Containers of one pipeline share output/ and metadata/, in order. */
struct kfs_exec_call {
	const struct kfs_promise *promise;
	const struct kfs_pipeline *pipeline;
	const struct kfs_container *container;
	enum kfs_wtype type;
	enum kfs_waction action;
	const struct kfs_node *object; /* input/object.yaml: the whole object, status included */
	const struct kfs_output *outputs; /* output/ as the pipeline's earlier containers left it */
	size_t noutputs;
	/* metadata/ files as the earlier containers of the pipeline left them, or NULL */
	const char *status; size_t status_len;       /* status.yaml */
	const char *selectors; size_t selectors_len; /* destination-selectors.yaml */
	const char *control; size_t control_len;     /* workflow-control.yaml */
};

struct kfs_exec_reply {
	struct kfs_output *outputs; /* every file of output/ after the container (pipeline unset) */
	size_t noutputs;
	char *status; size_t status_len;       /* metadata/status.yaml after it, or NULL */
	char *selectors; size_t selectors_len; /* metadata/destination-selectors.yaml, or NULL */
	char *control; size_t control_len;     /* metadata/workflow-control.yaml, or NULL */
	struct kfs_buf log; /* what the container printed (stderr, then stdout), for log/status */
};
void kfs_exec_reply_free(struct kfs_exec_reply *reply);

struct kfs_exec {
	/* Runs call->container. 0 when it exited 0; -EIO (err: the exit status or signal, the
	 * time limit, the last lines of its stderr) otherwise; -EINVAL when it cannot start (an
	 * image that is not there: err names it and how to get it). reply holds what was read back
	 * (free it either way). */
	int (*run)(void *ctx, const struct kfs_exec_call *call, struct kfs_exec_reply *reply,
		   struct kfs_error *err);
	void *ctx;
};

/* Kratix's metadata/workflow-control.yaml, as the last pipeline that wrote one left it. A
 * pipeline that asks for suspend or retryAfter stops the workflow, as Kratix's suspended label
 * does: the pipelines after it do not run, and its own outputs make no Work (Kratix's
 * work-creator skips it), so they are not in the result's outputs. */
struct kfs_workflow_control {
	bool suspend;          /* suspend: true */
	long long retry_after; /* retryAfter in seconds (rounded up), or -1 */
	char *message;         /* its message, or NULL */
	char *pipeline;        /* the pipeline that wrote it, or NULL when none did */
	bool stopped;          /* suspend or retryAfter: the workflow stopped at pipeline */
};

/* One pipeline that ran, in workflow order. */
struct kfs_render_pipeline {
	char *name;
	struct kfs_node *selectors; /* its own destination-selectors.yaml (a sequence), or NULL:
				     * Kratix schedules a pipeline's Work by its own file */
	struct kfs_node *status;    /* its own metadata/status.yaml (what its containers left, before
				     * the merge onto the object's status), or NULL */
	bool work; /* false when it stopped the workflow (control.stopped): Kratix leaves its
		    * Work as the previous run left it */
};

struct kfs_output {
	char *pipeline; /* the pipeline that wrote it */
	char *path;     /* relative to output/, '/'-separated */
	char *data;
	size_t len;
};

struct kfs_render_result {
	/* The admitted input: defaults applied, unknown fields pruned, a status written in the
	 * request dropped; its `.status` is the object's status as the last pipeline that ran
	 * saw it (input's status with the earlier pipelines' status.yaml merged on). */
	struct kfs_node *object;
	/* Every pipeline's files, each with its pipeline: one Work per pipeline, so two pipelines
	 * may write the same path. Sorted by path, then workflow order (static dependencies are
	 * not outputs). kfs_render_output gives the union view. */
	struct kfs_output *outputs;
	size_t noutputs;
	/* in->status with each pipeline's metadata/status.yaml merged on at its end (Kratix's
	 * rules: kfs_status_merge), or NULL when both are absent. */
	struct kfs_node *status;
	struct kfs_node *selectors; /* sequence: the pipelines' destination-selectors, or NULL */
	struct kfs_render_pipeline *pipelines; /* the pipelines that ran, in workflow order */
	size_t npipelines;
	struct kfs_buf log;         /* one line per step: what ran, what it produced */
	struct kfs_buf warnings;    /* one line per unknown field of the input, pruned on admission:
				     * `unknown field "spec.sise"` (kubectl's warning), and one for a
				     * status written in the request */
	struct kfs_workflow_control control; /* retry_after -1 when no pipeline wrote one */
	char *failed_pipeline;      /* the pipeline whose container failed, or NULL */
};

/* Renders. Returns 0; -EINVAL when the input is rejected (not YAML, wrong kind, schema, name);
 * -EIO when the render fails (template error, invalid YAML output, refused status). err says
 * what to fix; result holds what was produced so far (free it either way). */
int kfs_render(const struct kfs_render_input *in, struct kfs_render_result *result,
	       struct kfs_error *err);
void kfs_render_result_free(struct kfs_render_result *result);

/* Appends control as a workflow-control.yaml document (retryAfter in seconds, "90s"). */
void kfs_workflow_control_emit(const struct kfs_workflow_control *control, struct kfs_buf *out);

/* The output named path as output/ shows it (where two pipelines wrote it, the later
 * pipeline's file), or NULL. */
const struct kfs_output *kfs_render_output(const struct kfs_render_result *result, const char *path);

#endif
