/* The template language (docs/templates.md): Go template syntax (if, else if, range, with,
 * variables, trimming, define/template/include) with sprig's functions, strict paths (a path
 * that finds nothing is an error unless guarded), and refusal of unquoted values that would
 * inject YAML structure. Templates are compiled once (at promise load) and rendered many
 * times. */
#ifndef KRATIXFS_TEMPLATE_H
#define KRATIXFS_TEMPLATE_H

#include "kratixfs/buf.h"
#include "kratixfs/doc.h"
#include "kratixfs/error.h"

/* What a template sees. Paths start at root (the request after defaults), except the reserved
 * first keys `values`, `promise` and `workflow`; inside `range`/`with`, `.` is the item and `$` the
 * root. */
struct kfs_tcontext {
	const struct kfs_node *root;
	const struct kfs_node *values;   /* map, may be NULL */
	const struct kfs_node *promise;  /* map {name, version} */
	const struct kfs_node *workflow; /* map {type, action, pipeline} */
};

/* sed-style tokens replaced by the value at a path; kept sorted longest token first. */
struct kfs_placeholder {
	char *token;
	char *path; /* ".metadata.name" */
};
struct kfs_placeholders {
	struct kfs_placeholder *items;
	size_t n;
};

struct kfs_template;

/* Compiles text. name (e.g. "workflows/.../templates/output/service.yaml") and the line are in
 * every error. placeholders may be NULL. */
int kfs_template_compile(const char *text, size_t len, const char *name,
			 const struct kfs_placeholders *placeholders, struct kfs_template **out,
			 struct kfs_error *err);

/* Renders into out (appending). Errors name template file, line and path, and return -EIO. */
int kfs_template_render(const struct kfs_template *t, const struct kfs_tcontext *ctx,
			struct kfs_buf *out, struct kfs_error *err);

/* For a template that is exactly one `{{ PATH }}` tag without filters (values.yaml's `from`):
 * the node at PATH in ctx, or NULL when it resolves to nothing (missing or null). */
const struct kfs_node *kfs_template_lookup(const struct kfs_template *t,
					   const struct kfs_tcontext *ctx);

/* A partials file (templates/_helpers.tpl): its `define`s are visible to the template. */
struct kfs_template_source {
	const char *name; /* for messages */
	const char *text;
	size_t len;
};

/* kfs_template_compile with the defines of helpers (may be NULL). */
int kfs_template_compile_with(const char *text, size_t len, const char *name,
			      const struct kfs_placeholders *placeholders,
			      const struct kfs_template_source *helpers, struct kfs_template **out,
			      struct kfs_error *err);

/* Whether rendered text holds nothing but blank lines, comments and document markers: such a
 * file is not an output (as in Helm), so `{{ if }}` around a whole file can drop it. */
bool kfs_template_blank(const char *text, size_t len);

/* A template whose first line is the comment "kratixfs:split" (docs/templates.md) emits one
 * output file per YAML document it renders (documents separated by `---` lines), named
 * <stem>-<metadata.name><ext> beside it: `users.yaml` gives `users-alice.yaml`. */
bool kfs_template_splits(const struct kfs_template *t);
/* Splits text rendered from such a template at path and calls put for each file, in order.
 * A document without a metadata.name, a name that is not [A-Za-z0-9._-], and two documents of
 * one name are errors (-EIO); so is a document that is not YAML. */
int kfs_template_split(const char *path, const char *text, size_t len,
		       int (*put)(void *arg, const char *path, struct kfs_buf *data), void *arg,
		       struct kfs_error *err);

void kfs_template_free(struct kfs_template *t);

#endif
