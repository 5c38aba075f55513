/* The YAML document model: a tree of maps, sequences and typed scalars, with its builders and
 * accessors. Parsing and emitting YAML text are in doc.h. */
#ifndef KRATIXFS_NODE_H
#define KRATIXFS_NODE_H

#include <stdbool.h>
#include <stddef.h>

#include "kratixfs/buf.h"

enum kfs_type {
	KFS_NULL,
	KFS_BOOL,
	KFS_INT,
	KFS_FLOAT,
	KFS_STR,
	KFS_MAP,
	KFS_SEQ,
};

struct kfs_node;

struct kfs_pair {
	char *key;
	struct kfs_node *value;
};

struct kfs_node {
	enum kfs_type type;
	int line;   /* 1-based line in the source, 0 for built nodes */
	size_t len; /* scalars: bytes of text; maps: pairs; sequences: items */
	size_t cap;
	union {
		char *text;              /* scalars, NUL-terminated; "null" for KFS_NULL */
		struct kfs_pair *pairs;  /* KFS_MAP, in document order */
		struct kfs_node **items; /* KFS_SEQ */
	};
};

/* Builders. Nodes own their children; kfs_node_free frees a whole tree (NULL is fine). */
struct kfs_node *kfs_node_new(enum kfs_type type);
struct kfs_node *kfs_node_new_scalar(enum kfs_type type, const char *text, size_t len);
struct kfs_node *kfs_node_new_str(const char *s);
struct kfs_node *kfs_node_new_int(long long v);
struct kfs_node *kfs_node_new_bool(bool v);
struct kfs_node *kfs_node_copy(const struct kfs_node *n);
void kfs_node_free(struct kfs_node *n);

/* Maps. kfs_map_set takes ownership of value, replacing an existing key in place or
 * appending a new one; kfs_map_take removes a key and hands its value to the caller. */
struct kfs_node *kfs_map_get(const struct kfs_node *map, const char *key);
struct kfs_node *kfs_map_getn(const struct kfs_node *map, const char *key, size_t keylen);
void kfs_map_set(struct kfs_node *map, const char *key, struct kfs_node *value);
/* Appends key (taking ownership of it and of value) without looking for it first: for parsers,
 * which have already checked that keys are unique. */
void kfs_map_append(struct kfs_node *map, char *key, struct kfs_node *value);
struct kfs_node *kfs_map_take(struct kfs_node *map, const char *key);
/* Sequences: takes ownership of item. */
void kfs_seq_append(struct kfs_node *seq, struct kfs_node *item);

/* Follows a dot-separated path of map keys ("spec.size"); NULL if any step is missing. */
struct kfs_node *kfs_node_at(const struct kfs_node *root, const char *path);
/* The text of a string/scalar at path, or NULL when missing or not a scalar. */
const char *kfs_node_text_at(const struct kfs_node *root, const char *path);
/* Deep equality: same types, same scalar text, same keys in the same order. */
bool kfs_node_equal(const struct kfs_node *a, const struct kfs_node *b);
/* Scalar conversions; return false when n is not of a matching type. */
bool kfs_node_int(const struct kfs_node *n, long long *out);
bool kfs_node_number(const struct kfs_node *n, double *out); /* KFS_INT or KFS_FLOAT */
bool kfs_node_truthy(const struct kfs_node *n); /* not null/false/0/""/empty */
/* "string", "integer", "number", "boolean", "object", "array", "null" (OpenAPI words). */
const char *kfs_type_name(enum kfs_type type);
/* The type a plain (unquoted) scalar resolves to, as Kubernetes' YAML decoder resolves it. */
enum kfs_type kfs_resolve_plain(const char *text, size_t len);

/* Frees an array of trees (as kfs_doc_parse_stream returns) with its trees. */
void kfs_doc_free_stream(struct kfs_node **docs, size_t n);

#endif
