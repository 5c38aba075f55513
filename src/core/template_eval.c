/* The template language's evaluator: walks the tree of tmpl.h over a request. Values are the
 * request's own nodes (never copied); what functions compute is kept in a list freed after
 * the render. A path that finds nothing is a "missing" value, an error wherever it is used
 * except as a condition and in the functions that take it (default, empty, coalesce…). */
#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template_funcs.h"
#include "template_lex.h"

#define MAX_CALLS 64

enum { RC_BREAK = 1, RC_CONTINUE = 2 };

struct tvar {
	const char *name;
	struct tval v;
};

struct teval {
	const struct kfs_template *t;
	const struct kfs_tcontext *ctx;
	struct kfs_buf *out;
	struct kfs_error *err;
	struct tvar *vars;
	size_t nvars, capvars, vbase;
	struct kfs_node **temps;
	size_t ntemps, captemps;
	struct tarena scratch; /* function results that are scalars, once local_scratch is full */
	size_t local_used;
	const struct tnode *node; /* the tag being evaluated */
	int calls;
	/* Last: left uninitialised by kfs_template_render. */
	struct tvar local[8];
	_Alignas(max_align_t) unsigned char local_scratch[1024];
};

static int eval_list(struct teval *e, const struct tlist *l, const struct tval *dot);
static int eval_pipe(struct teval *e, const struct tpipe *pl, const struct tval *dot,
		     struct tval *out);

int tmpl_fail(struct teval *e, size_t pos, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	const struct tnode *n = e->node;
	if (n->placeholder) {
		char where[512];
		tmpl_where(n->src, n->pos, where, sizeof(where));
		return kfs_error_set(e->err, -EIO, "%s: %s", where, msg);
	}
	return tmpl_error(e->err, -EIO, n->src, n->pos, pos, "%s", msg);
}

const struct kfs_node *tmpl_temp(struct teval *e, struct kfs_node *n)
{
	if (e->ntemps == e->captemps) {
		e->captemps = e->captemps ? e->captemps * 2 : 16;
		e->temps = kfs_xrealloc(e->temps, e->captemps * sizeof(*e->temps));
	}
	e->temps[e->ntemps++] = n;
	return n;
}

struct kfs_node *tmpl_scalar(struct teval *e, enum kfs_type type, const char *text, size_t len)
{
	size_t size = (sizeof(struct kfs_node) + len + 1 + sizeof(max_align_t) - 1) &
		      ~(sizeof(max_align_t) - 1);
	struct kfs_node *n;
	if (size <= sizeof(e->local_scratch) - e->local_used) {
		n = (struct kfs_node *)(e->local_scratch + e->local_used);
		e->local_used += size;
		memset(n, 0, sizeof(*n));
	} else {
		n = tarena_alloc(&e->scratch, size);
	}
	n->type = type;
	n->len = len;
	n->text = (char *)(n + 1);
	if (text)
		memcpy(n->text, text, len);
	n->text[len] = '\0';
	return n;
}

const char *tmpl_kind(const struct kfs_node *n)
{
	return n->type == KFS_MAP ? "a mapping" : n->type == KFS_SEQ ? "a list" : "a scalar";
}

bool tmpl_empty(const struct tval *v)
{
	return !v->n || !kfs_node_truthy(v->n);
}

bool tmpl_text(const struct kfs_node *n, const char **text, size_t *len)
{
	if (n->type == KFS_MAP || n->type == KFS_SEQ)
		return false;
	if (n->type == KFS_BOOL) {
		*text = kfs_node_truthy(n) ? "true" : "false";
		*len = strlen(*text);
	} else {
		*text = n->text;
		*len = n->len;
	}
	return true;
}

static bool ident_key(const char *k)
{
	if (!*k)
		return false;
	for (; *k; k++)
		if (!tmpl_is_key_char(*k))
			return false;
	return true;
}

