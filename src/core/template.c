/* The template language (docs/templates.md). A template is compiled once into a tree of nodes whose
 * paths are pre-split into steps, so that rendering only walks the tree, looks keys up and
 * appends to the output buffer: no parsing and no allocation per tag. */
#include "kratixfs/template.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds the compiler's recursion; real templates nest a handful of sections. */
#define MAX_NESTING 64

enum base {
	BASE_DOT,   /* `.x`: the current node (the root outside `each`) */
	BASE_ROOT,  /* `$.x`: always the root */
	BASE_INDEX, /* `@index` inside `each` */
};

struct step {
	char *key; /* NULL for an `[N]` index step */
	size_t len;
	size_t index;
	size_t at; /* where the step starts in the path's text, to print "did you mean" */
};

struct tpath {
	enum base base;
	struct step *steps;
	size_t n;
	char *text; /* as written, for messages */
};

enum filter_kind { F_DEFAULT, F_QUOTE, F_UPPER, F_LOWER, F_YAML, F_PLAIN /* no filter */ };

struct filter {
	enum filter_kind kind;
	const struct kfs_node *arg; /* default's value, owned by the template */
};

enum tkind { T_TEXT, T_SUBST, T_IF, T_EACH };

struct tnode;

struct block {
	struct tnode *items;
	size_t n, cap;
};

struct tnode {
	enum tkind kind;
	int line;
	const char *text; /* T_TEXT: points into the template's copy of the source */
	size_t len;
	const struct tpath *path;	/* T_SUBST (unless literal), T_IF, T_EACH */
	const struct kfs_node *literal; /* T_SUBST of `{{ "text" }}` */
	const char *placeholder;	/* T_SUBST made from a placeholder token */
	struct filter *filters;		/* owned */
	size_t nfilters;
	struct block body; /* sections */
	struct block alt;  /* `{{else}}` */
};

struct kfs_template {
	char *name;
	char *src;
	struct block body;
	/* Paths and constants live in arenas so that a failed compile frees them in one place. */
	struct tpath **paths;
	size_t npaths, cappaths;
	struct kfs_node **consts;
	size_t nconsts, capconsts;
	char **tokens; /* placeholder tokens, longest first, with their compiled paths */
	size_t *toklens;
	struct tpath **tokpaths;
	size_t ntokens;
};

/* ---------- compiler ---------- */

enum tagkind { TAG_EXPR, TAG_IF, TAG_EACH, TAG_ELSE, TAG_END, TAG_EOF };

struct tag {
	enum tagkind kind;
	int line;
	size_t end; /* just after the closing braces */
	struct tpath *path;
	struct kfs_node *literal;
	struct filter *filters;
	size_t nfilters;
};

struct compiler {
	struct kfs_template *t;
	const char *s;
	size_t len;
	size_t pos;
	int line; /* the line at pos */
	int each_depth;
	struct kfs_error *err;
};

static const char *tag_word(enum tagkind k)
{
	return k == TAG_IF ? "#if" : k == TAG_EACH ? "#each" : k == TAG_ELSE ? "else" : "end";
}

static const char *const filter_names[] = {"default", "quote", "upper", "lower", "yaml"};

static bool is_ident(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int count_lines(const char *s, size_t len)
{
	int n = 0;
	for (const char *p = s; (p = memchr(p, '\n', len - (size_t)(p - s))); p++)
		n++;
	return n;
}

static void path_free(struct tpath *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->steps[i].key);
	free(p->steps);
	free(p->text);
	free(p);
}

static struct tpath *new_path(struct kfs_template *t, enum base base)
{
	struct tpath *p = kfs_xcalloc(1, sizeof(*p));
	p->base = base;
	if (t->npaths == t->cappaths) {
		t->cappaths = t->cappaths ? t->cappaths * 2 : 8;
		t->paths = kfs_xrealloc(t->paths, t->cappaths * sizeof(*t->paths));
	}
	t->paths[t->npaths++] = p;
	return p;
}

static struct kfs_node *keep_const(struct kfs_template *t, struct kfs_node *n)
{
	if (t->nconsts == t->capconsts) {
		t->capconsts = t->capconsts ? t->capconsts * 2 : 4;
		t->consts = kfs_xrealloc(t->consts, t->capconsts * sizeof(*t->consts));
	}
	t->consts[t->nconsts++] = n;
	return n;
}

static void add_step(struct tpath *p, char *key, size_t len, size_t index, size_t at)
{
	p->steps = kfs_xrealloc(p->steps, (p->n + 1) * sizeof(*p->steps));
	p->steps[p->n++] = (struct step){.key = key, .len = len, .index = index, .at = at};
}

