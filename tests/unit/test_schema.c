#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/schema.h"

static struct kfs_node *parse(const char *yaml)
{
	struct kfs_node *n = NULL;
	struct kfs_error err = {0};
	int rc = kfs_doc_parse(yaml, strlen(yaml), "test.yaml", &n, &err);
	if (rc != 0)
		fail_msg("parse: %s", err.msg);
	return n;
}

static struct kfs_schema *compile_w(const char *yaml, struct kfs_buf *warnings)
{
	struct kfs_node *n = parse(yaml);
	struct kfs_schema *s = NULL;
	struct kfs_error err = {0};
	int rc = kfs_schema_compile(n, warnings, &s, &err);
	kfs_node_free(n);
	if (rc != 0)
		fail_msg("compile: %s", err.msg);
	return s;
}

static struct kfs_schema *compile(const char *yaml)
{
	struct kfs_buf w = {0};
	struct kfs_schema *s = compile_w(yaml, &w);
	assert_int_equal(w.len, 0);
	kfs_buf_free(&w);
	return s;
}

/* Applies s to the document text; *out keeps the resulting tree. */
static int apply(const struct kfs_schema *s, const char *yaml, struct kfs_node **out,
		 struct kfs_error *err)
{
	kfs_error_clear(err);
	*out = parse(yaml);
	return kfs_schema_apply(s, *out, NULL, err);
}

/* Applies s to the document text, which must pass; returns the resulting tree. */
static struct kfs_node *apply_ok(const struct kfs_schema *s, const char *yaml)
{
	struct kfs_node *doc;
	struct kfs_error err = {0};
	if (apply(s, yaml, &doc, &err) != 0)
		fail_msg("expected success for %s, got %s", yaml, err.msg);
	return doc;
}

static void expect_ok(const struct kfs_schema *s, const char *yaml)
{
	kfs_node_free(apply_ok(s, yaml));
}

/* Expects a failure whose message is exactly msg (all lines). */
static void expect_err(const struct kfs_schema *s, const char *yaml, const char *msg)
{
	struct kfs_node *doc;
	struct kfs_error err = {0};
	assert_int_equal(apply(s, yaml, &doc, &err), -EINVAL);
	assert_int_equal(err.code, -EINVAL);
	assert_string_equal(err.msg, msg);
	kfs_node_free(doc);
}

static const char *const typed_schema =
    "type: object\n"
    "properties:\n"
    "  spec:\n"
    "    type: object\n"
    "    properties:\n"
    "      name: {type: string}\n"
    "      replicas: {type: integer}\n"
    "      ratio: {type: number}\n"
    "      backup: {type: boolean}\n"
    "      labels: {type: object, x-kubernetes-preserve-unknown-fields: true}\n"
    "      users: {type: array, items: {type: string}}\n";

static void test_types(void **state)
{
	(void)state;
	struct kfs_schema *s = compile(typed_schema);
	expect_ok(s, "spec: {name: a, replicas: 2, ratio: 0.5, backup: true, labels: {a: b},"
		     " users: [x, z]}");
	/* an integer is a valid number */
	expect_ok(s, "spec: {ratio: 3}");
	expect_err(s, "spec: {replicas: two}",
		   "spec.replicas: must be integer, got string \"two\"");
	/* a quoted "2" is a string, as Kubernetes reads it */
	expect_err(s, "spec: {replicas: \"2\"}",
		   "spec.replicas: must be integer, got string \"2\"");
	expect_err(s, "spec: {replicas: 2.5}", "spec.replicas: must be integer, got number 2.5");
	expect_err(s, "spec: {name: 5}", "spec.name: must be string, got integer 5");
	expect_err(s, "spec: {name: true}", "spec.name: must be string, got boolean true");
	expect_err(s, "spec: {ratio: x}", "spec.ratio: must be number, got string \"x\"");
	expect_err(s, "spec: {backup: \"yes\"}",
		   "spec.backup: must be boolean, got string \"yes\"");
	expect_err(s, "spec: {labels: [a]}", "spec.labels: must be object, got array");
	expect_err(s, "spec: {users: {a: b}}", "spec.users: must be array, got object");
	expect_err(s, "spec: {users: [a, 1]}", "spec.users[1]: must be string, got integer 1");
	expect_err(s, "spec: [1]", "spec: must be object, got array");
	expect_err(s, "[1]", "(document): must be object, got array");
	kfs_schema_free(s);
}

