/* The YAML document model on libyaml's event parser, and its canonical emitter. */
#include "kratixfs/doc.h"

#include "kratixfs/files.h"
#include "yaml_fast.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Aliases are expanded by copying; this bounds the tree a small document can blow up into
 * ("billion laughs"), and the depth bounds the recursion of every tree walk. */
#define MAX_NODES 1000000
#define MAX_DEPTH 256

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
	return v ? kfs_node_new_scalar(KFS_BOOL, "true", 4) : kfs_node_new_scalar(KFS_BOOL, "false", 5);
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

/* ---------- parser ---------- */

struct anchor {
	char *name;
	struct kfs_node *node; /* borrowed: owned by the tree being built */
};

struct parser {
	yaml_parser_t yp;
	const char *name;
	const char *buf; /* the input, to place the reader's errors, which carry an offset only */
	size_t len;
	struct anchor *anchors;
	size_t nanchors, capanchors;
	size_t nodes;
	struct kfs_error *err;
};

static size_t count_nodes(const struct kfs_node *n)
{
	size_t c = 1;
	if (n->type == KFS_MAP)
		for (size_t i = 0; i < n->len; i++)
			c += count_nodes(n->pairs[i].value);
	else if (n->type == KFS_SEQ)
		for (size_t i = 0; i < n->len; i++)
			c += count_nodes(n->items[i]);
	return c;
}

/* libyaml's reader (bad bytes: NUL and other controls, invalid UTF-8) gives a byte offset and
 * no mark: the line and column are counted here, or every such error would be at line 1. */
static int reader_error(struct parser *p)
{
	const yaml_parser_t *yp = &p->yp;
	size_t off = yp->problem_offset < p->len ? yp->problem_offset : p->len;
	size_t line = 1, col = 1;
	for (size_t i = 0; i < off; i++) {
		unsigned char c = (unsigned char)p->buf[i];
		if (c == '\n')
			line++, col = 1;
		else if ((c & 0xc0) != 0x80)
			col++;
	}
	if (yp->problem_value == 0 && off < p->len && p->buf[off] == '\0')
		return kfs_error_set(p->err, -EINVAL,
				     "%s:%zu:%zu: not valid YAML: a NUL byte (0x00) is not allowed",
				     p->name, line, col);
	/* The value is the character, or -1 for a malformed UTF-8 sequence: then its first byte. */
	unsigned value = yp->problem_value >= 0 || off >= p->len ? (unsigned)yp->problem_value
								 : (unsigned char)p->buf[off];
	return kfs_error_set(p->err, -EINVAL, "%s:%zu:%zu: not valid YAML: %s (0x%02X)", p->name,
			     line, col, yp->problem ? yp->problem : "invalid input", value);
}

static int parse_error(struct parser *p)
{
	const yaml_parser_t *yp = &p->yp;
	if (yp->error == YAML_READER_ERROR && p->buf)
		return reader_error(p);
	size_t line = (yp->problem_mark.line ? yp->problem_mark.line : yp->context_mark.line) + 1;
	if (yp->context)
		return kfs_error_set(p->err, -EINVAL, "%s:%zu: not valid YAML: %s %s", p->name, line,
				     yp->problem ? yp->problem : "syntax error", yp->context);
	return kfs_error_set(p->err, -EINVAL, "%s:%zu: not valid YAML: %s", p->name, line,
			     yp->problem ? yp->problem : "syntax error");
}

static int next_event(struct parser *p, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&p->yp, ev))
		return parse_error(p);
	return 0;
}

static void remember_anchor(struct parser *p, const yaml_char_t *anchor, struct kfs_node *n)
{
	if (!anchor)
		return;
	if (p->nanchors == p->capanchors) {
		p->capanchors = p->capanchors ? p->capanchors * 2 : 8;
		p->anchors = kfs_xrealloc(p->anchors, p->capanchors * sizeof(*p->anchors));
	}
	p->anchors[p->nanchors].name = kfs_xstrdup((const char *)anchor);
	p->anchors[p->nanchors].node = n;
	p->nanchors++;
}

