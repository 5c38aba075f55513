/* The template language's parser: Go template syntax into the tree of tmpl.h. Text and tags
 * alternate; a tag is a comment, a keyword (if, else, end, range, with, define, template, block,
 * break, continue) or a pipeline whose value is printed. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template_lex.h"

#define MAX_NESTING 64

enum term { TERM_EOF, TERM_END, TERM_ELSE, TERM_ELSE_IF, TERM_ELSE_WITH };

struct parser {
	struct kfs_template *t;
	const struct tsrc *src;
	const char *s;
	size_t len;
	size_t pos;
	size_t tag;	 /* the current tag's `{{` */
	size_t else_pos; /* the `else` tag that ended a list */
	bool trim_next;	 /* the last tag ended with ` -}}` */
	int depth, loops;
	struct kfs_error *err;
};

static int perr(struct parser *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int perr(struct parser *p, size_t pos, const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return tmpl_error(p->err, -EINVAL, p->src, p->tag, pos, "%s", msg);
}

static struct tnode *push(struct parser *p, struct tlist *l, enum tnode_kind kind)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct tnode *items = tarena_alloc(&p->t->arena, cap * sizeof(*items));
		if (l->n)
			memcpy(items, l->items, l->n * sizeof(*items));
		l->items = items;
		l->cap = cap;
	}
	struct tnode *n = &l->items[l->n++];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->src = p->src;
	n->pos = p->tag;
	return n;
}

struct kfs_node *tmpl_keep(struct kfs_template *t, struct kfs_node *n)
{
	if (t->nconsts == t->capconsts) {
		t->capconsts = t->capconsts ? t->capconsts * 2 : 8;
		t->consts = kfs_xrealloc(t->consts, t->capconsts * sizeof(*t->consts));
	}
	t->consts[t->nconsts++] = n;
	return n;
}

static bool tok_is(const struct parser *p, const struct ttok *k, const char *word)
{
	return k->kind == K_IDENT && k->len == strlen(word) && !memcmp(p->s + k->pos, word, k->len);
}

/* Splits `.a.b["k"][0]` (after the base) into steps. */
static int parse_steps(struct parser *p, struct targ *a, size_t from, size_t to)
{
	const char *s = p->s;
	size_t cap = 0;
	for (size_t i = from; i < to; i++)
		cap += s[i] == '.' || s[i] == '[';
	a->steps = tarena_alloc(&p->t->arena, (cap + 1) * sizeof(*a->steps));
	size_t i = from;
	while (i < to) {
		struct tstep *st = &a->steps[a->nsteps];
		st->at = a->nsteps == 0 && a->kind == A_FIELD ? 0 : i - a->pos;
		if (s[i] == '.') {
			size_t k = ++i;
			while (i < to && tmpl_is_key_char(s[i]))
				i++;
			st->key = tarena_strndup(&p->t->arena, s + k, i - k);
			st->len = i - k;
		} else if (s[i + 1] == '"') {
			size_t k = i + 1;
			i = k;
			while (s[++i] != '"')
				i += s[i] == '\\';
			struct kfs_buf b = {0};
			tmpl_unquote(s + k, i + 1 - k, &b);
			st->key = tarena_strndup(&p->t->arena, b.data ? b.data : "", b.len);
			st->len = b.len;
			kfs_buf_free(&b);
			i += 2;
		} else {
			size_t idx = 0, k = ++i;
			for (; s[i] != ']'; i++) {
				if (idx > 100000000)
					return perr(p, a->pos, "index too large in %.*s",
						    SPAN(s + a->pos, to - a->pos));
				idx = idx * 10 + (size_t)(s[i] - '0');
			}
			if (i == k)
				return perr(p, a->pos, "expected \"key\" or a number after [ in %.*s",
					    SPAN(s + a->pos, to - a->pos));
			st->index = idx;
			i++;
		}
		a->nsteps++;
	}
	return 0;
}

