/* SHA-1 (kfs_sha1 in src/core/hash.c): FIPS 180-4 examples, and sha1sum on lengths around the
 * padding boundary. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/hash.h"
#include "testutil.h"

static void hex_of(const void *data, size_t len, char out[41])
{
	uint8_t sum[20];
	kfs_sha1(data, len, sum);
	for (int i = 0; i < 20; i++)
		snprintf(out + 2 * i, 3, "%02x", sum[i]);
}

static void check(const char *text, const char *want)
{
	char got[41];
	hex_of(text, strlen(text), got);
	assert_string_equal(got, want);
}

static void test_vectors(void **state)
{
	(void)state;
	check("", "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	check("abc", "a9993e364706816aba3e25717850c26c9cd0d89d");
	check("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	      "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

static void test_against_sha1sum(void **state)
{
	(void)state;
	static const size_t lens[] = {1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 100000};
	char *dir = tu_mkdtemp();
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		char *data = malloc(lens[i]);
		for (size_t j = 0; j < lens[i]; j++)
			data[j] = (char)(j * 131 + j / 7);
		struct kfs_error err = {0};
		assert_int_equal(kfs_write_file(dir, "data", data, lens[i], &err), 0);
		char *want = tu_sh("sha1sum %s/data | cut -c1-40 | tr -d '\\n'", dir);
		char got[41];
		hex_of(data, lens[i], got);
		if (strcmp(got, want) != 0)
			fail_msg("length %zu: %s, sha1sum says %s", lens[i], got, want);
		free(want);
		free(data);
	}
	tu_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),
	    cmocka_unit_test(test_against_sha1sum),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
