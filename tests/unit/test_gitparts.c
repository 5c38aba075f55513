/* aggregatedYAML files as parts of many owners: a plain join, as Kratix writes it, with a parts
 * index beside it; written, read back, merged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kratixfs/buf.h"
#include "kratixfs/gitstore.h"
#include "gittest.h"
#include "testutil.h"

/* A file's parts survive a render and a parse as they were, whatever their text. */
static void test_aggregated_parts(void **state)
{
	(void)state;
	/* The last: separators in an output (a pipeline could write them) stay inside its part. */
	static const char *const data[] = {"a: 1\n", "---\nb: 1\n---\nc: 1\n", "", "no newline",
					   "x: |\n  ---\n  # kratixfs-part: inside a value\n",
					   "y: 1\n---\n# kratixfs-part: owner=promise/pg key=k9\nz: 1\n"};
	struct kfs_git_parts p = {0}, q;
	for (size_t i = 0; i < sizeof(data) / sizeof(*data); i++)
		kfs_git_parts_add(&p, i % 2 ? "resource/ns/pg/b" : "promise/pg", i < 3 ? "k1" : "k0",
				  data[i], strlen(data[i]));
	struct kfs_buf once = {0}, twice = {0}, idx = {0}, idx2 = {0};
	kfs_git_parts_render(&p, &once, &idx);
	/* The file is Kratix's plain join of the parts, in WorkPlacement order. */
	struct kfs_buf join = {0};
	for (size_t i = 0; i < p.n; i++)
		kfs_buf_printf(&join, "%s%s", i ? "\n---\n" : "", p.items[i].data);
	assert_string_equal(once.data, join.data);
	kfs_buf_free(&join);
	/* k0's parts first, then k1's, each in the order they came. */
	assert_string_equal(p.items[0].data, "no newline");
	assert_string_equal(p.items[1].data, data[4]);
	assert_string_equal(p.items[2].data, data[5]);
	assert_string_equal(p.items[3].data, data[0]);
	kfs_git_parts_parse(once.data, once.len, idx.data, idx.len, &q);
	assert_int_equal(q.n, p.n);
	for (size_t i = 0; i < p.n; i++) {
		assert_string_equal(q.items[i].owner, p.items[i].owner);
		assert_string_equal(q.items[i].key, p.items[i].key);
		assert_int_equal(q.items[i].len, p.items[i].len);
		assert_memory_equal(q.items[i].data, p.items[i].data, p.items[i].len);
	}
	assert_true(kfs_git_parts_same(&p, &q, "promise/pg", NULL));
	kfs_git_parts_render(&q, &twice, &idx2);
	assert_string_equal(once.data, twice.data);
	assert_string_equal(idx.data, idx2.data);
	/* Taking an owner's parts out leaves the others; they differ from before. */
	struct kfs_git_parts taken = {0};
	kfs_git_parts_take(&q, "promise/pg", &taken);
	assert_int_equal(taken.n, 3);
	assert_int_equal(q.n, 3);
	assert_false(kfs_git_parts_same(&p, &q, "promise/pg", NULL));
	assert_false(kfs_git_parts_same(&p, &q, "promise/pg", "k0"));
	assert_true(kfs_git_parts_same(&p, &q, "resource/ns/pg/b", NULL));
	kfs_git_parts_free(&taken);
	kfs_git_parts_free(&q);
	/* A final newline added to the file (an editor's) changes nothing, even with a mark in
	 * the last part. */
	struct kfs_git_parts one = {0};
	kfs_git_parts_add(&one, "o", "k", data[5], strlen(data[5]));
	kfs_buf_reset(&once);
	kfs_buf_reset(&idx);
	kfs_git_parts_render(&one, &once, &idx);
	kfs_buf_adds(&once, "\n");
	kfs_git_parts_parse(once.data, once.len, idx.data, idx.len, &q);
	assert_int_equal(q.n, 1);
	assert_string_equal(q.items[0].data, data[5]);
	kfs_git_parts_free(&q);
	kfs_git_parts_free(&one);
	/* Edited by hand, a part's length is wrong: it ends where the next part begins. */
	const char *edited = "x: 1\n\n---\ny: 1\n";
	const char *edited_idx = "# comment\n99 o k\n5 o l\n";
	kfs_git_parts_parse(edited, strlen(edited), edited_idx, strlen(edited_idx), &q);
	assert_int_equal(q.n, 2);
	assert_string_equal(q.items[0].data, "x: 1\n");
	assert_string_equal(q.items[0].key, "k");
	assert_string_equal(q.items[1].data, "y: 1\n");
	kfs_git_parts_free(&q);
	/* ... and so does a part edited in the middle of three. */
	const char *edited3 = "a: 1\n\n---\nb: 22\n\n---\nc: 1\n";
	const char *edited3_idx = "5 o k1\n5 o k2\n5 o k3\n";
	kfs_git_parts_parse(edited3, strlen(edited3), edited3_idx, strlen(edited3_idx), &q);
	assert_int_equal(q.n, 3);
	assert_string_equal(q.items[0].data, "a: 1\n");
	assert_string_equal(q.items[1].data, "b: 22\n");
	assert_string_equal(q.items[2].data, "c: 1\n");
	kfs_git_parts_free(&q);
	/* Text without an index (a file Kratix wrote) has no parts. */
	kfs_git_parts_parse("a: 1\n---\nb: 2\n", 14, NULL, 0, &q);
	assert_int_equal(q.n, 0);
	kfs_git_parts_free(&q);
	kfs_git_parts_free(&p);
	kfs_buf_free(&once);
	kfs_buf_free(&twice);
	kfs_buf_free(&idx);
	kfs_buf_free(&idx2);
}

