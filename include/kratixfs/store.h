/* The store: every request's accepted input, lifecycle and published render, kept in memory for
 * readers and in the state folder for restarts. It is what the mount shows, without FUSE:
 * front ends call it and turn its negative errno codes into replies.
 *
 * Readers take views: immutable, reference-counted snapshots of one folder of the tree (a
 * request, the root slot, a promise, the root). A publish swaps the view under a lock, so a
 * reader holds either the old set of files or the new one, never a mix. */
#ifndef KRATIXFS_STORE_H
#define KRATIXFS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "kratixfs/error.h"

struct kfs_exec;

enum kfs_log_level { KFS_LOG_ERROR, KFS_LOG_WARN, KFS_LOG_INFO, KFS_LOG_DEBUG };

struct kfs_store_options {
	const char *promises_dir; /* one sub-folder per promise */
	const char *state_dir;    /* created if missing */
	size_t max_input;         /* bytes; larger writes get -EFBIG */
	/* Called after each publish (from the thread that published) with the view's folder,
	 * e.g. "requests/my-db", so a front end can invalidate caches from another thread. */
	void (*on_publish)(void *ctx, const char *folder);
	void *on_publish_ctx;
	/* The Git state store (docs/git.md), all optional: a bare repository (created if missing),
	 * its branch (default main), a remote to push to, and a YAML stream of Destinations. */
	const char *git_repo;
	const char *git_branch;
	const char *git_push;
	const char *destinations;
	/* One line per event (render, rejection, commit, push, delete, reload) with the request's
	 * name and the duration, e.g. "render request=my-db promise=postgresql generation=2
	 * outputs=3 duration=0.15ms". Never a secret value. NULL: no log. */
	void (*log)(void *ctx, enum kfs_log_level level, const char *line);
	void *log_ctx;
	/* Runs image and script containers (render.h), or NULL: they fail with an error. */
	const struct kfs_exec *exec;
};

/* One file of a view: path relative to the view's folder ("output/x.yaml", "phase"). */
struct kfs_view_file {
	char *path;
	char *data;
	size_t len;
	bool writable; /* object.yaml, feedback: the only files a user may write */
	/* Built when read (status.yaml, phase, log): its bytes can change without a publish of its
	 * folder, so a front end must not cache them; it takes a fresh view at each open. */
	bool live;
	/* Names these bytes: a later view of the folder has the same id at this path only if it has
	 * the same bytes there. A front end may give each id its own inode and cache it for long. */
	uint64_t id;
};

/* Who owns a request folder and its object.yaml: the user whose mkdir made it. With
 * allow_other the kernel checks these (default_permissions), so they must be real. */
struct kfs_owner {
	uid_t uid;
	gid_t gid;
	mode_t dir_mode; /* permission bits of the folder (and of output/, metadata/) */
	mode_t obj_mode; /* permission bits of object.yaml and feedback */
};

struct kfs_view {
	int refs;              /* atomic; kfs_view_put frees at zero */
	struct kfs_owner owner; /* of a request folder; the daemon's user for the others */
	uint64_t serial;       /* grows with every publish of this folder */
	struct timespec mtime; /* when it was published */
	struct kfs_view_file *files; /* sorted by path */
	size_t nfiles;
	char **dirs;           /* every sub-folder ("output", "output/sub", "metadata"), sorted */
	size_t ndirs;
};

struct kfs_store;

/* Loads the promises, recovers every request from the state folder (re-rendering each from its
 * last accepted input) and cleans what an interrupted write left behind. */
int kfs_store_open(const struct kfs_store_options *opts, struct kfs_store **out,
		   struct kfs_error *err);
void kfs_store_close(struct kfs_store *s);

/* The view of a folder, or NULL when there is none. Folders:
 *   ""                 the root: status.yaml (daemon-wide) and the pipeline slot's
 *                      input/object.yaml, output/..., metadata/...
 *   "promises/<name>"  promise.yaml, status.yaml, output/... (promise workflow + static deps)
 *   "requests/<name>"  object.yaml (once accepted), output/..., metadata/..., status.yaml, phase,
 *                      log, feedback
 * A status shows the push state (docs/git.md) as it is when the view is taken: after a push, a
 * request's view is built again with its new status.yaml and the same serial (nothing else
 * changed), which may wait for a write of that request in progress.
 * Release with kfs_view_put. */
struct kfs_view *kfs_store_view(struct kfs_store *s, const char *folder);
void kfs_view_put(struct kfs_view *v);
/* The file at path in v, or NULL. */
const struct kfs_view_file *kfs_view_file(const struct kfs_view *v, const char *path);
/* True when path ("" for the view's own folder) is a folder of v. */
bool kfs_view_is_dir(const struct kfs_view *v, const char *path);

/* When anything was last published: the mtime of the requests/ and promises/ folders. */
struct timespec kfs_store_mtime(struct kfs_store *s);

/* Names of requests or promises (sorted); free with kfs_store_free_names. */
int kfs_store_list(struct kfs_store *s, const char *kind /* "requests" | "promises" */,
		   char ***names, size_t *n);
void kfs_store_free_names(char **names, size_t n);

/* Creates an empty request (phase Pending). -EINVAL for a name that is not a DNS-1123 label,
 * -EEXIST when it exists. */
int kfs_store_create(struct kfs_store *s, const char *name, struct kfs_error *err);
/* The same, owned by o (NULL: the daemon's user, 0755/0644). */
int kfs_store_create_as(struct kfs_store *s, const char *name, const struct kfs_owner *o,
			struct kfs_error *err);
