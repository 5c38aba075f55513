#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/doc.h"

static struct kfs_node *parse_ok(const char *text)
{
	struct kfs_node *n = NULL;
	struct kfs_error err = {0};
	int rc = kfs_doc_parse(text, strlen(text), "t.yaml", &n, &err);
	if (rc != 0)
		fail_msg("parse failed: %s", err.msg);
	return n;
}

static char *emit(const struct kfs_node *n)
{
	struct kfs_buf b = {0};
	kfs_doc_emit(n, &b);
	return kfs_buf_steal(&b);
}

static void assert_roundtrip(const char *in, const char *expected)
{
	struct kfs_node *n = parse_ok(in);
	char *out = emit(n);
	assert_string_equal(out, expected);
	/* The canonical form is a fixed point. */
	struct kfs_node *again = parse_ok(out);
	assert_true(kfs_node_equal(n, again));
	char *out2 = emit(again);
	assert_string_equal(out, out2);
	free(out);
	free(out2);
	kfs_node_free(n);
	kfs_node_free(again);
}

static void test_scalar_types(void **state)
{
	(void)state;
	struct kfs_node *n = parse_ok("a: 1\nb: \"1\"\nc: true\nd: yes\ne: ~\nf: 1.5\ng: 10Gi\n"
				      "h: !!str 3\ni: 0x1F\nj: -7\nk: .inf\nl: ''\n");
	assert_int_equal(kfs_map_get(n, "a")->type, KFS_INT);
	assert_int_equal(kfs_map_get(n, "b")->type, KFS_STR);
	assert_int_equal(kfs_map_get(n, "c")->type, KFS_BOOL);
	assert_int_equal(kfs_map_get(n, "d")->type, KFS_BOOL);
	assert_int_equal(kfs_map_get(n, "e")->type, KFS_NULL);
	assert_int_equal(kfs_map_get(n, "f")->type, KFS_FLOAT);
	assert_int_equal(kfs_map_get(n, "g")->type, KFS_STR);
	assert_int_equal(kfs_map_get(n, "h")->type, KFS_STR);
	long long v;
	assert_true(kfs_node_int(kfs_map_get(n, "i"), &v));
	assert_int_equal(v, 31);
	assert_true(kfs_node_int(kfs_map_get(n, "j"), &v));
	assert_int_equal(v, -7);
	double d;
	assert_true(kfs_node_number(kfs_map_get(n, "f"), &d));
	assert_true(d == 1.5);
	assert_true(kfs_node_number(kfs_map_get(n, "k"), &d));
	assert_true(d > 1e308);
	assert_false(kfs_node_truthy(kfs_map_get(n, "l")));
	assert_true(kfs_node_truthy(kfs_map_get(n, "c")));
	assert_int_equal(kfs_map_get(n, "a")->line, 1);
	assert_int_equal(kfs_map_get(n, "l")->line, 12);
	kfs_node_free(n);
}

static void test_emit_canonical(void **state)
{
	(void)state;
	assert_roundtrip("{b: 1, a: [x, {k: 2, z: []}], c: {}}\n",
			 "b: 1\na:\n  - x\n  - k: 2\n    z: []\nc: {}\n");
	assert_roundtrip("s: \"1\"\nt: \"yes\"\nu: 'a: b'\nv: \"\"\nw: \"#x\"\nx: \"2024-01-01\"\n",
			 "s: \"1\"\nt: \"yes\"\nu: \"a: b\"\nv: \"\"\nw: \"#x\"\nx: \"2024-01-01\"\n");
	assert_roundtrip("k: \"tab\\there\\u0001\"\n", "k: \"tab\\there\\x01\"\n");
	assert_roundtrip("m: |\n  line one\n  line two\n", "m: |\n  line one\n  line two\n");
	assert_roundtrip("m: \"no final newline\\nsecond\"\n", "m: |-\n  no final newline\n  second\n");
	assert_roundtrip("- - a\n  - b\n- c\n", "- - a\n  - b\n- c\n");
	/* NEL, LS and PS break lines in YAML: escaped, never a plain or literal block line. */
	assert_roundtrip("k: \"a\\L---\\Pkind: X\\Nz\"\n", "k: \"a\\u2028---\\u2029kind: X\\u0085z\"\n");
	assert_roundtrip("m: \"one\\ntwo\\L---\\Lkind: X\"\n", "m: \"one\\ntwo\\u2028---\\u2028kind: X\"\n");
	assert_roundtrip("\"app.kubernetes.io/name\": x\n\"true\": 1\n",
			 "app.kubernetes.io/name: x\n\"true\": 1\n");
}

