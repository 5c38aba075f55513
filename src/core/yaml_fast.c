/* A one-pass parser for the YAML that manifests are written in: block maps and sequences,
 * single-line plain and quoted scalars, literal and folded block scalars, comments, document
 * markers and single-line flow collections. It mirrors libyaml 0.2.5's scanner rules for that
 * subset, line numbers included, and declines (returns 0) on anything else, so libyaml stays the
 * reference and the error source. tests/unit/test_yaml_fast.c checks it against libyaml, mutations
 * included. */
#include "yaml_fast.h"
#include "yaml_fast_scan.h"

#include "kratixfs/buf.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---------- nodes ---------- */

static bool count_node(struct fp *p)
{
	return ++p->nodes <= FAST_MAX_NODES;
}

static struct kfs_node *scalar_node(const struct fp *p, const struct tok *t)
{
	struct kfs_node *n;
	if (t->kind == 'p') {
		enum kfs_type type = kfs_resolve_plain(p->b + t->s, t->e - t->s);
		n = type == KFS_NULL ? kfs_node_new(KFS_NULL)
				     : kfs_node_new_scalar(type, p->b + t->s, t->e - t->s);
	} else {
		n = kfs_xcalloc(1, sizeof(*n));
		n->type = KFS_STR;
		n->text = kfs_fast_tok_text(p, t, &n->len);
	}
	n->line = t->line;
	return n;
}

static bool has_key(const struct kfs_node *map, const char *key)
{
	for (size_t i = 0; i < map->len; i++)
		if (strcmp(map->pairs[i].key, key) == 0)
			return true;
	return false;
}

/* The key's text, or NULL when it repeats one (yaml_libyaml.c reports duplicates: leave it to
 * libyaml). In check mode a non-NULL dummy. */
static char *new_key(const struct fp *p, const struct tok *k, const struct kfs_node *map)
{
	static char dummy[] = "";
	if (!p->build)
		return dummy;
	size_t len;
	char *key = kfs_fast_tok_text(p, k, &len);
	/* A plain "<<" is a merge key, which yaml_libyaml.c refuses: leave it to libyaml too. */
	if (has_key(map, key) || (k->kind == 'p' && strcmp(key, "<<") == 0)) {
		free(key);
		return NULL;
	}
	return key;
}

static bool new_null(struct fp *p, int line, struct kfs_node **out)
{
	if (!count_node(p))
		return false;
	if (p->build) {
		*out = kfs_node_new(KFS_NULL);
		(*out)->line = line;
	}
	return true;
}

/* ---------- flow collections (on one line) ---------- */

static bool parse_flow(struct fp *p, int depth, struct kfs_node **out);

static bool flow_node(struct fp *p, int depth, struct kfs_node **out)
{
	if (p->pos >= p->n)
		return false;
	char c = p->b[p->pos];
	if (c == '[' || c == '{')
		return parse_flow(p, depth, out);
	struct tok t;
	if (!kfs_fast_scan_scalar(p, true, &t) || !count_node(p))
		return false;
	if (p->build)
		*out = scalar_node(p, &t);
	return true;
}

static bool parse_flow(struct fp *p, int depth, struct kfs_node **out)
{
	if (++depth > FAST_MAX_DEPTH || !count_node(p))
		return false;
	char open = p->b[p->pos], close = open == '[' ? ']' : '}';
	struct kfs_node *node = NULL;
	if (p->build) {
		node = kfs_node_new(open == '[' ? KFS_SEQ : KFS_MAP);
		node->line = p->line;
	}
	p->pos++;
	skip_spaces(p);
	if (at(p, close)) {
		p->pos++;
		*out = node;
		return true;
	}
	for (;;) {
		struct kfs_node *v = NULL;
		if (open == '{') {
			struct tok k;
			size_t ks = p->pos;
			if (!kfs_fast_scan_scalar(p, true, &k))
				goto fail;
			skip_spaces(p);
			if (!at(p, ':') || p->pos + 1 >= p->n || p->b[p->pos + 1] != ' ' ||
			    p->pos - ks > FAST_MAX_KEY)
				goto fail;
			p->pos++;
			skip_spaces(p);
			char *key = new_key(p, &k, node);
			if (!key)
				goto fail;
			if (!flow_node(p, depth, &v)) {
				if (p->build)
					free(key);
				goto fail;
			}
			if (p->build)
				kfs_map_append(node, key, v);
		} else {
			if (!flow_node(p, depth, &v))
				goto fail;
			if (p->build)
				kfs_seq_append(node, v);
		}
		skip_spaces(p);
		if (at(p, ',')) {
			p->pos++;
			skip_spaces(p);
			/* A trailing comma is valid YAML but rare: leave it to libyaml. */
			if (at(p, close))
				goto fail;
			continue;
		}
		if (at(p, close)) {
			p->pos++;
			*out = node;
			return true;
		}
		goto fail;
	}
fail:
	kfs_node_free(node);
	return false;
}

