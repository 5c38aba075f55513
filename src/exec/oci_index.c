/* Finding an image in a source: a docker-archive's manifest.json (RepoTags), or an OCI layout's
 * index.json (the org.opencontainers.image.ref.name and io.containerd.image.name annotations,
 * or the manifest's digest), then its manifest, config and layers. */
#include "image_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "kratixfs/files.h"

char *img_blob_name(const char *digest)
{
	char *n = kfs_xmalloc(strlen(digest) + 16);
	strcpy(n, "blobs/sha256/");
	strcat(n, digest + 7);
	return n;
}

static int read_json(const struct img_source *s, const char *name, struct kfs_node **out,
		     struct kfs_error *err)
{
	struct kfs_buf text = {0};
	int rc = img_source_read(s, name, &text, err);
	if (rc == 0) {
		char *label = kfs_path_join(s->path, name);
		rc = img_json_parse(&text, label, out, err);
		free(label);
	}
	kfs_buf_free(&text);
	return rc;
}

static void set_where(const struct img_source *s, struct img_found *f, const char *kind)
{
	free(f->where);
	f->where = kfs_xmalloc(strlen(kind) + strlen(s->path) + 2);
	strcpy(f->where, kind);
	strcat(f->where, " ");
	strcat(f->where, s->path);
}

int img_oci_manifest(const struct img_source *s, const char *digest, struct img_found *f,
		     struct kfs_error *err)
{
	struct kfs_node *m = NULL;
	char *name = img_blob_name(digest);
	int rc = read_json(s, name, &m, err);
	free(name);
	if (rc < 0)
		return rc;
	const char *cfg = img_json_str(kfs_map_get(m, "config"), "digest");
	struct kfs_node *layers = kfs_map_get(m, "layers");
	if (!img_is_digest(cfg) || (layers && layers->type != KFS_SEQ)) {
		kfs_node_free(m);
		return kfs_error_set(err, -EINVAL, "%s: manifest %s has no sha256 config digest or "
				     "no layer list", s->path, digest);
	}
	strcpy(f->digest, cfg);
	name = img_blob_name(cfg);
	rc = img_source_read(s, name, &f->config, err);
	free(name);
	size_t n = layers ? layers->len : 0;
	f->layers = kfs_xcalloc(n ? n : 1, sizeof(*f->layers));
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const char *d = img_json_str(layers->items[i], "digest");
		if (!img_is_digest(d)) {
			rc = kfs_error_set(err, -EINVAL, "%s: manifest %s: layer %zu has no sha256 "
					   "digest", s->path, digest, i + 1);
			break;
		}
		f->layers[i].name = img_blob_name(d);
		f->layers[i].digest = kfs_xstrdup(d);
		f->nlayers++;
	}
	kfs_node_free(m);
	return rc;
}

/* The host's architecture as OCI platforms name it. */
static const char *host_arch(void)
{
	struct utsname u;
	if (uname(&u) < 0)
		return "amd64";
	if (strcmp(u.machine, "x86_64") == 0)
		return "amd64";
	if (strcmp(u.machine, "aarch64") == 0)
		return "arm64";
	if (strncmp(u.machine, "arm", 3) == 0)
		return "arm";
	return strcmp(u.machine, "i686") == 0 ? "386" : "amd64";
}

static bool is_index_type(const char *media)
{
	return media && (strstr(media, "image.index") || strstr(media, "manifest.list"));
}

/* The manifest digest an index names for this host: the entry whose platform is linux on the
 * host's architecture, else the only entry. */
static const char *pick_platform(const struct kfs_node *manifests)
{
	const char *arch = host_arch();
	for (size_t i = 0; manifests && i < manifests->len; i++) {
		struct kfs_node *p = kfs_map_get(manifests->items[i], "platform");
		const char *a = img_json_str(p, "architecture");
		const char *os = img_json_str(p, "os");
		if (a && strcmp(a, arch) == 0 && (!os || strcmp(os, "linux") == 0))
			return img_json_str(manifests->items[i], "digest");
	}
	if (manifests && manifests->len == 1)
		return img_json_str(manifests->items[0], "digest");
	return NULL;
}

/* Whether one index entry's names answer want. */
static bool entry_named(const struct kfs_node *desc, const struct img_ref *want, bool weak)
{
	struct kfs_node *ann = kfs_map_get(desc, "annotations");
	const char *keys[] = {"io.containerd.image.name", "org.opencontainers.image.ref.name"};
	for (size_t k = 0; k < 2; k++) {
		const char *name = img_json_str(ann, keys[k]);
		if (!name)
			continue;
		bool bare = !strchr(name, '/') && !strchr(name, ':');
		if (weak && bare && want->tag && strcmp(name, want->tag) == 0)
			return true;
		if (!weak && img_ref_matches(want, name))
			return true;
	}
	return false;
}

/* Follows one entry of index.json to its manifest (through a nested index for this host). */
static int oci_entry(const struct img_source *s, const struct kfs_node *desc, struct img_found *f,
		     struct kfs_error *err)
{
	const char *digest = img_json_str(desc, "digest");
	if (!img_is_digest(digest))
		return kfs_error_set(err, -EINVAL, "%s: index.json: an entry has no sha256 digest",
				     s->path);
	if (!is_index_type(img_json_str(desc, "mediaType")))
		return img_oci_manifest(s, digest, f, err);
	struct kfs_node *inner = NULL;
	char *name = img_blob_name(digest);
	int rc = read_json(s, name, &inner, err);
	free(name);
	if (rc < 0)
		return rc;
	const char *pick = pick_platform(kfs_map_get(inner, "manifests"));
	if (!img_is_digest(pick))
		rc = kfs_error_set(err, -ENOENT, "%s: index %s has no image for linux/%s", s->path,
				   digest, host_arch());
	else
		rc = img_oci_manifest(s, pick, f, err);
	kfs_node_free(inner);
	return rc;
}