/* printf arguments for "%.*s": a span of bytes that is not NUL-terminated. */
#define SPAN(p, n) (int)(n), (p)

static int bad(struct compiler *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(struct compiler *c, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line <= 0) /* a placeholder's path, which has no line in the template */
		return kfs_error_set(c->err, -EINVAL, "%s: %s", c->t->name, msg);
	return kfs_error_set(c->err, -EINVAL, "%s:%d: %s", c->t->name, line, msg);
}

/* A double-quoted string: `\"` and `\\` are the escapes. *i is on the opening quote. */
static int parse_string(struct compiler *c, const char *s, size_t len, size_t *i, int line,
			char **out, size_t *outlen)
{
	struct kfs_buf b = {0};
	size_t j = *i + 1;
	while (j < len && s[j] != '"' && s[j] != '\n') {
		if (s[j] == '\\' && j + 1 < len && (s[j + 1] == '"' || s[j + 1] == '\\'))
			j++;
		kfs_buf_addc(&b, s[j]);
		j++;
	}
	if (j >= len || s[j] != '"') {
		kfs_buf_free(&b);
		return bad(c, line, "unterminated string %.*s", SPAN(s + *i, j - *i));
	}
	*i = j + 1;
	*outlen = b.len;
	*out = kfs_buf_steal(&b);
	return 0;
}

/* Paths: `.`, `.a.b`, `.a["k"]`, `.items[0]`, `$`, `$.a`, `@index`. */
static int parse_path(struct compiler *c, const char *s, size_t len, size_t *i, int line,
		      struct tpath **out)
{
	size_t start = *i, j = *i;
	struct tpath *p;
	if (s[j] == '@') {
		j++;
		while (j < len && is_ident(s[j]))
			j++;
		if (j - start != 6 || memcmp(s + start, "@index", 6) != 0)
			return bad(c, line, "unknown variable %.*s (only @index exists)",
				   SPAN(s + start, j - start));
		if (c->each_depth == 0)
			return bad(c, line, "%.*s is only defined inside {{#each}}",
				   SPAN(s + start, j - start));
		p = new_path(c->t, BASE_INDEX);
	} else if (s[j] == '$') {
		p = new_path(c->t, BASE_ROOT);
		j++;
	} else {
		p = new_path(c->t, BASE_DOT);
		j++;
		if (j < len && is_ident(s[j])) {
			size_t k = j;
			while (j < len && is_ident(s[j]))
				j++;
			add_step(p, kfs_xstrndup(s + k, j - k), j - k, 0, 0);
		} else if (j < len && s[j] == '.') {
			return bad(c, line, "empty key in path %.*s",
				   SPAN(s + start, j + 1 - start));
		}
	}
	while (p->base != BASE_INDEX && j < len && (s[j] == '.' || s[j] == '[')) {
		/* A bracket right after the leading dot belongs to it: `.["k"]` hints `.k`. */
		size_t at = p->n == 0 && p->base == BASE_DOT ? 0 : j - start;
		if (s[j] == '.') {
			size_t k = ++j;
			while (j < len && is_ident(s[j]))
				j++;
			if (j == k)
				return bad(c, line,
					   "expected a key after the dot in %.*s (use [\"key\"] "
					   "for keys with other characters)",
					   SPAN(s + start, j - start));
			add_step(p, kfs_xstrndup(s + k, j - k), j - k, 0, at);
			continue;
		}
		j++;
		if (j < len && s[j] == '"') {
			char *key;
			size_t klen;
			int rc = parse_string(c, s, len, &j, line, &key, &klen);
			if (rc)
				return rc;
			add_step(p, key, klen, 0, at);
		} else if (j < len && is_digit(s[j])) {
			size_t idx = 0;
			while (j < len && is_digit(s[j])) {
				if (idx > 100000000)
					return bad(c, line, "index too large in %.*s",
						   SPAN(s + start, j - start));
				idx = idx * 10 + (size_t)(s[j] - '0');
				j++;
			}
			add_step(p, NULL, 0, idx, at);
		} else {
			return bad(c, line, "expected \"key\" or a number after [ in %.*s",
				   SPAN(s + start, j - start));
		}
		if (j >= len || s[j] != ']')
			return bad(c, line, "missing ] in %.*s", SPAN(s + start, j - start));
		j++;
	}
	p->text = kfs_xstrndup(s + start, j - start);
	*i = j;
	*out = p;
	return 0;
}

static void skip_blanks(const char *s, size_t len, size_t *i)
{
	while (*i < len && (s[*i] == ' ' || s[*i] == '\t'))
		(*i)++;
}

static size_t word_end(const char *s, size_t len, size_t i)
{
	while (i < len && is_ident(s[i]))
		i++;
	return i;
}

