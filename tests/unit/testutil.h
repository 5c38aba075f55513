/* Helpers shared by the unit tests: scratch promise folders. */
#ifndef KRATIXFS_TESTUTIL_H
#define KRATIXFS_TESTUTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/buf.h"
#include "kratixfs/error.h"
#include "kratixfs/files.h"

/* A fresh scratch folder (freed and removed with tu_rmdir). */
static inline char *tu_mkdtemp(void)
{
	char tmpl[] = "/tmp/kratixfs-test-XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return strdup(d);
}

/* Writes text to dir/rel, creating folders. */
static inline void tu_write(const char *dir, const char *rel, const char *text)
{
	struct kfs_error err = {0};
	if (kfs_write_file(dir, rel, text, strlen(text), &err) != 0)
		fail_msg("%s", err.msg);
}

static inline void tu_rmdir(char *dir)
{
	struct kfs_error err = {0};
	assert_int_equal(kfs_remove_tree(dir, &err), 0);
	free(dir);
}

/* Runs a shell command and returns its standard output; a failing command fails the test. */
static inline char *tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline char *tu_sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	struct kfs_buf b = {0};
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		kfs_buf_add(&b, chunk, n);
	int st = pclose(p);
	if (st != 0)
		fail_msg("command failed (%d): %s\n%s", st, cmd, b.data ? b.data : "");
	return kfs_buf_steal(&b);
}

/* Asserts that haystack contains needle, printing both when it does not. */
#define assert_contains(haystack, needle)                                                          \
	do {                                                                                       \
		const char *h_ = (haystack), *n_ = (needle);                                       \
		if (!h_ || !strstr(h_, n_))                                                        \
			fail_msg("'%s' does not contain '%s'", h_ ? h_ : "(null)", n_);            \
	} while (0)

#endif
