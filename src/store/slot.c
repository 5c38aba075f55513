/* The root slot as a pipeline's shared /kratix volume (docs/mount.md): between two runs, other
 * processes add, replace, rename and remove files and folders under output/ and metadata/, as a
 * later container of the same pipeline does in Kratix. Each change is checked (slot_check.c),
 * recorded with the slot's record in the state folder, and published as a new view of the slot.
 *
 * Once changed, the slot holds its own copy of every file and folder of output/ and metadata/
 * (struct slot_files, the slot request's `edits`): the view shows that copy instead of the render.
 * The next run (an accepted render of input/object.yaml, or a promise reload that renders the
 * slot again) drops the copy: output/ and metadata/ are the new render's. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

struct slot_file {
	char *path; /* "output/a.yaml", "metadata/status.yaml" */
	char *data;
	size_t len;
};

struct slot_files {
	struct slot_file *files; /* sorted by path */
	size_t n;
	/* Every folder of the slot ("input", "metadata", "output", "output/sub"), sorted, with a
	 * NULL after the last: a view's fixed folders (kfs_vb_finish). */
	char **dirs;
	size_t ndirs;
};

/* ---------- the set of files ---------- */

void kfs_slot_files_free(struct slot_files *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++) {
		free(f->files[i].path);
		free(f->files[i].data);
	}
	free(f->files);
	for (size_t i = 0; i < f->ndirs; i++)
		free(f->dirs[i]);
	free(f->dirs);
	free(f);
}

static struct slot_files *files_new(void)
{
	struct slot_files *f = kfs_xcalloc(1, sizeof(*f));
	f->dirs = kfs_xcalloc(1, sizeof(*f->dirs));
	return f;
}

