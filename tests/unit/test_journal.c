#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "testutil.h"

/* What a replay saw, as "key=payload;" in order. */
static void collect(void *ctx, const char *key, const char *payload, size_t len)
{
	kfs_buf_printf(ctx, "%s=%.*s;", key, (int)len, payload);
}

/* What an open reported, as text: "snapshot=kept/lost journal=kept/lost torn=N lost=a,b
 * unnamed=N". */
static void describe(const struct kfs_journal_report *r, struct kfs_buf *out)
{
	kfs_buf_printf(out, "snapshot=%zu/%zu journal=%zu/%zu torn=%zu lost=", r->snapshot.kept,
		       r->snapshot.lost, r->journal.kept, r->journal.lost, r->torn_bytes);
	for (size_t i = 0; i < r->nlost_keys; i++)
		kfs_buf_printf(out, "%s%s", i ? "," : "", r->lost_keys[i]);
	kfs_buf_printf(out, " unnamed=%zu", r->unnamed);
}

/* Opens dir, returns what replay saw; *report (if set) gets what the open reported. */
static char *replay_report(const char *dir, char **report)
{
	struct kfs_buf seen = {0};
	struct kfs_journal *j;
	struct kfs_error err = {0};
	if (kfs_journal_open(dir, collect, &seen, &j, &err) != 0)
		fail_msg("%s", err.msg);
	if (report) {
		struct kfs_buf r = {0};
		describe(kfs_journal_report(j), &r);
		*report = kfs_buf_steal(&r);
	}
	kfs_journal_close(j);
	kfs_buf_add(&seen, "", 0);
	return kfs_buf_steal(&seen);
}

static char *replay(const char *dir)
{
	return replay_report(dir, NULL);
}

static void put(struct kfs_journal *j, const char *key, const char *payload)
{
	struct kfs_error err = {0};
	if (kfs_journal_put(j, key, payload, payload ? strlen(payload) : 0, &err) != 0)
		fail_msg("%s", err.msg);
}

static off_t size_of(const char *dir, const char *file)
{
	char p[1200];
	snprintf(p, sizeof(p), "%s/%s", dir, file);
	struct stat st;
	return stat(p, &st) == 0 ? st.st_size : -1;
}

