/* Promises: loading a promise folder in the kratix CLI layout or a bare promise.yaml,
 * and choosing and admitting the requests a promise serves (docs/promises.md). */
#ifndef KRATIXFS_PROMISE_H
#define KRATIXFS_PROMISE_H

#include <stdbool.h>

#include "kratixfs/buf.h"
#include "kratixfs/doc.h"
#include "kratixfs/error.h"
#include "kratixfs/schema.h"
#include "kratixfs/template.h"
#include "kratixfs/values.h"

enum kfs_wtype { KFS_WF_PROMISE, KFS_WF_RESOURCE };
enum kfs_waction { KFS_WF_CONFIGURE, KFS_WF_DELETE };
/* Kratix's words for them: "promise"/"resource", "configure"/"delete". */
extern const char *const kfs_wtype_names[2];
extern const char *const kfs_waction_names[2];

/* One file a container renders: its path relative to templates/output (or "status.yaml" and
 * "destination-selectors.yaml" for the metadata ones). */
struct kfs_template_file {
	char *path;
	struct kfs_template *tmpl;
};

struct kfs_container {
	char *name;
	/* The container folder (workflows/<type>/<action>/<pipeline>/<container>/, or the
	 * marketplace's internal/<name>/ found by the image's name), or NULL for an image
	 * container. A container is a template container when dir is set and exec is not. */
	char *dir;
	struct kfs_values *values;  /* NULL without values.yaml */
	struct kfs_template_file *outputs;
	size_t noutputs;            /* sorted by path */
	struct kfs_template *status;    /* templates/metadata/status.yaml, or NULL */
	struct kfs_template *selectors; /* templates/metadata/destination-selectors.yaml, or NULL */
	struct kfs_template *control;   /* templates/metadata/workflow-control.yaml, or NULL */
	/* A folder run from its Dockerfile (the exec layer): its script (scripts/pipeline.sh or
	 * execute-pipeline) if it has one, else its Dockerfile; NULL for templates/. */
	char *exec;
	/* From the promise's container spec: image (NULL if none), command and args (NULL-ended
	 * lists, or NULL), env (name=value strings, NULL-ended, or NULL). A container with an image
	 * and no container folder is run from the image. */
	char *image;
	char **command, **args, **env;
};

struct kfs_pipeline {
	char *name;
	struct kfs_container *containers;
	size_t ncontainers;
};

struct kfs_workflow {
	struct kfs_pipeline *pipelines;
	size_t npipelines;
};

struct kfs_crd_version {
	char *name;
	bool served;
	struct kfs_schema *schema; /* NULL when the version has no schema */
};

struct kfs_promise {
	char *name;
	char *version;            /* label kratix.io/promise-version, or "" */
	char *dir;                /* NULL when loaded from a bare promise.yaml */
	struct kfs_node *doc;     /* promise.yaml as parsed */
	char *group, *kind, *plural;
	bool cluster_scoped;
	struct kfs_crd_version *versions;
	size_t nversions;
	struct kfs_workflow workflows[2][2]; /* [kfs_wtype][kfs_waction] */
	struct kfs_node *tcontext_promise;   /* {name, version} for templates */
	char *dependencies;       /* static/<promise>-dependencies.yaml text, or NULL */
	struct kfs_buf warnings;  /* one "warning: ..." line each, reported once per load */
};

/* Loads a promise folder: promise.yaml, or the kratix CLI's --split files (api.yaml,
 * dependencies.yaml, the YAML files of workflows/<type>/<action>/ and of workflows/)
 * assembled into the same Promise document (named after the folder); a folder with both
 * promise.yaml and api.yaml is an error. Then, for every pipeline container named in the workflows,
 * workflows/<type>/<action>/<pipeline>/<container>/ (templates compiled, values.yaml
 * compiled). Errors name the file, or the folder looked for. */
int kfs_promise_load_dir(const char *dir, struct kfs_promise **out, struct kfs_error *err);
/* Loads only a promise's document (its CRD; no workflow folders): for `kratixfs validate`.
 * path is a promise.yaml or api.yaml (read as its folder, in either layout), a promise folder,
 * or any other file holding a Promise. */
int kfs_promise_load_file(const char *path, struct kfs_promise **out, struct kfs_error *err);
void kfs_promise_free(struct kfs_promise *p);

/* True when dir holds a promise.yaml or an api.yaml: a promise folder, in either layout. */
bool kfs_promise_dir_holds_promise(const char *dir);

/* True when s is a DNS-1123 label: what request and promise names must be. */
bool kfs_is_dns_label(const char *s);
/* True when s is a DNS-1123 subdomain (at most 253): what the API server takes as the name of
 * a custom resource. */
bool kfs_is_dns_subdomain(const char *s);

/* True when the request's apiVersion group and kind (case-sensitively) are this promise's. */
bool kfs_promise_serves(const struct kfs_promise *p, const struct kfs_node *request);

/* Admits a parsed request: checks apiVersion/kind against the CRD (a served version),
 * metadata.name as a DNS-1123 subdomain and metadata.namespace as a DNS-1123 label (with
 * Kubernetes' messages), then the schema (defaults applied, unknown fields
 * pruned, in place). Every problem is appended to err; returns 0 or -EINVAL. Each pruned field
 * (and each metadata field that ObjectMeta does not have) is appended to warnings, if not NULL,
 * as a line `unknown field "spec.sise"`. A `status` in the request is removed (the status is a
 * subresource: the object's own, never the request's) with the warning line
 * `ignored field "status": ...`. */
int kfs_promise_admit(const struct kfs_promise *p, struct kfs_node *request,
		      struct kfs_buf *warnings, struct kfs_error *err);

/* All promises of a promises folder (one sub-folder each, sorted by name). */
struct kfs_promise_set {
	struct kfs_promise **items;
	size_t n;
};

/* Loads every sub-folder of dir holding a promise.yaml or an api.yaml. One that fails to load is
 * skipped, its error appended to err; returns 0 when dir could be read (even if some promise
 * failed). */
int kfs_promise_set_load(const char *dir, struct kfs_promise_set *set, struct kfs_error *err);
/* The promise serving request, or NULL with an error that lists the kinds served. */
const struct kfs_promise *kfs_promise_set_match(const struct kfs_promise_set *set,
						 const struct kfs_node *request, struct kfs_error *err);
/* The promise named name, or NULL. */
const struct kfs_promise *kfs_promise_set_find(const struct kfs_promise_set *set, const char *name);
void kfs_promise_set_free(struct kfs_promise_set *set);

#endif
