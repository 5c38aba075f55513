/* The template language's string functions (sprig's names and semantics): formatting, case,
 * trimming, splitting, encodings, YAML and JSON, regular expressions (POSIX extended, with
 * \d, \w and \s as in RE2). A result holds request text unchecked ("unsafe") unless it went
 * through quote, squote, toYaml, toJson, b64enc or sha256sum: printed bare, it is checked for
 * characters that would add YAML structure. */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/hash.h"
#include "template_funcs.h"

FN(fn_tostring)
{
	(void)n;
	const char *t;
	size_t len;
	if (a[0].n->type == KFS_MAP || a[0].n->type == KFS_SEQ) {
		struct kfs_buf b = {0};
		tmpl_json(a[0].n, &b);
		fn_str(e, out, b.data, b.len, true);
		kfs_buf_free(&b);
		return 0;
	}
	int rc = fn_string(e, c, &a[0], &t, &len);
	return rc ? rc : fn_str(e, out, t, len, a[0].safe || a[0].n->type != KFS_STR);
}

/* fmt's %v of a value: scalars as text, null as <nil>. */
static int add_value(struct teval *e, const struct tcmd *c, const struct tval *v,
		     struct kfs_buf *b)
{
	const char *t;
	size_t len;
	if (v->n->type == KFS_NULL) {
		kfs_buf_adds(b, "<nil>");
		return 0;
	}
	int rc = fn_string(e, c, v, &t, &len);
	if (!rc)
		kfs_buf_add(b, t, len);
	return rc;
}

FN(fn_print)
{
	struct kfs_buf b = {0};
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		/* fmt.Sprint puts spaces between operands when neither is a string. */
		if (i > 0 && a[i].n->type != KFS_STR && a[i - 1].n->type != KFS_STR)
			kfs_buf_addc(&b, ' ');
		rc = add_value(e, c, &a[i], &b);
	}
	if (!rc)
		fn_str(e, out, b.data ? b.data : "", b.len, fn_all_safe(a, n));
	kfs_buf_free(&b);
	return rc;
}

/* One printf verb with its flags, width and precision (spec, NUL-terminated). */
static int printf_verb(struct teval *e, const struct tcmd *c, const char *spec, char verb,
		       const struct tval *v, struct kfs_buf *b)
{
	char fmt[40];
	const char *t;
	size_t len;
	double d;
	switch (verb) {
	case 'd':
	case 'x':
	case 'X':
	case 'o':
		snprintf(fmt, sizeof(fmt), "%%%sll%c", spec, verb);
		kfs_buf_printf(b, fmt, fn_toint(v->n));
		return 0;
	case 'f':
	case 'e':
	case 'g':
		snprintf(fmt, sizeof(fmt), "%%%s%c", spec, verb);
		kfs_buf_printf(b, fmt, kfs_node_number(v->n, &d) ? d : (double)fn_toint(v->n));
		return 0;
	case 'q':
		if (fn_string(e, c, v, &t, &len))
			return -EIO;
		kfs_yaml_quote(t, len, b);
		return 0;
	case 's':
	case 'v':
	case 't':
		if (v->n->type == KFS_MAP || v->n->type == KFS_SEQ) {
			tmpl_json(v->n, b);
			return 0;
		}
		if (!*spec)
			return add_value(e, c, v, b);
		if (fn_string(e, c, v, &t, &len))
			return -EIO;
		snprintf(fmt, sizeof(fmt), "%%%s.*s", spec);
		kfs_buf_printf(b, fmt, (int)len, t);
		return 0;
	}
	return tmpl_fail(e, c->pos, "printf: unknown verb %%%c (known: s d v q f x t %%)", verb);
}

