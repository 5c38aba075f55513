/* CRD openAPIV3Schema validation, as the Kubernetes API server does it for custom resources:
 * prune unknown fields, apply defaults, then validate. The schema is compiled once into a tree
 * of struct sch (regexes compiled, enum text prepared, defaults pre-processed), so that apply
 * does no parsing, no regcomp, and allocates only for the defaults it inserts. */
#include "kratixfs/schema.h"

#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* additionalProperties: absent, false, true, or a schema for every extra key. */
enum addl { ADDL_UNSET, ADDL_FALSE, ADDL_TRUE, ADDL_SCHEMA };

struct bound {
	bool set;
	bool exclusive;
	double v;
	char *text; /* as written in the schema, for messages */
};

struct sch_prop {
	char *name;
	struct sch *schema;
};

struct sch {
	enum kfs_type type; /* KFS_NULL when the schema names no type: anything goes */
	bool nullable;
	bool preserve;	    /* x-kubernetes-preserve-unknown-fields */
	bool int_or_string; /* x-kubernetes-int-or-string */
	bool embedded;	    /* x-kubernetes-embedded-resource */
	bool unique;	    /* uniqueItems, or x-kubernetes-list-type: set */
	bool has_re;
	enum addl addl;
	struct sch *additional;
	struct sch_prop *props;
	size_t nprops;
	char **required;
	size_t nrequired;
	struct sch *items;
	struct kfs_node **enums;
	size_t nenums;
	char *enum_text; /* "small, medium, large" */
	regex_t re;
	char *pattern; /* as written, for messages */
	struct bound min, max, multiple;
	long long min_len, max_len, min_items, max_items, min_props, max_props; /* -1: unset */
	struct kfs_node *def; /* the default, already defaulted, pruned and validated */
};

struct kfs_schema {
	struct sch *root;
};

/* A field path built in place while walking ("spec.env[1].name"); no allocation. */
struct path {
	size_t len;
	char buf[1024];
};

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
static size_t path_key(struct path *p, const char *key)
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

static size_t path_text(struct path *p, const char *s)
{
	size_t old = p->len;
	path_printf(p, "%s", s);
	return old;
}

static void path_pop(struct path *p, size_t old)
{
	p->len = old;
	p->buf[old] = '\0';
}

/* ------------------------------------------------------------------------------------------ */
/* Values in messages */

/* Appends a scalar as it appears in a message: strings double-quoted with control characters
 * escaped (a message stays one line) and cut after 64 bytes on a character boundary, other
 * scalars as written, collections by their type word. */
