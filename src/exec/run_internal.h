/* What the parts of the runner share (private to src/exec): run.c answers kfs_render's calls,
 * run_root.c builds the root a container sees, run_kratix.c lays out and reads back /kratix,
 * run_env.c builds its environment and command line, run_spawn.c runs bwrap with the limits. */
#ifndef KRATIXFS_RUN_INTERNAL_H
#define KRATIXFS_RUN_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "kratixfs/exec.h"

/* A growing NULL-ended list of strings (argv, envp, bwrap's arguments). */
struct strv {
	char **v;
	size_t n, cap;
};
void strv_add(struct strv *s, const char *text);   /* a copy */
void strv_take(struct strv *s, char *text);        /* takes text */
void strv_free(struct strv *s);

/* One runner: struct kfs_exec first, so kfs_render's ctx is the runner. */
struct runner {
	struct kfs_exec iface;
	struct kfs_exec_opts opts; /* strings and the archive list are the runner's copies */
	char *roots_dir;           /* <cache>/roots: one merged root per image and folder */
	char *runs_dir;            /* <cache>/runs: one private /kratix per call, removed after */
	pthread_mutex_t lock;      /* builds of merged roots; the notes below */
	char **noted;              /* "<Dockerfile>\n<mtime>\n<size>" whose skipped RUNs were logged */
	size_t nnoted;
};

/* What a call runs: a root folder, the files bound into it, the process and its setting. */
struct sandbox {
	char *root;          /* the merged root (read-only in the sandbox) */
	struct strv binds;   /* pairs: host path, path in the sandbox (read-only) */
	struct strv argv;
	struct strv env;     /* the process's whole environment */
	char *workdir;
	unsigned uid, gid;
	char *kratix;        /* the call's folder holding input/, output/, metadata/ */
};
void sandbox_free(struct sandbox *sb);

/* run_root.c: the merged root of image rootfs for folder (NULL for an image container): a
 * tree of hard links to the image's files, made once, under roots_dir, with the mount points
 * bwrap needs (/kratix/..., /proc, /dev, /tmp). */
int root_get(struct runner *r, const struct kfs_image *img, const char *folder, char **out,
	     struct kfs_error *err);
/* Binds the recipe's COPY/ADD sources (from folder, as it is now) into sb, creating their mount
 * points in sb->root; relative dests taken from base's WorkingDir (kfs_recipe_dest). */
int root_add_copies(struct runner *r, struct sandbox *sb, const struct kfs_recipe *rc,
		    const struct kfs_image *base, const char *folder, struct kfs_error *err);
/* Makes sure path (absolute in the sandbox) exists in root as a folder. */
int root_ensure_dir(struct runner *r, const char *root, const char *path, struct kfs_error *err);

/* Copies the tree src into the new folder dst: a writable copy (files copied, not linked). */
int root_copy_tree(const char *src, const char *dst, struct kfs_error *err);

/* run_kratix.c */
int kratix_layout(const char *dir, const struct kfs_exec_call *call, struct kfs_error *err);
int kratix_read_back(const char *dir, struct kfs_exec_reply *reply, struct kfs_error *err);

/* run_env.c: the environment (image, recipe, KRATIX_*, the container's env) and the command
 * line (Kubernetes' rules for command and args over ENTRYPOINT and CMD). */
int env_build(struct sandbox *sb, const struct kfs_exec_call *call, const struct kfs_image *img,
	      struct kfs_error *err);
int argv_build(struct sandbox *sb, const struct kfs_exec_call *call, const struct kfs_image *img,
	       struct kfs_error *err);
/* The user: "uid[:gid]" or names from root's /etc/passwd and /etc/group. */
int user_resolve(const char *root, const char *user, unsigned *uid, unsigned *gid,
		 struct kfs_error *err);

/* run_spawn.c: runs sb under bwrap; out/errs hold the last bytes the process printed. *status
 * is its wait status; *timed_out when it was killed for the time limit. */
struct spawn_result {
	int status;
	bool timed_out;
	struct kfs_buf out, errs;
	size_t out_cut, errs_cut; /* bytes dropped from the front of each */
};
int sandbox_run(const struct runner *r, const struct sandbox *sb, struct spawn_result *res,
		struct kfs_error *err);

#endif
