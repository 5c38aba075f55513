/* What the store's files share:
 *   store.c       the request table, logging, open and close
 *   view.c        blobs and views (the snapshots readers hold)
 *   publish.c     status.yaml and phase built from a request's typed state; views swapped; the
 *                 root status built when read
 *   conditions.c  typed conditions
 *   write.c       object.yaml writes: render, outcome, persist, publish, commit; deletion
 *   lifecycle.c   mkdir, chmod/chown, unlink, feedback
 *   promises.c    the promises folder, reloads, promise folders
 *   promise_lifecycle.c  a promise's requirements, its removal, the requests it holds back,
 *                 and how many requests each promise serves
 *   record.c      a request's typed state folder record
 *   recover.c     persisting records and reading the state folder back at start
 *   retry.c       workflow-control.yaml's retryAfter: a timer thread that runs a suspended
 *                 request's workflow again when its time comes
 *   gitsync.c     commits to the Git state store and the store-wide push state
 *   slot.c        the root slot's output/ and metadata/ changed by other processes between runs
 *   slot_check.c  what those files must be */
#ifndef KRATIXFS_STORE_INTERNAL_H
#define KRATIXFS_STORE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kratixfs/gitstore.h"
#include "kratixfs/render.h"
#include "kratixfs/hash.h"
#include "kratixfs/store.h"

/* One condition of a request's status (Kratix's: type, status, reason, message and the time its
 * status last changed, RFC 3339). */
struct condition {
	char *type; /* one allocation holds the four texts, type first */
	const char *status, *reason, *message;
	char time[32];
};

struct conditions {
	struct condition *items; /* in the order they were first set */
	size_t n;
};

/* SUSPENDED is last: a record stores the phase as its number, so the older ones keep theirs. */
enum phase { PENDING, RENDERED, COMMITTED, APPLIED, READY, ERROR, SUSPENDED, NPHASES };
extern const char *const kfs_phase_names[];

struct request {
	int refs;
	char *name;   /* "" for the root pipeline slot */
	bool removed; /* taken out of the table; the last reference frees it */
	pthread_mutex_t write_lock; /* serializes everything that changes the fields below */
	char *object; /* accepted input, NULL when the request is empty */
	size_t object_len;
	/* object.yaml was unlinked: hidden from the folder, but the request stays in force (and in
	 * Git) until its folder is removed. The next write of object.yaml is an edit. */
	bool unlinked;
	/* Bytes refused while object.yaml was absent (a first write, or after an unlink): shown as
	 * object.yaml so that an editor can fix them in place, never in force. NULL: none. */
	char *draft;
	size_t draft_len;
	struct kfs_owner owner; /* the folder's owner and modes, set by its mkdir */
	char *good; /* input of the last good render (NULL: none) */
	size_t good_len;
	char *promise;   /* the promise that rendered it */
	char *ns;        /* its namespace, for the Git paths */
	unsigned long long generation, observed;
	enum phase phase;
	enum phase published_phase; /* phase as last published; atomic: the root view counts it */
	char *message;
	char *rejection; /* why the last write was refused, NULL once a write is accepted */
	char *log;
	char *warnings; /* the last good render's unknown fields, one line each, or NULL */
	struct conditions conds;
	/* The pipelines' metadata/status.yaml, merged, without the daemon's condition types and
	 * with secrets masked, as YAML text (the file's bytes), or NULL. Text, not a tree: a tree
	 * costs about 700 bytes more a request (measured with 5,000), and 10,000 requests must fit
	 * in 100 MiB; it is parsed (fast path) when a status is built. */
	char *render_status;
	/* The status the last good render started from (kfs_render_input.status, as YAML text),
	 * or NULL: a restart renders that input again from it, so the same outputs come out. */
	char *status_base;
	/* A suspended request's retryAfter: when its workflow runs again (CLOCK_REALTIME, in
	 * milliseconds since the epoch, recorded so that a restart keeps it), or 0. */
	long long retry_at;
	struct kfs_node *selectors;
	char commit[41];                /* the commit holding the last good render, or "" */
	unsigned long long commit_seq;  /* which of the store's commits that was */
	unsigned long long work_serial; /* the serial of its last Git work (kfs_git_work) */
	bool placed;                    /* some of that work's files have a destination */
	pthread_mutex_t view_lock; /* guards the three fields below: held for a pointer swap */
	struct kfs_view *view;
	/* The view's status.yaml shows the push state (pushed, the Pushed condition) as it was at
	 * store-wide push stamp status_push_stamp: a reader that finds the stamp moved gets the
	 * status built again (publish.c), with no publish and no record. */
	bool push_live;
	uint64_t status_push_stamp;
	/* The promise this request counts for in promises/<p>/status.yaml (an interned name of
	 * kfs_store.counts), or NULL: set when it is published (promise_lifecycle.c). */
	const char *counted;
	/* The root slot only: its output/ and metadata/ as other processes changed them since its
	 * last run (slot.c), shown instead of the render's; NULL until a change. write_lock. */
	struct slot_files *edits;
	/* The root slot only: counts its runs (each accepted render of input/object.yaml), so
	 * that a file opened in one run is never stored over the next run's (slot.c). Changed
	 * under write_lock with __atomic stores; read with __atomic loads. */
	uint64_t slot_run;
};