static int parse_const(struct parser *p, const struct ttok *k, struct targ *a)
{
	const char *s = p->s + k->pos;
	a->kind = A_CONST;
	if (k->kind == K_STR) {
		struct kfs_buf b = {0};
		if (tmpl_unquote(s, k->len, &b)) {
			kfs_buf_free(&b);
			return perr(p, k->pos, "bad escape in %.*s", SPAN(s, k->len));
		}
		a->lit = tmpl_keep(p->t, kfs_node_new_scalar(KFS_STR, b.data ? b.data : "", b.len));
		kfs_buf_free(&b);
		return 0;
	}
	enum kfs_type type = kfs_resolve_plain(s, k->len);
	if (k->kind == K_NUM && type != KFS_INT && type != KFS_FLOAT)
		return perr(p, k->pos, "bad number %.*s", SPAN(s, k->len));
	if (type == KFS_BOOL)
		a->lit = tmpl_keep(p->t, kfs_node_new_bool(s[0] == 't'));
	else
		a->lit = tmpl_keep(p->t, kfs_node_new_scalar(type, s, k->len));
	return 0;
}

static int parse_pipeline(struct parser *p, struct tpipe **out, enum ttok_kind stop);

static int helm_word(struct parser *p, const struct ttok *k)
{
	static const char *const helm[][2] = {
	    {".Values", ".values (values.yaml) or .spec (the request)"},
	    {".Release", ".metadata (the request: .metadata.name, .metadata.namespace)"},
	    {".Chart", ".promise (.promise.name, .promise.version)"},
	    {".Capabilities", "nothing: a render never asks the cluster"},
	    {".Files", "a value in values.yaml"},
	    {".Template", ".workflow"},
	};
	for (size_t i = 0; i < sizeof(helm) / sizeof(*helm); i++) {
		size_t n = strlen(helm[i][0]);
		if (k->len >= n && !memcmp(p->s + k->pos, helm[i][0], n) &&
		    (k->len == n || !tmpl_is_key_char(p->s[k->pos + n])))
			return perr(p, k->pos, "%s is Helm's; write %s", helm[i][0], helm[i][1]);
	}
	return 0;
}

static int parse_ident(struct parser *p, const struct ttok *k, struct targ *a)
{
	const char *s = p->s + k->pos;
	if (tok_is(p, k, "true") || tok_is(p, k, "false") || tok_is(p, k, "nil")) {
		a->kind = A_CONST;
		a->lit = tmpl_keep(p->t, s[0] == 'n' ? kfs_node_new_scalar(KFS_NULL, "null", 4)
						     : kfs_node_new_bool(s[0] == 't'));
		return 0;
	}
	a->kind = A_FUNC;
	a->fn = tmpl_func(s, k->len);
	if (!a->fn) {
		const char *near = tmpl_func_suggest(s, k->len);
		if (near)
			return perr(p, k->pos, "unknown function %.*s; did you mean %s?",
				    SPAN(s, k->len), near);
		return perr(p, k->pos,
			    "unknown function %.*s (a path starts with a dot: .spec.size; "
			    "docs/templates.md lists the functions)",
			    SPAN(s, k->len));
	}
	if (a->fn->refusal)
		return perr(p, k->pos, "%s %s", a->fn->name, a->fn->refusal);
	return 0;
}

