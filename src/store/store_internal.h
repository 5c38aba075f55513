/* What the store's two files share: store.c (requests, views, persistence) and gitsync.c
 * (commits to the Git state store and the push state shown in each status). */
#ifndef KRATIXFS_STORE_INTERNAL_H
#define KRATIXFS_STORE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "kratixfs/gitstore.h"
#include "kratixfs/render.h"
#include "kratixfs/sha256.h"
#include "kratixfs/store.h"

enum phase { PENDING, RENDERED, COMMITTED, APPLIED, READY, ERROR, NPHASES };
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
	/* Kept as YAML text, not trees: a tree costs several times the memory, and 10,000
	 * requests must fit in 100 MiB. Parsed (fast path, ~1 µs) when needed. */
	char *conditions;    /* a sequence, or NULL for none */
	char *render_status; /* the pipelines' metadata/status.yaml, merged, or NULL */
	struct kfs_node *selectors;
	char commit[41];                /* the commit holding the last good render, or "" */
	unsigned long long commit_seq;  /* which of the store's commits that was */
	unsigned long long work_serial; /* the serial of its last Git work (kfs_git_work) */
	bool placed;                    /* some of that work's files have a destination */
	pthread_mutex_t view_lock;      /* guards view only: held for a pointer swap */
	struct kfs_view *view;
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
	struct kfs_view *view;
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
};

/* Lock order: every lock of the daemon, outermost first. A thread holding one of them takes only
 * locks further down the list, so no cycle (no deadlock) can form; `make test-tsan` checks it.
 *
 *  1. fs->wlock (fs.h)            open handles; stat of a write handle takes its stat_lock
 *                                 (a leaf) under it
 *  2. a write handle's lock (fs.c) held over its close's submit into the store
 *  3. root_lock                   the cached root view; building it reads the table, the
 *                                 promises, the Git head and the slot's view
 *  4. table_lock                  an rmdir takes a request's write_lock under it
 *  5. a request's write_lock      a write renders under it, so it takes promises_lock (read);
 *                                 never table_lock: look a request up before locking it
 *  6. promises_lock               a reload writes it: it must not count requests (table_lock,
 *                                 write_lock) under it; count_requests_of runs before
 *  7. leaves, held only for their own data, never while taking another lock of this list:
 *     a request's view_lock, a write handle's stat_lock (fs.c), the journal's lock
 *     (journal.c), git_lock, the log's stdio stream (daemon.c: one fprintf a line), and the Git
 *     layer's rlock and qlock (src/git/gitstore.c: never held together; its callback,
 *     on_event, runs with neither held and takes git_lock only, to queue the event).
 */
struct kfs_store {
	char *promises_dir, *state_dir;
	size_t max_input;
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
};

/* store.c */
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
/* Rebuilds r's view; res (outputs) NULL keeps the published outputs. write_lock held. */
void kfs_store_publish(struct kfs_store *s, struct request *r, const struct kfs_render_result *res);
int kfs_store_persist(struct kfs_store *s, const struct request *r, struct kfs_error *err);
const struct kfs_promise *kfs_store_find_promise(struct kfs_store *s, const char *name);

/* gitsync.c */
/* Opens the repository and destinations and starts the worker; a no-op without opts->git_repo. */
int kfs_gitsync_open(struct kfs_store *s, const struct kfs_store_options *opts,
		     struct kfs_error *err);
void kfs_gitsync_close(struct kfs_store *s);
/* The Git thread's on_event (ctx: the store): a copy of the event goes to the worker's queue,
 * nothing more (the Git thread must not wait for a request). The worker records a retried
 * commit's outcome in its owner's status if the work is the owner's last. */
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
/* The status keys Git adds: commit, pushed, and the Pushed condition's state. */
void kfs_gitsync_status(struct kfs_store *s, const struct request *r, struct kfs_node *status);

#endif
