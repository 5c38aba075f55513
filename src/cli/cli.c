#include "cli.h"

#include "kratixfs/files.h"

#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void cli_print_lines(const char *what, const char *text)
{
	while (*text) {
		const char *nl = strchr(text, '\n');
		int len = nl ? (int)(nl - text) : (int)strlen(text);
		fprintf(stderr, "kratixfs: %s: %.*s\n", what, len, text);
		text += len + (nl ? 1 : 0);
	}
}

void cli_print_warnings(const char *what, const char *warnings)
{
	const char *text = warnings ? warnings : "";
	while (*text) {
		const char *nl = strchr(text, '\n');
		int len = nl ? (int)(nl - text) : (int)strlen(text);
		fprintf(stderr, "kratixfs: %s: Warning: %.*s\n", what, len, text);
		text += len + (nl ? 1 : 0);
	}
}

void cli_report(const char *what, const struct kfs_error *err)
{
	if (err->msg[0])
		cli_print_lines(what, err->msg);
	else
		fprintf(stderr, "kratixfs: %s: failed (%s)\n", what, strerror(-err->code));
}

void cli_errorf(const char *fmt, ...)
{
	va_list ap;
	fputs("kratixfs: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_exit_code(int rc)
{
	if (rc == 0)
		return EXIT_OK;
	return rc == -EINVAL || rc == -EFBIG || rc == -ENOENT ? EXIT_REJECTED : EXIT_FAILED;
}

int cli_read_limited(const char *path, size_t max, struct kfs_buf *out, struct kfs_error *err)
{
	struct stat st;
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size > max)
		return kfs_error_set(err, -EFBIG,
				     "%s: %lld bytes is larger than the %zu-byte limit (--max-input)",
				     path, (long long)st.st_size, max);
	int rc = kfs_read_file(path, out, err);
	if (rc == 0 && out->len > max)
		return kfs_error_set(err, -EFBIG, "%s: larger than the %zu-byte limit (--max-input)",
				     path, max);
	return rc;
}

int cli_read_stdin(size_t max, struct kfs_buf *out, struct kfs_error *err)
{
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
		kfs_buf_add(out, chunk, n);
		/* Stops reading at the limit: a stream has no size to check first. */
		if (out->len > max)
			return kfs_error_set(err, -EFBIG,
					     "stdin: larger than the %zu-byte limit (--max-input)", max);
	}
	if (ferror(stdin))
		return kfs_error_set(err, -EIO, "stdin: %s", strerror(errno));
	if (!out->data)
		kfs_buf_adds(out, "");
	return 0;
}

/* Handles -h/--help and -V/--version for a sub-command; returns -1 when neither was given. */
int cli_common_option(const char *arg, const char *help)
{
	if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
		fputs(help, stdout);
		return EXIT_OK;
	}
	if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0) {
		printf("kratixfs %s\n", KFS_VERSION);
		return EXIT_OK;
	}
	return -1;
}

/* Whether msg at i starts a path relative to a promise folder: one of the folder's own names,
 * at the start of the text or after a space, '(', a quote or a newline, and not already
 * inside a longer path. */
static bool promise_path_at(const char *msg, size_t i)
{
	static const char *const starts[] = {"workflows/", "internal/", "promise.yaml",
					     "api.yaml", "dependencies.yaml", NULL};
	if (i > 0 && !strchr(" (\"'\n", msg[i - 1]))
		return false;
	for (const char *const *s = starts; *s; s++)
		if (strncmp(msg + i, *s, strlen(*s)) == 0)
			return true;
	return false;
}

void cli_promise_paths(const char *dir, const char *msg, struct kfs_buf *out)
{
	bool here = !dir || !*dir || strcmp(dir, ".") == 0 || strcmp(dir, "./") == 0;
	size_t dlen = dir ? strlen(dir) : 0;
	while (dlen > 1 && dir[dlen - 1] == '/')
		dlen--;
	for (size_t i = 0; msg[i]; i++) {
		if (!here && promise_path_at(msg, i))
			kfs_buf_printf(out, "%.*s/", (int)dlen, dir);
		kfs_buf_addc(out, msg[i]);
	}
}

void cli_report_in(const char *what, const char *dir, const struct kfs_error *err)
{
	if (!err->msg[0]) {
		cli_report(what, err);
		return;
	}
	struct kfs_buf text = {0};
	cli_promise_paths(dir, err->msg, &text);
	cli_print_lines(what, text.data);
	kfs_buf_free(&text);
}

int cli_parse_max_input(const char *arg, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(arg, &end, 10);
	if (errno || *end || !*arg || *arg == '-' || n == 0 || n > SIZE_MAX) {
		cli_errorf("--max-input: \"%s\" is not a positive number of bytes (write e.g. "
			   "--max-input 1048576)",
			   arg);
		return -1;
	}
	*out = (size_t)n;
	return 0;
}