/* "; did you mean .spec.size?" when a sibling key is one or two edits away. */
static void hint(const struct tval *v, char *out, size_t size)
{
	out[0] = '\0';
	const struct targ *a = v->miss;
	if (!v->parent || v->parent->type != KFS_MAP || !a->steps[v->failed].key)
		return;
	const struct tstep *st = &a->steps[v->failed];
	const char *best = NULL;
	size_t best_d = 3;
	for (size_t i = 0; i < v->parent->len; i++) {
		const char *k = v->parent->pairs[i].key;
		size_t d = kfs_edit_distance(st->key, st->len, k, strlen(k));
		if (d < best_d && d < st->len)
			best = k, best_d = d;
	}
	if (best && ident_key(best))
		snprintf(out, size, "; did you mean %.*s.%s?", (int)st->at, a->text, best);
	else if (best)
		snprintf(out, size, "; did you mean %.*s[\"%s\"]?", (int)st->at, a->text, best);
}

static int missing(struct teval *e, const struct tval *v)
{
	char h[300];
	hint(v, h, sizeof(h));
	if (e->node->placeholder)
		return tmpl_fail(e, 0, "placeholder %s (%s) is not defined (no default)%s",
				 e->node->placeholder, v->miss->text, h);
	return tmpl_fail(e, v->miss->pos, "%s is not defined (no default)%s", v->miss->text, h);
}

int tmpl_need(struct teval *e, const struct tcmd *c, const struct tval *v, const char *what)
{
	(void)c;
	(void)what;
	return v->n ? 0 : missing(e, v);
}

static const struct tval *find_var(const struct teval *e, const char *name)
{
	for (size_t i = e->nvars; i > e->vbase; i--)
		if (!strcmp(e->vars[i - 1].name, name))
			return &e->vars[i - 1].v;
	return NULL;
}

static void push_var(struct teval *e, const char *name, const struct tval *v)
{
	if (e->nvars == e->capvars) {
		/* The first 8 live on the render's stack: most renders declare none. */
		struct tvar *grown = kfs_xmalloc(e->capvars * 2 * sizeof(*grown));
		memcpy(grown, e->vars, e->nvars * sizeof(*grown));
		if (e->vars != e->local)
			free(e->vars);
		e->vars = grown;
		e->capvars *= 2;
	}
	e->vars[e->nvars].name = name;
	e->vars[e->nvars++].v = *v;
}

#define KEY_IS(st, word) ((st)->len == sizeof(word) - 1 && !memcmp((st)->key, word, (st)->len))

/* A path from its base: dot, a variable or the root; `.values`, `.promise` and `.workflow`
 * at the root are the reserved maps. */
static void walk(const struct teval *e, const struct targ *a, struct tval base,
		 struct tval *out);

static int eval_path(struct teval *e, const struct targ *a, const struct tval *dot,
		     struct tval *out)
{
	struct tval base = *dot;
	if (a->kind == A_VAR) {
		const struct tval *v = find_var(e, a->var);
		if (!v)
			return tmpl_fail(e, a->pos, "%s is not declared (write %s := … first)",
					 a->var, a->var);
		base = *v;
	}
	walk(e, a, base, out);
	return 0;
}

/* Follows a's steps from base; `.values`, `.promise`, `.workflow` at the root are reserved. */
static void walk(const struct teval *e, const struct targ *a, struct tval base,
		 struct tval *out)
{
	memset(out, 0, sizeof(*out));
	if (!base.n) {
		*out = base;
		return;
	}
	const struct kfs_node *cur = base.n;
	size_t i = 0;
	if (cur == e->ctx->root && a->nsteps > 0) {
		const struct tstep *st = &a->steps[0];
		bool v = st->key && KEY_IS(st, "values"), p = st->key && KEY_IS(st, "promise");
		if (v || p || (st->key && KEY_IS(st, "workflow"))) {
			cur = v ? e->ctx->values : p ? e->ctx->promise : e->ctx->workflow;
			i = 1;
			if (!cur) {
				out->miss = a;
				return;
			}
		}
	}
	for (; i < a->nsteps; i++) {
		const struct tstep *st = &a->steps[i];
		const struct kfs_node *next = NULL;
		if (st->key)
			next = kfs_map_getn(cur, st->key, st->len);
		else if (cur->type == KFS_SEQ && st->index < cur->len)
			next = cur->items[st->index];
		if (!next) {
			out->miss = a, out->parent = cur, out->failed = i;
			return;
		}
		cur = next;
	}
	out->n = cur;
	out->miss = a; /* also names a found value in messages (quote of a null) */
	out->safe = a->nsteps == 0 && base.safe;
}

