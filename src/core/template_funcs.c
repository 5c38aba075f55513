/* The template language's functions (sprig's names and semantics): the table, logic and
 * comparison, collections and arithmetic. Strings, encodings, YAML/JSON and regular
 * expressions are in template_strfuncs.c. No function reads the clock, the network, the
 * environment or randomness: a render gives the same bytes for the same request. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template_funcs.h"

static const struct kfs_node true_node = {.type = KFS_BOOL, .len = 4, .text = (char *)"true"};
static const struct kfs_node false_node = {.type = KFS_BOOL, .len = 5, .text = (char *)"false"};
static const struct kfs_node null_node = {.type = KFS_NULL, .len = 4, .text = (char *)"null"};

int fn_bool(struct tval *out, bool v)
{
	*out = (struct tval){.n = v ? &true_node : &false_node, .safe = true};
	return 0;
}

int fn_int(struct teval *e, struct tval *out, long long v)
{
	char num[24];
	int len = snprintf(num, sizeof(num), "%lld", v);
	*out = (struct tval){.n = tmpl_scalar(e, KFS_INT, num, (size_t)len), .safe = true};
	return 0;
}

int fn_str(struct teval *e, struct tval *out, const char *text, size_t len, bool safe)
{
	*out = (struct tval){.n = tmpl_scalar(e, KFS_STR, text, len), .safe = safe};
	return 0;
}

int fn_buf(struct teval *e, struct tval *out, struct kfs_buf *b, bool safe)
{
	fn_str(e, out, b->data ? b->data : "", b->len, safe);
	kfs_buf_free(b);
	return 0;
}

const char *fn_name(const struct tcmd *c)
{
	return c->args[0].text;
}

int fn_string(struct teval *e, const struct tcmd *c, const struct tval *v, const char **text,
	      size_t *len)
{
	if (v->n->type == KFS_NULL) {
		*text = "";
		*len = 0;
		return 0;
	}
	if (!tmpl_text(v->n, text, len))
		return tmpl_fail(e, c->pos, "%s needs a string, not %s", fn_name(c),
				 tmpl_kind(v->n));
	return 0;
}

/* sprig's toInt64: numbers, numeric strings (else 0), booleans as 0/1, null as 0. */
long long fn_toint(const struct kfs_node *n)
{
	long long v;
	double d;
	if (kfs_node_int(n, &v))
		return v;
	if (kfs_node_number(n, &d))
		return (long long)d;
	if (n->type == KFS_BOOL)
		return kfs_node_truthy(n);
	if (n->type == KFS_STR) {
		char *end;
		v = strtoll(n->text, &end, 10);
		if (*end == '\0' && end != n->text)
			return v;
		d = strtod(n->text, &end);
		return *end == '\0' && end != n->text ? (long long)d : 0;
	}
	return 0;
}

int fn_number(struct teval *e, const struct tcmd *c, const struct tval *v, long long *out)
{
	if (v->n->type == KFS_MAP || v->n->type == KFS_SEQ)
		return tmpl_fail(e, c->pos, "%s needs a number, not %s", fn_name(c),
				 tmpl_kind(v->n));
	*out = fn_toint(v->n);
	return 0;
}

bool fn_all_safe(const struct tval *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!a[i].safe && a[i].n && a[i].n->type == KFS_STR)
			return false;
	return true;
}

/* ---------- logic and comparison ---------- */

static int f_default(struct teval *e, const struct tcmd *c, struct tval *a, size_t n,
		     struct tval *out)
{
	(void)e, (void)c;
	*out = n < 2 || tmpl_empty(&a[1]) ? a[0] : a[1];
	return 0;
}

static int f_empty(struct teval *e, const struct tcmd *c, struct tval *a, size_t n,
		   struct tval *out)
{
	(void)e, (void)c, (void)n;
	return fn_bool(out, tmpl_empty(&a[0]));
}

static int f_coalesce(struct teval *e, const struct tcmd *c, struct tval *a, size_t n,
		      struct tval *out)
{
	(void)e, (void)c;
	for (size_t i = 0; i < n; i++)
		if (!tmpl_empty(&a[i])) {
			*out = a[i];
			return 0;
		}
	*out = (struct tval){.n = &null_node};
	return 0;
}

static int f_and(struct teval *e, const struct tcmd *c, struct tval *a, size_t n,
		 struct tval *out)
{
	(void)e, (void)c;
	for (size_t i = 0; i + 1 < n; i++)
		if (tmpl_empty(&a[i])) {
			*out = a[i].n ? a[i] : (struct tval){.n = &false_node};
			return 0;
		}
	*out = a[n - 1].n ? a[n - 1] : (struct tval){.n = &false_node};
	return 0;
}

