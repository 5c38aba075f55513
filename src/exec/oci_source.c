/* Image sources given as -o images=PATH: an OCI image layout folder (index.json, blobs/sha256/),
 * or a tar archive: docker-archive (`docker save`, `podman save`: manifest.json and layer tars)
 * or oci-archive (an OCI layout in a tar), maybe compressed. A tar is read once through: its
 * small members (JSON, configs, small layers) are kept in memory, big ones are copied out only
 * when an image that needs them is unpacked. */
#include "image_internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kratixfs/files.h"

/* Members up to this size are held in memory from the first read. */
#define SMALL_MEMBER (1 << 20)

/* "./a//b" -> "a/b"; NULL when the name leaves its folder (a ".." or an absolute name) or is
 * missing. */
static char *clean_name(const char *name)
{
	if (!name)
		return NULL;
	while (name[0] == '.' && name[1] == '/')
		name += 2;
	if (name[0] == '/' || strcmp(name, "..") == 0 || strncmp(name, "../", 3) == 0 ||
	    strstr(name, "/../") || (strlen(name) >= 3 && strcmp(name + strlen(name) - 3, "/..") == 0))
		return NULL;
	return kfs_xstrdup(name);
}

/* The member a symbolic link member names: its target taken from the link's folder. */
static char *link_target(const char *name, const char *target)
{
	if (!target || target[0] == '/')
		return NULL;
	const char *slash = strrchr(name, '/');
	struct kfs_buf b = {0};
	if (slash)
		kfs_buf_add(&b, name, (size_t)(slash - name));
	while (strncmp(target, "../", 3) == 0 && b.len) {
		char *up = strrchr(b.data, '/');
		b.len = up ? (size_t)(up - b.data) : 0;
		b.data[b.len] = '\0';
		target += 3;
	}
	if (b.len)
		kfs_buf_addc(&b, '/');
	kfs_buf_adds(&b, target);
	char *clean = clean_name(b.data);
	kfs_buf_free(&b);
	return clean;
}

static int read_tar_members(struct img_source *s, struct archive *a, struct kfs_error *err)
{
	struct archive_entry *e;
	size_t cap = 0;
	int r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		mode_t type = archive_entry_filetype(e);
		if (type != AE_IFREG && type != AE_IFLNK)
			continue;
		char *name = clean_name(archive_entry_pathname(e));
		if (!name)
			continue;
		char *link = type == AE_IFLNK ? link_target(name, archive_entry_symlink(e)) : NULL;
		if (type == AE_IFLNK && !link) {
			free(name);
			continue;
		}
		if (s->nentries == cap) {
			cap = cap ? cap * 2 : 16;
			s->entries = kfs_xrealloc(s->entries, cap * sizeof(*s->entries));
		}
		struct img_entry *m = &s->entries[s->nentries++];
		memset(m, 0, sizeof(*m));
		m->name = name;
		m->link = link;
		m->size = archive_entry_size(e);
		if (link || m->size > SMALL_MEMBER)
			continue;
		char chunk[65536];
		la_ssize_t n;
		while ((n = archive_read_data(a, chunk, sizeof(chunk))) > 0)
			kfs_buf_add(&m->data, chunk, (size_t)n);
		if (n < 0)
			return kfs_error_set(err, -EINVAL, "%s: %s: %s", s->path, name,
					     archive_error_string(a));
		kfs_buf_add(&m->data, "", 0);
		m->loaded = true;
	}
	if (r != ARCHIVE_EOF)
		return kfs_error_set(err, -EINVAL, "%s: not a readable tar archive: %s", s->path,
				     archive_error_string(a));
	return 0;
}

int img_source_open(const char *path, struct img_source *s, struct kfs_error *err)
{
	memset(s, 0, sizeof(*s));
	s->path = kfs_xstrdup(path);
	struct stat st;
	if (stat(path, &st) < 0) /* not -ENOENT: that says the image is nowhere */
		return kfs_error_set(err, -EINVAL, "images=%s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		s->is_dir = true;
		return 0;
	}
	struct archive *a = archive_read_new();
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	int rc;
	if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK)
		rc = kfs_error_set(err, -EINVAL,
				   "images=%s: neither an OCI layout folder nor a readable archive: %s",
				   path, archive_error_string(a));
	else
		rc = read_tar_members(s, a, err);
	archive_read_free(a);
	return rc;
}