static int eval_arg(struct teval *e, const struct targ *a, const struct tval *dot,
		    struct tval *out)
{
	switch (a->kind) {
	case A_FIELD:
	case A_VAR:
		return eval_path(e, a, dot, out);
	case A_CONST:
		*out = (struct tval){.n = a->lit, .safe = true};
		return 0;
	case A_PIPE: {
		int rc = eval_pipe(e, a->pipe, dot, out);
		if (!rc && a->nsteps) /* (pipeline).field */
			walk(e, a, *out, out);
		return rc;
	}
	case A_FUNC: {
		struct tcmd c = {.args = (struct targ *)a, .n = 1, .pos = a->pos};
		memset(out, 0, sizeof(*out));
		return a->fn->fn(e, &c, NULL, 0, out);
	}
	}
	return 0;
}

static int eval_cmd(struct teval *e, const struct tcmd *c, const struct tval *dot,
		    const struct tval *piped, struct tval *out)
{
	if (c->args[0].kind != A_FUNC)
		return eval_arg(e, &c->args[0], dot, out);
	const struct tfunc *fn = c->args[0].fn;
	struct tval args[33];
	size_t n = 0;
	for (size_t i = 1; i < c->n; i++) {
		int rc = eval_arg(e, &c->args[i], dot, &args[n]);
		if (rc)
			return rc;
		n++;
	}
	if (piped)
		args[n++] = *piped;
	for (size_t i = 0; i < n && !fn->missing_ok; i++)
		if (!args[i].n)
			return missing(e, &args[i]);
	memset(out, 0, sizeof(*out));
	return fn->fn(e, c, args, n, out);
}

static int eval_pipe(struct teval *e, const struct tpipe *pl, const struct tval *dot,
		     struct tval *out)
{
	struct tval v;
	for (size_t i = 0; i < pl->ncmds; i++) {
		int rc = eval_cmd(e, &pl->cmds[i], dot, i ? &v : NULL, &v);
		if (rc)
			return rc;
	}
	*out = v;
	return 0;
}

/* Runs a pipeline and binds its declared variable (not for range, which binds per item). */
static int eval_decl(struct teval *e, const struct tpipe *pl, const struct tval *dot,
		     struct tval *out)
{
	int rc = eval_pipe(e, pl, dot, out);
	if (rc || pl->nvars == 0)
		return rc;
	if (!pl->assign) {
		push_var(e, pl->vars[0], out);
		return 0;
	}
	struct tval *v = (struct tval *)find_var(e, pl->vars[0]);
	if (!v)
		return tmpl_fail(e, pl->pos, "%s is not declared; write %s := … to declare it",
				 pl->vars[0], pl->vars[0]);
	*v = *out;
	return 0;
}

/* The column where the next byte lands in the output line, in characters. */
static size_t out_column(const struct kfs_buf *out)
{
	size_t col = 0;
	for (size_t i = out->len; i > 0 && out->data[i - 1] != '\n'; i--)
		col += ((unsigned char)out->data[i - 1] & 0xc0) != 0x80;
	return col;
}

/* What a printed value is called in messages: its path, or "the value of {{ … }}". */
static const char *describe(const struct tpipe *pl, char *buf, size_t size)
{
	if (pl->ncmds == 1 && pl->cmds[0].n == 1 && pl->cmds[0].args[0].kind != A_FUNC)
		return pl->cmds[0].args[0].text;
	const struct tcmd *c = &pl->cmds[pl->ncmds - 1];
	snprintf(buf, size, "the result of %s", c->args[0].text);
	return buf;
}

/* The printed value's name in messages: the placeholder's path, or describe(). */
static const char *what_of(const struct teval *e, const struct tpipe *pl, char *buf, size_t size)
{
	return e->node->placeholder ? pl->cmds[0].args[0].text : describe(pl, buf, size);
}

