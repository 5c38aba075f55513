/* The reference YAML parser: libyaml's events turned into a tree, with its error messages
 * (file:line: ...), aliases expanded within bounds, duplicate and merge keys refused. */
#include "yaml_libyaml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Aliases are expanded by copying; this bounds the tree a small document can blow up into
 * ("billion laughs"), and the depth bounds the recursion of every tree walk. */
#define MAX_NODES 1000000
#define MAX_DEPTH 256

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
		return kfs_error_set(p->err, -EINVAL, "%s:%zu: not valid YAML: %s %s", p->name,
				     line, yp->problem ? yp->problem : "syntax error", yp->context);
	return kfs_error_set(p->err, -EINVAL, "%s:%zu: not valid YAML: %s", p->name, line,
			     yp->problem ? yp->problem : "syntax error");
}

static int next_event(struct parser *p, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&p->yp, ev))
		return parse_error(p);
	return 0;
}

/* Reads the next event and drops it, keeping its type (for events that carry nothing else of
 * use). */
static int skip_event(struct parser *p, yaml_event_type_t *type)
{
	yaml_event_t ev;
	int rc = next_event(p, &ev);
	if (rc == 0) {
		*type = ev.type;
		yaml_event_delete(&ev);
	}
	return rc;
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

/* An alias: a copy of the node its anchor names, counted against MAX_NODES. */
static int parse_alias(struct parser *p, const yaml_event_t *ev, int line, struct kfs_node **out)
{
	const char *name = (const char *)ev->data.alias.anchor;
	for (size_t i = p->nanchors; i-- > 0;) {
		if (strcmp(p->anchors[i].name, name) != 0)
			continue;
		size_t count = count_nodes(p->anchors[i].node);
		if (p->nodes + count > MAX_NODES)
			return kfs_error_set(p->err, -EINVAL,
					     "%s:%d: alias *%s expands to more than %d nodes",
					     p->name, line, name, MAX_NODES);
		p->nodes += count;
		*out = kfs_node_copy(p->anchors[i].node);
		(*out)->line = line;
		return 0;
	}
	return kfs_error_set(p->err, -EINVAL, "%s:%d: unknown alias *%s", p->name, line, name);
}

static struct kfs_node *parse_scalar(struct parser *p, const yaml_event_t *ev, int line)
{
	enum kfs_type t = scalar_type(ev);
	struct kfs_node *n;
	if (t == KFS_NULL)
		n = kfs_node_new(KFS_NULL);
	else
		n = kfs_node_new_scalar(t, (const char *)ev->data.scalar.value,
					ev->data.scalar.length);
	n->line = line;
	remember_anchor(p, ev->data.scalar.anchor, n);
	return n;
}

/* A mapping key (the event kev, consumed here) as a new string, or an error naming its line:
 * keys must be scalars, unique, and not the merge key. */
static int parse_key(struct parser *p, yaml_event_t *kev, const struct kfs_node *map, char **key)
{
	int kline = (int)kev->start_mark.line + 1;
	if (kev->type != YAML_SCALAR_EVENT) {
		yaml_event_delete(kev);
		return kfs_error_set(p->err, -EINVAL, "%s:%d: a mapping key must be a plain string",
				     p->name, kline);
	}
	*key = kfs_xstrndup((const char *)kev->data.scalar.value, kev->data.scalar.length);
	bool merge = kev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strcmp(*key, "<<") == 0;
	yaml_event_delete(kev);
	int rc = 0;
	/* Kubernetes' decoder (go-yaml) merges "<<: *base" into the map; taken as a plain key here
	 * it would be pruned: the two would read different requests, so it is refused. */
	if (merge)
		rc = kfs_error_set(p->err, -EINVAL,
				   "%s:%d: merge keys (<<) are not supported; write the keys out",
				   p->name, kline);
	else if (kfs_map_get(map, *key))
		rc =
		    kfs_error_set(p->err, -EINVAL, "%s:%d: duplicate key '%s' (remove one of them)",
				  p->name, kline, *key);
	if (rc < 0) {
		free(*key);
		*key = NULL;
	}
	return rc;
}

/* The children of a collection up to its end event: items appended to a sequence, pairs to a
 * map. */
static int parse_children(struct parser *p, int depth, struct kfs_node *n)
{
	yaml_event_type_t end =
	    n->type == KFS_SEQ ? YAML_SEQUENCE_END_EVENT : YAML_MAPPING_END_EVENT;
	for (;;) {
		yaml_event_t ev;
		int rc;
		if ((rc = next_event(p, &ev)) < 0)
			return rc;
		if (ev.type == end) {
			yaml_event_delete(&ev);
			return 0;
		}
		char *key = NULL;
		struct kfs_node *child;
		if ((n->type == KFS_MAP &&
		     ((rc = parse_key(p, &ev, n, &key)) < 0 || (rc = next_event(p, &ev)) < 0)) ||
		    (rc = parse_node(p, &ev, depth + 1, &child)) < 0) {
			free(key);
			return rc;
		}
		/* A map always grows at the end here; kfs_map_set would rescan the keys. */
		if (key)
			kfs_map_append(n, key, child);
		else
			kfs_seq_append(n, child);
	}
}

/* A sequence or a mapping: its start event ev (consumed here), then its children. */
static int parse_collection(struct parser *p, yaml_event_t *ev, int line, int depth,
			    struct kfs_node **out)
{
	bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
	struct kfs_node *n = kfs_node_new(seq ? KFS_SEQ : KFS_MAP);
	n->line = line;
	remember_anchor(p, seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor, n);
	yaml_event_delete(ev);
	int rc = parse_children(p, depth, n);
	if (rc < 0) {
		kfs_node_free(n);
		return rc;
	}
	*out = n;
	return 0;
}

/* Parses the node whose first event is ev (consumed here). */
static int parse_node(struct parser *p, yaml_event_t *ev, int depth, struct kfs_node **out)
{
	int line = (int)ev->start_mark.line + 1;
	int rc = 0;
	*out = NULL;
	if (depth > MAX_DEPTH)
		rc = kfs_error_set(p->err, -EINVAL, "%s:%d: nested deeper than %d levels", p->name,
				   line, MAX_DEPTH);
	else if (++p->nodes > MAX_NODES)
		rc = kfs_error_set(p->err, -EINVAL, "%s:%d: more than %d nodes", p->name, line,
				   MAX_NODES);
	else if (ev->type == YAML_SEQUENCE_START_EVENT || ev->type == YAML_MAPPING_START_EVENT)
		return parse_collection(p, ev, line, depth, out);
	else if (ev->type == YAML_ALIAS_EVENT)
		rc = parse_alias(p, ev, line, out);
	else if (ev->type == YAML_SCALAR_EVENT)
		*out = parse_scalar(p, ev, line);
	else
		rc = kfs_error_set(p->err, -EINVAL, "%s:%d: unexpected YAML event", p->name, line);
	yaml_event_delete(ev);
	return rc;
}

static void parser_reset_anchors(struct parser *p)
{
	for (size_t i = 0; i < p->nanchors; i++)
		free(p->anchors[i].name);
	p->nanchors = 0;
}

int kfs_yaml_libyaml_parse(const char *buf, size_t len, const char *name, struct kfs_node ***docs,
			   size_t *ndocs, struct kfs_error *err)
{
	struct parser p = {.name = name, .buf = buf, .len = len, .err = err};
	struct kfs_node **out = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	yaml_parser_initialize(&p.yp);
	yaml_parser_set_input_string(&p.yp, (const unsigned char *)buf, len);
	yaml_event_type_t type;
	while ((rc = skip_event(&p, &type)) == 0 && type != YAML_STREAM_END_EVENT) {
		if (type != YAML_DOCUMENT_START_EVENT)
			continue;
		yaml_event_t first;
		struct kfs_node *root;
		if ((rc = next_event(&p, &first)) < 0 ||
		    (rc = parse_node(&p, &first, 0, &root)) < 0)
			break;
		if ((rc = skip_event(&p, &type)) < 0) { /* the document's end */
			kfs_node_free(root);
			break;
		}
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

int kfs_yaml_libyaml_check(const char *buf, size_t len, const char *name, struct kfs_error *err)
{
	struct parser p = {.name = name, .buf = buf, .len = len, .err = err};
	int rc = 0;
	yaml_parser_initialize(&p.yp);
	yaml_parser_set_input_string(&p.yp, (const unsigned char *)buf, len);
	yaml_event_type_t type;
	while ((rc = skip_event(&p, &type)) == 0 && type != YAML_STREAM_END_EVENT)
		;
	yaml_parser_delete(&p.yp);
	return rc;
}
