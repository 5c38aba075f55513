/* Words and variables of Dockerfile instructions, as docker build's shell lexer reads them:
 * single quotes literal, double quotes with the escape character escaping ", $ and itself,
 * variables expanded outside single quotes. And the JSON exec form. */
#include "dockerfile_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void df_vars_set(struct df_vars *vars, const char *name, size_t nlen, const char *value)
{
	struct kfs_buf b = {0};
	kfs_buf_add(&b, name, nlen);
	kfs_buf_addc(&b, '=');
	kfs_buf_adds(&b, value);
	for (size_t i = 0; i < vars->n; i++)
		if (strncmp(vars->v[i], name, nlen) == 0 && vars->v[i][nlen] == '=') {
			free(vars->v[i]);
			vars->v[i] = kfs_buf_steal(&b);
			return;
		}
	vars->v = kfs_xrealloc(vars->v, (vars->n + 2) * sizeof(char *));
	vars->v[vars->n++] = kfs_buf_steal(&b);
	vars->v[vars->n] = NULL;
}

const char *df_vars_get(const struct df_vars *vars, const char *name, size_t nlen)
{
	for (size_t i = 0; vars && i < vars->n; i++)
		if (strncmp(vars->v[i], name, nlen) == 0 && vars->v[i][nlen] == '=')
			return vars->v[i] + nlen + 1;
	return NULL;
}

void df_vars_free(struct df_vars *vars)
{
	for (size_t i = 0; i < vars->n; i++)
		free(vars->v[i]);
	free(vars->v);
	vars->v = NULL;
	vars->n = 0;
}

void df_vars_copy(struct df_vars *to, const struct df_vars *from)
{
	for (size_t i = 0; i < from->n; i++) {
		const char *eq = strchr(from->v[i], '=');
		df_vars_set(to, from->v[i], (size_t)(eq - from->v[i]), eq + 1);
	}
}

/* The '}' closing the "${" whose '{' is at s, past any "${...}" nested in its word; NULL when
 * it never closes. */
static const char *closing_brace(const char *s)
{
	int depth = 0;
	for (const char *c = s; *c; c++) {
		if (*c == '{' && (c == s || c[-1] == '$'))
			depth++;
		else if (*c == '}' && --depth == 0)
			return c;
	}
	return NULL;
}

/* "${NAME<mod>word}" with v the variable's value (NULL when unset): ":-" and "-" give the word
 * when the variable is unset (":-" also when it is empty), ":+" and "+" the word when it is
 * set (":+" only when it is not empty). Any other modifier is kept as written. */
static void expand_modified(const char *whole, const char *mod, const char *close, char esc,
			    const struct df_vars *vars, const char *v, struct kfs_buf *out)
{
	bool colon = mod[0] == ':';
	char op = colon ? mod[1] : mod[0];
	const char *start = mod + (colon ? 2 : 1);
	if ((op != '-' && op != '+') || start > close) {
		kfs_buf_add(out, whole, (size_t)(close + 1 - whole));
		return;
	}
	bool set = v && (!colon || *v);
	char *word = kfs_xstrndup(start, (size_t)(close - start));
	char *w = df_expand(word, esc, vars);
	if (op == '-')
		kfs_buf_adds(out, set ? v : w);
	else
		kfs_buf_adds(out, set ? w : "");
	free(word);
	free(w);
}

/* Expands the variable at *p (just after '$') into out, moving *p past it. */
static void expand_var(const char **p, char esc, const struct df_vars *vars, struct kfs_buf *out)
{
	const char *s = *p;
	if (*s != '{') {
		size_t n = 0;
		while (isalnum((unsigned char)s[n]) || s[n] == '_')
			n++;
		if (!df_is_name(s, n)) {
			kfs_buf_addc(out, '$');
			return;
		}
		const char *v = df_vars_get(vars, s, n);
		if (v)
			kfs_buf_adds(out, v);
		else
			kfs_buf_printf(out, "${%.*s}", (int)n, s);
		*p = s + n;
		return;
	}
	const char *close = closing_brace(s);
	size_t n = 0;
	while (isalnum((unsigned char)s[1 + n]) || s[1 + n] == '_')
		n++;
	if (!close || !df_is_name(s + 1, n)) {
		kfs_buf_addc(out, '$');
		return;
	}
	const char *v = df_vars_get(vars, s + 1, n);
	const char *mod = s + 1 + n;
	*p = close + 1;
	if (mod == close) {
		if (v)
			kfs_buf_adds(out, v);
		else
			kfs_buf_add(out, s - 1, (size_t)(close + 1 - (s - 1)));
		return;
	}
	expand_modified(s - 1, mod, close, esc, vars, v, out);
}

char *df_expand(const char *s, char esc, const struct df_vars *vars)
{
	struct kfs_buf out = {0};
	bool single = false, dbl = false;
	for (const char *p = s; *p;) {
		char c = *p++;
		if (c == '\'' && !dbl)
			single = !single;
		if (c == '"' && !single)
			dbl = !dbl;
		if (!single && c == esc && *p) {
			kfs_buf_addc(&out, c);
			kfs_buf_addc(&out, *p++);
		} else if (!single && c == '$' && vars) {
			expand_var(&p, esc, vars, &out);
		} else {
			kfs_buf_addc(&out, c);
		}
	}
	return kfs_buf_steal(&out);
}