static void test_enum_required(void **state)
{
	(void)state;
	struct kfs_schema *s = compile("type: object\n"
				       "properties:\n"
				       "  spec:\n"
				       "    type: object\n"
				       "    required: [image]\n"
				       "    properties:\n"
				       "      image: {type: string}\n"
				       "      size: {type: string, enum: [small, medium, large]}\n"
				       "      level: {type: integer, enum: [1, 2]}\n");
	expect_ok(s, "spec: {image: x, size: medium, level: 2}");
	expect_err(s, "spec: {image: x, size: huge}",
		   "spec.size: must be one of small, medium, large (got \"huge\")");
	expect_err(s, "spec: {image: x, level: 3}", "spec.level: must be one of 1, 2 (got 3)");
	expect_err(s, "spec: {size: small}", "spec.image: required field is missing");
	kfs_schema_free(s);
}

static void test_pattern(void **state)
{
	(void)state;
	struct kfs_schema *s =
	    compile("type: object\n"
		    "properties:\n"
		    "  env: {type: string, pattern: '^(dev|prod)$'}\n"
		    "  digits: {type: string, pattern: '^\\d+-\\w+$'}\n"
		    "  short: {type: string, pattern: '^[a-z0-9-]{,3}$'}\n"
		    "  cls: {type: string, pattern: '^[\\w.\\-]+\\.(?:com|org)$'}\n"
		    "  lazy: {type: string, pattern: '^a+?b$'}\n"
		    "  notd: {type: string, pattern: '^\\D\\s\\S$'}\n");
	expect_ok(s, "{env: prod, digits: 123-ab_c, short: a-1, cls: my-site.example.com,"
		     " lazy: aab, notd: 'x y'}");
	expect_err(s, "{env: qa}", "env: must match ^(dev|prod)$ (got \"qa\")");
	/* \d is a digit, \w a word character: not the letters d and w */
	expect_err(s, "{digits: dd-ww}", "digits: must match ^\\d+-\\w+$ (got \"dd-ww\")");
	expect_err(s, "{digits: 12-a.b}", "digits: must match ^\\d+-\\w+$ (got \"12-a.b\")");
	/* {,3} is read as {0,3} */
	expect_ok(s, "{short: ''}");
	expect_err(s, "{short: abcd}", "short: must match ^[a-z0-9-]{,3}$ (got \"abcd\")");
	/* inside brackets, \. and \- are the characters, not backslashes */
	expect_err(s, "{cls: 'a\\b.com'}",
		   "cls: must match ^[\\w.\\-]+\\.(?:com|org)$ (got \"a\\\\b.com\")");
	expect_err(s, "{cls: a.net}", "cls: must match ^[\\w.\\-]+\\.(?:com|org)$ (got \"a.net\")");
	expect_err(s, "{lazy: ac}", "lazy: must match ^a+?b$ (got \"ac\")");
	expect_err(s, "{notd: '1 y'}", "notd: must match ^\\D\\s\\S$ (got \"1 y\")");
	kfs_schema_free(s);

	/* POSIX wants ']' first and '^' not first in brackets; (?P<n>) only groups; a brace that
	 * is no quantifier is a literal, as in ECMA-262 */
	s = compile("type: object\n"
		    "properties:\n"
		    "  rb: {type: string, pattern: '^[a\\]]+$'}\n"
		    "  caret: {type: string, pattern: '^[\\^x]$'}\n"
		    "  named: {type: string, pattern: '^(?P<unit>Gi|Mi)$'}\n"
		    "  brace: {type: string, pattern: '^a{x}$'}\n");
	expect_ok(s, "{rb: ']a]', caret: '^', named: Mi, brace: 'a{x}'}");
	expect_err(s, "{rb: b}", "rb: must match ^[a\\]]+$ (got \"b\")");
	expect_err(s, "{caret: z}", "caret: must match ^[\\^x]$ (got \"z\")");
	expect_err(s, "{named: Ki}", "named: must match ^(?P<unit>Gi|Mi)$ (got \"Ki\")");
	expect_err(s, "{brace: a}", "brace: must match ^a{x}$ (got \"a\")");
	kfs_schema_free(s);
}

/* What POSIX ERE could not express is enforced: lookaround, backreferences, \b, \D in brackets,
 * possessive quantifiers, Unicode properties and escapes (Go's \x{e9}); '.' takes one
 * character, not one byte. None of it is a warning. */
