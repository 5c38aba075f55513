/* The YAML document model: the tree of maps, sequences and typed scalars, its builders and
 * accessors, and how a plain scalar resolves to a type. */
#include "kratixfs/node.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- nodes ---------- */

struct kfs_node *kfs_node_new(enum kfs_type type)
{
	struct kfs_node *n = kfs_xcalloc(1, sizeof(*n));
	n->type = type;
	if (type == KFS_NULL)
		n->text = kfs_xstrdup("null"), n->len = 4;
	return n;
}

struct kfs_node *kfs_node_new_scalar(enum kfs_type type, const char *text, size_t len)
{
	struct kfs_node *n = kfs_xcalloc(1, sizeof(*n));
	n->type = type;
	n->text = kfs_xstrndup(text, len);
	n->len = len;
	return n;
}

struct kfs_node *kfs_node_new_str(const char *s)
{
	return kfs_node_new_scalar(KFS_STR, s, strlen(s));
}

struct kfs_node *kfs_node_new_int(long long v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%lld", v);
	return kfs_node_new_scalar(KFS_INT, tmp, (size_t)n);
}

struct kfs_node *kfs_node_new_bool(bool v)
{
	return v ? kfs_node_new_scalar(KFS_BOOL, "true", 4)
		 : kfs_node_new_scalar(KFS_BOOL, "false", 5);
}

void kfs_node_free(struct kfs_node *n)
{
	if (!n)
		return;
	if (n->type == KFS_MAP) {
		for (size_t i = 0; i < n->len; i++) {
			free(n->pairs[i].key);
			kfs_node_free(n->pairs[i].value);
		}
		free(n->pairs);
	} else if (n->type == KFS_SEQ) {
		for (size_t i = 0; i < n->len; i++)
			kfs_node_free(n->items[i]);
		free(n->items);
	} else {
		free(n->text);
	}
	free(n);
}

struct kfs_node *kfs_node_copy(const struct kfs_node *n)
{
	if (!n)
		return NULL;
	struct kfs_node *c;
	if (n->type == KFS_MAP) {
		c = kfs_node_new(KFS_MAP);
		c->pairs = kfs_xcalloc(n->len, sizeof(*c->pairs));
		c->cap = n->len;
		for (size_t i = 0; i < n->len; i++) {
			c->pairs[i].key = kfs_xstrdup(n->pairs[i].key);
			c->pairs[i].value = kfs_node_copy(n->pairs[i].value);
		}
		c->len = n->len;
	} else if (n->type == KFS_SEQ) {
		c = kfs_node_new(KFS_SEQ);
		c->items = kfs_xcalloc(n->len, sizeof(*c->items));
		c->cap = n->len;
		for (size_t i = 0; i < n->len; i++)
			c->items[i] = kfs_node_copy(n->items[i]);
		c->len = n->len;
	} else {
		c = kfs_node_new_scalar(n->type, n->text, n->len);
	}
	c->line = n->line;
	return c;
}

struct kfs_node *kfs_map_getn(const struct kfs_node *map, const char *key, size_t keylen)
{
	if (!map || map->type != KFS_MAP)
		return NULL;
	for (size_t i = 0; i < map->len; i++) {
		const char *k = map->pairs[i].key;
		if (strncmp(k, key, keylen) == 0 && k[keylen] == '\0')
			return map->pairs[i].value;
	}
	return NULL;
}

struct kfs_node *kfs_map_get(const struct kfs_node *map, const char *key)
{
	return kfs_map_getn(map, key, strlen(key));
}

void kfs_map_set(struct kfs_node *map, const char *key, struct kfs_node *value)
{
	for (size_t i = 0; i < map->len; i++) {
		if (strcmp(map->pairs[i].key, key) == 0) {
			kfs_node_free(map->pairs[i].value);
			map->pairs[i].value = value;
			return;
		}
	}
	kfs_map_append(map, kfs_xstrdup(key), value);
}

