/* The object-database backends of gitpacks.c (gitpacks_backends.h). */
#include "gitpacks_backends.h"

#include <stdlib.h>
#include <string.h>

#include "kratixfs/buf.h"

/* ---- new objects, in memory until the next flush -------------------------------------------- */

static size_t slot_of(const git_oid *id, size_t nslots)
{
	uint32_t h;
	memcpy(&h, id->id, sizeof(h));
	return h & (nslots - 1);
}

static struct memobj *mem_find(struct membackend *m, const git_oid *id)
{
	for (size_t i = m->nslots ? slot_of(id, m->nslots) : 0; m->nslots;
	     i = (i + 1) & (m->nslots - 1)) {
		uint32_t s = m->slots[i];
		if (!s)
			return NULL;
		if (git_oid_equal(&m->objs[s - 1].id, id))
			return &m->objs[s - 1];
	}
	return NULL;
}

static void mem_index(struct membackend *m, size_t nslots)
{
	free(m->slots);
	m->slots = kfs_xcalloc(nslots, sizeof(*m->slots));
	m->nslots = nslots;
	for (size_t k = 0; k < m->n; k++) {
		size_t i = slot_of(&m->objs[k].id, nslots);
		while (m->slots[i])
			i = (i + 1) & (nslots - 1);
		m->slots[i] = (uint32_t)(k + 1);
	}
}

/* zlib takes 32-bit lengths in one call: kratixfs's packs take objects up to this size. */
#define MAX_OBJECT ((size_t)1 << 30)

static int mem_write(git_odb_backend *b, const git_oid *id, const void *data, size_t len,
		     git_object_t type)
{
	struct membackend *m = (struct membackend *)b;
	if (len > MAX_OBJECT) {
		git_error_set_str(GIT_ERROR_ODB, "an output larger than 1 GiB cannot be committed");
		return -1;
	}
	if (mem_find(m, id))
		return 0;
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 64;
		m->objs = kfs_xrealloc(m->objs, m->cap * sizeof(*m->objs));
	}
	struct memobj *o = &m->objs[m->n++];
	o->id = *id;
	o->type = type;
	o->len = len;
	o->data = kfs_xmalloc(len ? len : 1);
	memcpy(o->data, data, len);
	if (m->n * 2 > m->nslots)
		mem_index(m, m->nslots ? m->nslots * 2 : 128);
	else {
		size_t i = slot_of(id, m->nslots);
		while (m->slots[i])
			i = (i + 1) & (m->nslots - 1);
		m->slots[i] = (uint32_t)m->n;
	}
	return 0;
}

static int mem_read(void **out, size_t *len, git_object_t *type, git_odb_backend *b,
		    const git_oid *id)
{
	struct memobj *o = mem_find((struct membackend *)b, id);
	if (!o)
		return GIT_ENOTFOUND;
	*out = git_odb_backend_data_alloc(b, o->len);
	if (!*out)
		return -1;
	memcpy(*out, o->data, o->len);
	*len = o->len;
	*type = o->type;
	return 0;
}

static int mem_read_header(size_t *len, git_object_t *type, git_odb_backend *b, const git_oid *id)
{
	struct memobj *o = mem_find((struct membackend *)b, id);
	if (!o)
		return GIT_ENOTFOUND;
	*len = o->len;
	*type = o->type;
	return 0;
}

static int mem_exists(git_odb_backend *b, const git_oid *id)
{
	return mem_find((struct membackend *)b, id) != NULL;
}

void mem_clear(struct membackend *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->objs[i].data);
	m->n = 0;
	if (m->slots)
		memset(m->slots, 0, m->nslots * sizeof(*m->slots));
}

void mem_free(git_odb_backend *b)
{
	struct membackend *m = (struct membackend *)b;
	mem_clear(m);
	free(m->objs);
	free(m->slots);
	free(m);
}

struct membackend *mem_new(void)
{
	struct membackend *m = kfs_xcalloc(1, sizeof(*m));
	m->parent.version = GIT_ODB_BACKEND_VERSION;
	m->parent.read = mem_read;
	m->parent.read_header = mem_read_header;
	m->parent.write = mem_write;
	m->parent.exists = mem_exists;
	m->parent.free = mem_free;
	return m;
}