static void test_pattern_enforced(void **state)
{
	(void)state;
	struct kfs_schema *s = compile("type: object\n"
				       "properties:\n"
				       "  name: {type: string, pattern: '^(?!-)[a-z-]+$'}\n"
				       "  ref: {type: string, pattern: '^(a|b)\\1$'}\n"
				       "  word: {type: string, pattern: '\\bdb\\b'}\n"
				       "  nond: {type: string, pattern: '^[\\D]+$'}\n"
				       "  poss: {type: string, pattern: '^a++b$'}\n"
				       "  upper: {type: string, pattern: '^\\p{Lu}\\p{Ll}+$'}\n"
				       "  three: {type: string, pattern: '^.{3}$'}\n"
				       "  go: {type: string, pattern: '^caf\\x{e9}$'}\n");
	expect_ok(s, "{name: x-, ref: bb, word: 'my db', nond: ab, poss: aab, upper: Émile,"
		     " three: héé, go: café}");
	expect_err(s, "{name: -x}", "name: must match ^(?!-)[a-z-]+$ (got \"-x\")");
	expect_err(s, "{ref: ab}", "ref: must match ^(a|b)\\1$ (got \"ab\")");
	expect_err(s, "{word: mydb}", "word: must match \\bdb\\b (got \"mydb\")");
	expect_err(s, "{nond: a1}", "nond: must match ^[\\D]+$ (got \"a1\")");
	expect_err(s, "{poss: aa}", "poss: must match ^a++b$ (got \"aa\")");
	expect_err(s, "{upper: émile}", "upper: must match ^\\p{Lu}\\p{Ll}+$ (got \"émile\")");
	expect_err(s, "{three: hééé}", "three: must match ^.{3}$ (got \"hééé\")");
	expect_err(s, "{go: cafe}", "go: must match ^caf\\x{e9}$ (got \"cafe\")");
	/* \d and \w stay ASCII, as in Go's regexp: an Arabic-Indic digit is no \d */
	kfs_schema_free(s);
	s = compile("type: object\nproperties:\n  n: {type: string, pattern: '^\\d+$'}\n");
	expect_ok(s, "{n: '42'}");
	expect_err(s, "{n: '٤٢'}", "n: must match ^\\d+$ (got \"٤٢\")");
	/* $ is the end of the value, not also before a final newline */
	expect_err(s, "{n: \"42\\n\"}", "n: must match ^\\d+$ (got \"42\\n\")");
	kfs_schema_free(s);
}

/* A pattern that backtracks without end is stopped by the match limit: the value is rejected
 * with the reason, never accepted unchecked, and the writer is not held. */
static void test_pattern_match_limit(void **state)
{
	(void)state;
	struct kfs_schema *s =
	    compile("type: object\nproperties:\n  v: {type: string, pattern: '^(\\w+\\s?)*$'}\n");
	expect_ok(s, "{v: 'a few words'}");
	expect_err(s, "{v: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!'}",
		   "v: cannot be checked against ^(\\w+\\s?)*$: the pattern needs too many steps "
		   "on this value (got \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!\")");
	kfs_schema_free(s);
}

/* A pattern that is no regular expression fails the compile (the promise's load), naming the
 * field, the pattern and what is wrong with it. */
static void test_pattern_invalid(void **state)
{
	(void)state;
	struct kfs_node *n = parse("type: object\n"
				   "properties:\n"
				   "  spec:\n"
				   "    type: object\n"
				   "    properties:\n"
				   "      name: {type: string, pattern: '^(abc$'}\n"
				   "      unit: {type: string, pattern: '^caf\\u00e9$'}\n");
	struct kfs_schema *s = (struct kfs_schema *)1;
	struct kfs_error err = {0};
	assert_int_equal(kfs_schema_compile(n, NULL, &s, &err), -EINVAL);
	assert_null(s);
	assert_non_null(strstr(err.msg,
			       "openAPIV3Schema spec.name (line 6): pattern '^(abc$' is "
			       "not a valid regular expression: missing closing parenthesis "
			       "(at offset 6)"));
	/* ECMA-262's \u escape: Go's regexp, and so the API server, rejects it too */
	assert_non_null(strstr(err.msg,
			       "openAPIV3Schema spec.unit (line 7): pattern '^caf\\u00e9$' "
			       "is not a valid regular expression: PCRE2 does not support "));
	kfs_node_free(n);
}

static void test_bounds(void **state)
{
	(void)state;
	struct kfs_schema *s =
	    compile("type: object\n"
		    "properties:\n"
		    "  count: {type: integer, minimum: 1, maximum: 10}\n"
		    "  ex: {type: number, minimum: 0, exclusiveMinimum: true, maximum: 1,"
		    " exclusiveMaximum: true}\n"
		    "  name: {type: string, minLength: 2, maxLength: 5}\n"
		    "  list: {type: array, minItems: 1, maxItems: 2, items: {type: integer}}\n"
		    "  step: {type: integer, multipleOf: 5}\n"
		    "  uniq: {type: array, uniqueItems: true, items: {type: string}}\n"
		    "  set: {type: array, x-kubernetes-list-type: set, items: {type: integer}}\n");
	expect_ok(s, "{count: 10, ex: 0.5, name: ab, list: [1, 2], step: 15, uniq: [a, b],"
		     " set: [1, 2]}");
	expect_err(s, "{count: 12}", "count: must be at most 10 (got 12)");
	expect_err(s, "{count: 0}", "count: must be at least 1 (got 0)");
	expect_err(s, "{ex: 0}", "ex: must be greater than 0 (got 0)");
	expect_err(s, "{ex: 1}", "ex: must be less than 1 (got 1)");
	/* lengths count characters: "héllo" is 5 characters in 6 bytes */
	expect_ok(s, "{name: h\xc3\xa9llo}");
	expect_err(s, "{name: h\xc3\xa9llos}",
		   "name: must be at most 5 characters long (got \"h\xc3\xa9llos\")");
	expect_err(s, "{name: a}", "name: must be at least 2 characters long (got \"a\")");
	expect_err(s, "{list: []}", "list: must have at least 1 items (got 0)");
	expect_err(s, "{list: [1, 2, 3]}", "list: must have at most 2 items (got 3)");
	expect_err(s, "{step: 7}", "step: must be a multiple of 5 (got 7)");
	expect_err(s, "{uniq: [a, b, a]}",
		   "uniq: must not contain duplicate items ([2] repeats [0])");
	expect_err(s, "{set: [3, 3]}", "set: must not contain duplicate items ([1] repeats [0])");
	kfs_schema_free(s);
}

