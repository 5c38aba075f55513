/* Compiling a CRD's openAPIV3Schema into the tree of struct sch that schema.c validates with:
 * keywords read and checked once, patterns compiled (schema_pattern.c), enum text prepared,
 * defaults pruned, defaulted and validated. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema_internal.h"
#include "schema_pattern.h"

struct comp {
	struct kfs_buf *warnings;
	struct kfs_error *err;
	int nerr;
	struct path path;
};

static const char *comp_path(const struct comp *c)
{
	return c->path.len ? c->path.buf : "(root)";
}

static void warn(struct comp *c, const char *keyword, const char *why)
{
	if (!c->warnings)
		return;
	kfs_buf_printf(c->warnings, "warning: %s: %s is not enforced%s%s%s\n", comp_path(c),
		       keyword, why ? " (" : "", why ? why : "", why ? ")" : "");
}

static void bad(struct comp *c, const struct kfs_node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void bad(struct comp *c, const struct kfs_node *at, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->nerr++;
	if (at && at->line > 0)
		kfs_error_add(c->err, -EINVAL, "openAPIV3Schema %s (line %d): %s", comp_path(c),
			      at->line, msg);
	else
		kfs_error_add(c->err, -EINVAL, "openAPIV3Schema %s: %s", comp_path(c), msg);
}

static bool get_bool(struct comp *c, const char *kw, const struct kfs_node *v)
{
	if (v->type != KFS_BOOL) {
		bad(c, v, "%s must be true or false", kw);
		return false;
	}
	return kfs_node_truthy(v);
}

static long long get_count(struct comp *c, const char *kw, const struct kfs_node *v)
{
	long long n;
	if (!kfs_node_int(v, &n) || n < 0) {
		bad(c, v, "%s must be a non-negative integer", kw);
		return -1;
	}
	return n;
}

static void get_bound(struct comp *c, const char *kw, const struct kfs_node *v, struct bound *b)
{
	if (!kfs_node_number(v, &b->v)) {
		bad(c, v, "%s must be a number", kw);
		return;
	}
	if (b->text) /* duplicate key: the last one wins */
		free(b->text);
	b->set = true;
	b->text = kfs_xstrdup(v->text);
}

static const char *const type_words[] = {"string",  "integer", "number",
					 "boolean", "object",  "array"};
/* "number" is KFS_FLOAT, which type_ok widens to integers as well. */
static const enum kfs_type type_kinds[] = {KFS_STR, KFS_INT, KFS_FLOAT, KFS_BOOL, KFS_MAP, KFS_SEQ};
#define NTYPES (sizeof(type_words) / sizeof(type_words[0]))

/* Keywords that only describe, or that this validator has nothing to check for. */
static bool annotation(const char *kw)
{
	static const char *const words[] = {
	    "description",
	    "title",
	    "example",
	    "examples",
	    "format", /* the API server checks only a few formats; we treat it as a note */
	    "externalDocs",
	    "id",
	    "$schema",
	    "deprecated",
	    "readOnly",
	    "writeOnly",
	    "x-kubernetes-list-map-keys",
	    "x-kubernetes-map-type",
	    NULL,
	};
	for (size_t i = 0; words[i]; i++)
		if (strcmp(kw, words[i]) == 0)
			return true;
	return false;
}

static struct sch *compile_node(struct comp *c, const struct kfs_node *n);
static void sch_free(struct sch *s);

static void compile_properties(struct comp *c, struct sch *s, const struct kfs_node *v)
{
	if (v->type != KFS_MAP) {
		bad(c, v, "properties must be a mapping of field names to schemas");
		return;
	}
	s->props = kfs_xcalloc(v->len, sizeof(*s->props));
	for (size_t i = 0; i < v->len; i++) {
		size_t old = sch_path_key(&c->path, v->pairs[i].key);
		s->props[s->nprops].name = kfs_xstrdup(v->pairs[i].key);
		s->props[s->nprops].schema = compile_node(c, v->pairs[i].value);
		s->nprops++;
		sch_path_pop(&c->path, old);
	}
}

static void compile_required(struct comp *c, struct sch *s, const struct kfs_node *v)
{
	if (v->type != KFS_SEQ) {
		bad(c, v, "required must be a list of field names");
		return;
	}
	s->required = kfs_xcalloc(v->len, sizeof(*s->required));
	for (size_t i = 0; i < v->len; i++) {
		if (v->items[i]->type != KFS_STR) {
			bad(c, v->items[i], "required[%zu] must be a field name", i);
			continue;
		}
		s->required[s->nrequired++] = kfs_xstrdup(v->items[i]->text);
	}
}

