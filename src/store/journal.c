#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kratixfs/buf.h"
#include "kratixfs/hash.h"

#define MAGIC	 "KFS2"
#define MAGIC_V1 "KFS1" /* FNV-checksummed records of earlier versions: still read */
#define REMOVED UINT32_MAX
/* Keys are request names (at most 253 bytes): a longer key length is damage, not a record. */
#define MAX_KEY 4096
/* A put compacts once the journal is over COMPACT_FLOOR and COMPACT_RATIO times the live records
 * (the last snapshot): replay stays fast, the folder stays small, and compacting (reading and
 * writing every live record) costs at most 1/COMPACT_RATIO of the bytes appended. */
#define COMPACT_FLOOR (1u << 20)
#define COMPACT_RATIO 4
/* How long an open waits for the state folder's lock before it names the holder. */
#define LOCK_WAIT_MS 2000

struct kfs_journal {
	pthread_mutex_t lock;
	int fd;	     /* journal, O_APPEND */
	int lock_fd; /* <dir>/lock, flocked for the journal's life */
	char *dir, *journal_path, *snapshot_path, *tmp_path;
	size_t bytes;	   /* the journal's size */
	size_t live;	   /* the snapshot's size at the last compaction */
	size_t compact_at; /* no compaction before the journal is this big (after a failed one) */
	bool torn;	   /* a failed append could not be cut off: cut it before the next one */
	bool no_compact;   /* a compaction found damage: the next start reports it, not a put */
	struct kfs_journal_report report;
};

struct header {
	char magic[4];
	uint32_t keylen;
	uint32_t len;	/* REMOVED for a removal */
	char keysum[8]; /* hex SHA-256 of keylen, len and the key: the header can be trusted */
	char sum[32];	/* hex SHA-256 of the key and the payload */
};