/* One operand: a path, a variable, a constant, a function name or a parenthesised pipeline. */
static int parse_operand(struct parser *p, const struct ttok *k, struct targ *a)
{
	a->pos = k->pos;
	a->text = tarena_strndup(&p->t->arena, p->s + k->pos, k->len);
	switch (k->kind) {
	case K_FIELD: {
		int rc = helm_word(p, k);
		if (rc)
			return rc;
		a->kind = A_FIELD;
		/* `.` alone has no step; in `.["k"]` the bracket is the first step. */
		size_t from = k->pos + (k->len == 1 || p->s[k->pos + 1] == '[');
		return parse_steps(p, a, from, k->pos + k->len);
	}
	case K_VAR: {
		size_t e = k->pos + 1;
		while (e < k->pos + k->len && p->s[e] != '.' && p->s[e] != '[')
			e++;
		a->kind = A_VAR;
		a->var = tarena_strndup(&p->t->arena, p->s + k->pos, e - k->pos);
		return parse_steps(p, a, e, k->pos + k->len);
	}
	case K_STR:
	case K_NUM:
		return parse_const(p, k, a);
	case K_IDENT:
		return parse_ident(p, k, a);
	case K_LP: {
		a->kind = A_PIPE;
		int rc = parse_pipeline(p, &a->pipe, K_RP);
		if (rc || p->pos >= p->len || (p->s[p->pos] != '.' && p->s[p->pos] != '['))
			return rc;
		struct ttok f; /* (pipeline).field: the steps apply to the pipeline's value */
		tmpl_lex(p->s, p->len, &p->pos, &f);
		if (f.kind != K_FIELD || f.len < 2)
			return perr(p, f.pos, "bad path %.*s after )", SPAN(p->s + f.pos, f.len));
		a->text = tarena_strndup(&p->t->arena, p->s + k->pos, f.pos + f.len - k->pos);
		return parse_steps(p, a, f.pos + (p->s[f.pos + 1] == '['), f.pos + f.len);
	}
	case K_BADPATH:
		return perr(p, k->pos,
			    "bad path %.*s (a key after a dot is letters, digits, _ and -; write "
			    "[\"key\"] for other keys, [N] for an item)",
			    SPAN(p->s + k->pos, k->len));
	case K_UNTERMINATED:
		return perr(p, k->pos, "unterminated string");
	case K_EOF:
		return perr(p, p->tag, "unclosed {{ (the tag never ends with }})");
	default:
		return perr(p, k->pos, "unexpected %.*s in tag", SPAN(p->s + k->pos, k->len ? k->len : 1));
	}
}

static int parse_command(struct parser *p, struct tcmd *c, enum ttok_kind stop,
			 enum ttok_kind *ended)
{
	struct targ args[32];
	size_t n = 0;
	c->pos = p->pos;
	for (;;) {
		struct ttok k;
		tmpl_lex(p->s, p->len, &p->pos, &k);
		if (k.kind == K_PIPE || k.kind == stop || (k.kind == K_CLOSE && stop == K_CLOSE)) {
			if (n == 0)
				return perr(p, k.pos, "missing value before %.*s",
					    SPAN(p->s + k.pos, k.len));
			*ended = k.kind;
			if (k.kind == K_CLOSE)
				p->trim_next = k.trim;
			break;
		}
		if (k.kind == K_CLOSE)
			return perr(p, k.pos, "missing ) before }}");
		if (n == 0)
			c->pos = k.pos;
		if (n == sizeof(args) / sizeof(*args))
			return perr(p, k.pos, "too many arguments");
		memset(&args[n], 0, sizeof(args[n]));
		int rc = parse_operand(p, &k, &args[n]);
		if (rc)
			return rc;
		if (n > 0 && args[n].kind == A_FUNC && args[n].fn->min > 0)
			return perr(p, k.pos, "%s needs arguments: write (%s …)", args[n].fn->name,
				    args[n].fn->name);
		n++;
	}
	if (n > 1 && args[0].kind != A_FUNC)
		return perr(p, args[1].pos, "%s is not a function; a call starts with its name",
			    args[0].text);
	c->args = tarena_alloc(&p->t->arena, n * sizeof(*c->args));
	memcpy(c->args, args, n * sizeof(*args));
	c->n = n;
	return 0;
}

/* `$x :=`, `$i, $x :=`, `$x =` at the start of a pipeline; leaves p->pos after them. */
static void parse_decl(struct parser *p, struct tpipe *pl)
{
	size_t save = p->pos;
	struct ttok a, b, c, d;
	tmpl_lex(p->s, p->len, &p->pos, &a);
	tmpl_lex(p->s, p->len, &p->pos, &b);
	bool plain = a.kind == K_VAR && memchr(p->s + a.pos, '.', a.len) == NULL;
	if (plain && (b.kind == K_DECL || b.kind == K_ASSIGN)) {
		pl->vars[0] = tarena_strndup(&p->t->arena, p->s + a.pos, a.len);
		pl->nvars = 1;
		pl->assign = b.kind == K_ASSIGN;
		return;
	}
	if (plain && b.kind == K_COMMA) {
		tmpl_lex(p->s, p->len, &p->pos, &c);
		tmpl_lex(p->s, p->len, &p->pos, &d);
		if (c.kind == K_VAR && (d.kind == K_DECL || d.kind == K_ASSIGN)) {
			pl->vars[0] = tarena_strndup(&p->t->arena, p->s + a.pos, a.len);
			pl->vars[1] = tarena_strndup(&p->t->arena, p->s + c.pos, c.len);
			pl->nvars = 2;
			pl->assign = d.kind == K_ASSIGN;
			return;
		}
	}
	p->pos = save;
}