static enum kfs_type scalar_type(const yaml_event_t *ev)
{
	const char *tag = (const char *)ev->data.scalar.tag;
	if (tag) {
		if (strcmp(tag, YAML_STR_TAG) == 0)
			return KFS_STR;
		if (strcmp(tag, YAML_INT_TAG) == 0)
			return KFS_INT;
		if (strcmp(tag, YAML_FLOAT_TAG) == 0)
			return KFS_FLOAT;
		if (strcmp(tag, YAML_BOOL_TAG) == 0)
			return KFS_BOOL;
		if (strcmp(tag, YAML_NULL_TAG) == 0)
			return KFS_NULL;
	}
	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return KFS_STR;
	return kfs_resolve_plain((const char *)ev->data.scalar.value, ev->data.scalar.length);
}

static int parse_node(struct parser *p, yaml_event_t *ev, int depth, struct kfs_node **out);

/* Parses the node whose first event is ev (consumed here). */
static int parse_node(struct parser *p, yaml_event_t *ev, int depth, struct kfs_node **out)
{
	int line = (int)ev->start_mark.line + 1;
	int rc = 0;
	*out = NULL;
	if (depth > MAX_DEPTH) {
		yaml_event_delete(ev);
		return kfs_error_set(p->err, -EINVAL, "%s:%d: nested deeper than %d levels", p->name,
				     line, MAX_DEPTH);
	}
	if (++p->nodes > MAX_NODES) {
		yaml_event_delete(ev);
		return kfs_error_set(p->err, -EINVAL, "%s:%d: more than %d nodes", p->name, line,
				     MAX_NODES);
	}
	switch (ev->type) {
	case YAML_ALIAS_EVENT: {
		const char *name = (const char *)ev->data.alias.anchor;
		for (size_t i = p->nanchors; i-- > 0;) {
			if (strcmp(p->anchors[i].name, name) == 0) {
				size_t count = count_nodes(p->anchors[i].node);
				if (p->nodes + count > MAX_NODES) {
					rc = kfs_error_set(p->err, -EINVAL,
							   "%s:%d: alias *%s expands to more than %d nodes",
							   p->name, line, name, MAX_NODES);
					break;
				}
				p->nodes += count;
				*out = kfs_node_copy(p->anchors[i].node);
				(*out)->line = line;
				break;
			}
		}
		if (!*out && rc == 0)
			rc = kfs_error_set(p->err, -EINVAL, "%s:%d: unknown alias *%s", p->name, line,
					   name);
		yaml_event_delete(ev);
		return rc;
	}
	case YAML_SCALAR_EVENT: {
		enum kfs_type t = scalar_type(ev);
		struct kfs_node *n;
		if (t == KFS_NULL)
			n = kfs_node_new(KFS_NULL);
		else
			n = kfs_node_new_scalar(t, (const char *)ev->data.scalar.value,
						ev->data.scalar.length);
		n->line = line;
		remember_anchor(p, ev->data.scalar.anchor, n);
		yaml_event_delete(ev);
		*out = n;
		return 0;
	}
	case YAML_SEQUENCE_START_EVENT: {
		struct kfs_node *seq = kfs_node_new(KFS_SEQ);
		seq->line = line;
		remember_anchor(p, ev->data.sequence_start.anchor, seq);
		yaml_event_delete(ev);
		for (;;) {
			yaml_event_t item;
			if ((rc = next_event(p, &item)) < 0)
				break;
			if (item.type == YAML_SEQUENCE_END_EVENT) {
				yaml_event_delete(&item);
				break;
			}
			struct kfs_node *child;
			if ((rc = parse_node(p, &item, depth + 1, &child)) < 0)
				break;
			kfs_seq_append(seq, child);
		}
		if (rc < 0) {
			kfs_node_free(seq);
			return rc;
		}
		*out = seq;
		return 0;
	}
	case YAML_MAPPING_START_EVENT: {
		struct kfs_node *map = kfs_node_new(KFS_MAP);
		map->line = line;
		remember_anchor(p, ev->data.mapping_start.anchor, map);
		yaml_event_delete(ev);
		for (;;) {
			yaml_event_t kev;
			if ((rc = next_event(p, &kev)) < 0)
				break;
			if (kev.type == YAML_MAPPING_END_EVENT) {
				yaml_event_delete(&kev);
				break;
			}
			int kline = (int)kev.start_mark.line + 1;
			if (kev.type != YAML_SCALAR_EVENT) {
				yaml_event_delete(&kev);
				rc = kfs_error_set(p->err, -EINVAL,
						   "%s:%d: a mapping key must be a plain string",
						   p->name, kline);
				break;
			}
			char *key = kfs_xstrndup((const char *)kev.data.scalar.value,
						 kev.data.scalar.length);
			bool merge = kev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
				     strcmp(key, "<<") == 0;
			yaml_event_delete(&kev);
			/* Kubernetes' decoder (go-yaml) merges "<<: *base" into the map; taken
			 * as a plain key here it would be pruned: the two would read different
			 * requests, so it is refused. */
			if (merge) {
				rc = kfs_error_set(p->err, -EINVAL,
						   "%s:%d: merge keys (<<) are not supported; write "
						   "the keys out",
						   p->name, kline);
				free(key);
				break;
			}
			if (kfs_map_get(map, key)) {
				rc = kfs_error_set(p->err, -EINVAL,
						   "%s:%d: duplicate key '%s' (remove one of them)",
						   p->name, kline, key);
				free(key);
				break;
			}
			yaml_event_t vev;
			struct kfs_node *value;
			if ((rc = next_event(p, &vev)) < 0 ||
			    (rc = parse_node(p, &vev, depth + 1, &value)) < 0) {
				free(key);
				break;
			}
			/* A map always grows at the end here; kfs_map_set would rescan the keys. */
			kfs_map_append(map, key, value);
		}
		if (rc < 0) {
			kfs_node_free(map);
			return rc;
		}
		*out = map;
		return 0;
	}
	default:
		yaml_event_delete(ev);
		return kfs_error_set(p->err, -EINVAL, "%s:%d: unexpected YAML event", p->name, line);
	}
}

