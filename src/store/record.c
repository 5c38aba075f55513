/* A request's record in the state folder (journal.h stores it), typed: one tagged field after
 * another, each a tag byte, a 4-byte little-endian length and the bytes. Numbers are 8 bytes,
 * little-endian; a condition is its five texts, each ended by a NUL. Reading one takes no
 * parse: a restart reads 10,000 of them. Records written as YAML (an older state folder) read
 * back too. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/doc.h"
#include "store_internal.h"

/* The first bytes of every typed record: a YAML record cannot start with a control byte. */
static const char magic[] = "\x01kratixfs-record-1\n";
#define MAGIC_LEN (sizeof(magic) - 1)

enum tag {
	T_GENERATION = 'g',
	T_OBSERVED = 'o',
	T_PHASE = 'p',
	T_MESSAGE = 'm',
	T_REJECTION = 'r',
	T_UNLINKED = 'u',
	T_DRAFT = 'd',
	T_UID = 'U',
	T_GID = 'G',
	T_MODE = 'M',
	T_OBJ_MODE = 'N',
	T_OBJECT = 'O',
	T_GOOD = 'K',
	T_LOG = 'l',
	T_COMMIT = 'c',
	T_CONDITION = 'C',
	T_PROMISE = 'P',
	T_SLOT_FILES = 'S', /* the root slot's changed files (slot.c) */
	T_STATUS = 's',      /* the persisted status, YAML text ("" for an empty one) */
	T_STATUS_BASE = 'b', /* the status the last good render started from */
	T_RETRY_AT = 't',    /* a suspended request's retryAfter time */
};

static void put_field(struct kfs_buf *b, enum tag t, const void *data, size_t len)
{
	unsigned char head[5] = {(unsigned char)t, (unsigned char)len, (unsigned char)(len >> 8),
				 (unsigned char)(len >> 16), (unsigned char)(len >> 24)};
	kfs_buf_add(b, (const char *)head, sizeof(head));
	kfs_buf_add(b, data, len);
}

static void put_num(struct kfs_buf *b, enum tag t, unsigned long long v)
{
	unsigned char n[8];
	for (int i = 0; i < 8; i++)
		n[i] = (unsigned char)(v >> (8 * i));
	put_field(b, t, n, sizeof(n));
}

static void put_text(struct kfs_buf *b, enum tag t, const char *text)
{
	if (text)
		put_field(b, t, text, strlen(text));
}

static void put_condition(struct kfs_buf *b, const struct condition *c)
{
	struct kfs_buf v = {0};
	const char *parts[] = {c->type, c->status, c->reason, c->message, c->time};
	for (size_t i = 0; i < 5; i++)
		kfs_buf_add(&v, parts[i], strlen(parts[i]) + 1);
	put_field(b, T_CONDITION, v.data, v.len);
	kfs_buf_free(&v);
}

void kfs_record_encode(const struct request *r, struct kfs_buf *b)
{
	kfs_buf_add(b, magic, MAGIC_LEN);
	put_num(b, T_GENERATION, r->generation);
	put_num(b, T_OBSERVED, r->observed);
	put_num(b, T_PHASE, (unsigned long long)r->phase);
	put_text(b, T_MESSAGE, r->message);
	put_text(b, T_REJECTION, r->rejection);
	if (r->unlinked)
		put_num(b, T_UNLINKED, 1);
	if (r->draft)
		put_field(b, T_DRAFT, r->draft, r->draft_len);
	put_num(b, T_UID, r->owner.uid);
	put_num(b, T_GID, r->owner.gid);
	put_num(b, T_MODE, r->owner.dir_mode);
	put_num(b, T_OBJ_MODE, r->owner.obj_mode);
	if (r->object)
		put_field(b, T_OBJECT, r->object, r->object_len);
	if (r->good && !(r->object && r->good_len == r->object_len &&
			 memcmp(r->good, r->object, r->good_len) == 0))
		put_field(b, T_GOOD, r->good, r->good_len);
	put_text(b, T_LOG, r->log);
	if (r->commit[0])
		put_text(b, T_COMMIT, r->commit);
	put_text(b, T_PROMISE, r->promise);
	for (size_t i = 0; i < r->conds.n; i++)
		put_condition(b, &r->conds.items[i]);
	if (r->edits) {
		struct kfs_buf v = {0};
		kfs_slot_files_encode(r->edits, &v);
		put_field(b, T_SLOT_FILES, v.data ? v.data : "", v.len);
		kfs_buf_free(&v);
	}
	/* Always there in a record of this version, so that its absence says "an older one". */
	put_field(b, T_STATUS, r->render_status ? r->render_status : "",
		  r->render_status ? strlen(r->render_status) : 0);
	put_text(b, T_STATUS_BASE, r->status_base);
	if (r->retry_at)
		put_num(b, T_RETRY_AT, (unsigned long long)r->retry_at);
}