FN(fn_printf)
{
	const char *f;
	size_t flen, next = 1;
	int rc = fn_string(e, c, &a[0], &f, &flen);
	struct kfs_buf b = {0};
	for (size_t i = 0; i < flen && !rc; i++) {
		if (f[i] != '%') {
			kfs_buf_addc(&b, f[i]);
			continue;
		}
		char spec[16];
		size_t k = 0;
		while (++i < flen && strchr("-+ #0123456789.", f[i]) && k + 1 < sizeof(spec))
			spec[k++] = f[i];
		spec[k] = '\0';
		if (i >= flen)
			rc = tmpl_fail(e, c->pos, "printf: the format ends with %%");
		else if (f[i] == '%')
			kfs_buf_addc(&b, '%');
		else if (next >= n)
			rc = tmpl_fail(e, c->pos, "printf: %%%c has no argument", f[i]);
		else
			rc = printf_verb(e, c, spec, f[i], &a[next++], &b);
	}
	if (!rc && next < n)
		rc = tmpl_fail(e, c->pos, "printf: %zu argument%s left over", n - next,
			       n - next > 1 ? "s" : "");
	if (!rc)
		fn_str(e, out, b.data ? b.data : "", b.len, fn_all_safe(a, n));
	kfs_buf_free(&b);
	return rc < 0 ? rc : rc ? -EIO : 0;
}

/* quote writes a YAML double-quoted scalar, safe for any content; squote wraps in '…' as sprig
 * does (YAML then reads '' as one quote), so its result is still checked. Several arguments
 * are quoted one by one and joined by spaces. */
FN(fn_quote)
{
	bool dq = fn_name(c)[0] == 'q';
	struct kfs_buf b = {0};
	for (size_t i = 0; i < n; i++) {
		const char *t;
		size_t len;
		if (a[i].n->type == KFS_NULL) {
			kfs_buf_free(&b);
			return tmpl_fail(e, c->pos, "%s is null (no default)",
					 a[i].miss ? a[i].miss->text : "the value");
		}
		int rc = fn_string(e, c, &a[i], &t, &len);
		if (rc) {
			kfs_buf_free(&b);
			return rc;
		}
		if (i)
			kfs_buf_addc(&b, ' ');
		if (dq) {
			kfs_yaml_quote(t, len, &b);
		} else {
			kfs_buf_addc(&b, '\'');
			kfs_buf_add(&b, t, len);
			kfs_buf_addc(&b, '\'');
		}
	}
	return fn_buf(e, out, &b, dq || fn_all_safe(a, n));
}

/* upper, lower (ASCII), title (the first letter of each word). */
FN(fn_case)
{
	(void)n;
	const char *t;
	size_t len;
	int rc = fn_string(e, c, &a[0], &t, &len);
	if (rc)
		return rc;
	struct kfs_node *r = tmpl_scalar(e, KFS_STR, t, len);
	char *s = r->text;
	char mode = fn_name(c)[0];
	bool word_start = true;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		bool letter = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
		if ((mode == 'u' || (mode == 't' && word_start)) && ch >= 'a' && ch <= 'z')
			s[i] = (char)(ch - 'a' + 'A');
		else if (mode == 'l' && ch >= 'A' && ch <= 'Z')
			s[i] = (char)(ch - 'A' + 'a');
		word_start = !letter && !(ch >= '0' && ch <= '9') && ch != '_' && ch != '\'' &&
			     !((unsigned char)ch & 0x80);
	}
	*out = (struct tval){.n = r, .safe = a[0].safe};
	return 0;
}

/* trim (blanks at both ends), trimPrefix p s, trimSuffix x s. */
FN(fn_trim)
{
	const char *t, *x = "";
	size_t len, xl = 0;
	int rc = fn_string(e, c, &a[n - 1], &t, &len);
	if (!rc && n == 2)
		rc = fn_string(e, c, &a[0], &x, &xl);
	if (rc)
		return rc;
	const char *name = fn_name(c);
	if (n == 1) {
		while (len && strchr(" \t\r\n\v\f", *t))
			t++, len--;
		while (len && strchr(" \t\r\n\v\f", t[len - 1]))
			len--;
	} else if (name[4] == 'P' && len >= xl && !memcmp(t, x, xl)) {
		t += xl, len -= xl;
	} else if (name[4] == 'S' && len >= xl && !memcmp(t + len - xl, x, xl)) {
		len -= xl;
	}
	return fn_str(e, out, t, len, a[n - 1].safe);
}

