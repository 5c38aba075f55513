/* Kratix's status rules: how a pipeline's metadata/status.yaml merges into a status, and how
 * conditions move (lastTransitionTime changes only when a condition's status changes). */
#ifndef KRATIXFS_STATUS_H
#define KRATIXFS_STATUS_H

#include "kratixfs/doc.h"
#include "kratixfs/error.h"

/* Merges fragment (a map) into status (a map): top-level keys replace, `conditions` merge by
 * `type` (a fragment condition replaces the one of the same type, new types are appended).
 * A top-level key `kratix`, a fragment that is not a map, or a condition without a type is
 * refused with -EINVAL naming source. status is unchanged on error. */
int kfs_status_merge(struct kfs_node *status, const struct kfs_node *fragment, const char *source,
		     struct kfs_error *err);

/* Sets condition `type` in status's `conditions` to (cstatus, reason, message). Its
 * lastTransitionTime becomes now (RFC 3339) only when the condition is new or its status
 * changed. Returns true when anything changed. */
bool kfs_status_set_condition(struct kfs_node *status, const char *type, const char *cstatus,
			      const char *reason, const char *message, const char *now);

#endif