static void test_emit_identical_bytes(void **state)
{
	(void)state;
	const char *in = "apiVersion: v1\nkind: Service\nmetadata: {name: a, labels: {x: y}}\n"
			 "spec: {ports: [{port: 5432, name: pg}]}\n";
	struct kfs_node *a = parse_ok(in), *b = parse_ok(in);
	char *ea = emit(a), *eb = emit(b);
	assert_string_equal(ea, eb);
	free(ea);
	free(eb);
	kfs_node_free(a);
	kfs_node_free(b);
}

static void test_emit_at_column(void **state)
{
	(void)state;
	struct kfs_node *n = parse_ok("a: 1\nb:\n  c: [1, 2]\n");
	struct kfs_buf b = {0};
	kfs_buf_adds(&b, "    labels: ");
	kfs_doc_emit_at(n, 4, &b);
	assert_string_equal(b.data, "    labels: a: 1\n    b:\n      c:\n        - 1\n        - 2");
	kfs_buf_free(&b);
	kfs_node_free(n);
}

static void test_parse_errors(void **state)
{
	(void)state;
	struct kfs_node *n = NULL;
	struct kfs_error err = {0};
	const char *bad = "a: 1\nb: [1, 2\n";
	assert_int_equal(kfs_doc_parse(bad, strlen(bad), "object.yaml", &n, &err), -EINVAL);
	assert_null(n);
	assert_non_null(strstr(err.msg, "object.yaml:"));
	assert_non_null(strstr(err.msg, "not valid YAML"));

	const char *dup = "a: 1\nb: 2\na: 3\n";
	assert_int_equal(kfs_doc_parse(dup, strlen(dup), "o.yaml", &n, &err), -EINVAL);
	assert_string_equal(err.msg, "o.yaml:3: duplicate key 'a' (remove one of them)");

	assert_int_equal(kfs_doc_parse("", 0, "o.yaml", &n, &err), -EINVAL);
	assert_string_equal(err.msg, "o.yaml: holds no YAML document");

	const char *two = "a: 1\n---\nb: 2\n";
	assert_int_equal(kfs_doc_parse(two, strlen(two), "o.yaml", &n, &err), -EINVAL);
	assert_string_equal(err.msg, "o.yaml: holds 2 YAML documents; put exactly one");

	const char *complex = "? [a]\n: 1\n";
	assert_int_equal(kfs_doc_parse(complex, strlen(complex), "o.yaml", &n, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "o.yaml:1: a mapping key must be a plain string"));

	/* A merge key would be merged by Kubernetes' decoder and not here: refused, in both
	 * parsers; a quoted "<<" is an ordinary key. */
	const char *merge = "base: &b {size: large}\nspec:\n  <<: *b\n";
	assert_int_equal(kfs_doc_parse(merge, strlen(merge), "o.yaml", &n, &err), -EINVAL);
	assert_string_equal(err.msg, "o.yaml:3: merge keys (<<) are not supported; write the keys out");
	const char *merge_flow = "spec: {<<: {size: large}}\n";
	assert_int_equal(kfs_doc_parse(merge_flow, strlen(merge_flow), "o.yaml", &n, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "merge keys (<<) are not supported"));
	n = parse_ok("spec: {\"<<\": x}\n");
	assert_string_equal(kfs_node_text_at(kfs_map_get(n, "spec"), "<<"), "x");
	kfs_node_free(n);
	n = NULL;
	const char *overlong = "a: \xc0\xaf\n";
	assert_int_equal(kfs_doc_parse(overlong, strlen(overlong), "o.yaml", &n, &err), -EINVAL);
	assert_string_equal(err.msg, "o.yaml:1:4: not valid YAML: invalid length of a UTF-8 sequence (0xC0)");

	/* Bytes the reader refuses are placed by line and column, not at line 1. */
	static const char nul[] = "apiVersion: v1\nkind: X\nmetadata:\n  name: a\nspec:\n"
				  "  size: sm\0all\n";
	assert_int_equal(kfs_doc_parse(nul, sizeof(nul) - 1, "object.yaml", &n, &err), -EINVAL);
	assert_string_equal(err.msg,
			    "object.yaml:6:11: not valid YAML: a NUL byte (0x00) is not allowed");
	const char *utf = "a: 1\nb: \xc3\xa9\xff\n";
	assert_int_equal(kfs_doc_parse(utf, strlen(utf), "o.yaml", &n, &err), -EINVAL);
	assert_string_equal(err.msg, "o.yaml:2:5: not valid YAML: invalid leading UTF-8 octet (0xFF)");
	assert_int_equal(kfs_doc_check(nul, sizeof(nul) - 1, "out.yaml", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "out.yaml:6:11: "));
}

