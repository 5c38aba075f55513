/* A call's /kratix on disk: input/object.yaml, output/ as the pipeline's earlier containers
 * left it, metadata/; and what the container left there, read back (regular files only). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kratixfs/doc.h"
#include "kratixfs/files.h"
#include "run_internal.h"

/* A pipeline's output is bounded, as a Work is: past this, the render fails naming the size. */
#define MAX_OUTPUT_BYTES (256u * 1024 * 1024)

static const char *const meta_files[3] = {"status.yaml", "destination-selectors.yaml",
					  "workflow-control.yaml"};

int kratix_layout(const char *dir, const struct kfs_exec_call *call, struct kfs_error *err)
{
	struct kfs_buf text = {0}, sub = {0};
	int rc = 0;
	static const char *const parts[] = {"input", "output", "metadata"};
	for (int i = 0; i < 3 && rc == 0; i++) {
		kfs_buf_reset(&sub);
		kfs_buf_printf(&sub, "%s/%s", dir, parts[i]);
		if (mkdir(sub.data, 0755) < 0)
			rc = kfs_error_set(err, -errno, "exec: %s: %s", sub.data, strerror(errno));
	}
	kfs_buf_reset(&sub);
	kfs_buf_printf(&sub, "%s/input", dir);
	if (rc == 0 && call->object)
		kfs_doc_emit(call->object, &text);
	if (rc == 0)
		rc = kfs_write_new_file(sub.data, "object.yaml", text.data ? text.data : "",
					text.len, err);
	kfs_buf_reset(&sub);
	kfs_buf_printf(&sub, "%s/output", dir);
	for (size_t i = 0; i < call->noutputs && rc == 0; i++)
		rc = kfs_write_new_file(sub.data, call->outputs[i].path, call->outputs[i].data,
					call->outputs[i].len, err);
	kfs_buf_reset(&sub);
	kfs_buf_printf(&sub, "%s/metadata", dir);
	const char *meta[3] = {call->status, call->selectors, call->control};
	size_t lens[3] = {call->status_len, call->selectors_len, call->control_len};
	for (int i = 0; i < 3 && rc == 0; i++)
		if (meta[i])
			rc = kfs_write_new_file(sub.data, meta_files[i], meta[i], lens[i], err);
	kfs_buf_free(&text);
	kfs_buf_free(&sub);
	return rc;
}

/* Reads the regular file name in folder dfd, refusing anything else (a symbolic link could
 * point anywhere on the host). */
static int read_regular(int dfd, const char *name, const char *label, struct kfs_buf *out,
			struct kfs_error *err)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return kfs_error_set(err, -EIO,
				     "%s: %s; a pipeline writes regular files only", label,
				     fd < 0 && errno == ELOOP ? "is a symbolic link"
							      : "is not a regular file");
	}
	int rc = 0;
	char chunk[65536];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = kfs_error_set(err, -EIO, "%s: %s", label, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		kfs_buf_add(out, chunk, (size_t)n);
	}
	close(fd);
	return rc;
}

struct walk {
	struct kfs_exec_reply *reply;
	size_t cap, total;
	struct kfs_error *err;
};

static int add_output(struct walk *w, const char *rel, struct kfs_buf *data)
{
	struct kfs_exec_reply *reply = w->reply;
	w->total += data->len;
	if (w->total > MAX_OUTPUT_BYTES)
		return kfs_error_set(w->err, -EIO,
				     "output/: more than %u MiB written; a pipeline's output must "
				     "be smaller",
				     MAX_OUTPUT_BYTES >> 20);
	if (reply->noutputs == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 8;
		reply->outputs = kfs_xrealloc(reply->outputs, w->cap * sizeof(*reply->outputs));
	}
	struct kfs_output *o = &reply->outputs[reply->noutputs++];
	memset(o, 0, sizeof(*o));
	o->path = kfs_xstrdup(rel);
	o->len = data->len;
	o->data = kfs_buf_steal(data);
	if (!o->data)
		o->data = kfs_xstrdup("");
	return 0;
}

/* Walks the folder dfd (rel: its path under output/, "" at the top). */
static int walk_output(struct walk *w, int dfd, const char *rel)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return kfs_error_set(w->err, -EIO, "output/%s: %s", rel, strerror(errno));
	}
	int rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		struct kfs_buf path = {0}, label = {0};
		kfs_buf_printf(&path, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
		kfs_buf_printf(&label, "output/%s", path.data);
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = kfs_error_set(w->err, -EIO, "%s: %s", label.data, strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), e->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			rc = sub < 0 ? kfs_error_set(w->err, -EIO, "%s: %s", label.data,
						     strerror(errno))
				     : walk_output(w, sub, path.data);
		} else {
			struct kfs_buf data = {0};
			rc = read_regular(dirfd(d), e->d_name, label.data, &data, w->err);
			if (rc == 0)
				rc = add_output(w, path.data, &data);
			kfs_buf_free(&data);
		}
		kfs_buf_free(&path);
		kfs_buf_free(&label);
	}
	closedir(d);
	return rc;
}

static int cmp_output(const void *a, const void *b)
{
	return strcmp(((const struct kfs_output *)a)->path, ((const struct kfs_output *)b)->path);
}

static int read_metadata(const char *dir, struct kfs_exec_reply *reply, struct kfs_error *err)
{
	struct kfs_buf sub = {0};
	kfs_buf_printf(&sub, "%s/metadata", dir);
	int dfd = open(sub.data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	kfs_buf_free(&sub);
	if (dfd < 0)
		return kfs_error_set(err, -EIO, "metadata/: %s", strerror(errno));
	char **dst[3] = {&reply->status, &reply->selectors, &reply->control};
	size_t *lens[3] = {&reply->status_len, &reply->selectors_len, &reply->control_len};
	int rc = 0;
	for (int i = 0; i < 3 && rc == 0; i++) {
		struct stat st;
		if (fstatat(dfd, meta_files[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		struct kfs_buf label = {0}, data = {0};
		kfs_buf_printf(&label, "metadata/%s", meta_files[i]);
		rc = read_regular(dfd, meta_files[i], label.data, &data, err);
		if (rc == 0) {
			*lens[i] = data.len;
			*dst[i] = data.data ? kfs_buf_steal(&data) : kfs_xstrdup("");
		}
		kfs_buf_free(&data);
		kfs_buf_free(&label);
	}
	close(dfd);
	return rc;
}

int kratix_read_back(const char *dir, struct kfs_exec_reply *reply, struct kfs_error *err)
{
	struct kfs_buf sub = {0};
	kfs_buf_printf(&sub, "%s/output", dir);
	int dfd = open(sub.data, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	kfs_buf_free(&sub);
	if (dfd < 0)
		return kfs_error_set(err, -EIO, "output/: %s", strerror(errno));
	struct walk w = {reply, 0, 0, err};
	int rc = walk_output(&w, dfd, "");
	if (reply->noutputs > 1)
		qsort(reply->outputs, reply->noutputs, sizeof(*reply->outputs), cmp_output);
	if (rc == 0)
		rc = read_metadata(dir, reply, err);
	return rc;
}