/* contains sub s, hasPrefix p s, hasSuffix x s. */
FN(fn_contains)
{
	(void)n;
	const char *x, *s;
	size_t xl, sl;
	int rc = fn_string(e, c, &a[0], &x, &xl);
	if (!rc)
		rc = fn_string(e, c, &a[1], &s, &sl);
	if (rc)
		return rc;
	const char *name = fn_name(c);
	if (name[0] == 'c')
		return fn_bool(out, memmem(s, sl, x, xl) != NULL);
	if (sl < xl)
		return fn_bool(out, false);
	return fn_bool(out, !memcmp(name[3] == 'P' ? s : s + sl - xl, x, xl));
}

/* replace old new s: every occurrence. */
FN(fn_replace)
{
	(void)n;
	const char *o, *w, *s;
	size_t ol, wl, sl;
	int rc = fn_string(e, c, &a[0], &o, &ol);
	if (!rc)
		rc = fn_string(e, c, &a[1], &w, &wl);
	if (!rc)
		rc = fn_string(e, c, &a[2], &s, &sl);
	if (rc)
		return rc;
	struct kfs_buf b = {0};
	for (size_t i = 0; i < sl;) {
		if (ol && i + ol <= sl && !memcmp(s + i, o, ol)) {
			kfs_buf_add(&b, w, wl);
			i += ol;
		} else {
			kfs_buf_addc(&b, s[i++]);
		}
	}
	return fn_buf(e, out, &b, fn_all_safe(a, 3));
}

/* trunc n s: the first n bytes, or the last -n. */
FN(fn_trunc)
{
	(void)n;
	long long k;
	const char *s;
	size_t sl;
	int rc = fn_number(e, c, &a[0], &k);
	if (!rc)
		rc = fn_string(e, c, &a[1], &s, &sl);
	if (rc)
		return rc;
	if (k >= 0 && (size_t)k < sl)
		sl = (size_t)k;
	else if (k < 0 && (size_t)-k < sl)
		s += sl - (size_t)-k, sl = (size_t)-k;
	return fn_str(e, out, s, sl, a[1].safe);
}

/* split sep s gives a map {_0: …, _1: …}; splitList sep s a list. */
FN(fn_split)
{
	(void)n;
	const char *sep, *s;
	size_t pl, sl;
	int rc = fn_string(e, c, &a[0], &sep, &pl);
	if (!rc)
		rc = fn_string(e, c, &a[1], &s, &sl);
	if (rc)
		return rc;
	bool list = fn_name(c)[5] == 'L';
	struct kfs_node *r = kfs_node_new(list ? KFS_SEQ : KFS_MAP);
	tmpl_temp(e, r);
	size_t start = 0, count = 0;
	for (size_t i = 0; i <= sl; i++) {
		bool cut = i == sl || (pl ? i + pl <= sl && !memcmp(s + i, sep, pl) : i > start);
		if (!cut || (!pl && i == sl && start == sl))
			continue;
		struct kfs_node *part = kfs_node_new_scalar(KFS_STR, s + start, i - start);
		if (list) {
			kfs_seq_append(r, part);
		} else {
			char key[32];
			snprintf(key, sizeof(key), "_%zu", count);
			kfs_map_set(r, key, part);
		}
		count++;
		start = i + (pl ? pl : 0);
		if (pl)
			i += pl - 1;
	}
	*out = (struct tval){.n = r, .safe = a[1].safe};
	return 0;
}

