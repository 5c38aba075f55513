/* kratixfs's object database: new objects kept in memory (gitpacks_backends.c), written out as
 * one pack per flush, and tiered merging of those packs. Formats: git's
 * Documentation/gitformat-pack.txt (pack version 2, index version 2). */
#include "gitpacks.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <git2/sys/repository.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "kratixfs/buf.h"
#include "kratixfs/files.h"
#include "kratixfs/hash.h"

#include "git_error.h"
#include "gitpacks_backends.h"

/* ---- the database ------------------------------------------------------------------------------ */

struct ourpack {
	char hex[41];
	unsigned level; /* a flush writes level 0; FANOUT packs of level L merge into L + 1 */
};

/* How new objects reach the disk: this file's packs; or, for bench/git's comparison
 * (KFS_GIT_OBJECTS=mempack or loose), libgit2's mempack written as one pack per flush through
 * git_mempack_dump and git_odb_write_pack, or libgit2's loose objects. */
enum odb_mode { MODE_PACKS, MODE_MEMPACK, MODE_LOOSE };

struct kfs_gitpacks {
	git_repository *repo;
	enum odb_mode mode;
	git_odb_backend *mempack; /* MODE_MEMPACK: owned by the repository's odb */
	char *objdir, *packdir;
	struct membackend *mem; /* both owned by the repository's current odb */
	struct packproxy *packs_backend;
	struct ourpack *packs; /* oldest first; levels never grow towards the newest */
	size_t npacks;
	char in_flight[41]; /* the flushed pack whose commit is being made, or "" */
	bool keep_ours;     /* its .keep file is the one write_pack made */
};

/* Object folders listed in objects/info/alternates (a repository cloned with --shared or
 * --reference) are read as git reads them; one that cannot be opened is skipped, as git warns. */
static void add_alternates(struct kfs_gitpacks *p, git_odb *odb)
{
	struct kfs_buf path = {0}, text = {0};
	kfs_buf_printf(&path, "%s/info/alternates", p->objdir);
	if (kfs_read_file(path.data, &text, NULL) == 0) {
		for (char *line = text.data, *next; line && *line; line = next) {
			next = strchr(line, '\n');
			if (next)
				*next++ = '\0';
			if (!*line || *line == '#')
				continue;
			kfs_buf_reset(&path);
			if (*line == '/')
				kfs_buf_adds(&path, line);
			else
				kfs_buf_printf(&path, "%s/%s", p->objdir, line);
			git_odb_add_disk_alternate(odb, path.data);
		}
	}
	kfs_buf_free(&path);
	kfs_buf_free(&text);
}

/* A new odb for the repository: new objects in memory, then packs, then loose objects. A new
 * one also forgets the packs a merge deleted, which libgit2's pack backend keeps open. */
static int build_odb(struct kfs_gitpacks *p, struct kfs_error *err)
{
	git_odb *odb = NULL;
	git_odb_backend *loose = NULL, *pack = NULL;
	if (git_odb_new(&odb) || git_odb_backend_loose(&loose, p->objdir, -1, 0, 0, 0) ||
	    git_odb_add_backend(odb, loose, 1)) {
		if (loose && !loose->odb)
			loose->free(loose);
		git_odb_free(odb);
		return git_fail(err, "opening the loose objects", p->objdir);
	}
	/* The folder as it was before the backend scans it: a pack added during the scan makes
	 * the next miss scan again. */
	struct stat before;
	bool seen = stat(p->packdir, &before) == 0;
	if (git_odb_backend_pack(&pack, p->objdir)) {
		git_odb_free(odb);
		return git_fail(err, "opening the packs", p->objdir);
	}
	struct packproxy *px = px_new(pack, p->packdir);
	px->seen = before;
	px->have_seen = seen;
	struct membackend *mem = mem_new();
	if (git_odb_add_backend(odb, &px->parent, 2)) {
		px_free(&px->parent);
		mem_free(&mem->parent);
		git_odb_free(odb);
		return git_fail(err, "opening the packs", p->objdir);
	}
	if (git_odb_add_backend(odb, &mem->parent, 3) || git_repository_set_odb(p->repo, odb)) {
		if (!mem->parent.odb)
			mem_free(&mem->parent);
		git_odb_free(odb);
		return git_fail(err, "setting up the object database", p->objdir);
	}
	add_alternates(p, odb);
	git_odb_free(odb); /* the repository holds it */
	p->mem = mem;
	p->packs_backend = px;
	return 0;
}