static int find_oci(const struct img_source *s, const struct img_ref *want, bool weak,
		    struct img_found *f, struct kfs_error *err)
{
	struct kfs_node *index = NULL;
	int rc = read_json(s, "index.json", &index, err);
	if (rc < 0)
		return rc;
	struct kfs_node *ms = kfs_map_get(index, "manifests");
	int found = 0;
	for (size_t i = 0; ms && ms->type == KFS_SEQ && i < ms->len && !found; i++) {
		struct kfs_node *d = ms->items[i];
		const char *digest = img_json_str(d, "digest");
		bool by_digest = want->digest && digest && strcmp(want->digest, digest) == 0;
		if (!by_digest && !want->digest && !entry_named(d, want, weak))
			continue;
		if (!by_digest && want->digest && weak)
			continue;
		img_found_free(f);
		rc = oci_entry(s, d, f, err);
		if (rc < 0)
			break;
		/* name@sha256:<config digest> (an image ID) is a match too */
		found = by_digest || !want->digest || strcmp(want->digest, f->digest) == 0;
	}
	kfs_node_free(index);
	if (rc < 0 || !found) {
		img_found_free(f);
		return rc < 0 ? rc : 0;
	}
	set_where(s, f, s->is_dir ? "OCI layout" : "OCI archive");
	return 1;
}

/* Fills f from one manifest.json entry of a docker-archive. */
static int docker_entry(const struct img_source *s, const struct kfs_node *e, struct img_found *f,
			struct kfs_error *err)
{
	const char *cfg = img_json_str(e, "Config");
	struct kfs_node *layers = kfs_map_get(e, "Layers");
	if (!cfg || !layers || layers->type != KFS_SEQ)
		return kfs_error_set(err, -EINVAL, "%s: manifest.json: an entry has no Config or "
				     "no Layers", s->path);
	int rc = img_source_read(s, cfg, &f->config, err);
	if (rc < 0)
		return rc;
	kfs_sha256_digest(f->config.data, f->config.len, f->digest);
	struct kfs_node *conf = NULL;
	rc = img_json_parse(&f->config, cfg, &conf, err);
	if (rc < 0)
		return rc;
	struct kfs_node *diff = kfs_node_at(conf, "rootfs.diff_ids");
	if (!diff || diff->type != KFS_SEQ || diff->len != layers->len) {
		kfs_node_free(conf);
		return kfs_error_set(err, -EINVAL, "%s: %s: rootfs.diff_ids does not list one "
				     "digest per layer of manifest.json", s->path, cfg);
	}
	f->layers = kfs_xcalloc(layers->len ? layers->len : 1, sizeof(*f->layers));
	for (size_t i = 0; i < layers->len && rc == 0; i++) {
		const char *name = layers->items[i]->type == KFS_STR ? layers->items[i]->text : NULL;
		const char *d = diff->items[i]->type == KFS_STR ? diff->items[i]->text : NULL;
		if (!name || !img_is_digest(d)) {
			rc = kfs_error_set(err, -EINVAL, "%s: layer %zu has no name or no sha256 "
					   "diff_id", s->path, i + 1);
			break;
		}
		f->layers[i].name = kfs_xstrdup(name);
		f->layers[i].digest = kfs_xstrdup(d);
		f->layers[i].digest_of_tar = true;
		f->nlayers++;
	}
	kfs_node_free(conf);
	return rc;
}

static bool docker_named(const struct kfs_node *e, const struct img_ref *want)
{
	struct kfs_node *tags = kfs_map_get(e, "RepoTags");
	for (size_t i = 0; tags && tags->type == KFS_SEQ && i < tags->len; i++)
		if (tags->items[i]->type == KFS_STR && img_ref_matches(want, tags->items[i]->text))
			return true;
	return false;
}

static int find_docker(const struct img_source *s, const struct img_ref *want,
		       struct img_found *f, struct kfs_error *err)
{
	struct kfs_node *list = NULL;
	int rc = read_json(s, "manifest.json", &list, err);
	if (rc < 0)
		return rc;
	int found = 0;
	for (size_t i = 0; list->type == KFS_SEQ && i < list->len && !found && rc == 0; i++) {
		if (!want->digest && !docker_named(list->items[i], want))
			continue;
		img_found_free(f);
		rc = docker_entry(s, list->items[i], f, err);
		found = rc == 0 && (!want->digest || strcmp(want->digest, f->digest) == 0);
	}
	kfs_node_free(list);
	if (rc < 0 || !found) {
		img_found_free(f);
		return rc < 0 ? rc : 0;
	}
	set_where(s, f, "docker archive");
	return 1;
}

int img_source_find(const struct img_source *s, const struct img_ref *want, bool weak,
		    struct img_found *f, struct kfs_error *err)
{
	memset(f, 0, sizeof(*f));
	if (img_source_has(s, "manifest.json"))
		return weak ? 0 : find_docker(s, want, f, err);
	if (img_source_has(s, "index.json"))
		return find_oci(s, want, weak, f, err);
	return kfs_error_set(err, -EINVAL,
			     "images=%s: neither an OCI layout (no index.json) nor a docker archive "
			     "(no manifest.json)", s->path);
}
