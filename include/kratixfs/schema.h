/* Validation of requests against a CRD's openAPIV3Schema, as the Kubernetes API server does it:
 * types, properties, required, items, enum, pattern, nullable, additionalProperties, bounds;
 * defaults applied; unknown fields pruned unless x-kubernetes-preserve-unknown-fields. */
#ifndef KRATIXFS_SCHEMA_H
#define KRATIXFS_SCHEMA_H

#include "kratixfs/buf.h"
#include "kratixfs/doc.h"
#include "kratixfs/error.h"

struct kfs_schema;

/* Compiles an openAPIV3Schema node (patterns compiled once, with PCRE2). Each keyword that is
 * not enforced (x-kubernetes-validations, unknown keywords) is appended once to warnings as a
 * line "warning: <schema path>: <keyword> is not enforced". A malformed schema (wrong keyword
 * types, a pattern that is not a valid regular expression) is an error naming the schema path
 * (and the pattern). */
int kfs_schema_compile(const struct kfs_node *openapi, struct kfs_buf *warnings,
		       struct kfs_schema **out, struct kfs_error *err);

/* Validates doc in place: applies defaults, prunes unknown fields, and appends every error
 * found to err, one line each, naming the field path ("spec.size: must be one of small,
 * medium, large"). At the root, apiVersion, kind and metadata are kept as the API server keeps
 * them. Each pruned field is appended to warnings (if not NULL) as a line
 * `unknown field "spec.sise"`, kubectl's words. Returns 0 or -EINVAL. */
int kfs_schema_apply(const struct kfs_schema *schema, struct kfs_node *doc,
		     struct kfs_buf *warnings, struct kfs_error *err);

void kfs_schema_free(struct kfs_schema *schema);

#endif