void kfs_gitpacks_free(struct kfs_gitpacks *p)
{
	if (!p)
		return;
	free(p->objdir);
	free(p->packdir);
	free(p->packs);
	free(p);
}

size_t kfs_gitpacks_count(const struct kfs_gitpacks *p)
{
	return p->npacks;
}

int kfs_gitpacks_refresh(struct kfs_gitpacks *p, struct kfs_error *err)
{
	if (p->mode != MODE_PACKS) {
		git_odb *odb = NULL;
		int rc = git_repository_odb(&odb, p->repo) || git_odb_refresh(odb);
		git_odb_free(odb);
		return rc ? git_fail(err, "reading the packs", p->packdir) : 0;
	}
	return px_refresh_now(p->packs_backend) ? git_fail(err, "reading the packs", p->packdir)
						  : 0;
}

/* ---- writing packs ----------------------------------------------------------------------------- */

/* One object as it is stored in a pack: header and zlib data, never a delta. */
struct entry {
	git_oid id;
	const unsigned char *raw;
	size_t rawlen;
	uint32_t crc;
	uint64_t off; /* in the pack being written */
};

static int cmp_entry_id(const void *a, const void *b)
{
	return git_oid_cmp(&((const struct entry *)a)->id, &((const struct entry *)b)->id);
}

static int cmp_entry_off(const void *a, const void *b)
{
	uint64_t x = ((const struct entry *)a)->off, y = ((const struct entry *)b)->off;
	return (x > y) - (x < y);
}

/* kfs_buf_add for bytes that are not text. */
static void add_bytes(struct kfs_buf *b, const void *p, size_t n)
{
	kfs_buf_add(b, p, n);
}

