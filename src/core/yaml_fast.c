/* A one-pass parser for the YAML that manifests are written in: block maps and sequences,
 * single-line plain and quoted scalars, literal and folded block scalars, comments, document
 * markers and single-line flow collections. It mirrors libyaml 0.2.5's scanner rules for that
 * subset, line numbers included, and declines (returns 0) on anything else, so libyaml stays the
 * reference and the error source. tests/unit/test_yaml_fast.c checks it against libyaml, mutations
 * included. */
#include "yaml_fast.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Well below yaml_libyaml.c's limits (256 levels, 1000000 nodes) so that its errors stay libyaml's. */
#define FAST_MAX_DEPTH 100
#define FAST_MAX_NODES 900000
/* libyaml forgets a simple key 1024 characters after its start; stay clear of that edge. */
#define FAST_MAX_KEY 1000

/* What next_line found at pos, besides a column >= 0 of content. */
#define COL_EOF	  (-1)
#define COL_START (-2) /* a "---" line */
#define COL_END	  (-3) /* a "..." line */

struct fp {
	const char *b;
	size_t n;
	size_t pos; /* next byte to read */
	size_t ls;  /* offset of the first byte of pos's line */
	long col;   /* what the last next_line found: content column or COL_* */
	int line;   /* 1-based line of pos */
	size_t nodes;
	bool build; /* false: only check, allocate nothing */
};

/* A scanned scalar: its bytes between the quotes (or the plain text), before unescaping. */
struct tok {
	size_t s, e;
	char kind; /* 'p', '\'' or '"' */
	bool esc;  /* quoted text that needs unescaping */
	int line;
};

enum { C_BRK = 1, C_FLOW = 2 };

/* Bytes that end a chunk of a plain scalar: blanks and ':' (C_BRK), and flow indicators. */
static const unsigned char plain_stop[256] = {
    [' '] = C_BRK,  ['\n'] = C_BRK, [':'] = C_BRK,  [','] = C_FLOW,
    ['['] = C_FLOW, [']'] = C_FLOW, ['{'] = C_FLOW, ['}'] = C_FLOW,
};

/* ---------- bytes ---------- */

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
#define LOWS7 0x7f7f7f7f7f7f7f7fULL

/* 0x80 in each byte of x that is zero, exactly (no carries between bytes). */
static inline uint64_t zero_bytes(uint64_t x)
{
	return ~(((x & LOWS7) + LOWS7) | x | LOWS7);
}

/* libyaml's reader accepts printable Unicode only; the subset also leaves out tabs, CR, NEL,
 * LS, PS and BOMs (line-break and indentation rules this parser does not model). */