static void parser_reset_anchors(struct parser *p)
{
	for (size_t i = 0; i < p->nanchors; i++)
		free(p->anchors[i].name);
	p->nanchors = 0;
}

int kfs_doc_parse_stream(const char *buf, size_t len, const char *name, struct kfs_node ***docs,
			 size_t *ndocs, struct kfs_error *err)
{
	if (kfs_yaml_fast_parse(buf, len, docs, ndocs))
		return 0;
	return kfs_doc_parse_stream_libyaml(buf, len, name, docs, ndocs, err);
}

int kfs_doc_parse_stream_libyaml(const char *buf, size_t len, const char *name,
				 struct kfs_node ***docs, size_t *ndocs, struct kfs_error *err)
{
	struct parser p = {.name = name, .buf = buf, .len = len, .err = err};
	struct kfs_node **out = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	yaml_parser_initialize(&p.yp);
	yaml_parser_set_input_string(&p.yp, (const unsigned char *)buf, len);
	for (;;) {
		yaml_event_t ev;
		if ((rc = next_event(&p, &ev)) < 0)
			break;
		yaml_event_type_t type = ev.type;
		yaml_event_delete(&ev);
		if (type == YAML_STREAM_END_EVENT)
			break;
		if (type != YAML_DOCUMENT_START_EVENT)
			continue;
		yaml_event_t first;
		struct kfs_node *root;
		if ((rc = next_event(&p, &first)) < 0 ||
		    (rc = parse_node(&p, &first, 0, &root)) < 0)
			break;
		yaml_event_t end;
		if ((rc = next_event(&p, &end)) < 0) {
			kfs_node_free(root);
			break;
		}
		yaml_event_delete(&end);
		parser_reset_anchors(&p);
		if (root->type == KFS_NULL) {
			kfs_node_free(root);
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 2;
			out = kfs_xrealloc(out, cap * sizeof(*out));
		}
		out[n++] = root;
	}
	parser_reset_anchors(&p);
	free(p.anchors);
	yaml_parser_delete(&p.yp);
	if (rc < 0) {
		kfs_doc_free_stream(out, n);
		*docs = NULL;
		*ndocs = 0;
		return rc;
	}
	*docs = out;
	*ndocs = n;
	return 0;
}

