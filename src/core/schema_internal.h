/* The compiled form of a CRD's openAPIV3Schema, shared by the compiler (schema_compile.c) and
 * the validator (schema.c). Private to core. */
#ifndef KRATIXFS_SCHEMA_INTERNAL_H
#define KRATIXFS_SCHEMA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "kratixfs/buf.h"
#include "kratixfs/doc.h"
#include "kratixfs/error.h"
#include "kratixfs/schema.h"

struct kfs_pattern;

/* additionalProperties: absent, false, true, or a schema for every extra key. */
enum addl { ADDL_UNSET, ADDL_FALSE, ADDL_TRUE, ADDL_SCHEMA };

struct bound {
	bool set;
	bool exclusive;
	double v;
	char *text; /* as written in the schema, for messages */
};

struct sch_prop {
	char *name;
	struct sch *schema;
};

struct sch {
	enum kfs_type type; /* KFS_NULL when the schema names no type: anything goes */
	bool nullable;
	bool preserve;	    /* x-kubernetes-preserve-unknown-fields */
	bool int_or_string; /* x-kubernetes-int-or-string */
	bool embedded;	    /* x-kubernetes-embedded-resource */
	bool unique;	    /* uniqueItems, or x-kubernetes-list-type: set */
	enum addl addl;
	struct sch *additional;
	struct sch_prop *props;
	size_t nprops;
	char **required;
	size_t nrequired;
	struct sch *items;
	struct kfs_node **enums;
	size_t nenums;
	char *enum_text; /* "small, medium, large" */
	struct kfs_pattern *re; /* compiled once, when the promise loads */
	char *pattern;		/* as written, for messages */
	struct bound min, max, multiple;
	long long min_len, max_len, min_items, max_items, min_props, max_props; /* -1: unset */
	struct kfs_node *def; /* the default, already defaulted, pruned and validated */
};

struct kfs_schema {
	struct sch *root;
};

/* A field path built in place while walking ("spec.env[1].name"); no allocation. */
struct path {
	size_t len;
	char buf[1024];
};

/* Appends one map key, an index text ("[*]") to the path; each returns the length that
 * sch_path_pop restores. */
size_t sch_path_key(struct path *p, const char *key);
size_t sch_path_text(struct path *p, const char *s);
void sch_path_pop(struct path *p, size_t old);

/* Appends a value as a message shows it: strings quoted and cut, collections by type word. */
void sch_add_value(struct kfs_buf *b, const struct kfs_node *n);

/* Walks n against s, with errors on err; the path starts at `at` (NULL: the root). The
 * compiler checks defaults with it. */
int sch_apply_at(const struct sch *s, struct kfs_node *n, const struct path *at, bool root,
		 struct kfs_buf *warnings, struct kfs_error *err);

#endif