/* Refuses text that would add YAML structure: a line break or control character, or a document
 * marker at the start of a line (counting the line's text before it). */
static int check_text(struct teval *e, const struct tpipe *pl, const char *text, size_t len)
{
	size_t clen;
	long cp;
	const char *ph = e->node->placeholder;
	char buf[128];
	if (kfs_yaml_unsafe(text, len, false, &clen, &cp) < len) {
		char name[96];
		kfs_yaml_char_name(cp, name, sizeof(name));
		if (ph)
			return tmpl_fail(e, 0,
					 "placeholder %s (%s) holds %s; a placeholder cannot be "
					 "quoted: write {{ %s | quote }}",
					 ph, what_of(e, pl, buf, sizeof(buf)), name, what_of(e, pl, buf, sizeof(buf)));
		return tmpl_fail(e, e->node->pos, "%s holds %s; use | quote", what_of(e, pl, buf, sizeof(buf)), name);
	}
	size_t ls = e->out->len;
	while (ls > 0 && e->out->data[ls - 1] != '\n')
		ls--;
	size_t before = e->out->len - ls;
	if (before < 3 && before + len >= 3) {
		char head[4] = "";
		if (before)
			memcpy(head, e->out->data + ls, before);
		memcpy(head + before, text, 3 - before);
		char next = before + len > 3 ? text[3 - before] : ' ';
		if ((!strcmp(head, "---") || !strcmp(head, "...")) && (next == ' ' || next == '\t'))
			return tmpl_fail(e, e->node->pos,
					 "%s would start a line with \"%s\", which YAML reads as a "
					 "document marker; use | quote",
					 what_of(e, pl, buf, sizeof(buf)), head);
	}
	return 0;
}

/* The quote function last in a printed pipeline writes straight into the output. */
static bool quote_last(const struct tpipe *pl)
{
	const struct tcmd *c = &pl->cmds[pl->ncmds - 1];
	return pl->ncmds > 1 && c->n == 1 && c->args[0].kind == A_FUNC &&
	       !strcmp(c->args[0].fn->name, "quote");
}

static int print_val(struct teval *e, const struct tpipe *pl, const struct tval *v, bool quote)
{
	char buf[128];
	const char *ph = e->node->placeholder;
	if (!v->n)
		return missing(e, v);
	if (v->n->type == KFS_NULL) {
		const char *what = v->miss ? v->miss->text : describe(pl, buf, sizeof(buf));
		if (ph)
			return tmpl_fail(e, 0, "placeholder %s (%s) is null (no default)", ph, what);
		return tmpl_fail(e, e->node->pos, "%s is null (no default)", what);
	}
	if (v->yaml) {
		kfs_doc_emit_at(v->n, out_column(e->out), e->out);
		return 0;
	}
	const char *text;
	size_t len;
	if (!tmpl_text(v->n, &text, &len)) {
		if (quote)
			return tmpl_fail(e, pl->cmds[pl->ncmds - 1].pos, "quote needs a string, not %s",
					 tmpl_kind(v->n));
		return tmpl_fail(e, e->node->pos,
				 "%s is %s; use | toYaml | nindent N, or | yaml at the column "
				 "where it belongs",
				 describe(pl, buf, sizeof(buf)), tmpl_kind(v->n));
	}
	if (quote) {
		kfs_yaml_quote(text, len, e->out);
		return 0;
	}
	if (!v->safe) {
		int rc = check_text(e, pl, text, len);
		if (rc)
			return rc;
	}
	kfs_buf_add(e->out, text, len);
	return 0;
}

/* An action: a pipeline printed, or a variable declared. */
static int eval_action(struct teval *e, const struct tpipe *pl, const struct tval *dot)
{
	struct tval v;
	if (pl->nvars || !quote_last(pl)) {
		int rc = eval_decl(e, pl, dot, &v);
		return rc || pl->nvars ? rc : print_val(e, pl, &v, false);
	}
	struct tpipe head = *pl;
	head.ncmds--;
	int rc = eval_pipe(e, &head, dot, &v);
	return rc ? rc : print_val(e, pl, &v, true);
}

