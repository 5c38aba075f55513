#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kratixfs/buf.h"
#include "kratixfs/diff.h"

static char *diff_of(const char *a, const char *b)
{
	struct kfs_buf out = {0};
	bool differ = kfs_diff_unified("A", a, strlen(a), "B", b, strlen(b), &out);
	assert_true(differ);
	return kfs_buf_steal(&out);
}

static void write_temp(char *path, const char *text)
{
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t len = strlen(text);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

static bool have_diff(void)
{
	return system("diff --version >/dev/null 2>&1") == 0;
}

/* Runs the real `diff -u` on a and b and checks our bytes are the same. */
static void assert_like_gnu_diff(const char *a, const char *b)
{
	if (!have_diff())
		skip();
	char pa[] = "/tmp/kfs-diff-a-XXXXXX", pb[] = "/tmp/kfs-diff-b-XXXXXX";
	write_temp(pa, a);
	write_temp(pb, b);

	char cmd[256];
	snprintf(cmd, sizeof(cmd), "diff -u --label A --label B %s %s", pa, pb);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	struct kfs_buf want = {0};
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		kfs_buf_add(&want, chunk, n);
	pclose(p);
	unlink(pa);
	unlink(pb);

	struct kfs_buf got = {0};
	bool differ = kfs_diff_unified("A", a, strlen(a), "B", b, strlen(b), &got);
	assert_int_equal(differ, want.len > 0);
	if (want.len != got.len || (want.len && memcmp(want.data, got.data, want.len) != 0))
		fail_msg("diff -u printed:\n%s\nkfs_diff_unified printed:\n%s",
			 want.data ? want.data : "", got.data ? got.data : "");
	kfs_buf_free(&want);
	kfs_buf_free(&got);
}

/* "1\n2\n...n\n" */
static char *numbers(int from, int to)
{
	struct kfs_buf b = {0};
	kfs_buf_adds(&b, "");
	for (int i = from; i <= to; i++)
		kfs_buf_printf(&b, "%d\n", i);
	return kfs_buf_steal(&b);
}

/* numbers(1, n) with line k (1-based) replaced, or dropped when with is NULL. */
static char *numbers_edit(int n, int k, const char *with)
{
	struct kfs_buf b = {0};
	kfs_buf_adds(&b, "");
	for (int i = 1; i <= n; i++) {
		if (i != k)
			kfs_buf_printf(&b, "%d\n", i);
		else if (with)
			kfs_buf_printf(&b, "%s\n", with);
	}
	return kfs_buf_steal(&b);
}

static void test_equal_appends_nothing(void **state)
{
	(void)state;
	struct kfs_buf out = {0};
	kfs_buf_adds(&out, "keep");
	assert_false(kfs_diff_unified("A", "x\ny\n", 4, "B", "x\ny\n", 4, &out));
	assert_false(kfs_diff_unified("A", "", 0, "B", "", 0, &out));
	assert_string_equal(out.data, "keep");
	kfs_buf_free(&out);
	assert_like_gnu_diff("same\ntext\n", "same\ntext\n");
}

static void test_one_change_exact_text(void **state)
{
	(void)state;
	char *a = numbers(1, 10), *b = numbers_edit(10, 5, "five");
	char *d = diff_of(a, b);
	assert_string_equal(d,
			    "--- A\n+++ B\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
	assert_like_gnu_diff(a, b);
	free(d);
	free(a);
	free(b);
}

static void test_appends_to_buffer_with_names(void **state)
{
	(void)state;
	struct kfs_buf out = {0};
	kfs_buf_adds(&out, "case x:\n");
	assert_true(kfs_diff_unified("expected/a.yaml", "a\n", 2, "output/a.yaml", "b\n", 2, &out));
	assert_string_equal(out.data, "case x:\n--- expected/a.yaml\n+++ output/a.yaml\n"
				      "@@ -1 +1 @@\n-a\n+b\n");
	kfs_buf_free(&out);
}

static void test_additions_at_start_and_end(void **state)
{
	(void)state;
	char *a = numbers(1, 10), *start = numbers(-1, 10), *end = numbers(1, 13);
	char *d = diff_of(a, start);
	assert_string_equal(d, "--- A\n+++ B\n@@ -1,3 +1,5 @@\n+-1\n+0\n 1\n 2\n 3\n");
	assert_like_gnu_diff(a, start);
	assert_like_gnu_diff(a, end);
	assert_like_gnu_diff("x\n", "x\ny\n");
	free(d);
	free(a);
	free(start);
	free(end);
}

static void test_deletions(void **state)
{
	(void)state;
	char *a = numbers(1, 20), *mid = numbers_edit(20, 11, NULL), *head = numbers(4, 20);
	char *tail = numbers(1, 17);
	assert_like_gnu_diff(a, mid);
	assert_like_gnu_diff(a, head);
	assert_like_gnu_diff(a, tail);
	/* The only-line deletion: an empty range on the right, "+0,0". */
	char *d = diff_of("only\n", "");
	assert_string_equal(d, "--- A\n+++ B\n@@ -1 +0,0 @@\n-only\n");
	free(d);
	free(a);
	free(mid);
	free(head);
	free(tail);
}

static void test_two_distant_hunks(void **state)
{
	(void)state;
	char *a = numbers(1, 40), *b1 = numbers_edit(40, 5, "five"), *b = NULL;
	/* Edit line 30 of b1 as well. */
	char *p = strstr(b1, "\n30\n");
	assert_non_null(p);
	struct kfs_buf nb = {0};
	kfs_buf_add(&nb, b1, (size_t)(p - b1) + 1);
	kfs_buf_adds(&nb, "thirty\n");
	kfs_buf_adds(&nb, p + 4);
	b = kfs_buf_steal(&nb);

	char *d = diff_of(a, b);
	/* Two hunks, not one. */
	assert_non_null(strstr(d, "@@ -2,7 +2,7 @@"));
	assert_non_null(strstr(d, "@@ -27,7 +27,7 @@"));
	assert_like_gnu_diff(a, b);
	free(d);
	free(a);
	free(b1);
	free(b);
}

/* Changes k and k + gap + 1: with gap unchanged lines between them. */
static char *two_edits(int n, int k, int gap)
{
	struct kfs_buf b = {0};
	kfs_buf_adds(&b, "");
	for (int i = 1; i <= n; i++) {
		if (i == k || i == k + gap + 1)
			kfs_buf_printf(&b, "x%d\n", i);
		else
			kfs_buf_printf(&b, "%d\n", i);
	}
	return kfs_buf_steal(&b);
}

static void test_overlapping_contexts_merge(void **state)
{
	(void)state;
	char *a = numbers(1, 30);
	/* 6 lines apart the contexts touch: one hunk. 7 apart: two. */
	char *b6 = two_edits(30, 10, 6), *b7 = two_edits(30, 10, 7), *b2 = two_edits(30, 10, 2);
	char *d6 = diff_of(a, b6), *d7 = diff_of(a, b7);
	const char *h6 = strstr(d6, "@@ -7,14 +7,14 @@");
	assert_non_null(h6);
	assert_null(strstr(h6, "\n@@ "));
	assert_non_null(strstr(d7, "@@ -7,7 +7,7 @@"));
	assert_non_null(strstr(d7, "@@ -15,7 +15,7 @@"));
	assert_like_gnu_diff(a, b6);
	assert_like_gnu_diff(a, b7);
	assert_like_gnu_diff(a, b2);
	free(d6);
	free(d7);
	free(a);
	free(b6);
	free(b7);
	free(b2);
}

static void test_missing_final_newline(void **state)
{
	(void)state;
	char *d = diff_of("a\nb", "a\nb\n");
	assert_string_equal(d,
			    "--- A\n+++ B\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n"
			    "+b\n");
	free(d);
	assert_like_gnu_diff("a\nb", "a\nb\n");
	assert_like_gnu_diff("a\nb\n", "a\nb");
	assert_like_gnu_diff("a\nb", "a\nc");
	assert_like_gnu_diff("1\n2\n3\n4\n5\n6\n7\n8\nlast", "0\n1\n2\n3\n4\n5\n6\n7\n8\nlast");
	assert_like_gnu_diff("1\n2\n3\n4\n5\n6\n7\n8\nlast", "1\n2\n3\n4\n5\n6\n7\n8\nlast\n");
}

static void test_empty_against_non_empty(void **state)
{
	(void)state;
	char *d = diff_of("", "x\ny\n");
	assert_string_equal(d, "--- A\n+++ B\n@@ -0,0 +1,2 @@\n+x\n+y\n");
	free(d);
	assert_like_gnu_diff("", "x\ny\n");
	assert_like_gnu_diff("x\ny\n", "");
	assert_like_gnu_diff("", "x");
	assert_like_gnu_diff("one\n", "");
}

static void test_yaml_like_changes(void **state)
{
	(void)state;
	/* A rendered manifest against its expected file: unique lines, several edits. */
	const char *a =
	    "apiVersion: v1\nkind: Service\nmetadata:\n  name: db\n  namespace: default\n"
	    "  labels:\n    app: db\n    tier: data\nspec:\n  ports:\n  - port: 5432\n"
	    "    targetPort: 5432\n  selector:\n    app: db\n  type: ClusterIP\n";
	const char *b = "apiVersion: v1\nkind: Service\nmetadata:\n  name: db-main\n"
			"  namespace: team-a\n  labels:\n    app: db\nspec:\n  ports:\n"
			"  - port: 5433\n    targetPort: 5432\n    protocol: TCP\n  selector:\n"
			"    app: db\n  type: ClusterIP\n";
	assert_like_gnu_diff(a, b);
}

static void test_large_inputs(void **state)
{
	(void)state;
	/* Thousands of lines: every 50th changed, every 97th dropped, a block inserted. */
	struct kfs_buf a = {0}, b = {0};
	kfs_buf_adds(&a, "");
	kfs_buf_adds(&b, "");
	for (int i = 1; i <= 3000; i++) {
		kfs_buf_printf(&a, "line %d\n", i);
		if (i % 97 == 0)
			continue;
		if (i % 50 == 0)
			kfs_buf_printf(&b, "line %d changed\n", i);
		else
			kfs_buf_printf(&b, "line %d\n", i);
		if (i == 1500)
			for (int j = 0; j < 40; j++)
				kfs_buf_printf(&b, "new %d\n", j);
	}
	assert_like_gnu_diff(a.data, b.data);
	/* Nothing in common at all. */
	char *x = numbers(1, 2000), *y = numbers(5001, 7000);
	assert_like_gnu_diff(x, y);
	free(x);
	free(y);
	kfs_buf_free(&a);
	kfs_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_equal_appends_nothing),
	    cmocka_unit_test(test_one_change_exact_text),
	    cmocka_unit_test(test_appends_to_buffer_with_names),
	    cmocka_unit_test(test_additions_at_start_and_end),
	    cmocka_unit_test(test_deletions),
	    cmocka_unit_test(test_two_distant_hunks),
	    cmocka_unit_test(test_overlapping_contexts_merge),
	    cmocka_unit_test(test_missing_final_newline),
	    cmocka_unit_test(test_empty_against_non_empty),
	    cmocka_unit_test(test_yaml_like_changes),
	    cmocka_unit_test(test_large_inputs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