static int f_or(struct teval *e, const struct tcmd *c, struct tval *a, size_t n,
		struct tval *out)
{
	(void)e, (void)c;
	for (size_t i = 0; i + 1 < n; i++)
		if (!tmpl_empty(&a[i])) {
			*out = a[i];
			return 0;
		}
	*out = a[n - 1].n ? a[n - 1] : (struct tval){.n = &false_node};
	return 0;
}

static int f_not(struct teval *e, const struct tcmd *c, struct tval *a, size_t n,
		 struct tval *out)
{
	(void)e, (void)c, (void)n;
	return fn_bool(out, tmpl_empty(&a[0]));
}

static int f_ternary(struct teval *e, const struct tcmd *c, struct tval *a, size_t n,
		     struct tval *out)
{
	(void)e, (void)c, (void)n;
	*out = tmpl_empty(&a[2]) ? a[1] : a[0];
	return 0;
}

static int f_required(struct teval *e, const struct tcmd *c, struct tval *a, size_t n,
		      struct tval *out)
{
	(void)n;
	const char *msg;
	size_t len;
	if (!a[0].n || fn_string(e, c, &a[0], &msg, &len))
		return tmpl_fail(e, c->pos, "required needs a message first: required \"…\" .x");
	if (!a[1].n || a[1].n->type == KFS_NULL || (a[1].n->type == KFS_STR && a[1].n->len == 0))
		return tmpl_fail(e, c->pos, "%.*s", SPAN(msg, len));
	*out = a[1];
	return 0;
}

static int f_fail(struct teval *e, const struct tcmd *c, struct tval *a, size_t n,
		  struct tval *out)
{
	(void)n, (void)out;
	const char *msg;
	size_t len;
	int rc = fn_string(e, c, &a[0], &msg, &len);
	return rc ? rc : tmpl_fail(e, c->pos, "%.*s", SPAN(msg, len));
}

/* -1, 0, 1; or 2 when a and b cannot be compared. */
static int compare(const struct kfs_node *a, const struct kfs_node *b)
{
	double x, y;
	if (kfs_node_number(a, &x) && kfs_node_number(b, &y))
		return x < y ? -1 : x > y;
	if (a->type == KFS_STR && b->type == KFS_STR) {
		int r = strcmp(a->text, b->text);
		return r < 0 ? -1 : r > 0;
	}
	if (a->type == KFS_BOOL && b->type == KFS_BOOL)
		return kfs_node_truthy(a) == kfs_node_truthy(b) ? 0 : 3;
	if (a->type == KFS_NULL && b->type == KFS_NULL)
		return 0;
	return 2;
}

static int cmp_fail(struct teval *e, const struct tcmd *c, const struct tval *a,
		    const struct tval *b)
{
	return tmpl_fail(e, c->pos,
			 "%s cannot compare %s with %s (a number with a string? convert with "
			 "int or toString)",
			 fn_name(c), kfs_type_name(a->n->type), kfs_type_name(b->n->type));
}

static int f_eq(struct teval *e, const struct tcmd *c, struct tval *a, size_t n,
		struct tval *out)
{
	bool ne = fn_name(c)[0] == 'n';
	for (size_t i = 1; i < n; i++) {
		int r = compare(a[0].n, a[i].n);
		if (r == 2 && a[0].n->type != KFS_NULL && a[i].n->type != KFS_NULL)
			return cmp_fail(e, c, &a[0], &a[i]);
		if (r == 0)
			return fn_bool(out, !ne);
		if (ne)
			break;
	}
	return fn_bool(out, ne);
}

static int f_order(struct teval *e, const struct tcmd *c, struct tval *a, size_t n,
		   struct tval *out)
{
	(void)n;
	int r = compare(a[0].n, a[1].n);
	if (r > 1 || (r == 0 && a[0].n->type == KFS_BOOL))
		return cmp_fail(e, c, &a[0], &a[1]);
	const char *op = fn_name(c);
	bool v = op[0] == 'l' ? (op[1] == 't' ? r < 0 : r <= 0) : (op[1] == 't' ? r > 0 : r >= 0);
	return fn_bool(out, v);
}

/* ---------- collections ---------- */

static int f_len(struct teval *e, const struct tcmd *c, struct tval *a, size_t n,
		 struct tval *out)
{
	(void)n;
	if (a[0].n->type == KFS_NULL || a[0].n->type == KFS_BOOL)
		return tmpl_fail(e, c->pos, "len of %s", kfs_type_name(a[0].n->type));
	return fn_int(e, out, (long long)a[0].n->len);
}

