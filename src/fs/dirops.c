/* Operations on names: chmod, chown and times (meta), listing, mkdir, unlink, rmdir, rename. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "front.h"
#include "kratixfs/buf.h"

/* utimens, chmod, chown: passed to the real file for scratch files; chmod and chown kept for
 * request folders and object.yaml (set_owner); times accepted on the writable files and request
 * folders (touch, cp -p) but not kept: a request's times are its renders'. EROFS on generated
 * files and EPERM on the mount's own folders. */

/* chmod and chown of a request folder (and its output/, metadata/) or its object.yaml, checked
 * as a real filesystem checks them (the store does, under the request's lock) and kept with the
 * request: what the kernel checks with allow_other. */
static int set_owner(const char *request, bool object, enum kfs_meta_op op, mode_t mode, uid_t uid,
		     gid_t gid)
{
	const struct kfs_call *c = &kfs_cur;
	struct kfs_error err = {0};
	int rc = op == KFS_META_MODE
		     ? kfs_store_chmod(ctx()->store, request, object, mode, c->uid, &err)
		     : kfs_store_chown(ctx()->store, request, uid, gid, c->uid, c->gid, &err);
	return reply_code(rc);
}

/* The slot's files and folders keep their owner and modes: a chmod or chown that changes
 * nothing succeeds (sed -i gives its new file the old one's), any other gets EPERM. */
static int slot_meta(enum kfs_meta_op op, mode_t mode, uid_t uid, gid_t gid, const struct kfs_owner *o,
		     bool dir)
{
	if (op == KFS_META_TIMES)
		return 0;
	if (op == KFS_META_MODE)
		return (mode & 07777) == (dir ? o->dir_mode : o->obj_mode) ? 0 : -EPERM;
	return (uid == (uid_t)-1 || uid == o->uid) && (gid == (gid_t)-1 || gid == o->gid) ? 0
											    : -EPERM;
}

int kfs_p_meta(const char *path, struct fuse_file_info *fi, enum kfs_meta_op op,
	       const struct timespec tv[2], mode_t mode, uid_t uid, gid_t gid)
{
	struct handle *h = fh_of(fi);
	if (h && h->type == H_SCRATCH) {
		int rc = op == KFS_META_TIMES  ? futimens(h->fd, tv)
			 : op == KFS_META_MODE ? fchmod(h->fd, mode)
					       : fchown(h->fd, uid, gid);
		return rc < 0 ? -errno : 0;
	}
	if (h && h->type == H_WRITE && h->target == W_OBJECT && op != KFS_META_TIMES)
		return set_owner(h->name, true, op, mode, uid, gid);
	if (h && h->type == H_WRITE && h->target == W_SLOT_FILE)
		return slot_meta(op, mode, uid, gid, &h->owner, false);
	if (h)
		return h->type == H_WRITE ? (op == KFS_META_TIMES ? 0 : -EPERM) : -EROFS;
	struct route r;
	struct kfs_view *v;
	int rc = route_entry(path, &r, &v, op == KFS_META_TIMES ? 0 : -EPERM);
	if (rc || r.list)
		return rc;
	if (is_scratch(&r, v)) {
		rc = scratch_meta(&r, op, tv, mode, uid, gid);
	} else if ((is_slot_path(&r) || is_slot_top(&r)) && kfs_view_is_dir(v, r.rel)) {
		rc = slot_meta(op, mode, uid, gid, &v->owner, true);
	} else if (is_slot_path(&r)) {
		/* fchmod and fchown arrive without their handle: a file being written exists. */
		struct stat st;
		rc = kfs_view_file(v, r.rel) || stat_writer(&r, &st) == 0
			 ? slot_meta(op, mode, uid, gid, &v->owner, false)
			 : -ENOENT;
	} else if (is_writable_file(&r) || (r.area->user_folders && r.rel[0] == '\0')) {
		/* futimens/fchmod on a file being written arrive without its handle (cp -p,
		 * touch of a new object.yaml): an open writer makes the file exist. */
		struct stat st;
		rc = kfs_view_file(v, r.rel) || r.rel[0] == '\0' || stat_writer(&r, &st) == 0
			 ? 0
			 : -ENOENT;
		if (rc == 0 && op != KFS_META_TIMES)
			rc = r.area->user_folders && strcmp(r.rel, "feedback") != 0
				 ? set_owner(r.name, r.rel[0] != '\0', op, mode, uid, gid)
				 : -EPERM;
	} else if (r.area->user_folders && op != KFS_META_TIMES && kfs_view_is_dir(v, r.rel)) {
		rc = -EPERM; /* output/, metadata/: they follow the folder's mode */
	} else {
		rc = kfs_view_file(v, r.rel) || kfs_view_is_dir(v, r.rel) || r.rel[0] == '\0'
			 ? -EROFS
			 : -ENOENT;
	}
	kfs_view_put(v);
	return rc;
}

/* Directory listing with duplicates removed: a view lists files and folders separately. */
struct lister {
	void *buf;
	kfs_dirent_fn add;
	char **seen;
	size_t nseen, capseen;
};

