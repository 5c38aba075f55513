/* Inside the image half of the exec layer: references, sources (OCI layouts, save archives,
 * container storage), layers. Only exec.h crosses the layer. */
#ifndef KFS_EXEC_IMAGE_INTERNAL_H
#define KFS_EXEC_IMAGE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "kratixfs/buf.h"
#include "kratixfs/error.h"
#include "kratixfs/hash.h"
#include "kratixfs/node.h"

/* ---------- references (image_ref.c) ---------- */

/* An image reference as a user writes it, split: "ghcr.io/org/app:v1" or "app@sha256:...". */
struct img_ref {
	char *domain;  /* "docker.io", "localhost", "ghcr.io"... (docker.io when none was written) */
	char *path;    /* "library/busybox", "org/app" */
	char *tag;     /* "latest" when neither tag nor digest was written; NULL with a digest */
	char *digest;  /* "sha256:<hex>" or NULL */
	bool short_name; /* no domain was written: "busybox", "org/app" */
};

/* Splits text; -EINVAL (err names it) when it is not a reference. */
int img_ref_parse(const char *text, struct img_ref *out, struct kfs_error *err);
void img_ref_free(struct img_ref *r);
/* Whether a name an image is stored under ("localhost/x:1", "busybox:latest") is the image the
 * user asked for: both are taken as docker does (docker.io/library/ for short names), and a
 * short name also answers to localhost/, where podman and buildah keep what they build. */
bool img_ref_matches(const struct img_ref *want, const char *stored_name);
/* Whether s is a digest "sha256:" + 64 hex digits. */
bool img_is_digest(const char *s);

/* ---------- JSON through the YAML reader (image_json.c) ---------- */

/* A NULL-ended copy of a sequence of strings, or NULL when n is missing or not a sequence. */
char **img_json_strv(const struct kfs_node *n);
/* The text of a string at key, or NULL. */
const char *img_json_str(const struct kfs_node *map, const char *key);
/* Parses a JSON text (the YAML reader reads JSON); errors are prefixed with name. */
int img_json_parse(const struct kfs_buf *text, const char *name, struct kfs_node **out,
		   struct kfs_error *err);

/* The SHA-256 of a file as "sha256:<hex>". */
int img_digest_file(const char *path, char out[KFS_DIGEST_LEN], struct kfs_error *err);
/* The SHA-256 of a (maybe compressed) tar's uncompressed bytes, from a file or memory. */
int img_digest_uncompressed(const char *path, const void *mem, size_t len,
			    char out[KFS_DIGEST_LEN], struct kfs_error *err);

/* ---------- sources (oci_source.c, oci_index.c) ---------- */

/* One file of a source: in a layout folder, read from disk; in a tar archive, small ones are
 * held in memory from the first read, big ones (layers) copied out when they are needed. */
struct img_entry {
	char *name;        /* relative, without "./" */
	struct kfs_buf data; /* the bytes when loaded */
	bool loaded;
	long long size;
	char *link;        /* a symbolic link member: the member it names (as old docker saves'
			    * <id>/layer.tar), else NULL */
};

struct img_source {
	char *path;        /* as given in -o images= */
	bool is_dir;       /* an OCI layout folder (else a tar: docker-archive or oci-archive) */
	struct img_entry *entries;
	size_t nentries;
};

int img_source_open(const char *path, struct img_source *s, struct kfs_error *err);
void img_source_close(struct img_source *s);
/* Whether the source holds name. */
bool img_source_has(const struct img_source *s, const char *name);
/* Appends the bytes of a small file (JSON, a config). */
int img_source_read(const struct img_source *s, const char *name, struct kfs_buf *out,
		    struct kfs_error *err);

/* A layer to apply: where its bytes are, and the digest they must have. */
struct img_layer {
	char *name;          /* its name in the source */
	char *digest;        /* expected "sha256:<hex>" */
	bool digest_of_tar;  /* the digest is of the uncompressed tar (docker-archive's diff_ids),
			      * else of the blob as stored (OCI descriptors) */
	char *path;          /* a file holding it, once fetched; or */
	const struct kfs_buf *mem; /* its bytes held by the source */
};

/* An image found in a source: its config and its layers, in order. */
struct img_found {
	char digest[KFS_DIGEST_LEN]; /* of the config: the cache key */
	struct kfs_buf config;
	struct img_layer *layers;
	size_t nlayers;
	char *where;                 /* "OCI layout DIR", "docker archive FILE" for messages */
};

void img_found_free(struct img_found *f);
/* Finds want in the source. 1 found (f filled), 0 not there, negative on a broken source.
 * weak: a layout's ref.name that is only a tag ("1.0", as `buildah push oci:DIR:1.0` writes)
 * answers to any ref with that tag; asked only when no source holds the full name. */
int img_source_find(const struct img_source *s, const struct img_ref *want, bool weak,
		    struct img_found *f, struct kfs_error *err);
/* Makes every layer's bytes reachable (path or mem), copying big tar members into tmpdir. */
int img_source_fetch(const struct img_source *s, struct img_found *f, const char *tmpdir,
		     struct kfs_error *err);
/* Checks the config's and every layer's digest. */
int img_found_verify(const struct img_found *f, struct kfs_error *err);

/* OCI manifests and indexes: reads the manifest blob digest names into f. */
int img_oci_manifest(const struct img_source *s, const char *digest, struct img_found *f,
		     struct kfs_error *err);
/* The blob path of a digest in an OCI layout: "blobs/sha256/<hex>". */
char *img_blob_name(const char *digest);

/* ---------- layers (oci_layer.c) ---------- */

/* Applies one layer onto the root folder rootfd: whiteouts first (.wh.NAME removes NAME of the
 * layers below, .wh..wh..opq empties its folder), then its files. An entry with a ".." is
 * refused; absolute names are taken from the root; every path is resolved inside the root
 * (openat2 RESOLVE_IN_ROOT), so no symbolic link leads a write out of it. */
int img_layer_apply(int rootfd, const struct img_layer *layer, struct kfs_error *err);
/* Removes name under dirfd and all it holds, never following a symbolic link. */
int img_remove_at(int dirfd, const char *name);

/* ---------- container storage (image_storage.c) ---------- */

/* The storage folder podman and buildah share: graphroot in /etc/containers/storage.conf,
 * else /var/lib/containers/storage (root) or ~/.local/share/containers/storage. Allocated. */
char *img_storage_root(void);
/* Finds want in the storage's image list. 1 (id set to "sha256:<hex>"), 0, or negative. */
int img_storage_find(const char *root, const struct img_ref *want, char id[KFS_DIGEST_LEN],
		     struct kfs_error *err);
/* Copies the image out as an OCI layout folder dir (skopeo copy), for the OCI path. */
int img_storage_export(const char *root, const char *id, const char *dir, struct kfs_error *err);

#endif
