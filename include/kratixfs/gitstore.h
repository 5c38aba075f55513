/* The Git state store (docs/git.md): Kratix Destinations and scheduling, the repository paths Kratix
 * writes for each filepath mode, and a libgit2 writer that commits batches of "works" straight into
 * a bare repository (no work tree, no index) and pushes them in the background.
 *
 * The store uses it as a sink: it hands over a render and gets back an outcome.
 *   kfs_git_sink(g, &render, serial, &outcome)   scheduling + paths + commit, blocks until the
 *                                               commit exists (or "no change")
 *   outcome.kind: committed, unchanged, failed (retried in the background) or invalid
 *   (bad destination selectors); outcome.commit, .placed, .unscheduled.
 * An owner (a request or a promise) is a typed key, struct kfs_git_key. What happens later in the
 * background (a retried commit landed or failed, a push landed or failed) comes back as a
 * struct kfs_git_event through kfs_git_options.on_event. This layer never calls the store.
 * Everything here follows Kratix (internal/controller/scheduler.go, workplacement_controller.go,
 * work-creator/lib/work_creator.go); where kratixfs differs, the .c file says why. */
#ifndef KRATIXFS_GITSTORE_H
#define KRATIXFS_GITSTORE_H

#include <stdbool.h>
#include <stddef.h>

#include "kratixfs/doc.h"
#include "kratixfs/error.h"
#include "kratixfs/promise.h"
#include "kratixfs/render.h"

/* ---- Destinations ---------------------------------------------------------------------- */

enum kfs_fpmode { KFS_FP_NESTED, KFS_FP_NONE, KFS_FP_AGGREGATED };

struct kfs_label {
	char *key;
	char *value;
};

struct kfs_destination {
	char *name;
	struct kfs_label *labels; /* metadata.labels, in document order */
	size_t nlabels;
	char *path;	      /* repository folder: the store's spec.path joined with spec.path,
			       * cleaned: "" for the repository root */
	char *spec_path;      /* spec.path (default: the name) cleaned as Go's filepath.Clean does
			       * ("." and "/" stay): Kratix's .kratix index entries start with it */
	char *store_path;     /* the GitStateStore's spec.path cleaned, "" if none: index entries
			       * are relative to it */
	bool strict;	      /* spec.strictMatchLabels */
	enum kfs_fpmode mode; /* spec.filepath.mode, default nestedByMetadata */
	char *filename;	      /* spec.filepath.filename (aggregatedYAML), default aggregated.yaml */
	bool any;	      /* the implicit "default" destination: it takes every work */
	char *store;	      /* the GitStateStore of spec.stateStoreRef, if in the file */
	char *store_branch;   /* that store's spec.branch (default main) */
	char *author_name;    /* that store's spec.gitAuthor.name (default kratix) */
	char *author_email;   /* that store's spec.gitAuthor.email (default: none, "") */
	bool dry_run;	      /* labelled kratix.io/dry-run: "true": takes no work (kratixfs has
			       * no dry-run requests; Kratix sends normal works elsewhere too) */
	bool init_workloads;  /* spec.initWorkloads.enabled (default true): the canary files */
};

struct kfs_destinations {
	struct kfs_destination *items; /* sorted by name, as Kratix lists them */
	size_t n;
};

/* Loads a YAML stream of Kratix Destination documents, with the GitStateStores they refer to
 * (a destination's path is inside its state store's spec.path) and BucketStateStores (read
 * and ignored), or `kubectl get -o yaml` Lists of them; file NULL gives one destination
 * "default" with path "default" that takes every work, whatever its selectors (it stands for
 * "the cluster" when no destinations are configured). Errors name the file, line and field. */
int kfs_destinations_load(const char *file, struct kfs_destinations *out, struct kfs_error *err);
/* The same from bytes; name prefixes error messages. */
int kfs_destinations_parse(const char *buf, size_t len, const char *name,
			   struct kfs_destinations *out, struct kfs_error *err);
void kfs_destinations_free(struct kfs_destinations *d);
/* -EINVAL, naming the destination and what to change, if a destination's GitStateStore writes
 * another branch than branch (NULL: main), the one kratixfs writes; file names the file. */
