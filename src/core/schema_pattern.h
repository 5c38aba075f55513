/* A CRD's `pattern:` (ECMA-262 per Kubernetes; Go's regexp in practice), compiled once with
 * PCRE2 when the promise loads and matched against request values. Private to core (schema.c). */
#ifndef KRATIXFS_SCHEMA_PATTERN_H
#define KRATIXFS_SCHEMA_PATTERN_H

#include <stddef.h>

struct kfs_pattern;

/* The compiled pattern, or NULL with why (NUL-terminated, at most whylen bytes) saying what is
 * wrong with it and where PCRE2 found it, in bytes from the start: "missing closing
 * parenthesis (at offset 5)". */
struct kfs_pattern *kfs_pattern_compile(const char *source, char *why, size_t whylen);

/* 1 when text (len bytes, UTF-8) holds a match anywhere, as the API server searches; 0 when it
 * does not; -1 when it could not be decided (the match limit was reached, or text is not
 * UTF-8), with why set. Safe from any number of threads at once. */
int kfs_pattern_match(const struct kfs_pattern *p, const char *text, size_t len, char *why,
		      size_t whylen);

void kfs_pattern_free(struct kfs_pattern *p);

#endif
