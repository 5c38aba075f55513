/* The reference YAML parser on libyaml (private to core; doc.c falls back to it when the fast
 * path declines): any YAML, with the error messages a person sees. Depends on node.h only. */
#ifndef KRATIXFS_YAML_LIBYAML_H
#define KRATIXFS_YAML_LIBYAML_H

#include <stddef.h>

#include "kratixfs/error.h"
#include "kratixfs/node.h"

/* kfs_doc_parse_stream and kfs_doc_check without the fast path (the tests compare the two). */
int kfs_yaml_libyaml_parse(const char *buf, size_t len, const char *name, struct kfs_node ***docs,
			   size_t *n, struct kfs_error *err);
int kfs_yaml_libyaml_check(const char *buf, size_t len, const char *name, struct kfs_error *err);

#endif