void kfs_record_free(struct record *rec)
{
	free(rec->message);
	free(rec->rejection);
	free(rec->log);
	free(rec->object);
	free(rec->good);
	free(rec->draft);
	free(rec->promise);
	free(rec->status);
	free(rec->status_base);
	kfs_conds_free(&rec->conds);
	kfs_slot_files_free(rec->edits);
	memset(rec, 0, sizeof(*rec));
}

static unsigned long long get_num(const unsigned char *v, size_t len)
{
	unsigned long long n = 0;
	for (size_t i = 0; i < len && i < 8; i++)
		n |= (unsigned long long)v[i] << (8 * i);
	return n;
}

/* The five NUL-ended texts of a condition; false when they are not all there. */
static bool get_condition(struct record *rec, const char *v, size_t len)
{
	const char *parts[5];
	size_t at = 0;
	for (size_t i = 0; i < 5; i++) {
		const char *nul = at < len ? memchr(v + at, '\0', len - at) : NULL;
		if (!nul)
			return false;
		parts[i] = v + at;
		at = (size_t)(nul - v) + 1;
	}
	kfs_conds_set(&rec->conds, parts[0], parts[1], parts[2], parts[3], parts[4]);
	return true;
}

/* Stores one field's value in rec; false for a value that cannot be what its tag says. */
static bool get_field(struct record *rec, enum tag t, const char *v, size_t len)
{
	unsigned long long n = get_num((const unsigned char *)v, len);
	switch (t) {
	case T_GENERATION:
		rec->generation = n;
		return true;
	case T_OBSERVED:
		rec->observed = n;
		return true;
	case T_PHASE:
		rec->phase = n < NPHASES ? (enum phase)n : PENDING;
		return true;
	case T_UNLINKED:
		rec->unlinked = n != 0;
		return true;
	case T_UID:
		rec->owner.uid = (uid_t)n, rec->has_owner |= 1;
		return true;
	case T_GID:
		rec->owner.gid = (gid_t)n, rec->has_owner |= 2;
		return true;
	case T_MODE:
		rec->owner.dir_mode = (mode_t)n & 07777, rec->has_owner |= 4;
		return true;
	case T_OBJ_MODE:
		rec->owner.obj_mode = (mode_t)n & 07777, rec->has_owner |= 8;
		return true;
	case T_MESSAGE:
		free(rec->message); /* a field twice: the last one counts */
		rec->message = kfs_xstrndup(v, len);
		return true;
	case T_REJECTION:
		free(rec->rejection);
		rec->rejection = kfs_xstrndup(v, len);
		return true;
	case T_LOG:
		free(rec->log);
		rec->log = kfs_xstrndup(v, len);
		return true;
	case T_COMMIT:
		snprintf(rec->commit, sizeof(rec->commit), "%.*s", (int)len, v);
		return true;
	case T_OBJECT:
		free(rec->object);
		rec->object = kfs_xstrndup(v, len), rec->object_len = len;
		return true;
	case T_GOOD:
		free(rec->good);
		rec->good = kfs_xstrndup(v, len), rec->good_len = len;
		return true;
	case T_DRAFT:
		free(rec->draft);
		rec->draft = kfs_xstrndup(v, len), rec->draft_len = len;
		return true;
	case T_CONDITION:
		return get_condition(rec, v, len);
	case T_PROMISE:
		free(rec->promise);
		rec->promise = kfs_xstrndup(v, len);
		return true;
	case T_SLOT_FILES:
		kfs_slot_files_free(rec->edits);
		rec->edits = kfs_slot_files_decode(v, len);
		return rec->edits != NULL;
	case T_STATUS:
		free(rec->status);
		rec->status = kfs_xstrndup(v, len);
		return true;
	case T_STATUS_BASE:
		free(rec->status_base);
		rec->status_base = kfs_xstrndup(v, len);
		return true;
	case T_RETRY_AT:
		rec->retry_at = (long long)n;
		return true;
	}
	return true; /* a field of a later version: not this one's to read */
}