static bool validate(struct fp *p)
{
	const unsigned char *b = (const unsigned char *)p->b;
	size_t n = p->n, i = 0;
	if (n >= INT_MAX)
		return false; /* lines are ints */
	while (i < n) {
		if (i + 8 <= n) {
			uint64_t w;
			memcpy(&w, b + i, 8);
			/* Eight printable ASCII bytes or newlines at a time: newlines are turned
			 * into
			 * '*' before testing for bytes < 0x20, 0x7f or >= 0x80. */
			uint64_t v = w | (zero_bytes(w ^ (ONES * '\n')) >> 2);
			uint64_t low = (v - ONES * 0x20) & ~v & HIGHS;
			if (!((w & HIGHS) | low | zero_bytes(v ^ (ONES * 0x7f)))) {
				i += 8;
				continue;
			}
		}
		unsigned c = b[i];
		if (c >= 0x20 && c < 0x7f) {
			i++;
			continue;
		}
		if (c == '\n') {
			i++;
			continue;
		}
		uint32_t cp;
		size_t k;
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1, cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2, cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3, cp = c & 0x07;
		} else {
			return false;
		}
		if (i + k >= n)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((b[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (b[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		if (cp < 0xa0 || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0x2028 || cp == 0x2029 ||
		    cp == 0xfeff || cp == 0xfffe || cp == 0xffff)
			return false;
		i += k + 1;
	}
	return true;
}

static inline bool blankz(const struct fp *p, size_t i)
{
	return i >= p->n || p->b[i] == ' ' || p->b[i] == '\n';
}

static inline bool at(const struct fp *p, char c)
{
	return p->pos < p->n && p->b[p->pos] == c;
}

static inline void skip_spaces(struct fp *p)
{
	while (p->pos < p->n && p->b[p->pos] == ' ')
		p->pos++;
}

/* Moves from the start of a line past blank and comment lines; sets col (and pos to the content).
 */
static void next_line(struct fp *p)
{
	const char *b = p->b;
	size_t n = p->n, i = p->pos;
	for (;;) {
		size_t s = i;
		while (i < n && b[i] == ' ')
			i++;
		if (i < n && b[i] == '#') {
			const char *nl = memchr(b + i, '\n', n - i);
			i = nl ? (size_t)(nl - b) : n;
		}
		if (i >= n) {
			p->pos = n;
			p->col = COL_EOF;
			return;
		}
		if (b[i] == '\n') {
			i++;
			p->line++;
			p->ls = i;
			continue;
		}
		p->pos = i;
		if (i == s && i + 3 <= n && blankz(p, i + 3) &&
		    ((b[i] == '-' && b[i + 1] == '-' && b[i + 2] == '-') ||
		     (b[i] == '.' && b[i + 1] == '.' && b[i + 2] == '.')))
			p->col = b[i] == '-' ? COL_START : COL_END;
		else
			p->col = (long)(i - s);
		return;
	}
}

/* Ends the current line: only spaces and a comment may follow. */
static bool end_line(struct fp *p)
{
	skip_spaces(p);
	if (p->pos >= p->n)
		return true;
	if (p->b[p->pos] == '#') {
		const char *nl = memchr(p->b + p->pos, '\n', p->n - p->pos);
		if (!nl) {
			p->pos = p->n;
			return true;
		}
		p->pos = (size_t)(nl - p->b);
	}
	if (p->b[p->pos] != '\n')
		return false;
	p->pos++;
	p->line++;
	p->ls = p->pos;
	return true;
}

static inline bool rest_is_empty(const struct fp *p)
{
	return p->pos >= p->n || p->b[p->pos] == '\n' || p->b[p->pos] == '#';
}

static inline bool is_dash(const struct fp *p)
{
	return p->col >= 0 && p->b[p->pos] == '-' && blankz(p, p->pos + 1);
}

/* ---------- scalars ---------- */

/* libyaml's rule for the first character of a plain scalar. */
static bool plain_start(const struct fp *p, size_t i, bool flow)
{
	switch (p->b[i]) {
	case '-':
		return !blankz(p, i + 1);
	case '?':
	case ':':
		return !flow && !blankz(p, i + 1);
	case ',':
	case '[':
	case ']':
	case '{':
	case '}':
	case '#':
	case '&':
	case '*':
	case '!':
	case '|':
	case '>':
	case '\'':
	case '"':
	case '%':
	case '@':
	case '`':
	case ' ':
	case '\n':
		return false;
	default:
		return true;
	}
}

/* A plain scalar ends at ": ", " #", the end of the line and, in flow, at ,[]{}; inner spaces
 * are kept and trailing ones dropped. Leaves pos on what ended it. */
static bool scan_plain(struct fp *p, bool flow, struct tok *t)
{
	const char *b = p->b;
	size_t n = p->n, i = p->pos, end = i;
	unsigned stop = flow ? (C_BRK | C_FLOW) : C_BRK;
	t->s = i;
	t->kind = 'p';
	t->esc = false;
	for (;;) {
		size_t cs = i;
		while (i < n) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			/* Block scalars stop only at ' ', '\n' and ':': skip eight bytes at a time.
			 */
			if (!flow && i + 8 <= n) {
				uint64_t w;
				memcpy(&w, b + i, 8);
				uint64_t m = zero_bytes(w ^ (ONES * ' ')) |
					     zero_bytes(w ^ (ONES * '\n')) |
					     zero_bytes(w ^ (ONES * ':'));
				if (!m) {
					i += 8;
					continue;
				}
				i += (size_t)__builtin_ctzll(m) >> 3;
			}
#endif
			unsigned char c = (unsigned char)b[i];
			if (plain_stop[c] & stop) {
				if (c != ':')
					break;
				if (blankz(p, i + 1))
					break;
				/* libyaml rejects "x:" before a flow indicator in flow context. */
				if (flow && strchr(",?[]{}", b[i + 1]))
					return false;
			}
			i++;
		}
		if (i > cs)
			end = i;
		if (i >= n || b[i] != ' ')
			break;
		while (i < n && b[i] == ' ')
			i++;
		if (i >= n || b[i] == '\n' || b[i] == '#')
			break;
	}
	t->e = end;
	p->pos = i;
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The length of the escape at b[i] ('\\'), 0 when outside the subset or invalid; *cp gets the
 * code point of \x, \u and \U escapes. */
static size_t escape_len(const struct fp *p, size_t i, uint32_t *cp)
{
	size_t k;
	if (i + 1 >= p->n)
		return 0;
	switch (p->b[i + 1]) {
	case '0':
	case 'a':
	case 'b':
	case 't':
	case 'n':
	case 'v':
	case 'f':
	case 'r':
	case 'e':
	case ' ':
	case '"':
	case '/':
	case '\\':
	case 'N':
	case '_':
		return 2;
	case 'x':
		k = 2;
		break;
	case 'u':
		k = 4;
		break;
	case 'U':
		k = 8;
		break;
	default:
		/* \L and \P grow to three bytes; line breaks and the rest are not in the subset. */
		return 0;
	}
	if (i + 2 + k > p->n)
		return 0;
	uint32_t v = 0;
	for (size_t j = 0; j < k; j++) {
		int h = hexval(p->b[i + 2 + j]);
		if (h < 0)
			return 0;
		v = (v << 4) | (uint32_t)h;
	}
	if ((v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff)
		return 0;
	*cp = v;
	return 2 + k;
}

/* A quoted scalar that closes on its own line. */
static bool scan_quoted(struct fp *p, struct tok *t)
{
	const char *b = p->b;
	size_t n = p->n;
	char q = b[p->pos];
	size_t i = p->pos + 1;
	t->s = i;
	t->kind = q;
	t->esc = false;
	for (;;) {
		if (q == '\'') {
			while (i < n && b[i] != '\'' && b[i] != '\n')
				i++;
		} else {
			while (i < n && b[i] != '"' && b[i] != '\\' && b[i] != '\n')
				i++;
		}
		if (i >= n || b[i] == '\n')
			return false;
		if (b[i] == '\\') {
			uint32_t cp;
			size_t k = escape_len(p, i, &cp);
			if (!k)
				return false;
			t->esc = true;
			i += k;
			continue;
		}
		if (q == '\'' && i + 1 < n && b[i + 1] == '\'') {
			t->esc = true;
			i += 2;
			continue;
		}
		break;
	}
	t->e = i;
	p->pos = i + 1;
	return true;
}

static bool scan_scalar(struct fp *p, bool flow, struct tok *t)
{
	t->line = p->line;
	char c = p->b[p->pos];
	if (c == '"' || c == '\'')
		return scan_quoted(p, t);
	if (!plain_start(p, p->pos, flow))
		return false;
	return scan_plain(p, flow, t);
}

static size_t put_utf8(char *o, uint32_t v)
{
	if (v <= 0x7f) {
		o[0] = (char)v;
		return 1;
	}
	if (v <= 0x7ff) {
		o[0] = (char)(0xc0 + (v >> 6));
		o[1] = (char)(0x80 + (v & 0x3f));
		return 2;
	}
	if (v <= 0xffff) {
		o[0] = (char)(0xe0 + (v >> 12));
		o[1] = (char)(0x80 + ((v >> 6) & 0x3f));
		o[2] = (char)(0x80 + (v & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 + (v >> 18));
	o[1] = (char)(0x80 + ((v >> 12) & 0x3f));
	o[2] = (char)(0x80 + ((v >> 6) & 0x3f));
	o[3] = (char)(0x80 + (v & 0x3f));
	return 4;
}

/* The scalar's value, NUL-terminated, in a new allocation (escapes never make it longer). */
static char *tok_text(const struct fp *p, const struct tok *t, size_t *len)
{
	const char *b = p->b;
	if (!t->esc) {
		*len = t->e - t->s;
		return kfs_xstrndup(b + t->s, t->e - t->s);
	}
	char *out = kfs_xmalloc(t->e - t->s + 1);
	size_t o = 0, i = t->s;
	while (i < t->e) {
		char c = b[i];
		if (t->kind == '\'') {
			out[o++] = c;
			i += c == '\'' ? 2 : 1;
			continue;
		}
		if (c != '\\') {
			out[o++] = c;
			i++;
			continue;
		}
		uint32_t cp = 0;
		size_t k = escape_len(p, i, &cp);
		switch (b[i + 1]) {
		case '0':
			out[o++] = '\0';
			break;
		case 'a':
			out[o++] = '\a';
			break;
		case 'b':
			out[o++] = '\b';
			break;
		case 't':
			out[o++] = '\t';
			break;
		case 'n':
			out[o++] = '\n';
			break;
		case 'v':
			out[o++] = '\v';
			break;
		case 'f':
			out[o++] = '\f';
			break;
		case 'r':
			out[o++] = '\r';
			break;
		case 'e':
			out[o++] = '\x1b';
			break;
		case 'N':
			out[o++] = '\xc2', out[o++] = '\x85';
			break;
		case '_':
			out[o++] = '\xc2', out[o++] = '\xa0';
			break;
		case 'x':
		case 'u':
		case 'U':
			o += put_utf8(out + o, cp);
			break;
		default:
			out[o++] = b[i + 1];
			break; /* ' ', '"', '/', '\\' */
		}
		i += k;
	}
	out[o] = '\0';
	*len = o;
	return out;
}

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
		n->text = tok_text(p, t, &n->len);
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

/* The key's text, or NULL when it repeats one (doc.c reports duplicates; leave it to libyaml).
 * In check mode a non-NULL dummy. */
static char *new_key(const struct fp *p, const struct tok *k, const struct kfs_node *map)
{
	static char dummy[] = "";
	if (!p->build)
		return dummy;
	size_t len;
	char *key = tok_text(p, k, &len);
	/* A plain "<<" is a merge key, which doc.c refuses: leave it to libyaml too. */
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
	if (!scan_scalar(p, true, &t) || !count_node(p))
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
			if (!scan_scalar(p, true, &k))
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
	if (!end_line(p) || !count_node(p))
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
	next_line(p);
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
	next_line(p);
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
		if (!scan_scalar(p, false, &k))
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
			ok = end_line(p) && parse_below(p, col, true, colon_line, depth, &v);
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
			ok = end_line(p) && parse_below(p, col, false, dash_line, depth, &item);
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
		if (!scan_scalar(p, false, &t))
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
	if (!end_line(p)) {
		kfs_node_free(node);
		return false;
	}
	next_line(p);
	*out = node;
	return true;
}

/* ---------- stream ---------- */

static bool parse_stream(struct fp *p, struct kfs_node ***docs, size_t *ndocs)
{
	/* Only the first document may start without "---" (libyaml's implicit document). */
	bool implicit_ok = true;
	size_t cap = 0;
	next_line(p);
	for (;;) {
		if (p->col == COL_EOF)
			return true;
		if (p->col == COL_END) {
			if (implicit_ok)
				return false;
			p->pos += 3;
			if (!end_line(p))
				return false;
			next_line(p);
			continue;
		}
		if (p->col == COL_START) {
			implicit_ok = false;
			p->pos += 3;
			if (!end_line(p))
				return false;
			next_line(p);
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
	return validate(p) && parse_stream(p, docs, n);
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