static void compile_enum(struct comp *c, struct sch *s, const struct kfs_node *v)
{
	if (v->type != KFS_SEQ) {
		bad(c, v, "enum must be a list of values");
		return;
	}
	struct kfs_buf text = {0};
	s->enums = kfs_xcalloc(v->len, sizeof(*s->enums));
	for (size_t i = 0; i < v->len; i++) {
		const struct kfs_node *e = v->items[i];
		s->enums[s->nenums++] = kfs_node_copy(e);
		if (i)
			kfs_buf_adds(&text, ", ");
		if (e->type == KFS_STR && e->len > 0)
			kfs_buf_add(&text, e->text, e->len); /* bare words read best in a list */
		else
			sch_add_value(&text, e);
	}
	s->enum_text = kfs_buf_steal(&text);
}

static void compile_pattern(struct comp *c, struct sch *s, const struct kfs_node *v)
{
	if (v->type != KFS_STR) {
		bad(c, v, "pattern must be a string");
		return;
	}
	char why[240];
	struct kfs_pattern *re = kfs_pattern_compile(v->text, why, sizeof(why));
	if (!re) {
		bad(c, v, "pattern '%s' is not a valid regular expression: %s", v->text, why);
		return;
	}
	kfs_pattern_free(s->re); /* duplicate key: the last one wins */
	free(s->pattern);
	s->re = re;
	s->pattern = kfs_xstrdup(v->text);
}

/* The numeric keywords: bounds and counts. False when kw is none of them. */
static bool compile_bound(struct comp *c, struct sch *s, const char *kw, const struct kfs_node *v)
{
	if (strcmp(kw, "minimum") == 0) {
		get_bound(c, kw, v, &s->min);
	} else if (strcmp(kw, "maximum") == 0) {
		get_bound(c, kw, v, &s->max);
	} else if (strcmp(kw, "multipleOf") == 0) {
		get_bound(c, kw, v, &s->multiple);
		if (s->multiple.set && !(s->multiple.v > 0)) {
			bad(c, v, "multipleOf must be greater than 0");
			s->multiple.set = false;
		}
	} else if (strcmp(kw, "exclusiveMinimum") == 0) {
		s->min.exclusive = get_bool(c, kw, v);
	} else if (strcmp(kw, "exclusiveMaximum") == 0) {
		s->max.exclusive = get_bool(c, kw, v);
	} else if (strcmp(kw, "minLength") == 0) {
		s->min_len = get_count(c, kw, v);
	} else if (strcmp(kw, "maxLength") == 0) {
		s->max_len = get_count(c, kw, v);
	} else if (strcmp(kw, "minItems") == 0) {
		s->min_items = get_count(c, kw, v);
	} else if (strcmp(kw, "maxItems") == 0) {
		s->max_items = get_count(c, kw, v);
	} else if (strcmp(kw, "minProperties") == 0) {
		s->min_props = get_count(c, kw, v);
	} else if (strcmp(kw, "maxProperties") == 0) {
		s->max_props = get_count(c, kw, v);
	} else {
		return false;
	}
	return true;
}

static void compile_keyword(struct comp *c, struct sch *s, const char *kw, const struct kfs_node *v)
{
	size_t old;
	if (strcmp(kw, "type") == 0) {
		size_t i = 0;
		while (i < NTYPES && !(v->type == KFS_STR && strcmp(v->text, type_words[i]) == 0))
			i++;
		if (i == NTYPES)
			bad(c, v,
			    "type must be one of string, integer, number, boolean, object, array");
		else
			s->type = type_kinds[i];
	} else if (strcmp(kw, "properties") == 0) {
		compile_properties(c, s, v);
	} else if (strcmp(kw, "required") == 0) {
		compile_required(c, s, v);
	} else if (strcmp(kw, "items") == 0) {
		if (v->type != KFS_MAP) {
			bad(c, v, "items must be one schema (a mapping)");
			return;
		}
		old = sch_path_text(&c->path, "[*]");
		s->items = compile_node(c, v);
		sch_path_pop(&c->path, old);
	} else if (strcmp(kw, "additionalProperties") == 0) {
		if (v->type == KFS_MAP) {
			old = sch_path_text(&c->path, c->path.len ? ".*" : "*");
			s->additional = compile_node(c, v);
			s->addl = ADDL_SCHEMA;
			sch_path_pop(&c->path, old);
		} else {
			s->addl = get_bool(c, kw, v) ? ADDL_TRUE : ADDL_FALSE;
		}
	} else if (strcmp(kw, "enum") == 0) {
		compile_enum(c, s, v);
	} else if (strcmp(kw, "pattern") == 0) {
		compile_pattern(c, s, v);
	} else if (strcmp(kw, "nullable") == 0) {
		s->nullable = get_bool(c, kw, v);
	} else if (strcmp(kw, "x-kubernetes-preserve-unknown-fields") == 0) {
		s->preserve = get_bool(c, kw, v);
	} else if (strcmp(kw, "x-kubernetes-int-or-string") == 0) {
		s->int_or_string = get_bool(c, kw, v);
	} else if (strcmp(kw, "x-kubernetes-embedded-resource") == 0) {
		s->embedded = get_bool(c, kw, v);
	} else if (strcmp(kw, "uniqueItems") == 0) {
		s->unique = s->unique || get_bool(c, kw, v);
	} else if (strcmp(kw, "x-kubernetes-list-type") == 0) {
		/* "set" items are unique in the API server; "map" keys are not checked here */
		if (v->type == KFS_STR && strcmp(v->text, "set") == 0)
			s->unique = true;
	} else if (compile_bound(c, s, kw, v)) {
		/* minimum, maximum, multipleOf, exclusive*, min* and max* */
	} else if (strcmp(kw, "default") == 0 || annotation(kw)) {
		/* default is handled once the whole node is compiled */
	} else if (s->int_or_string && (strcmp(kw, "anyOf") == 0 || strcmp(kw, "allOf") == 0)) {
		/* the usual "anyOf: [integer, string]" spelling of int-or-string */
	} else if (strcmp(kw, "regex") == 0) {
		warn(c, kw, "did you mean pattern?");
	} else {
		warn(c, kw, NULL);
	}
}