/* Expects the closing braces at *i; names what went wrong otherwise. */
static int close_tag(struct compiler *c, size_t *i, struct tag *tag)
{
	const char *s = c->s;
	skip_blanks(s, c->len, i);
	if (*i + 1 < c->len && s[*i] == '}' && s[*i + 1] == '}') {
		tag->end = *i + 2;
		return 0;
	}
	if (*i >= c->len || s[*i] == '\n' || s[*i] == '\r')
		return bad(c, tag->line, "unclosed {{ (a tag must end with }} on the same line)");
	return bad(c, tag->line, "unexpected %.*s in tag (expected | or }})", SPAN(s + *i, 1));
}

/* The argument of `default`: a quoted string, a number or true/false. */
static int parse_default(struct compiler *c, size_t *i, struct tag *tag, struct filter *f)
{
	const char *s = c->s;
	skip_blanks(s, c->len, i);
	if (*i < c->len && s[*i] == '"') {
		char *text;
		size_t len;
		int rc = parse_string(c, s, c->len, i, tag->line, &text, &len);
		if (rc)
			return rc;
		struct kfs_node *n = kfs_node_new_scalar(KFS_STR, text, len);
		free(text);
		f->arg = keep_const(c->t, n);
		return 0;
	}
	size_t k = *i;
	while (*i < c->len && !strchr(" \t\r\n|}", s[*i]))
		(*i)++;
	enum kfs_type type = kfs_resolve_plain(s + k, *i - k);
	if (*i == k || (type != KFS_INT && type != KFS_FLOAT && type != KFS_BOOL))
		return bad(c, tag->line,
			   "| default needs a \"quoted string\" or a number, not '%.*s'",
			   SPAN(s + k, *i - k));
	if (type == KFS_BOOL) {
		struct kfs_node probe = {.type = KFS_BOOL, .text = (char *)s + k, .len = *i - k};
		f->arg = keep_const(c->t, kfs_node_new_bool(kfs_node_truthy(&probe)));
	} else {
		f->arg = keep_const(c->t, kfs_node_new_scalar(type, s + k, *i - k));
	}
	return 0;
}

static int parse_filters(struct compiler *c, size_t *i, struct tag *tag)
{
	const char *s = c->s;
	for (;;) {
		skip_blanks(s, c->len, i);
		if (*i >= c->len || s[*i] != '|')
			return close_tag(c, i, tag);
		(*i)++;
		skip_blanks(s, c->len, i);
		size_t k = *i, e = word_end(s, c->len, k);
		size_t f;
		for (f = 0; f < sizeof(filter_names) / sizeof(*filter_names); f++)
			if (e - k == strlen(filter_names[f]) &&
			    !memcmp(s + k, filter_names[f], e - k))
				break;
		if (f == sizeof(filter_names) / sizeof(*filter_names))
			return bad(
			    c, tag->line,
			    "unknown filter '%.*s' (known: default, quote, upper, lower, yaml)",
			    SPAN(s + k, e > k || k >= c->len || s[k] == '\n' ? e - k : 1));
		if (tag->nfilters > 0) {
			enum filter_kind last = tag->filters[tag->nfilters - 1].kind;
			if (last == F_QUOTE || last == F_YAML)
				return bad(c, tag->line, "| %s must be the last filter",
					   filter_names[last]);
		}
		*i = e;
		tag->filters =
		    kfs_xrealloc(tag->filters, (tag->nfilters + 1) * sizeof(*tag->filters));
		struct filter *fl = &tag->filters[tag->nfilters++];
		*fl = (struct filter){.kind = (enum filter_kind)f};
		if (fl->kind == F_DEFAULT) {
			int rc = parse_default(c, i, tag, fl);
			if (rc)
				return rc;
		}
	}
}

