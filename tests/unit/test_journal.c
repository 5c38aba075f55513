#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/store/journal.h"
#include "testutil.h"

/* What a replay saw, as "key=payload;" in order. */
static void collect(void *ctx, const char *key, const char *payload, size_t len)
{
	kfs_buf_printf(ctx, "%s=%.*s;", key, (int)len, payload);
}

static char *replay(const char *dir)
{
	struct kfs_buf seen = {0};
	struct kfs_journal *j;
	struct kfs_error err = {0};
	if (kfs_journal_open(dir, collect, &seen, &j, &err) != 0)
		fail_msg("%s", err.msg);
	kfs_journal_close(j);
	kfs_buf_add(&seen, "", 0);
	return kfs_buf_steal(&seen);
}

static void put(struct kfs_journal *j, const char *key, const char *payload)
{
	struct kfs_error err = {0};
	if (kfs_journal_put(j, key, payload, payload ? strlen(payload) : 0, &err) != 0)
		fail_msg("%s", err.msg);
}

static off_t size_of(const char *dir, const char *file)
{
	char p[600];
	snprintf(p, sizeof(p), "%s/%s", dir, file);
	struct stat st;
	return stat(p, &st) == 0 ? st.st_size : -1;
}

static void test_latest_per_key_and_removal(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct kfs_journal *j;
	struct kfs_error err = {0};
	assert_int_equal(kfs_journal_open(dir, NULL, NULL, &j, &err), 0);
	put(j, "b", "one");
	put(j, "a", "first");
	put(j, "b", "two");
	put(j, "", "slot");
	put(j, "c", "gone");
	put(j, "c", NULL);
	kfs_journal_close(j);
	char *seen = replay(dir);
	assert_string_equal(seen, "=slot;a=first;b=two;");
	free(seen);
	/* Opening compacted: the journal is empty, the snapshot holds the live records. */
	assert_int_equal(size_of(dir, "journal"), 0);
	assert_true(size_of(dir, "snapshot") > 0);
	seen = replay(dir);
	assert_string_equal(seen, "=slot;a=first;b=two;");
	free(seen);
	tu_rmdir(dir);
}

/* A crash in the middle of an append leaves a torn record: replay keeps what came before it,
 * and appends after the reopen are not lost behind it. */
static void test_torn_tail(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct kfs_journal *j;
	struct kfs_error err = {0};
	assert_int_equal(kfs_journal_open(dir, NULL, NULL, &j, &err), 0);
	put(j, "a", "kept");
	off_t good = size_of(dir, "journal");
	put(j, "b", "torn-record-payload");
	kfs_journal_close(j);
	char p[600];
	snprintf(p, sizeof(p), "%s/journal", dir);
	assert_int_equal(truncate(p, good + 10), 0);
	char *seen = replay(dir);
	assert_string_equal(seen, "a=kept;");
	free(seen);
	assert_int_equal(kfs_journal_open(dir, NULL, NULL, &j, &err), 0);
	put(j, "c", "after");
	kfs_journal_close(j);
	seen = replay(dir);
	assert_string_equal(seen, "a=kept;c=after;");
	free(seen);
	tu_rmdir(dir);
}

static void test_corrupt_record_stops_replay(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct kfs_journal *j;
	struct kfs_error err = {0};
	assert_int_equal(kfs_journal_open(dir, NULL, NULL, &j, &err), 0);
	put(j, "a", "fine");
	off_t at = size_of(dir, "journal");
	put(j, "b", "flipped");
	kfs_journal_close(j);
	char p[600];
	snprintf(p, sizeof(p), "%s/journal", dir);
	int fd = open(p, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, at + 30), 1);
	close(fd);
	char *seen = replay(dir);
	assert_string_equal(seen, "a=fine;");
	free(seen);
	tu_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_latest_per_key_and_removal),
		cmocka_unit_test(test_torn_tail),
		cmocka_unit_test(test_corrupt_record_stops_replay),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