int kfs_destinations_check_branch(const struct kfs_destinations *d, const char *branch,
				  const char *file, struct kfs_error *err);

/* ---- Scheduling ------------------------------------------------------------------------- */

struct kfs_sched_input {
	enum kfs_wtype type;			  /* resource: one destination; promise: all */
	const struct kfs_node *promise_selectors; /* promise spec.destinationSelectors, or NULL */
	const struct kfs_node *selectors; /* this render's destination-selectors.yaml: a
					   * sequence of {matchLabels, directory?}, or NULL */
	/* Each pipeline's own destination-selectors.yaml (kfs_render_result.pipelines), or none:
	 * the outputs of a pipeline listed here are scheduled by its own selectors only, as
	 * Kratix schedules each pipeline's Work by its own file; other outputs by selectors. */
	const struct kfs_render_pipeline *rpipelines;
	size_t nrpipelines;
	const struct kfs_output *outputs; /* this render's output files */
	size_t noutputs;
};

/* One workload group placed on one destination (a Kratix WorkPlacement). */
struct kfs_placement {
	size_t dest;	 /* index into kfs_destinations.items */
	char *pipeline;	 /* the outputs' pipeline */
	char *directory; /* "." or the selector's directory: id5 is md5 of it */
	size_t *outputs; /* indexes into kfs_sched_input.outputs; paths keep the directory */
	size_t noutputs;
};

struct kfs_schedule {
	struct kfs_placement *items;
	size_t n;
	char *unscheduled; /* NULL, or why some outputs went nowhere:
			    * "no destination has labels environment=dev (output folder dev)" */
};

/* Places the outputs: a `directory` entry routes that output folder only, by its own labels;
 * the rest use the root entry's labels overridden by the promise's spec.destinationSelectors
 * (a promise workflow's selectors never reach its resources). Returns 0 (with
 * out->unscheduled set when some group matched nothing) or -EINVAL for an invalid
 * destination-selectors (no matchLabels, nested or duplicate directory). */
int kfs_schedule(const struct kfs_destinations *d, const struct kfs_sched_input *in,
		 struct kfs_schedule *out, struct kfs_error *err);
void kfs_schedule_free(struct kfs_schedule *s);

/* ---- Layout: repository paths ----------------------------------------------------------- */

/* First five hex digits of md5(directory) into out[6]: "." gives "5058f". */
void kfs_git_id5(const char *directory, char out[6]);

/* The nestedByMetadata folder of a placement, no trailing '/':
 * <path>/resources/<ns>/<promise>/<request>/<pipeline>/<id5> or
 * <path>/dependencies/<promise>/<pipeline>/<id5> (request NULL). Empty parts are skipped, as
 * Go's filepath.Join does. Caller frees. */
char *kfs_git_nested_dir(const struct kfs_destination *d, const char *ns, const char *promise,
			 const char *request, const char *pipeline, const char *directory);

/* ---- Owners ----------------------------------------------------------------------------- */

struct kfs_git_render;

enum kfs_git_kind { KFS_GIT_REQUEST, KFS_GIT_PROMISE };

/* Who a work belongs to: a request (kind, namespace, name) or a promise (kind, name). Keys are
 * compared field by field (kfs_git_key_equal), never encoded into one string. In a work or a
 * kfs_git_key_copy the strings are the key's own; in a kfs_git_event they live for the call. */
struct kfs_git_key {
	enum kfs_git_kind kind;
	const char *ns;	  /* a request's namespace ("default" when it names none); NULL: promise */
	const char *name; /* the request's or the promise's name */
};

/* The key of a render's works; its strings point into r. */
struct kfs_git_key kfs_git_key_of(const struct kfs_git_render *r);
bool kfs_git_key_equal(const struct kfs_git_key *a, const struct kfs_git_key *b);
/* A copy that owns its strings; kfs_git_key_free frees them. */
void kfs_git_key_copy(struct kfs_git_key *dst, const struct kfs_git_key *src);
void kfs_git_key_free(struct kfs_git_key *k);

