/* The object database kratixfs commits through (src/git/gitpacks.c): what it writes is read back
 * through a second, plain libgit2 handle and checked by the real git CLI (verify-pack recomputes
 * every checksum and CRC; fsck walks the history). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gitpacks.h"
#include "testutil.h"

struct fx {
	char *dir;
	char repo[512];
	git_repository *r;
	struct kfs_gitpacks *p;
};

static int setup(void **state)
{
	git_libgit2_init();
	struct fx *f = calloc(1, sizeof(*f));
	f->dir = tu_mkdtemp();
	snprintf(f->repo, sizeof(f->repo), "%s/repo.git", f->dir);
	git_repository_init_options io;
	git_repository_init_options_init(&io, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	io.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
	io.initial_head = "main";
	assert_int_equal(git_repository_init_ext(&f->r, f->repo, &io), 0);
	struct kfs_error err = {0};
	if (kfs_gitpacks_attach(f->r, &f->p, &err))
		fail_msg("%s", err.msg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	kfs_gitpacks_free(f->p);
	git_repository_free(f->r);
	tu_rmdir(f->dir);
	free(f);
	git_libgit2_shutdown();
	return 0;
}

/* Files in the pack folder ending in suffix. */
static int count_files(struct fx *f, const char *suffix)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/objects/pack", f->repo);
	DIR *d = opendir(path);
	assert_non_null(d);
	int n = 0;
	for (struct dirent *e; (e = readdir(d));) {
		size_t l = strlen(e->d_name), s = strlen(suffix);
		n += l > s && strcmp(e->d_name + l - s, suffix) == 0;
	}
	closedir(d);
	return n;
}

static void flush(struct fx *f)
{
	struct kfs_error err = {0};
	if (kfs_gitpacks_flush(f->p, &err))
		fail_msg("%s", err.msg);
}

/* A new commit on main's head adding files/f<i>.txt ("content <i>"), not flushed, main not
 * moved: its id in *commit, the file's in *blob. */
static void add_commit_unflushed(struct fx *f, int i, git_oid *commit, git_oid *blob)
{
	char text[64], path[64];
	snprintf(text, sizeof(text), "content %d\n", i);
	snprintf(path, sizeof(path), "files/f%d.txt", i);
	git_oid tree_id, head;
	assert_int_equal(git_blob_create_from_buffer(blob, f->r, text, strlen(text)), 0);
	git_commit *parent = NULL;
	git_tree *base = NULL;
	if (git_reference_name_to_id(&head, f->r, "refs/heads/main") == 0) {
		assert_int_equal(git_commit_lookup(&parent, f->r, &head), 0);
		assert_int_equal(git_commit_tree(&base, parent), 0);
	} else {
		git_treebuilder *tb;
		git_oid empty;
		assert_int_equal(git_treebuilder_new(&tb, f->r, NULL), 0);
		assert_int_equal(git_treebuilder_write(&empty, tb), 0);
		git_treebuilder_free(tb);
		assert_int_equal(git_tree_lookup(&base, f->r, &empty), 0);
	}
	git_tree_update u = {GIT_TREE_UPDATE_UPSERT, *blob, GIT_FILEMODE_BLOB, path};
	assert_int_equal(git_tree_create_updated(&tree_id, f->r, base, 1, &u), 0);
	git_tree *tree;
	assert_int_equal(git_tree_lookup(&tree, f->r, &tree_id), 0);
	git_signature *sig;
	assert_int_equal(git_signature_now(&sig, "kratix", "kratix@kratix.io"), 0);
	const git_commit *parents[1] = {parent};
	assert_int_equal(git_commit_create(commit, f->r, NULL, sig, sig, NULL, "Update\n", tree,
					   parent ? 1 : 0, parents),
			 0);
	git_signature_free(sig);
	git_tree_free(tree);
	git_tree_free(base);
	git_commit_free(parent);
}

static void move_main(struct fx *f, const git_oid *commit)
{
	git_reference *ref;
	assert_int_equal(git_reference_create(&ref, f->r, "refs/heads/main", commit, 1, "test"), 0);
	git_reference_free(ref);
}

/* As kratixfs commits: objects, flush, the branch, settle. */
static void add_commit(struct fx *f, int i)
{
	git_oid commit, blob;
	add_commit_unflushed(f, i, &commit, &blob);
	flush(f);
	move_main(f, &commit);
	kfs_gitpacks_settle(f->p);
}