/* ---------- block scalars ---------- */

static inline void put(char *out, size_t *o, char c)
{
	if (out)
		out[*o] = c;
	(*o)++;
}

/* libyaml's yaml_parser_scan_block_scalar_breaks: eats indentation (all of it while the indent
 * is unknown) and empty lines, counting them; then fixes the indent from the deepest of them. */
static void block_breaks(struct fp *p, long *indent, long parent, size_t *breaks)
{
	long max = 0;
	for (;;) {
		size_t i = p->pos;
		while ((!*indent || (long)(i - p->ls) < *indent) && i < p->n && p->b[i] == ' ')
			i++;
		p->pos = i;
		if ((long)(i - p->ls) > max)
			max = (long)(i - p->ls);
		if (i >= p->n || p->b[i] != '\n')
			break;
		p->pos = p->ls = i + 1;
		p->line++;
		(*breaks)++;
	}
	if (!*indent) {
		*indent = max > parent + 1 ? max : parent + 1;
		if (*indent < 1)
			*indent = 1;
	}
}

/* The body of a block scalar whose header line ended at pos, as libyaml's
 * yaml_parser_scan_block_scalar builds it (line breaks are only '\n' here). Writes it to out
 * unless NULL and returns its length; leaves pos at the start of the line that ended it. */
static size_t block_body(struct fp *p, bool literal, int chomp, long indent, long parent, char *out)
{
	size_t o = 0, breaks = 0;
	bool leading_break = false, leading_blank = false;
	block_breaks(p, &indent, parent, &breaks);
	while ((long)(p->pos - p->ls) == indent && p->pos < p->n) {
		bool trailing_blank = p->b[p->pos] == ' ';
		/* Folding joins two lines with a space, or drops the break before empty lines. */
		if (!literal && leading_break && !leading_blank && !trailing_blank) {
			if (!breaks)
				put(out, &o, ' ');
		} else if (leading_break) {
			put(out, &o, '\n');
		}
		for (; breaks; breaks--)
			put(out, &o, '\n');
		leading_blank = trailing_blank;
		const char *nl = memchr(p->b + p->pos, '\n', p->n - p->pos);
		size_t e = nl ? (size_t)(nl - p->b) : p->n;
		if (out)
			memcpy(out + o, p->b + p->pos, e - p->pos);
		o += e - p->pos;
		p->pos = e;
		leading_break = e < p->n;
		if (leading_break) {
			p->pos = p->ls = e + 1;
			p->line++;
		}
		block_breaks(p, &indent, parent, &breaks);
	}
	if (chomp != -1 && leading_break)
		put(out, &o, '\n');
	if (chomp == 1)
		for (; breaks; breaks--)
			put(out, &o, '\n');
	if (p->pos < p->n)
		p->pos = p->ls;
	return o;
}

static inline bool is_digit(const struct fp *p)
{
	return p->pos < p->n && p->b[p->pos] >= '0' && p->b[p->pos] <= '9';
}

/* A "|" or ">" scalar at pos; parent is the column of the enclosing block collection (libyaml's
 * parser->indent), which the content must be indented past. Leaves the next line looked at. */