/* Parses the tag whose `{{` is at start. */
static int parse_tag(struct compiler *c, size_t start, struct tag *tag)
{
	const char *s = c->s;
	size_t i = start + 2;
	skip_blanks(s, c->len, &i);
	if (i < c->len && s[i] == '#') {
		size_t e = word_end(s, c->len, ++i);
		if (e - i == 2 && !memcmp(s + i, "if", 2))
			tag->kind = TAG_IF;
		else if (e - i == 4 && !memcmp(s + i, "each", 4))
			tag->kind = TAG_EACH;
		else
			return bad(c, tag->line,
				   "unknown section {{#%.*s}} (expected #if or #each)",
				   SPAN(s + i, e - i));
		i = e;
		skip_blanks(s, c->len, &i);
		if (i >= c->len || (s[i] != '.' && s[i] != '$'))
			return bad(c, tag->line, "{{%s}} needs a path like .spec.backup",
				   tag_word(tag->kind));
		int rc = parse_path(c, s, c->len, &i, tag->line, &tag->path);
		return rc ? rc : close_tag(c, &i, tag);
	}
	if (i < c->len && is_ident(s[i])) {
		size_t e = word_end(s, c->len, i);
		if (e - i == 4 && !memcmp(s + i, "else", 4))
			tag->kind = TAG_ELSE;
		else if (e - i == 3 && !memcmp(s + i, "end", 3))
			tag->kind = TAG_END;
		else
			return bad(
			    c, tag->line,
			    "unknown word '%.*s' in tag (a path starts with a dot: .spec.size)",
			    SPAN(s + i, e - i));
		i = e;
		return close_tag(c, &i, tag);
	}
	tag->kind = TAG_EXPR;
	if (i < c->len && s[i] == '"') {
		char *text;
		size_t len;
		int rc = parse_string(c, s, c->len, &i, tag->line, &text, &len);
		if (rc)
			return rc;
		tag->literal = keep_const(c->t, kfs_node_new_scalar(KFS_STR, text, len));
		free(text);
	} else if (i < c->len && (s[i] == '.' || s[i] == '$' || s[i] == '@')) {
		int rc = parse_path(c, s, c->len, &i, tag->line, &tag->path);
		if (rc)
			return rc;
	} else if (i >= c->len || s[i] == '\n' || s[i] == '\r') {
		return close_tag(c, &i, tag);
	} else {
		return bad(c, tag->line, "expected a path like .spec.size after {{, not '%.*s'",
			   SPAN(s + i, 1));
	}
	return parse_filters(c, &i, tag);
}

static struct tnode *push(struct block *b, enum tkind kind, int line)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 8;
		b->items = kfs_xrealloc(b->items, b->cap * sizeof(*b->items));
	}
	struct tnode *n = &b->items[b->n++];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->line = line;
	return n;
}

static void push_text(struct block *b, const char *s, size_t len, int line)
{
	if (len == 0)
		return;
	struct tnode *n = push(b, T_TEXT, line);
	n->text = s;
	n->len = len;
}

/* Static text, with placeholder tokens turned into lookups (longest token first). */
static void emit_text(struct compiler *c, struct block *b, size_t from, size_t to, int line)
{
	const struct kfs_template *t = c->t;
	const char *s = c->s;
	size_t seg = from, i = from;
	int seg_line = line;
	while (t->ntokens && i < to) {
		size_t k;
		for (k = 0; k < t->ntokens; k++)
			if (t->toklens[k] <= to - i && s[i] == t->tokens[k][0] &&
			    !memcmp(s + i, t->tokens[k], t->toklens[k]))
				break;
		if (k == t->ntokens) {
			if (s[i++] == '\n')
				line++;
			continue;
		}
		push_text(b, s + seg, i - seg, seg_line);
		struct tnode *n = push(b, T_SUBST, line);
		n->path = t->tokpaths[k];
		n->placeholder = t->tokens[k];
		line += count_lines(t->tokens[k], t->toklens[k]);
		i += t->toklens[k];
		seg = i;
		seg_line = line;
	}
	push_text(b, s + seg, to - seg, seg_line);
}

/* A line holding only a section tag and blanks renders to nothing (Mustache's standalone
 * tags), so that `{{#if}}` lines in YAML leave no blank lines behind. */