static int f_list(struct teval *e, const struct tcmd *c, struct tval *a, size_t n,
		  struct tval *out)
{
	(void)c;
	struct kfs_node *l = kfs_node_new(KFS_SEQ);
	for (size_t i = 0; i < n; i++)
		kfs_seq_append(l, kfs_node_copy(a[i].n));
	*out = (struct tval){.n = tmpl_temp(e, l)};
	return 0;
}

static int f_dict(struct teval *e, const struct tcmd *c, struct tval *a, size_t n,
		  struct tval *out)
{
	if (n % 2)
		return tmpl_fail(e, c->pos, "dict takes key value pairs; the last key has no value");
	struct kfs_node *d = kfs_node_new(KFS_MAP);
	tmpl_temp(e, d);
	for (size_t i = 0; i < n; i += 2) {
		const char *k;
		size_t len;
		int rc = fn_string(e, c, &a[i], &k, &len);
		if (rc)
			return rc;
		char *key = kfs_xstrndup(k, len);
		kfs_map_set(d, key, kfs_node_copy(a[i + 1].n));
		free(key);
	}
	*out = (struct tval){.n = d};
	return 0;
}

static int need_map(struct teval *e, const struct tcmd *c, const struct tval *v)
{
	if (v->n->type != KFS_MAP)
		return tmpl_fail(e, c->pos, "%s needs a mapping, not %s", fn_name(c),
				 kfs_type_name(v->n->type));
	return 0;
}

static int f_get(struct teval *e, const struct tcmd *c, struct tval *a, size_t n,
		 struct tval *out)
{
	(void)n;
	const char *k;
	size_t len;
	int rc = need_map(e, c, &a[0]);
	if (!rc)
		rc = fn_string(e, c, &a[1], &k, &len);
	if (rc)
		return rc;
	const struct kfs_node *v = kfs_map_getn(a[0].n, k, len);
	if (!v)
		return fn_str(e, out, "", 0, true);
	*out = (struct tval){.n = v};
	return 0;
}

static int f_haskey(struct teval *e, const struct tcmd *c, struct tval *a, size_t n,
		    struct tval *out)
{
	(void)n;
	const char *k;
	size_t len;
	int rc = need_map(e, c, &a[0]);
	if (!rc)
		rc = fn_string(e, c, &a[1], &k, &len);
	return rc ? rc : fn_bool(out, kfs_map_getn(a[0].n, k, len) != NULL);
}

static int cmp_pairs(const void *a, const void *b)
{
	return strcmp(((const struct kfs_pair *)a)->key, ((const struct kfs_pair *)b)->key);
}

/* keys (of one or more maps) and values, in sorted key order: renders are deterministic. */
static int f_keys(struct teval *e, const struct tcmd *c, struct tval *a, size_t n,
		  struct tval *out)
{
	bool values = fn_name(c)[0] == 'v';
	struct kfs_node *l = kfs_node_new(KFS_SEQ);
	tmpl_temp(e, l);
	for (size_t i = 0; i < n; i++) {
		int rc = need_map(e, c, &a[i]);
		if (rc)
			return rc;
		struct kfs_pair *sorted = kfs_xcalloc(a[i].n->len + 1, sizeof(*sorted));
		if (a[i].n->len)
			memcpy(sorted, a[i].n->pairs, a[i].n->len * sizeof(*sorted));
		qsort(sorted, a[i].n->len, sizeof(*sorted), cmp_pairs);
		for (size_t k = 0; k < a[i].n->len; k++)
			kfs_seq_append(l, values ? kfs_node_copy(sorted[k].value)
						 : kfs_node_new_str(sorted[k].key));
		free(sorted);
	}
	*out = (struct tval){.n = l};
	return 0;
}

/* Keys of src missing from dst are added; where both hold a mapping, they merge in turn. */
static void merge_into(struct kfs_node *dst, const struct kfs_node *src)
{
	for (size_t i = 0; i < src->len; i++) {
		struct kfs_node *have = kfs_map_get(dst, src->pairs[i].key);
		if (!have)
			kfs_map_set(dst, src->pairs[i].key, kfs_node_copy(src->pairs[i].value));
		else if (have->type == KFS_MAP && src->pairs[i].value->type == KFS_MAP)
			merge_into(have, src->pairs[i].value);
	}
}

