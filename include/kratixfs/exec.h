/* The exec layer (src/exec): runs a promise's image and script containers under bubblewrap,
 * as Kratix runs them in a pipeline pod, without Docker or Kubernetes.
 *
 *   image.c and friends  find an image (local container storage, an OCI layout folder, a
 *                        docker/podman save archive), unpack it once by digest into a cache
 *   dockerfile.c         read a container folder's Dockerfile into a recipe on a base image
 *   run.c and friends    lay out /kratix, run the container under bwrap, read it back: the
 *                        struct kfs_exec that kfs_render calls (render.h) */
#ifndef KRATIXFS_EXEC_H
#define KRATIXFS_EXEC_H

#include <stdbool.h>
#include <stddef.h>

#include "kratixfs/buf.h"
#include "kratixfs/error.h"
#include "kratixfs/render.h"

/* ---------- images ---------- */

/* An unpacked image: its root folder (read-only to containers) and its config. */
struct kfs_image {
	char *ref;        /* as asked for, e.g. "ghcr.io/syntasso/redis-configure-pipeline:v0.1.0" */
	char *digest;     /* "sha256:<hex>" of its config (the image ID): the cache key */
	char *rootfs;     /* the unpacked root folder */
	char **entrypoint; /* NULL-ended, or NULL */
	char **cmd;        /* NULL-ended, or NULL */
	char **env;        /* "NAME=value", NULL-ended, or NULL */
	char *workdir;     /* or NULL */
	char *user;        /* "uid[:gid]" or a name, or NULL */
};

struct kfs_image_opts {
	const char *cache_dir;   /* where images are unpacked (created if missing) */
	const char *const *archives; /* -o images=PATH: OCI layout folders or save archives */
	size_t narchives;
	bool use_storage;        /* also look in local container storage (podman/buildah) */
};

/* Finds ref and unpacks it (once per digest; later calls reuse the cache). -ENOENT when it is
 * nowhere, with err naming the image, where it looked, and `podman pull IMAGE` / `podman load`. */
int kfs_image_get(const struct kfs_image_opts *opts, const char *ref, struct kfs_image **out,
		  struct kfs_error *err);
void kfs_image_free(struct kfs_image *img);

/* ---------- container folders ---------- */

/* One COPY or ADD of local files: src relative to the build context (the container folder). */
struct kfs_copy {
	char *src;   /* may name a folder; globs are expanded when the recipe is applied */
	char *dest;  /* absolute in the image (relative ones are taken from the WORKDIR then); a
		      * trailing '/' means "into this folder" */
	char *chown; /* --chown=USER[:GROUP] as written, or NULL */
	int chmod;   /* --chmod=OCTAL, or -1 */
	bool add;    /* ADD, not COPY: a local tar archive (maybe compressed) is unpacked at
		      * dest, as docker build does */
	int line;    /* the Dockerfile's line, for messages */
};

/* A Dockerfile read for running offline: FROM's image with COPY/ADD, ENV, WORKDIR,
 * ENTRYPOINT and CMD applied on top. RUN lines cannot run offline: they are listed. */
struct kfs_recipe {
	char *from;
	struct kfs_copy *copies;
	size_t ncopies;
	char **env;        /* "NAME=value" set by ENV (NULL-ended, or NULL) */
	char *workdir;     /* the last WORKDIR, or NULL */
	char **entrypoint; /* the last ENTRYPOINT (exec or shell form as argv), or NULL */
	char **cmd;        /* the last CMD, or NULL */
	char *user;        /* the last USER, or NULL */
	char **skipped;    /* "Dockerfile:LINE: RUN ..." lines that were not run, NULL-ended, or NULL */
	char *file;        /* the Dockerfile's path, for messages */
};

/* Reads dir/Dockerfile (or dir/Containerfile). Errors name the file and line. ARGs take their
 * defaults; a variable the Dockerfile does not set (the FROM image's, like $PATH) is kept as
 * ${NAME} in env, workdir and user, for kfs_recipe_apply to take from the image. A multi-stage
 * Dockerfile gives its last stage (with the stages it is FROM); COPY --from is refused. */
int kfs_recipe_load(const char *dir, struct kfs_recipe **out, struct kfs_error *err);
void kfs_recipe_free(struct kfs_recipe *r);

/* The config the folder's container runs with: base's (the FROM image), with the recipe's ENV
 * (${NAME} of the image's variables filled in), WORKDIR, USER, ENTRYPOINT and CMD on top; an
 * ENTRYPOINT with no CMD in the recipe drops the image's CMD, as docker build does. *out is a
 * new image with base's ref, digest and rootfs (the COPYs are for the runner to lay over it). */
int kfs_recipe_apply(const struct kfs_recipe *r, const struct kfs_image *base,
		     struct kfs_image **out, struct kfs_error *err);
/* A COPY's destination made absolute: a relative one (written before any absolute WORKDIR)
 * is taken from the FROM image's WorkingDir, else from "/". Allocated. */
char *kfs_recipe_dest(const struct kfs_copy *c, const struct kfs_image *base);

/* ---------- running ---------- */

struct kfs_exec_opts {
	struct kfs_image_opts images;
	double timeout;       /* seconds a container may run (-o exec_timeout, default 60) */
	size_t memory_limit;  /* bytes of address space, 0: the default */
	unsigned max_procs;   /* processes, 0: the default */
	const char *bwrap;    /* the bwrap binary, NULL: "bwrap" on PATH */
};

/* The runner kfs_render uses: kfs_exec_new(...)->run(ctx, call, reply, err). */
struct kfs_exec *kfs_exec_new(const struct kfs_exec_opts *opts);
void kfs_exec_free(struct kfs_exec *e);

#endif
