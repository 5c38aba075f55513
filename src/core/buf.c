#include "kratixfs/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void out_of_memory(size_t n)
{
	fprintf(stderr, "kratixfs: out of memory allocating %zu bytes\n", n);
	abort();
}

void *kfs_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		out_of_memory(n);
	return p;
}

void *kfs_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		out_of_memory(n * size);
	return p;
}

void *kfs_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		out_of_memory(n);
	return q;
}

char *kfs_xstrndup(const char *s, size_t n)
{
	char *p = kfs_xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *kfs_xstrdup(const char *s)
{
	return kfs_xstrndup(s, strlen(s));
}

void kfs_buf_reserve(struct kfs_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	b->data = kfs_xrealloc(b->data, cap);
	b->cap = cap;
}

void kfs_buf_add(struct kfs_buf *b, const char *s, size_t len)
{
	kfs_buf_reserve(b, len);
	if (len)
		memcpy(b->data + b->len, s, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void kfs_buf_adds(struct kfs_buf *b, const char *s)
{
	kfs_buf_add(b, s, strlen(s));
}

void kfs_buf_addc(struct kfs_buf *b, char c)
{
	kfs_buf_reserve(b, 1);
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
}

void kfs_buf_fill(struct kfs_buf *b, char c, size_t n)
{
	kfs_buf_reserve(b, n);
	memset(b->data + b->len, c, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void kfs_buf_printf(struct kfs_buf *b, const char *fmt, ...)
{
	/* Formats into the room there is, and once more only when that was too small. */
	kfs_buf_reserve(b, 64);
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->data[b->len] = '\0';
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		kfs_buf_reserve(b, (size_t)n);
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

void kfs_buf_reset(struct kfs_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

char *kfs_buf_steal(struct kfs_buf *b)
{
	char *p = b->data ? b->data : kfs_xstrdup("");
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

void kfs_buf_free(struct kfs_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static const char b64_abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void kfs_buf_base64(struct kfs_buf *b, const void *data, size_t n)
{
	const unsigned char *in = data;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);
		char q[4] = {b64_abc[v >> 18 & 63], b64_abc[v >> 12 & 63],
			     i + 1 < n ? b64_abc[v >> 6 & 63] : '=', i + 2 < n ? b64_abc[v & 63] : '='};
		kfs_buf_add(b, q, 4);
	}
}

int kfs_buf_unbase64(struct kfs_buf *b, const char *text, size_t len)
{
	if (len % 4)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		unsigned v = 0;
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			const char *p = text[i + k] ? strchr(b64_abc, text[i + k]) : NULL;
			if (text[i + k] == '=' && i + 4 == len && k >= 2) {
				pad++;
				v <<= 6;
				continue;
			}
			if (!p || pad)
				return -1;
			v = v << 6 | (unsigned)(p - b64_abc);
		}
		char out[3] = {(char)(v >> 16), (char)(v >> 8 & 255), (char)(v & 255)};
		kfs_buf_add(b, out, 3 - (size_t)pad);
	}
	kfs_buf_add(b, "", 0);
	return 0;
}

void kfs_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}