static void test_nullable(void **state)
{
	(void)state;
	struct kfs_schema *s = compile("type: object\n"
				       "properties:\n"
				       "  keep: {type: string, nullable: true}\n"
				       "  size: {type: string, default: small}\n"
				       "  other: {type: string}\n"
				       "  list: {type: array, items: {type: string}}\n");
	struct kfs_node *doc;
	doc = apply_ok(s, "{keep: null, size: null, other: null}");
	assert_int_equal(kfs_map_get(doc, "keep")->type, KFS_NULL);
	assert_string_equal(kfs_node_text_at(doc, "size"), "small");
	/* a null in a non-nullable field without default is pruned, as Kubernetes does */
	assert_null(kfs_map_get(doc, "other"));
	kfs_node_free(doc);
	expect_err(s, "{list: [a, null]}", "list[1]: must be string, got null");
	kfs_schema_free(s);
}

static void test_additional_properties(void **state)
{
	(void)state;
	struct kfs_schema *s =
	    compile("type: object\n"
		    "properties:\n"
		    "  limits:\n"
		    "    type: object\n"
		    "    additionalProperties: {type: object, properties: {cpu: {type: integer,"
		    " default: 1}}}\n"
		    "  free: {type: object, additionalProperties: true}\n"
		    "  closed: {type: object, properties: {a: {type: string}}, "
		    "additionalProperties: false}\n");
	struct kfs_node *doc;
	doc = apply_ok(s, "{limits: {web: {}, db: {cpu: 4, junk: 1}}, free: {x: [1]}}");
	/* the additionalProperties schema applies to every extra key: defaults and pruning */
	assert_string_equal(kfs_node_text_at(doc, "limits.web.cpu"), "1");
	assert_string_equal(kfs_node_text_at(doc, "limits.db.cpu"), "4");
	assert_null(kfs_node_at(doc, "limits.db.junk"));
	assert_non_null(kfs_node_at(doc, "free.x"));
	kfs_node_free(doc);
	expect_err(s, "{limits: {web: {cpu: many}}}",
		   "limits.web.cpu: must be integer, got string \"many\"");
	expect_err(s, "{closed: {a: x, b: y}}",
		   "closed.b: unknown field (additionalProperties is false)");
	kfs_schema_free(s);
}

static void test_defaults(void **state)
{
	(void)state;
	struct kfs_schema *s =
	    compile("type: object\n"
		    "properties:\n"
		    "  spec:\n"
		    "    type: object\n"
		    "    properties:\n"
		    "      size: {type: string, default: medium}\n"
		    "      service:\n"
		    "        type: object\n"
		    "        default: {}\n"
		    "        properties:\n"
		    "          port: {type: integer, default: 8080}\n"
		    "          tls: {type: object, default: {enabled: true},"
		    " properties: {enabled: {type: boolean},"
		    " mode: {type: string, default: strict}}}\n"
		    "      tags: {type: array, default: [a], items: {type: string}}\n");
	struct kfs_node *doc;
	doc = apply_ok(s, "spec: {size: large}");
	/* a present value is never replaced */
	assert_string_equal(kfs_node_text_at(doc, "spec.size"), "large");
	/* default {} gets its properties' defaults, and defaults inside defaults too */
	assert_string_equal(kfs_node_text_at(doc, "spec.service.port"), "8080");
	assert_int_equal(kfs_node_at(doc, "spec.service.port")->type, KFS_INT);
	assert_string_equal(kfs_node_text_at(doc, "spec.service.tls.enabled"), "true");
	assert_string_equal(kfs_node_text_at(doc, "spec.service.tls.mode"), "strict");
	struct kfs_node *tags = kfs_node_at(doc, "spec.tags");
	assert_int_equal(tags->type, KFS_SEQ);
	assert_int_equal(tags->len, 1);
	/* deep copies: changing this document leaves the next one alone */
	kfs_map_set(kfs_node_at(doc, "spec.service"), "port", kfs_node_new_int(1));
	kfs_node_free(doc);
	doc = apply_ok(s, "spec: {service: {tls: {}}}");
	assert_string_equal(kfs_node_text_at(doc, "spec.service.port"), "8080");
	assert_string_equal(kfs_node_text_at(doc, "spec.size"), "medium");
	/* tls was given: its default is not used, but the nested default still is */
	assert_null(kfs_node_at(doc, "spec.service.tls.enabled"));
	assert_string_equal(kfs_node_text_at(doc, "spec.service.tls.mode"), "strict");
	kfs_node_free(doc);
	/* no spec: no spec defaults, as in Kubernetes */
	doc = apply_ok(s, "kind: X");
	assert_null(kfs_map_get(doc, "spec"));
	kfs_node_free(doc);
	kfs_schema_free(s);
}