static void put32(struct kfs_buf *b, uint32_t v)
{
	unsigned char c[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
			      (unsigned char)(v >> 8), (unsigned char)v};
	add_bytes(b, c, 4);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The .keep file of the pack whose commit is being made: `git repack -a -d` deletes every pack
 * it finds but kept ones, and this pack's objects are not reachable until the branch moves.
 * kfs_gitpacks_settle removes it; one a crash left is removed at the next start. */
#define IN_FLIGHT "kratixfs: the commit of this pack is being made\n"

/* Writes entries (sorted by id here, duplicates dropped) as pack-<hex>.pack and its .idx, the
 * index last: git and libgit2 take a pack only once its index is there; in_flight: with a .keep
 * file (IN_FLIGHT) before the index. */
static int write_pack(struct kfs_gitpacks *p, struct entry *e, size_t n, bool in_flight,
		      char hex[41], struct kfs_error *err)
{
	qsort(e, n, sizeof(*e), cmp_entry_id);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (k == 0 || !git_oid_equal(&e[k - 1].id, &e[i].id))
			e[k++] = e[i];
	n = k;

	struct kfs_buf pack = {0}, idx = {0}, name = {0};
	uint8_t sum[20], isum[20];
	kfs_buf_adds(&pack, "PACK");
	put32(&pack, 2);
	put32(&pack, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		e[i].off = pack.len;
		add_bytes(&pack, e[i].raw, e[i].rawlen);
	}
	kfs_sha1(pack.data, pack.len, sum);
	add_bytes(&pack, sum, 20);
	for (int i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", sum[i]);

	kfs_buf_add(&idx, "\377tOc", 4);
	put32(&idx, 2);
	size_t at = 0;
	for (unsigned byte = 0; byte < 256; byte++) {
		while (at < n && e[at].id.id[0] <= byte)
			at++;
		put32(&idx, (uint32_t)at);
	}
	for (size_t i = 0; i < n; i++)
		add_bytes(&idx, e[i].id.id, 20);
	for (size_t i = 0; i < n; i++)
		put32(&idx, e[i].crc);
	uint32_t nlarge = 0;
	for (size_t i = 0; i < n; i++)
		put32(&idx, e[i].off < 0x80000000u ? (uint32_t)e[i].off : 0x80000000u | nlarge++);
	for (size_t i = 0; i < n; i++)
		if (e[i].off >= 0x80000000u) {
			put32(&idx, (uint32_t)(e[i].off >> 32));
			put32(&idx, (uint32_t)e[i].off);
		}
	add_bytes(&idx, sum, 20);
	kfs_sha1(idx.data, idx.len, isum);
	add_bytes(&idx, isum, 20);

	/* The pack is written in place, which saves a rename: nobody opens a pack before its
	 * index is there. The index goes through a rename, so that nobody reads half of one. A
	 * pack of that name already there may be half of one, left by a crash: replaced whole. */
	kfs_buf_printf(&name, "pack-%s.pack", hex);
	int rc = kfs_write_new_file(p->packdir, name.data, pack.data, pack.len, err);
	if (rc == -EEXIST) {
		kfs_error_clear(err);
		rc = kfs_write_file(p->packdir, name.data, pack.data, pack.len, err);
	}
	if (rc == 0 && in_flight) {
		memcpy(name.data + name.len - 4, "keep", 4);
		rc = kfs_write_new_file(p->packdir, name.data, IN_FLIGHT, strlen(IN_FLIGHT), err);
		p->keep_ours = rc == 0;
		if (rc == -EEXIST) { /* the same pack again, kept already: left as it is */
			kfs_error_clear(err);
			rc = 0;
		}
	}
	if (rc == 0) {
		kfs_buf_reset(&name);
		kfs_buf_printf(&name, "pack-%s.idx", hex);
		rc = kfs_write_file(p->packdir, name.data, idx.data, idx.len, err);
	}
	if (rc && in_flight && p->keep_ours) { /* no index: nobody reads the pack, keep or not */
		kfs_buf_reset(&name);
		kfs_buf_printf(&name, "%s/pack-%s.keep", p->packdir, hex);
		unlink(name.data);
		p->keep_ours = false;
	}
	kfs_buf_free(&pack);
	kfs_buf_free(&idx);
	kfs_buf_free(&name);
	return rc;
}

/* Appends one object as a pack entry: the type and size header, then the zlib stream, at
 * zlib's fastest level (the commit waits for it; merges copy the bytes as they are). */
static int deflate_entry(z_stream *z, const struct memobj *o, struct kfs_buf *out)
{
	unsigned char hdr[16];
	size_t h = 0, size = o->len;
	hdr[h] = (unsigned char)(((unsigned)o->type & 7) << 4 | (size & 15));
	for (size >>= 4; size; size >>= 7) {
		hdr[h++] |= 0x80;
		hdr[h] = size & 0x7f;
	}
	add_bytes(out, hdr, h + 1);
	uLong bound = deflateBound(z, (uLong)o->len);
	kfs_buf_reserve(out, bound);
	z->next_in = o->data;
	z->avail_in = (uInt)o->len;
	z->next_out = (Bytef *)out->data + out->len;
	z->avail_out = (uInt)bound;
	int zrc = deflate(z, Z_FINISH);
	out->len += bound - z->avail_out;
	out->data[out->len] = '\0';
	return zrc == Z_STREAM_END && deflateReset(z) == Z_OK ? 0 : -1;
}

/* ---- merging ------------------------------------------------------------------------------------ */

/* Reads pack-<hex>.{idx,pack}; entries point into *data. Packs with deltas are refused: only
 * kratixfs's own packs are merged, and those hold none. */
static int read_pack(struct kfs_gitpacks *p, const char *hex, struct kfs_buf *data,
		     struct entry **out, size_t *nout, struct kfs_error *err)
{
	struct kfs_buf path = {0}, idx = {0};
	struct entry *e = NULL;
	size_t n = 0;
	kfs_buf_printf(&path, "%s/pack-%s.idx", p->packdir, hex);
	int rc = kfs_read_file(path.data, &idx, err);
	if (rc == 0) {
		kfs_buf_reset(&path);
		kfs_buf_printf(&path, "%s/pack-%s.pack", p->packdir, hex);
		rc = kfs_read_file(path.data, data, err);
	}
	const unsigned char *ix = (const unsigned char *)idx.data;
	const unsigned char *pk = (const unsigned char *)data->data;
	if (rc == 0) {
		n = idx.len >= 8 + 1024 ? get32(ix + 8 + 1020) : 0;
		if (idx.len < 8 + 1024 + n * 28 + 40 || memcmp(ix, "\377tOc", 4) != 0 ||
		    get32(ix + 4) != 2 || data->len < 12 + 20 || memcmp(pk, "PACK", 4) != 0 ||
		    get32(pk + 8) != n)
			rc = kfs_error_set(err, -EINVAL, "%s: not a version 2 pack and index",
					   path.data);
	}
	if (rc == 0) {
		e = kfs_xcalloc(n ? n : 1, sizeof(*e));
		const unsigned char *ids = ix + 8 + 1024, *crcs = ids + 20 * n, *offs = crcs + 4 * n;
		const unsigned char *large = offs + 4 * n;
		for (size_t i = 0; i < n; i++) {
			memcpy(e[i].id.id, ids + 20 * i, 20);
			e[i].crc = get32(crcs + 4 * i);
			uint32_t o = get32(offs + 4 * i);
			if (o & 0x80000000u) {
				size_t li = o & 0x7fffffffu;
				if (idx.len < (size_t)(large - ix) + 8 * (li + 1) + 40) {
					rc = kfs_error_set(err, -EINVAL, "%s: bad index", path.data);
					break;
				}
				e[i].off = (uint64_t)get32(large + 8 * li) << 32 |
					   get32(large + 8 * li + 4);
			} else {
				e[i].off = o;
			}
		}
	}
	/* An entry runs to the next one, the last one to the checksum. */
	if (rc == 0)
		qsort(e, n, sizeof(*e), cmp_entry_off);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		uint64_t end = i + 1 < n ? e[i + 1].off : data->len - 20;
		unsigned type = e[i].off < end ? (pk[e[i].off] >> 4) & 7 : 0;
		if (e[i].off < 12 || end > data->len - 20 || type < 1 || type > 4) {
			rc = kfs_error_set(err, -EINVAL, "%s: holds deltas: not one of kratixfs's",
					   path.data);
			break;
		}
		e[i].raw = pk + e[i].off;
		e[i].rawlen = (size_t)(end - e[i].off);
	}
	kfs_buf_free(&path);
	kfs_buf_free(&idx);
	if (rc) {
		free(e);
		return rc;
	}
	*out = e;
	*nout = n;
	return 0;
}

static int sync_path(const char *path, struct kfs_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return kfs_error_set(err, -e, "%s: %s", path, strerror(e));
	}
	close(fd);
	return 0;
}