FN(fn_join)
{
	(void)n;
	const char *sep;
	size_t pl;
	int rc = fn_string(e, c, &a[0], &sep, &pl);
	if (rc)
		return rc;
	const struct kfs_node *l = a[1].n;
	struct kfs_buf b = {0};
	bool safe = fn_all_safe(a, 1) && a[1].safe;
	size_t count = l->type == KFS_SEQ ? l->len : 1;
	for (size_t i = 0; i < count && !rc; i++) {
		struct tval item = {.n = l->type == KFS_SEQ ? l->items[i] : l};
		if (i)
			kfs_buf_add(&b, sep, pl);
		rc = add_value(e, c, &item, &b);
	}
	if (!rc)
		fn_str(e, out, b.data ? b.data : "", b.len, safe);
	kfs_buf_free(&b);
	return rc;
}

/* indent n s: every line prefixed by n spaces; nindent: the same after a newline. */
FN(fn_indent)
{
	(void)n;
	long long k;
	const char *s;
	size_t sl;
	int rc = fn_number(e, c, &a[0], &k);
	if (!rc)
		rc = fn_string(e, c, &a[1], &s, &sl);
	if (rc)
		return rc;
	if (k < 0 || k > 1000)
		return tmpl_fail(e, c->pos, "%s %lld: the width must be 0 to 1000", fn_name(c), k);
	struct kfs_buf b = {0};
	if (fn_name(c)[0] == 'n')
		kfs_buf_addc(&b, '\n');
	kfs_buf_fill(&b, ' ', (size_t)k);
	for (size_t i = 0; i < sl; i++) {
		kfs_buf_addc(&b, s[i]);
		if (s[i] == '\n')
			kfs_buf_fill(&b, ' ', (size_t)k);
	}
	return fn_buf(e, out, &b, a[1].safe);
}

FN(fn_b64enc)
{
	(void)n;
	const char *s;
	size_t sl;
	int rc = fn_string(e, c, &a[0], &s, &sl);
	if (rc)
		return rc;
	struct kfs_buf b = {0};
	kfs_buf_base64(&b, s, sl);
	return fn_buf(e, out, &b, true);
}

FN(fn_b64dec)
{
	(void)n;
	const char *s;
	size_t sl;
	int rc = fn_string(e, c, &a[0], &s, &sl);
	if (rc)
		return rc;
	struct kfs_buf b = {0};
	if (kfs_buf_unbase64(&b, s, sl) < 0) {
		kfs_buf_free(&b);
		return tmpl_fail(e, c->pos, "b64dec: the value is not base64");
	}
	return fn_buf(e, out, &b, false);
}

FN(fn_sha256)
{
	(void)n;
	const char *s;
	size_t sl;
	int rc = fn_string(e, c, &a[0], &s, &sl);
	if (rc)
		return rc;
	char digest[KFS_DIGEST_LEN];
	kfs_sha256_digest(s, sl, digest);
	const char *hex = strchr(digest, ':');
	hex = hex ? hex + 1 : digest;
	return fn_str(e, out, hex, strlen(hex), true);
}

/* toYaml: block YAML without the final newline (as sprig); the result is printed as is. */
FN(fn_toyaml)
{
	(void)n, (void)c;
	struct kfs_buf b = {0};
	kfs_doc_emit(a[0].n, &b);
	while (b.len && b.data[b.len - 1] == '\n')
		b.len--;
	return fn_buf(e, out, &b, true);
}

FN(fn_tojson)
{
	(void)n, (void)c;
	struct kfs_buf b = {0};
	tmpl_json(a[0].n, &b);
	return fn_buf(e, out, &b, true);
}

FN(fn_fromyaml)
{
	(void)n;
	const char *s;
	size_t sl;
	int rc = fn_string(e, c, &a[0], &s, &sl);
	if (rc)
		return rc;
	struct kfs_node *doc = NULL;
	struct kfs_error err = {0};
	if (kfs_doc_parse(s, sl, "fromYaml", &doc, &err) < 0)
		return tmpl_fail(e, c->pos, "%s", err.msg);
	*out = (struct tval){.n = tmpl_temp(e, doc)};
	return 0;
}

/* yaml (kratixfs's): the value as block YAML, indented to the tag's column when printed. */
FN(fn_yaml)
{
	(void)e, (void)c, (void)n;
	*out = a[0];
	out->yaml = true;
	return 0;
}