struct promise_entry {
	struct kfs_promise *p;       /* last good version, NULL if it never loaded */
	char *name;                  /* the folder's name */
	char digest[KFS_DIGEST_LEN]; /* of every file in the folder, to see what changed */
	char *error;                 /* why the folder does not load now, or NULL */
	char *commit_error;          /* why its dependencies are not committed, or NULL */
	char *unscheduled;           /* which of its outputs no destination takes, or NULL */
	unsigned long long work_serial; /* the serial of its last Git work */
	char *workflow_failure;      /* why its promise workflow failed, or NULL */
	struct kfs_node *wf_selectors; /* the promise workflow's destination selectors */
	char *wf_status;             /* the promise workflow's metadata/status.yaml (masked), or NULL */
	/* spec.requiredPromises as Kratix's status.requiredPromises (name, version, state), or
	 * NULL; unmet: why the promise does not serve requests (a required promise is not
	 * loaded, not at the version asked, or not available itself), or NULL. */
	struct kfs_node *required;
	char *unmet;
	size_t view_requests; /* the request count its view's status.yaml shows */
	struct kfs_view *view;
	/* kept: p was loaded from this same folder before this scan (the folder that keeps its
	 * promise when another folder holds the same metadata.name); duplicate: refused, as
	 * another folder holds its promise (loaded again by every scan, to take over when that
	 * folder goes). */
	bool kept, duplicate;
};

/* One event from the Git background thread (a copy that owns its key and reason), handled by
 * the store's worker thread so that the Git thread never waits for a request's lock. */
struct git_event {
	struct git_event *next;
	struct kfs_git_event ev;
};

/* The store-wide push state, read when a status is built (kfs_gitsync_push_state). */
struct kfs_push_state {
	bool pushing;			/* -o git_push is set */
	unsigned long long commit_seq;	/* commits made so far (a request's commit_seq is one) */
	unsigned long long pushed_seq;	/* commits known to be on the remote */
	char pushed_head[41];		/* the last head a push left on the remote, or "" */
	bool failed;			/* the last push failed: error says why */
	char error[KFS_ERROR_MAX];
	char time[32];			/* when the last push ended (RFC 3339), or "" */
	uint64_t stamp;			/* grows with every push outcome */
};