static void emit(struct lister *l, const char *name, size_t len, mode_t type)
{
	for (size_t i = 0; i < l->nseen; i++)
		if (strlen(l->seen[i]) == len && memcmp(l->seen[i], name, len) == 0)
			return;
	if (l->nseen == l->capseen) {
		l->capseen = l->capseen ? l->capseen * 2 : 16;
		l->seen = kfs_xrealloc(l->seen, l->capseen * sizeof(*l->seen));
	}
	l->seen[l->nseen] = kfs_xstrndup(name, len);
	l->add(l->buf, l->seen[l->nseen], len, type);
	l->nseen++;
}

/* Emits the first component of path when it lies directly under dir ("" for the top): a folder
 * when more follows it, else of type leaf. */
static void emit_child(struct lister *l, const char *dir, const char *path, mode_t leaf)
{
	size_t dl = strlen(dir);
	if (dl) {
		if (strncmp(path, dir, dl) != 0 || path[dl] != '/')
			return;
		path += dl + 1;
	}
	const char *slash = strchr(path, '/');
	if (*path)
		emit(l, path, slash ? (size_t)(slash - path) : strlen(path),
		     slash ? S_IFDIR : leaf);
}

static void emit_any(void *l, const char *name, size_t len, mode_t type)
{
	emit(l, name, len, type);
}

int kfs_p_readdir(const char *path, kfs_dirent_fn add, void *buf)
{
	struct route r;
	int rc = route(path, &r);
	if (rc)
		return rc;
	struct lister l = {.buf = buf, .add = add};
	emit(&l, ".", 1, S_IFDIR);
	emit(&l, "..", 2, S_IFDIR);
	if (r.list) {
		char **names;
		size_t n;
		rc = kfs_store_list(ctx()->store, r.area->name, &names, &n);
		/* Names are unique: no need for emit's duplicate check, which is quadratic. */
		if (rc == 0) {
			for (size_t i = 0; i < n; i++)
				add(buf, names[i], strlen(names[i]), S_IFDIR);
			kfs_store_free_names(names, n);
		}
		goto out;
	}
	struct kfs_view *v = view_of(&r);
	if (!v) {
		rc = -ENOENT;
		goto out;
	}
	if (r.rel[0] && !is_extra_dir(&r) && !kfs_view_is_dir(v, r.rel)) {
		rc = kfs_view_file(v, r.rel) ? -ENOTDIR : -ENOENT;
	} else {
		for (const char *const *t = r.area->top_names; t && *t && !r.rel[0]; t++)
			emit(&l, *t, strlen(*t), S_IFDIR);
		/* object.yaml first: `rm -rf` unlinks in this order, and that unlink is what
		 * deletes the request, after which the generated files may go. */
		if (r.area->user_folders && r.rel[0] == '\0' && has_object(v))
			emit(&l, "object.yaml", 11, S_IFREG);
		for (size_t i = 0; i < v->nfiles; i++)
			emit_child(&l, r.rel, v->files[i].path, S_IFREG);
		for (size_t i = 0; i < v->ndirs; i++)
			emit_child(&l, r.rel, v->dirs[i], S_IFDIR);
		if (r.area->user_folders && r.rel[0] == '\0')
			scratch_list(r.name, emit_any, &l);
	}
	kfs_view_put(v);
out:
	for (size_t i = 0; i < l.nseen; i++)
		free(l.seen[i]);
	free(l.seen);
	return rc;
}

int kfs_p_mkdir(const char *path, mode_t mode)
{
	struct route r;
	int rc = route(path, &r);
	if (rc)
		return rc;
	if (r.list)
		return -EEXIST;
	struct kfs_error err = {0};
	if (is_slot_path(&r))
		return reply_code(kfs_store_slot_mkdir(ctx()->store, r.rel, &err));
	if (!r.area->user_folders || r.rel[0])
		return -EROFS;
	const struct kfs_call *c = &kfs_cur;
	struct kfs_owner o = {
	    .uid = c->uid, .gid = c->gid, .dir_mode = mode & 07777, .obj_mode = 0666 & ~c->umask};
	rc = kfs_store_create_as(ctx()->store, r.name, &o, &err);
	return reply_code(rc);
}

int kfs_p_unlink(const char *path)
{
	struct route r;
	struct kfs_view *v;
	int rc = route_entry(path, &r, &v, -EISDIR);
	if (rc)
		return rc;
	if (is_slot_path(&r)) {
		kfs_view_put(v);
		struct kfs_error err = {0};
		return reply_code(kfs_store_slot_remove(ctx()->store, r.rel, &err));
	}
	if (!r.area->user_folders || r.rel[0] == '\0') {
		rc = -EROFS;
	} else if (is_scratch(&r, v)) {
		rc = scratch_unlink(&r);
	} else if (strcmp(r.rel, "object.yaml") == 0) {
		/* Not a deletion: tools replace a file by unlinking and creating it again (mv
		 * across filesystems, tar, install, vim). Only the folder's removal deletes. */
		if (has_object(v)) {
			struct kfs_error err = {0};
			rc = reply_code(kfs_store_unlink_object(ctx()->store, r.name, &err));
		} else {
			rc = -ENOENT;
		}
	} else if (has_object(v)) {
		rc = kfs_view_file(v, r.rel)	 ? -EROFS
		     : kfs_view_is_dir(v, r.rel) ? -EISDIR
						 : -ENOENT;
	} else {
		rc = 0; /* an empty request protects nothing: let `rm -rf` proceed */
	}
	kfs_view_put(v);
	return rc;
}

