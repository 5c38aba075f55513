#include "kratixfs/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void append_v(struct kfs_error *err, const char *fmt, va_list ap)
{
	size_t used = strlen(err->msg);
	if (used >= sizeof(err->msg) - 1)
		return;
	vsnprintf(err->msg + used, sizeof(err->msg) - used, fmt, ap);
}

int kfs_error_set(struct kfs_error *err, int code, const char *fmt, ...)
{
	if (!err)
		return code;
	va_list ap;
	err->code = code;
	err->msg[0] = '\0';
	va_start(ap, fmt);
	append_v(err, fmt, ap);
	va_end(ap);
	return code;
}

int kfs_error_add(struct kfs_error *err, int code, const char *fmt, ...)
{
	if (!err)
		return code;
	va_list ap;
	if (err->code == 0)
		err->code = code;
	size_t used = strlen(err->msg);
	if (used > 0 && used < sizeof(err->msg) - 1) {
		err->msg[used] = '\n';
		err->msg[used + 1] = '\0';
	}
	va_start(ap, fmt);
	append_v(err, fmt, ap);
	va_end(ap);
	return err->code;
}

void kfs_error_prefix(struct kfs_error *err, const char *fmt, ...)
{
	if (!err)
		return;
	char prefix[512];
	char rest[KFS_ERROR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(rest, err->msg, sizeof(rest));
	size_t plen = strlen(prefix);
	if (plen + 2 >= sizeof(err->msg))
		return;
	memcpy(err->msg, prefix, plen);
	memcpy(err->msg + plen, ": ", 2);
	size_t room = sizeof(err->msg) - plen - 3;
	size_t rlen = strnlen(rest, room);
	memcpy(err->msg + plen + 2, rest, rlen);
	err->msg[plen + 2 + rlen] = '\0';
}

void kfs_error_clear(struct kfs_error *err)
{
	if (!err)
		return;
	err->code = 0;
	err->msg[0] = '\0';
}

void kfs_mask_userinfo(const char *text, char *out, size_t size)
{
	size_t o = 0;
	for (const char *p = text; *p && o + 1 < size;) {
		if (strncmp(p, "://", 3) == 0) {
			size_t n = strcspn(p + 3, "@/ \"'");
			if (n > 0 && p[3 + n] == '@' && o + 7 < size) {
				memcpy(out + o, "://***", 6);
				o += 6;
				p += 3 + n;
				continue;
			}
		}
		out[o++] = *p++;
	}
	out[o] = '\0';
}

size_t kfs_edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
	size_t row[65];
	if (la > 64 || lb > 64)
		return (size_t)-1;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}
