/* The template language's arena, positions and lexer: the tokens inside a `{{ … }}` action. */
#include "template_lex.h"

#include <errno.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tchunk {
	struct tchunk *next;
	size_t used, cap;
	alignas(max_align_t) unsigned char data[];
};

void *tarena_alloc(struct tarena *a, size_t n)
{
	n = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
	struct tchunk *c = a->head;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > 4096 ? n : 4096;
		c = kfs_xmalloc(sizeof(*c) + cap);
		c->cap = cap;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	void *p = c->data + c->used;
	c->used += n;
	memset(p, 0, n);
	return p;
}

char *tarena_strndup(struct tarena *a, const char *s, size_t n)
{
	char *p = tarena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void tarena_free(struct tarena *a)
{
	while (a->head) {
		struct tchunk *next = a->head->next;
		free(a->head);
		a->head = next;
	}
}

void tmpl_where(const struct tsrc *src, size_t pos, char *out, size_t size)
{
	int line = 1, col = 1;
	for (size_t i = 0; i < pos && i < src->len; i++) {
		if (src->text[i] == '\n') {
			line++;
			col = 1;
		} else if (((unsigned char)src->text[i] & 0xc0) != 0x80) {
			col++;
		}
	}
	snprintf(out, size, "%s:%d:%d", src->name, line, col);
}

size_t tmpl_tag_len(const struct tsrc *src, size_t pos)
{
	const char *s = src->text + pos, *end = src->text + src->len;
	const char *close = memmem(s, (size_t)(end - s), "}}", 2);
	size_t n = close ? (size_t)(close - s) + 2 : (size_t)(end - s);
	const char *nl = memchr(s, '\n', n);
	if (nl)
		n = (size_t)(nl - s);
	return n > 72 ? 72 : n;
}

int tmpl_error(struct kfs_error *err, int code, const struct tsrc *src, size_t tag, size_t pos,
	       const char *fmt, ...)
{
	char where[512], msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	tmpl_where(src, pos, where, sizeof(where));
	size_t n = tmpl_tag_len(src, tag);
	const char *more = tag + n < src->len && src->text[tag + n - 1] != '}' ? "…" : "";
	return kfs_error_set(err, code, "%s: %s (in %.*s%s)", where, msg, SPAN(src->text + tag, n),
			     more);
}

static bool is_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool tmpl_is_key_char(char c)
{
	return is_letter(c) || is_digit(c) || c == '-';
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A string in brackets or quotes: *i on the quote, left after the closing one. */
static int skip_string(const char *s, size_t len, size_t *i)
{
	char q = s[*i];
	size_t j = *i + 1;
	while (j < len && s[j] != q && (q == '`' || s[j] != '\n')) {
		if (q == '"' && s[j] == '\\' && j + 1 < len)
			j++;
		j++;
	}
	if (j >= len || s[j] != q)
		return -1;
	*i = j + 1;
	return 0;
}

/* `.a.b["k"][0]` after the base (a dot or a variable); stops at anything else. */
static int skip_chain(const char *s, size_t len, size_t *i)
{
	for (;;) {
		if (*i + 1 < len && s[*i] == '.' && s[*i + 1] == '.') {
			*i += 1;
			return -1;
		}
		if (*i < len && s[*i] == '.' && *i + 1 < len && tmpl_is_key_char(s[*i + 1])) {
			(*i)++;
			while (*i < len && tmpl_is_key_char(s[*i]))
				(*i)++;
		} else if (*i < len && s[*i] == '[') {
			(*i)++;
			if (*i < len && s[*i] == '"') {
				if (skip_string(s, len, i))
					return -1;
			} else {
				while (*i < len && is_digit(s[*i]))
					(*i)++;
			}
			if (*i >= len || s[*i] != ']')
				return -1;
			(*i)++;
		} else {
			return 0;
		}
	}
}

static void lex_number(const char *s, size_t len, size_t *i)
{
	if (s[*i] == '-' || s[*i] == '+')
		(*i)++;
	while (*i < len && (is_digit(s[*i]) || is_letter(s[*i]) || s[*i] == '.'))
		(*i)++;
}

void tmpl_lex(const char *s, size_t len, size_t *pos, struct ttok *t)
{
	size_t i = *pos;
	while (i < len && is_space(s[i]))
		i++;
	t->pos = i;
	t->trim = false;
	if (i >= len) {
		t->kind = K_EOF;
	} else if (s[i] == '}' && i + 1 < len && s[i + 1] == '}') {
		t->kind = K_CLOSE, i += 2;
	} else if (s[i] == '-' && i + 2 < len && s[i + 1] == '}' && s[i + 2] == '}' &&
		   i > 0 && is_space(s[i - 1])) {
		t->kind = K_CLOSE, t->trim = true, i += 3;
	} else if (s[i] == '.' && (i + 1 >= len || !is_digit(s[i + 1]))) {
		i++;
		if (i < len && s[i] == '.') {
			t->kind = K_BADPATH;
			i++;
		} else {
			if (i < len && tmpl_is_key_char(s[i])) {
				while (i < len && tmpl_is_key_char(s[i]))
					i++;
			}
			t->kind = skip_chain(s, len, &i) ? K_BADPATH : K_FIELD;
		}
	} else if (s[i] == '$') {
		i++;
		while (i < len && (is_letter(s[i]) || is_digit(s[i])))
			i++;
		t->kind = skip_chain(s, len, &i) ? K_BADPATH : K_VAR;
	} else if (s[i] == '"' || s[i] == '`') {
		t->kind = skip_string(s, len, &i) ? K_UNTERMINATED : K_STR;
		if (t->kind == K_UNTERMINATED)
			i = len;
	} else if (is_digit(s[i]) || ((s[i] == '-' || s[i] == '+' || s[i] == '.') &&
				      i + 1 < len && is_digit(s[i + 1]))) {
		lex_number(s, len, &i);
		t->kind = K_NUM;
	} else if (is_letter(s[i])) {
		while (i < len && (is_letter(s[i]) || is_digit(s[i])))
			i++;
		t->kind = K_IDENT;
	} else if (s[i] == ':' && i + 1 < len && s[i + 1] == '=') {
		t->kind = K_DECL, i += 2;
	} else {
		static const char singles[] = "()|,=";
		static const enum ttok_kind kinds[] = {K_LP, K_RP, K_PIPE, K_COMMA, K_ASSIGN};
		const char *k = strchr(singles, s[i]);
		t->kind = k ? kinds[k - singles] : K_BAD;
		i++;
	}
	t->len = i - t->pos;
	*pos = i;
}

/* Go's escapes in a double-quoted string; a raw (backquoted) string is taken as is. */
int tmpl_unquote(const char *s, size_t len, struct kfs_buf *out)
{
	if (s[0] == '`') {
		kfs_buf_add(out, s + 1, len - 2);
		return 0;
	}
	for (size_t i = 1; i + 1 < len; i++) {
		if (s[i] != '\\') {
			kfs_buf_addc(out, s[i]);
			continue;
		}
		char c = s[++i];
		const char *map = strchr("n\nt\tr\r\\\\\"\"''a\ab\bf\fv\v0\0", c);
		if (c == 'x' && i + 2 < len) {
			unsigned v;
			if (sscanf(s + i + 1, "%2x", &v) != 1)
				return -1;
			kfs_buf_addc(out, (char)v);
			i += 2;
		} else if ((c == 'u' && i + 4 < len) || (c == 'U' && i + 8 < len)) {
			unsigned v;
			int w = c == 'u' ? 4 : 8;
			char hex[9] = {0};
			memcpy(hex, s + i + 1, (size_t)w);
			if (sscanf(hex, "%x", &v) != 1 || v > 0x10ffff)
				return -1;
			tmpl_utf8(v, out);
			i += (size_t)w;
		} else if (map && ((map - "n\nt\tr\r\\\\\"\"''a\ab\bf\fv\v0\0") % 2) == 0) {
			kfs_buf_addc(out, map[1]);
		} else {
			return -1;
		}
	}
	return 0;
}

void tmpl_utf8(unsigned v, struct kfs_buf *out)
{
	if (v < 0x80) {
		kfs_buf_addc(out, (char)v);
	} else if (v < 0x800) {
		kfs_buf_addc(out, (char)(0xc0 | (v >> 6)));
		kfs_buf_addc(out, (char)(0x80 | (v & 0x3f)));
	} else if (v < 0x10000) {
		kfs_buf_addc(out, (char)(0xe0 | (v >> 12)));
		kfs_buf_addc(out, (char)(0x80 | ((v >> 6) & 0x3f)));
		kfs_buf_addc(out, (char)(0x80 | (v & 0x3f)));
	} else {
		kfs_buf_addc(out, (char)(0xf0 | (v >> 18)));
		kfs_buf_addc(out, (char)(0x80 | ((v >> 12) & 0x3f)));
		kfs_buf_addc(out, (char)(0x80 | ((v >> 6) & 0x3f)));
		kfs_buf_addc(out, (char)(0x80 | (v & 0x3f)));
	}
}