/* Lock order: every lock of the daemon, outermost first. A thread holding one of them takes only
 * locks further down the list, so no cycle (no deadlock) can form; `make test-tsan` checks it.
 *
 *  1. fs->wlock (src/fs/handles.c) open handles; stat of a write handle takes its stat_lock
 *                                 (a leaf) under it
 *  2. a write handle's lock (src/fs/handles.c) held over its close's submit into the store
 *  3. root_lock                   the cached root view; building it reads the table, the
 *                                 promises, the Git head and the slot's view
 *  4. table_lock                  an rmdir takes a request's write_lock under it
 *  5. a request's write_lock      a write renders under it, so it takes promises_lock (read);
 *                                 never table_lock: look a request up before locking it.
 *                                 kfs_store_view takes it (holding none of the store's
 *                                 locks) when a request's status is built again after a push
 *  6. promises_lock               a reload writes it: it must not count requests (table_lock,
 *                                 write_lock) under it; count_requests_of runs before. A
 *                                 removed promise's delete workflow (a container) and its
 *                                 Works' Delete commit run after the reload releases it
 *  7. leaves, held only for their own data, never while taking another lock of this list:
 *     retry_lock (retry.c: the timer's queue; a write schedules under its write_lock; the
 *     timer thread pops under it, then runs the request's workflow holding none: it looks the
 *     request up and takes its write_lock as any write does), a request's view_lock, a write handle's stat_lock (src/fs/handles.c), the front end's
 *     inode table lock (src/fs/inode.c) and notifier lock (src/fs/notify.c: on_publish queues
 *     under it, whatever store lock the publisher holds), the journal's lock
 *     (journal.c), git_lock, the log's stdio stream (daemon.c: one fprintf a line), and the Git
 *     layer's rlock and qlock (src/git/gitstore.c: never held together; its callback,
 *     on_event, runs with neither held and takes git_lock only, to queue the event),
 *     count_lock and pview_lock (promise_lifecycle.c, promises.c: a reader of a promise's
 *     folder holds promises_lock for reading and takes pview_lock to build its status.yaml
 *     again; it reads the count, under count_lock alone, before taking pview_lock).
 */
struct kfs_store {
	char *promises_dir, *state_dir;
	size_t max_input;
	const struct kfs_exec *exec; /* runs image and script containers, or NULL */
	void (*on_publish)(void *ctx, const char *folder);
	void *on_publish_ctx;
	void (*log)(void *ctx, enum kfs_log_level level, const char *line);
	void *log_ctx;

	struct kfs_journal *journal; /* the state folder's records (journal.h) */

	pthread_rwlock_t promises_lock; /* renders read; a reload writes */
	struct promise_entry *promises;
	size_t npromises;

	pthread_rwlock_t table_lock;
	struct request **requests; /* sorted by name */
	size_t nrequests, cap;
	struct request *slot;

	pthread_mutex_t root_lock; /* guards the cached root view */
	struct kfs_view *root;
	uint64_t root_stamp, stamp; /* stamp grows with every publish */
	uint64_t root_push_stamp;   /* the push stamp the cached root view was built at */
	int64_t changed_ns;         /* CLOCK_REALTIME of the last publish, atomic */
	uint64_t next_serial;       /* the last view serial handed out, atomic */

	/* Git (gitsync.c); git is NULL without -o git. */
	struct kfs_git *git;
	struct kfs_destinations dests;
	bool pushing;                   /* -o git_push is set */
	unsigned long long work_serials; /* serials handed out to works so far, atomic */
	pthread_mutex_t git_lock;       /* guards the fields below */
	unsigned long long commit_seq;  /* commits made so far */
	unsigned long long pushed_seq;  /* commits known to be on the remote */
	struct { char hex[41]; unsigned long long seq; } recent[64]; /* commit -> seq */
	char *push_error;               /* the last push failure, NULL once a push lands */
	char push_time[32];             /* when the last push ended (RFC 3339) */
	uint64_t push_stamp;            /* grows with every push outcome; atomic, written under git_lock */
	char pushed_head[41];           /* the last head a push left on the remote */
	struct git_event *events;       /* queue for the worker */
	pthread_cond_t events_cond;
	bool stopping;
	pthread_t worker;
	bool worker_started;
	struct kfs_git_work *batch;     /* works of the requests being recovered */
	struct request **batch_owners;
	bool *batch_placed; /* whether any of the owner's files has a destination */
	bool recovered;     /* the state folder is read back: Git events may change requests */
	size_t nbatch;
	bool recovering;

	/* How many requests each promise serves (promise_lifecycle.c), by promise name: entries
	 * are never removed, so a request's `counted` name stays valid. */
	pthread_mutex_t count_lock;
	struct promise_count { char *name; size_t n; } *counts;
	size_t ncounts;
	pthread_mutex_t pview_lock; /* a promise's view swapped by a reader (promises read-locked) */
	/* retryAfter (retry.c): requests whose workflow runs again at a time. The thread starts
	 * with the first retry and ends at close. */
	pthread_mutex_t retry_lock;     /* guards the fields below */
	pthread_cond_t retry_cond;
	struct retry_item *retries;     /* sorted by time */
	pthread_t retry_thread;
	bool retry_started, retry_stopping;
};

