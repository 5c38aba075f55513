/* Private to the template language: the lexer and the error helpers the parser shares. */
#ifndef KRATIXFS_TEMPLATE_LEX_H
#define KRATIXFS_TEMPLATE_LEX_H

#include "tmpl.h"

enum ttok_kind {
	K_CLOSE, /* `}}` or ` -}}` */
	K_IDENT,
	K_FIELD, /* `.`, `.a.b["k"][0]` */
	K_VAR,	 /* `$`, `$x`, `$x.a` */
	K_STR,
	K_NUM,
	K_LP,
	K_RP,
	K_PIPE,
	K_DECL,	  /* := */
	K_ASSIGN, /* = */
	K_COMMA,
	K_BAD,
	K_BADPATH, /* a path with an empty key or a bad [ ] */
	K_UNTERMINATED,
	K_EOF,
};

struct ttok {
	enum ttok_kind kind;
	size_t pos, len;
	bool trim; /* ` -}}` */
};

/* The token at *pos (after blanks and newlines); *pos moves past it. */
void tmpl_lex(const char *s, size_t len, size_t *pos, struct ttok *t);
int tmpl_unquote(const char *s, size_t len, struct kfs_buf *out);
void tmpl_utf8(unsigned v, struct kfs_buf *out);
bool tmpl_is_key_char(char c);
/* Bytes of the tag at pos to quote in a message. */
size_t tmpl_tag_len(const struct tsrc *src, size_t pos);
/* "name:line:col: msg (in {{ tag }})"; returns code. */
int tmpl_error(struct kfs_error *err, int code, const struct tsrc *src, size_t tag, size_t pos,
	       const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#endif