/* Every object of main, through a handle with libgit2's own object database. */
static void assert_readable(struct fx *f, int ncommits)
{
	git_repository *plain;
	assert_int_equal(git_repository_open_bare(&plain, f->repo), 0);
	git_object *o;
	for (int i = 0; i < ncommits; i++) {
		char spec[64], want[64];
		snprintf(spec, sizeof(spec), "main:files/f%d.txt", i);
		snprintf(want, sizeof(want), "content %d\n", i);
		if (git_revparse_single(&o, plain, spec) != 0)
			fail_msg("%s: %s", spec, git_error_last()->message);
		assert_int_equal(git_object_type(o), GIT_OBJECT_BLOB);
		assert_int_equal(git_blob_rawsize((git_blob *)o), strlen(want));
		assert_memory_equal(git_blob_rawcontent((git_blob *)o), want, strlen(want));
		git_object_free(o);
	}
	git_repository_free(plain);
	free(tu_sh("git --git-dir=%s fsck --full --strict --no-dangling 2>&1", f->repo));
	free(tu_sh("for i in %s/objects/pack/*.idx; do git verify-pack $i; done 2>&1", f->repo));
	char *count = tu_sh("git --git-dir=%s rev-list --count main", f->repo);
	assert_int_equal(atoi(count), ncommits);
	free(count);
}

static void test_objects_wait_in_memory_then_one_pack(void **state)
{
	struct fx *f = *state;
	git_oid commit, blob;
	add_commit_unflushed(f, 0, &commit, &blob);
	/* Nothing on disk yet, yet readable through the repository. */
	assert_int_equal(count_files(f, ".pack"), 0);
	char *loose = tu_sh("find %s/objects -type f ! -path '*/pack/*' ! -path '*/info/*' | wc -l",
			    f->repo);
	assert_int_equal(atoi(loose), 0);
	free(loose);
	git_blob *b;
	assert_int_equal(git_blob_lookup(&b, f->r, &blob), 0);
	git_blob_free(b);

	flush(f);
	move_main(f, &commit);
	assert_int_equal(count_files(f, ".pack"), 1);
	assert_int_equal(count_files(f, ".idx"), 1);
	assert_int_equal(kfs_gitpacks_count(f->p), 1);
	/* Still readable through this repository once memory forgot them, and by others. */
	assert_int_equal(git_blob_lookup(&b, f->r, &blob), 0);
	git_blob_free(b);
	assert_readable(f, 1);
	/* A flush with nothing new writes nothing. */
	flush(f);
	assert_int_equal(count_files(f, ".pack"), 1);
}

static void test_packs_merge_by_levels(void **state)
{
	struct fx *f = *state;
	int i = 0;
	for (; i < KFS_GITPACKS_FANOUT - 1; i++)
		add_commit(f, i);
	assert_int_equal(kfs_gitpacks_count(f->p), KFS_GITPACKS_FANOUT - 1);
	add_commit(f, i++);
	/* FANOUT packs of level 0 became one of level 1; the merged ones are gone from disk. */
	assert_int_equal(kfs_gitpacks_count(f->p), 1);
	assert_int_equal(count_files(f, ".pack"), 1);
	assert_readable(f, i);
	for (; i < KFS_GITPACKS_FANOUT * KFS_GITPACKS_FANOUT; i++)
		add_commit(f, i);
	/* FANOUT of level 1 became one of level 2. */
	assert_int_equal(kfs_gitpacks_count(f->p), 1);
	assert_int_equal(count_files(f, ".pack"), 1);
	add_commit(f, i++);
	assert_int_equal(kfs_gitpacks_count(f->p), 2);
	assert_int_equal(count_files(f, ".pack"), 2);
	assert_readable(f, i);
}

static void test_object_written_twice_is_kept_once(void **state)
{
	struct fx *f = *state;
	const char *text = "the same bytes\n";
	git_oid id, again;
	assert_int_equal(git_blob_create_from_buffer(&id, f->r, text, strlen(text)), 0);
	add_commit(f, 0);
	/* libgit2 is told the object is not in any pack: it is written again. */
	assert_int_equal(git_blob_create_from_buffer(&again, f->r, text, strlen(text)), 0);
	assert_true(git_oid_equal(&id, &again));
	int i = 1;
	for (; i < KFS_GITPACKS_FANOUT; i++)
		add_commit(f, i);
	assert_int_equal(kfs_gitpacks_count(f->p), 1);
	char hex[41];
	git_oid_tostr(hex, sizeof(hex), &id);
	char *n = tu_sh("git verify-pack -v %s/objects/pack/*.idx | grep -c '^%s '", f->repo, hex);
	assert_int_equal(atoi(n), 1);
	free(n);
	assert_readable(f, i);
}