/* Random parts built from the pieces that could confuse a reader (separators, marks, lengths,
 * newlines): every file reads back as the parts that made it, with or without an editor's final
 * newline. KFS_FUZZ_ROUNDS (default 1200) sets the number of files / 2. */
static void test_aggregated_parts_fuzz(void **state)
{
	(void)state;
	static const char *const bits[] = {"\n",   "---",  "\n---\n", "# kratixfs-part: owner=",
					   " key=", " bytes=", "12",      "a: 1",
					   "o",     "k",       " ",       "\n\n"};
	const char *env = getenv("KFS_FUZZ_ROUNDS");
	size_t rounds = (env ? strtoul(env, NULL, 10) : 1200) * 2;
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	for (size_t r = 0; r < rounds; r++) {
		struct kfs_git_parts p = {0}, q;
		size_t nparts = (rng >> 33) % 5;
		for (size_t i = 0; i < nparts; i++) {
			struct kfs_buf data = {0};
			rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
			for (size_t j = 0, n = (rng >> 33) % 9; j < n; j++) {
				rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
				kfs_buf_adds(&data, bits[(rng >> 33) % (sizeof(bits) / sizeof(*bits))]);
			}
			kfs_git_parts_add(&p, (rng >> 40) % 2 ? "resource/ns/pg/a" : "promise/pg",
					  (rng >> 41) % 2 ? "k1" : "k0", data.data ? data.data : "",
					  data.len);
			kfs_buf_free(&data);
		}
		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		struct kfs_buf text = {0}, idx = {0};
		kfs_git_parts_render(&p, &text, &idx);
		if ((rng >> 35) % 2)
			kfs_buf_adds(&text, "\n");
		kfs_git_parts_parse(text.data ? text.data : "", text.len, idx.data, idx.len, &q);
		if (q.n != p.n)
			fail_msg("round %zu: %zu parts read back, %zu written, from:\n%s", r, q.n, p.n,
				 text.data ? text.data : "");
		for (size_t i = 0; i < p.n; i++)
			if (strcmp(q.items[i].owner, p.items[i].owner) ||
			    strcmp(q.items[i].key, p.items[i].key) || q.items[i].len != p.items[i].len ||
			    memcmp(q.items[i].data, p.items[i].data, p.items[i].len))
				fail_msg("round %zu: part %zu differs, from:\n%s", r, i, text.data);
		kfs_git_parts_free(&p);
		kfs_git_parts_free(&q);
		kfs_buf_free(&text);
		kfs_buf_free(&idx);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_aggregated_parts),
	    cmocka_unit_test(test_aggregated_parts_fuzz),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