/* Flips one byte of dir/file at off. */
static void flip(const char *dir, const char *file, off_t off)
{
	char p[600], c;
	snprintf(p, sizeof(p), "%s/%s", dir, file);
	int fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0x20;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static char *slurp(const char *path)
{
	struct kfs_buf b = {0};
	struct kfs_error err = {0};
	if (kfs_read_file(path, &b, &err) != 0)
		fail_msg("%s", err.msg);
	return kfs_buf_steal(&b);
}

/* The one file matching dir/pattern (NULL if none; two fail the test). */
static char *only_match(const char *dir, const char *pattern)
{
	char p[600];
	snprintf(p, sizeof(p), "%s/%s", dir, pattern);
	glob_t g;
	if (glob(p, 0, NULL, &g) != 0)
		return NULL;
	assert_int_equal(g.gl_pathc, 1);
	char *m = strdup(g.gl_pathv[0]);
	globfree(&g);
	return m;
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
	char *report;
	char *seen = replay_report(dir, &report);
	assert_string_equal(seen, "a=kept;");
	/* A crash, not damage: dropped, reported as torn, nothing kept aside. */
	assert_string_equal(report, "snapshot=0/0 journal=1/0 torn=10 lost= unnamed=0");
	assert_null(only_match(dir, "*damaged*"));
	free(seen);
	free(report);
	assert_int_equal(kfs_journal_open(dir, NULL, NULL, &j, &err), 0);
	put(j, "c", "after");
	good = size_of(dir, "journal");
	put(j, "d", "cut in its payload");
	kfs_journal_close(j);
	off_t cut = size_of(dir, "journal") - 3;
	assert_int_equal(truncate(p, cut), 0);
	seen = replay_report(dir, &report);
	assert_string_equal(seen, "a=kept;c=after;");
	char want[100];
	snprintf(want, sizeof(want), "snapshot=1/0 journal=1/0 torn=%lld lost= unnamed=0",
		 (long long)(cut - good));
	assert_string_equal(report, want);
	assert_null(only_match(dir, "*damaged*"));
	free(seen);
	free(report);
	tu_rmdir(dir);
}

/* A journal of a, b, c with one byte of b's payload flipped: replay keeps a and c (the old
 * replay stopped at b and lost c), names b as lost, keeps the damaged journal aside byte for
 * byte, and the next open finds a whole state folder. */
static void test_damaged_journal_middle(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct kfs_journal *j;
	struct kfs_error err = {0};
	assert_int_equal(kfs_journal_open(dir, NULL, NULL, &j, &err), 0);
	put(j, "a", "first");
	put(j, "b", "second");
	off_t b_end = size_of(dir, "journal");
	put(j, "c", "third");
	kfs_journal_close(j);
	flip(dir, "journal", b_end - 2);
	char p[600];
	snprintf(p, sizeof(p), "%s/journal", dir);
	char *damaged = slurp(p);
	char *report;
	char *seen = replay_report(dir, &report);
	assert_string_equal(seen, "a=first;c=third;");
	assert_string_equal(report, "snapshot=0/0 journal=2/1 torn=0 lost=b unnamed=0");
	char *aside = only_match(dir, "journal.damaged-*");
	assert_non_null(aside);
	char *kept = slurp(aside);
	assert_memory_equal(kept, damaged, (size_t)size_of(dir, strrchr(aside, '/') + 1));
	assert_int_equal(size_of(dir, "journal"), 0);
	free(seen);
	free(report);
	seen = replay_report(dir, &report);
	assert_string_equal(seen, "a=first;c=third;");
	assert_string_equal(report, "snapshot=2/0 journal=0/0 torn=0 lost= unnamed=0");
	free(seen);
	free(report);
	free(kept);
	free(aside);
	free(damaged);
	tu_rmdir(dir);
}

/* A flipped byte in a record's header: its key cannot be read, the records around it are kept
 * and the loss is counted as unnamed. */
static void test_damaged_header(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct kfs_journal *j;
	struct kfs_error err = {0};
	assert_int_equal(kfs_journal_open(dir, NULL, NULL, &j, &err), 0);
	put(j, "a", "first");
	off_t b_start = size_of(dir, "journal");
	put(j, "b", "second");
	put(j, "c", "third");
	kfs_journal_close(j);
	flip(dir, "journal", b_start + 5); /* in its key length */
	char *report;
	char *seen = replay_report(dir, &report);
	assert_string_equal(seen, "a=first;c=third;");
	assert_string_equal(report, "snapshot=0/0 journal=2/1 torn=0 lost= unnamed=1");
	free(seen);
	free(report);
	tu_rmdir(dir);
}

/* One byte flipped in the snapshot: the other records are kept, the lost one is named, the
 * damaged snapshot is kept aside (not rewritten in place: its bytes are as they were found). A
 * later good record of a damaged key means nothing of it is lost; a damaged last change with an
 * older record kept is lost (the key comes back as it was). */
static void test_damaged_snapshot(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct kfs_journal *j;
	struct kfs_error err = {0};
	assert_int_equal(kfs_journal_open(dir, NULL, NULL, &j, &err), 0);
	put(j, "a", "first");
	put(j, "b", "second");
	put(j, "c", "third");
	put(j, "d", "fourth");
	kfs_journal_close(j);
	char *seen = replay(dir); /* compacts: the records are in the snapshot, in key order */
	free(seen);
	/* The snapshot's records have the same sizes as the journal's were: a's ends where b's
	 * starts. */
	assert_int_equal(kfs_journal_open(dir, NULL, NULL, &j, &err), 0);
	put(j, "a", "first");
	off_t a_end = size_of(dir, "journal");
	put(j, "b", "second");
	off_t b_end = size_of(dir, "journal");
	put(j, "c", "third");
	off_t c_end = size_of(dir, "journal");
	kfs_journal_close(j);
	/* Now: b superseded by a good record, c's last change (the journal's) damaged, so c comes
	 * back from the snapshot as it was; a damaged in both. */
	char p[600];
	snprintf(p, sizeof(p), "%s/snapshot", dir);
	flip(dir, "snapshot", a_end - 1);
	flip(dir, "snapshot", b_end - 1);
	flip(dir, "journal", a_end - 1);
	flip(dir, "journal", c_end - 1);
	char *damaged = slurp(p);
	struct stat before;
	assert_int_equal(stat(p, &before), 0);
	char *report;
	seen = replay_report(dir, &report);
	assert_string_equal(seen, "b=second;c=third;d=fourth;");
	assert_string_equal(report, "snapshot=2/2 journal=1/2 torn=0 lost=a,c unnamed=0");
	char *aside = only_match(dir, "snapshot.damaged-*");
	assert_non_null(aside);
	char *kept = slurp(aside);
	assert_string_equal(kept, damaged);
	struct stat st;
	assert_int_equal(stat(aside, &st), 0);
	assert_int_equal(st.st_ino, before.st_ino); /* the very file, moved aside */
	assert_int_equal(st.st_mode & 0777, 0600);
	free(aside);
	assert_non_null(aside = only_match(dir, "journal.damaged-*"));
	free(aside);
	free(seen);
	free(report);
	free(kept);
	free(damaged);
	tu_rmdir(dir);
}

/* A snapshot of which nothing can be proven refuses the open, says what to do and changes
 * nothing: no file moved, none written. */
static void test_unreadable_snapshot_refuses(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	tu_write(dir, "snapshot", "this is not a snapshot at all\n");
	struct kfs_journal *j;
	struct kfs_error err = {0};
	assert_int_equal(kfs_journal_open(dir, NULL, NULL, &j, &err), -EIO);
	assert_null(j);
	assert_contains(err.msg,
			"/snapshot: damaged: none of its 30 bytes can be read as a record");
	assert_contains(err.msg, "nothing was changed");
	assert_contains(err.msg, "mv ");
	char p[600];
	snprintf(p, sizeof(p), "%s/snapshot", dir);
	char *text = slurp(p);
	assert_string_equal(text, "this is not a snapshot at all\n");
	free(text);
	assert_null(only_match(dir, "*damaged*"));
	assert_int_equal(size_of(dir, "snapshot.tmp"), -1);
	tu_rmdir(dir);
}

/* A state folder written by an earlier version (FNV-checksummed "KFS1" records, a 0644
 * snapshot) is read, and rewritten 0600 in today's format. */
static void test_reads_older_records(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct {
		char magic[4];
		uint32_t keylen, len;
		uint64_t sum;
	} h = {.keylen = 1, .len = 3};
	memcpy(h.magic, "KFS1", 4);
	uint64_t sum = 0xcbf29ce484222325ULL;
	for (const char *c = "kold"; *c; c++)
		sum = (sum ^ (unsigned char)*c) * 0x100000001b3ULL;
	h.sum = sum;
	char p[600];
	snprintf(p, sizeof(p), "%s/snapshot", dir);
	int fd = open(p, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, &h, sizeof(h)), sizeof(h));
	assert_int_equal(write(fd, "kold", 4), 4);
	close(fd);
	char *report;
	char *seen = replay_report(dir, &report);
	assert_string_equal(seen, "k=old;");
	assert_string_equal(report, "snapshot=1/0 journal=0/0 torn=0 lost= unnamed=0");
	free(seen);
	free(report);
	char *text = slurp(p);
	assert_memory_equal(text, "KFS2", 4);
	free(text);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	tu_rmdir(dir);
}