/* ---- Works: what one render owns in the repository -------------------------------------- */

struct kfs_git_file {
	char *path; /* repository path */
	char *data;
	size_t len;
};

/* One workload's part of an aggregatedYAML file. */
struct kfs_git_frag {
	char *file; /* the aggregate file's repository path */
	char *key;  /* the WorkPlacement name: Kratix orders the parts by it */
	char *data;
	size_t len;
};

/* One WorkPlacement of a work (a pipeline's workload group on one destination), as Kratix names
 * it: "<work>.<destination>-<id5>", where <work> is Kratix's Work name. A commit says
 * "Update from: <name>" for each one whose files it changed. */
struct kfs_git_placement {
	char *name;
	size_t dest;	 /* index into kfs_destinations.items */
	char *dir;	 /* nestedByMetadata: the folder it owns; NULL otherwise */
	char **paths;	 /* none: the files it writes, its index file last */
	size_t npaths;
	char *aggregate; /* aggregatedYAML: the file its parts are in; NULL otherwise */
};

struct kfs_git_work {
	char *name;		/* the request or promise (logs; a commit line when no
				 * WorkPlacement is known) */
	char *promise;		/* the promise: Work names start with it */
	struct kfs_git_key key; /* whose work: its strings are the work's */
	/* How the work's parts are marked in the index of an aggregatedYAML file (see
	 * kfs_git_parts): "resource/<ns>/<promise>/<request>" or "promise/<promise>". */
	char *part_owner;
	/* The caller's number for this version of the owner's state, given back with the outcome
	 * of a retry: an outcome for an older version than the caller's last one is stale. */
	unsigned long long serial;
	bool delete; /* "Delete from:": only removes what the work owns */
	/* What it owns on every destination, each with the destination's index (dirs_dest...) */
	char **dirs; /* nestedByMetadata folders: everything under them is replaced by files */
	size_t *dirs_dest;
	size_t ndirs;
	char **indexes; /* mode none: "<path>/.kratix/<prefix>": every index file whose name
			 * starts with prefix is owned, with the files it lists */
	size_t *indexes_dest;
	size_t nindexes;
	char **aggregates; /* every aggregatedYAML file of the destinations: frags' files among them */
	size_t *aggregates_dest;
	size_t naggregates;
	struct kfs_git_frag *frags;
	size_t nfrags;
	struct kfs_git_file *files; /* sorted by path */
	size_t nfiles;
	struct kfs_git_placement *placements; /* this render's WorkPlacements */
	size_t nplacements;
	char **dest_names; /* the destinations' names, by index (WorkPlacement names end in one) */
	size_t ndest_names;
	bool canary; /* the canary files of the destinations ("Update from: kratix-canary") */
};

/* One render, as the store has it. */
struct kfs_git_render {
	enum kfs_wtype type;
	const char *promise;
	const char *request; /* NULL for the promise workflow */
	const char *ns;	     /* the request's namespace; NULL means "default" */
	const struct kfs_output *outputs;
	size_t noutputs;
	const char *static_deps; /* promise: the static dependencies text, or NULL */
	const struct kfs_node *promise_selectors;
	const struct kfs_node *selectors; /* the render's own destination-selectors */
	const struct kfs_render_pipeline *rpipelines; /* each pipeline's own (kfs_sched_input) */
	size_t nrpipelines;
	const char *const *pipelines; /* every pipeline of the workflow (for mode none cleanup) */
	size_t npipelines;
	bool delete; /* build the Delete work: owned paths, no files */
};

/* Schedules and lays out one render into a work. *unscheduled (may be NULL) gets the
 * "no destination has labels ..." text or NULL; caller frees it. -EINVAL for bad selectors. */
int kfs_git_work_build(const struct kfs_destinations *d, const struct kfs_git_render *r,
		       struct kfs_git_work *out, char **unscheduled, struct kfs_error *err);
void kfs_git_work_free(struct kfs_git_work *w);

/* ---- aggregatedYAML files --------------------------------------------------------------- */