static void standalone(const struct compiler *c, size_t start, size_t end, size_t *text_end,
		       size_t *next)
{
	const char *s = c->s;
	size_t ls = start;
	while (ls > 0 && s[ls - 1] != '\n')
		ls--;
	for (size_t i = ls; i < start; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return;
	size_t j = end;
	skip_blanks(s, c->len, &j);
	if (j < c->len && s[j] == '\r')
		j++;
	if (j < c->len && s[j] != '\n')
		return;
	*text_end = ls;
	*next = j < c->len ? j + 1 : j;
}

static int compile_block(struct compiler *c, struct block *b, int depth, enum tagkind *term,
			 int *term_line)
{
	for (;;) {
		const char *open = memmem(c->s + c->pos, c->len - c->pos, "{{", 2);
		if (!open) {
			emit_text(c, b, c->pos, c->len, c->line);
			c->line += count_lines(c->s + c->pos, c->len - c->pos);
			c->pos = c->len;
			*term = TAG_EOF;
			*term_line = c->line;
			return 0;
		}
		size_t start = (size_t)(open - c->s);
		struct tag tag = {.line = c->line + count_lines(c->s + c->pos, start - c->pos)};
		int rc = parse_tag(c, start, &tag);
		if (rc) {
			free(tag.filters);
			return rc;
		}
		size_t text_end = start, next = tag.end;
		if (tag.kind != TAG_EXPR)
			standalone(c, start, tag.end, &text_end, &next);
		emit_text(c, b, c->pos, text_end, c->line);
		c->line += count_lines(c->s + c->pos, next - c->pos);
		c->pos = next;

		if (tag.kind == TAG_ELSE || tag.kind == TAG_END) {
			*term = tag.kind;
			*term_line = tag.line;
			return 0;
		}
		if (tag.kind == TAG_EXPR) {
			struct tnode *n = push(b, T_SUBST, tag.line);
			n->path = tag.path;
			n->literal = tag.literal;
			n->filters = tag.filters;
			n->nfilters = tag.nfilters;
			continue;
		}
		if (depth >= MAX_NESTING)
			return kfs_error_set(c->err, -EINVAL,
					     "%s:%d: sections nested deeper than %d", c->t->name,
					     tag.line, MAX_NESTING);
		/* The parent block does not grow while its child compiles: n stays valid. */
		struct tnode *n = push(b, tag.kind == TAG_IF ? T_IF : T_EACH, tag.line);
		n->path = tag.path;
		enum tagkind t2;
		int l2;
		c->each_depth += tag.kind == TAG_EACH;
		rc = compile_block(c, &n->body, depth + 1, &t2, &l2);
		c->each_depth -= tag.kind == TAG_EACH;
		if (!rc && t2 == TAG_ELSE) {
			rc = compile_block(c, &n->alt, depth + 1, &t2, &l2);
			if (!rc && t2 == TAG_ELSE)
				return kfs_error_set(
				    c->err, -EINVAL,
				    "%s:%d: second {{else}} in {{%s %s}} of line %d", c->t->name,
				    l2, tag_word(tag.kind), tag.path->text, tag.line);
		}
		if (rc)
			return rc;
		if (t2 == TAG_EOF)
			return kfs_error_set(
			    c->err, -EINVAL, "%s:%d: {{%s %s}} is never closed (missing {{end}})",
			    c->t->name, tag.line, tag_word(tag.kind), tag.path->text);
	}
}

static int cmp_tokens(const void *a, const void *b)
{
	const struct kfs_placeholder *x = a, *y = b;
	size_t lx = strlen(x->token), ly = strlen(y->token);
	if (lx != ly)
		return lx > ly ? -1 : 1;
	return strcmp(x->token, y->token);
}

/* Copies and compiles the placeholders, sorted longest first whatever the caller's order. */
static int compile_placeholders(struct compiler *c, const struct kfs_placeholders *ph)
{
	struct kfs_template *t = c->t;
	size_t n = 0;
	for (size_t i = 0; ph && i < ph->n; i++)
		n += ph->items[i].token[0] != '\0';
	if (n == 0)
		return 0;
	struct kfs_placeholder *sorted = kfs_xcalloc(n, sizeof(*sorted));
	n = 0;
	for (size_t i = 0; i < ph->n; i++)
		if (ph->items[i].token[0] != '\0')
			sorted[n++] = ph->items[i];
	qsort(sorted, n, sizeof(*sorted), cmp_tokens);
	t->tokens = kfs_xcalloc(n, sizeof(*t->tokens));
	t->toklens = kfs_xcalloc(n, sizeof(*t->toklens));
	t->tokpaths = kfs_xcalloc(n, sizeof(*t->tokpaths));
	t->ntokens = n;
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		const char *p = sorted[i].path;
		size_t len = strlen(p), j = 0;
		t->tokens[i] = kfs_xstrdup(sorted[i].token);
		t->toklens[i] = strlen(sorted[i].token);
		if (len == 0 || (p[0] != '.' && p[0] != '$'))
			rc =
			    kfs_error_set(c->err, -EINVAL,
					  "%s: placeholder \"%s\": path '%s' must start with a dot",
					  t->name, sorted[i].token, p);
		else
			rc = parse_path(c, p, len, &j, 0, &t->tokpaths[i]);
		if (!rc && j != len)
			rc = kfs_error_set(c->err, -EINVAL,
					   "%s: placeholder \"%s\": unexpected '%s' in path",
					   t->name, sorted[i].token, p + j);
	}
	free(sorted);
	return rc;
}