/* chmod of a request folder (object false) or its object.yaml, by the user caller: its owner or
 * root may (-EPERM otherwise). Kept in the state folder. */
int kfs_store_chmod(struct kfs_store *s, const char *name, bool object, mode_t mode, uid_t caller,
		    struct kfs_error *err);
/* chown of a request (its folder and object.yaml; -1 keeps a field) by caller: root may give it
 * to anyone; its owner may only change the group to caller_gid (-EPERM otherwise). */
int kfs_store_chown(struct kfs_store *s, const char *name, uid_t uid, gid_t gid, uid_t caller,
		    gid_t caller_gid, struct kfs_error *err);
/* Submits new object.yaml bytes (the write rules of docs/mount.md): 0 published; -EINVAL
 * rejected (previous content kept; with no object.yaml in the folder, the refused bytes are kept
 * as a draft, shown but not in force); -EFBIG too large (len may exceed the bytes held in data:
 * only the first max_input + 1 are read); -ENOSPC or -EIO the state folder cannot store it
 * (nothing changes); -EIO accepted but the render failed (new content kept, last good outputs
 * kept, phase Error). Writes of one request are serialized; different requests render in
 * parallel. The same bytes twice change nothing. */
int kfs_store_submit(struct kfs_store *s, const char *name, const char *data, size_t len,
		     struct kfs_error *err);
/* What kfs_store_submit would answer for these bytes (0, -EINVAL, -EFBIG), without changing,
 * publishing or committing anything. */
int kfs_store_check(struct kfs_store *s, const char *name, const char *data, size_t len,
		    struct kfs_error *err);
/* Submits the root slot's input/object.yaml: a request or a kind: Promise document. An
 * accepted render starts a new run: output/ and metadata/ become the render's, whatever other
 * processes changed there (the same bytes again too, once they changed something). */
int kfs_store_submit_slot(struct kfs_store *s, const char *data, size_t len,
			  struct kfs_error *err);
/* The root slot as a pipeline's shared /kratix (docs/mount.md): between runs, other processes
 * change files and folders under output/ and metadata/. Paths are relative to the root
 * ("output/sub/a.yaml"); one that does not stay inside output/ or metadata/ gets -EINVAL. Each
 * change is checked as a render's files are (-EIO: a .yaml output that is not YAML, a
 * metadata/status.yaml Kratix would refuse, invalid destination selectors or workflow control;
 * -EFBIG over max_input), stored in the state folder (-ENOSPC, -EIO) and published; a refused
 * one changes nothing. -ENOENT, -EEXIST, -EISDIR, -ENOTDIR, -ENOTEMPTY as a filesystem says. */
int kfs_store_slot_put(struct kfs_store *s, const char *path, const char *data, size_t len,
		       struct kfs_error *err);
/* The root slot's run: it changes each time a write of input/object.yaml starts a new run. */
uint64_t kfs_store_slot_run(struct kfs_store *s);
/* kfs_store_slot_put by a writer that opened the file during run `run` (kfs_store_slot_run):
 * -ESTALE, changing nothing, when a new run started since (its bytes belong to the old run). */
int kfs_store_slot_put_in(struct kfs_store *s, uint64_t run, const char *path, const char *data,
			  size_t len, struct kfs_error *err);
/* What kfs_store_slot_put would answer for these bytes' content, changing nothing. */
int kfs_store_slot_check(struct kfs_store *s, const char *path, const char *data, size_t len,
			 struct kfs_error *err);
int kfs_store_slot_remove(struct kfs_store *s, const char *path, struct kfs_error *err);
int kfs_store_slot_mkdir(struct kfs_store *s, const char *path, struct kfs_error *err);
int kfs_store_slot_rmdir(struct kfs_store *s, const char *path, struct kfs_error *err);
/* Renames a file (its content checked at the new path) or a folder with all it holds. */
int kfs_store_slot_rename(struct kfs_store *s, const char *from, const char *to, bool noreplace,
			  struct kfs_error *err);
/* Whether path lies inside the slot's output/ or metadata/ (not those folders themselves). */
bool kfs_store_slot_editable(const char *path);
/* unlink(object.yaml): hides the file (and drops a draft) but deletes nothing: the request stays
 * in force until its folder is removed, and the next write of object.yaml is an edit of it.
 * -ENOENT when the folder shows no object.yaml. */
int kfs_store_unlink_object(struct kfs_store *s, const char *name, struct kfs_error *err);
/* Deletes a request's object (running the promise's delete workflow if it has one): the folder
 * stays, empty, until kfs_store_remove. */
int kfs_store_delete_object(struct kfs_store *s, const char *name, struct kfs_error *err);
/* Removes a request folder: -ENOTEMPTY while it shows an object.yaml; a request whose
 * object.yaml was unlinked is deleted first (delete workflow, Git's Delete commit). */
int kfs_store_remove(struct kfs_store *s, const char *name, struct kfs_error *err);
/* The GitOps side reports back: "Applied", "Ready", "Ready @<generation>", "Error <message>"
 * (one line). -EINVAL for anything else or a stale generation. */
int kfs_store_feedback(struct kfs_store *s, const char *name, const char *data, size_t len,
		       struct kfs_error *err);
/* Re-reads the promises folder; every request of a promise that changed is re-rendered. A
 * promise that no longer loads keeps its last good version and says why in its status. */
int kfs_store_reload(struct kfs_store *s, struct kfs_error *err);

#endif