/* Every file of the state folder is 0600 whatever the umask. */
static void test_modes(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	mode_t old = umask(0);
	struct kfs_journal *j;
	struct kfs_error err = {0};
	assert_int_equal(kfs_journal_open(dir, NULL, NULL, &j, &err), 0);
	put(j, "a", "secret");
	kfs_journal_close(j);
	char *seen = replay(dir);
	free(seen);
	umask(old);
	const char *files[] = {"journal", "snapshot", "lock"};
	for (size_t i = 0; i < 3; i++) {
		char p[600];
		struct stat st;
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		assert_int_equal(stat(p, &st), 0);
		if ((st.st_mode & 0777) != 0600)
			fail_msg("%s is %o", p, st.st_mode & 0777);
	}
	tu_rmdir(dir);
}

static void *close_later(void *j)
{
	usleep(300 * 1000);
	kfs_journal_close(j);
	return NULL;
}

/* One journal per state folder: a second open is refused, naming the holder's pid, until the
 * first is closed. */
static void test_lock(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct kfs_journal *j, *j2;
	struct kfs_error err = {0};
	assert_int_equal(kfs_journal_open(dir, NULL, NULL, &j, &err), 0);
	put(j, "a", "mine");
	assert_int_equal(kfs_journal_open(dir, NULL, NULL, &j2, &err), -EBUSY);
	char pid[64];
	snprintf(pid, sizeof(pid), "in use by another kratixfs (pid %ld)", (long)getpid());
	assert_contains(err.msg, pid);
	assert_contains(err.msg, dir);
	/* A holder that lets go within the wait (a daemon closing after its unmount) is waited
	 * for. */
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, close_later, j), 0);
	assert_int_equal(kfs_journal_open(dir, NULL, NULL, &j2, &err), 0);
	pthread_join(t, NULL);
	kfs_journal_close(j2);
	char *seen = replay(dir);
	assert_string_equal(seen, "a=mine;");
	free(seen);
	tu_rmdir(dir);
}