void kfs_doc_free_stream(struct kfs_node **docs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		kfs_node_free(docs[i]);
	free(docs);
}

int kfs_doc_parse(const char *buf, size_t len, const char *name, struct kfs_node **out,
		  struct kfs_error *err)
{
	struct kfs_node **docs;
	size_t n;
	*out = NULL;
	int rc = kfs_doc_parse_stream(buf, len, name, &docs, &n, err);
	if (rc < 0)
		return rc;
	if (n != 1) {
		rc = kfs_error_set(err, -EINVAL,
				   n == 0 ? "%s: holds no YAML document"
					  : "%s: holds %zu YAML documents; put exactly one",
				   name, n);
		kfs_doc_free_stream(docs, n);
		return rc;
	}
	*out = docs[0];
	free(docs);
	return 0;
}

int kfs_doc_check(const char *buf, size_t len, const char *name, struct kfs_error *err)
{
	if (kfs_yaml_fast_check(buf, len))
		return 0;
	return kfs_doc_check_libyaml(buf, len, name, err);
}

int kfs_doc_check_libyaml(const char *buf, size_t len, const char *name, struct kfs_error *err)
{
	struct parser p = {.name = name, .buf = buf, .len = len, .err = err};
	int rc = 0;
	yaml_parser_initialize(&p.yp);
	yaml_parser_set_input_string(&p.yp, (const unsigned char *)buf, len);
	for (;;) {
		yaml_event_t ev;
		if ((rc = next_event(&p, &ev)) < 0)
			break;
		yaml_event_type_t type = ev.type;
		yaml_event_delete(&ev);
		if (type == YAML_STREAM_END_EVENT)
			break;
	}
	yaml_parser_delete(&p.yp);
	return rc;
}

int kfs_doc_parse_file(const char *path, struct kfs_node **out, struct kfs_error *err)
{
	*out = NULL;
	struct kfs_buf b = {0};
	int rc = kfs_read_file(path, &b, err);
	if (rc == 0)
		rc = kfs_doc_parse(b.data, b.len, path, out, err);
	kfs_buf_free(&b);
	return rc;
}

/* ---------- characters YAML does not take as text ---------- */

/* Decodes the UTF-8 sequence at s[0..len): its code point, or -1 (with *n = 1) for a byte that
 * does not start a well-formed sequence (overlong forms and surrogates included). */