FN(fn_include)
{
	const char *name;
	size_t len;
	int rc = fn_string(e, c, &a[0], &name, &len);
	if (rc)
		return rc;
	char *nm = kfs_xstrndup(name, len);
	struct kfs_buf b = {0};
	struct tval dot = n > 1 ? a[1] : (struct tval){0};
	rc = tmpl_include(e, c, nm, &dot, &b);
	if (!rc)
		fn_str(e, out, b.data ? b.data : "", b.len, true);
	kfs_buf_free(&b);
	free(nm);
	return rc;
}

/* RE2's \d, \w, \s (and upper-case negations) in POSIX extended syntax. */
static int compile_re(struct teval *e, const struct tcmd *c, const struct tval *v, regex_t *re)
{
	const char *s;
	size_t sl;
	int rc = fn_string(e, c, v, &s, &sl);
	if (rc)
		return rc;
	struct kfs_buf b = {0};
	for (size_t i = 0; i < sl; i++) {
		const char *cls = NULL;
		if (s[i] == '\\' && i + 1 < sl) {
			const char *m = strchr("dDwWsS", s[i + 1]);
			static const char *const classes[] = {"[0-9]", "[^0-9]", "[[:alnum:]_]",
							      "[^[:alnum:]_]", "[[:space:]]",
							      "[^[:space:]]"};
			if (m && s[i + 1])
				cls = classes[m - "dDwWsS"];
		}
		if (cls) {
			kfs_buf_adds(&b, cls);
			i++;
		} else {
			kfs_buf_addc(&b, s[i]);
		}
	}
	int r = regcomp(re, b.data ? b.data : "", REG_EXTENDED);
	kfs_buf_free(&b);
	if (r) {
		char msg[200];
		regerror(r, re, msg, sizeof(msg));
		regfree(re);
		return tmpl_fail(e, c->pos, "%s: bad regular expression %.*s: %s", fn_name(c),
				 SPAN(s, sl), msg);
	}
	return 0;
}

FN(fn_regex_match)
{
	(void)n;
	regex_t re;
	const char *s;
	size_t sl;
	int rc = fn_string(e, c, &a[1], &s, &sl);
	if (!rc)
		rc = compile_re(e, c, &a[0], &re);
	if (rc)
		return rc;
	char *text = kfs_xstrndup(s, sl);
	bool m = regexec(&re, text, 0, NULL, 0) == 0;
	free(text);
	regfree(&re);
	return fn_bool(out, m);
}

/* Appends repl with $1 / ${1} replaced by the groups of the match. */
static void expand(const char *repl, size_t rl, const char *text, const regmatch_t *m,
		   struct kfs_buf *b)
{
	for (size_t i = 0; i < rl; i++) {
		size_t j = i + 1;
		bool brace = j < rl && repl[j] == '{';
		j += brace;
		if (repl[i] != '$' || j >= rl || repl[j] < '0' || repl[j] > '9') {
			kfs_buf_addc(b, repl[i]);
			continue;
		}
		int g = repl[j] - '0';
		if (brace && (j + 1 >= rl || repl[j + 1] != '}')) {
			kfs_buf_addc(b, repl[i]);
			continue;
		}
		if (m[g].rm_so >= 0)
			kfs_buf_add(b, text + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so));
		i = j + brace;
	}
}