int kfs_template_compile(const char *text, size_t len, const char *name,
			 const struct kfs_placeholders *placeholders, struct kfs_template **out,
			 struct kfs_error *err)
{
	struct kfs_template *t = kfs_xcalloc(1, sizeof(*t));
	t->name = kfs_xstrdup(name ? name : "template");
	t->src = kfs_xstrndup(text ? text : "", text ? len : 0);
	struct compiler c = {.t = t, .s = t->src, .len = text ? len : 0, .line = 1, .err = err};
	*out = NULL;
	int rc = compile_placeholders(&c, placeholders);
	enum tagkind term = TAG_EOF;
	int term_line = 0;
	if (!rc)
		rc = compile_block(&c, &t->body, 0, &term, &term_line);
	if (!rc && term == TAG_ELSE)
		rc = kfs_error_set(err, -EINVAL, "%s:%d: {{else}} without {{#if}} or {{#each}}",
				   t->name, term_line);
	if (!rc && term == TAG_END)
		rc = kfs_error_set(err, -EINVAL, "%s:%d: {{end}} without {{#if}} or {{#each}}",
				   t->name, term_line);
	if (rc) {
		kfs_template_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

static void block_free(struct block *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->items[i].filters);
		block_free(&b->items[i].body);
		block_free(&b->items[i].alt);
	}
	free(b->items);
}

void kfs_template_free(struct kfs_template *t)
{
	if (!t)
		return;
	block_free(&t->body);
	for (size_t i = 0; i < t->npaths; i++)
		path_free(t->paths[i]);
	free(t->paths);
	for (size_t i = 0; i < t->nconsts; i++)
		kfs_node_free(t->consts[i]);
	free(t->consts);
	for (size_t i = 0; i < t->ntokens; i++)
		free(t->tokens[i]);
	free(t->tokens);
	free(t->toklens);
	free(t->tokpaths);
	free(t->name);
	free(t->src);
	free(t);
}

/* ---------- renderer ---------- */

struct frame {
	const struct kfs_node *dot;
	bool at_root; /* `.values` etc. reach the reserved maps only from the root */
	size_t index;
};

struct render {
	const struct kfs_template *t;
	const struct kfs_tcontext *ctx;
	struct kfs_buf *out;
	struct kfs_error *err;
	struct kfs_buf scratch; /* upper/lower results, reused across tags */
};

static bool key_is(const struct step *st, const char *word)
{
	return st->key && st->len == strlen(word) && !memcmp(st->key, word, st->len);
}

/* The node at p, or NULL; on NULL, *parent and *failed tell which step found nothing. */
static const struct kfs_node *resolve(const struct kfs_tcontext *ctx, const struct tpath *p,
				      const struct frame *f, const struct kfs_node **parent,
				      size_t *failed)
{
	const struct kfs_node *cur = p->base == BASE_ROOT ? ctx->root : f->dot;
	bool at_root = p->base == BASE_ROOT || f->at_root;
	size_t i = 0;
	*parent = NULL;
	*failed = 0;
	if (at_root && p->n > 0) {
		const struct step *st = &p->steps[0];
		if (key_is(st, "values") || key_is(st, "promise") || key_is(st, "workflow")) {
			cur = key_is(st, "values")    ? ctx->values
			      : key_is(st, "promise") ? ctx->promise
						      : ctx->workflow;
			if (!cur)
				return NULL;
			i = 1;
		}
	}
	for (; i < p->n; i++) {
		const struct step *st = &p->steps[i];
		const struct kfs_node *next = NULL;
		if (st->key)
			next = kfs_map_getn(cur, st->key, st->len);
		else if (cur && cur->type == KFS_SEQ && st->index < cur->len)
			next = cur->items[st->index];
		if (!next) {
			*parent = cur;
			*failed = i;
			return NULL;
		}
		cur = next;
	}
	return cur;
}

static bool ident_key(const char *k)
{
	if (!*k)
		return false;
	for (; *k; k++)
		if (!is_ident(*k))
			return false;
	return true;
}

/* "; did you mean .spec.size?" when a sibling key is one or two edits away. */
static void hint(const struct render *r, const struct tpath *p, const struct frame *f, char *out,
		 size_t size)
{
	const struct kfs_node *parent;
	size_t failed;
	out[0] = '\0';
	if (resolve(r->ctx, p, f, &parent, &failed) || !parent || parent->type != KFS_MAP ||
	    !p->steps[failed].key)
		return;
	const struct step *st = &p->steps[failed];
	const char *best = NULL;
	size_t best_d = 3;
	for (size_t i = 0; i < parent->len; i++) {
		const char *k = parent->pairs[i].key;
		size_t d = kfs_edit_distance(st->key, st->len, k, strlen(k));
		if (d < best_d && d < st->len) {
			best = k;
			best_d = d;
		}
	}
	if (!best)
		return;
	if (ident_key(best))
		snprintf(out, size, "; did you mean %.*s.%s?", (int)st->at, p->text, best);
	else
		snprintf(out, size, "; did you mean %.*s[\"%s\"]?", (int)st->at, p->text, best);
}