void img_source_close(struct img_source *s)
{
	for (size_t i = 0; i < s->nentries; i++) {
		free(s->entries[i].name);
		free(s->entries[i].link);
		kfs_buf_free(&s->entries[i].data);
	}
	free(s->entries);
	free(s->path);
	memset(s, 0, sizeof(*s));
}

/* The member called name, through one symbolic link member. */
static const struct img_entry *member(const struct img_source *s, const char *name)
{
	while (name[0] == '.' && name[1] == '/')
		name += 2;
	for (int hop = 0; hop < 2; hop++) {
		const struct img_entry *m = NULL;
		for (size_t i = 0; i < s->nentries && !m; i++)
			if (strcmp(s->entries[i].name, name) == 0)
				m = &s->entries[i];
		if (!m || !m->link)
			return m;
		name = m->link;
	}
	return NULL;
}

bool img_source_has(const struct img_source *s, const char *name)
{
	if (!s->is_dir)
		return member(s, name) != NULL;
	char *clean = clean_name(name);
	char *p = clean ? kfs_path_join(s->path, clean) : NULL;
	bool ok = p && access(p, F_OK) == 0;
	free(p);
	free(clean);
	return ok;
}

int img_source_read(const struct img_source *s, const char *name, struct kfs_buf *out,
		    struct kfs_error *err)
{
	char *clean = clean_name(name);
	if (!clean)
		return kfs_error_set(err, -EINVAL, "%s: names '%s', which leaves the archive",
				     s->path, name);
	int rc;
	if (s->is_dir) {
		char *p = kfs_path_join(s->path, clean);
		rc = kfs_read_file(p, out, err);
		free(p);
	} else {
		const struct img_entry *m = member(s, clean);
		if (!m)
			rc = kfs_error_set(err, -ENOENT, "%s: has no %s", s->path, clean);
		else if (!m->loaded)
			rc = kfs_error_set(err, -EFBIG, "%s: %s is too big for a JSON file", s->path,
					   clean);
		else {
			kfs_buf_add(out, m->data.data, m->data.len);
			rc = 0;
		}
	}
	free(clean);
	return rc;
}

void img_found_free(struct img_found *f)
{
	kfs_buf_free(&f->config);
	for (size_t i = 0; i < f->nlayers; i++) {
		free(f->layers[i].name);
		free(f->layers[i].digest);
		free(f->layers[i].path);
	}
	free(f->layers);
	free(f->where);
	memset(f, 0, sizeof(*f));
}

/* Points every layer still without bytes that is named name at the file already copied. */
static void share_copy(struct img_found *f, const char *name, const char *path)
{
	for (size_t i = 0; i < f->nlayers; i++) {
		struct img_layer *l = &f->layers[i];
		if (!l->path && !l->mem && strcmp(l->name, name) == 0)
			l->path = kfs_xstrdup(path);
	}
}

/* Copies member e (named name) into tmpdir/layer-i for layer i and every layer of that name
 * (an image may list the same layer twice: identical layers share one digest). */
static int copy_member(const struct img_source *s, struct archive *a, struct img_found *f,
		       size_t i, const char *tmpdir, struct kfs_error *err)
{
	struct img_layer *l = &f->layers[i];
	char file[64];
	snprintf(file, sizeof(file), "layer-%zu", i);
	l->path = kfs_path_join(tmpdir, file);
	int rc = 0;
	int fd = open(l->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || archive_read_data_into_fd(a, fd) != ARCHIVE_OK)
		rc = kfs_error_set(err, -EIO, "%s: copying %s out: %s", s->path, l->name,
				   fd < 0 ? strerror(errno) : archive_error_string(a));
	if (fd >= 0)
		close(fd);
	share_copy(f, l->name, l->path);
	return rc;
}