static int eval_range_item(struct teval *e, const struct tnode *n, const struct tval *key,
			   const struct tval *item)
{
	size_t mark = e->nvars;
	const struct tpipe *pl = n->pipe;
	if (pl->nvars == 1)
		push_var(e, pl->vars[0], item);
	else if (pl->nvars == 2) {
		push_var(e, pl->vars[0], key);
		push_var(e, pl->vars[1], item);
	}
	int rc = eval_list(e, &n->body, item);
	e->nvars = mark;
	return rc;
}

static int cmp_keys(const void *a, const void *b)
{
	return strcmp((*(const struct kfs_pair *const *)a)->key,
		      (*(const struct kfs_pair *const *)b)->key);
}

static int eval_range_map(struct teval *e, const struct tnode *n, const struct kfs_node *m)
{
	const struct kfs_pair **sorted = kfs_xcalloc(m->len, sizeof(*sorted));
	for (size_t i = 0; i < m->len; i++)
		sorted[i] = &m->pairs[i];
	qsort(sorted, m->len, sizeof(*sorted), cmp_keys);
	int rc = 0;
	for (size_t i = 0; i < m->len && rc != RC_BREAK && rc >= 0; i++) {
		struct tval key = {.n = n->pipe->nvars == 2 ? tmpl_temp(e, kfs_node_new_str(
								      sorted[i]->key))
							     : NULL};
		struct tval item = {.n = sorted[i]->value};
		rc = eval_range_item(e, n, &key, &item);
	}
	free(sorted);
	return rc < 0 ? rc : 0;
}

static int eval_range(struct teval *e, const struct tnode *n, const struct tval *dot)
{
	struct tval v;
	int rc = eval_pipe(e, n->pipe, dot, &v);
	if (rc)
		return rc;
	if (v.n && v.n->type != KFS_SEQ && v.n->type != KFS_MAP && v.n->type != KFS_NULL)
		return tmpl_fail(e, n->pipe->pos, "range over %s, which is a scalar, not a list or a map",
				 describe(n->pipe, (char[128]){0}, 128));
	if (!v.n || v.n->type == KFS_NULL || v.n->len == 0)
		return eval_list(e, &n->alt, dot);
	if (v.n->type == KFS_MAP)
		return eval_range_map(e, n, v.n);
	for (size_t i = 0; i < v.n->len; i++) {
		struct tval key = {0};
		if (n->pipe->nvars == 2)
			fn_int(e, &key, (long long)i);
		struct tval item = {.n = v.n->items[i]};
		rc = eval_range_item(e, n, &key, &item);
		if (rc < 0)
			return rc;
		if (rc == RC_BREAK)
			break;
	}
	return 0;
}

static const struct tdefine *find_define(const struct kfs_template *t, const char *name)
{
	for (size_t i = 0; i < t->ndefines; i++)
		if (!strcmp(t->defines[i].name, name))
			return &t->defines[i];
	return NULL;
}

/* Renders the define `name` with dot into out: for {{ template }} and include. */
int tmpl_include(struct teval *e, const struct tcmd *c, const char *name,
		 const struct tval *dot, struct kfs_buf *out)
{
	const struct tdefine *d = find_define(e->t, name);
	if (!d)
		return tmpl_fail(e, c ? c->pos : e->node->pos,
				 "no template \"%s\" (define it with {{ define \"%s\" }} … {{ end }} "
				 "in templates/_helpers.tpl or this file)",
				 name, name);
	if (e->calls >= MAX_CALLS)
		return tmpl_fail(e, e->node->pos,
				 "templates call each other deeper than %d (\"%s\" includes itself?)",
				 MAX_CALLS, name);
	struct kfs_buf *saved_out = e->out;
	const struct tnode *saved_node = e->node;
	size_t saved_base = e->vbase, saved_n = e->nvars;
	struct tval d0 = *dot;
	if (!d0.n)
		d0.n = tmpl_temp(e, kfs_node_new(KFS_NULL));
	e->out = out;
	e->vbase = e->nvars;
	push_var(e, "$", &d0);
	e->calls++;
	int rc = eval_list(e, &d->body, &d0);
	e->calls--;
	e->out = saved_out;
	e->node = saved_node;
	e->vbase = saved_base;
	e->nvars = saved_n;
	return rc < 0 ? rc : 0;
}

