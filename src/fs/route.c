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

static bool request_writes(const char *rel, enum wtarget *target)
{
	bool object = strcmp(rel, "object.yaml") == 0, feedback = strcmp(rel, "feedback") == 0;
	if (target)
		*target = object ? W_OBJECT : W_FEEDBACK;
	return object || feedback;
}

static bool slot_writes(const char *rel, enum wtarget *target)
{
	bool input = strcmp(rel, "input/object.yaml") == 0;
	if (target)
		*target = input ? W_SLOT : W_SLOT_FILE;
	return input || kfs_store_slot_editable(rel);
}

static const char *const root_dirs[] = {"input", NULL};
static const char *const root_names[] = {"input", "promises", "requests", NULL};

/* The route table. The root's row is last: it takes every path the others do not. */
static const struct area areas[] = {
    {.name = "promises", .no_view = -ENOENT},
    {.name = "requests",
     .writes = request_writes,
     .user_folders = true,
     .owner_modes = true,
     .folder_writable = true,
     .no_view = -ENOENT},
    {.name = "",
     .writes = slot_writes,
     .extra_dirs = root_dirs,
     .top_names = root_names,
     .owner_modes = true,
     .folder_writable = true,
     .slot_files = true,
     .no_view = -EIO},
};
#define NAREAS (sizeof(areas) / sizeof(areas[0]))

/* "/requests/x/output/a.yaml": the requests area, folder "requests/x", rel "output/a.yaml";
 * "/requests" itself is the area's listing. */
int route(const char *path, struct route *r)
{
	memset(r, 0, sizeof(*r));
	if (!path || path[0] != '/')
		return -ENOENT;
	const char *p = path + 1;
	r->area = &areas[NAREAS - 1];
	r->rel = p;
	for (size_t i = 0; i + 1 < NAREAS; i++) {
		size_t n = strlen(areas[i].name);
		if (strncmp(p, areas[i].name, n) != 0 || (p[n] != '\0' && p[n] != '/'))
			continue;
		r->area = &areas[i];
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
		snprintf(r->folder, sizeof(r->folder), "%s/%s", areas[i].name, r->name);
		r->rel = slash ? slash + 1 : "";
		return 0;
	}
	return 0;
}

bool is_extra_dir(const struct route *r)
{
	for (const char *const *d = r->area->extra_dirs; d && *d; d++)
		if (strcmp(r->rel, *d) == 0)
			return true;
	return false;
}

bool is_slot_path(const struct route *r)
{
	return r->area->slot_files && !r->list && kfs_store_slot_editable(r->rel);
}

bool kfs_p_in_slot(const char *path)
{
	return path[0] == '/' && kfs_store_slot_editable(path + 1);
}

bool is_slot_top(const struct route *r)
{
	return r->area->slot_files && !r->list &&
	       (strcmp(r->rel, "output") == 0 || strcmp(r->rel, "metadata") == 0);
}

struct kfs_view *view_of(const struct route *r)
{
	return kfs_store_view(ctx()->store, r->folder);
}

int route_entry(const char *path, struct route *r, struct kfs_view **v, int list_rc)
{
	int rc = route(path, r);
	if (rc)
		return rc;
	if (r->list)
		return list_rc;
	*v = view_of(r);
	return *v ? 0 : -ENOENT;
}

bool has_object(const struct kfs_view *v)
{
	return kfs_view_file(v, "object.yaml") != NULL;
}

/* The paths a user may write: object.yaml, feedback, the root slot's input/object.yaml and
 * what lies under its output/ and metadata/ (folders too: check for those first). */
bool is_writable_file(const struct route *r)
{
	return r->area->writes && !r->list && r->area->writes(r->rel, NULL);
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
		bool shared = r->area->user_folders && ctx()->shared;
		fill_dir(st, shared ? 01777 : 0755, &o, &t);
		*writable = r->area->user_folders;
		return 0;
	}
	struct kfs_view *v = view_of(r);
	if (!v)
		return -ENOENT;
	int rc = 0;
	const struct kfs_view_file *f = kfs_view_file(v, r->rel);
	if (r->rel[0] == '\0' || is_extra_dir(r)) {
		fill_dir(st, r->area->owner_modes ? v->owner.dir_mode : 0755, &v->owner, &v->mtime);
		*writable = r->area->folder_writable;
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
		*writable = is_slot_path(r) || is_slot_top(r);
	} else if (is_scratch(r, v)) {
		rc = scratch_stat(r, st);
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