static int parse_pipeline(struct parser *p, struct tpipe **out, enum ttok_kind stop)
{
	struct tpipe *pl = tarena_alloc(&p->t->arena, sizeof(*pl));
	struct tcmd cmds[32];
	pl->pos = p->pos;
	parse_decl(p, pl);
	for (;;) {
		if (pl->ncmds == sizeof(cmds) / sizeof(*cmds))
			return perr(p, p->pos, "pipeline too long");
		enum ttok_kind ended = K_CLOSE;
		struct tcmd *c = &cmds[pl->ncmds];
		memset(c, 0, sizeof(*c));
		int rc = parse_command(p, c, stop, &ended);
		if (rc)
			return rc;
		if (pl->ncmds > 0 && c->args[0].kind != A_FUNC)
			return perr(p, c->pos, "%s after | is not a function", c->args[0].text);
		const struct tfunc *fn = c->args[0].kind == A_FUNC ? c->args[0].fn : NULL;
		int given = (int)c->n - 1 + (pl->ncmds > 0);
		if (fn && (given < fn->min || (fn->max >= 0 && given > fn->max))) {
			char range[40] = "";
			if (fn->max < 0)
				snprintf(range, sizeof(range), " or more");
			else if (fn->max != fn->min)
				snprintf(range, sizeof(range), " to %d", fn->max);
			return perr(p, c->pos, "%s takes %d%s argument%s, given %d (a piped value "
					       "counts as the last)",
				    fn->name, fn->min, range, fn->min == 1 && !*range ? "" : "s", given);
		}
		if (pl->ncmds > 0 && !strcmp(cmds[pl->ncmds - 1].args[0].text, "yaml"))
			return perr(p, c->pos, "| yaml must be the last function");
		pl->ncmds++;
		if (ended != K_PIPE)
			break;
	}
	pl->cmds = tarena_alloc(&p->t->arena, pl->ncmds * sizeof(*pl->cmds));
	memcpy(pl->cmds, cmds, pl->ncmds * sizeof(*cmds));
	*out = pl;
	return 0;
}

int tmpl_parse_operand(struct kfs_template *t, const struct tsrc *src, struct targ *out,
		       struct kfs_error *err)
{
	struct parser p = {.t = t, .src = src, .s = src->text, .len = src->len, .err = err};
	struct ttok k;
	tmpl_lex(p.s, p.len, &p.pos, &k);
	if (k.kind != K_FIELD && k.kind != K_VAR)
		return kfs_error_set(err, -EINVAL, "%s: '%s' is not a path like .spec.size",
				     src->name, src->text);
	int rc = parse_operand(&p, &k, out);
	if (!rc && p.pos != p.len)
		rc = kfs_error_set(err, -EINVAL, "%s: unexpected '%s' in path", src->name,
				   src->text + p.pos);
	return rc;
}

/* ---------- text and tags ---------- */

