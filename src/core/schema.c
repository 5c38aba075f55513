/* CRD openAPIV3Schema validation, as the Kubernetes API server does it for custom resources:
 * prune unknown fields, apply defaults, then validate. The schema is compiled once
 * (schema_compile.c) into a tree of struct sch (patterns compiled with PCRE2, enum text
 * prepared, defaults pre-processed), so that apply does no parsing, no pattern compiling, and
 * allocates only for the defaults it inserts and a pattern's match data. */
#include "kratixfs/schema.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema_pattern.h"

#include "schema_internal.h"

static bool plain_key(const char *key)
{
	if (!*key)
		return false;
	for (const char *s = key; *s; s++)
		if (*s == '.' || *s == '[' || *s == ']' || *s == ' ' || *s == '"')
			return false;
	return true;
}

static void path_printf(struct path *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void path_printf(struct path *p, const char *fmt, ...)
{
	va_list ap;
	size_t room = sizeof(p->buf) - p->len;
	va_start(ap, fmt);
	int n = vsnprintf(p->buf + p->len, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	p->len = (size_t)n < room ? p->len + (size_t)n : sizeof(p->buf) - 1;
}

/* Appends one map key; returns the length to restore with path_pop. */
size_t sch_path_key(struct path *p, const char *key)
{
	size_t old = p->len;
	if (!plain_key(key))
		path_printf(p, "[\"%s\"]", key);
	else
		path_printf(p, "%s%s", p->len ? "." : "", key);
	return old;
}

static size_t path_index(struct path *p, size_t i)
{
	size_t old = p->len;
	path_printf(p, "[%zu]", i);
	return old;
}

size_t sch_path_text(struct path *p, const char *s)
{
	size_t old = p->len;
	path_printf(p, "%s", s);
	return old;
}

void sch_path_pop(struct path *p, size_t old)
{
	p->len = old;
	p->buf[old] = '\0';
}

/* ------------------------------------------------------------------------------------------ */
/* Values in messages */

/* Appends a scalar as it appears in a message: strings double-quoted with control characters
 * escaped (a message stays one line) and cut after 64 bytes on a character boundary, other
 * scalars as written, collections by their type word. */
void sch_add_value(struct kfs_buf *b, const struct kfs_node *n)
{
	if (n->type == KFS_MAP || n->type == KFS_SEQ) {
		kfs_buf_adds(b, kfs_type_name(n->type));
		return;
	}
	if (n->type != KFS_STR) {
		kfs_buf_add(b, n->text, n->len);
		return;
	}
	size_t len = n->len;
	bool cut = false;
	if (len > 64) {
		len = 64;
		while (len > 0 && ((unsigned char)n->text[len] & 0xC0) == 0x80)
			len--;
		cut = true;
	}
	kfs_buf_addc(b, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)n->text[i];
		if (c == '"' || c == '\\')
			kfs_buf_printf(b, "\\%c", c);
		else if (c == '\n')
			kfs_buf_adds(b, "\\n");
		else if (c == '\t')
			kfs_buf_adds(b, "\\t");
		else if (c < 0x20 || c == 0x7f)
			kfs_buf_printf(b, "\\x%02x", c);
		else
			kfs_buf_addc(b, (char)c);
	}
	kfs_buf_adds(b, cut ? "\"..." : "\"");
}

/* "must be integer, got string "two"" wants the type word before a scalar value. */
static void add_typed_value(struct kfs_buf *b, const struct kfs_node *n)
{
	kfs_buf_adds(b, kfs_type_name(n->type));
	if (n->type != KFS_MAP && n->type != KFS_SEQ && n->type != KFS_NULL) {
		kfs_buf_addc(b, ' ');
		sch_add_value(b, n);
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Apply: prune, default, validate */

struct app {
	struct kfs_error *err;
	struct kfs_buf *warnings; /* pruned fields, as kubectl warns of them; may be NULL */
	int nerr;
	struct kfs_buf tmp; /* scratch for values in messages, reused */
	struct path path;
};

static void fail(struct app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct app *a, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	a->nerr++;
	kfs_error_add(a->err, -EINVAL, "%s: %s", a->path.len ? a->path.buf : "(document)", msg);
}

static const char *value_text(struct app *a, const struct kfs_node *n)
{
	kfs_buf_reset(&a->tmp);
	sch_add_value(&a->tmp, n);
	return a->tmp.data;
}

static bool is_number(const struct kfs_node *n)
{
	return n->type == KFS_INT || n->type == KFS_FLOAT;
}

/* JSON equality: numbers by value, booleans by truth, maps whatever their key order. */
static bool value_equal(const struct kfs_node *x, const struct kfs_node *y)
{
	if (is_number(x) && is_number(y)) {
		long long i, j;
		double d, e;
		if (kfs_node_int(x, &i) && kfs_node_int(y, &j))
			return i == j;
		return kfs_node_number(x, &d) && kfs_node_number(y, &e) && d == e;
	}
	if (x->type != y->type)
		return false;
	switch (x->type) {
	case KFS_NULL:
		return true;
	case KFS_BOOL:
		return kfs_node_truthy(x) == kfs_node_truthy(y);
	case KFS_MAP:
		if (x->len != y->len)
			return false;
		for (size_t i = 0; i < x->len; i++) {
			const struct kfs_node *v = kfs_map_get(y, x->pairs[i].key);
			if (!v || !value_equal(x->pairs[i].value, v))
				return false;
		}
		return true;
	case KFS_SEQ:
		if (x->len != y->len)
			return false;
		for (size_t i = 0; i < x->len; i++)
			if (!value_equal(x->items[i], y->items[i]))
				return false;
		return true;
	default:
		return x->len == y->len && memcmp(x->text, y->text, x->len) == 0;
	}
}

static bool type_ok(const struct sch *s, const struct kfs_node *n)
{
	if (n->type == KFS_NULL)
		return s->nullable || (s->type == KFS_NULL && !s->int_or_string);
	if (s->int_or_string)
		return n->type == KFS_INT || n->type == KFS_STR;
	if (s->type == KFS_NULL)
		return true;
	if (s->type == KFS_FLOAT)
		return is_number(n);
	return n->type == s->type;
}

static size_t utf8_chars(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xC0) != 0x80;
	return n;
}

static const struct sch *find_prop(const struct sch *s, const char *key)
{
	for (size_t i = 0; i < s->nprops; i++)
		if (s->props[i].name[0] == key[0] && strcmp(s->props[i].name, key) == 0)
			return s->props[i].schema;
	return NULL;
}

static bool is_meta_key(const char *key)
{
	return strcmp(key, "apiVersion") == 0 || strcmp(key, "kind") == 0 ||
	       strcmp(key, "metadata") == 0;
}

static void apply_node(struct app *a, const struct sch *s, struct kfs_node *n, bool root);

static void drop_pair(struct kfs_pair *p)
{
	free(p->key);
	kfs_node_free(p->value);
}

/* keep_meta: the document root or an embedded resource, whose apiVersion, kind and metadata
 * the API server keeps (and does not validate against this schema). */
static void apply_object(struct app *a, const struct sch *s, struct kfs_node *n, bool keep_meta)
{
	size_t kept = 0;
	for (size_t i = 0; i < n->len; i++) {
		struct kfs_pair *p = &n->pairs[i];
		if (keep_meta && is_meta_key(p->key)) {
			n->pairs[kept++] = *p;
			continue;
		}
		const struct sch *ps = find_prop(s, p->key);
		if (!ps && s->addl == ADDL_SCHEMA)
			ps = s->additional;
		if (!ps) {
			if (s->preserve || s->addl == ADDL_TRUE) {
				n->pairs[kept++] = *p;
			} else if (s->addl == ADDL_FALSE) {
				size_t old = sch_path_key(&a->path, p->key);
				fail(a, "unknown field (additionalProperties is false)");
				sch_path_pop(&a->path, old);
				n->pairs[kept++] = *p;
			} else {
				/* Pruned, as the API server does, and named, as kubectl does:
				 * a typo must not vanish without a word. */
				if (a->warnings) {
					size_t old = sch_path_key(&a->path, p->key);
					kfs_buf_printf(a->warnings, "unknown field \"%s\"\n",
						       a->path.buf);
					sch_path_pop(&a->path, old);
				}
				drop_pair(p);
			}
			continue;
		}
		/* Kubernetes: a null in a non-nullable field is replaced by the default, or pruned
		 * when there is none (so only a required field then complains). Nulls in arrays
		 * cannot be pruned: apply_node reports them as type errors. */
		if (p->value->type == KFS_NULL && !ps->nullable) {
			if (ps->def) {
				kfs_node_free(p->value);
				p->value = kfs_node_copy(ps->def);
				n->pairs[kept++] = *p;
			} else {
				drop_pair(p);
			}
			continue;
		}
		size_t old = sch_path_key(&a->path, p->key);
		apply_node(a, ps, p->value, false);
		sch_path_pop(&a->path, old);
		n->pairs[kept++] = *p;
	}
	n->len = kept;

	/* Defaults were defaulted and validated at compile time: a copy needs no further walk. */
	for (size_t i = 0; i < s->nprops; i++) {
		const struct sch_prop *pr = &s->props[i];
		if (pr->schema->def && !kfs_map_get(n, pr->name))
			kfs_map_set(n, pr->name, kfs_node_copy(pr->schema->def));
	}
	for (size_t i = 0; i < s->nrequired; i++) {
		if (kfs_map_get(n, s->required[i]))
			continue;
		size_t old = sch_path_key(&a->path, s->required[i]);
		fail(a, "required field is missing");
		sch_path_pop(&a->path, old);
	}
	if (s->min_props >= 0 && n->len < (size_t)s->min_props)
		fail(a, "must have at least %lld fields (got %zu)", s->min_props, n->len);
	if (s->max_props >= 0 && n->len > (size_t)s->max_props)
		fail(a, "must have at most %lld fields (got %zu)", s->max_props, n->len);
}

static void apply_array(struct app *a, const struct sch *s, struct kfs_node *n)
{
	if (s->items) {
		for (size_t i = 0; i < n->len; i++) {
			size_t old = path_index(&a->path, i);
			apply_node(a, s->items, n->items[i], false);
			sch_path_pop(&a->path, old);
		}
	}
	if (s->min_items >= 0 && n->len < (size_t)s->min_items)
		fail(a, "must have at least %lld items (got %zu)", s->min_items, n->len);
	if (s->max_items >= 0 && n->len > (size_t)s->max_items)
		fail(a, "must have at most %lld items (got %zu)", s->max_items, n->len);
	if (!s->unique)
		return;
	for (size_t i = 1; i < n->len; i++) {
		for (size_t j = 0; j < i; j++) {
			if (value_equal(n->items[i], n->items[j])) {
				fail(a, "must not contain duplicate items ([%zu] repeats [%zu])", i,
				     j);
				return;
			}
		}
	}
}

static void apply_string(struct app *a, const struct sch *s, const struct kfs_node *n)
{
	if (s->min_len >= 0 || s->max_len >= 0) {
		size_t chars = utf8_chars(n->text, n->len);
		if (s->min_len >= 0 && chars < (size_t)s->min_len)
			fail(a, "must be at least %lld characters long (got %s)", s->min_len,
			     value_text(a, n));
		if (s->max_len >= 0 && chars > (size_t)s->max_len)
			fail(a, "must be at most %lld characters long (got %s)", s->max_len,
			     value_text(a, n));
	}
	char why[160];
	int m = s->re ? kfs_pattern_match(s->re, n->text, n->len, why, sizeof(why)) : 1;
	if (m == 0)
		fail(a, "must match %s (got %s)", s->pattern, value_text(a, n));
	else if (m < 0)
		fail(a, "cannot be checked against %s: %s (got %s)", s->pattern, why,
		     value_text(a, n));
}

/* |v / m - round(v / m)| small: without libm, whose fmod the build does not link. */
static bool is_multiple(double v, double m)
{
	double q = v / m;
	double r = q - (double)(long long)(q + (q >= 0 ? 0.5 : -0.5));
	double tol = 1e-9 * (q >= 0 ? (q > 1 ? q : 1) : (q < -1 ? -q : 1));
	return r <= tol && r >= -tol;
}

static void apply_number(struct app *a, const struct sch *s, const struct kfs_node *n)
{
	long long i;
	double v;
	if (n->type == KFS_INT && !kfs_node_int(n, &i)) {
		fail(a, "must be a 64-bit integer (got %s)", value_text(a, n));
		return;
	}
	if (!kfs_node_number(n, &v))
		return;
	const struct bound *lo = &s->min, *hi = &s->max;
	if (lo->set && (lo->exclusive ? v <= lo->v : v < lo->v))
		fail(a, "must be %s %s (got %s)", lo->exclusive ? "greater than" : "at least",
		     lo->text, value_text(a, n));
	if (hi->set && (hi->exclusive ? v >= hi->v : v > hi->v))
		fail(a, "must be %s %s (got %s)", hi->exclusive ? "less than" : "at most", hi->text,
		     value_text(a, n));
	if (s->multiple.set && !is_multiple(v, s->multiple.v))
		fail(a, "must be a multiple of %s (got %s)", s->multiple.text, value_text(a, n));
}

static void apply_node(struct app *a, const struct sch *s, struct kfs_node *n, bool root)
{
	if (!type_ok(s, n)) {
		kfs_buf_reset(&a->tmp);
		add_typed_value(&a->tmp, n);
		fail(a, "must be %s, got %s",
		     s->int_or_string ? "integer or string" : kfs_type_name(s->type), a->tmp.data);
		return;
	}
	if (n->type == KFS_NULL)
		return; /* a null the schema allows has nothing else to check */
	if (s->nenums) {
		size_t i = 0;
		while (i < s->nenums && !value_equal(s->enums[i], n))
			i++;
		if (i == s->nenums)
			fail(a, "must be one of %s (got %s)", s->enum_text, value_text(a, n));
	}
	switch (n->type) {
	case KFS_MAP:
		apply_object(a, s, n, root || s->embedded);
		break;
	case KFS_SEQ:
		apply_array(a, s, n);
		break;
	case KFS_STR:
		apply_string(a, s, n);
		break;
	case KFS_INT:
	case KFS_FLOAT:
		apply_number(a, s, n);
		break;
	default:
		break;
	}
}

int sch_apply_at(const struct sch *s, struct kfs_node *n, const struct path *at, bool root,
		 struct kfs_buf *warnings, struct kfs_error *err)
{
	struct app a = {.err = err, .warnings = warnings};
	if (at)
		a.path = *at;
	apply_node(&a, s, n, root);
	kfs_buf_free(&a.tmp);
	return a.nerr ? -EINVAL : 0;
}

int kfs_schema_apply(const struct kfs_schema *schema, struct kfs_node *doc,
		     struct kfs_buf *warnings, struct kfs_error *err)
{
	if (!doc)
		return kfs_error_add(err, -EINVAL, "the document is empty");
	return sch_apply_at(schema->root, doc, NULL, true, warnings, err);
}
