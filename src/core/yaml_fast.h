/* A fast path for the subset of YAML that Kubernetes manifests use (private to core; doc.c picks
 * it first): it builds exactly the tree libyaml would, or declines so that libyaml decides and
 * reports. It depends on the document model only (node.h), never on doc.c. */
#ifndef KRATIXFS_YAML_FAST_H
#define KRATIXFS_YAML_FAST_H

#include <stddef.h>

#include "kratixfs/node.h"

/* Returns 1 with *docs and *n set as kfs_doc_parse_stream sets them when buf is within the
 * subset; returns 0, allocating nothing, when libyaml must parse it (outside the subset, invalid,
 * or a duplicate key). */
int kfs_yaml_fast_parse(const char *buf, size_t len, struct kfs_node ***docs, size_t *n);
/* Returns 1 when buf is within the subset (so libyaml accepts it), without building a tree. */
int kfs_yaml_fast_check(const char *buf, size_t len);

#endif