static void add_value(struct kfs_buf *b, const struct kfs_node *n)
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
		add_value(b, n);
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
	add_value(&a->tmp, n);
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
				size_t old = path_key(&a->path, p->key);
				fail(a, "unknown field (additionalProperties is false)");
				path_pop(&a->path, old);
				n->pairs[kept++] = *p;
			} else {
				/* Pruned, as the API server does, and named, as kubectl does:
				 * a typo must not vanish without a word. */
				if (a->warnings) {
					size_t old = path_key(&a->path, p->key);
					kfs_buf_printf(a->warnings, "unknown field \"%s\"\n",
						       a->path.buf);
					path_pop(&a->path, old);
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
		size_t old = path_key(&a->path, p->key);
		apply_node(a, ps, p->value, false);
		path_pop(&a->path, old);
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
		size_t old = path_key(&a->path, s->required[i]);
		fail(a, "required field is missing");
		path_pop(&a->path, old);
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
			path_pop(&a->path, old);
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
	if (s->has_re && regexec(&s->re, n->text, 0, NULL, 0) != 0)
		fail(a, "must match %s (got %s)", s->pattern, value_text(a, n));
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

/* Walks n against s with errors on err; path starts at `at` (compile-time default checks). */
static int apply_at(const struct sch *s, struct kfs_node *n, const struct path *at, bool root,
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
	return apply_at(schema->root, doc, NULL, true, warnings, err);
}

/* ------------------------------------------------------------------------------------------ */
/* Patterns: ECMA-262/RE2 syntax translated to POSIX ERE */

/* Members of \d \w \s inside a bracket expression (RE2's ASCII meanings). */
static const char *class_members(char e)
{
	switch (e) {
	case 'd':
		return "0-9";
	case 'w':
		return "A-Za-z0-9_";
	case 's':
		return "\t\n\f\r ";
	default:
		return NULL;
	}
}

static int hex_digits(const char *p, size_t n, size_t *i, size_t count)
{
	int v = 0;
	for (size_t k = 0; k < count; k++, (*i)++) {
		if (*i >= n)
			return -1;
		char c = p[*i];
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* The literal byte an escape \e stands for (p[*i] follows e), or -1 with *why set. */
static int escape_char(const char *p, size_t n, size_t *i, char e, bool in_class, const char **why)
{
	int v;
	switch (e) {
	case 'n':
		return '\n';
	case 't':
		return '\t';
	case 'r':
		return '\r';
	case 'f':
		return '\f';
	case 'v':
		return '\v';
	case 'b':
		if (in_class)
			return '\b';
		*why = "the word boundary \\b has no POSIX ERE equivalent";
		return -1;
	case 'x':
	case 'u':
		v = hex_digits(p, n, i, e == 'x' ? 2 : 4);
		if (v > 0 && v < 0x80)
			return v;
		*why = "only ASCII \\x and \\u escapes are supported";
		return -1;
	default:
		if ((unsigned char)e < 0x80 && e > ' ' && !(e >= '0' && e <= '9') &&
		    !(e >= 'a' && e <= 'z') && !(e >= 'A' && e <= 'Z'))
			return (unsigned char)e;
		*why = e >= '1' && e <= '9' ? "backreferences have no POSIX ERE equivalent"
					    : "this escape has no POSIX ERE equivalent";
		return -1;
	}
}

static bool ere_special(char c)
{
	return c && strchr(".[\\()*+?{|^$", c) != NULL;
}

static void add_literal(struct kfs_buf *o, char c)
{
	if (ere_special(c))
		kfs_buf_addc(o, '\\');
	kfs_buf_addc(o, c);
}

/* One member of a bracket expression: a literal byte, or -1 (*why set), or -2 when a class
 * escape (\d \w \s) was appended to body. */
static int class_atom(const char *p, size_t n, size_t *i, struct kfs_buf *body, const char **why)
{
	char c = p[(*i)++];
	if (c != '\\')
		return (unsigned char)c;
	if (*i >= n) {
		*why = "the pattern ends with a backslash";
		return -1;
	}
	char e = p[(*i)++];
	const char *members = class_members(e);
	if (members) {
		kfs_buf_adds(body, members);
		return -2;
	}
	if (e == 'D' || e == 'W' || e == 'S') {
		*why = "\\D, \\W and \\S inside [...] have no POSIX ERE equivalent";
		return -1;
	}
	return escape_char(p, n, i, e, true, why);
}

/* Translates the bracket expression starting after '[' at p[*i]. POSIX takes backslashes
 * literally inside brackets and wants ']' first, '-' last and '^' not first: members are
 * collected, then written in that order. */
static const char *translate_class(const char *p, size_t n, size_t *i, struct kfs_buf *o)
{
	struct kfs_buf body = {0};
	bool neg = false, rb = false, lb = false, dash = false, caret = false;
	const char *why = NULL;
	if (*i < n && p[*i] == '^') {
		neg = true;
		(*i)++;
	}
	for (bool first = true;; first = false) {
		if (*i >= n) {
			why = "a [ is not closed";
			goto out;
		}
		if (p[*i] == ']' && !first) {
			(*i)++;
			break;
		}
		if (p[*i] == '[' && *i + 1 < n && p[*i + 1] == ':') {
			const char *end = strstr(p + *i + 2, ":]");
			if (end) {
				kfs_buf_add(&body, p + *i, (size_t)(end + 2 - (p + *i)));
				*i = (size_t)(end + 2 - p);
				continue;
			}
		}
		int lo = class_atom(p, n, i, &body, &why);
		if (lo == -1)
			goto out;
		if (lo == -2)
			continue;
		if (*i + 1 < n && p[*i] == '-' && p[*i + 1] != ']') {
			(*i)++;
			int hi = class_atom(p, n, i, &body, &why);
			if (hi == -1)
				goto out;
			if (hi == -2 || lo == ']' || hi == ']' || lo == '[' || hi == '[') {
				why = "this range inside [...] cannot be written in POSIX ERE";
				goto out;
			}
			kfs_buf_addc(&body, (char)lo);
			kfs_buf_addc(&body, '-');
			kfs_buf_addc(&body, (char)hi);
			continue;
		}
		if (lo == ']')
			rb = true;
		else if (lo == '[')
			lb = true;
		else if (lo == '-')
			dash = true;
		else if (lo == '^')
			caret = true;
		else
			kfs_buf_addc(&body, (char)lo);
	}
	if (!neg && !rb && !lb && body.len == 0 && !dash) {
		if (caret)
			kfs_buf_adds(o, "\\^");
		goto out;
	}
	kfs_buf_addc(o, '[');
	if (neg)
		kfs_buf_addc(o, '^');
	if (rb)
		kfs_buf_addc(o, ']');
	if (!rb && !lb && body.len == 0 && caret && !neg) {
		/* only '^' and '-': "-^" keeps the caret from negating */
		kfs_buf_adds(o, "-^]");
		goto out;
	}
	kfs_buf_add(o, body.data ? body.data : "", body.len);
	if (lb)
		kfs_buf_addc(o, '[');
	if (caret)
		kfs_buf_addc(o, '^');
	if (dash)
		kfs_buf_addc(o, '-');
	kfs_buf_addc(o, ']');
out:
	kfs_buf_free(&body);
	return why;
}

/* A quantifier {m}, {m,}, {m,n} or {,n} at p[*i] (after '{'): written to o with {,n} read as
 * {0,n} (what promise authors mean); false if it is a literal brace, as ECMA-262 reads it. */
static bool translate_braces(const char *p, size_t n, size_t *i, struct kfs_buf *o)
{
	size_t j = *i, lo = j;
	while (j < n && p[j] >= '0' && p[j] <= '9')
		j++;
	size_t lo_end = j, hi = j, hi_end = j;
	bool comma = j < n && p[j] == ',';
	if (comma) {
		hi = ++j;
		while (j < n && p[j] >= '0' && p[j] <= '9')
			j++;
		hi_end = j;
	}
	if (j >= n || p[j] != '}' || (lo_end == lo && (!comma || hi_end == hi)))
		return false;
	kfs_buf_addc(o, '{');
	if (lo_end == lo)
		kfs_buf_addc(o, '0');
	else
		kfs_buf_add(o, p + lo, lo_end - lo);
	if (comma) {
		kfs_buf_addc(o, ',');
		kfs_buf_add(o, p + hi, hi_end - hi);
	}
	kfs_buf_addc(o, '}');
	*i = j + 1;
	return true;
}

/* Returns NULL when p was written to o as an equivalent POSIX ERE, else why it cannot be. */
static const char *translate_pattern(const char *p, struct kfs_buf *o)
{
	size_t n = strlen(p), i = 0;
	const char *why = NULL;
	while (i < n) {
		char c = p[i++];
		bool quantifier = false;
		switch (c) {
		case '\\': {
			if (i >= n)
				return "the pattern ends with a backslash";
			char e = p[i++];
			const char *members = class_members(e);
			if (members) {
				kfs_buf_printf(o, "[%s]", members);
			} else if (e == 'D' || e == 'W' || e == 'S') {
				kfs_buf_printf(o, "[^%s]", class_members((char)(e - 'A' + 'a')));
			} else if (e == 'A') {
				kfs_buf_addc(o, '^');
			} else if (e == 'z') {
				kfs_buf_addc(o, '$');
			} else {
				int v = escape_char(p, n, &i, e, false, &why);
				if (v < 0)
					return why;
				add_literal(o, (char)v);
			}
			break;
		}
		case '[':
			why = translate_class(p, n, &i, o);
			if (why)
				return why;
			break;
		case '(':
			if (i < n && p[i] == '?') {
				/* (?:x) and (?P<n>x) only group: with REG_NOSUB, (x) is alike */
				if (i + 1 < n && p[i + 1] == ':') {
					i += 2;
				} else if ((i + 2 < n && p[i + 1] == 'P' && p[i + 2] == '<') ||
					   (i + 2 < n && p[i + 1] == '<' && p[i + 2] != '=' &&
					    p[i + 2] != '!')) {
					const char *gt = strchr(p + i, '>');
					if (!gt)
						return "a named group is not closed";
					i = (size_t)(gt + 1 - p);
				} else {
					return "lookaround and inline flags (?...) have no "
					       "POSIX ERE equivalent";
				}
			}
			kfs_buf_addc(o, '(');
			break;
		case '{':
			quantifier = translate_braces(p, n, &i, o);
			if (!quantifier)
				kfs_buf_adds(o, "\\{");
			break;
		case '*':
		case '+':
		case '?':
			kfs_buf_addc(o, c);
			quantifier = true;
			break;
		default:
			kfs_buf_addc(o, c);
			break;
		}
		if (!quantifier || i >= n)
			continue;
		/* A lazy quantifier matches the same set of strings: drop its '?'. */
		if (p[i] == '?')
			i++;
		else if (p[i] == '+')
			return "possessive quantifiers have no POSIX ERE equivalent";
	}
	return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Compile */

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
		size_t old = path_key(&c->path, v->pairs[i].key);
		s->props[s->nprops].name = kfs_xstrdup(v->pairs[i].key);
		s->props[s->nprops].schema = compile_node(c, v->pairs[i].value);
		s->nprops++;
		path_pop(&c->path, old);
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
			add_value(&text, e);
	}
	s->enum_text = kfs_buf_steal(&text);
}

static void compile_pattern(struct comp *c, struct sch *s, const struct kfs_node *v)
{
	if (v->type != KFS_STR) {
		bad(c, v, "pattern must be a string");
		return;
	}
	struct kfs_buf ere = {0};
	const char *why = translate_pattern(v->text, &ere);
	if (why) {
		warn(c, "pattern", why);
	} else {
		int rc = regcomp(&s->re, ere.data ? ere.data : "", REG_EXTENDED | REG_NOSUB);
		if (rc == 0) {
			s->has_re = true;
			s->pattern = kfs_xstrdup(v->text);
		} else {
			char msg[256], why2[300];
			regerror(rc, &s->re, msg, sizeof(msg));
			regfree(&s->re);
			snprintf(why2, sizeof(why2), "POSIX regcomp: %s", msg);
			warn(c, "pattern", why2);
		}
	}
	kfs_buf_free(&ere);
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
		old = path_text(&c->path, "[*]");
		s->items = compile_node(c, v);
		path_pop(&c->path, old);
	} else if (strcmp(kw, "additionalProperties") == 0) {
		if (v->type == KFS_MAP) {
			old = path_text(&c->path, c->path.len ? ".*" : "*");
			s->additional = compile_node(c, v);
			s->addl = ADDL_SCHEMA;
			path_pop(&c->path, old);
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
	} else if (strcmp(kw, "minimum") == 0) {
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
	else if (apply_at(s, def, &c->path, false, NULL, tmp) != 0)
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
	if (s->has_re)
		regfree(&s->re);
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