static int eval_node(struct teval *e, const struct tnode *n, const struct tval *dot)
{
	struct tval v;
	int rc = 0;
	size_t mark = e->nvars;
	switch (n->kind) {
	case N_TEXT:
		kfs_buf_add(e->out, n->text, n->len);
		return 0;
	case N_ACTION:
		return eval_action(e, n->pipe, dot);
	case N_IF:
	case N_WITH:
		rc = eval_decl(e, n->pipe, dot, &v);
		if (!rc)
			rc = eval_list(e, tmpl_empty(&v) ? &n->alt : &n->body,
				       n->kind == N_WITH && !tmpl_empty(&v) ? &v : dot);
		e->nvars = mark;
		return rc;
	case N_RANGE:
		return eval_range(e, n, dot);
	case N_TEMPLATE:
		v = (struct tval){0};
		if (n->pipe && (rc = eval_pipe(e, n->pipe, dot, &v)))
			return rc;
		if (n->pipe && !v.n)
			return missing(e, &v);
		return tmpl_include(e, NULL, n->tname, &v, e->out);
	case N_BREAK:
		return RC_BREAK;
	case N_CONTINUE:
		return RC_CONTINUE;
	}
	return 0;
}

static int eval_list(struct teval *e, const struct tlist *l, const struct tval *dot)
{
	for (size_t i = 0; i < l->n; i++) {
		e->node = &l->items[i];
		int rc = eval_node(e, &l->items[i], dot);
		if (rc)
			return rc;
	}
	return 0;
}

int kfs_template_render(const struct kfs_template *t, const struct kfs_tcontext *ctx,
			struct kfs_buf *out, struct kfs_error *err)
{
	size_t start = out->len;
	if (t->verbatim) {
		kfs_buf_add(out, t->body.items ? t->body.items[0].text : "",
			    t->body.items ? t->body.items[0].len : 0);
		return 0;
	}
	struct teval e;
	/* The stack buffers at the end need no zeroing: only the fields before them. */
	memset(&e, 0, offsetof(struct teval, local));
	e.t = t, e.ctx = ctx, e.out = out, e.err = err;
	e.vars = e.local;
	e.capvars = sizeof(e.local) / sizeof(*e.local);
	struct tval root = {.n = ctx->root};
	push_var(&e, "$", &root);
	int rc = eval_list(&e, &t->body, &root);
	for (size_t i = 0; i < e.ntemps; i++)
		kfs_node_free(e.temps[i]);
	free(e.temps);
	tarena_free(&e.scratch);
	if (e.vars != e.local)
		free(e.vars);
	if (rc < 0 && out->data) {
		/* A failed render leaves out as it found it: no half-written file. */
		out->len = start;
		out->data[start] = '\0';
	}
	return rc < 0 ? rc : 0;
}

const struct kfs_node *kfs_template_lookup(const struct kfs_template *t,
					   const struct kfs_tcontext *ctx)
{
	if (t->verbatim || t->body.n != 1 || t->body.items[0].kind != N_ACTION)
		return NULL;
	const struct tpipe *pl = t->body.items[0].pipe;
	if (pl->nvars || pl->ncmds != 1 || pl->cmds[0].n != 1)
		return NULL;
	const struct targ *a = &pl->cmds[0].args[0];
	if (a->kind != A_FIELD && (a->kind != A_VAR || strcmp(a->var, "$") != 0))
		return NULL;
	struct teval e;
	memset(&e, 0, offsetof(struct teval, local));
	e.t = t, e.ctx = ctx, e.node = &t->body.items[0];
	struct tval root = {.n = ctx->root}, v;
	e.vars = e.local;
	e.capvars = sizeof(e.local) / sizeof(*e.local);
	push_var(&e, "$", &root);
	if (eval_path(&e, a, &root, &v) < 0)
		return NULL;
	return v.n && v.n->type != KFS_NULL ? v.n : NULL;
}
