#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kratixfs/buf.h"
#include "kratixfs/files.h"

#define MAGIC "KFS1"
#define REMOVED UINT32_MAX
/* Past this, a put compacts: replay stays fast and the folder stays small. */
#define COMPACT_BYTES (64u << 20)

struct kfs_journal {
	pthread_mutex_t lock;
	int fd; /* journal, O_APPEND */
	char *journal_path, *snapshot_path, *tmp_path;
	size_t bytes;
};

struct header {
	char magic[4];
	uint32_t keylen;
	uint32_t len; /* REMOVED for a removal */
	uint64_t sum;
};

static uint64_t fnv1a(uint64_t h, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t checksum(const char *key, size_t keylen, const char *payload, size_t len)
{
	return fnv1a(fnv1a(0xcbf29ce484222325ULL, key, keylen), payload, len);
}

static void frame(struct kfs_buf *b, const char *key, const char *payload, size_t len)
{
	struct header h = {.keylen = (uint32_t)strlen(key),
			   .len = payload ? (uint32_t)len : REMOVED};
	memcpy(h.magic, MAGIC, 4);
	h.sum = checksum(key, h.keylen, payload ? payload : "", payload ? len : 0);
	kfs_buf_add(b, (const char *)&h, sizeof(h));
	kfs_buf_add(b, key, h.keylen);
	if (payload)
		kfs_buf_add(b, payload, len);
}

struct record {
	const char *key;
	size_t keylen;
	const char *payload; /* NULL: removed */
	size_t len;
	size_t seq;
};

/* Parses framed records until the end or the first torn or corrupt one. */
static void parse(const char *data, size_t n, struct record **recs, size_t *nrecs, size_t *cap)
{
	size_t off = 0;
	while (n - off >= sizeof(struct header)) {
		struct header h;
		memcpy(&h, data + off, sizeof(h));
		size_t body = h.keylen + (h.len == REMOVED ? 0 : (size_t)h.len);
		if (memcmp(h.magic, MAGIC, 4) != 0 || n - off - sizeof(h) < body)
			return;
		const char *key = data + off + sizeof(h);
		const char *payload = h.len == REMOVED ? NULL : key + h.keylen;
		size_t len = h.len == REMOVED ? 0 : h.len;
		if (checksum(key, h.keylen, payload ? payload : "", len) != h.sum)
			return;
		if (*nrecs == *cap) {
			*cap = *cap ? *cap * 2 : 256;
			*recs = kfs_xrealloc(*recs, *cap * sizeof(**recs));
		}
		(*recs)[*nrecs] = (struct record){key, h.keylen, payload, len, *nrecs};
		(*nrecs)++;
		off += sizeof(h) + body;
	}
}

static int cmp_record(const void *a, const void *b)
{
	const struct record *x = a, *y = b;
	size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
	int c = memcmp(x->key, y->key, n);
	if (c == 0 && x->keylen != y->keylen)
		c = x->keylen < y->keylen ? -1 : 1;
	if (c == 0)
		c = x->seq < y->seq ? -1 : 1;
	return c;
}

/* Replays snapshot then journal; calls each for the latest record of every live key and, when
 * snapshot is set, writes those records into it. */
static int replay(struct kfs_journal *j,
		  void (*each)(void *ctx, const char *key, const char *payload, size_t len),
		  void *ctx, FILE *snapshot, struct kfs_error *err)
{
	struct kfs_buf snap = {0}, jour = {0};
	int rc = kfs_read_file(j->snapshot_path, &snap, err);
	if (rc == -ENOENT)
		rc = 0;
	if (rc == 0) {
		rc = kfs_read_file(j->journal_path, &jour, err);
		if (rc == -ENOENT)
			rc = 0;
	}
	struct record *recs = NULL;
	size_t n = 0, cap = 0;
	if (rc == 0) {
		parse(snap.data ? snap.data : "", snap.len, &recs, &n, &cap);
		parse(jour.data ? jour.data : "", jour.len, &recs, &n, &cap);
		if (n > 1)
			qsort(recs, n, sizeof(*recs), cmp_record);
	}
	char *key = NULL;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		bool last = i + 1 == n || recs[i + 1].keylen != recs[i].keylen ||
			    memcmp(recs[i + 1].key, recs[i].key, recs[i].keylen) != 0;
		if (!last || !recs[i].payload)
			continue;
		free(key);
		key = kfs_xstrndup(recs[i].key, recs[i].keylen);
		if (each)
			each(ctx, key, recs[i].payload, recs[i].len);
		if (snapshot) {
			struct kfs_buf rec = {0};
			frame(&rec, key, recs[i].payload, recs[i].len);
			fwrite(rec.data, 1, rec.len, snapshot);
			kfs_buf_free(&rec);
		}
	}
	free(key);
	free(recs);
	kfs_buf_free(&snap);
	kfs_buf_free(&jour);
	return rc;
}