/* How a value is named in messages: its path, or the placeholder token and its path. */
static void describe(const struct tnode *n, char *out, size_t size)
{
	if (n->placeholder)
		snprintf(out, size, "placeholder %s (%s)", n->placeholder, n->path->text);
	else if (n->literal)
		snprintf(out, size, "\"%s\"", n->literal->text);
	else
		snprintf(out, size, "%s", n->path->text);
}

static int fail(struct render *r, const struct tnode *n, const char *fmt, const char *a,
		const char *b)
{
	char what[512], msg[1024];
	describe(n, what, sizeof(what));
	snprintf(msg, sizeof(msg), fmt, what, a, b);
	return kfs_error_set(r->err, -EIO, "%s:%d: %s", r->t->name, n->line, msg);
}

static const char *kind_word(enum kfs_type type)
{
	return type == KFS_MAP ? "a mapping" : type == KFS_SEQ ? "a sequence" : "a scalar";
}

static void scalar_text(const struct kfs_node *n, const char **text, size_t *len)
{
	if (n->type == KFS_BOOL) {
		*text = kfs_node_truthy(n) ? "true" : "false";
		*len = strlen(*text);
	} else {
		*text = n->text;
		*len = n->len;
	}
}

/* The column where the next byte lands in the output line, in characters. */
static size_t out_column(const struct kfs_buf *out)
{
	size_t col = 0;
	for (size_t i = out->len; i > 0 && out->data[i - 1] != '\n'; i--)
		col += ((unsigned char)out->data[i - 1] & 0xc0) != 0x80;
	return col;
}

static int render_subst(struct render *r, const struct tnode *n, const struct frame *f)
{
	const struct kfs_node *node = NULL;
	const char *text = NULL; /* set once a filter produced text (upper, lower, @index) */
	size_t len = 0;
	enum kfs_type text_type = KFS_STR;
	bool was_null = false;
	char num[32];
	enum filter_kind out_kind = F_PLAIN;

	if (n->literal) {
		node = n->literal;
	} else if (n->path->base == BASE_INDEX) {
		len = (size_t)snprintf(num, sizeof(num), "%zu", f->index);
		text = num;
		text_type = KFS_INT;
	} else {
		const struct kfs_node *parent;
		size_t failed;
		node = resolve(r->ctx, n->path, f, &parent, &failed);
		if (node && node->type == KFS_NULL) {
			node = NULL;
			was_null = true;
		}
	}
	for (size_t i = 0; i < n->nfilters; i++) {
		const struct filter *fl = &n->filters[i];
		switch (fl->kind) {
		case F_DEFAULT:
			if (!node && !text)
				node = fl->arg;
			break;
		case F_UPPER:
		case F_LOWER:
			if (!node && !text)
				break;
			if (node && (node->type == KFS_MAP || node->type == KFS_SEQ))
				return fail(r, n, "%s is %s; | %s needs a scalar",
					    kind_word(node->type), filter_names[fl->kind]);
			if (node)
				scalar_text(node, &text, &len);
			if (text != r->scratch.data) {
				kfs_buf_reset(&r->scratch);
				kfs_buf_add(&r->scratch, text, len);
			}
			for (size_t k = 0; k < len; k++) {
				char ch = r->scratch.data[k];
				if (fl->kind == F_UPPER && ch >= 'a' && ch <= 'z')
					r->scratch.data[k] = (char)(ch - 'a' + 'A');
				else if (fl->kind == F_LOWER && ch >= 'A' && ch <= 'Z')
					r->scratch.data[k] = (char)(ch - 'A' + 'a');
			}
			text = r->scratch.data;
			text_type = KFS_STR;
			node = NULL;
			break;
		default: /* quote, yaml: compiled as the last filter */
			out_kind = fl->kind;
			break;
		}
	}
	if (!node && !text) {
		char h[256] = "";
		if (!was_null)
			hint(r, n->path, f, h, sizeof(h));
		return fail(r, n, "%s is %s (no default)%s", was_null ? "null" : "not defined", h);
	}
	if (node && (node->type == KFS_MAP || node->type == KFS_SEQ) && out_kind != F_YAML)
		return fail(r, n, "%s is %s; use | yaml%s", kind_word(node->type),
			    out_kind == F_QUOTE ? " (| quote needs a scalar)" : "");
	if (out_kind == F_YAML) {
		struct kfs_node tmp = {.type = text_type, .text = (char *)text, .len = len};
		kfs_doc_emit_at(node ? node : &tmp, out_column(r->out), r->out);
		return 0;
	}
	if (node)
		scalar_text(node, &text, &len);
	if (out_kind == F_QUOTE) {
		kfs_yaml_quote(text, len, r->out);
		return 0;
	}
	/* Unquoted, a value must stay text on its line: every character that any common YAML
	 * parser takes as a line break (NEL, LS and PS too), or that is not text, is refused. */
	size_t clen;
	long cp;
	if (kfs_yaml_unsafe(text, len, false, &clen, &cp) < len) {
		char what[96];
		kfs_yaml_char_name(cp, what, sizeof(what));
		if (n->placeholder)
			return fail(
			    r, n,
			    "%s holds %s; a placeholder cannot be quoted: write {{ %s | quote }}",
			    what, n->path->text);
		return fail(r, n, "%s holds %s; use | quote", what, "");
	}
	/* Nor may it start a line with a document marker ("---" or "...", even completed by the
	 * text before it on the line), which would end the manifest and begin another. */
	size_t ls = r->out->len;
	while (ls > 0 && r->out->data[ls - 1] != '\n')
		ls--;
	size_t before = r->out->len - ls;
	if (before < 3 && before + len >= 3) {
		char head[4] = "";
		if (before)
			memcpy(head, r->out->data + ls, before);
		memcpy(head + before, text, 3 - before);
		/* What follows the three dots is known when the value holds it; otherwise the
		 * template's next text may complete the marker, so that is refused too. */
		char next = before + len > 3 ? text[3 - before] : ' ';
		if ((strcmp(head, "---") == 0 || strcmp(head, "...") == 0) &&
		    (next == ' ' || next == '\t'))
			return fail(r, n,
				    "%s would start a line with \"%s\", which YAML reads as a "
				    "document marker; use | quote",
				    head, "");
	}
	kfs_buf_add(r->out, text, len);
	return 0;
}