/* conditions.c */
/* Now in RFC 3339 (UTC, seconds), as conditions show it. */
void kfs_now_rfc3339(char out[32]);
/* The condition of that type, or NULL. */
const struct condition *kfs_conds_find(const struct conditions *c, const char *type);
/* Sets condition type to (status, reason, message); lastTransitionTime becomes now when it is new
 * or its status changed. True when anything changed. */
/* Takes the condition of this type out, if there is one. */
void kfs_conds_remove(struct conditions *c, const char *type);
bool kfs_conds_set(struct conditions *c, const char *type, const char *status, const char *reason,
		   const char *message, const char *now);
void kfs_conds_free(struct conditions *c);
void kfs_conds_copy(struct conditions *dst, const struct conditions *src);
/* The conditions as the sequence status.yaml shows. */
struct kfs_node *kfs_conds_node(const struct conditions *c);
/* Adds the conditions of a YAML sequence (a state folder record written as YAML). */
void kfs_conds_from_node(struct conditions *c, const struct kfs_node *seq);
/* Sets Kratix's WorksSucceeded and Reconciled conditions of r from its state (write_lock held):
 * the configure workflow's outcome (ConfigureWorkflowCompleted), a suspension, and the works:
 * committed (with Git), rendered (without), or what feedback said. See conditions.c. */
void kfs_reconcile_conditions(struct kfs_store *s, struct request *r);

/* record.c: a request's state folder record */
/* What a record holds, decoded (owned copies). */
struct record {
	unsigned long long generation, observed;
	enum phase phase;
	char *message, *rejection, *log;
	char *promise; /* the promise that rendered it, or NULL */
	char commit[41];
	bool unlinked;
	char *object, *good, *draft; /* NULL: none; good NULL with object: the same bytes */
	size_t object_len, good_len, draft_len;
	struct kfs_owner owner;
	unsigned has_owner; /* bits: 1 uid, 2 gid, 4 mode, 8 objectMode were recorded */
	struct conditions conds;
	struct slot_files *edits; /* the root slot's changed files (slot.c), or NULL */
	/* The persisted status (NULL in records older than it: the status is then what a render
	 * of the last good input gives) and the status that render started from. */
	char *status, *status_base;
	long long retry_at;
};
/* Appends r's record (typed fields; see record.c) to b. */
void kfs_record_encode(const struct request *r, struct kfs_buf *b);
/* Reads a record (typed, or YAML from an older state folder) into rec; -EINVAL for a record that
 * is cut or malformed. Free with kfs_record_free. */
int kfs_record_decode(const char *payload, size_t len, struct record *rec, struct kfs_error *err);
void kfs_record_free(struct record *rec);

/* view.c */
struct blob; /* a file's bytes and path, shared by views, with an id (outputs: a digest) */
/* A view under construction. */
struct view_builder {
	struct kfs_view_file *files;
	size_t n, cap;
};
struct blob *kfs_blob_of(const struct kfs_view_file *f);
struct blob *kfs_blob_get(struct blob *b);
void kfs_blob_put(struct blob *b);
/* An output blob's SHA-256 digest ("sha256:<hex>"), NULL for other blobs. */
const char *kfs_blob_digest(const struct blob *b);
/* Adds a file holding blob b (its reference is taken), at the path b was made for: a blob is
 * only ever shared at its own path, and holds it. */
void kfs_vb_add_blob(struct view_builder *vb, struct blob *b, bool writable);
/* Adds a file with new bytes. */
void kfs_vb_add(struct view_builder *vb, const char *path, const char *data, size_t len,
		bool writable);
/* The same, reusing old's blob at path (and so its id) when it holds the same bytes. */
void kfs_vb_add_kept(struct view_builder *vb, const struct kfs_view *old, const char *path,
		     const char *data, size_t len, bool writable);
/* An output: hashed once here; old's blob at path is reused when its digest is the same. */
void kfs_vb_add_output(struct view_builder *vb, const struct kfs_view *old, const char *path,
		       const char *data, size_t len);
/* Makes the view (a new serial) of vb's files and fixed_dirs (NULL-terminated); vb is emptied. */
struct kfs_view *kfs_vb_finish(struct kfs_store *s, struct view_builder *vb,
			       const char *const *fixed_dirs);
