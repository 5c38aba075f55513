/* A growable byte buffer, always NUL-terminated, used for every text the core produces. */
#ifndef KRATIXFS_BUF_H
#define KRATIXFS_BUF_H

#include <stddef.h>

struct kfs_buf {
	char *data; /* NULL until the first append; data[len] == '\0' after it */
	size_t len;
	size_t cap;
};

/* Appends len bytes (aborts on out-of-memory, like every allocation in kratixfs). */
void kfs_buf_add(struct kfs_buf *b, const char *s, size_t len);
/* Appends a NUL-terminated string. */
void kfs_buf_adds(struct kfs_buf *b, const char *s);
/* Appends one byte. */
void kfs_buf_addc(struct kfs_buf *b, char c);
/* Appends n copies of byte c. */
void kfs_buf_fill(struct kfs_buf *b, char c, size_t n);
/* Appends printf-formatted text. */
void kfs_buf_printf(struct kfs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Makes room for extra more bytes (and the NUL), for a writer that fills data + len itself. */
void kfs_buf_reserve(struct kfs_buf *b, size_t extra);
/* Empties b, keeping its memory. */
void kfs_buf_reset(struct kfs_buf *b);
/* Hands the bytes to the caller (never NULL; "" when empty) and empties b. */
char *kfs_buf_steal(struct kfs_buf *b);
/* Frees b's memory. */
void kfs_buf_free(struct kfs_buf *b);
/* Appends n bytes as base64 (RFC 4648, padded). */
void kfs_buf_base64(struct kfs_buf *b, const void *data, size_t n);
/* Appends the bytes base64 text of len characters encodes; -1 if it is not base64. */
int kfs_buf_unbase64(struct kfs_buf *b, const char *text, size_t len);

/* Allocation helpers that abort with a message instead of returning NULL. */
void *kfs_xmalloc(size_t n);
void *kfs_xcalloc(size_t n, size_t size);
void *kfs_xrealloc(void *p, size_t n);
char *kfs_xstrdup(const char *s);
/* Frees a NULL-ended list of strings and each string (NULL is fine). */
void kfs_strv_free(char **v);
char *kfs_xstrndup(const char *s, size_t n);

#endif