struct header_v1 {
	char magic[4];
	uint32_t keylen;
	uint32_t len;
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

static void key_sum(uint32_t keylen, uint32_t len, const char *key, char out[8])
{
	char small[8 + 256], d[KFS_DIGEST_LEN];
	char *b = keylen <= 256 ? small : kfs_xmalloc(8 + (size_t)keylen);
	memcpy(b, &keylen, 4);
	memcpy(b + 4, &len, 4);
	memcpy(b + 8, key, keylen);
	kfs_sha256_digest(b, 8 + (size_t)keylen, d);
	memcpy(out, d + 7, 8);
	if (b != small)
		free(b);
}

static void body_sum(const char *body, size_t n, char out[32])
{
	char d[KFS_DIGEST_LEN];
	kfs_sha256_digest(body, n, d);
	memcpy(out, d + 7, 32);
}

static void frame(struct kfs_buf *b, const char *key, const char *payload, size_t len)
{
	struct header h = {.keylen = (uint32_t)strlen(key),
			   .len = payload ? (uint32_t)len : REMOVED};
	memcpy(h.magic, MAGIC, 4);
	size_t start = b->len;
	kfs_buf_add(b, (const char *)&h, sizeof(h));
	kfs_buf_add(b, key, h.keylen);
	if (payload)
		kfs_buf_add(b, payload, len);
	key_sum(h.keylen, h.len, key, h.keysum);
	body_sum(b->data + start + sizeof(h), h.keylen + (payload ? len : 0), h.sum);
	memcpy(b->data + start, &h, sizeof(h));
}

struct record {
	const char *key;
	size_t keylen;
	const char *payload; /* NULL: removed */
	size_t len;
	size_t seq;
	const char *frame; /* the proven frame in today's format, copied as it is; NULL: KFS1 */
	size_t frame_len;
};

/* What the bytes at data[0..n) start with. */
enum verdict {
	V_OK,	 /* a record, proven */
	V_NAMED, /* a record whose header and key are proven, and whose payload is damaged */
	V_SHORT, /* the start of a record, cut short by the end of the data */
	V_BAD,	 /* not a record */
};

static enum verdict check_v1(const char *data, size_t n, struct record *rec, size_t *size)
{
	struct header_v1 h;
	if (n < sizeof(h))
		return V_SHORT;
	memcpy(&h, data, sizeof(h));
	size_t body = h.len == REMOVED ? 0 : h.len;
	if (h.keylen > MAX_KEY)
		return V_BAD;
	if (n - sizeof(h) < h.keylen + body)
		return V_SHORT;
	const char *key = data + sizeof(h);
	if (fnv1a(fnv1a(0xcbf29ce484222325ULL, key, h.keylen), key + h.keylen, body) != h.sum)
		return V_BAD;
	*rec = (struct record){key,  h.keylen, h.len == REMOVED ? NULL : key + h.keylen, body, 0,
			       NULL, 0};
	*size = sizeof(h) + h.keylen + body;
	return V_OK;
}

static enum verdict check(const char *data, size_t n, struct record *rec, size_t *size)
{
	if (n >= 4 && memcmp(data, MAGIC_V1, 4) == 0)
		return check_v1(data, n, rec, size);
	if (memcmp(data, MAGIC, n < 4 ? n : 4) != 0)
		return V_BAD;
	struct header h;
	if (n < sizeof(h))
		return V_SHORT;
	memcpy(&h, data, sizeof(h));
	if (h.keylen > MAX_KEY)
		return V_BAD;
	if (n - sizeof(h) < h.keylen)
		return V_SHORT;
	const char *key = data + sizeof(h);
	char ks[8];
	key_sum(h.keylen, h.len, key, ks);
	if (memcmp(ks, h.keysum, sizeof(ks)) != 0)
		return V_BAD;
	size_t body = h.len == REMOVED ? 0 : h.len;
	*rec = (struct record){key,
			       h.keylen,
			       h.len == REMOVED ? NULL : key + h.keylen,
			       body,
			       0,
			       data,
			       sizeof(h) + h.keylen + body};
	if (n - sizeof(h) - h.keylen < body)
		return V_SHORT;
	*size = sizeof(h) + h.keylen + body;
	char sum[32];
	body_sum(key, h.keylen + body, sum);
	return memcmp(sum, h.sum, sizeof(sum)) == 0 ? V_OK : V_NAMED;
}

/* The next offset from which a record can be proven, or n. Payloads are YAML text without NUL
 * bytes, and every header holds some (its lengths), so no record hides inside a payload. */
static size_t resync(const char *data, size_t n, size_t from)
{
	for (size_t p = from; p < n; p++) {
		const char *k = memchr(data + p, 'K', n - p);
		if (!k)
			break;
		p = (size_t)(k - data);
		struct record r;
		size_t size;
		enum verdict v = check(data + p, n - p, &r, &size);
		if (v == V_OK || v == V_NAMED)
			return p;
	}
	return n;
}

/* Every record read back, good and damaged, numbered in the order they were written. */
struct replay_set {
	struct record *recs;
	size_t n, cap;
	struct record *bad; /* damaged records whose key is known */
	size_t nbad, capbad;
	size_t seq;
};

static void add(struct record **list, size_t *n, size_t *cap, const struct record *r, size_t seq)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 256;
		*list = kfs_xrealloc(*list, *cap * sizeof(**list));
	}
	(*list)[*n] = *r;
	(*list)[(*n)++].seq = seq;
}

/* Parses one file into set, counting in d; returns the length of a torn tail: the bytes after
 * the last proven record when they are the start of a record cut short, and nothing follows. */
static size_t parse(const char *data, size_t n, struct replay_set *set,
		    struct kfs_journal_damage *d, size_t *unnamed)
{
	size_t off = 0;
	while (off < n) {
		struct record r = {0};
		size_t size = 0;
		enum verdict v = check(data + off, n - off, &r, &size);
		if (v == V_OK) {
			add(&set->recs, &set->n, &set->cap, &r, set->seq++);
			d->kept++;
			off += size;
			continue;
		}
		if (v == V_NAMED) {
			add(&set->bad, &set->nbad, &set->capbad, &r, set->seq++);
			d->lost++;
			d->lost_bytes += size;
			off += size;
			continue;
		}
		size_t next = resync(data, n, off + 1);
		if (next == n && v == V_SHORT)
			return n - off;
		/* A cut record followed by more: an append that failed and was not cut off. */
		if (r.key)
			add(&set->bad, &set->nbad, &set->capbad, &r, set->seq++);
		else
			(*unnamed)++;
		d->lost++;
		d->lost_bytes += next - off;
		off = next;
	}
	return 0;
}

static int cmp_key(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	if (c == 0 && alen != blen)
		c = alen < blen ? -1 : 1;
	return c;
}