static bool space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Static text, with placeholder tokens turned into lookups (longest token first). */
static void emit_text(struct parser *p, struct tlist *l, size_t from, size_t to)
{
	const struct kfs_template *t = p->t;
	size_t seg = from, i = from;
	while (t->ntokens && i < to) {
		size_t k;
		for (k = 0; k < t->ntokens; k++)
			if (t->toklens[k] <= to - i && p->s[i] == t->tokens[k][0] &&
			    !memcmp(p->s + i, t->tokens[k], t->toklens[k]))
				break;
		if (k == t->ntokens) {
			i++;
			continue;
		}
		if (i > seg) {
			struct tnode *n = push(p, l, N_TEXT);
			n->text = p->s + seg, n->len = i - seg, n->pos = seg;
		}
		struct tnode *n = push(p, l, N_ACTION);
		n->pipe = t->tokpipes[k];
		n->placeholder = t->tokens[k];
		n->pos = i;
		i += t->toklens[k];
		seg = i;
	}
	if (to > seg) {
		struct tnode *n = push(p, l, N_TEXT);
		n->text = p->s + seg, n->len = to - seg, n->pos = seg;
	}
}

static int expect_close(struct parser *p)
{
	struct ttok k;
	tmpl_lex(p->s, p->len, &p->pos, &k);
	if (k.kind == K_CLOSE) {
		p->trim_next = k.trim;
		return 0;
	}
	if (k.kind == K_EOF)
		return perr(p, p->tag, "unclosed {{ (the tag never ends with }})");
	return perr(p, k.pos, "unexpected %.*s (expected }})", SPAN(p->s + k.pos, k.len ? k.len : 1));
}

static int parse_list(struct parser *p, struct tlist *l, enum term *term);

static const char *const kind_word[] = {[N_IF] = "if", [N_RANGE] = "range", [N_WITH] = "with"};

/* The rest of an if, range or with whose keyword was just read: pipeline, body, else, end. */
static int parse_control(struct parser *p, struct tlist *l, enum tnode_kind kind)
{
	struct tnode *n = push(p, l, kind);
	size_t open = p->tag;
	int rc = parse_pipeline(p, &n->pipe, K_CLOSE);
	if (rc)
		return rc;
	if (kind == N_RANGE && n->pipe->nvars && n->pipe->assign)
		return perr(p, n->pipe->pos, "range declares its variables with :=, not =");
	if (kind != N_RANGE && n->pipe->nvars == 2)
		return perr(p, n->pipe->pos, "only range declares two variables");
	if (++p->depth > MAX_NESTING)
		return perr(p, open, "nested deeper than %d", MAX_NESTING);
	enum term term;
	p->loops += kind == N_RANGE;
	rc = parse_list(p, &n->body, &term);
	p->loops -= kind == N_RANGE;
	if (!rc && term == TERM_ELSE) {
		size_t first_else = p->else_pos;
		rc = parse_list(p, &n->alt, &term);
		if (!rc && term != TERM_END && term != TERM_EOF) {
			p->tag = p->else_pos;
			char where[600];
			tmpl_where(p->src, first_else, where, sizeof(where));
			return perr(p, p->else_pos, "a second else after the one at %s", where);
		}
	} else if (!rc && (term == TERM_ELSE_IF || term == TERM_ELSE_WITH)) {
		if (kind == N_RANGE)
			return perr(p, p->tag, "range has no else if; write {{ else }}{{ if … }}");
		rc = parse_control(p, &n->alt, term == TERM_ELSE_IF ? N_IF : N_WITH);
		term = TERM_END;
	}
	p->depth--;
	if (rc)
		return rc;
	if (term == TERM_EOF) {
		p->tag = open;
		return perr(p, open, "{{ %s }} is never closed (add {{ end }})", kind_word[kind]);
	}
	return 0;
}

static int tag_name(struct parser *p, const char **name, const char *what)
{
	struct ttok k;
	tmpl_lex(p->s, p->len, &p->pos, &k);
	if (k.kind != K_STR)
		return perr(p, k.pos, "%s needs a \"name\"", what);
	struct kfs_buf b = {0};
	tmpl_unquote(p->s + k.pos, k.len, &b);
	*name = tarena_strndup(&p->t->arena, b.data ? b.data : "", b.len);
	kfs_buf_free(&b);
	return 0;
}

