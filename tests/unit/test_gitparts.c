/* aggregatedYAML files as parts of many owners: marks written, read back, merged. */
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
	/* The last: a mark in an output (a pipeline could write one) stays inside its part. */
	static const char *const data[] = {"a: 1\n", "---\nb: 1\n---\nc: 1\n", "", "no newline",
					   "x: |\n  ---\n  # kratixfs-part: inside a value\n",
					   "y: 1\n---\n# kratixfs-part: owner=promise/pg key=k9\nz: 1\n"};
	struct kfs_git_parts p = {0}, q;
	for (size_t i = 0; i < sizeof(data) / sizeof(*data); i++)
		kfs_git_parts_add(&p, i % 2 ? "resource/ns/pg/b" : "promise/pg", i < 3 ? "k1" : "k0",
				  data[i], strlen(data[i]));
	struct kfs_buf once = {0}, twice = {0};
	kfs_git_parts_render(&p, &once);
	/* k0's parts first, then k1's, each in the order they came. */
	assert_string_equal(p.items[0].data, "no newline");
	assert_string_equal(p.items[1].data, data[4]);
	assert_string_equal(p.items[2].data, data[5]);
	assert_string_equal(p.items[3].data, data[0]);
	kfs_git_parts_parse(once.data, once.len, &q);
	assert_int_equal(q.n, p.n);
	for (size_t i = 0; i < p.n; i++) {
		assert_string_equal(q.items[i].owner, p.items[i].owner);
		assert_string_equal(q.items[i].key, p.items[i].key);
		assert_int_equal(q.items[i].len, p.items[i].len);
		assert_memory_equal(q.items[i].data, p.items[i].data, p.items[i].len);
	}
	assert_true(kfs_git_parts_same(&p, &q, "promise/pg"));
	kfs_git_parts_render(&q, &twice);
	assert_string_equal(once.data, twice.data);
	/* Taking an owner's parts out leaves the others; they differ from before. */
	struct kfs_git_parts taken = {0};
	kfs_git_parts_take(&q, "promise/pg", &taken);
	assert_int_equal(taken.n, 3);
	assert_int_equal(q.n, 3);
	assert_false(kfs_git_parts_same(&p, &q, "promise/pg"));
	assert_true(kfs_git_parts_same(&p, &q, "resource/ns/pg/b"));
	kfs_git_parts_free(&taken);
	kfs_git_parts_free(&q);
	/* A final newline added to the file (an editor's) changes nothing, even with a mark in
	 * the last part. */
	struct kfs_git_parts one = {0};
	kfs_git_parts_add(&one, "o", "k", data[5], strlen(data[5]));
	kfs_buf_reset(&once);
	kfs_git_parts_render(&one, &once);
	kfs_buf_adds(&once, "\n");
	kfs_git_parts_parse(once.data, once.len, &q);
	assert_int_equal(q.n, 1);
	assert_string_equal(q.items[0].data, data[5]);
	kfs_git_parts_free(&q);
	kfs_git_parts_free(&one);
	/* Edited by hand, a part's length is wrong: it ends at the next mark instead. */
	const char *edited = "# kratixfs-part: owner=o key=k bytes=99\nx: 1\n\n---\n"
			     "# kratixfs-part: owner=o key=l bytes=5\ny: 1\n";
	kfs_git_parts_parse(edited, strlen(edited), &q);
	assert_int_equal(q.n, 2);
	assert_string_equal(q.items[0].data, "x: 1\n");
	assert_string_equal(q.items[1].data, "y: 1\n");
	kfs_git_parts_free(&q);
	/* Text without marks has no parts. */
	kfs_git_parts_parse("a: 1\n---\nb: 2\n", 14, &q);
	assert_int_equal(q.n, 0);
	kfs_git_parts_free(&q);
	kfs_git_parts_free(&p);
	kfs_buf_free(&once);
	kfs_buf_free(&twice);
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
		struct kfs_buf text = {0};
		kfs_git_parts_render(&p, &text);
		if ((rng >> 35) % 2)
			kfs_buf_adds(&text, "\n");
		kfs_git_parts_parse(text.data, text.len, &q);
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