static int cmp_record(const void *a, const void *b)
{
	const struct record *x = a, *y = b;
	int c = cmp_key(x->key, x->keylen, y->key, y->keylen);
	if (c == 0)
		c = x->seq < y->seq ? -1 : 1;
	return c;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The keys whose latest record is a damaged one: their last change is lost. recs is sorted. */
static void lost_keys(const struct replay_set *set, struct kfs_journal_report *rep)
{
	for (size_t i = 0; i < set->nbad; i++) {
		const struct record *b = &set->bad[i];
		size_t lo = 0, hi = set->n;
		while (lo < hi) { /* the first record of a key after b's */
			size_t mid = (lo + hi) / 2;
			if (cmp_key(set->recs[mid].key, set->recs[mid].keylen, b->key, b->keylen) <=
			    0)
				lo = mid + 1;
			else
				hi = mid;
		}
		bool superseded = lo > 0 &&
				  cmp_key(set->recs[lo - 1].key, set->recs[lo - 1].keylen, b->key,
					  b->keylen) == 0 &&
				  set->recs[lo - 1].seq > b->seq;
		if (superseded)
			continue;
		char *key = kfs_xstrndup(b->key, b->keylen);
		bool dup = false;
		for (size_t k = 0; k < rep->nlost_keys && !dup; k++)
			dup = strcmp(rep->lost_keys[k], key) == 0;
		if (dup) {
			free(key);
			continue;
		}
		rep->lost_keys =
		    kfs_xrealloc(rep->lost_keys, (rep->nlost_keys + 1) * sizeof(*rep->lost_keys));
		rep->lost_keys[rep->nlost_keys++] = key;
	}
	if (rep->nlost_keys > 1)
		qsort(rep->lost_keys, rep->nlost_keys, sizeof(*rep->lost_keys), cmp_str);
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Writes the latest record of every live key of set (sorted) to the temporary snapshot, calling
 * each for it; *written is its size. On failure the temporary file is removed. */
static int write_snapshot(struct kfs_journal *j, const struct replay_set *set,
			  void (*each)(void *ctx, const char *key, const char *payload, size_t len),
			  void *ctx, size_t *written, struct kfs_error *err)
{
	/* 0600 whatever the umask, and for a file an older version left 0644: it holds secrets. */
	int fd = open(j->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return kfs_error_set(err, -errno, "%s: %s", j->tmp_path, strerror(errno));
	int rc = fchmod(fd, 0600) < 0 ? -errno : 0;
	struct kfs_buf out = {0};
	char *key = NULL;
	*written = 0;
	for (size_t i = 0; i < set->n; i++) {
		const struct record *r = &set->recs[i];
		bool last =
		    i + 1 == set->n ||
		    cmp_key(set->recs[i + 1].key, set->recs[i + 1].keylen, r->key, r->keylen) != 0;
		if (!last || !r->payload)
			continue;
		free(key);
		key = kfs_xstrndup(r->key, r->keylen);
		if (each)
			each(ctx, key, r->payload, r->len);
		/* A proven frame is copied: its checksums need not be computed again. */
		if (r->frame)
			kfs_buf_add(&out, r->frame, r->frame_len);
		else
			frame(&out, key, r->payload, r->len);
		/* Streamed: a snapshot of 10,000 requests never sits in memory twice. */
		if (out.len >= (64u << 10)) {
			if (rc == 0)
				rc = write_all(fd, out.data, out.len);
			*written += out.len;
			out.len = 0;
		}
	}
	if (rc == 0 && out.len)
		rc = write_all(fd, out.data, out.len);
	*written += out.len;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	free(key);
	kfs_buf_free(&out);
	if (rc < 0) {
		unlink(j->tmp_path);
		return kfs_error_set(err, rc, "%s: cannot write it: %s", j->tmp_path,
				     strerror(-rc));
	}
	return 0;
}

/* Keeps the damaged file path aside as <path>.damaged-<UTC time>: a hard link, so that the bytes
 * stay exactly as found, or a copy of data (what was read) where links are not supported. */
static int keep_aside(const char *path, const char *data, size_t len, char **kept,
		      struct kfs_error *err)
{
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (int i = 0; i < 100; i++) {
		struct kfs_buf name = {0};
		kfs_buf_printf(&name, "%s.damaged-%s", path, stamp);
		if (i)
			kfs_buf_printf(&name, "-%d", i);
		int rc = link(path, name.data) == 0 ? 0 : -errno;
		if (rc == -EEXIST) {
			kfs_buf_free(&name);
			continue;
		}
		if (rc < 0) {
			int fd = open(name.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
			rc = fd < 0 ? -errno : write_all(fd, data, len);
			if (fd >= 0 && close(fd) < 0 && rc == 0)
				rc = -errno;
			if (rc == -EEXIST) {
				kfs_buf_free(&name);
				continue;
			}
		}
		if (rc == 0) {
			chmod(name.data, 0600);
			*kept = kfs_buf_steal(&name);
			return 0;
		}
		kfs_error_set(err, rc, "%s: damaged, and it cannot be kept aside as %s: %s", path,
			      name.data, strerror(-rc));
		kfs_buf_free(&name);
		return rc;
	}
	return kfs_error_set(err, -EEXIST, "%s: damaged, and %s.damaged-%s-* all exist", path, path,
			     stamp);
}

/* Reads a whole file (a missing one is empty) straight into a buffer of its size: a compaction
 * reads a few times the live records, and growing the buffer as it goes copied them twice. */
static int read_optional(const char *path, struct kfs_buf *out, struct kfs_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT
			   ? 0
			   : kfs_error_set(err, -errno, "%s: %s", path, strerror(errno));
	struct stat st;
	int rc = fstat(fd, &st) < 0 ? -errno : 0;
	if (rc == 0)
		kfs_buf_reserve(out, (size_t)st.st_size + 1);
	while (rc == 0) {
		if (out->cap - out->len < 2)
			kfs_buf_reserve(out, 65536); /* it grew since the fstat */
		ssize_t r = read(fd, out->data + out->len, out->cap - out->len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = r < 0 ? -errno : 0;
			break;
		}
		out->len += (size_t)r;
	}
	close(fd);
	if (rc < 0)
		return kfs_error_set(err, rc, "%s: %s", path, strerror(-rc));
	out->data[out->len] = '\0';
	return 0;
}

/* Reads snapshot and journal into set (holding the bytes in snap and jour), sorted. */
static int load(struct kfs_journal *j, struct kfs_buf *snap, struct kfs_buf *jour,
		struct replay_set *set, struct kfs_journal_report *rep, struct kfs_error *err)
{
	int rc = read_optional(j->snapshot_path, snap, err);
	if (rc == 0)
		rc = read_optional(j->journal_path, jour, err);
	if (rc < 0)
		return rc;
	/* The snapshot is renamed into place whole: a cut one is damage, not a crash. */
	size_t cut =
	    parse(snap->data ? snap->data : "", snap->len, set, &rep->snapshot, &rep->unnamed);
	if (cut) {
		rep->snapshot.lost++;
		rep->snapshot.lost_bytes += cut;
		rep->unnamed++;
	}
	rep->torn_bytes =
	    parse(jour->data ? jour->data : "", jour->len, set, &rep->journal, &rep->unnamed);
	if (set->n > 1)
		qsort(set->recs, set->n, sizeof(*set->recs), cmp_record);
	return 0;
}

static void set_free(struct replay_set *set)
{
	free(set->recs);
	free(set->bad);
}

/* Replays the state folder at open and compacts it; a damaged file is kept aside first. */
static int recover_files(struct kfs_journal *j,
			 void (*each)(void *ctx, const char *key, const char *payload, size_t len),
			 void *ctx, struct kfs_error *err)
{
	struct kfs_journal_report *rep = &j->report;
	struct kfs_buf snap = {0}, jour = {0};
	struct replay_set set = {0};
	size_t written = 0;
	int rc = load(j, &snap, &jour, &set, rep, err);
	if (rc == 0 && rep->snapshot.lost && !rep->snapshot.kept) {
		/* Going on would start with no requests and hide the loss: the user decides. */
		rc =
		    kfs_error_set(err, -EIO,
				  "%s: damaged: none of its %zu bytes can be read as a record, so "
				  "which requests it held is unknown; nothing was changed. Restore "
				  "it from a backup, or move it aside (mv %s %s.bad) to start "
				  "without them (with -o git their files stay in the Git store)",
				  j->snapshot_path, snap.len, j->snapshot_path, j->snapshot_path);
	}
	if (rc == 0) {
		lost_keys(&set, rep);
		rc = write_snapshot(j, &set, each, ctx, &written, err);
		if (rc < 0)
			kfs_error_add(err, rc,
				      "%s: nothing was changed; free some space and start "
				      "again",
				      j->dir);
	}
	if (rc == 0 && rep->snapshot.lost) {
		rep->snapshot.file = j->snapshot_path;
		rc = keep_aside(j->snapshot_path, snap.data, snap.len, &rep->snapshot.kept_as, err);
	}
	if (rc == 0 && rename(j->tmp_path, j->snapshot_path) < 0)
		rc = kfs_error_set(err, -errno, "%s: %s", j->snapshot_path, strerror(errno));
	/* Every proven record of the journal is in the snapshot now (replaying one twice is
	 * harmless, so a crash from here on loses nothing): the journal starts empty. A damaged
	 * one leaves under its new name, and a new one is created. */
	if (rc == 0 && rep->journal.lost) {
		rep->journal.file = j->journal_path;
		rc = keep_aside(j->journal_path, jour.data, jour.len, &rep->journal.kept_as, err);
		if (rc == 0 && unlink(j->journal_path) < 0)
			rc = kfs_error_set(err, -errno, "%s: %s", j->journal_path, strerror(errno));
	}
	if (rc == 0) {
		j->fd = open(j->journal_path,
			     O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (j->fd < 0 || fchmod(j->fd, 0600) < 0 || ftruncate(j->fd, 0) < 0)
			rc = kfs_error_set(err, -errno, "%s: %s", j->journal_path, strerror(errno));
	}
	if (rc < 0)
		unlink(j->tmp_path);
	j->live = written;
	set_free(&set);
	kfs_buf_free(&snap);
	kfs_buf_free(&jour);
	return rc;
}

/* Rewrites the snapshot from everything live and empties the journal (lock held). A failure
 * keeps the old files, which hold every record; so does damage found on the way, which only a
 * start may report and keep aside. */
static void compact(struct kfs_journal *j)
{
	struct kfs_journal_report rep = {0};
	struct kfs_buf snap = {0}, jour = {0};
	struct replay_set set = {0};
	struct kfs_error err = {0};
	size_t written = 0;
	int rc = load(j, &snap, &jour, &set, &rep, &err);
	if (rc == 0 && (rep.snapshot.lost || rep.journal.lost || rep.torn_bytes)) {
		j->no_compact = true;
		rc = -EIO;
	}
	if (rc == 0)
		rc = write_snapshot(j, &set, NULL, NULL, &written, &err);
	if (rc == 0 && rename(j->tmp_path, j->snapshot_path) < 0) {
		rc = -errno;
		unlink(j->tmp_path);
	}
	if (rc == 0 && ftruncate(j->fd, 0) < 0)
		rc = -errno; /* its records are in the snapshot too: replayed twice, harmless */
	if (rc == 0) {
		j->bytes = 0;
		j->live = written;
	}
	/* Not again before the journal has doubled: on a full disk, every put would read it. */
	if (rc < 0)
		j->compact_at = j->bytes * 2;
	set_free(&set);
	kfs_buf_free(&snap);
	kfs_buf_free(&jour);
}

/* Takes <dir>/lock for the journal's life; a holder is named by the pid it wrote there. */
static int take_lock(struct kfs_journal *j, struct kfs_error *err)
{
	struct kfs_buf path = {0};
	kfs_buf_printf(&path, "%s/lock", j->dir);
	j->lock_fd = open(path.data, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	int rc = 0;
	if (j->lock_fd < 0 || fchmod(j->lock_fd, 0600) < 0)
		rc = kfs_error_set(err, -errno, "%s: %s", path.data, strerror(errno));
	/* A daemon that was just unmounted may still be closing its store: `umount; mount` waits
	 * for it, briefly, rather than failing. */
	for (int tries = 0; rc == 0 && tries < LOCK_WAIT_MS / 50; tries++) {
		if (flock(j->lock_fd, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK)
			break;
		usleep(50 * 1000);
	}
	if (rc == 0 && flock(j->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK) {
			char pid[32] = "";
			ssize_t n = pread(j->lock_fd, pid, sizeof(pid) - 1, 0);
			pid[n > 0 ? n : 0] = '\0';
			pid[strcspn(pid, "\n")] = '\0';
			rc = kfs_error_set(err, -EBUSY,
					   "%s: the state folder is in use by another kratixfs "
					   "(pid %s): unmount that one first, or give this one its "
					   "own -o state=",
					   j->dir, pid[0] ? pid : "unknown");
		} else {
			rc = kfs_error_set(err, -errno, "%s: %s", path.data, strerror(errno));
		}
	}
	if (rc == 0) {
		char pid[32];
		int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
		if (ftruncate(j->lock_fd, 0) < 0 || pwrite(j->lock_fd, pid, (size_t)n, 0) != n)
			rc = kfs_error_set(err, -errno, "%s: %s", path.data, strerror(errno));
	}
	kfs_buf_free(&path);
	return rc;
}

int kfs_journal_open(const char *dir,
		     void (*each)(void *ctx, const char *key, const char *payload, size_t len),
		     void *ctx, struct kfs_journal **out, struct kfs_error *err)
{
	struct kfs_journal *j = kfs_xcalloc(1, sizeof(*j));
	pthread_mutex_init(&j->lock, NULL);
	j->fd = j->lock_fd = -1;
	j->dir = kfs_xstrdup(dir);
	struct kfs_buf p = {0};
	kfs_buf_printf(&p, "%s/journal", dir);
	j->journal_path = kfs_buf_steal(&p);
	kfs_buf_printf(&p, "%s/snapshot", dir);
	j->snapshot_path = kfs_buf_steal(&p);
	kfs_buf_printf(&p, "%s/snapshot.tmp", dir);
	j->tmp_path = kfs_buf_steal(&p);
	int rc = take_lock(j, err);
	if (rc == 0)
		rc = recover_files(j, each, ctx, err);
	if (rc < 0) {
		kfs_journal_close(j);
		*out = NULL;
		return rc;
	}
	*out = j;
	return 0;
}

const struct kfs_journal_report *kfs_journal_report(const struct kfs_journal *j)
{
	return &j->report;
}

int kfs_journal_put(struct kfs_journal *j, const char *key, const char *payload, size_t len,
		    struct kfs_error *err)
{
	struct kfs_buf rec = {0};
	frame(&rec, key, payload, len);
	int rc = 0;
	pthread_mutex_lock(&j->lock);
	if (j->torn) {
		if (ftruncate(j->fd, (off_t)j->bytes) < 0)
			rc = kfs_error_set(err, -errno,
					   "%s: cannot cut off a failed append (%s): the change is "
					   "not stored",
					   j->journal_path, strerror(errno));
		else
			j->torn = false;
	}
	for (size_t off = 0; rc == 0 && off < rec.len;) {
		ssize_t w = write(j->fd, rec.data + off, rec.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w >= 0) {
			off += (size_t)w;
			continue;
		}
		int e = errno;
		if (e == ENOSPC || e == EDQUOT)
			rc = kfs_error_set(err, -e,
					   "%s: the state folder is full (%s): the change "
					   "is not stored; free some space there",
					   j->dir, strerror(e));
		else
			rc = kfs_error_set(err, -e, "%s: the change is not stored: %s",
					   j->journal_path, strerror(e));
		/* Cut a partial record off, or the next start would see damage in the middle
		 * of the journal; if that fails too, the next put tries again first. */
		if (off > 0 && ftruncate(j->fd, (off_t)j->bytes) < 0)
			j->torn = true;
	}
	if (rc == 0) {
		j->bytes += rec.len;
		if (j->bytes > COMPACT_FLOOR && j->bytes / COMPACT_RATIO > j->live &&
		    j->bytes >= j->compact_at && !j->no_compact)
			compact(j);
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
	if (j->lock_fd >= 0)
		close(j->lock_fd); /* releases the lock */
	pthread_mutex_destroy(&j->lock);
	for (size_t i = 0; i < j->report.nlost_keys; i++)
		free(j->report.lost_keys[i]);
	free(j->report.lost_keys);
	free(j->report.snapshot.kept_as);
	free(j->report.journal.kept_as);
	free(j->dir);
	free(j->journal_path);
	free(j->snapshot_path);
	free(j->tmp_path);
	free(j);
}