static void test_invalid_default_is_compile_error(void **state)
{
	(void)state;
	struct kfs_node *n = parse("type: object\n"
				   "properties:\n"
				   "  size:\n"
				   "    type: string\n"
				   "    enum: [small, large]\n"
				   "    default: huge\n");
	struct kfs_schema *s = (struct kfs_schema *)1;
	struct kfs_error err = {0};
	assert_int_equal(kfs_schema_compile(n, NULL, &s, &err), -EINVAL);
	assert_null(s);
	assert_non_null(strstr(err.msg, "openAPIV3Schema size (line 6): default is invalid: "
					"size: must be one of small, large (got \"huge\")"));
	kfs_node_free(n);
}

static void test_malformed_schema(void **state)
{
	(void)state;
	struct kfs_node *n = parse("type: object\n"
				   "properties:\n"
				   "  spec:\n"
				   "    type: object\n"
				   "    properties:\n"
				   "      size: {type: strnig}\n"
				   "      count: {type: integer, minimum: lots}\n"
				   "      on: {type: boolean, nullable: \"yes\"}\n");
	struct kfs_schema *s = NULL;
	struct kfs_error err = {0};
	assert_int_equal(kfs_schema_compile(n, NULL, &s, &err), -EINVAL);
	assert_null(s);
	assert_string_equal(err.msg,
			    "openAPIV3Schema spec.size (line 6): type must be one of string,"
			    " integer, number, boolean, object, array\n"
			    "openAPIV3Schema spec.count (line 7): minimum must be a number\n"
			    "openAPIV3Schema spec.on (line 8): nullable must be true or false");
	kfs_node_free(n);
}

static void test_pruning(void **state)
{
	(void)state;
	struct kfs_schema *s =
	    compile("type: object\n"
		    "properties:\n"
		    "  spec:\n"
		    "    type: object\n"
		    "    properties:\n"
		    "      a: {type: string}\n"
		    "      inner: {type: object, properties: {b: {type: string}}}\n"
		    "      open:\n"
		    "        type: object\n"
		    "        x-kubernetes-preserve-unknown-fields: true\n"
		    "        properties: {n: {type: integer}}\n");
	struct kfs_node *doc;
	doc = apply_ok(s, "spec:\n"
			  "  a: x\n"
			  "  extra: 1\n"
			  "  inner: {b: yy, junk: 2}\n"
			  "  open: {n: 1, anything: {deep: [1, 2]}}\n"
			  "unknownTop: 3\n");
	assert_null(kfs_node_at(doc, "spec.extra"));
	assert_null(kfs_node_at(doc, "spec.inner.junk"));
	assert_null(kfs_map_get(doc, "unknownTop"));
	assert_string_equal(kfs_node_text_at(doc, "spec.a"), "x");
	assert_string_equal(kfs_node_text_at(doc, "spec.inner.b"), "yy");
	assert_non_null(kfs_node_at(doc, "spec.open.anything.deep"));
	kfs_node_free(doc);
	/* Each pruned field is named, as kubectl warns of it; kept ones are not. */
	struct kfs_buf w = {0};
	struct kfs_error err = {0};
	doc = parse("spec:\n  sise: large\n  a: x\n  inner: {junk: 2}\n  open: {anything: 1}\n"
		    "  list: []\nunknownTop: 3\n\"we.ird\": 4\n");
	assert_int_equal(kfs_schema_apply(s, doc, &w, &err), 0);
	assert_string_equal(w.data, "unknown field \"spec.sise\"\n"
				    "unknown field \"spec.inner.junk\"\n"
				    "unknown field \"spec.list\"\n"
				    "unknown field \"unknownTop\"\n"
				    "unknown field \"[\"we.ird\"]\"\n");
	kfs_node_free(doc);
	kfs_buf_free(&w);
	/* known fields under preserve-unknown-fields are still validated */
	expect_err(s, "spec: {open: {n: x}}", "spec.open.n: must be integer, got string \"x\"");
	kfs_schema_free(s);
}

