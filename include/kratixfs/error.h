/* Errors: every fallible function returns 0 or a negative errno-style code and fills a
 * struct kfs_error whose message names what a person must fix (field, file, line). */
#ifndef KRATIXFS_ERROR_H
#define KRATIXFS_ERROR_H

#include <stddef.h>

#define KFS_ERROR_MAX 4096

struct kfs_error {
	int code;                /* negative errno: -EINVAL rejected input, -EIO render failed ... */
	char msg[KFS_ERROR_MAX]; /* one line per problem, no trailing newline */
};

/* Sets err (if not NULL) to code and a formatted message; returns code. */
int kfs_error_set(struct kfs_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Appends one more line to err's message (keeping the first code set); returns err->code. */
int kfs_error_add(struct kfs_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes err's message with "<prefix>: " (e.g. the file it came from). */
void kfs_error_prefix(struct kfs_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Empties err. */
void kfs_error_clear(struct kfs_error *err);

/* Copies text into out (size bytes) with every URL's credentials masked: the "user:token" between
 * "://" and "@" becomes three stars. libgit2's errors quote a remote as given, and neither a log line nor
 * a status file may show a token. */
void kfs_mask_userinfo(const char *text, char *out, size_t size);

/* The Levenshtein distance between a (la bytes) and b (lb bytes), for "did you mean" hints;
 * (size_t)-1 when either is longer than 64 bytes. */
size_t kfs_edit_distance(const char *a, size_t la, const char *b, size_t lb);

#endif