static int add_define(struct parser *p, const char *name, struct tlist **body)
{
	struct kfs_template *t = p->t;
	for (size_t i = 0; i < t->ndefines; i++)
		if (!strcmp(t->defines[i].name, name)) {
			char where[600];
			tmpl_where(t->defines[i].src, 0, where, sizeof(where));
			return perr(p, p->tag, "template \"%s\" is defined twice (also in %s)", name,
				    t->defines[i].src->name);
		}
	if (t->ndefines == t->capdefines) {
		t->capdefines = t->capdefines ? t->capdefines * 2 : 8;
		t->defines = kfs_xrealloc(t->defines, t->capdefines * sizeof(*t->defines));
	}
	struct tdefine *d = &t->defines[t->ndefines++];
	memset(d, 0, sizeof(*d));
	d->name = name;
	d->src = p->src;
	*body = &d->body;
	return 0;
}

/* define "name" … end, and block "name" pipeline … end (a define used in place). */
static int parse_define(struct parser *p, struct tlist *l, bool block)
{
	const char *name;
	size_t open = p->tag;
	if (!block && p->depth > 0)
		return perr(p, open, "define is only allowed at the top level, not inside a block");
	int rc = tag_name(p, &name, block ? "block" : "define");
	struct tpipe *pipe = NULL;
	if (!rc)
		rc = block ? parse_pipeline(p, &pipe, K_CLOSE) : expect_close(p);
	struct tlist body = {0};
	enum term term = TERM_EOF;
	p->depth++;
	if (!rc)
		rc = parse_list(p, &body, &term);
	p->depth--;
	if (!rc && term != TERM_END) {
		p->tag = term == TERM_EOF ? open : p->else_pos;
		return perr(p, p->tag, term == TERM_EOF ? "{{ define }} is never closed (add {{ end }})"
							: "else without if, with or range");
	}
	struct tlist *slot;
	p->tag = open;
	if (!rc)
		rc = add_define(p, name, &slot);
	if (rc)
		return rc;
	*slot = body;
	if (block) {
		struct tnode *n = push(p, l, N_TEMPLATE);
		n->pos = open;
		n->tname = name;
		n->pipe = pipe;
	}
	return 0;
}

static int parse_template(struct parser *p, struct tlist *l)
{
	struct tnode *n = push(p, l, N_TEMPLATE);
	int rc = tag_name(p, &n->tname, "template");
	if (rc)
		return rc;
	size_t save = p->pos;
	struct ttok k;
	tmpl_lex(p->s, p->len, &p->pos, &k);
	if (k.kind == K_CLOSE) {
		p->trim_next = k.trim;
		return 0;
	}
	p->pos = save;
	return parse_pipeline(p, &n->pipe, K_CLOSE);
}

/* The syntax of earlier template languages, refused with what to write instead. */
static int old_syntax(struct parser *p, size_t i)
{
	const char *s = p->s + i;
	if (!strncmp(s, "#if", 3))
		return perr(p, i, "{{#if …}} is not this language's syntax; write {{ if .x }} … {{ end }}");
	if (!strncmp(s, "#each", 5))
		return perr(p, i, "{{#each …}} is not this language's syntax; write {{ range .x }} … "
				  "{{ end }} (or {{ range $i, $x := .x }})");
	if (s[0] == '#')
		return perr(p, i, "sections ({{#…}}) are not this language's syntax; write {{ if … }}, "
				  "{{ range … }} or {{ with … }}, closed by {{ end }}");
	if (s[0] == '/')
		return perr(p, i, "%.*s closes nothing here; write {{ end }}",
			    SPAN(p->s + p->tag, tmpl_tag_len(p->src, p->tag)));
	return perr(p, i, "@index is not this language's syntax; write {{ range $i, $x := .list }} "
			  "and use $i");
}

static int parse_comment(struct parser *p, size_t i)
{
	const char *end = memmem(p->s + i + 2, p->len - i - 2, "*/", 2);
	if (!end)
		return perr(p, i, "unclosed comment (add */}})");
	p->pos = (size_t)(end - p->s) + 2;
	return expect_close(p);
}

