/* CRD patterns through PCRE2 (schema_pattern.h). The options follow what the API server accepts
 * and how it matches:
 * - UTF: patterns and values are UTF-8, and . or [^x] take one character, not one byte;
 *   \p{L} and the other Unicode properties work;
 * - no UCP: \d, \w, \s and \b keep their ASCII meanings, as in Go's regexp and ECMA-262's \d;
 * - DOLLAR_ENDONLY: $ is the end of the value only, not also before a final newline;
 * - escapes as Go writes them: \x{e9} is é; ECMA-262's \u00e9 is an error, as Go's regexp,
 *   and so the API server, rejects it;
 * - a match limit, so that a pattern that backtracks badly (^(a+)+$ on a long value) ends with
 *   an error instead of holding the writer.
 * {,n} is read as {0,n}, what promise authors mean by it (PCRE2 before 10.43 reads a literal). */
#include "schema_pattern.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/buf.h"

/* Backtracking steps one match may take: far more than any sane pattern needs on a field's
 * value, and a few milliseconds at worst. */
#define MATCH_LIMIT 200000
#define DEPTH_LIMIT 10000

struct kfs_pattern {
	pcre2_code *code;
	pcre2_match_context *mctx;
};

/* A copy of source with each {,n} quantifier (outside [...] and escapes) written {0,n}. */
static char *zero_lower_bounds(const char *source)
{
	struct kfs_buf b = {0};
	int in_class = 0;
	for (const char *p = source; *p; p++) {
		if (*p == '\\' && p[1]) {
			kfs_buf_add(&b, p, 2);
			p++;
			continue;
		}
		if (in_class && *p == ']')
			in_class = 0;
		else if (!in_class && *p == '[')
			in_class = 1;
		kfs_buf_addc(&b, *p);
		if (in_class || *p != '{' || p[1] != ',')
			continue;
		size_t d = strspn(p + 2, "0123456789");
		if (d > 0 && p[2 + d] == '}')
			kfs_buf_addc(&b, '0');
	}
	return kfs_buf_steal(&b);
}

static void error_text(int code, char *why, size_t whylen)
{
	if (pcre2_get_error_message(code, (PCRE2_UCHAR *)why, whylen) < 0)
		snprintf(why, whylen, "PCRE2 error %d", code);
}

struct kfs_pattern *kfs_pattern_compile(const char *source, char *why, size_t whylen)
{
	char *src = zero_lower_bounds(source);
	int code;
	PCRE2_SIZE offset;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED,
				       PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_BACKSLASH_C,
				       &code, &offset, NULL);
	free(src);
	if (!re) {
		error_text(code, why, whylen);
		size_t used = strlen(why);
		snprintf(why + used, whylen - used, " (at offset %zu)", (size_t)offset);
		return NULL;
	}
	pcre2_match_context *mctx = pcre2_match_context_create(NULL);
	if (!mctx) {
		pcre2_code_free(re);
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	pcre2_set_match_limit(mctx, MATCH_LIMIT);
	pcre2_set_depth_limit(mctx, DEPTH_LIMIT);
	struct kfs_pattern *p = kfs_xmalloc(sizeof(*p));
	p->code = re;
	p->mctx = mctx;
	return p;
}

int kfs_pattern_match(const struct kfs_pattern *p, const char *text, size_t len, char *why,
		      size_t whylen)
{
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	if (!md) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	int rc = pcre2_match(p->code, (PCRE2_SPTR)text, len, 0, 0, md, p->mctx);
	pcre2_match_data_free(md);
	if (rc >= 0)
		return 1;
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT)
		snprintf(why, whylen, "the pattern needs too many steps on this value");
	else
		error_text(rc, why, whylen);
	return -1;
}

void kfs_pattern_free(struct kfs_pattern *p)
{
	if (!p)
		return;
	pcre2_match_context_free(p->mctx);
	pcre2_code_free(p->code);
	free(p);
}