/* Rewriting one request over and over compacts online: the journal stays a few times the live
 * records (the old limit let it grow to 64 MiB before a restart). */
static void test_online_compaction(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct kfs_journal *j;
	struct kfs_error err = {0};
	assert_int_equal(kfs_journal_open(dir, NULL, NULL, &j, &err), 0);
	put(j, "other", "stays");
	char payload[1024];
	off_t biggest = 0;
	for (int i = 0; i < 8000; i++) {
		snprintf(payload, sizeof(payload), "%0*d", (int)sizeof(payload) - 1, i);
		put(j, "db", payload);
		off_t n = size_of(dir, "journal");
		if (n > biggest)
			biggest = n;
	}
	kfs_journal_close(j);
	/* 8 MiB were appended; the journal never held more than the floor and a record. */
	if (biggest > (off_t)(1u << 20) + 2048)
		fail_msg("the journal grew to %lld bytes", (long long)biggest);
	assert_true(size_of(dir, "snapshot") < 4096);
	char *seen = replay(dir);
	assert_int_equal(strncmp(seen, "db=000", 6), 0);
	assert_contains(seen, "7999;other=stays;");
	free(seen);
	tu_rmdir(dir);
}

/* A tmpfs of the given options at a temp folder (root only: the test is skipped otherwise),
 * with dir = <top>/state made and filler = <top>/filler to fill it. Returns top. */
static char *small_disk(const char *options, char dir[600], char filler[600])
{
	char *top = tu_mkdtemp();
	if (mount("kratixfs-test", top, "tmpfs", 0, options) != 0) {
		tu_rmdir(top);
		skip();
	}
	snprintf(dir, 600, "%s/state", top);
	snprintf(filler, 600, "%s/filler", top);
	assert_int_equal(mkdir(dir, 0700), 0);
	return top;
}

/* A full state folder: the append that does not fit fails with ENOSPC and a message naming the
 * folder, and leaves no torn tail; an open that cannot write its snapshot changes nothing; once
 * there is room, every accepted record is there. On a 64 KiB tmpfs (root only). */
