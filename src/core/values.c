/* values.yaml: derived values evaluated per request before the templates, and the sed-style
 * placeholders of templates written for `sed s/placeholder-name/…/`. */
#include "kratixfs/values.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum vkind {
	V_CONST,    /* a non-string scalar, a sequence or a mapping: copied as is */
	V_TEMPLATE, /* a string: a template rendered to a string */
	V_LOOKUP,   /* {from, map, default}: the value at a path, translated through map */
};

struct value {
	char *key;
	enum vkind kind;
	char *tname;		   /* "values.yaml: values.<key>", how errors name the value */
	struct kfs_node *constant; /* V_CONST */
	struct kfs_template *tpl;  /* V_TEMPLATE; for V_LOOKUP the template `{{ from }}` */
	char *from;
	struct kfs_node *map;  /* NULL: the value at from is copied */
	struct kfs_node *dflt; /* NULL: no default */
	char *allowed;	       /* map's keys, "small, medium, large" */
};

struct kfs_values {
	char *name;
	struct value *items;
	size_t n;
	struct kfs_placeholders ph;
};

/* Template errors read "<tname>:1:<column>: ..."; a value is one line, so that position is
 * noise (the message quotes the tag). */
static void drop_line_one(struct kfs_error *err, const char *tname)
{
	size_t n = strlen(tname);
	if (!err || strncmp(err->msg, tname, n) != 0 || strncmp(err->msg + n, ":1:", 3) != 0)
		return;
	size_t k = n + 3;
	while (err->msg[k] >= '0' && err->msg[k] <= '9')
		k++;
	if (err->msg[k] != ':')
		return;
	memmove(err->msg + n, err->msg + k, strlen(err->msg + k) + 1);
}

/* A `from` or placeholder path must be a bare path: it is compiled as the tag `{{ path }}`. */
static int compile_path(const char *path, const char *tname, struct kfs_template **out,
			struct kfs_error *err)
{
	if ((path[0] != '.' && path[0] != '$') || strpbrk(path, "{}|\n"))
		return kfs_error_set(err, -EINVAL, "%s: '%s' is not a path like .spec.size", tname,
				     path);
	struct kfs_buf b = {0};
	kfs_buf_printf(&b, "{{ %s }}", path);
	int rc = kfs_template_compile(b.data, b.len, tname, NULL, out, err);
	kfs_buf_free(&b);
	drop_line_one(err, tname);
	return rc;
}

static int compile_lookup(struct value *v, const struct kfs_node *spec, struct kfs_error *err)
{
	for (size_t i = 0; i < spec->len; i++) {
		const char *k = spec->pairs[i].key;
		const struct kfs_node *n = spec->pairs[i].value;
		if (strcmp(k, "from") == 0) {
			if (n->type != KFS_STR)
				return kfs_error_set(err, -EINVAL,
						     "%s: from must be a path like .spec.size",
						     v->tname);
			v->from = kfs_xstrdup(n->text);
		} else if (strcmp(k, "map") == 0) {
			if (n->type != KFS_MAP || n->len == 0)
				return kfs_error_set(
				    err, -EINVAL, "%s: map must be a mapping (from value: result)",
				    v->tname);
			v->map = kfs_node_copy(n);
		} else if (strcmp(k, "default") == 0) {
			v->dflt = kfs_node_copy(n);
		} else {
			return kfs_error_set(err, -EINVAL,
					     "%s: unknown key \"%s\" (expected from, map, default)",
					     v->tname, k);
		}
	}
	if (v->map) {
		struct kfs_buf b = {0};
		for (size_t i = 0; i < v->map->len; i++)
			kfs_buf_printf(&b, "%s%s", i ? ", " : "", v->map->pairs[i].key);
		v->allowed = kfs_buf_steal(&b);
	}
	return compile_path(v->from, v->tname, &v->tpl, err);
}