/* An aggregatedYAML file holds the parts of many owners: one per output of a workload, ordered
 * by WorkPlacement name and joined by "\n---\n", exactly as Kratix's combineAllWorkloads writes
 * it. Whose each part is lives in the file's parts index, a file outside every destination path
 * (kfs_git_parts_index_path) that no GitOps tool reads: one line per part, in file order,
 * "<bytes> <owner> <WorkPlacement>". With it a restart, or another daemon's commit on the same
 * file, keeps the parts of owners that are not written again. */
struct kfs_git_part {
	char *owner, *key;
	char *data; /* the output */
	size_t len;
	size_t seq; /* order of arrival: parts of one key keep it */
};

struct kfs_git_parts {
	struct kfs_git_part *items;
	size_t n, seq;
};

/* The repository path of the parts index of the aggregatedYAML file at path:
 * ".kratixfs/aggregated/<path>.parts". Caller frees. */
char *kfs_git_parts_index_path(const char *path);
/* The parts of a file's text, as its index (NULL: none) says. A part whose length no longer
 * fits (the file was edited by hand) gets the text between the parts that still fit, before
 * and after it; text the index does not account for (a file Kratix wrote) belongs to nobody
 * and is dropped at the next write. A final newline added to the file changes nothing. */
void kfs_git_parts_parse(const char *text, size_t len, const char *index, size_t index_len,
			 struct kfs_git_parts *out);
void kfs_git_parts_add(struct kfs_git_parts *p, const char *owner, const char *key,
		       const char *data, size_t len);
/* Moves owner's parts from p to the end of out (out may be NULL: they are freed). */
void kfs_git_parts_take(struct kfs_git_parts *p, const char *owner, struct kfs_git_parts *out);
/* Whether owner has the same parts in a and b, in the order a file has them; key non-NULL:
 * only owner's parts of that WorkPlacement. */
bool kfs_git_parts_same(const struct kfs_git_parts *a, const struct kfs_git_parts *b,
			const char *owner, const char *key);
/* The file's text (empty when there are no parts) and its index: sorts p by WorkPlacement
 * name. index may be NULL. */
void kfs_git_parts_render(struct kfs_git_parts *p, struct kfs_buf *out, struct kfs_buf *index);
void kfs_git_parts_free(struct kfs_git_parts *p);

/* ---- Canary files ----------------------------------------------------------------------- */

/* The files Kratix's destination controller writes into every destination, so that a person
 * can see the GitOps tool reads the state store: <path>/dependencies/kratix-canary-namespace.yaml
 * and <path>/resources/kratix-canary-configmap.yaml (nestedByMetadata), or both at <path>/
 * (other modes). A destination whose spec.initWorkloads.enabled is false has them removed. The
 * work is named "kratix-canary", as Kratix commits them. */
void kfs_git_canary_work(const struct kfs_destinations *d, struct kfs_git_work *out);

/* ---- The writer ------------------------------------------------------------------------- */

struct kfs_git;

/* Something the background thread did, given to kfs_git_options.on_event. */
enum kfs_git_event_kind {
	KFS_GIT_RETRY_COMMITTED, /* a failed commit was retried and landed */
	KFS_GIT_RETRY_FAILED,	 /* ... and failed again (it is retried later) */
	KFS_GIT_PUSHED,		 /* a push attempt left the remote with the local head */
	KFS_GIT_PUSH_FAILED,	 /* a push attempt failed */
};

struct kfs_git_event {
	enum kfs_git_event_kind kind;
	struct kfs_git_key key;	   /* retry events: the work's owner */
	unsigned long long serial; /* retry events: the work's serial (kfs_git_work.serial) */
	/* RETRY_COMMITTED: the commit that holds the work ("" when the branch does not exist:
	 * nothing was to commit); PUSHED: the pushed head. "" otherwise. */
	char commit[41];
	const char *reason; /* the failures: why; NULL otherwise */
};

