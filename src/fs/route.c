/* The path layer: a path split into its area and the store's view folder (route), and what
 * stat and access say of it. Editors' scratch files in a request folder are real files under
 * <state>/scratch/<request>/. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "front.h"

/* Names a request folder's view may hold at its top: never scratch files. */
static const char *const generated_names[] = {
    "object.yaml", "status.yaml", "phase", "log", "feedback", "output", "metadata",
};

int route(const char *path, struct route *r)
{
	memset(r, 0, sizeof(*r));
	if (!path || path[0] != '/')
		return -ENOENT;
	const char *p = path + 1;
	r->area = AREA_ROOT;
	r->rel = p;
	const char *areas[] = {"promises", "requests"};
	for (int i = 0; i < 2; i++) {
		size_t n = strlen(areas[i]);
		if (strncmp(p, areas[i], n) != 0 || (p[n] != '\0' && p[n] != '/'))
			continue;
		r->area = i == 0 ? AREA_PROMISES : AREA_REQUESTS;
		if (p[n] == '\0' || p[n + 1] == '\0') {
			r->list = true;
			r->rel = "";
			return 0;
		}
		const char *name = p + n + 1;
		const char *slash = strchr(name, '/');
		size_t len = slash ? (size_t)(slash - name) : strlen(name);
		if (len > NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(r->name, name, len);
		snprintf(r->folder, sizeof(r->folder), "%s/%s", areas[i], r->name);
		r->rel = slash ? slash + 1 : "";
		return 0;
	}
	return 0;
}

struct kfs_view *view_of(const struct route *r)
{
	return kfs_store_view(ctx()->store, r->folder);
}

bool is_generated_name(const char *name)
{
	for (size_t i = 0; i < sizeof(generated_names) / sizeof(generated_names[0]); i++)
		if (strcmp(name, generated_names[i]) == 0)
			return true;
	return false;
}

/* A top-level name of a request folder that the store never shows: an editor's file. */
bool is_scratch(const struct route *r, const struct kfs_view *v)
{
	return r->area == AREA_REQUESTS && !r->list && r->rel[0] && !strchr(r->rel, '/') &&
	       !is_generated_name(r->rel) && !kfs_view_file(v, r->rel) &&
	       !kfs_view_is_dir(v, r->rel) && strcmp(r->rel, ".") != 0 && strcmp(r->rel, "..") != 0;
}

bool has_object(const struct kfs_view *v)
{
	return kfs_view_file(v, "object.yaml") != NULL;
}

/* The paths a user may write: object.yaml, feedback, the root slot. */
bool is_writable_file(const struct route *r)
{
	if (r->area == AREA_REQUESTS && !r->list)
		return strcmp(r->rel, "object.yaml") == 0 || strcmp(r->rel, "feedback") == 0;
	return r->area == AREA_ROOT && strcmp(r->rel, "input/object.yaml") == 0;
}

void scratch_path(char *out, size_t n, const char *request, const char *file)
{
	snprintf(out, n, "%s/%s%s%s", ctx()->scratch_dir, request, file ? "/" : "",
		 file ? file : "");
}

int ensure_scratch_dir(const char *request)
{
	char dir[PATH_MAX];
	scratch_path(dir, sizeof(dir), request, NULL);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static void fill_common(struct stat *st, const struct kfs_owner *o, const struct timespec *mtime)
{
	st->st_uid = o->uid;
	st->st_gid = o->gid;
	st->st_mtim = *mtime;
	st->st_ctim = *mtime;
	st->st_atim = *mtime;
	st->st_blksize = 4096;
}

static void fill_dir(struct stat *st, mode_t mode, const struct kfs_owner *o,
		     const struct timespec *mtime)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFDIR | mode;
	st->st_nlink = 2;
	fill_common(st, o, mtime);
}

/* Writable files (object.yaml, feedback) have their owner's modes; generated ones are 0444. */
void fill_file(struct stat *st, size_t size, bool writable, const struct kfs_owner *o,
	       const struct timespec *mtime)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | (writable ? o->obj_mode : 0444);
	st->st_nlink = 1;
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	fill_common(st, o, mtime);
}

static struct kfs_owner daemon_owner(void)
{
	return (struct kfs_owner){
	    .uid = ctx()->uid, .gid = ctx()->gid, .dir_mode = 0755, .obj_mode = 0644};
}

/* Stats a path; *writable tells whether a user may write (or create in) it. */
static int stat_route(const struct route *r, struct stat *st, bool *writable, struct kfs_ident *id)
{
	*writable = false;
	id->kind = KFS_K_DIR;
	id->id = 0;
	if (r->list) {
		struct timespec t = kfs_store_mtime(ctx()->store);
		struct kfs_owner o = daemon_owner();
		/* Shared with other users, requests/ is like /tmp: anyone may mkdir, and only a
		 * folder's owner may remove it (the sticky bit). */
		bool shared = r->area == AREA_REQUESTS && ctx()->shared;
		fill_dir(st, shared ? 01777 : 0755, &o, &t);
		*writable = r->area == AREA_REQUESTS;
		return 0;
	}
	struct kfs_view *v = view_of(r);
	if (!v)
		return -ENOENT;
	int rc = 0;
	const struct kfs_view_file *f = kfs_view_file(v, r->rel);
	if (r->rel[0] == '\0' || (r->area == AREA_ROOT && strcmp(r->rel, "input") == 0)) {
		fill_dir(st, r->area == AREA_PROMISES ? 0755 : v->owner.dir_mode, &v->owner,
			 &v->mtime);
		*writable = r->area == AREA_REQUESTS || r->area == AREA_ROOT;
	} else if (f) {
		fill_file(st, f->len, f->writable || is_writable_file(r), &v->owner, &v->mtime);
		*writable = f->writable || is_writable_file(r);
		/* A rendered file: the same id always names the same bytes. */
		id->kind = *writable || f->live ? KFS_K_VOL : KFS_K_IMM;
		id->id = id->kind == KFS_K_IMM ? f->id : 0;
	} else if (kfs_view_is_dir(v, r->rel)) {
		/* The folder's own mode: with default_permissions, rm -rf by the owner must reach
		 * the daemon, which refuses what is generated while the request is in force. */
		fill_dir(st, v->owner.dir_mode, &v->owner, &v->mtime);
	} else if (is_scratch(r, v)) {
		char p[PATH_MAX];
		scratch_path(p, sizeof(p), r->name, r->rel);
		rc = lstat(p, st) < 0 ? -errno : 0;
		*writable = true;
		id->kind = KFS_K_VOL;
	} else if (is_writable_file(r)) {
		rc = stat_writer(r, st);
		if (rc == 0)
			st->st_mode = S_IFREG | v->owner.obj_mode;
		*writable = true;
		id->kind = KFS_K_VOL;
	} else {
		rc = -ENOENT;
	}
	kfs_view_put(v);
	return rc;
}
int kfs_p_stat(const char *path, struct stat *st, struct kfs_ident *id)
{
	struct route r;
	bool w;
	int rc = route(path, &r);
	return rc ? rc : stat_route(&r, st, &w, id);
}

int kfs_p_access(const char *path, int mask)
{
	struct route r;
	struct stat st;
	struct kfs_ident id;
	bool writable;
	int rc = route(path, &r);
	if (rc == 0)
		rc = stat_route(&r, &st, &writable, &id);
	if (rc)
		return rc;
	if ((mask & W_OK) && !writable)
		return -EROFS;
	if ((mask & X_OK) && !S_ISDIR(st.st_mode) && !(st.st_mode & 0111))
		return -EACCES;
	return 0;
}