/* A keyword tag; *handled is false when the tag is a pipeline. */
static int parse_keyword(struct parser *p, struct tlist *l, const struct ttok *k,
			 enum term *term, bool *handled)
{
	*handled = true;
	if (tok_is(p, k, "if"))
		return parse_control(p, l, N_IF);
	if (tok_is(p, k, "range"))
		return parse_control(p, l, N_RANGE);
	if (tok_is(p, k, "with"))
		return parse_control(p, l, N_WITH);
	if (tok_is(p, k, "define") || tok_is(p, k, "block"))
		return parse_define(p, l, p->s[k->pos] == 'b');
	if (tok_is(p, k, "template"))
		return parse_template(p, l);
	if (tok_is(p, k, "end") || tok_is(p, k, "else")) {
		*term = p->s[k->pos] == 'e' && p->s[k->pos + 1] == 'n' ? TERM_END : TERM_ELSE;
		p->else_pos = p->tag;
		size_t save = p->pos;
		struct ttok w;
		tmpl_lex(p->s, p->len, &p->pos, &w);
		if (*term == TERM_ELSE && (tok_is(p, &w, "if") || tok_is(p, &w, "with"))) {
			*term = p->s[w.pos] == 'i' ? TERM_ELSE_IF : TERM_ELSE_WITH;
			return 0;
		}
		p->pos = save;
		return expect_close(p);
	}
	if (tok_is(p, k, "break") || tok_is(p, k, "continue")) {
		if (!p->loops)
			return perr(p, k->pos, "%.*s outside range", SPAN(p->s + k->pos, k->len));
		push(p, l, p->s[k->pos] == 'b' ? N_BREAK : N_CONTINUE);
		return expect_close(p);
	}
	*handled = false;
	return 0;
}

/* The tag whose `{{` is at p->tag, with p->pos after the braces and the trim marker. */
static int parse_tag(struct parser *p, struct tlist *l, enum term *term)
{
	size_t i = p->pos;
	while (i < p->len && space(p->s[i]))
		i++;
	if (i + 1 < p->len && p->s[i] == '/' && p->s[i + 1] == '*')
		return parse_comment(p, i);
	if (i < p->len && (p->s[i] == '#' || p->s[i] == '/' || p->s[i] == '@'))
		return old_syntax(p, i);
	struct ttok k;
	size_t start = p->pos;
	tmpl_lex(p->s, p->len, &p->pos, &k);
	if (k.kind == K_IDENT) {
		bool handled;
		int rc = parse_keyword(p, l, &k, term, &handled);
		if (rc || handled)
			return rc;
	}
	if (k.kind == K_CLOSE)
		return perr(p, p->tag, "empty tag");
	p->pos = start;
	struct tnode *n = push(p, l, N_ACTION);
	return parse_pipeline(p, &n->pipe, K_CLOSE);
}

static int parse_list(struct parser *p, struct tlist *l, enum term *term)
{
	for (;;) {
		const char *open = memmem(p->s + p->pos, p->len - p->pos, "{{", 2);
		size_t from = p->pos, to = open ? (size_t)(open - p->s) : p->len;
		if (p->trim_next)
			while (from < to && space(p->s[from]))
				from++;
		p->trim_next = false;
		if (!open) {
			emit_text(p, l, from, to);
			*term = TERM_EOF;
			return 0;
		}
		size_t k = to + 2;
		if (k + 1 < p->len && p->s[k] == '-' && space(p->s[k + 1])) {
			while (to > from && space(p->s[to - 1]))
				to--;
			k++;
		}
		emit_text(p, l, from, to);
		p->tag = (size_t)(open - p->s);
		p->pos = k;
		*term = TERM_EOF;
		int rc = parse_tag(p, l, term);
		if (rc || *term != TERM_EOF)
			return rc;
	}
}

int tmpl_parse(struct kfs_template *t, const struct tsrc *src, struct tlist *list,
	       struct kfs_error *err)
{
	struct parser p = {.t = t, .src = src, .s = src->text, .len = src->len, .err = err};
	enum term term;
	int rc = parse_list(&p, list, &term);
	if (!rc && term != TERM_EOF)
		rc = perr(&p, p.else_pos, "%s without if, with or range%s",
			  term == TERM_END ? "end" : "else",
			  term == TERM_END ? " (remove it, or open a block before it)" : "");
	return rc;
}