int kfs_p_rmdir(const char *path)
{
	struct route r;
	int rc = route(path, &r);
	if (rc)
		return rc;
	if (is_slot_path(&r)) {
		struct kfs_error err = {0};
		return reply_code(kfs_store_slot_rmdir(ctx()->store, r.rel, &err));
	}
	/* As the mount points of Kratix's volumes, output/ and metadata/ stay. */
	if (is_slot_top(&r))
		return -EBUSY;
	if (r.list || !r.area->user_folders)
		return -EROFS;
	struct kfs_view *v = view_of(&r);
	if (!v)
		return -ENOENT;
	if (r.rel[0] == '\0') {
		if (!scratch_dir_empty(r.name)) {
			rc = -ENOTEMPTY;
		} else {
			struct kfs_error err = {0};
			rc = reply_code(kfs_store_remove(ctx()->store, r.name, &err));
			if (rc == 0)
				scratch_remove_dir(r.name);
		}
	} else if (has_object(v)) {
		rc = kfs_view_is_dir(v, r.rel) ? -ENOTEMPTY
		     : kfs_view_file(v, r.rel) ? -ENOTDIR
					       : -ENOENT;
	} else {
		rc = 0; /* the folders of an empty request: nothing to protect */
	}
	kfs_view_put(v);
	return rc;
}

/* A rename within the slot's output/ and metadata/ (sed -i, mv); with a path elsewhere in the
 * mount that a user may write (a request's scratch name), EXDEV: mv copies. */
static int slot_rename(const struct route *rf, const struct route *rt, unsigned int flags)
{
	if (!is_slot_path(rf) || !is_slot_path(rt))
		return (is_slot_path(rf) ? rt : rf)->area->user_folders ? -EXDEV : -EROFS;
	struct kfs_error err = {0};
	return reply_code(kfs_store_slot_rename(ctx()->store, rf->rel, rt->rel,
						(flags & RENAME_NOREPLACE) != 0, &err));
}

int kfs_p_rename(const char *from, const char *to, unsigned int flags)
{
	if (flags & RENAME_EXCHANGE)
		return -EINVAL;
	struct route rf, rt;
	int rc = route(from, &rf);
	if (rc == 0)
		rc = route(to, &rt);
	if (rc)
		return rc;
	if (is_slot_path(&rf) || is_slot_path(&rt))
		return slot_rename(&rf, &rt, flags);
	if (!rf.area->user_folders || !rt.area->user_folders || rf.list || rt.list || !rf.rel[0] ||
	    !rt.rel[0])
		return -EROFS;
	struct kfs_view *vf = view_of(&rf);
	struct kfs_view *vt = view_of(&rt);
	if (!vf || !vt) {
		rc = -ENOENT;
		goto out;
	}
	bool from_scratch = is_scratch(&rf, vf), to_scratch = is_scratch(&rt, vt);
	bool to_object = strcmp(rt.rel, "object.yaml") == 0;
	const struct kfs_view_file *obj = kfs_view_file(vf, "object.yaml");
	if ((flags & RENAME_NOREPLACE) && to_object && has_object(vt)) {
		rc = -EEXIST;
	} else if (!to_scratch && !to_object) {
		/* Onto status.yaml, output/..., feedback: generated, not a name to take. */
		rc = kfs_view_file(vf, rf.rel) || kfs_view_is_dir(vf, rf.rel) || from_scratch
			 ? -EROFS
			 : -ENOENT;
	} else if (from_scratch && to_object) {
		rc = scratch_into_object(&rf, &rt);
	} else if (from_scratch && to_scratch) {
		rc = scratch_rename(&rf, &rt, flags);
	} else if (strcmp(rf.rel, "object.yaml") == 0 && to_scratch) {
		rc = obj ? scratch_copy_object(obj, &vf->owner, &rt) : -ENOENT;
	} else if (strcmp(rf.rel, "object.yaml") == 0 && to_object) {
		/* Between requests: let mv copy the content and then unlink the source. */
		rc = strcmp(rf.name, rt.name) == 0 ? 0 : -EXDEV;
	} else {
		rc = kfs_view_file(vf, rf.rel) || kfs_view_is_dir(vf, rf.rel) ? -EROFS : -ENOENT;
	}
out:
	if (vf)
		kfs_view_put(vf);
	if (vt)
		kfs_view_put(vt);
	return rc;
}