static int render_block(struct render *r, const struct block *b, const struct frame *f);

static int render_each(struct render *r, const struct tnode *n, const struct frame *f)
{
	const struct kfs_node *parent;
	size_t failed;
	const struct kfs_node *seq = resolve(r->ctx, n->path, f, &parent, &failed);
	if (seq && seq->type != KFS_SEQ && seq->type != KFS_NULL) {
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s:%d: {{#each %s}}: %s is %s, not a sequence",
			 r->t->name, n->line, n->path->text, n->path->text, kind_word(seq->type));
		return kfs_error_set(r->err, -EIO, "%s", msg);
	}
	if (!seq || seq->type != KFS_SEQ || seq->len == 0)
		return render_block(r, &n->alt, f);
	for (size_t i = 0; i < seq->len; i++) {
		struct frame item = {.dot = seq->items[i], .at_root = false, .index = i};
		int rc = render_block(r, &n->body, &item);
		if (rc)
			return rc;
	}
	return 0;
}

static int render_block(struct render *r, const struct block *b, const struct frame *f)
{
	for (size_t i = 0; i < b->n; i++) {
		const struct tnode *n = &b->items[i];
		int rc = 0;
		switch (n->kind) {
		case T_TEXT:
			kfs_buf_add(r->out, n->text, n->len);
			break;
		case T_SUBST:
			rc = render_subst(r, n, f);
			break;
		case T_IF: {
			const struct kfs_node *parent;
			size_t failed;
			const struct kfs_node *v = resolve(r->ctx, n->path, f, &parent, &failed);
			rc = render_block(r, kfs_node_truthy(v) ? &n->body : &n->alt, f);
			break;
		}
		case T_EACH:
			rc = render_each(r, n, f);
			break;
		}
		if (rc)
			return rc;
	}
	return 0;
}

int kfs_template_render(const struct kfs_template *t, const struct kfs_tcontext *ctx,
			struct kfs_buf *out, struct kfs_error *err)
{
	struct render r = {.t = t, .ctx = ctx, .out = out, .err = err};
	struct frame root = {.dot = ctx->root, .at_root = true};
	size_t start = out->len;
	int rc = render_block(&r, &t->body, &root);
	kfs_buf_free(&r.scratch);
	if (rc && out->data) {
		/* A failed render leaves out as it found it: no half-written file. */
		out->len = start;
		out->data[start] = '\0';
	}
	return rc;
}

const struct kfs_node *kfs_template_lookup(const struct kfs_template *t,
					   const struct kfs_tcontext *ctx)
{
	if (t->body.n != 1 || t->body.items[0].kind != T_SUBST || !t->body.items[0].path ||
	    t->body.items[0].nfilters > 0 || t->body.items[0].path->base == BASE_INDEX)
		return NULL;
	struct frame root = {.dot = ctx->root, .at_root = true};
	const struct kfs_node *parent;
	size_t failed;
	const struct kfs_node *n = resolve(ctx, t->body.items[0].path, &root, &parent, &failed);
	return n && n->type != KFS_NULL ? n : NULL;
}
