/* The scanner of the fast YAML path (yaml_fast_scan.h): bytes, lines and scalars. */
#include "yaml_fast_scan.h"

#include "kratixfs/buf.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
bool kfs_fast_validate(struct fp *p)
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

void kfs_fast_next_line(struct fp *p)
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

bool kfs_fast_end_line(struct fp *p)
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

bool kfs_fast_scan_scalar(struct fp *p, bool flow, struct tok *t)
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

char *kfs_fast_tok_text(const struct fp *p, const struct tok *t, size_t *len)
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