/* fsync of pack-<hex>.pack, its index and the pack folder. */
static int sync_pack(struct kfs_gitpacks *p, const char *hex, struct kfs_error *err)
{
	struct kfs_buf path = {0};
	kfs_buf_printf(&path, "%s/pack-%s.pack", p->packdir, hex);
	int rc = sync_path(path.data, err);
	kfs_buf_reset(&path);
	kfs_buf_printf(&path, "%s/pack-%s.idx", p->packdir, hex);
	if (rc == 0)
		rc = sync_path(path.data, err);
	if (rc == 0)
		rc = sync_path(p->packdir, err);
	kfs_buf_free(&path);
	return rc;
}

static void remove_pack(struct kfs_gitpacks *p, const char *hex)
{
	struct kfs_buf path = {0};
	kfs_buf_printf(&path, "%s/pack-%s.idx", p->packdir, hex);
	unlink(path.data); /* the index first: without it, nobody opens the pack */
	kfs_buf_reset(&path);
	kfs_buf_printf(&path, "%s/pack-%s.pack", p->packdir, hex);
	unlink(path.data);
	kfs_buf_free(&path);
}

/* Merges the newest KFS_GITPACKS_FANOUT packs into one of the next level. A pack that cannot be
 * merged (deleted by git gc, or not kratixfs's: it holds deltas) is named in *unmergeable. */