/* regexReplaceAll regex s repl. */
FN(fn_regex_replace)
{
	(void)n;
	regex_t re;
	const char *s, *r;
	size_t sl, rl;
	int rc = fn_string(e, c, &a[1], &s, &sl);
	if (!rc)
		rc = fn_string(e, c, &a[2], &r, &rl);
	if (!rc)
		rc = compile_re(e, c, &a[0], &re);
	if (rc)
		return rc;
	char *text = kfs_xstrndup(s, sl);
	struct kfs_buf b = {0};
	regmatch_t m[10];
	size_t at = 0, last_end = (size_t)-1;
	while (at <= sl && regexec(&re, text + at, 10, m, at ? REG_NOTBOL : 0) == 0) {
		kfs_buf_add(&b, text + at, (size_t)m[0].rm_so);
		/* As Go: an empty match right after the previous match is not replaced. */
		if (m[0].rm_eo != m[0].rm_so || at + (size_t)m[0].rm_so != last_end)
			expand(r, rl, text + at, m, &b);
		if (m[0].rm_eo != m[0].rm_so)
			last_end = at + (size_t)m[0].rm_eo;
		if (m[0].rm_eo == m[0].rm_so) {
			if (at + (size_t)m[0].rm_eo < sl)
				kfs_buf_addc(&b, text[at + (size_t)m[0].rm_eo]);
			at += (size_t)m[0].rm_eo + 1;
		} else {
			at += (size_t)m[0].rm_eo;
		}
	}
	if (at < sl)
		kfs_buf_add(&b, text + at, sl - at);
	fn_str(e, out, b.data ? b.data : "", b.len, fn_all_safe(a, 3));
	kfs_buf_free(&b);
	free(text);
	regfree(&re);
	return 0;
}

static void json_string(const char *s, size_t len, struct kfs_buf *b)
{
	kfs_buf_addc(b, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\')
			kfs_buf_addc(b, '\\'), kfs_buf_addc(b, (char)ch);
		else if (ch == '\n')
			kfs_buf_adds(b, "\\n");
		else if (ch == '\r')
			kfs_buf_adds(b, "\\r");
		else if (ch == '\t')
			kfs_buf_adds(b, "\\t");
		else if (ch < 0x20 || ch == '<' || ch == '>' || ch == '&')
			kfs_buf_printf(b, "\\u%04x", ch);
		else if (ch == 0xe2 && i + 2 < len && (unsigned char)s[i + 1] == 0x80 &&
			 ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9))
			kfs_buf_printf(b, "\\u%04x", 0x2000 + ((unsigned char)s[i + 2] - 0x80)),
			    i += 2;
		else
			kfs_buf_addc(b, (char)ch);
	}
	kfs_buf_addc(b, '"');
}

static int cmp_pair_keys(const void *a, const void *b)
{
	return strcmp(((const struct kfs_pair *)a)->key, ((const struct kfs_pair *)b)->key);
}

/* Compact JSON as Go's encoding/json writes it: keys sorted, <, > and & escaped. */
void tmpl_json(const struct kfs_node *n, struct kfs_buf *out)
{
	switch (n->type) {
	case KFS_NULL:
		kfs_buf_adds(out, "null");
		return;
	case KFS_BOOL:
		kfs_buf_adds(out, kfs_node_truthy(n) ? "true" : "false");
		return;
	case KFS_INT:
	case KFS_FLOAT:
		kfs_buf_add(out, n->text, n->len);
		return;
	case KFS_STR:
		json_string(n->text, n->len, out);
		return;
	case KFS_SEQ:
		kfs_buf_addc(out, '[');
		for (size_t i = 0; i < n->len; i++) {
			if (i)
				kfs_buf_addc(out, ',');
			tmpl_json(n->items[i], out);
		}
		kfs_buf_addc(out, ']');
		return;
	case KFS_MAP: {
		struct kfs_pair *sorted = kfs_xcalloc(n->len + 1, sizeof(*sorted));
		if (n->len)
			memcpy(sorted, n->pairs, n->len * sizeof(*sorted));
		qsort(sorted, n->len, sizeof(*sorted), cmp_pair_keys);
		kfs_buf_addc(out, '{');
		for (size_t i = 0; i < n->len; i++) {
			if (i)
				kfs_buf_addc(out, ',');
			json_string(sorted[i].key, strlen(sorted[i].key), out);
			kfs_buf_addc(out, ':');
			tmpl_json(sorted[i].value, out);
		}
		kfs_buf_addc(out, '}');
		free(sorted);
		return;
	}
	}
}
