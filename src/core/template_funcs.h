/* Private to the template language: what template_funcs.c and template_strfuncs.c share. */
#ifndef KRATIXFS_TEMPLATE_FUNCS_H
#define KRATIXFS_TEMPLATE_FUNCS_H

#include "tmpl.h"

int fn_bool(struct tval *out, bool v);
int fn_int(struct teval *e, struct tval *out, long long v);
int fn_str(struct teval *e, struct tval *out, const char *text, size_t len, bool safe);
/* fn_str of b's bytes; frees b. */
int fn_buf(struct teval *e, struct tval *out, struct kfs_buf *b, bool safe);
const char *fn_name(const struct tcmd *c);
/* A scalar's text (null is ""); a mapping or list is an error naming the function. */
int fn_string(struct teval *e, const struct tcmd *c, const struct tval *v, const char **text,
	      size_t *len);
long long fn_toint(const struct kfs_node *n);
int fn_number(struct teval *e, const struct tcmd *c, const struct tval *v, long long *out);
/* Whether the strings among a hold no request text that must be checked when printed. */
bool fn_all_safe(const struct tval *a, size_t n);

#define FN(name)                                                                              \
	int name(struct teval *e, const struct tcmd *c, struct tval *a, size_t n,             \
		 struct tval *out)
FN(fn_b64dec);
FN(fn_b64enc);
FN(fn_contains);
FN(fn_fromyaml);
FN(fn_include);
FN(fn_indent);
FN(fn_join);
FN(fn_case);
FN(fn_print);
FN(fn_printf);
FN(fn_quote);
FN(fn_regex_match);
FN(fn_regex_replace);
FN(fn_replace);
FN(fn_sha256);
FN(fn_split);
FN(fn_tojson);
FN(fn_tostring);
FN(fn_toyaml);
FN(fn_trim);
FN(fn_trunc);
FN(fn_yaml);

#endif