static int merge_tail(struct kfs_gitpacks *p, size_t *unmergeable, struct kfs_error *err)
{
	size_t first = p->npacks - KFS_GITPACKS_FANOUT;
	struct kfs_buf data[KFS_GITPACKS_FANOUT] = {{0}};
	struct entry *all = NULL;
	size_t nall = 0;
	int rc = 0;
	*unmergeable = SIZE_MAX;
	for (size_t i = 0; rc == 0 && i < KFS_GITPACKS_FANOUT; i++) {
		struct entry *e;
		size_t n;
		rc = read_pack(p, p->packs[first + i].hex, &data[i], &e, &n, err);
		if (rc == 0) {
			all = kfs_xrealloc(all, (nall + n + 1) * sizeof(*all));
			memcpy(all + nall, e, n * sizeof(*e));
			nall += n;
			free(e);
		} else {
			*unmergeable = first + i;
		}
	}
	char hex[41];
	if (rc == 0)
		rc = write_pack(p, all, nall, false, hex, err);
	/* The packs it replaces go only once it is on disk: a crash must not lose what they
	 * held (the flush's own packs are not synced: a crash loses at most the last commits). */
	if (rc == 0)
		rc = sync_pack(p, hex, err);
	if (rc == 0) {
		for (size_t i = 0; i < KFS_GITPACKS_FANOUT; i++)
			if (strcmp(p->packs[first + i].hex, hex) != 0)
				remove_pack(p, p->packs[first + i].hex);
		unsigned level = p->packs[first].level + 1;
		p->npacks = first + 1;
		memcpy(p->packs[first].hex, hex, sizeof(hex));
		p->packs[first].level = level;
	}
	for (size_t i = 0; i < KFS_GITPACKS_FANOUT; i++)
		kfs_buf_free(&data[i]);
	free(all);
	return rc;
}

/* FANOUT packs of one level at the tail merge into one; that may complete the level above. */
static int merge_full_levels(struct kfs_gitpacks *p, struct kfs_error *err)
{
	bool merged = false;
	int rc = 0;
	while (rc == 0 && p->npacks >= KFS_GITPACKS_FANOUT) {
		unsigned level = p->packs[p->npacks - 1].level;
		size_t run = 0;
		while (run < p->npacks && p->packs[p->npacks - 1 - run].level == level)
			run++;
		if (run < KFS_GITPACKS_FANOUT)
			break;
		size_t bad;
		rc = merge_tail(p, &bad, err);
		merged = merged || rc == 0;
		if (rc && bad != SIZE_MAX) {
			/* It stays on disk, readable; it is only no longer merged. */
			memmove(&p->packs[bad], &p->packs[bad + 1],
				(p->npacks - bad - 1) * sizeof(*p->packs));
			p->npacks--;
			kfs_error_clear(err);
			rc = 0;
		}
	}
	/* libgit2 keeps deleted packs open until its pack backend goes: a new odb drops them. */
	if (merged) {
		int brc = build_odb(p, rc ? NULL : err);
		rc = rc ? rc : brc;
	}
	return rc;
}

static int cmp_ourpack(const void *a, const void *b)
{
	const struct ourpack *x = a, *y = b;
	return x->level != y->level ? (x->level < y->level) - (x->level > y->level)
				    : strcmp(x->hex, y->hex);
}

/* A pack file without its index, untouched for ORPHAN_AGE seconds, is what a crash left between
 * writing a pack and its index (nothing reads a pack without one): removed. A writer's pack is
 * never that old without its index. */
#define ORPHAN_AGE 600

/* Whether the pack "pack-<hex>" (name's first 45 characters) has a .keep file, after removing
 * the one kratixfs leaves while a commit is being made, which only a crash leaves behind. */
static bool kept_by_someone(struct kfs_gitpacks *p, const char *name)
{
	struct kfs_buf path = {0}, keep = {0};
	kfs_buf_printf(&path, "%s/%.45s.keep", p->packdir, name);
	bool kept = kfs_read_file(path.data, &keep, NULL) == 0;
	if (kept && keep.len == strlen(IN_FLIGHT) && memcmp(keep.data, IN_FLIGHT, keep.len) == 0)
		kept = unlink(path.data) != 0;
	kfs_buf_free(&keep);
	kfs_buf_free(&path);
	return kept;
}

static void remove_orphan(struct kfs_gitpacks *p, const char *name)
{
	struct kfs_buf path = {0};
	struct stat st;
	kfs_buf_printf(&path, "%s/%.45s.idx", p->packdir, name);
	bool indexed = access(path.data, F_OK) == 0;
	kfs_buf_reset(&path);
	kfs_buf_printf(&path, "%s/%s", p->packdir, name);
	if (!indexed && stat(path.data, &st) == 0 && time(NULL) - st.st_mtime > ORPHAN_AGE &&
	    unlink(path.data) == 0)
		kept_by_someone(p, name);
	kfs_buf_free(&path);
}

/* The packs already in the folder join the levels by their number of objects, so that packs
 * left by earlier runs keep merging. A pack with deltas (written by git) drops out at its first
 * merge attempt; one without (kratixfs's, or git's of blobs alone) is merged like kratixfs's own,
 * which git tolerates as its repack does the same. Packs with a .keep file are left alone. */