static void test_aliases_bounded(void **state)
{
	(void)state;
	struct kfs_node *n = parse_ok("a: &x {k: v}\nb: *x\n");
	assert_true(kfs_node_equal(kfs_map_get(n, "a"), kfs_map_get(n, "b")));
	kfs_node_free(n);

	/* A billion-laughs document is refused instead of expanded. */
	struct kfs_buf b = {0};
	kfs_buf_adds(&b, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (int i = 1; i < 9; i++)
		kfs_buf_printf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i,
			       i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
	struct kfs_error err = {0};
	assert_int_equal(kfs_doc_parse(b.data, b.len, "bomb.yaml", &n, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "expands to more than"));
	kfs_buf_free(&b);
}

static void test_stream(void **state)
{
	(void)state;
	const char *s = "---\na: 1\n---\n---\nb: 2\n";
	struct kfs_node **docs;
	size_t n;
	struct kfs_error err = {0};
	assert_int_equal(kfs_doc_parse_stream(s, strlen(s), "s.yaml", &docs, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(kfs_node_text_at(docs[1], "b"), "2");
	kfs_doc_free_stream(docs, n);
}

static void test_map_ops(void **state)
{
	(void)state;
	struct kfs_node *m = kfs_node_new(KFS_MAP);
	kfs_map_set(m, "a", kfs_node_new_str("1"));
	kfs_map_set(m, "b", kfs_node_new_int(2));
	kfs_map_set(m, "a", kfs_node_new_bool(true));
	assert_int_equal(m->len, 2);
	assert_string_equal(m->pairs[0].key, "a");
	assert_int_equal(kfs_map_get(m, "a")->type, KFS_BOOL);
	struct kfs_node *b = kfs_map_take(m, "b");
	assert_int_equal(m->len, 1);
	assert_string_equal(b->text, "2");
	kfs_node_free(b);
	struct kfs_node *inner = kfs_node_new(KFS_MAP);
	kfs_map_set(inner, "size", kfs_node_new_str("small"));
	kfs_map_set(m, "spec", inner);
	assert_string_equal(kfs_node_text_at(m, "spec.size"), "small");
	assert_null(kfs_node_at(m, "spec.none"));
	struct kfs_node *c = kfs_node_copy(m);
	assert_true(kfs_node_equal(m, c));
	kfs_map_set(c, "a", kfs_node_new_bool(false));
	assert_false(kfs_node_equal(m, c));
	kfs_node_free(c);
	kfs_node_free(m);
}

static void test_quote_any_bytes(void **state)
{
	(void)state;
	const char raw[] = "a\"b\\c\nd: e\x01\x7f";
	struct kfs_buf b = {0};
	kfs_buf_adds(&b, "k: ");
	kfs_yaml_quote(raw, sizeof(raw) - 1, &b);
	struct kfs_node *n = parse_ok(b.data);
	assert_int_equal(kfs_map_get(n, "k")->len, sizeof(raw) - 1);
	assert_memory_equal(kfs_map_get(n, "k")->text, raw, sizeof(raw) - 1);
	kfs_node_free(n);
	kfs_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scalar_types),   cmocka_unit_test(test_emit_canonical),
		cmocka_unit_test(test_emit_identical_bytes), cmocka_unit_test(test_emit_at_column),
		cmocka_unit_test(test_parse_errors),   cmocka_unit_test(test_aliases_bounded),
		cmocka_unit_test(test_stream),         cmocka_unit_test(test_map_ops),
		cmocka_unit_test(test_quote_any_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