static bool parse_block_scalar(struct fp *p, long parent, struct kfs_node **out)
{
	int line = p->line, chomp = 0;
	long inc = 0;
	bool literal = p->b[p->pos] == '|';
	p->pos++;
	/* A chomping indicator and an indentation indicator (1-9), in either order. */
	for (int k = 0; k < 2; k++) {
		if (!chomp && (at(p, '+') || at(p, '-'))) {
			chomp = at(p, '+') ? 1 : -1;
			p->pos++;
		} else if (!inc && is_digit(p)) {
			inc = p->b[p->pos] - '0';
			if (!inc)
				return false; /* libyaml's error */
			p->pos++;
		}
	}
	if (!kfs_fast_end_line(p) || !count_node(p))
		return false;
	long indent = inc ? parent + inc : 0;
	if (!p->build) {
		block_body(p, literal, chomp, indent, parent, NULL);
	} else {
		size_t pos = p->pos, ls = p->ls;
		int bline = p->line;
		size_t len = block_body(p, literal, chomp, indent, parent, NULL);
		p->pos = pos, p->ls = ls, p->line = bline;
		struct kfs_node *n = kfs_xcalloc(1, sizeof(*n));
		n->type = KFS_STR;
		n->text = kfs_xmalloc(len + 1);
		block_body(p, literal, chomp, indent, parent, n->text);
		n->text[len] = '\0';
		n->len = len;
		n->line = line;
		*out = n;
	}
	kfs_fast_next_line(p);
	return true;
}

/* ---------- block collections ---------- */

static bool parse_inline(struct fp *p, bool nested_ok, bool scalar_ok, long parent, int depth,
			 struct kfs_node **out);
static bool parse_seq(struct fp *p, bool indentless, int depth, struct kfs_node **out);

/* The value of a "key:" or "-" that ended its line: on the lines below, or null (which libyaml
 * marks at the end of the ':' or '-', so on that line). */
static bool parse_below(struct fp *p, long indent, bool in_map, int line, int depth,
			struct kfs_node **out)
{
	kfs_fast_next_line(p);
	if (p->col > indent)
		return parse_inline(p, true, true, indent, depth, out);
	if (in_map && p->col == indent && is_dash(p))
		return parse_seq(p, true, depth, out);
	return new_null(p, line, out);
}

/* A block map whose first key is at pos, column p->col. */
static bool parse_map(struct fp *p, int depth, struct kfs_node **out)
{
	long col = p->col;
	struct kfs_node *map = NULL;
	if (++depth > FAST_MAX_DEPTH || !count_node(p))
		return false;
	if (p->build) {
		map = kfs_node_new(KFS_MAP);
		map->line = p->line;
	}
	for (;;) {
		struct tok k;
		size_t ks = p->pos;
		if (!kfs_fast_scan_scalar(p, false, &k))
			goto fail;
		skip_spaces(p);
		if (!at(p, ':') || !blankz(p, p->pos + 1) || p->pos - ks > FAST_MAX_KEY)
			goto fail;
		p->pos++;
		char *key = new_key(p, &k, map);
		if (!key)
			goto fail;
		struct kfs_node *v = NULL;
		bool ok;
		int colon_line = p->line;
		skip_spaces(p);
		if (rest_is_empty(p))
			ok = kfs_fast_end_line(p) &&
			     parse_below(p, col, true, colon_line, depth, &v);
		else
			ok = parse_inline(p, false, true, col, depth, &v);
		if (!ok) {
			if (p->build)
				free(key);
			goto fail;
		}
		if (p->build)
			kfs_map_append(map, key, v);
		if (p->col == col)
			continue;
		if (p->col > col)
			goto fail;
		*out = map;
		return true;
	}
fail:
	kfs_node_free(map);
	return false;
}

/* A block sequence whose first "-" is at pos, column p->col; an indentless one (a map value at
 * the map's column) ends at the map's next key. */
static bool parse_seq(struct fp *p, bool indentless, int depth, struct kfs_node **out)
{
	long col = p->col;
	struct kfs_node *seq = NULL;
	if (++depth > FAST_MAX_DEPTH || !count_node(p))
		return false;
	if (p->build) {
		seq = kfs_node_new(KFS_SEQ);
		seq->line = p->line;
	}
	for (;;) {
		int dash_line = p->line;
		struct kfs_node *item = NULL;
		bool ok;
		p->pos++;
		skip_spaces(p);
		if (rest_is_empty(p))
			ok = kfs_fast_end_line(p) &&
			     parse_below(p, col, false, dash_line, depth, &item);
		else
			ok = parse_inline(p, true, true, col, depth, &item);
		if (!ok)
			goto fail;
		if (p->build)
			kfs_seq_append(seq, item);
		if (p->col == col && is_dash(p))
			continue;
		if (p->col > col || (p->col == col && !indentless))
			goto fail;
		*out = seq;
		return true;
	}
fail:
	kfs_node_free(seq);
	return false;
}