static void adopt_packs(struct kfs_gitpacks *p)
{
	DIR *d = opendir(p->packdir);
	if (!d)
		return;
	for (struct dirent *de; (de = readdir(d));) {
		size_t len = strlen(de->d_name);
		if (len == 5 + 40 + 5 && strncmp(de->d_name, "pack-", 5) == 0 &&
		    strcmp(de->d_name + 45, ".pack") == 0) {
			remove_orphan(p, de->d_name);
			continue;
		}
		if (len != 5 + 40 + 4 || strncmp(de->d_name, "pack-", 5) != 0 ||
		    strcmp(de->d_name + 45, ".idx") != 0)
			continue;
		/* A pack with a .keep file is someone's promise that it stays: never merged. */
		bool kept = kept_by_someone(p, de->d_name);
		struct kfs_buf path = {0};
		kfs_buf_printf(&path, "%s/%s", p->packdir, de->d_name);
		unsigned char head[8 + 1024];
		FILE *fp = fopen(path.data, "rb");
		bool ok = !kept && fp && fread(head, 1, sizeof(head), fp) == sizeof(head) &&
			  memcmp(head, "\377tOc", 4) == 0 && get32(head + 4) == 2;
		if (fp)
			fclose(fp);
		kfs_buf_free(&path);
		if (!ok)
			continue;
		unsigned level = 0;
		for (uint32_t n = get32(head + 8 + 1020); n >= KFS_GITPACKS_LEVEL0 * KFS_GITPACKS_FANOUT;
		     n /= KFS_GITPACKS_FANOUT)
			level++;
		p->packs = kfs_xrealloc(p->packs, (p->npacks + 1) * sizeof(*p->packs));
		memcpy(p->packs[p->npacks].hex, de->d_name + 5, 40);
		p->packs[p->npacks].hex[40] = '\0';
		p->packs[p->npacks].level = level;
		p->npacks++;
	}
	closedir(d);
	if (p->npacks > 1)
		qsort(p->packs, p->npacks, sizeof(*p->packs), cmp_ourpack);
}

/* The in-flight pack is in flight no longer: its .keep goes, if write_pack made it. */
static void drop_keep(struct kfs_gitpacks *p)
{
	if (p->keep_ours) {
		struct kfs_buf path = {0};
		kfs_buf_printf(&path, "%s/pack-%s.keep", p->packdir, p->in_flight);
		unlink(path.data);
		kfs_buf_free(&path);
	}
	p->keep_ours = false;
	p->in_flight[0] = '\0';
}

/* MODE_MEMPACK's flush: libgit2 builds the pack (git_packbuilder) and indexes it. */
static int flush_mempack(struct kfs_gitpacks *p, struct kfs_error *err)
{
	git_buf pack = {0};
	git_odb *odb = NULL;
	git_odb_writepack *wp = NULL;
	git_indexer_progress stats = {0};
	int rc = git_mempack_dump(&pack, p->repo, p->mempack);
	if (rc == 0)
		rc = git_repository_odb(&odb, p->repo);
	if (rc == 0)
		rc = git_odb_write_pack(&wp, odb, NULL, NULL);
	if (rc == 0)
		rc = wp->append(wp, pack.ptr, pack.size, &stats);
	if (rc == 0)
		rc = wp->commit(wp, &stats);
	if (wp)
		wp->free(wp);
	git_odb_free(odb);
	git_buf_dispose(&pack);
	if (rc)
		return git_fail(err, "writing a pack", p->packdir);
	return git_mempack_reset(p->mempack) ? git_fail(err, "writing a pack", p->packdir) : 0;
}