void kfs_map_append(struct kfs_node *map, char *key, struct kfs_node *value)
{
	if (map->len == map->cap) {
		map->cap = map->cap ? map->cap * 2 : 4;
		map->pairs = kfs_xrealloc(map->pairs, map->cap * sizeof(*map->pairs));
	}
	map->pairs[map->len].key = key;
	map->pairs[map->len].value = value;
	map->len++;
}

struct kfs_node *kfs_map_take(struct kfs_node *map, const char *key)
{
	if (!map || map->type != KFS_MAP)
		return NULL;
	for (size_t i = 0; i < map->len; i++) {
		if (strcmp(map->pairs[i].key, key) == 0) {
			struct kfs_node *v = map->pairs[i].value;
			free(map->pairs[i].key);
			memmove(&map->pairs[i], &map->pairs[i + 1],
				(map->len - i - 1) * sizeof(*map->pairs));
			map->len--;
			return v;
		}
	}
	return NULL;
}

void kfs_seq_append(struct kfs_node *seq, struct kfs_node *item)
{
	if (seq->len == seq->cap) {
		seq->cap = seq->cap ? seq->cap * 2 : 4;
		seq->items = kfs_xrealloc(seq->items, seq->cap * sizeof(*seq->items));
	}
	seq->items[seq->len++] = item;
}

struct kfs_node *kfs_node_at(const struct kfs_node *root, const char *path)
{
	const struct kfs_node *n = root;
	while (n && *path) {
		const char *dot = strchr(path, '.');
		size_t len = dot ? (size_t)(dot - path) : strlen(path);
		n = kfs_map_getn(n, path, len);
		path += len + (dot ? 1 : 0);
	}
	return (struct kfs_node *)n;
}

const char *kfs_node_text_at(const struct kfs_node *root, const char *path)
{
	const struct kfs_node *n = kfs_node_at(root, path);
	if (!n || n->type == KFS_MAP || n->type == KFS_SEQ || n->type == KFS_NULL)
		return NULL;
	return n->text;
}

bool kfs_node_equal(const struct kfs_node *a, const struct kfs_node *b)
{
	if (a == b)
		return true;
	if (!a || !b || a->type != b->type || a->len != b->len)
		return false;
	switch (a->type) {
	case KFS_MAP:
		for (size_t i = 0; i < a->len; i++)
			if (strcmp(a->pairs[i].key, b->pairs[i].key) != 0 ||
			    !kfs_node_equal(a->pairs[i].value, b->pairs[i].value))
				return false;
		return true;
	case KFS_SEQ:
		for (size_t i = 0; i < a->len; i++)
			if (!kfs_node_equal(a->items[i], b->items[i]))
				return false;
		return true;
	default:
		return memcmp(a->text, b->text, a->len) == 0;
	}
}

bool kfs_node_int(const struct kfs_node *n, long long *out)
{
	if (!n || n->type != KFS_INT)
		return false;
	errno = 0;
	char *end;
	const char *t = n->text;
	int base = 10;
	bool neg = false;
	if (*t == '-' || *t == '+')
		neg = (*t++ == '-');
	if (t[0] == '0' && (t[1] == 'x' || t[1] == 'o')) {
		base = t[1] == 'x' ? 16 : 8;
		t += 2;
	}
	long long v = strtoll(t, &end, base);
	if (errno || *end)
		return false;
	*out = neg ? -v : v;
	return true;
}

bool kfs_node_number(const struct kfs_node *n, double *out)
{
	long long i;
	if (kfs_node_int(n, &i)) {
		*out = (double)i;
		return true;
	}
	if (!n || n->type != KFS_FLOAT)
		return false;
	const char *t = n->text;
	const char *s = (*t == '-' || *t == '+') ? t + 1 : t;
	if (s[0] == '.' && (s[1] == 'i' || s[1] == 'I')) {
		*out = *t == '-' ? -__builtin_inf() : __builtin_inf();
		return true;
	}
	if (s[0] == '.' && (s[1] == 'n' || s[1] == 'N')) {
		*out = __builtin_nan("");
		return true;
	}
	*out = strtod(t, NULL);
	return true;
}

