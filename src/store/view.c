/* Views: immutable, reference-counted snapshots of one folder, built from blobs (file bytes shared
 * by successive views, each with an id that names its bytes). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "kratixfs/doc.h"
#include "kratixfs/hash.h"
#include "store_internal.h"

/* File bytes shared by successive views. Each blob has its own id: a file keeps its id from one
 * view to the next only when the same blob (the same bytes) is reused. Output blobs also carry
 * the SHA-256 digest status.yaml shows, computed once, when the render made them. */
struct blob {
	int refs;
	bool hashed; /* data is followed by its digest (KFS_DIGEST_LEN bytes) */
	size_t len;
	uint64_t id;
	char data[];
};

static uint64_t next_blob_id; /* atomic */

/* A blob of data for the file at path: data, its NUL, the digest when hashed, then the path. */
static struct blob *blob_alloc(const char *path, const char *data, size_t len, bool hashed)
{
	size_t digest = hashed ? KFS_DIGEST_LEN : 0, plen = strlen(path) + 1;
	struct blob *b = kfs_xmalloc(sizeof(*b) + len + 1 + digest + plen);
	b->refs = 1;
	b->hashed = hashed;
	b->len = len;
	b->id = __atomic_add_fetch(&next_blob_id, 1, __ATOMIC_RELAXED);
	memcpy(b->data, data, len);
	b->data[len] = '\0';
	if (hashed)
		kfs_sha256_digest(data, len, b->data + len + 1);
	memcpy(b->data + len + 1 + digest, path, plen);
	return b;
}

/* The path a blob was made for: every view that shares it has it at that path. */
static char *blob_path(struct blob *b)
{
	return b->data + b->len + 1 + (b->hashed ? KFS_DIGEST_LEN : 0);
}

struct blob *kfs_blob_of(const struct kfs_view_file *f)
{
	return (struct blob *)(f->data - offsetof(struct blob, data));
}

const char *kfs_blob_digest(const struct blob *b)
{
	return b->hashed ? b->data + b->len + 1 : NULL;
}

struct blob *kfs_blob_get(struct blob *b)
{
	__atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
	return b;
}

void kfs_blob_put(struct blob *b)
{
	if (b && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(b);
}

void kfs_vb_add_blob(struct view_builder *vb, struct blob *b, bool writable)
{
	if (vb->n == vb->cap) {
		vb->cap = vb->cap ? vb->cap * 2 : 16;
		vb->files = kfs_xrealloc(vb->files, vb->cap * sizeof(*vb->files));
	}
	vb->files[vb->n++] = (struct kfs_view_file){
		.path = blob_path(b), .data = b->data, .len = b->len, .writable = writable};
}

void kfs_vb_add(struct view_builder *vb, const char *path, const char *data, size_t len,
		bool writable)
{
	kfs_vb_add_blob(vb, blob_alloc(path, data, len, false), writable);
}

/* old's blob at path when it holds these bytes (hashed: an output, compared by digest), else
 * NULL. */
static struct blob *same_blob(const struct kfs_view *old, const char *path, const char *data,
			      size_t len, const char *digest)
{
	const struct kfs_view_file *f = old ? kfs_view_file(old, path) : NULL;
	if (!f || f->len != len)
		return NULL;
	struct blob *b = kfs_blob_of(f);
	if (digest ? !b->hashed || strcmp(kfs_blob_digest(b), digest) != 0
		   : memcmp(f->data, data, len) != 0)
		return NULL;
	return kfs_blob_get(b);
}

void kfs_vb_add_kept(struct view_builder *vb, const struct kfs_view *old, const char *path,
		     const char *data, size_t len, bool writable)
{
	struct blob *b = same_blob(old, path, data, len, NULL);
	kfs_vb_add_blob(vb, b ? b : blob_alloc(path, data, len, false), writable);
}

void kfs_vb_add_output(struct view_builder *vb, const struct kfs_view *old, const char *path,
		       const char *data, size_t len)
{
	struct blob *fresh = blob_alloc(path, data, len, true);
	struct blob *b = same_blob(old, path, data, len, kfs_blob_digest(fresh));
	if (b)
		kfs_blob_put(fresh);
	kfs_vb_add_blob(vb, b ? b : fresh, false);
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct kfs_view_file *)a)->path,
		      ((const struct kfs_view_file *)b)->path);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_dir(char ***dirs, size_t *n, size_t *cap, const char *path, size_t len)
{
	for (size_t i = 0; i < *n; i++)
		if (strlen((*dirs)[i]) == len && strncmp((*dirs)[i], path, len) == 0)
			return;
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		*dirs = kfs_xrealloc(*dirs, *cap * sizeof(**dirs));
	}
	(*dirs)[(*n)++] = kfs_xstrndup(path, len);
}

