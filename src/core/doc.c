/* YAML text to trees and back: parsing takes the fast path (yaml_fast.c) when the text is within
 * its subset and libyaml (yaml_libyaml.c) otherwise; emitting writes the canonical form. */
#include "kratixfs/doc.h"

#include "kratixfs/files.h"
#include "yaml_fast.h"
#include "yaml_libyaml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kfs_doc_parse_stream(const char *buf, size_t len, const char *name, struct kfs_node ***docs,
			 size_t *ndocs, struct kfs_error *err)
{
	if (kfs_yaml_fast_parse(buf, len, docs, ndocs))
		return 0;
	return kfs_yaml_libyaml_parse(buf, len, name, docs, ndocs, err);
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
	return kfs_yaml_libyaml_check(buf, len, name, err);
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