static int compile_value(struct kfs_values *vs, const char *key, const struct kfs_node *n,
			 struct kfs_error *err)
{
	struct value *v = &vs->items[vs->n++];
	memset(v, 0, sizeof(*v));
	v->key = kfs_xstrdup(key);
	struct kfs_buf b = {0};
	kfs_buf_printf(&b, "%s: values.%s", vs->name, key);
	v->tname = kfs_buf_steal(&b);
	if (n->type == KFS_STR) {
		v->kind = V_TEMPLATE;
		int rc = kfs_template_compile(n->text, n->len, v->tname, NULL, &v->tpl, err);
		drop_line_one(err, v->tname);
		return rc;
	}
	if (n->type == KFS_MAP && kfs_map_get(n, "from")) {
		v->kind = V_LOOKUP;
		return compile_lookup(v, n, err);
	}
	v->kind = V_CONST;
	v->constant = kfs_node_copy(n);
	return 0;
}

static int cmp_placeholders(const void *a, const void *b)
{
	const struct kfs_placeholder *x = a, *y = b;
	size_t lx = strlen(x->token), ly = strlen(y->token);
	if (lx != ly)
		return lx > ly ? -1 : 1;
	return strcmp(x->token, y->token);
}

static int compile_placeholders(struct kfs_values *vs, const struct kfs_node *n,
				struct kfs_error *err)
{
	if (n->type == KFS_NULL)
		return 0;
	if (n->type != KFS_MAP || vs->ph.items)
		return kfs_error_set(err, -EINVAL,
				     "%s: placeholders must be one mapping (token: .path.to.value)",
				     vs->name);
	vs->ph.items = kfs_xcalloc(n->len, sizeof(*vs->ph.items));
	for (size_t i = 0; i < n->len; i++) {
		const char *token = n->pairs[i].key;
		const struct kfs_node *path = n->pairs[i].value;
		if (token[0] == '\0')
			return kfs_error_set(err, -EINVAL, "%s: placeholders: empty token",
					     vs->name);
		struct kfs_buf b = {0};
		kfs_buf_printf(&b, "%s: placeholders.%s", vs->name, token);
		char *tname = kfs_buf_steal(&b);
		struct kfs_template *probe = NULL;
		int rc = path->type == KFS_STR
			     ? compile_path(path->text, tname, &probe, err)
			     : kfs_error_set(err, -EINVAL, "%s: must be a path like .metadata.name",
					     tname);
		kfs_template_free(probe);
		free(tname);
		if (rc)
			return rc;
		vs->ph.items[vs->ph.n].token = kfs_xstrdup(token);
		vs->ph.items[vs->ph.n].path = kfs_xstrdup(path->text);
		vs->ph.n++;
	}
	qsort(vs->ph.items, vs->ph.n, sizeof(*vs->ph.items), cmp_placeholders);
	return 0;
}

static int compile_doc(struct kfs_values *vs, const struct kfs_node *doc, struct kfs_error *err)
{
	if (!doc || doc->type == KFS_NULL)
		return 0;
	if (doc->type != KFS_MAP)
		return kfs_error_set(err, -EINVAL,
				     "%s: must be a mapping with the keys values and placeholders",
				     vs->name);
	for (size_t i = 0; i < doc->len; i++) {
		const char *key = doc->pairs[i].key;
		const struct kfs_node *n = doc->pairs[i].value;
		int rc = 0;
		if (strcmp(key, "values") == 0) {
			if (n->type == KFS_NULL)
				continue;
			if (n->type != KFS_MAP || vs->items)
				return kfs_error_set(err, -EINVAL, "%s: values must be one mapping",
						     vs->name);
			vs->items = kfs_xcalloc(n->len, sizeof(*vs->items));
			for (size_t j = 0; j < n->len && !rc; j++)
				rc = compile_value(vs, n->pairs[j].key, n->pairs[j].value, err);
		} else if (strcmp(key, "placeholders") == 0) {
			rc = compile_placeholders(vs, n, err);
		} else {
			rc = kfs_error_set(err, -EINVAL,
					   "%s: unknown key \"%s\" (expected values, placeholders)",
					   vs->name, key);
		}
		if (rc)
			return rc;
	}
	return 0;
}