/* Copies the tar's big members that f's layers need into tmpdir/layer-N, in one read. */
static int copy_out_members(const struct img_source *s, struct img_found *f, const char *tmpdir,
			    struct kfs_error *err)
{
	struct archive *a = archive_read_new();
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	int rc = 0;
	if (archive_read_open_filename(a, s->path, 1 << 16) != ARCHIVE_OK)
		rc = kfs_error_set(err, -EIO, "%s: %s", s->path, archive_error_string(a));
	struct archive_entry *e;
	while (rc == 0 && archive_read_next_header(a, &e) == ARCHIVE_OK) {
		char *name = clean_name(archive_entry_pathname(e));
		for (size_t i = 0; name && i < f->nlayers; i++) {
			struct img_layer *l = &f->layers[i];
			if (!l->path && !l->mem && strcmp(l->name, name) == 0) {
				rc = copy_member(s, a, f, i, tmpdir, err);
				break;
			}
		}
		free(name);
	}
	archive_read_free(a);
	for (size_t i = 0; rc == 0 && i < f->nlayers; i++)
		if (!f->layers[i].path && !f->layers[i].mem)
			rc = kfs_error_set(err, -EIO, "%s: layer %zu (%s) could not be read: the archive "
					   "is cut short or lacks that member; save the image "
					   "again", s->path, i + 1, f->layers[i].name);
	return rc;
}

int img_source_fetch(const struct img_source *s, struct img_found *f, const char *tmpdir,
		     struct kfs_error *err)
{
	bool need_copy = false;
	for (size_t i = 0; i < f->nlayers; i++) {
		struct img_layer *l = &f->layers[i];
		if (s->is_dir) {
			char *clean = clean_name(l->name);
			if (!clean)
				return kfs_error_set(err, -EINVAL, "%s: layer '%s' leaves the folder",
						     s->path, l->name);
			l->path = kfs_path_join(s->path, clean);
			free(clean);
			if (access(l->path, R_OK) < 0)
				return kfs_error_set(err, -EINVAL, "OCI layout %s: layer %s is missing "
						     "(%s): the layout is incomplete", s->path,
						     l->name, strerror(errno));
			continue;
		}
		const struct img_entry *m = member(s, l->name);
		if (!m)
			return kfs_error_set(err, -ENOENT, "%s: has no layer %s", s->path, l->name);
		if (m->loaded) {
			l->mem = &m->data;
		} else {
			free(l->name); /* the member itself, not a link to it */
			l->name = kfs_xstrdup(m->name);
			need_copy = true;
		}
	}
	return need_copy ? copy_out_members(s, f, tmpdir, err) : 0;
}

int img_found_verify(const struct img_found *f, struct kfs_error *err)
{
	char d[KFS_DIGEST_LEN];
	kfs_sha256_digest(f->config.data, f->config.len, d);
	if (strcmp(d, f->digest) != 0)
		return kfs_error_set(err, -EINVAL, "%s: the config's digest is %s, not %s: the "
				     "image is damaged", f->where, d, f->digest);
	for (size_t i = 0; i < f->nlayers; i++) {
		const struct img_layer *l = &f->layers[i];
		int rc;
		if (!l->path && !l->mem)
			rc = kfs_error_set(err, -EIO, "%s: layer %zu (%s) has no bytes to check",
					   f->where, i + 1, l->name);
		else if (l->digest_of_tar)
			rc = img_digest_uncompressed(l->path, l->mem ? l->mem->data : NULL,
						     l->mem ? l->mem->len : 0, d, err);
		else if (l->path)
			rc = img_digest_file(l->path, d, err);
		else {
			kfs_sha256_digest(l->mem->data, l->mem->len, d);
			rc = 0;
		}
		if (rc < 0)
			return rc;
		if (strcmp(d, l->digest) != 0)
			return kfs_error_set(err, -EINVAL,
					     "%s: layer %zu (%s) has digest %s, not %s: the image "
					     "is damaged; save or pull it again", f->where, i + 1,
					     l->name, d, l->digest);
	}
	return 0;
}