/* A record written as YAML. */
static int decode_yaml(const char *payload, size_t len, struct record *rec, struct kfs_error *err)
{
	struct kfs_node *doc = NULL;
	if (kfs_doc_parse(payload, len, "journal record", &doc, err) < 0)
		return -EINVAL;
	long long v;
	static const char *const nums[] = {"generation", "observedGeneration", "uid", "gid",
					   "mode",	 "objectMode"};
	static const enum tag ntags[] = {T_GENERATION, T_OBSERVED, T_UID,
					 T_GID,	       T_MODE,	   T_OBJ_MODE};
	for (size_t i = 0; i < 6; i++) {
		if (!kfs_node_int(kfs_map_get(doc, nums[i]), &v))
			continue;
		char n[8];
		for (int k = 0; k < 8; k++)
			n[k] = (char)((unsigned long long)v >> (8 * k));
		get_field(rec, ntags[i], n, 8);
	}
	const char *phase = kfs_node_text_at(doc, "phase");
	for (int i = 0; phase && i < NPHASES; i++)
		if (strcmp(kfs_phase_names[i], phase) == 0)
			rec->phase = (enum phase)i;
	static const char *const texts[] = {"message", "rejection", "log",
					    "commit",  "object",    "good"};
	static const enum tag ttags[] = {T_MESSAGE, T_REJECTION, T_LOG, T_COMMIT, T_OBJECT, T_GOOD};
	for (size_t i = 0; i < 6; i++) {
		const struct kfs_node *n = kfs_map_get(doc, texts[i]);
		if (n && n->type != KFS_MAP && n->type != KFS_SEQ)
			get_field(rec, ttags[i], n->text, n->len);
	}
	const struct kfs_node *draft = kfs_map_get(doc, "draftBase64");
	struct kfs_buf raw = {0};
	if (draft && draft->type == KFS_STR && kfs_buf_unbase64(&raw, draft->text, draft->len) == 0)
		get_field(rec, T_DRAFT, raw.data ? raw.data : "", raw.len);
	kfs_buf_free(&raw);
	const char *unlinked = kfs_node_text_at(doc, "unlinked");
	rec->unlinked = unlinked && strcmp(unlinked, "true") == 0;
	kfs_conds_from_node(&rec->conds, kfs_map_get(doc, "conditions"));
	kfs_node_free(doc);
	return 0;
}

int kfs_record_decode(const char *payload, size_t len, struct record *rec, struct kfs_error *err)
{
	memset(rec, 0, sizeof(*rec));
	if (len < MAGIC_LEN || memcmp(payload, magic, MAGIC_LEN) != 0)
		return decode_yaml(payload, len, rec, err);
	size_t at = MAGIC_LEN;
	while (at < len) {
		const unsigned char *h = (const unsigned char *)payload + at;
		bool whole = len - at >= 5;
		size_t flen = whole ? (size_t)h[1] | (size_t)h[2] << 8 | (size_t)h[3] << 16 |
					  (size_t)h[4] << 24
				    : 0;
		if (!whole || flen > len - at - 5 ||
		    !get_field(rec, (enum tag)h[0], payload + at + 5, flen)) {
			kfs_record_free(rec);
			return kfs_error_set(
			    err, -EINVAL, "journal record: field at byte %zu is cut or malformed",
			    at);
		}
		at += 5 + flen;
	}
	return 0;
}