struct kfs_git_options {
	const char *repo;	 /* bare repository; created if missing */
	const char *branch;	 /* NULL means "main" */
	const char *remote;	 /* -o git_push: URL or path, or NULL for no push */
	/* Where renders go (kfs_git_sink, kfs_git_prepare); borrowed: it must outlive the writer.
	 * NULL: only kfs_git_commit works are taken. */
	const struct kfs_destinations *destinations;
	unsigned backoff_min_ms; /* first retry delay (0: 200 ms); doubles up to backoff_max_ms */
	unsigned backoff_max_ms; /* 0: 30 s */
	/* Called from the background thread, with none of the writer's locks held, after each push
	 * attempt and each retry of a failed commit. The event lives for the call. */
	void (*on_event)(void *ctx, const struct kfs_git_event *e);
	void *ctx;
};

struct kfs_git_result {
	bool changed;	 /* false: the tree was the same, no commit made */
	char commit[41]; /* the commit holding the works (the head when unchanged), "" if none */
};

/* What became of one render handed to the sink. */
enum kfs_git_outcome_kind {
	KFS_GIT_COMMITTED, /* a new commit holds the render's changes */
	KFS_GIT_UNCHANGED, /* the branch already held them: no commit made */
	KFS_GIT_FAILED,	   /* the commit failed (err); the background thread retries it */
	KFS_GIT_INVALID,   /* invalid destination selectors (err): nothing to commit, and an older
			    * failed work of the owner is not retried either */
};

struct kfs_git_outcome {
	enum kfs_git_outcome_kind kind;
	char commit[41];   /* COMMITTED, UNCHANGED: the commit holding the render, "" if none */
	bool placed;	   /* some of the render's files have a destination */
	char *unscheduled; /* NULL, or which outputs no destination takes (kfs_schedule) */
	struct kfs_error err;
};

void kfs_git_outcome_free(struct kfs_git_outcome *o);

/* Opens (or creates) the bare repository and starts the background thread. */
int kfs_git_open(const struct kfs_git_options *opts, struct kfs_git **out, struct kfs_error *err);
/* Stops the background thread (one last push attempt is not waited for) and frees. */
void kfs_git_close(struct kfs_git *g);
/* Commits works (in order) on the branch head; thread-safe; concurrent callers are grouped into
 * one commit; returns once that commit exists. On failure (locked, unwritable) returns -EIO with
 * the reason, and the background thread retries the works, reporting through on_event. */
int kfs_git_commit(struct kfs_git *g, const struct kfs_git_work *works, size_t n,
		   struct kfs_git_result *res, struct kfs_error *err);
/* Drops owner's failed work that waits for a retry: a newer render of it has nothing to
 * commit (its selectors are invalid), and the older one must not land later. */
void kfs_git_forget(struct kfs_git *g, const struct kfs_git_key *owner);

/* The sink. Schedules and lays out render r (its Delete work when r->delete) as version serial
 * of its owner, commits it like kfs_git_commit, and says what became of it in *out (caller
 * frees with kfs_git_outcome_free). An INVALID render forgets the owner's older failed work. */
void kfs_git_sink(struct kfs_git *g, const struct kfs_git_render *r, unsigned long long serial,
		  struct kfs_git_outcome *out);
/* The first half of the sink, for renders committed later as one batch: schedules and lays
 * out r into *work (0; caller frees) and sets out's placed and unscheduled (its kind is for
 * kfs_git_commit_outcome to set), or gives -EINVAL with out->kind INVALID (no work; the
 * owner's older failed work is forgotten). */
int kfs_git_prepare(struct kfs_git *g, const struct kfs_git_render *r, unsigned long long serial,
		    struct kfs_git_work *work, struct kfs_git_outcome *out);
/* The second half: commits works as one commit and sets out's kind, commit and err (placed and
 * unscheduled are left as they are). */
void kfs_git_commit_outcome(struct kfs_git *g, const struct kfs_git_work *works, size_t n,
			    struct kfs_git_outcome *out);
/* The branch head into hex[41] ("" before the first commit). */
void kfs_git_head(struct kfs_git *g, char hex[41]);
/* Wakes the background thread to push now (tests; after a remote came back). */
void kfs_git_push_now(struct kfs_git *g);
/* Blocks until the remote has the local head or timeout_ms passes: 0, or -ETIMEDOUT. */
int kfs_git_push_wait(struct kfs_git *g, unsigned timeout_ms);

#endif