static void test_root_keeps_meta(void **state)
{
	(void)state;
	const char *req = "apiVersion: example.com/v1\n"
			  "kind: Thing\n"
			  "metadata: {name: a, labels: {x: y}}\n"
			  "spec: {size: 1}\n"
			  "status: {phase: done}\n";
	struct kfs_schema *s =
	    compile("type: object\n"
		    "properties:\n"
		    "  spec: {type: object, properties: {size: {type: integer}}}\n");
	struct kfs_node *doc;
	doc = apply_ok(s, req);
	assert_string_equal(kfs_node_text_at(doc, "apiVersion"), "example.com/v1");
	assert_string_equal(kfs_node_text_at(doc, "kind"), "Thing");
	assert_string_equal(kfs_node_text_at(doc, "metadata.labels.x"), "y");
	/* status is pruned when the schema does not list it */
	assert_null(kfs_map_get(doc, "status"));
	kfs_node_free(doc);
	kfs_schema_free(s);

	s = compile("type: object\n"
		    "properties:\n"
		    "  metadata: {type: object, properties: {name: {type: integer}}}\n"
		    "  status: {type: object, x-kubernetes-preserve-unknown-fields: true}\n");
	doc = apply_ok(s, req);
	assert_string_equal(kfs_node_text_at(doc, "status.phase"), "done");
	/* metadata is not validated by the schema, nor pruned */
	assert_string_equal(kfs_node_text_at(doc, "metadata.name"), "a");
	assert_string_equal(kfs_node_text_at(doc, "metadata.labels.x"), "y");
	assert_null(kfs_map_get(doc, "spec"));
	kfs_node_free(doc);
	kfs_schema_free(s);
}

static void test_int_or_string_embedded(void **state)
{
	(void)state;
	struct kfs_schema *s = compile("type: object\n"
				       "properties:\n"
				       "  port:\n"
				       "    x-kubernetes-int-or-string: true\n"
				       "    anyOf: [{type: integer}, {type: string}]\n"
				       "  res:\n"
				       "    type: object\n"
				       "    x-kubernetes-embedded-resource: true\n"
				       "    properties: {spec: {type: object, properties:"
				       " {n: {type: integer}}}}\n");
	expect_ok(s, "{port: 80}");
	expect_ok(s, "{port: http}");
	expect_err(s, "{port: true}", "port: must be integer or string, got boolean true");
	struct kfs_node *doc;
	doc = apply_ok(s, "res: {apiVersion: v1, kind: ConfigMap, metadata: {name: c},"
			  " spec: {n: 1, x: 2}, data: {}}");
	assert_string_equal(kfs_node_text_at(doc, "res.kind"), "ConfigMap");
	assert_string_equal(kfs_node_text_at(doc, "res.metadata.name"), "c");
	assert_null(kfs_node_at(doc, "res.spec.x"));
	assert_null(kfs_node_at(doc, "res.data"));
	kfs_node_free(doc);
	kfs_schema_free(s);
}

