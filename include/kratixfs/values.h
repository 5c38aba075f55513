/* values.yaml: derived values (`from`/`map`/`default`, templated strings, constants) and
 * sed-style placeholders, evaluated per request before the templates. */
#ifndef KRATIXFS_VALUES_H
#define KRATIXFS_VALUES_H

#include "kratixfs/doc.h"
#include "kratixfs/error.h"
#include "kratixfs/template.h"

struct kfs_values;

/* Compiles a parsed values.yaml (keys `values` and `placeholders`); name is used in errors. */
int kfs_values_compile(const struct kfs_node *doc, const char *name, struct kfs_values **out,
		       struct kfs_error *err);

/* The placeholders, longest token first, to pass to kfs_template_compile (never NULL). */
const struct kfs_placeholders *kfs_values_placeholders(const struct kfs_values *v);

/* Evaluates every value in order against ctx (a value may use the ones before it as
 * `.values.x`) into a new map. A `from` value missing from `map` with no `default` is an
 * error listing the allowed keys (-EIO). */
int kfs_values_eval(const struct kfs_values *v, const struct kfs_tcontext *ctx,
		    struct kfs_node **out, struct kfs_error *err);

void kfs_values_free(struct kfs_values *v);

#endif