/* A node starting at pos on the current line: a scalar or flow collection that ends the line,
 * a block scalar (in a collection whose column is parent), or (nested_ok) a block sequence or
 * map starting here. Leaves the next line looked at. */
static bool parse_inline(struct fp *p, bool nested_ok, bool scalar_ok, long parent, int depth,
			 struct kfs_node **out)
{
	const char *b = p->b;
	char c = b[p->pos];
	struct kfs_node *node = NULL;
	if (c == '-' && blankz(p, p->pos + 1)) {
		if (!nested_ok)
			return false;
		p->col = (long)(p->pos - p->ls);
		return parse_seq(p, false, depth, out);
	}
	if (c == '|' || c == '>')
		return scalar_ok && parse_block_scalar(p, parent, out);
	if (c == '[' || c == '{') {
		if (!parse_flow(p, depth, &node))
			return false;
	} else {
		size_t start = p->pos;
		struct tok t;
		if (!kfs_fast_scan_scalar(p, false, &t))
			return false;
		skip_spaces(p);
		if (at(p, ':')) {
			if (!nested_ok || !blankz(p, p->pos + 1))
				return false;
			p->pos = start;
			p->col = (long)(start - p->ls);
			return parse_map(p, depth, out);
		}
		if (!scalar_ok || !count_node(p))
			return false;
		if (p->build)
			node = scalar_node(p, &t);
	}
	if (!kfs_fast_end_line(p)) {
		kfs_node_free(node);
		return false;
	}
	kfs_fast_next_line(p);
	*out = node;
	return true;
}

/* ---------- stream ---------- */

static bool parse_stream(struct fp *p, struct kfs_node ***docs, size_t *ndocs)
{
	/* Only the first document may start without "---" (libyaml's implicit document). */
	bool implicit_ok = true;
	size_t cap = 0;
	kfs_fast_next_line(p);
	for (;;) {
		if (p->col == COL_EOF)
			return true;
		if (p->col == COL_END) {
			if (implicit_ok)
				return false;
			p->pos += 3;
			if (!kfs_fast_end_line(p))
				return false;
			kfs_fast_next_line(p);
			continue;
		}
		if (p->col == COL_START) {
			implicit_ok = false;
			p->pos += 3;
			if (!kfs_fast_end_line(p))
				return false;
			kfs_fast_next_line(p);
			if (p->col < 0)
				continue; /* an empty document: null, skipped */
		} else if (!implicit_ok) {
			return false;
		}
		implicit_ok = false;
		struct kfs_node *root = NULL;
		if (!parse_inline(p, true, false, -1, 0, &root))
			return false;
		if (!p->build)
			continue;
		if (*ndocs == cap) {
			cap = cap ? cap * 2 : 2;
			*docs = kfs_xrealloc(*docs, cap * sizeof(**docs));
		}
		(*docs)[(*ndocs)++] = root;
	}
}

static bool run(struct fp *p, const char *buf, size_t len, struct kfs_node ***docs, size_t *n)
{
	p->b = buf;
	p->n = len;
	p->line = 1;
	return kfs_fast_validate(p) && parse_stream(p, docs, n);
}

int kfs_yaml_fast_parse(const char *buf, size_t len, struct kfs_node ***docs, size_t *n)
{
	struct fp p = {.build = true};
	struct kfs_node **out = NULL;
	size_t count = 0;
	if (!run(&p, buf, len, &out, &count)) {
		kfs_doc_free_stream(out, count);
		return 0;
	}
	*docs = out;
	*n = count;
	return 1;
}

int kfs_yaml_fast_check(const char *buf, size_t len)
{
	struct fp p = {.build = false};
	size_t count = 0;
	return run(&p, buf, len, NULL, &count) ? 1 : 0;
}