bool kfs_node_truthy(const struct kfs_node *n)
{
	if (!n)
		return false;
	switch (n->type) {
	case KFS_NULL:
		return false;
	case KFS_BOOL:
		return n->text[0] == 't' || n->text[0] == 'T' || n->text[0] == 'y' ||
		       n->text[0] == 'Y' || strcasecmp(n->text, "on") == 0;
	case KFS_INT: {
		long long v;
		return !kfs_node_int(n, &v) || v != 0;
	}
	case KFS_FLOAT: {
		double d;
		return kfs_node_number(n, &d) && d != 0.0;
	}
	case KFS_STR:
		return n->len > 0;
	default:
		return n->len > 0;
	}
}

const char *kfs_type_name(enum kfs_type type)
{
	switch (type) {
	case KFS_NULL:
		return "null";
	case KFS_BOOL:
		return "boolean";
	case KFS_INT:
		return "integer";
	case KFS_FLOAT:
		return "number";
	case KFS_STR:
		return "string";
	case KFS_MAP:
		return "object";
	case KFS_SEQ:
		return "array";
	}
	return "?";
}

/* ---------- scalar resolution ---------- */

static bool word_in(const char *text, size_t len, const char *const *words)
{
	for (; *words; words++)
		if (strlen(*words) == len && memcmp(*words, text, len) == 0)
			return true;
	return false;
}

static bool all_digits(const char *s, size_t len, int base)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool ok = base == 16 ? ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
					(c >= 'A' && c <= 'F'))
				     : (c >= '0' && c < '0' + base);
		if (!ok)
			return false;
	}
	return true;
}

static bool is_float(const char *s, size_t len)
{
	size_t i = 0;
	if (i < len && (s[i] == '-' || s[i] == '+'))
		i++;
	static const char *const special[] = {".inf", ".Inf", ".INF", NULL};
	if (word_in(s + i, len - i, special))
		return true;
	size_t digits = 0;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++, digits++;
	bool dot = false;
	if (i < len && s[i] == '.') {
		dot = true;
		i++;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++, digits++;
	}
	if (digits == 0)
		return false;
	bool exp = false;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		exp = true;
		i++;
		if (i < len && (s[i] == '-' || s[i] == '+'))
			i++;
		size_t ed = 0;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++, ed++;
		if (ed == 0)
			return false;
	}
	return i == len && (dot || exp);
}

/* Kubernetes decodes YAML with go-yaml, which resolves YAML 1.1 booleans (yes/no/on/off) as well
 * as the 1.2 core schema; kratixfs follows it so that validation agrees with the API server. */
enum kfs_type kfs_resolve_plain(const char *text, size_t len)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
	static const char *const bools[] = {"true", "True", "TRUE", "false", "False", "FALSE",
					    "yes",  "Yes",  "YES",  "no",    "No",    "NO",
					    "on",   "On",   "ON",   "off",   "Off",   "OFF",
					    "y",    "Y",    "n",    "N",     NULL};
	static const char *const nans[] = {".nan", ".NaN", ".NAN", NULL};
	if (len > 5 || len == 0) {
		if (len == 0)
			return KFS_NULL;
	} else {
		if (word_in(text, len, nulls))
			return KFS_NULL;
		if (word_in(text, len, bools))
			return KFS_BOOL;
		if (word_in(text, len, nans))
			return KFS_FLOAT;
	}
	const char *s = text;
	size_t n = len;
	if (*s == '-' || *s == '+')
		s++, n--;
	if (n > 2 && s[0] == '0' && s[1] == 'x' && all_digits(s + 2, n - 2, 16))
		return KFS_INT;
	if (n > 2 && s[0] == '0' && s[1] == 'o' && all_digits(s + 2, n - 2, 8))
		return KFS_INT;
	if (all_digits(s, n, 10))
		return KFS_INT;
	if (is_float(text, len))
		return KFS_FLOAT;
	return KFS_STR;
}

void kfs_doc_free_stream(struct kfs_node **docs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		kfs_node_free(docs[i]);
	free(docs);
}