int kfs_gitpacks_flush(struct kfs_gitpacks *p, struct kfs_error *err)
{
	if (p->mode == MODE_LOOSE)
		return 0;
	if (p->mode == MODE_MEMPACK)
		return flush_mempack(p, err);
	struct membackend *m = p->mem;
	if (m->n == 0)
		return 0;
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (deflateInit(&z, Z_BEST_SPEED) != Z_OK)
		return kfs_error_set(err, -ENOMEM, "git %s: cannot start zlib", p->objdir);
	struct kfs_buf raw = {0};
	struct entry *e = kfs_xcalloc(m->n, sizeof(*e));
	size_t *at = kfs_xcalloc(m->n, sizeof(*at));
	int rc = 0;
	for (size_t i = 0; i < m->n && rc == 0; i++) {
		at[i] = raw.len;
		e[i].id = m->objs[i].id;
		if (deflate_entry(&z, &m->objs[i], &raw))
			rc = kfs_error_set(err, -EIO, "git %s: zlib failed", p->objdir);
	}
	deflateEnd(&z);
	for (size_t i = 0; i < m->n && rc == 0; i++) {
		e[i].raw = (const unsigned char *)raw.data + at[i];
		e[i].rawlen = (i + 1 < m->n ? at[i + 1] : raw.len) - at[i];
		e[i].crc = (uint32_t)crc32(0, e[i].raw, (uInt)e[i].rawlen);
	}
	char hex[41];
	if (rc == 0)
		rc = write_pack(p, e, m->n, true, hex, err);
	free(at);
	free(e);
	kfs_buf_free(&raw);
	if (rc)
		return rc; /* the objects stay in memory for the next flush */
	memcpy(p->in_flight, hex, sizeof(hex));
	/* The pack backend must see the new pack before the memory forgets its objects. */
	if (px_refresh_now(p->packs_backend)) {
		drop_keep(p); /* the objects stay in memory, for the next flush */
		return git_fail(err, "reading the new pack", p->packdir);
	}
	mem_clear(m);
	p->packs = kfs_xrealloc(p->packs, (p->npacks + 1) * sizeof(*p->packs));
	memcpy(p->packs[p->npacks].hex, hex, sizeof(hex));
	p->packs[p->npacks].level = 0;
	p->npacks++;
	return 0;
}

void kfs_gitpacks_settle(struct kfs_gitpacks *p)
{
	if (p->mode != MODE_PACKS || !p->in_flight[0])
		return;
	drop_keep(p);
	/* A failed merge loses nothing (every pack stays readable): it is told, not returned. */
	struct kfs_error merr = {0};
	if (merge_full_levels(p, &merr))
		fprintf(stderr, "kratixfs: git %s: merging packs: %s\n", p->objdir, merr.msg);
}

static int attach_mempack(struct kfs_gitpacks *p, struct kfs_error *err)
{
	git_odb *odb = NULL;
	int rc = git_repository_odb(&odb, p->repo);
	if (rc == 0)
		rc = git_mempack_new(&p->mempack);
	if (rc == 0 && git_odb_add_backend(odb, p->mempack, 999)) {
		p->mempack->free(p->mempack);
		rc = -1;
	}
	git_odb_free(odb);
	return rc ? git_fail(err, "setting up the object database", p->objdir) : 0;
}

int kfs_gitpacks_attach(git_repository *repo, struct kfs_gitpacks **out, struct kfs_error *err)
{
	/* Process-wide libgit2 settings, for a repository only kratixfs writes:
	 * - each commit reads the trees on its path, and a promise's tree lists all its requests
	 *   (tens of KiB): keep parsed trees of any size cached, in a bounded cache;
	 * - objects read back are not hashed again, nor do new trees look up every entry first:
	 *   kratixfs made them all from ids libgit2 computed. */
	git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_TREE, (size_t)4 << 20);
	git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, (ssize_t)32 << 20);
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0);
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 0);
	struct kfs_gitpacks *p = kfs_xcalloc(1, sizeof(*p));
	struct kfs_buf b = {0};
	p->repo = repo;
	kfs_buf_printf(&b, "%sobjects", git_repository_path(repo));
	p->objdir = kfs_buf_steal(&b);
	kfs_buf_printf(&b, "%s/pack", p->objdir);
	p->packdir = kfs_buf_steal(&b);
	const char *mode = getenv("KFS_GIT_OBJECTS");
	p->mode = MODE_PACKS;
	if (mode && strcmp(mode, "mempack") == 0)
		p->mode = MODE_MEMPACK;
	else if (mode && strcmp(mode, "loose") == 0)
		p->mode = MODE_LOOSE;
	int rc = kfs_mkdir_p(p->packdir, err);
	if (rc == 0 && p->mode == MODE_PACKS)
		rc = build_odb(p, err);
	if (rc == 0 && p->mode == MODE_PACKS)
		adopt_packs(p);
	if (rc == 0 && p->mode == MODE_MEMPACK)
		rc = attach_mempack(p, err);
	if (rc) {
		kfs_gitpacks_free(p);
		return rc;
	}
	*out = p;
	return 0;
}