static void test_multiple_errors_and_paths(void **state)
{
	(void)state;
	struct kfs_schema *s =
	    compile("type: object\n"
		    "properties:\n"
		    "  spec:\n"
		    "    type: object\n"
		    "    required: [image]\n"
		    "    properties:\n"
		    "      image: {type: string}\n"
		    "      size: {type: string, enum: [small, large]}\n"
		    "      applicationEnv:\n"
		    "        type: array\n"
		    "        items:\n"
		    "          type: object\n"
		    "          required: [name]\n"
		    "          properties: {name: {type: string, maxLength: 3},"
		    " value: {type: string}}\n"
		    "      labels: {type: object, additionalProperties: {type: string}}\n");
	expect_err(
	    s,
	    "spec:\n"
	    "  size: huge\n"
	    "  applicationEnv:\n"
	    "  - {name: a, value: b}\n"
	    "  - {name: toolong}\n"
	    "  - {value: 1}\n"
	    "  labels: {app.kubernetes.io/name: 3}\n",
	    "spec.size: must be one of small, large (got \"huge\")\n"
	    "spec.applicationEnv[1].name: must be at most 3 characters long (got \"toolong\")\n"
	    "spec.applicationEnv[2].value: must be string, got integer 1\n"
	    "spec.applicationEnv[2].name: required field is missing\n"
	    "spec.labels[\"app.kubernetes.io/name\"]: must be string, got integer 3\n"
	    "spec.image: required field is missing");
	kfs_schema_free(s);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void test_warnings(void **state)
{
	(void)state;
	struct kfs_buf w = {0};
	struct kfs_schema *s = compile_w(
	    "type: object\n"
	    "description: a thing\n"
	    "properties:\n"
	    "  spec:\n"
	    "    type: object\n"
	    "    x-kubernetes-validations: [{rule: 'self.a == self.b'}]\n"
	    "    properties:\n"
	    "      name: {type: string, regex: '^[a-z]+$', title: t, example: x, format: dns,\n"
	    "             externalDocs: {url: x}}\n"
	    "      list: {type: array, x-kubernetes-list-type: map,"
	    " x-kubernetes-list-map-keys: [k], items: {type: object, oneOf: [{}]}}\n",
	    &w);
	assert_string_equal(w.data, "warning: spec: x-kubernetes-validations is not enforced\n"
				    "warning: spec.name: regex is not enforced (did you mean "
				    "pattern?)\n"
				    "warning: spec.list[*]: oneOf is not enforced\n");
	assert_int_equal(count(w.data, "x-kubernetes-validations"), 1);
	/* warnings belong to the compile: applying twice adds nothing and does not fail */
	size_t len = w.len;
	expect_ok(s, "spec: {name: '123'}");
	expect_ok(s, "spec: {name: '456'}");
	assert_int_equal(w.len, len);
	kfs_schema_free(s);
	kfs_buf_free(&w);
}

/* The CRD schema of a real promise, from tests/fixtures/real-promises/<name>/promise.yaml. */
static struct kfs_schema *real_schema(const char *name, struct kfs_buf *warnings)
{
	char path[1024];
	struct kfs_node *promise = NULL;
	struct kfs_error err = {0};
	snprintf(path, sizeof(path), "%s/tests/fixtures/real-promises/%s/promise.yaml",
		 KFS_SOURCE_ROOT, name);
	if (kfs_doc_parse_file(path, &promise, &err) != 0)
		fail_msg("%s", err.msg);
	struct kfs_node *versions = kfs_node_at(promise, "spec.api.spec.versions");
	assert_non_null(versions);
	assert_int_equal(versions->type, KFS_SEQ);
	struct kfs_node *openapi = kfs_node_at(versions->items[0], "schema.openAPIV3Schema");
	assert_non_null(openapi);
	struct kfs_schema *s = NULL;
	if (kfs_schema_compile(openapi, warnings, &s, &err) != 0)
		fail_msg("%s: %s", name, err.msg);
	kfs_node_free(promise);
	return s;
}

static struct kfs_node *real_request(const char *name, const struct kfs_schema *s)
{
	char path[1024];
	struct kfs_node *doc = NULL;
	struct kfs_error err = {0};
	snprintf(path, sizeof(path), "%s/tests/fixtures/real-promises/%s/resource-request.yaml",
		 KFS_SOURCE_ROOT, name);
	if (kfs_doc_parse_file(path, &doc, &err) != 0)
		fail_msg("%s", err.msg);
	if (kfs_schema_apply(s, doc, NULL, &err) != 0)
		fail_msg("%s: %s", name, err.msg);
	return doc;
}

static void test_real_app_as_a_service(void **state)
{
	(void)state;
	struct kfs_buf w = {0};
	struct kfs_schema *s = real_schema("app-as-a-service", &w);
	/* its `regex` keyword is not a Kubernetes keyword: warned about, once */
	assert_string_equal(w.data, "warning: spec.name: regex is not enforced (did you mean "
				    "pattern?)\n");
	struct kfs_node *doc = real_request("app-as-a-service", s);
	assert_string_equal(kfs_node_text_at(doc, "metadata.name"), "todoer");
	assert_string_equal(kfs_node_text_at(doc, "spec.dbDriver"), "postgresql");
	assert_string_equal(kfs_node_text_at(doc, "spec.service.port"), "8080");
	kfs_node_free(doc);

	struct kfs_error err = {0};
	doc = parse("apiVersion: marketplace.kratix.io/v1\nkind: app\nmetadata: {name: a}\n"
		    "spec: {name: a, image: b}\n");
	assert_int_equal(kfs_schema_apply(s, doc, NULL, &err), 0);
	/* default {} + the nested default gives service.port 8080 */
	assert_string_equal(kfs_node_text_at(doc, "spec.service.port"), "8080");
	assert_string_equal(kfs_node_text_at(doc, "spec.dbDriver"), "none");
	kfs_node_free(doc);
	expect_err(s, "spec: {name: a, dbDriver: mysql}",
		   "spec.dbDriver: must be one of postgresql, none (got \"mysql\")\n"
		   "spec.image: required field is missing");
	kfs_schema_free(s);
	kfs_buf_free(&w);
}

static void test_real_postgresql(void **state)
{
	(void)state;
	struct kfs_buf w = {0};
	struct kfs_schema *s = real_schema("postgresql", &w);
	assert_int_equal(w.len, 0);
	struct kfs_node *doc = real_request("postgresql", s);
	assert_string_equal(kfs_node_text_at(doc, "spec.env"), "dev");
	assert_string_equal(kfs_node_text_at(doc, "spec.backupEnabled"), "false");
	assert_int_equal(kfs_node_at(doc, "spec.backupEnabled")->type, KFS_BOOL);
	assert_string_equal(kfs_node_text_at(doc, "spec.namespace"), "default");
	assert_string_equal(kfs_node_text_at(doc, "spec.teamId"), "acme-org-team-a");
	kfs_node_free(doc);

	struct kfs_error err = {0};
	doc = parse("apiVersion: marketplace.kratix.io/v1alpha2\nkind: postgresql\n"
		    "metadata: {name: a}\nspec: {}\n");
	assert_int_equal(kfs_schema_apply(s, doc, NULL, &err), 0);
	assert_string_equal(kfs_node_text_at(doc, "spec.backupEnabled"), "false");
	assert_string_equal(kfs_node_text_at(doc, "spec.dbName"), "postgres");
	assert_string_equal(kfs_node_text_at(doc, "spec.teamId"), "acid");
	assert_string_equal(kfs_node_text_at(doc, "spec.env"), "dev");
	kfs_node_free(doc);
	expect_err(s, "spec: {env: qa}", "spec.env: must match ^(dev|prod)$ (got \"qa\")");
	kfs_schema_free(s);
	kfs_buf_free(&w);
}

static void test_real_redis(void **state)
{
	(void)state;
	struct kfs_buf w = {0};
	struct kfs_schema *s = real_schema("redis", &w);
	assert_int_equal(w.len, 0);
	struct kfs_node *doc = real_request("redis", s);
	assert_string_equal(kfs_node_text_at(doc, "spec.size"), "small");
	assert_string_equal(kfs_node_text_at(doc, "kind"), "redis");
	kfs_node_free(doc);
	expect_err(s, "spec: {size: medium}",
		   "spec.size: must match ^(small|large)$ (got \"medium\")");
	kfs_schema_free(s);
	kfs_buf_free(&w);
}

static void test_real_runtime(void **state)
{
	(void)state;
	struct kfs_buf w = {0};
	struct kfs_schema *s = real_schema("runtime", &w);
	assert_int_equal(w.len, 0);
	struct kfs_node *doc = real_request("runtime", s);
	assert_string_equal(kfs_node_text_at(doc, "spec.image"), "syntasso/website");
	assert_string_equal(kfs_node_text_at(doc, "spec.replicas"), "1");
	struct kfs_node *env = kfs_node_at(doc, "spec.applicationEnv");
	assert_int_equal(env->len, 1);
	assert_string_equal(kfs_node_text_at(env->items[0], "value"), "from-env");
	kfs_node_free(doc);

	struct kfs_error err = {0};
	doc =
	    parse("apiVersion: marketplace.kratix.io/v1alpha1\nkind: Runtime\nmetadata: {name: r}\n"
		  "spec: {image: nginx, applicationEnv: [{name: a, value: b, extra: c}]}\n");
	assert_int_equal(kfs_schema_apply(s, doc, NULL, &err), 0);
	assert_string_equal(kfs_node_text_at(doc, "spec.replicas"), "1");
	assert_string_equal(kfs_node_text_at(doc, "spec.servicePort"), "80");
	assert_string_equal(kfs_node_text_at(doc, "spec.lifecycle"), "dev");
	/* items preserve unknown fields */
	env = kfs_node_at(doc, "spec.applicationEnv");
	assert_string_equal(kfs_node_text_at(env->items[0], "extra"), "c");
	kfs_node_free(doc);
	expect_err(s, "spec: {image: x, replicas: two, lifecycle: live}",
		   "spec.replicas: must be integer, got string \"two\"\n"
		   "spec.lifecycle: must be one of prod, dev, staging, testing (got \"live\")");
	kfs_schema_free(s);
	kfs_buf_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_types),
	    cmocka_unit_test(test_enum_required),
	    cmocka_unit_test(test_pattern),
	    cmocka_unit_test(test_pattern_enforced),
	    cmocka_unit_test(test_pattern_match_limit),
	    cmocka_unit_test(test_pattern_invalid),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_nullable),
	    cmocka_unit_test(test_additional_properties),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_invalid_default_is_compile_error),
	    cmocka_unit_test(test_malformed_schema),
	    cmocka_unit_test(test_pruning),
	    cmocka_unit_test(test_root_keeps_meta),
	    cmocka_unit_test(test_int_or_string_embedded),
	    cmocka_unit_test(test_multiple_errors_and_paths),
	    cmocka_unit_test(test_warnings),
	    cmocka_unit_test(test_real_app_as_a_service),
	    cmocka_unit_test(test_real_postgresql),
	    cmocka_unit_test(test_real_redis),
	    cmocka_unit_test(test_real_runtime),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