static long utf8_decode(const unsigned char *s, size_t len, size_t *n)
{
	unsigned c = s[0];
	size_t k;
	long cp, min;
	*n = 1;
	if (c < 0x80)
		return c;
	if (c >= 0xc2 && c <= 0xdf)
		k = 1, cp = c & 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		k = 2, cp = c & 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		k = 3, cp = c & 0x07, min = 0x10000;
	else
		return -1;
	if (k >= len)
		return -1;
	for (size_t j = 1; j <= k; j++) {
		if ((s[j] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[j] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*n = k + 1;
	return cp;
}

size_t kfs_yaml_unsafe(const char *text, size_t len, bool newline_ok, size_t *clen, long *cp)
{
	const unsigned char *s = (const unsigned char *)text;
	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		if ((c >= 0x20 && c < 0x7f) || (c == '\n' && newline_ok)) {
			i++;
			continue;
		}
		size_t n;
		long v = utf8_decode(s + i, len - i, &n);
		/* Line breaks of YAML 1.1 and of libyaml, go-yaml, PyYAML and SnakeYAML (\n, \r,
		 * NEL, LS, PS), every other control (C0, DEL, C1), the BOM that parsers skip, and
		 * the noncharacters their readers refuse. */
		if (v < 0 || v < 0x20 || (v >= 0x7f && v <= 0x9f) || v == 0x2028 || v == 0x2029 ||
		    v == 0xfeff || v == 0xfffe || v == 0xffff) {
			*clen = n;
			*cp = v < 0 ? -(long)c : v;
			return i;
		}
		i += n;
	}
	*clen = 0;
	*cp = 0;
	return len;
}

const char *kfs_yaml_char_name(long cp, char *buf, size_t size)
{
	if (cp < 0)
		snprintf(buf, size, "byte 0x%02lx, which is not UTF-8", -cp);
	else if (cp == '\n')
		snprintf(buf, size, "a newline");
	else if (cp == 0x85)
		snprintf(buf, size, "U+0085 NEXT LINE (NEL), which YAML reads as a line break");
	else if (cp == 0x2028)
		snprintf(buf, size, "U+2028 LINE SEPARATOR, which YAML reads as a line break");
	else if (cp == 0x2029)
		snprintf(buf, size, "U+2029 PARAGRAPH SEPARATOR, which YAML reads as a line break");
	else if (cp == 0xfeff)
		snprintf(buf, size, "U+FEFF BYTE ORDER MARK, which YAML parsers drop");
	else if (cp == 0xfffe || cp == 0xffff)
		snprintf(buf, size, "the noncharacter U+%04lX, which YAML refuses", cp);
	else if (cp < 0x80)
		snprintf(buf, size, "a control character 0x%02lx", cp);
	else
		snprintf(buf, size, "a control character U+%04lX", cp);
	return buf;
}

/* ---------- emitter ---------- */

static bool needs_quotes(const char *s, size_t len)
{
	if (len == 0)
		return true;
	if (kfs_resolve_plain(s, len) != KFS_STR)
		return true;
	/* Characters that start YAML syntax when they lead a plain scalar. */
	if (strchr("-?:,[]{}#&*!|>'\"%@`", s[0]))
		return true;
	if (s[0] == ' ' || s[len - 1] == ' ' || s[len - 1] == ':')
		return true;
	size_t clen;
	long cp;
	if (kfs_yaml_unsafe(s, len, false, &clen, &cp) < len)
		return true;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return true;
		if (c == ':' && i + 1 < len && s[i + 1] == ' ')
			return true;
		if (c == '#' && i > 0 && s[i - 1] == ' ')
			return true;
		if (c == '\t')
			return true;
	}
	/* Forms that YAML 1.1 readers resolve as sexagesimal or timestamps stay quoted too. */
	if (len >= 3 && s[0] >= '0' && s[0] <= '9') {
		for (size_t i = 0; i < len; i++)
			if (s[i] == ':' || s[i] == '-')
				return true;
	}
	return false;
}

void kfs_yaml_quote(const char *text, size_t len, struct kfs_buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	kfs_buf_addc(out, '"');
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		const char *esc = NULL;
		char tmp[5], utmp[8];
		size_t skip = 1;
		switch (c) {
		case '"':
			esc = "\\\"";
			break;
		case '\\':
			esc = "\\\\";
			break;
		case '\n':
			esc = "\\n";
			break;
		case '\t':
			esc = "\\t";
			break;
		case '\r':
			esc = "\\r";
			break;
		case '\0':
			esc = "\\0";
			break;
		default:
			if (c < 0x20 || c == 0x7f) {
				tmp[0] = '\\';
				tmp[1] = 'x';
				tmp[2] = hex[c >> 4];
				tmp[3] = hex[c & 15];
				tmp[4] = '\0';
				esc = tmp;
			} else if (c >= 0x80) {
				/* NEL, LS and PS would be line breaks even inside the quotes
				 * (folded, or a "---" after them ends the document): escaped. */
				size_t n;
				long cp = utf8_decode((const unsigned char *)text + i, len - i, &n);
				if ((cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
				    cp == 0xfeff || cp == 0xfffe || cp == 0xffff) {
					snprintf(utmp, sizeof(utmp), "\\u%04lX", cp);
					esc = utmp;
					skip = n;
				}
			}
		}
		if (esc) {
			kfs_buf_add(out, text + start, i - start);
			kfs_buf_adds(out, esc);
			start = i + skip;
			i += skip - 1;
		}
	}
	kfs_buf_add(out, text + start, len - start);
	kfs_buf_addc(out, '"');
}

static void emit_scalar_text(const char *text, size_t len, struct kfs_buf *out)
{
	if (needs_quotes(text, len))
		kfs_yaml_quote(text, len, out);
	else
		kfs_buf_add(out, text, len);
}

/* A multi-line string is shown as a literal block when that reads back to the same bytes. */
static bool literal_block_ok(const char *s, size_t len)
{
	if (len < 2 || !memchr(s, '\n', len) || s[0] == ' ' || s[0] == '\n')
		return false;
	if (len >= 2 && s[len - 1] == '\n' && s[len - 2] == '\n')
		return false;
	size_t clen;
	long cp;
	if (kfs_yaml_unsafe(s, len, true, &clen, &cp) < len)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\n' && i > 0 && s[i - 1] == ' ')
			return false;
	}
	return s[len - 1] != ' ';
}