/* ---- libgit2's pack backend, refreshed only when the pack folder changed -------------------- *
 * libgit2 rescans the pack folder on every lookup that misses, and every new object misses
 * once; the scan compares each pack with every loaded one. This wrapper lets a rescan through
 * only when the folder's inode or times moved since the last one. */

#define INNER(b) (((struct packproxy *)(b))->inner)

static int px_read(void **out, size_t *len, git_object_t *type, git_odb_backend *b,
		   const git_oid *id)
{
	return INNER(b)->read(out, len, type, INNER(b), id);
}

static int px_read_prefix(git_oid *full, void **out, size_t *len, git_object_t *type,
			  git_odb_backend *b, const git_oid *id, size_t n)
{
	return INNER(b)->read_prefix(full, out, len, type, INNER(b), id, n);
}

static int px_read_header(size_t *len, git_object_t *type, git_odb_backend *b, const git_oid *id)
{
	return INNER(b)->read_header(len, type, INNER(b), id);
}

static int px_exists(git_odb_backend *b, const git_oid *id)
{
	return INNER(b)->exists(INNER(b), id);
}

static int px_exists_prefix(git_oid *full, git_odb_backend *b, const git_oid *id, size_t n)
{
	return INNER(b)->exists_prefix(full, INNER(b), id, n);
}

static int px_foreach(git_odb_backend *b, git_odb_foreach_cb cb, void *payload)
{
	return INNER(b)->foreach(INNER(b), cb, payload);
}

static int px_writepack(git_odb_writepack **out, git_odb_backend *b, git_odb *odb,
			git_indexer_progress_cb cb, void *payload)
{
	return INNER(b)->writepack(out, INNER(b), odb, cb, payload);
}

/* "Not here", without asking: libgit2 asks before it writes any object, and the pack
 * backend answers every miss with a formatted error message, which cost more than the rest of
 * a commit's lookups together. An object written again lands in the next pack a second time;
 * merges keep one copy. */
static int px_freshen(git_odb_backend *b, const git_oid *id)
{
	(void)b;
	(void)id;
	return GIT_ENOTFOUND;
}

/* True when the pack folder is not as the last call saw it (or cannot be seen). */
static bool folder_changed(struct packproxy *px)
{
	struct stat st;
	if (stat(px->dir, &st) != 0) {
		px->have_seen = false;
		return true;
	}
	bool same = px->have_seen && st.st_ino == px->seen.st_ino &&
		    st.st_mtim.tv_sec == px->seen.st_mtim.tv_sec &&
		    st.st_mtim.tv_nsec == px->seen.st_mtim.tv_nsec &&
		    st.st_ctim.tv_sec == px->seen.st_ctim.tv_sec &&
		    st.st_ctim.tv_nsec == px->seen.st_ctim.tv_nsec;
	px->seen = st;
	px->have_seen = true;
	return !same;
}

static int px_refresh(git_odb_backend *b)
{
	struct packproxy *px = (struct packproxy *)b;
	return folder_changed(px) ? px->inner->refresh(px->inner) : 0;
}

int px_refresh_now(struct packproxy *px)
{
	folder_changed(px);
	return px->inner->refresh(px->inner);
}

void px_free(git_odb_backend *b)
{
	struct packproxy *px = (struct packproxy *)b;
	px->inner->free(px->inner);
	free(px->dir);
	free(px);
}

struct packproxy *px_new(git_odb_backend *inner, const char *dir)
{
	struct packproxy *px = kfs_xcalloc(1, sizeof(*px));
	px->parent.version = GIT_ODB_BACKEND_VERSION;
	px->parent.read = px_read;
	px->parent.read_prefix = px_read_prefix;
	px->parent.read_header = px_read_header;
	px->parent.exists = px_exists;
	px->parent.exists_prefix = px_exists_prefix;
	px->parent.refresh = px_refresh;
	px->parent.foreach = px_foreach;
	px->parent.writepack = px_writepack;
	px->parent.freshen = px_freshen;
	px->parent.free = px_free;
	px->inner = inner;
	px->dir = kfs_xstrdup(dir);
	return px;
}
