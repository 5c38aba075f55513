/* Unified diffs of two texts, for `kratixfs test`. */
#ifndef KRATIXFS_DIFF_H
#define KRATIXFS_DIFF_H

#include <stdbool.h>
#include <stddef.h>

#include "kratixfs/buf.h"

/* Appends a unified diff (3 lines of context, `--- a_name` / `+++ b_name` headers, `@@` hunks,
 * "\ No newline at end of file" where it applies, as diff -u prints it) of a against b to
 * out. Returns false, appending nothing, when the texts are equal. */
bool kfs_diff_unified(const char *a_name, const char *a, size_t alen, const char *b_name,
		      const char *b, size_t blen, struct kfs_buf *out);

#endif