static void test_refresh_finds_packs_of_others(void **state)
{
	struct fx *f = *state;
	add_commit(f, 0);
	/* Another process packs an object this repository never saw. */
	char *hex = tu_sh("cd %s && printf 'from git\\n' | git hash-object -w --stdin | tr -d '\\n'"
			  " && git repack -q -d >/dev/null",
			  f->repo);
	git_oid id;
	assert_int_equal(git_oid_fromstr(&id, hex), 0);
	git_blob *b;
	assert_int_equal(git_blob_lookup(&b, f->r, &id), 0);
	assert_memory_equal(git_blob_rawcontent(b), "from git\n", 9);
	git_blob_free(b);
	struct kfs_error err = {0};
	assert_int_equal(kfs_gitpacks_refresh(f->p, &err), 0);
	free(hex);
}

static void test_packs_removed_by_gc_drop_out_of_merging(void **state)
{
	struct fx *f = *state;
	int i = 0;
	for (; i < KFS_GITPACKS_FANOUT / 2; i++)
		add_commit(f, i);
	/* git gc puts everything in one pack of its own (with deltas) and deletes kratixfs's. */
	free(tu_sh("git --git-dir=%s repack -q -a -d 2>&1", f->repo));
	assert_int_equal(count_files(f, ".pack"), 1);
	for (; i < KFS_GITPACKS_FANOUT; i++)
		add_commit(f, i);
	/* The merge could not read a deleted pack: that one left the levels, nothing was lost. */
	assert_int_equal(kfs_gitpacks_count(f->p), KFS_GITPACKS_FANOUT - 1);
	assert_readable(f, i);
	/* Each later flush drops another, until FANOUT live packs merge. */
	for (; i < KFS_GITPACKS_FANOUT + KFS_GITPACKS_FANOUT / 2; i++)
		add_commit(f, i);
	assert_int_equal(kfs_gitpacks_count(f->p), 1);
	assert_int_equal(count_files(f, ".pack"), 2); /* git gc's and the merged one */
	assert_readable(f, i);
}