/* A default is pruned, defaulted and validated once, as the API server does when the CRD is
 * created, so that apply only copies it in. */
static void compile_default(struct comp *c, struct sch *s, const struct kfs_node *v)
{
	struct kfs_node *def = kfs_node_copy(v);
	struct kfs_error *tmp = kfs_xcalloc(1, sizeof(*tmp));
	if (def->type == KFS_NULL && !s->nullable)
		bad(c, v, "default is null but the field is not nullable");
	else if (sch_apply_at(s, def, &c->path, false, NULL, tmp) != 0)
		bad(c, v, "default is invalid: %s", tmp->msg);
	free(tmp);
	s->def = def;
}

static struct sch *compile_node(struct comp *c, const struct kfs_node *n)
{
	struct sch *s = kfs_xcalloc(1, sizeof(*s));
	s->type = KFS_NULL;
	s->min_len = s->max_len = s->min_items = s->max_items = -1;
	s->min_props = s->max_props = -1;
	if (n->type != KFS_MAP) {
		bad(c, n, "a schema must be a mapping");
		return s;
	}
	const struct kfs_node *ios = kfs_map_get(n, "x-kubernetes-int-or-string");
	s->int_or_string = ios && ios->type == KFS_BOOL && kfs_node_truthy(ios);
	for (size_t i = 0; i < n->len; i++)
		compile_keyword(c, s, n->pairs[i].key, n->pairs[i].value);
	const struct kfs_node *def = kfs_map_get(n, "default");
	if (def)
		compile_default(c, s, def);
	return s;
}

static void sch_free(struct sch *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nprops; i++) {
		free(s->props[i].name);
		sch_free(s->props[i].schema);
	}
	free(s->props);
	for (size_t i = 0; i < s->nrequired; i++)
		free(s->required[i]);
	free(s->required);
	sch_free(s->items);
	sch_free(s->additional);
	for (size_t i = 0; i < s->nenums; i++)
		kfs_node_free(s->enums[i]);
	free(s->enums);
	free(s->enum_text);
	kfs_pattern_free(s->re);
	free(s->pattern);
	free(s->min.text);
	free(s->max.text);
	free(s->multiple.text);
	kfs_node_free(s->def);
	free(s);
}

int kfs_schema_compile(const struct kfs_node *openapi, struct kfs_buf *warnings,
		       struct kfs_schema **out, struct kfs_error *err)
{
	*out = NULL;
	if (!openapi)
		return kfs_error_add(err, -EINVAL, "openAPIV3Schema is missing");
	struct comp *c = kfs_xcalloc(1, sizeof(*c));
	c->warnings = warnings;
	c->err = err;
	struct sch *root = compile_node(c, openapi);
	int nerr = c->nerr;
	free(c);
	if (nerr) {
		sch_free(root);
		return -EINVAL;
	}
	*out = kfs_xmalloc(sizeof(**out));
	(*out)->root = root;
	return 0;
}

void kfs_schema_free(struct kfs_schema *schema)
{
	if (!schema)
		return;
	sch_free(schema->root);
	free(schema);
}