static int f_merge(struct teval *e, const struct tcmd *c, struct tval *a, size_t n,
		   struct tval *out)
{
	for (size_t i = 0; i < n; i++) {
		int rc = need_map(e, c, &a[i]);
		if (rc)
			return rc;
	}
	struct kfs_node *d = kfs_node_copy(a[0].n);
	tmpl_temp(e, d);
	for (size_t i = 1; i < n; i++)
		merge_into(d, a[i].n);
	*out = (struct tval){.n = d};
	return 0;
}

/* Go's index: index .list 0, index .map "key" (also for keys a path cannot spell). */
static int f_index(struct teval *e, const struct tcmd *c, struct tval *a, size_t n,
		   struct tval *out)
{
	const struct kfs_node *cur = a[0].n;
	for (size_t i = 1; i < n; i++) {
		const char *k;
		size_t len;
		if (cur->type == KFS_SEQ) {
			long long idx = fn_toint(a[i].n);
			if (idx < 0 || (size_t)idx >= cur->len)
				return tmpl_fail(e, c->pos, "index %lld out of range (the list has %zu)",
						 idx, cur->len);
			cur = cur->items[idx];
		} else if (cur->type == KFS_MAP && !fn_string(e, c, &a[i], &k, &len)) {
			const struct kfs_node *next = kfs_map_getn(cur, k, len);
			if (!next)
				return tmpl_fail(e, c->pos,
						 "index: no key \"%.*s\" (guard with hasKey, or use get)",
						 SPAN(k, len));
			cur = next;
		} else {
			return tmpl_fail(e, c->pos, "index into %s", kfs_type_name(cur->type));
		}
	}
	*out = (struct tval){.n = cur, .safe = a[0].safe};
	return 0;
}

/* ---------- arithmetic (sprig's are on 64-bit integers) ---------- */

static int f_arith(struct teval *e, const struct tcmd *c, struct tval *a, size_t n,
		   struct tval *out)
{
	const char *op = fn_name(c);
	long long acc = 0, v;
	for (size_t i = 0; i < n; i++) {
		int rc = fn_number(e, c, &a[i], &v);
		if (rc)
			return rc;
		if (i == 0) {
			acc = v;
			continue;
		}
		if ((!strcmp(op, "div") || !strcmp(op, "mod")) && v == 0)
			return tmpl_fail(e, c->pos, "%s by zero", op);
		if (!strcmp(op, "add"))
			acc += v;
		else if (!strcmp(op, "sub"))
			acc -= v;
		else if (!strcmp(op, "mul"))
			acc *= v;
		else if (!strcmp(op, "div"))
			acc /= v;
		else if (!strcmp(op, "mod"))
			acc %= v;
		else if (!strcmp(op, "max") ? v > acc : v < acc)
			acc = v;
	}
	return fn_int(e, out, acc);
}

static int f_int(struct teval *e, const struct tcmd *c, struct tval *a, size_t n,
		 struct tval *out)
{
	(void)n;
	long long v;
	int rc = fn_number(e, c, &a[0], &v);
	return rc ? rc : fn_int(e, out, v);
}

static const char clock[] =
    "reads the clock: a render must give the same bytes for the same request. Put the time in "
    "the request (e.g. .spec.createdAt) or in values.yaml";
static const char random_[] =
    "is random: a render must give the same bytes for the same request. Derive the value from "
    "the request (e.g. .metadata.name | sha256sum | trunc 16), or let the platform provision "
    "it (a Secret)";
static const char cluster[] =
    "reads the cluster: a render never talks to the network. Put what you need in the request "
    "or in values.yaml";
static const char environ_[] =
    "reads the environment: a render must give the same bytes wherever it runs. Put the value "
    "in values.yaml";