/* The daemon's user owns what no mkdir made: the root, promises, and requests of old states. */
struct kfs_owner kfs_default_owner(void)
{
	return (struct kfs_owner){.uid = geteuid(), .gid = getegid(), .dir_mode = 0755,
				  .obj_mode = 0644};
}

struct kfs_view *kfs_vb_finish(struct kfs_store *s, struct view_builder *vb,
				  const char *const *fixed_dirs)
{
	struct kfs_view *v = kfs_xcalloc(1, sizeof(*v));
	v->refs = 1;
	v->serial = __atomic_add_fetch(&s->next_serial, 1, __ATOMIC_RELAXED);
	v->owner = kfs_default_owner();
	clock_gettime(CLOCK_REALTIME, &v->mtime);
	v->files = vb->files;
	v->nfiles = vb->n;
	if (v->nfiles > 1)
		qsort(v->files, v->nfiles, sizeof(*v->files), cmp_file);
	for (size_t i = 0; i < v->nfiles; i++) {
		v->files[i].id = kfs_blob_of(&v->files[i])->id;
		const char *base = strrchr(v->files[i].path, '/');
		base = base ? base + 1 : v->files[i].path;
		v->files[i].live = !strchr(v->files[i].path, '/') &&
				   (!strcmp(base, "status.yaml") || !strcmp(base, "phase") ||
				    !strcmp(base, "log"));
	}
	size_t cap = 0;
	for (const char *const *d = fixed_dirs; d && *d; d++)
		add_dir(&v->dirs, &v->ndirs, &cap, *d, strlen(*d));
	for (size_t i = 0; i < v->nfiles; i++) {
		const char *p = v->files[i].path;
		for (const char *slash = strchr(p, '/'); slash; slash = strchr(slash + 1, '/'))
			add_dir(&v->dirs, &v->ndirs, &cap, p, (size_t)(slash - p));
	}
	if (v->ndirs > 1)
		qsort(v->dirs, v->ndirs, sizeof(*v->dirs), cmp_str);
	vb->files = NULL;
	vb->n = vb->cap = 0;
	return v;
}

void kfs_view_put(struct kfs_view *v)
{
	if (!v || __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (size_t i = 0; i < v->nfiles; i++) {
		kfs_blob_put(kfs_blob_of(&v->files[i]));
	}
	free(v->files);
	for (size_t i = 0; i < v->ndirs; i++)
		free(v->dirs[i]);
	free(v->dirs);
	free(v);
}

struct kfs_view *kfs_view_get(struct kfs_view *v)
{
	if (v)
		__atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
	return v;
}

const struct kfs_view_file *kfs_view_file(const struct kfs_view *v, const char *path)
{
	size_t lo = 0, hi = v->nfiles;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(v->files[mid].path, path);
		if (c == 0)
			return &v->files[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

bool kfs_view_is_dir(const struct kfs_view *v, const char *path)
{
	if (!*path)
		return true;
	return v->ndirs && bsearch(&path, v->dirs, v->ndirs, sizeof(*v->dirs), cmp_str) != NULL;
}