struct kfs_view *kfs_view_get(struct kfs_view *v);
/* The daemon's user owns what no mkdir made: the root, promises, and requests of old states. */
struct kfs_owner kfs_default_owner(void);

/* store.c */
struct request *kfs_request_new(const char *name);
/* The request in the sorted table (table_lock held); *pos: where it is or would go. */
struct request *kfs_table_find(struct kfs_store *s, const char *name, size_t *pos);
void kfs_table_insert(struct kfs_store *s, struct request *r, size_t pos);
void kfs_set_text(char **field, const char *text);
void kfs_set_bytes(char **field, size_t *len, const char *data, size_t n);

/* Logs one event line (see kfs_store_options.log). */
void kfs_store_log(struct kfs_store *s, enum kfs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same with " error=<message>" appended, quoted and masked. */
void kfs_store_log_error(struct kfs_store *s, enum kfs_log_level level, const char *error,
			 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Masks secret values in a message meant for a log or a status: on every line that names a
 * password or token, quoted values and what follows "got " are replaced by "***". */
char *kfs_store_mask(const char *msg);
/* Milliseconds since start, for durations in log lines. */
double kfs_store_elapsed_ms(const struct timespec *start);
struct request *kfs_store_request_get(struct kfs_store *s, const char *name);
void kfs_store_request_put(struct request *r);
bool kfs_store_set_condition(struct request *r, const char *type, const char *status,
			     const char *reason, const char *message);

/* publish.c */
/* Rebuilds r's view; res (outputs) NULL keeps the published outputs. write_lock held. */
void kfs_store_publish(struct kfs_store *s, struct request *r, const struct kfs_render_result *res);
/* Says that folder changed: the requests/ and promises/ mtime, the root's stamp, on_publish. */
void kfs_store_notify(struct kfs_store *s, const char *folder);
/* Keeps a render's status fragment (taken) as masked YAML text in *field; NULL or an empty map
 * clears it. */
void kfs_set_render_status(char **field, struct kfs_node *status);
/* Drops the daemon's condition types from a render's status (see publish.c); base: the status
 * the render started from (NULL: none), whose daemon conditions are not the pipeline's. */
void kfs_drop_daemon_conditions(struct kfs_store *s, struct request *r, struct kfs_node *status,
				const struct kfs_node *base, bool to_log);
/* The status a render of r starts from (kfs_render_input.status): Kratix's fields as r shows
 * them (message, conditions) with the pipelines' persisted status merged on. write_lock held. */
struct kfs_node *kfs_status_input(const struct request *r);
/* Keeps a render's result status as r's persisted status (res_status taken; NULL: no
 * pipeline wrote one, the status stays): the daemon's conditions and a message that was only
 * the daemon's are dropped (base: the status the render started from). */
void kfs_keep_status(struct kfs_store *s, struct request *r, struct kfs_node *res_status,
		     const struct kfs_node *base, bool to_log);
/* Adds to *log one line per output path that two pipelines of res wrote: output/ shows the
 * later pipeline's (p's workflow order). */
void kfs_note_shadowed(const struct kfs_promise *p, const struct kfs_render_result *res,
		       char **log);

/* recover.c */
int kfs_store_persist(struct kfs_store *s, const struct request *r, struct kfs_error *err);
/* Reads the state folder back (kfs_store_open). */
int kfs_store_recover(struct kfs_store *s, struct kfs_error *err);
/* The root status.yaml's `recovery` map, when the state folder was found damaged at start. */
void kfs_recovery_status(struct kfs_store *s, struct kfs_node *status);

/* promises.c */
const struct kfs_promise *kfs_store_find_promise(struct kfs_store *s, const char *name);
/* The loaded promise doc asks for (promises read-locked), or NULL with err saying why. */
const struct kfs_promise *kfs_match_promise(struct kfs_store *s, const struct kfs_node *doc,
					    struct kfs_error *err);
int kfs_scan_promises(struct kfs_store *s, struct promise_entry *old, size_t nold,
		      struct promise_entry **out, size_t *nout, bool **changed,
		      struct kfs_error *err);
void kfs_free_entries(struct promise_entry *list, size_t n);
/* How many requests each of the n promises rendered, in a new array (promises_lock not held). */
size_t *kfs_count_requests(struct kfs_store *s, const struct promise_entry *list, size_t n);
void kfs_build_promise_view(struct kfs_store *s, struct promise_entry *e, size_t nrequests);
/* The view of promises/<name>, its status.yaml built again if its request count moved. */
struct kfs_view *kfs_promise_view(struct kfs_store *s, const char *name);
/* Available, Degraded (the last good version in use) or Unavailable. */
const char *kfs_promise_phase(const struct promise_entry *e);

/* promise_lifecycle.c */
void kfs_promise_state_init(struct kfs_store *s);
void kfs_promise_state_free(struct kfs_store *s);
/* Counts r for its promise now that it is published (write_lock held): a request counts while
 * it holds an object.yaml in force. */
void kfs_promise_count(struct kfs_store *s, struct request *r);
/* How many requests promise name serves. */
size_t kfs_promise_requests(struct kfs_store *s, const char *name);
/* Evaluates every entry's spec.requiredPromises against the others (required, unmet). */
void kfs_promise_requirements(struct promise_entry *list, size_t n);
/* -EINVAL (err says why, naming the promise) when r may not be rendered: its promise is gone
 * from the promises folder, or p (the promise that would render it, or NULL) does not serve
 * requests; r NULL checks p only. Otherwise 0, and r's PromiseAvailable condition goes.
 * promises read-locked, r's write_lock held. */
int kfs_promise_refuse(struct kfs_store *s, struct request *r, const struct kfs_promise *p,
		       struct kfs_error *err);
/* When r's promise is gone or does not serve requests, sets r's message and PromiseAvailable
 * condition (r keeps its outputs and its Works) and returns true. write_lock held, promises not
 * locked (or recovering). */
bool kfs_promise_held(struct kfs_store *s, struct request *r);
/* A promise is no longer loaded from any folder (its folder went, or holds another promise
 * now): its promise delete workflow runs (the first pipeline, as Kratix) and its Works leave
 * the Git store in one Delete commit. promises_lock NOT held: p is already out of s->promises,
 * and the workflow may run a container for up to exec_timeout. */
void kfs_promise_removed(struct kfs_store *s, const struct kfs_promise *p);
/* The pipeline Kratix runs of p's delete workflow of type t (the first), or NULL when none. */
const char *kfs_promise_delete_pipeline(const struct kfs_promise *p, enum kfs_wtype t);

/* write.c */
/* What a change may alter in a request, kept until the state folder has stored the new record:
 * a change the state folder cannot store (a full disk) changes nothing. */
struct saved {
	char *object, *good, *draft, *promise, *ns, *message, *rejection, *log, *warnings;
	struct conditions conds;
	char *render_status, *status_base;
	long long retry_at;
	size_t object_len, good_len, draft_len;
	bool unlinked;
	unsigned long long generation, observed;
	enum phase phase;
	struct kfs_node *selectors;
	struct slot_files *edits;
};
void kfs_save_request(const struct request *r, struct saved *sv);
void kfs_saved_free(struct saved *sv);
/* Stores r's new record before anything shows it; on failure r goes back to sv and err says
 * why (-ENOSPC for a full disk). */
int kfs_persist_or_restore(struct kfs_store *s, struct request *r, struct saved *sv,
			   struct kfs_error *err);
/* A write of data to r, write_lock held; force: a re-render (promise reload) of the same bytes. */
int kfs_submit_locked(struct kfs_store *s, struct request *r, const char *data, size_t len,
		      bool force, struct kfs_error *err);
/* Renders data for r from status (kfs_render_input.status, or NULL) (write_lock held,
 * promises read-locked): see write.c. */
int kfs_render_request(struct kfs_store *s, struct request *r, const char *data, size_t len,
		       const struct kfs_node *status, const struct kfs_promise **used,
		       struct kfs_render_result *res, struct kfs_error *err);
/* Whether res's workflow-control.yaml suspends the workflow (suspend, or a retryAfter). */
bool kfs_render_suspended(const struct kfs_render_result *res);

/* retry.c */
/* Runs r's workflow again at at_ms (CLOCK_REALTIME, ms since the epoch), if r is still
 * suspended with retry_at == at_ms then. Any thread; takes retry_lock. */
void kfs_retry_schedule(struct kfs_store *s, const char *name, long long at_ms);
/* Now, as retry_at counts it. */
long long kfs_retry_now_ms(void);
/* Ends the timer thread (kfs_store_close); queued retries are dropped (recorded: the next
 * start schedules them again). */
void kfs_retry_stop(struct kfs_store *s);

/* slot.c: the root slot's files as other processes changed them since its last run */
struct slot_files;
struct slot_files *kfs_slot_files_copy(const struct slot_files *f);
void kfs_slot_files_free(struct slot_files *f);
/* The set as a record field's bytes, and back (NULL: malformed). */
void kfs_slot_files_encode(const struct slot_files *f, struct kfs_buf *b);
struct slot_files *kfs_slot_files_decode(const char *data, size_t len);
/* Adds f's files whose path starts with prefix ("output/", "metadata/") to vb. */
void kfs_slot_add_files(struct view_builder *vb, const struct kfs_view *old,
			const struct slot_files *f, const char *prefix);
/* Every folder of f, NULL-terminated: the view's folders. */
const char *const *kfs_slot_dirs(const struct slot_files *f);
/* The pipelines' status text r's status merges: its changed metadata/status.yaml, if any, else
 * the render's (r->render_status). */
const char *kfs_slot_status_text(const struct request *r);
/* Marks the files of v under output/ and metadata/ writable: the slot's are. */
void kfs_slot_mark_writable(struct kfs_view *v);
/* slot_check.c: checks data as the slot's file at path, as a render checks its files and Kratix
 * its metadata; *keep gets the text to keep instead of data (a status.yaml masked) or NULL. */
int kfs_slot_check_file(struct kfs_store *s, const char *path, const char *data, size_t len,
			char **keep, struct kfs_error *err);

/* gitsync.c */
/* Opens the repository and destinations and starts the worker; a no-op without opts->git_repo. */
int kfs_gitsync_open(struct kfs_store *s, const struct kfs_store_options *opts,
		     struct kfs_error *err);
void kfs_gitsync_close(struct kfs_store *s);
/* The Git thread's on_event (ctx: the store): a copy of the event goes to the worker's queue,
 * nothing more (the Git thread must not wait for a request). The worker records a push's
 * outcome in the store-wide push state, and a retried commit's outcome in its owner's status if
 * the work is the owner's last. */
void kfs_gitsync_on_event(void *ctx, const struct kfs_git_event *e);
/* The push state now (all zero without -o git). Any thread; takes git_lock. */
void kfs_gitsync_push_state(struct kfs_store *s, struct kfs_push_state *out);
/* Commits r's render (res NULL: the Delete work) and records the outcome in r: commit,
 * Committed condition, phase. write_lock held, promises read-locked. While recovering, the work
 * is only queued, for kfs_gitsync_flush. */
void kfs_gitsync_request(struct kfs_store *s, struct request *r, const struct kfs_promise *p,
			 const struct kfs_render_result *res);
/* Takes r's work out of the recovery's commit (write_lock held or recovering): its last change
 * was lost from the state folder, and the Git store keeps the files of that change rather than
 * the older render. r says so in its Committed condition. */
void kfs_gitsync_keep(struct kfs_store *s, struct request *r);
/* Commits the recovered requests' works as one commit (a start makes one commit at most);
 * from then on, push and retry events reach the requests. */
void kfs_gitsync_flush(struct kfs_store *s);
/* A background retry of promise name's work serial ended (error NULL: committed): its
 * status.yaml says so, unless the promise has a newer work since. Takes promises_lock. */
void kfs_store_promise_committed(struct kfs_store *s, const char *name, unsigned long long serial,
				 const char *error);
/* Commits a promise's workflow outputs and static dependencies. promises write-locked. */
void kfs_gitsync_promise(struct kfs_store *s, struct promise_entry *e,
			 const struct kfs_render_result *res);
/* The root status.yaml's `git` map: the branch head and whether it is pushed. */
void kfs_gitsync_root_status(struct kfs_store *s, struct kfs_node *status);
/* Sets r's Pushed condition from the store-wide push state (write_lock held) and returns the
 * push stamp it read: a status built now is current until the stamp moves. */
uint64_t kfs_gitsync_pushed(struct kfs_store *s, struct request *r);
/* The status keys Git adds: commit and pushed. */
void kfs_gitsync_status(struct kfs_store *s, const struct request *r, struct kfs_node *status);

#endif