int kfs_values_compile(const struct kfs_node *doc, const char *name, struct kfs_values **out,
		       struct kfs_error *err)
{
	struct kfs_values *vs = kfs_xcalloc(1, sizeof(*vs));
	vs->name = kfs_xstrdup(name ? name : "values.yaml");
	*out = NULL;
	int rc = compile_doc(vs, doc, err);
	if (rc) {
		kfs_values_free(vs);
		return rc;
	}
	*out = vs;
	return 0;
}

const struct kfs_placeholders *kfs_values_placeholders(const struct kfs_values *v)
{
	static const struct kfs_placeholders none;
	return v ? &v->ph : &none;
}

static int eval_lookup(const struct value *v, const struct kfs_tcontext *ctx, struct kfs_node **out,
		       struct kfs_error *err)
{
	const struct kfs_node *n = kfs_template_lookup(v->tpl, ctx);
	if (!n) {
		if (!v->dflt)
			return kfs_error_set(err, -EIO, "%s: %s is not defined (no default)",
					     v->tname, v->from);
		*out = kfs_node_copy(v->dflt);
		return 0;
	}
	if (!v->map) {
		*out = kfs_node_copy(n);
		return 0;
	}
	if (n->type == KFS_MAP || n->type == KFS_SEQ)
		return kfs_error_set(err, -EIO, "%s: %s is a %s, not one of %s", v->tname, v->from,
				     n->type == KFS_MAP ? "mapping" : "sequence", v->allowed);
	const char *text = n->text;
	if (n->type == KFS_BOOL)
		text = kfs_node_truthy(n) ? "true" : "false";
	const struct kfs_node *hit = kfs_map_get(v->map, text);
	if (!hit && !v->dflt)
		return kfs_error_set(err, -EIO, "%s: \"%s\" (from %s) is not one of %s", v->tname,
				     text, v->from, v->allowed);
	*out = kfs_node_copy(hit ? hit : v->dflt);
	return 0;
}

int kfs_values_eval(const struct kfs_values *v, const struct kfs_tcontext *ctx,
		    struct kfs_node **out, struct kfs_error *err)
{
	struct kfs_node *map = kfs_node_new(KFS_MAP);
	/* Templates see the values computed so far, so later values can build on earlier ones. */
	struct kfs_tcontext c = *ctx;
	c.values = map;
	*out = NULL;
	for (size_t i = 0; v && i < v->n; i++) {
		const struct value *it = &v->items[i];
		struct kfs_node *val = NULL;
		int rc = 0;
		if (it->kind == V_CONST) {
			val = kfs_node_copy(it->constant);
		} else if (it->kind == V_LOOKUP) {
			rc = eval_lookup(it, &c, &val, err);
		} else {
			struct kfs_buf b = {0};
			rc = kfs_template_render(it->tpl, &c, &b, err);
			if (rc)
				drop_line_one(err, it->tname);
			else
				val = kfs_node_new_scalar(KFS_STR, b.data ? b.data : "", b.len);
			kfs_buf_free(&b);
		}
		if (rc) {
			kfs_node_free(map);
			return rc;
		}
		kfs_map_set(map, it->key, val);
	}
	*out = map;
	return 0;
}

void kfs_values_free(struct kfs_values *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		struct value *it = &v->items[i];
		free(it->key);
		free(it->tname);
		kfs_node_free(it->constant);
		kfs_template_free(it->tpl);
		free(it->from);
		kfs_node_free(it->map);
		kfs_node_free(it->dflt);
		free(it->allowed);
	}
	free(v->items);
	for (size_t i = 0; i < v->ph.n; i++) {
		free(v->ph.items[i].token);
		free(v->ph.items[i].path);
	}
	free(v->ph.items);
	free(v->name);
	free(v);
}
