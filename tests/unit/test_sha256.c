#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kratixfs/hash.h"

static void check(const char *data, size_t len, const char *hex)
{
	char out[KFS_DIGEST_LEN];
	kfs_sha256_digest(data, len, out);
	char want[KFS_DIGEST_LEN];
	snprintf(want, sizeof(want), "sha256:%s", hex);
	assert_string_equal(out, want);
}

/* FIPS 180-4 examples, plus lengths around the padding boundary checked against sha256sum. */
static void test_vectors(void **state)
{
	(void)state;
	check("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	check(two, strlen(two), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_against_sha256sum(void **state)
{
	(void)state;
	static const size_t lens[] = {55, 56, 63, 64, 65, 119, 120, 1000};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		char *data = malloc(lens[i]);
		for (size_t j = 0; j < lens[i]; j++)
			data[j] = (char)('a' + j % 26);
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "head -c %zu /dev/stdin | sha256sum", lens[i]);
		char path[] = "/tmp/kfs-sha-XXXXXX";
		int fd = mkstemp(path);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, data, lens[i]), (ssize_t)lens[i]);
		close(fd);
		snprintf(cmd, sizeof(cmd), "sha256sum %s", path);
		FILE *p = popen(cmd, "r");
		char hex[65] = {0};
		assert_int_equal(fscanf(p, "%64s", hex), 1);
		pclose(p);
		unlink(path);
		check(data, lens[i], hex);
		free(data);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_against_sha256sum),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