static void test_packs_of_earlier_runs_keep_merging(void **state)
{
	struct fx *f = *state;
	int i = 0;
	for (; i < KFS_GITPACKS_FANOUT / 2 + 1; i++)
		add_commit(f, i);
	/* A new run on the same repository. */
	kfs_gitpacks_free(f->p);
	struct kfs_error err = {0};
	if (kfs_gitpacks_attach(f->r, &f->p, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(kfs_gitpacks_count(f->p), KFS_GITPACKS_FANOUT / 2 + 1);
	for (; i < KFS_GITPACKS_FANOUT; i++)
		add_commit(f, i);
	assert_int_equal(kfs_gitpacks_count(f->p), 1);
	assert_int_equal(count_files(f, ".pack"), 1);
	assert_readable(f, i);
}

static void test_kept_packs_are_never_merged(void **state)
{
	struct fx *f = *state;
	int i = 0;
	for (; i < KFS_GITPACKS_FANOUT / 2; i++)
		add_commit(f, i);
	/* Someone keeps one of them (git's .keep file); then a new run. */
	char *kept = tu_sh("cd %s/objects/pack && p=$(ls *.pack | head -1) && touch ${p%%.pack}.keep"
			   " && printf %%s $p",
			   f->repo);
	kfs_gitpacks_free(f->p);
	struct kfs_error err = {0};
	if (kfs_gitpacks_attach(f->r, &f->p, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(kfs_gitpacks_count(f->p), KFS_GITPACKS_FANOUT / 2 - 1);
	for (; i < KFS_GITPACKS_FANOUT + 1; i++)
		add_commit(f, i);
	char path[700];
	snprintf(path, sizeof(path), "%s/objects/pack/%s", f->repo, kept);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(count_files(f, ".pack"), 2); /* the kept one and the merged one */
	assert_readable(f, i);
	free(kept);
}

/* `git repack -a -d` while a commit is being made: its pack is kept (its objects are not
 * reachable yet, and repack deletes every pack it finds but kept ones) until the branch moves. */
static void test_pack_of_a_commit_being_made_survives_repack(void **state)
{
	struct fx *f = *state;
	add_commit(f, 0);
	git_oid commit, blob;
	add_commit_unflushed(f, 1, &commit, &blob);
	flush(f);
	assert_int_equal(count_files(f, ".keep"), 1);
	free(tu_sh("git --git-dir=%s repack -a -d -q 2>&1", f->repo));
	git_repository *plain;
	assert_int_equal(git_repository_open_bare(&plain, f->repo), 0);
	git_blob *b;
	assert_int_equal(git_blob_lookup(&b, plain, &blob), 0);
	git_blob_free(b);
	git_repository_free(plain);
	move_main(f, &commit);
	kfs_gitpacks_settle(f->p);
	assert_int_equal(count_files(f, ".keep"), 0);
	assert_readable(f, 2);
	char *fsck = tu_sh("git --git-dir=%s fsck --full --strict 2>&1", f->repo);
	assert_string_equal(fsck, "");
	free(fsck);

	/* A crash between the flush and the branch: the next start removes that .keep (and only
	 * that one: someone else's stays). */
	add_commit_unflushed(f, 2, &commit, &blob);
	flush(f);
	free(tu_sh("touch %s/objects/pack/pack-0000000000000000000000000000000000000000.keep",
		   f->repo));
	kfs_gitpacks_free(f->p);
	struct kfs_error err = {0};
	if (kfs_gitpacks_attach(f->r, &f->p, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(count_files(f, ".keep"), 1);
}

static void test_half_pack_left_by_a_crash_is_replaced(void **state)
{
	struct fx *f = *state;
	const char *text = "one object\n";
	git_oid id;
	assert_int_equal(git_blob_create_from_buffer(&id, f->r, text, strlen(text)), 0);
	flush(f);
	/* A crash while the pack was written: half of it, and no index. */
	free(tu_sh("cd %s/objects/pack && for p in *.pack; do truncate -s 20 $p; done &&"
		   " rm -f *.idx",
		   f->repo));
	/* The same object again makes the same pack, under the same name. */
	assert_int_equal(git_blob_create_from_buffer(&id, f->r, text, strlen(text)), 0);
	flush(f);
	free(tu_sh("for i in %s/objects/pack/*.idx; do git verify-pack $i; done 2>&1", f->repo));
	git_repository *plain;
	assert_int_equal(git_repository_open_bare(&plain, f->repo), 0);
	git_blob *b;
	assert_int_equal(git_blob_lookup(&b, plain, &id), 0);
	assert_memory_equal(git_blob_rawcontent(b), text, strlen(text));
	git_blob_free(b);
	git_repository_free(plain);
}

static void test_old_pack_without_index_is_removed_at_start(void **state)
{
	struct fx *f = *state;
	add_commit(f, 0);
	/* What a crash leaves between a pack and its index: an old one (with the .keep of its
	 * commit in the making), and a fresh one that a writer may still be indexing. */
	free(tu_sh("cd %s/objects/pack && p=$(ls *.pack) &&"
		   " cp $p pack-1111111111111111111111111111111111111111.pack &&"
		   " touch -d '-1 hour' pack-1111111111111111111111111111111111111111.pack &&"
		   " printf 'kratixfs: the commit of this pack is being made\\n' >"
		   " pack-1111111111111111111111111111111111111111.keep &&"
		   " cp $p pack-2222222222222222222222222222222222222222.pack",
		   f->repo));
	kfs_gitpacks_free(f->p);
	struct kfs_error err = {0};
	if (kfs_gitpacks_attach(f->r, &f->p, &err))
		fail_msg("%s", err.msg);
	char path[700];
	snprintf(path, sizeof(path),
		 "%s/objects/pack/pack-1111111111111111111111111111111111111111.pack", f->repo);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path),
		 "%s/objects/pack/pack-2222222222222222222222222222222222222222.pack", f->repo);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(count_files(f, ".idx"), 1);
	assert_int_equal(count_files(f, ".keep"), 0);
	unlink(path);
	assert_readable(f, 1);
}

static void test_alternates_are_read(void **state)
{
	struct fx *f = *state;
	/* An object only in another repository, which this one borrows from. */
	char *hex = tu_sh("git init -q --bare %s/other.git && printf 'borrowed\\n' |"
			  " git --git-dir=%s/other.git hash-object -w --stdin | tr -d '\\n'",
			  f->dir, f->dir);
	char rel[600];
	snprintf(rel, sizeof(rel), "../../other.git/objects\n");
	tu_write(f->repo, "objects/info/alternates", rel);
	kfs_gitpacks_free(f->p);
	struct kfs_error err = {0};
	if (kfs_gitpacks_attach(f->r, &f->p, &err))
		fail_msg("%s", err.msg);
	git_oid id;
	assert_int_equal(git_oid_fromstr(&id, hex), 0);
	git_blob *b;
	if (git_blob_lookup(&b, f->r, &id) != 0)
		fail_msg("%s: %s", hex, git_error_last()->message);
	assert_memory_equal(git_blob_rawcontent(b), "borrowed\n", 9);
	git_blob_free(b);
	free(hex);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_objects_wait_in_memory_then_one_pack, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_packs_merge_by_levels, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_object_written_twice_is_kept_once, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_refresh_finds_packs_of_others, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_packs_removed_by_gc_drop_out_of_merging, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_packs_of_earlier_runs_keep_merging, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_kept_packs_are_never_merged, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pack_of_a_commit_being_made_survives_repack,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_half_pack_left_by_a_crash_is_replaced, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_old_pack_without_index_is_removed_at_start,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_alternates_are_read, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