static void emit_literal(const char *s, size_t len, size_t indent, struct kfs_buf *out)
{
	kfs_buf_adds(out, s[len - 1] == '\n' ? "|" : "|-");
	size_t i = 0;
	while (i < len) {
		const char *nl = memchr(s + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - s) : len;
		kfs_buf_addc(out, '\n');
		if (end > i)
			kfs_buf_fill(out, ' ', indent);
		kfs_buf_add(out, s + i, end - i);
		i = end + 1;
	}
}

static void emit_node(const struct kfs_node *n, size_t indent, struct kfs_buf *out);

static bool is_collection(const struct kfs_node *n)
{
	return (n->type == KFS_MAP || n->type == KFS_SEQ) && n->len > 0;
}

static void emit_inline_scalar(const struct kfs_node *n, size_t indent, struct kfs_buf *out)
{
	switch (n->type) {
	case KFS_MAP:
		kfs_buf_adds(out, "{}");
		break;
	case KFS_SEQ:
		kfs_buf_adds(out, "[]");
		break;
	case KFS_STR:
		if (literal_block_ok(n->text, n->len))
			emit_literal(n->text, n->len, indent, out);
		else
			emit_scalar_text(n->text, n->len, out);
		break;
	default:
		kfs_buf_add(out, n->text, n->len);
	}
}

/* Emits the body of a collection whose first line starts at the current position (already
 * indented), with following lines indented by indent. */
static void emit_node(const struct kfs_node *n, size_t indent, struct kfs_buf *out)
{
	if (n->type == KFS_MAP && n->len > 0) {
		for (size_t i = 0; i < n->len; i++) {
			if (i > 0) {
				kfs_buf_addc(out, '\n');
				kfs_buf_fill(out, ' ', indent);
			}
			emit_scalar_text(n->pairs[i].key, strlen(n->pairs[i].key), out);
			kfs_buf_addc(out, ':');
			const struct kfs_node *v = n->pairs[i].value;
			if (is_collection(v)) {
				kfs_buf_addc(out, '\n');
				kfs_buf_fill(out, ' ', indent + 2);
				emit_node(v, indent + 2, out);
			} else {
				kfs_buf_addc(out, ' ');
				emit_inline_scalar(v, indent + 2, out);
			}
		}
	} else if (n->type == KFS_SEQ && n->len > 0) {
		for (size_t i = 0; i < n->len; i++) {
			if (i > 0) {
				kfs_buf_addc(out, '\n');
				kfs_buf_fill(out, ' ', indent);
			}
			kfs_buf_adds(out, "- ");
			const struct kfs_node *v = n->items[i];
			if (is_collection(v))
				emit_node(v, indent + 2, out);
			else
				emit_inline_scalar(v, indent + 2, out);
		}
	} else {
		emit_inline_scalar(n, indent, out);
	}
}

void kfs_doc_emit(const struct kfs_node *n, struct kfs_buf *out)
{
	emit_node(n, 0, out);
	kfs_buf_addc(out, '\n');
}

void kfs_doc_emit_at(const struct kfs_node *n, size_t col, struct kfs_buf *out)
{
	emit_node(n, col, out);
}