/* Where path is (found) or would go in the sorted files. */
static size_t file_pos(const struct slot_files *f, const char *path, bool *found)
{
	size_t lo = 0, hi = f->n;
	*found = false;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(f->files[mid].path, path);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static size_t dir_pos(const struct slot_files *f, const char *path, bool *found)
{
	size_t i = 0;
	while (i < f->ndirs && strcmp(f->dirs[i], path) < 0)
		i++;
	*found = i < f->ndirs && strcmp(f->dirs[i], path) == 0;
	return i;
}

static bool has_file(const struct slot_files *f, const char *path)
{
	bool found;
	file_pos(f, path, &found);
	return found;
}

static bool has_dir(const struct slot_files *f, const char *path)
{
	bool found;
	dir_pos(f, path, &found);
	return found;
}

/* Adds or replaces path's bytes. */
static void put_file(struct slot_files *f, const char *path, const char *data, size_t len)
{
	bool found;
	size_t i = file_pos(f, path, &found);
	if (found) {
		free(f->files[i].data);
	} else {
		f->files = kfs_xrealloc(f->files, (f->n + 1) * sizeof(*f->files));
		memmove(&f->files[i + 1], &f->files[i], (f->n - i) * sizeof(*f->files));
		f->n++;
		f->files[i].path = kfs_xstrdup(path);
	}
	f->files[i].data = kfs_xmalloc(len + 1);
	memcpy(f->files[i].data, data, len);
	f->files[i].data[len] = '\0';
	f->files[i].len = len;
}

static void del_file(struct slot_files *f, const char *path)
{
	bool found;
	size_t i = file_pos(f, path, &found);
	if (!found)
		return;
	free(f->files[i].path);
	free(f->files[i].data);
	memmove(&f->files[i], &f->files[i + 1], (f->n - i - 1) * sizeof(*f->files));
	f->n--;
}

static void add_dir(struct slot_files *f, const char *path)
{
	bool found;
	size_t i = dir_pos(f, path, &found);
	if (found)
		return;
	f->dirs = kfs_xrealloc(f->dirs, (f->ndirs + 2) * sizeof(*f->dirs));
	memmove(&f->dirs[i + 1], &f->dirs[i], (f->ndirs - i + 1) * sizeof(*f->dirs));
	f->dirs[i] = kfs_xstrdup(path);
	f->ndirs++;
}

static void del_dir(struct slot_files *f, const char *path)
{
	bool found;
	size_t i = dir_pos(f, path, &found);
	if (!found)
		return;
	free(f->dirs[i]);
	memmove(&f->dirs[i], &f->dirs[i + 1], (f->ndirs - i) * sizeof(*f->dirs));
	f->ndirs--;
}

struct slot_files *kfs_slot_files_copy(const struct slot_files *f)
{
	if (!f)
		return NULL;
	struct slot_files *c = files_new();
	for (size_t i = 0; i < f->n; i++)
		put_file(c, f->files[i].path, f->files[i].data, f->files[i].len);
	for (size_t i = 0; i < f->ndirs; i++)
		add_dir(c, f->dirs[i]);
	return c;
}

static bool in_slot(const char *path)
{
	return strncmp(path, "output/", 7) == 0 || strncmp(path, "metadata/", 9) == 0;
}

/* The slot's files and folders as view v shows them: the render's, before any change. */
static struct slot_files *files_of_view(const struct kfs_view *v)
{
	struct slot_files *f = files_new();
	add_dir(f, "input");
	add_dir(f, "output");
	add_dir(f, "metadata");
	for (size_t i = 0; v && i < v->nfiles; i++)
		if (in_slot(v->files[i].path))
			put_file(f, v->files[i].path, v->files[i].data, v->files[i].len);
	for (size_t i = 0; v && i < v->ndirs; i++)
		add_dir(f, v->dirs[i]);
	return f;
}

/* ---------- the record and the view ---------- */

/* One entry after another: 'd' and a folder's path, or 'f', a path, its length (8 bytes,
 * little-endian) and its bytes; paths end with a NUL. */
void kfs_slot_files_encode(const struct slot_files *f, struct kfs_buf *b)
{
	for (size_t i = 0; i < f->ndirs; i++) {
		kfs_buf_add(b, "d", 1);
		kfs_buf_add(b, f->dirs[i], strlen(f->dirs[i]) + 1);
	}
	for (size_t i = 0; i < f->n; i++) {
		unsigned char n[8];
		for (int k = 0; k < 8; k++)
			n[k] = (unsigned char)((unsigned long long)f->files[i].len >> (8 * k));
		kfs_buf_add(b, "f", 1);
		kfs_buf_add(b, f->files[i].path, strlen(f->files[i].path) + 1);
		kfs_buf_add(b, (const char *)n, sizeof(n));
		kfs_buf_add(b, f->files[i].data, f->files[i].len);
	}
}

struct slot_files *kfs_slot_files_decode(const char *data, size_t len)
{
	struct slot_files *f = files_new();
	size_t at = 0;
	while (at < len) {
		char kind = data[at++];
		const char *path = data + at;
		const char *nul = memchr(path, '\0', len - at);
		if (!nul || (kind != 'd' && kind != 'f'))
			goto bad;
		at = (size_t)(nul - data) + 1;
		if (kind == 'd') {
			add_dir(f, path);
			continue;
		}
		if (len - at < 8)
			goto bad;
		unsigned long long n = 0;
		for (int k = 0; k < 8; k++)
			n |= (unsigned long long)(unsigned char)data[at + (size_t)k] << (8 * k);
		at += 8;
		if (n > len - at)
			goto bad;
		put_file(f, path, data + at, (size_t)n);
		at += (size_t)n;
	}
	return f;
bad:
	kfs_slot_files_free(f);
	return NULL;
}

void kfs_slot_add_files(struct view_builder *vb, const struct kfs_view *old,
			const struct slot_files *f, const char *prefix)
{
	size_t pl = strlen(prefix);
	for (size_t i = 0; i < f->n; i++) {
		const struct slot_file *x = &f->files[i];
		if (strncmp(x->path, prefix, pl) != 0)
			continue;
		/* output/ files carry their digest (status.yaml lists them), as rendered ones do. */
		if (strcmp(prefix, "output/") == 0)
			kfs_vb_add_output(vb, old, x->path, x->data, x->len);
		else
			kfs_vb_add_kept(vb, old, x->path, x->data, x->len, false);
	}
}

const char *const *kfs_slot_dirs(const struct slot_files *f)
{
	return (const char *const *)f->dirs;
}

const char *kfs_slot_status_text(const struct request *r)
{
	if (!r->edits)
		return r->render_status;
	bool found;
	size_t i = file_pos(r->edits, "metadata/status.yaml", &found);
	return found ? r->edits->files[i].data : NULL;
}

void kfs_slot_mark_writable(struct kfs_view *v)
{
	for (size_t i = 0; i < v->nfiles; i++)
		if (in_slot(v->files[i].path))
			v->files[i].writable = true;
}

/* ---------- changes ---------- */

/* What one change asks for. */
struct slot_args {
	const char *op;	  /* for the log: put, remove, mkdir, rmdir, rename */
	const char *path; /* relative to the root: "output/a.yaml" */
	const char *to;	  /* rename: the new path */
	const char *data; /* put: the new bytes */
	size_t len;
	bool noreplace; /* rename: RENAME_NOREPLACE */
	const uint64_t *run; /* put: the run the writer opened the file in; NULL: any */
};

/* path names a file or folder inside output/ or metadata/, and stays there. */
static int check_path(const char *path, struct kfs_error *err)
{
	if (!in_slot(path))
		return kfs_error_set(err, -EINVAL,
				     "%s: only output/ and metadata/ of the slot take changes", path);
	size_t len = strlen(path);
	if (len >= 4096)
		return kfs_error_set(err, -ENAMETOOLONG, "%s: the path is too long", path);
	for (const char *c = path, *end; c <= path + len; c = end + 1) {
		end = strchr(c, '/');
		if (!end)
			end = c + strlen(c);
		size_t n = (size_t)(end - c);
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return kfs_error_set(err, -EINVAL,
					     "%s: a path must name a file inside output/ or "
					     "metadata/ (no empty, '.' or '..' part)",
					     path);
	}
	return 0;
}

static bool parent_exists(const struct slot_files *f, const char *path)
{
	const char *slash = strrchr(path, '/');
	char parent[4096];
	snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
	return has_dir(f, parent);
}

/* Whether anything lies under folder path. */
static bool dir_empty(const struct slot_files *f, const char *path)
{
	size_t n = strlen(path);
	for (size_t i = 0; i < f->n; i++)
		if (strncmp(f->files[i].path, path, n) == 0 && f->files[i].path[n] == '/')
			return false;
	for (size_t i = 0; i < f->ndirs; i++)
		if (strncmp(f->dirs[i], path, n) == 0 && f->dirs[i][n] == '/')
			return false;
	return true;
}

/* Checks data as the file at path and stores it (or the text the check keeps instead). */
static int checked_put(struct kfs_store *s, struct slot_files *f, const char *path,
		       const char *data, size_t len, struct kfs_error *err)
{
	char *keep;
	int rc = kfs_slot_check_file(s, path, data, len, &keep, err);
	if (rc == 0)
		put_file(f, path, keep ? keep : data, keep ? strlen(keep) : len);
	free(keep);
	return rc;
}

static int op_put(struct kfs_store *s, struct slot_files *f, const struct slot_args *a,
		  struct kfs_error *err)
{
	if (has_dir(f, a->path))
		return kfs_error_set(err, -EISDIR, "%s: is a folder", a->path);
	if (!parent_exists(f, a->path))
		return kfs_error_set(err, -ENOENT, "%s: its folder does not exist", a->path);
	return checked_put(s, f, a->path, a->data, a->len, err);
}

static int op_remove(struct kfs_store *s, struct slot_files *f, const struct slot_args *a,
		     struct kfs_error *err)
{
	(void)s;
	if (has_file(f, a->path)) {
		del_file(f, a->path);
		return 0;
	}
	return has_dir(f, a->path) ? kfs_error_set(err, -EISDIR, "%s: is a folder", a->path)
				   : kfs_error_set(err, -ENOENT, "%s: no such file", a->path);
}

static int op_mkdir(struct kfs_store *s, struct slot_files *f, const struct slot_args *a,
		    struct kfs_error *err)
{
	(void)s;
	if (has_dir(f, a->path) || has_file(f, a->path))
		return kfs_error_set(err, -EEXIST, "%s: exists", a->path);
	if (!parent_exists(f, a->path))
		return kfs_error_set(err, -ENOENT, "%s: its folder does not exist", a->path);
	add_dir(f, a->path);
	return 0;
}

static int op_rmdir(struct kfs_store *s, struct slot_files *f, const struct slot_args *a,
		    struct kfs_error *err)
{
	(void)s;
	if (has_file(f, a->path))
		return kfs_error_set(err, -ENOTDIR, "%s: is a file", a->path);
	if (!has_dir(f, a->path))
		return kfs_error_set(err, -ENOENT, "%s: no such folder", a->path);
	if (!dir_empty(f, a->path))
		return kfs_error_set(err, -ENOTEMPTY, "%s: the folder is not empty", a->path);
	del_dir(f, a->path);
	return 0;
}

/* A folder and everything under it moves to a->to; each file is checked at its new path. */
static int move_dir(struct kfs_store *s, struct slot_files *f, const struct slot_args *a,
		    struct kfs_error *err)
{
	size_t n = strlen(a->path), tn = strlen(a->to);
	if (has_file(f, a->to))
		return kfs_error_set(err, -ENOTDIR, "%s: is a file", a->to);
	if (strncmp(a->to, a->path, n) == 0 && a->to[n] == '/')
		return kfs_error_set(err, -EINVAL, "%s: cannot move a folder into itself", a->to);
	if (has_dir(f, a->to) && (a->noreplace || !dir_empty(f, a->to)))
		return kfs_error_set(err, a->noreplace ? -EEXIST : -ENOTEMPTY,
				     "%s: the folder exists%s", a->to,
				     a->noreplace ? "" : " and is not empty");
	struct slot_files *moved = files_new();
	for (size_t i = 0; i < f->ndirs; i++)
		if (strncmp(f->dirs[i], a->path, n) == 0 &&
		    (f->dirs[i][n] == '\0' || f->dirs[i][n] == '/'))
			add_dir(moved, f->dirs[i]);
	for (size_t i = 0; i < f->n; i++)
		if (strncmp(f->files[i].path, a->path, n) == 0 && f->files[i].path[n] == '/')
			put_file(moved, f->files[i].path, f->files[i].data, f->files[i].len);
	int rc = 0;
	struct kfs_buf p = {0};
	for (size_t i = 0; i < moved->ndirs; i++)
		del_dir(f, moved->dirs[i]);
	for (size_t i = 0; i < moved->n; i++)
		del_file(f, moved->files[i].path);
	for (size_t i = 0; i < moved->ndirs; i++) {
		p.len = 0;
		kfs_buf_printf(&p, "%.*s%s", (int)tn, a->to, moved->dirs[i] + n);
		add_dir(f, p.data);
	}
	for (size_t i = 0; rc == 0 && i < moved->n; i++) {
		p.len = 0;
		kfs_buf_printf(&p, "%.*s%s", (int)tn, a->to, moved->files[i].path + n);
		rc = checked_put(s, f, p.data, moved->files[i].data, moved->files[i].len, err);
	}
	kfs_buf_free(&p);
	kfs_slot_files_free(moved);
	return rc;
}

static int op_rename(struct kfs_store *s, struct slot_files *f, const struct slot_args *a,
		     struct kfs_error *err)
{
	bool file = has_file(f, a->path);
	if (!file && !has_dir(f, a->path))
		return kfs_error_set(err, -ENOENT, "%s: no such file", a->path);
	if (strcmp(a->path, a->to) == 0)
		return 0;
	if (!parent_exists(f, a->to))
		return kfs_error_set(err, -ENOENT, "%s: its folder does not exist", a->to);
	if (!file)
		return move_dir(s, f, a, err);
	if (has_dir(f, a->to))
		return kfs_error_set(err, -EISDIR, "%s: is a folder", a->to);
	if (a->noreplace && has_file(f, a->to))
		return kfs_error_set(err, -EEXIST, "%s: exists", a->to);
	bool found;
	const struct slot_file *x = &f->files[file_pos(f, a->path, &found)];
	char *data = kfs_xmalloc(x->len + 1);
	size_t len = x->len;
	memcpy(data, x->data, len);
	int rc = checked_put(s, f, a->to, data, len, err);
	if (rc == 0)
		del_file(f, a->path);
	free(data);
	return rc;
}

/* Stores the slot's new files (r->edits) with its record; on failure r->edits goes back to old. */
static int persist_edits(struct kfs_store *s, struct request *r, struct slot_files *old,
			 struct kfs_error *err)
{
	struct kfs_error perr = {0};
	int rc = kfs_store_persist(s, r, &perr);
	if (rc == 0)
		return 0;
	rc = rc == -ENOSPC || rc == -EDQUOT ? -ENOSPC : -EIO;
	kfs_error_set(err, rc, "state folder %s: %s: the change is not stored (nothing changed)",
		      s->state_dir, perr.msg[0] ? perr.msg : strerror(-rc));
	kfs_slot_files_free(r->edits);
	r->edits = old;
	return rc;
}

/* Runs one change on a copy of the slot's files; stores and publishes the copy if it is good. */
static int change(struct kfs_store *s, const struct slot_args *a,
		  int (*op)(struct kfs_store *, struct slot_files *, const struct slot_args *,
			    struct kfs_error *),
		  struct kfs_error *err)
{
	int rc = check_path(a->path, err);
	if (rc == 0 && a->to)
		rc = check_path(a->to, err);
	struct request *r = s->slot;
	pthread_mutex_lock(&r->write_lock);
	struct slot_files *next = NULL;
	if (rc == 0) {
		/* r->view changes only under write_lock, which is held. */
		next = r->edits ? kfs_slot_files_copy(r->edits) : files_of_view(r->view);
		rc = a->run && *a->run != r->slot_run
			 ? kfs_error_set(err, -ESTALE,
					 "%s: a new run started since it was opened: its bytes are "
					 "not stored (open the file again)",
					 a->path)
			 : op(s, next, a, err);
	}
	if (rc == 0) {
		struct slot_files *old = r->edits;
		r->edits = next;
		next = NULL;
		rc = persist_edits(s, r, old, err);
		if (rc == 0) {
			kfs_slot_files_free(old);
			kfs_store_publish(s, r, NULL);
		}
	}
	pthread_mutex_unlock(&r->write_lock);
	kfs_slot_files_free(next);
	if (rc == 0)
		kfs_store_log(s, KFS_LOG_INFO, "slot-%s path=%s%s%s", a->op, a->path,
			      a->to ? " to=" : "", a->to ? a->to : "");
	else
		kfs_store_log_error(s, rc == -EIO || rc == -EFBIG ? KFS_LOG_WARN : KFS_LOG_INFO,
				    err->msg, "slot-refused op=%s path=%s%s%s", a->op, a->path,
				    a->to ? " to=" : "", a->to ? a->to : "");
	return rc;
}

int kfs_store_slot_put(struct kfs_store *s, const char *path, const char *data, size_t len,
		       struct kfs_error *err)
{
	struct slot_args a = {.op = "put", .path = path, .data = data, .len = len};
	return change(s, &a, op_put, err);
}

int kfs_store_slot_put_in(struct kfs_store *s, uint64_t run, const char *path, const char *data,
			  size_t len, struct kfs_error *err)
{
	struct slot_args a = {.op = "put", .path = path, .data = data, .len = len, .run = &run};
	return change(s, &a, op_put, err);
}

uint64_t kfs_store_slot_run(struct kfs_store *s)
{
	return __atomic_load_n(&s->slot->slot_run, __ATOMIC_ACQUIRE);
}

int kfs_store_slot_check(struct kfs_store *s, const char *path, const char *data, size_t len,
			 struct kfs_error *err)
{
	int rc = check_path(path, err);
	char *keep = NULL;
	if (rc == 0)
		rc = kfs_slot_check_file(s, path, data, len, &keep, err);
	free(keep);
	return rc;
}

int kfs_store_slot_remove(struct kfs_store *s, const char *path, struct kfs_error *err)
{
	struct slot_args a = {.op = "remove", .path = path};
	return change(s, &a, op_remove, err);
}

int kfs_store_slot_mkdir(struct kfs_store *s, const char *path, struct kfs_error *err)
{
	struct slot_args a = {.op = "mkdir", .path = path};
	return change(s, &a, op_mkdir, err);
}

int kfs_store_slot_rmdir(struct kfs_store *s, const char *path, struct kfs_error *err)
{
	struct slot_args a = {.op = "rmdir", .path = path};
	return change(s, &a, op_rmdir, err);
}

int kfs_store_slot_rename(struct kfs_store *s, const char *from, const char *to, bool noreplace,
			  struct kfs_error *err)
{
	struct slot_args a = {.op = "rename", .path = from, .to = to, .noreplace = noreplace};
	return change(s, &a, op_rename, err);
}

bool kfs_store_slot_editable(const char *path)
{
	return in_slot(path);
}

int kfs_store_submit_slot(struct kfs_store *s, const char *data, size_t len,
			  struct kfs_error *err)
{
	struct request *r = s->slot;
	pthread_mutex_lock(&r->write_lock);
	/* The same input again changes nothing, unless the slot's files were changed since its
	 * run: then it is a new run too, which renders output/ and metadata/ afresh. */
	bool again = r->edits && r->object && r->object_len == len &&
		     memcmp(r->object, data, len) == 0;
	int rc = kfs_submit_locked(s, r, data, len, again, err);
	pthread_mutex_unlock(&r->write_lock);
	return rc;
}