struct words {
	char **v;
	size_t n;
};

static void push(struct words *w, struct kfs_buf *cur)
{
	w->v = kfs_xrealloc(w->v, (w->n + 2) * sizeof(char *));
	w->v[w->n++] = kfs_buf_steal(cur);
	w->v[w->n] = NULL;
}

/* Reads a quoted part starting after its opening quote; -EINVAL when it never closes. */
static int quoted(const char **p, char q, char esc, const struct df_vars *vars,
		  struct kfs_buf *cur)
{
	const char *s = *p;
	while (*s && *s != q) {
		char c = *s++;
		if (q == '"' && c == esc && (*s == '"' || *s == '$' || *s == esc))
			kfs_buf_addc(cur, *s++);
		else if (q == '"' && c == '$' && vars)
			expand_var(&s, esc, vars, cur);
		else
			kfs_buf_addc(cur, c);
	}
	if (!*s)
		return -EINVAL;
	*p = s + 1;
	return 0;
}

int df_words(const char *s, char esc, const struct df_vars *vars, char ***out)
{
	struct words w = {0};
	struct kfs_buf cur = {0};
	bool in_word = false;
	const char *p = s;
	while (*p) {
		char c = *p++;
		if (isspace((unsigned char)c)) {
			if (in_word)
				push(&w, &cur);
			in_word = false;
			continue;
		}
		in_word = true;
		if ((c == '"' || c == '\'') && quoted(&p, c, esc, vars, &cur) < 0) {
			kfs_buf_free(&cur);
			kfs_strv_free(w.v);
			return -EINVAL;
		}
		if (c == '"' || c == '\'')
			kfs_buf_add(&cur, "", 0);
		else if (c == esc && *p)
			kfs_buf_addc(&cur, *p++);
		else if (c == '$' && vars)
			expand_var(&p, esc, vars, &cur);
		else
			kfs_buf_addc(&cur, c);
	}
	if (in_word)
		push(&w, &cur);
	kfs_buf_free(&cur);
	if (!w.v)
		w.v = kfs_xcalloc(1, sizeof(char *));
	*out = w.v;
	return 0;
}

/* The character a JSON escape "\\c" stands for (but \\u), or 0. */
static char json_escape(char c)
{
	switch (c) {
	case '"': return '"';
	case '\\': return '\\';
	case '/': return '/';
	case 'b': return '\b';
	case 'f': return '\f';
	case 'n': return '\n';
	case 'r': return '\r';
	case 't': return '\t';
	default: return 0;
	}
}

/* One JSON string starting at its opening quote; NULL when it is not one. */
static char *json_string(const char **p)
{
	const char *s = *p + 1;
	struct kfs_buf b = {0};
	kfs_buf_add(&b, "", 0);
	while (*s && *s != '"') {
		char c = *s++;
		if (c != '\\') {
			kfs_buf_addc(&b, c);
			continue;
		}
		char e = json_escape(*s);
		if (e) {
			kfs_buf_addc(&b, e);
			s++;
		} else if (*s == 'u' && isxdigit((unsigned char)s[1]) && strlen(s) >= 5) {
			unsigned cp = (unsigned)strtoul((char[]){s[1], s[2], s[3], s[4], 0}, NULL, 16);
			if (cp < 0x80)
				kfs_buf_addc(&b, (char)cp);
			else if (cp < 0x800)
				kfs_buf_printf(&b, "%c%c", 0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
			else
				kfs_buf_printf(&b, "%c%c%c", 0xe0 | (cp >> 12),
					       0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
			s += 5;
		} else {
			kfs_buf_free(&b);
			return NULL;
		}
	}
	if (*s != '"') {
		kfs_buf_free(&b);
		return NULL;
	}
	*p = s + 1;
	return kfs_buf_steal(&b);
}

int df_json_array(const char *s, char ***out)
{
	const char *p = s;
	while (isspace((unsigned char)*p))
		p++;
	if (*p++ != '[')
		return 0;
	struct words w = {0};
	w.v = kfs_xcalloc(1, sizeof(char *));
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == ']' && w.n == 0)
			break;
		char *str = *p == '"' ? json_string(&p) : NULL;
		if (!str)
			goto not_json;
		struct kfs_buf tmp = {.data = str, .len = strlen(str), .cap = strlen(str) + 1};
		push(&w, &tmp);
		while (isspace((unsigned char)*p))
			p++;
		if (*p == ']')
			break;
		if (*p++ != ',')
			goto not_json;
	}
	for (p++; isspace((unsigned char)*p); p++)
		;
	if (*p)
		goto not_json;
	*out = w.v;
	return 1;
not_json:
	kfs_strv_free(w.v);
	return 0;
}