static const struct tfunc funcs[] = {
    {"add", 0, -1, false, f_arith, NULL},
    {"ago", 0, -1, false, NULL, clock},
    {"and", 1, -1, true, f_and, NULL},
    {"b64dec", 1, 1, false, fn_b64dec, NULL},
    {"b64enc", 1, 1, false, fn_b64enc, NULL},
    {"coalesce", 1, -1, true, f_coalesce, NULL},
    {"contains", 2, 2, false, fn_contains, NULL},
    {"date", 0, -1, false, NULL, clock},
    {"default", 1, 2, true, f_default, NULL},
    {"dict", 0, -1, false, f_dict, NULL},
    {"div", 2, 2, false, f_arith, NULL},
    {"empty", 1, 1, true, f_empty, NULL},
    {"env", 0, -1, false, NULL, environ_},
    {"eq", 2, -1, false, f_eq, NULL},
    {"expandenv", 0, -1, false, NULL, environ_},
    {"fail", 1, 1, false, f_fail, NULL},
    {"fromYaml", 1, 1, false, fn_fromyaml, NULL},
    {"ge", 2, 2, false, f_order, NULL},
    {"genCA", 0, -1, false, NULL, random_},
    {"genPrivateKey", 0, -1, false, NULL, random_},
    {"get", 2, 2, false, f_get, NULL},
    {"gt", 2, 2, false, f_order, NULL},
    {"hasKey", 2, 2, false, f_haskey, NULL},
    {"hasPrefix", 2, 2, false, fn_contains, NULL},
    {"hasSuffix", 2, 2, false, fn_contains, NULL},
    {"include", 1, 2, false, fn_include, NULL},
    {"indent", 2, 2, false, fn_indent, NULL},
    {"index", 1, -1, false, f_index, NULL},
    {"int", 1, 1, false, f_int, NULL},
    {"join", 2, 2, false, fn_join, NULL},
    {"keys", 1, -1, false, f_keys, NULL},
    {"le", 2, 2, false, f_order, NULL},
    {"len", 1, 1, false, f_len, NULL},
    {"list", 0, -1, false, f_list, NULL},
    {"lookup", 0, -1, false, NULL, cluster},
    {"lower", 1, 1, false, fn_case, NULL},
    {"lt", 2, 2, false, f_order, NULL},
    {"max", 1, -1, false, f_arith, NULL},
    {"merge", 1, -1, false, f_merge, NULL},
    {"min", 1, -1, false, f_arith, NULL},
    {"mod", 2, 2, false, f_arith, NULL},
    {"mul", 1, -1, false, f_arith, NULL},
    {"ne", 2, 2, false, f_eq, NULL},
    {"nindent", 2, 2, false, fn_indent, NULL},
    {"not", 1, 1, true, f_not, NULL},
    {"now", 0, -1, false, NULL, clock},
    {"or", 1, -1, true, f_or, NULL},
    {"print", 0, -1, false, fn_print, NULL},
    {"printf", 1, -1, false, fn_printf, NULL},
    {"quote", 1, -1, false, fn_quote, NULL},
    {"randAlpha", 0, -1, false, NULL, random_},
    {"randAlphaNum", 0, -1, false, NULL, random_},
    {"randAscii", 0, -1, false, NULL, random_},
    {"randBytes", 0, -1, false, NULL, random_},
    {"randInt", 0, -1, false, NULL, random_},
    {"randNumeric", 0, -1, false, NULL, random_},
    {"regexMatch", 2, 2, false, fn_regex_match, NULL},
    {"regexReplaceAll", 3, 3, false, fn_regex_replace, NULL},
    {"replace", 3, 3, false, fn_replace, NULL},
    {"required", 2, 2, true, f_required, NULL},
    {"sha256sum", 1, 1, false, fn_sha256, NULL},
    {"shuffle", 0, -1, false, NULL, random_},
    {"split", 2, 2, false, fn_split, NULL},
    {"splitList", 2, 2, false, fn_split, NULL},
    {"squote", 1, -1, false, fn_quote, NULL},
    {"sub", 2, 2, false, f_arith, NULL},
    {"ternary", 3, 3, false, f_ternary, NULL},
    {"title", 1, 1, false, fn_case, NULL},
    {"toJson", 1, 1, false, fn_tojson, NULL},
    {"toString", 1, 1, false, fn_tostring, NULL},
    {"toYaml", 1, 1, false, fn_toyaml, NULL},
    {"trim", 1, 1, false, fn_trim, NULL},
    {"trimPrefix", 2, 2, false, fn_trim, NULL},
    {"trimSuffix", 2, 2, false, fn_trim, NULL},
    {"trunc", 2, 2, false, fn_trunc, NULL},
    {"unixEpoch", 0, -1, false, NULL, clock},
    {"upper", 1, 1, false, fn_case, NULL},
    {"uuidv4", 0, -1, false, NULL, random_},
    {"values", 1, 1, false, f_keys, NULL},
    {"yaml", 1, 1, false, fn_yaml, NULL},
};

const struct tfunc *tmpl_func(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(funcs) / sizeof(*funcs); i++)
		if (strlen(funcs[i].name) == len && !memcmp(funcs[i].name, name, len))
			return &funcs[i];
	return NULL;
}

const char *tmpl_func_suggest(const char *name, size_t len)
{
	const char *best = NULL;
	size_t best_d = 3;
	for (size_t i = 0; i < sizeof(funcs) / sizeof(*funcs); i++) {
		if (funcs[i].refusal)
			continue;
		size_t d = kfs_edit_distance(name, len, funcs[i].name, strlen(funcs[i].name));
		if (d < best_d && d < len)
			best = funcs[i].name, best_d = d;
	}
	return best;
}