static void test_full_disk(void **state)
{
	(void)state;
	char dir[600], filler[600];
	char *top = small_disk("size=64k,mode=0700", dir, filler);
	int fd = open(filler, O_WRONLY | O_CREAT, 0600);
	char block[8192] = {0};
	assert_int_equal(write(fd, block, sizeof(block)), sizeof(block));
	close(fd);
	struct kfs_journal *j;
	struct kfs_error err = {0};
	assert_int_equal(kfs_journal_open(dir, NULL, NULL, &j, &err), 0);
	char payload[3000];
	int rc = 0, accepted = -1;
	for (int i = 0; i < 100 && rc == 0; i++) {
		snprintf(payload, sizeof(payload), "%0*d", (int)sizeof(payload) - 1, i);
		off_t before = size_of(dir, "journal");
		rc = kfs_journal_put(j, "db", payload, strlen(payload), &err);
		if (rc == 0)
			accepted = i;
		else
			assert_int_equal(size_of(dir, "journal"), before); /* no torn tail */
	}
	assert_int_equal(rc, -ENOSPC);
	assert_true(accepted > 0);
	assert_contains(err.msg, dir);
	assert_contains(err.msg, "the state folder is full (No space left on device)");
	kfs_journal_close(j);
	/* Still full: the open cannot write the snapshot, and says so, leaving the files. */
	off_t journal = size_of(dir, "journal");
	assert_int_equal(kfs_journal_open(dir, NULL, NULL, &j, &err), -ENOSPC);
	assert_contains(err.msg, "nothing was changed; free some space");
	assert_int_equal(size_of(dir, "journal"), journal);
	assert_int_equal(size_of(dir, "snapshot.tmp"), -1);
	unlink(filler);
	char *report;
	char *seen = replay_report(dir, &report);
	char want[3100];
	snprintf(want, sizeof(want), "db=%0*d;", 2999, accepted);
	assert_string_equal(seen, want);
	assert_contains(report, "torn=0 lost= unnamed=0");
	assert_contains(report, "journal=");
	assert_null(strstr(report, "journal=0/1"));
	free(seen);
	free(report);
	umount2(top, MNT_DETACH);
	tu_rmdir(top);
}

/* An online compaction that cannot be written (the disk filled up between the append and the
 * compaction) keeps the old journal and snapshot, and the put it follows still succeeds: its
 * record is stored. On a 2 MiB tmpfs (root only). */
static void test_compaction_on_full_disk(void **state)
{
	(void)state;
	char dir[600], filler[600];
	char *top = small_disk("size=2m,mode=0700", dir, filler);
	struct kfs_journal *j;
	struct kfs_error err = {0};
	assert_int_equal(kfs_journal_open(dir, NULL, NULL, &j, &err), 0);
	static char payload[8192];
	memset(payload, 'a', sizeof(payload) - 1);
	put(j, "a", payload); /* live: two 8 KiB records, so a snapshot needs 16 KiB */
	int i = 0;
	while (size_of(dir, "journal") < (off_t)(1u << 20) - 9000) {
		snprintf(payload, sizeof(payload), "%0*d", (int)sizeof(payload) - 1, i++);
		put(j, "db", payload);
	}
	/* Fill the disk, then free 12 KiB: room for one more record, not for a snapshot. */
	int fd = open(filler, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	static char block[4096];
	while (write(fd, block, sizeof(block)) == (ssize_t)sizeof(block))
		;
	off_t full = lseek(fd, 0, SEEK_END);
	assert_int_equal(ftruncate(fd, full - 12288), 0);
	close(fd);
	snprintf(payload, sizeof(payload), "%0*d", (int)sizeof(payload) - 1, 999999);
	assert_int_equal(kfs_journal_put(j, "db", payload, strlen(payload), &err), 0);
	assert_true(size_of(dir, "journal") > (off_t)(1u << 20)); /* not compacted */
	assert_int_equal(size_of(dir, "snapshot"), 0);
	assert_int_equal(size_of(dir, "snapshot.tmp"), -1);
	kfs_journal_close(j);
	unlink(filler);
	char *report;
	char *seen = replay_report(dir, &report);
	char want[100];
	snprintf(want, sizeof(want), "snapshot=0/0 journal=%d/0 torn=0 lost= unnamed=0", i + 2);
	assert_string_equal(report, want); /* every record, none lost */
	assert_contains(seen, "999999;");
	assert_int_equal(strncmp(seen, "a=aaaa", 6), 0);
	free(seen);
	free(report);
	umount2(top, MNT_DETACH);
	tu_rmdir(top);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_latest_per_key_and_removal),
	    cmocka_unit_test(test_torn_tail),
	    cmocka_unit_test(test_damaged_journal_middle),
	    cmocka_unit_test(test_damaged_header),
	    cmocka_unit_test(test_damaged_snapshot),
	    cmocka_unit_test(test_unreadable_snapshot_refuses),
	    cmocka_unit_test(test_reads_older_records),
	    cmocka_unit_test(test_modes),
	    cmocka_unit_test(test_lock),
	    cmocka_unit_test(test_online_compaction),
	    cmocka_unit_test(test_full_disk),
	    cmocka_unit_test(test_compaction_on_full_disk),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