/* Rewrites the snapshot from everything live and empties the journal (lock held). */
static int compact(struct kfs_journal *j,
		   void (*each)(void *ctx, const char *key, const char *payload, size_t len),
		   void *ctx, struct kfs_error *err)
{
	/* Streamed to the file: a snapshot of 10,000 requests never sits in memory twice. */
	FILE *snapshot = fopen(j->tmp_path, "we");
	if (!snapshot)
		return kfs_error_set(err, -errno, "%s: %s", j->tmp_path, strerror(errno));
	int rc = replay(j, each, ctx, snapshot, err);
	bool failed = ferror(snapshot) != 0;
	if ((fclose(snapshot) != 0 || failed) && rc == 0)
		rc = kfs_error_set(err, -EIO, "%s: cannot write it", j->tmp_path);
	if (rc == 0 && rename(j->tmp_path, j->snapshot_path) < 0)
		rc = kfs_error_set(err, -errno, "%s: %s", j->snapshot_path, strerror(errno));
	/* The journal's records are all in the snapshot now (replaying them twice is harmless,
	 * so a crash between the rename and this truncate loses nothing). */
	if (rc == 0 && ftruncate(j->fd, 0) < 0)
		rc = kfs_error_set(err, -errno, "%s: %s", j->journal_path, strerror(errno));
	if (rc == 0)
		j->bytes = 0;
	return rc;
}

int kfs_journal_open(const char *dir,
		     void (*each)(void *ctx, const char *key, const char *payload, size_t len),
		     void *ctx, struct kfs_journal **out, struct kfs_error *err)
{
	struct kfs_journal *j = kfs_xcalloc(1, sizeof(*j));
	pthread_mutex_init(&j->lock, NULL);
	struct kfs_buf p = {0};
	kfs_buf_printf(&p, "%s/journal", dir);
	j->journal_path = kfs_buf_steal(&p);
	kfs_buf_printf(&p, "%s/snapshot", dir);
	j->snapshot_path = kfs_buf_steal(&p);
	kfs_buf_printf(&p, "%s/snapshot.tmp", dir);
	j->tmp_path = kfs_buf_steal(&p);
	j->fd = open(j->journal_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	int rc = j->fd < 0 ? kfs_error_set(err, -errno, "%s: %s", j->journal_path, strerror(errno))
			   : compact(j, each, ctx, err);
	if (rc < 0) {
		kfs_journal_close(j);
		*out = NULL;
		return rc;
	}
	*out = j;
	return 0;
}

int kfs_journal_put(struct kfs_journal *j, const char *key, const char *payload, size_t len,
		    struct kfs_error *err)
{
	struct kfs_buf rec = {0};
	frame(&rec, key, payload, len);
	int rc = 0;
	pthread_mutex_lock(&j->lock);
	for (size_t off = 0; off < rec.len;) {
		ssize_t w = write(j->fd, rec.data + off, rec.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = kfs_error_set(err, -errno, "%s: %s", j->journal_path, strerror(errno));
			/* Cut a partial record off, or every later record would be lost with it. */
			if (ftruncate(j->fd, (off_t)j->bytes) < 0)
				rc = kfs_error_set(err, -errno, "%s: %s", j->journal_path,
						   strerror(errno));
			break;
		}
		off += (size_t)w;
	}
	if (rc == 0) {
		j->bytes += rec.len;
		if (j->bytes > COMPACT_BYTES)
			rc = compact(j, NULL, NULL, err);
	}
	pthread_mutex_unlock(&j->lock);
	kfs_buf_free(&rec);
	return rc;
}

void kfs_journal_close(struct kfs_journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	pthread_mutex_destroy(&j->lock);
	free(j->journal_path);
	free(j->snapshot_path);
	free(j->tmp_path);
	free(j);
}
