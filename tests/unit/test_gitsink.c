/* The Git layer as a sink: a render in, an outcome out (committed, unchanged, failed, invalid,
 * placed or not); owners as typed keys; background events as typed values. Checked with the
 * real git CLI. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kratixfs/doc.h"
#include "kratixfs/gitstore.h"
#include "gittest.h"
#include "testutil.h"


/* The retried commits that landed, in order (a retry while the branch is still locked fails
 * again, and is only counted). */
struct events {
	pthread_mutex_t lock;
	size_t failed;
	size_t n;
	struct {
		enum kfs_git_event_kind kind;
		enum kfs_git_kind owner;
		char ns[64], name[64], commit[41];
		unsigned long long serial;
	} items[16];
};

static void on_event(void *ctx, const struct kfs_git_event *ev)
{
	struct events *e = ctx;
	if (ev->kind != KFS_GIT_RETRY_COMMITTED && ev->kind != KFS_GIT_RETRY_FAILED)
		return;
	pthread_mutex_lock(&e->lock);
	if (ev->kind == KFS_GIT_RETRY_FAILED) {
		e->failed++;
	} else if (e->n < sizeof(e->items) / sizeof(e->items[0])) {
		e->items[e->n].kind = ev->kind;
		e->items[e->n].owner = ev->key.kind;
		snprintf(e->items[e->n].ns, sizeof(e->items[e->n].ns), "%s",
			 ev->key.ns ? ev->key.ns : "-");
		snprintf(e->items[e->n].name, sizeof(e->items[e->n].name), "%s", ev->key.name);
		snprintf(e->items[e->n].commit, sizeof(e->items[e->n].commit), "%s", ev->commit);
		e->items[e->n].serial = ev->serial;
		e->n++;
	}
	pthread_mutex_unlock(&e->lock);
}

struct sink {
	char *dir;
	char repo[512], lock[600];
	struct kfs_destinations d;
	struct events ev;
	struct kfs_git *g;
};

/* dtext NULL: the one default destination, which takes everything. */
static void sink_open(struct sink *s, const char *dtext)
{
	struct kfs_error err = {0};
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->ev.lock, NULL);
	s->dir = tu_mkdtemp();
	snprintf(s->repo, sizeof(s->repo), "%s/state.git", s->dir);
	snprintf(s->lock, sizeof(s->lock), "%s/refs/heads/main.lock", s->repo);
	if (dtext)
		assert_int_equal(kfs_destinations_parse(dtext, strlen(dtext), "d.yaml", &s->d, &err),
				 0);
	else
		assert_int_equal(kfs_destinations_load(NULL, &s->d, &err), 0);
	struct kfs_git_options o = {.repo = s->repo,
				    .destinations = &s->d,
				    .backoff_min_ms = 20,
				    .backoff_max_ms = 100,
				    .on_event = on_event,
				    .ctx = &s->ev};
	if (kfs_git_open(&o, &s->g, &err) != 0)
		fail_msg("%s", err.msg);
}

static void sink_close(struct sink *s)
{
	kfs_git_close(s->g);
	kfs_destinations_free(&s->d);
	pthread_mutex_destroy(&s->ev.lock);
	tu_rmdir(s->dir);
}

static size_t nevents(struct sink *s)
{
	pthread_mutex_lock(&s->ev.lock);
	size_t n = s->ev.n;
	pthread_mutex_unlock(&s->ev.lock);
	return n;
}

static char *head_of(struct sink *s)
{
	char *h = tu_sh("git --git-dir=%s rev-parse main", s->repo);
	h[strcspn(h, "\n")] = '\0';
	return h;
}

/* A branch lock a live git process holds: commits fail until it goes. */
static void lock_branch(struct sink *s)
{
	FILE *fp = fopen(s->lock, "w");
	assert_non_null(fp);
	fclose(fp);
}

/* Removes the branch lock and waits for the background thread's retries: until one landed,
 * then a little longer, so that a retry that should not come would have come. */
static void unlock_and_wait(struct sink *s)
{
	unlink(s->lock);
	kfs_git_push_now(s->g);
	for (int i = 0; i < 250 && !nevents(s); i++)
		usleep(20000);
	usleep(200000);
}

static struct kfs_git_render request(const char *ns, const char *promise, const char *name,
				     const struct kfs_output *o)
{
	return (struct kfs_git_render){.type = KFS_WF_RESOURCE,
				       .promise = promise,
				       .request = name,
				       .ns = ns,
				       .outputs = o,
				       .noutputs = o ? 1 : 0};
}

static void test_outcome_committed_and_unchanged(void **state)
{
	(void)state;
	struct sink s;
	sink_open(&s, NULL);
	struct kfs_output o = {"p", "r.yaml", "a: 1\n", 5};
	struct kfs_git_render r = request(NULL, "pg", "db", &o);
	struct kfs_git_outcome out;

	kfs_git_sink(s.g, &r, 1, &out);
	assert_int_equal(out.kind, KFS_GIT_COMMITTED);
	assert_true(out.placed);
	assert_null(out.unscheduled);
	char *head = head_of(&s);
	assert_string_equal(out.commit, head);
	free(head);
	char *ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main | { grep -v /kratix-canary- || true; }", s.repo);
	assert_string_equal(ls, "default/resources/default/pg/db/p/5058f/r.yaml\n");
	free(ls);
	char first[41];
	memcpy(first, out.commit, sizeof(first));
	kfs_git_outcome_free(&out);

	/* The same render again: nothing to commit, and the commit that holds it is the head. */
	kfs_git_sink(s.g, &r, 2, &out);
	assert_int_equal(out.kind, KFS_GIT_UNCHANGED);
	assert_string_equal(out.commit, first);
	kfs_git_outcome_free(&out);

	/* Its Delete: a new commit without the file. */
	r.delete = true;
	kfs_git_sink(s.g, &r, 3, &out);
	assert_int_equal(out.kind, KFS_GIT_COMMITTED);
	assert_string_not_equal(out.commit, first);
	kfs_git_outcome_free(&out);
	ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main | { grep -v /kratix-canary- || true; }", s.repo);
	assert_string_equal(ls, "");
	free(ls);
	sink_close(&s);
}

static void test_outcome_unplaced_and_invalid(void **state)
{
	(void)state;
	struct sink s;
	sink_open(&s, THREE_DESTS);
	struct kfs_output o = {"p", "r.yaml", "a: 1\n", 5};
	struct kfs_git_render r = request("team", "pg", "db", &o);
	struct kfs_git_outcome out;

	/* Labels no destination has: not placed, and the outcome says which. */
	struct kfs_node *none = NULL, *bad = NULL;
	struct kfs_error err = {0};
	const char *t1 = "- matchLabels: {environment: staging}\n";
	const char *t2 = "- directory: x\n";
	assert_int_equal(kfs_doc_parse(t1, strlen(t1), "sel.yaml", &none, &err), 0);
	assert_int_equal(kfs_doc_parse(t2, strlen(t2), "sel.yaml", &bad, &err), 0);
	r.selectors = none;
	kfs_git_sink(s.g, &r, 1, &out);
	assert_false(out.placed);
	assert_non_null(out.unscheduled);
	assert_contains(out.unscheduled, "environment=staging");
	kfs_git_outcome_free(&out);

	/* Invalid selectors: nothing committed, and the error names what to fix. */
	r.selectors = bad;
	kfs_git_sink(s.g, &r, 2, &out);
	assert_int_equal(out.kind, KFS_GIT_INVALID);
	assert_contains(out.err.msg, "matchLabels");
	kfs_git_outcome_free(&out);
	char *count = tu_sh("git --git-dir=%s rev-list --count --all 2>/dev/null || echo 0", s.repo);
	assert_string_equal(count, "0\n");
	free(count);
	kfs_node_free(none);
	kfs_node_free(bad);
	sink_close(&s);
}

static void test_outcome_failed_then_retried(void **state)
{
	(void)state;
	struct sink s;
	sink_open(&s, NULL);
	struct kfs_output o = {"p", "r.yaml", "a: 1\n", 5};
	struct kfs_git_render first = request(NULL, "pg", "first", &o);
	struct kfs_git_outcome out;
	kfs_git_sink(s.g, &first, 1, &out);
	assert_int_equal(out.kind, KFS_GIT_COMMITTED);
	kfs_git_outcome_free(&out);

	lock_branch(&s);
	struct kfs_git_render second = request("team", "pg", "second", &o);
	kfs_git_sink(s.g, &second, 7, &out);
	assert_int_equal(out.kind, KFS_GIT_FAILED);
	assert_string_equal(out.commit, "");
	assert_true(out.placed);
	assert_contains(out.err.msg, "locked");
	assert_contains(out.err.msg, "retries");
	kfs_git_outcome_free(&out);

	/* The lock goes: the background thread commits the work and says whose it was. */
	unlock_and_wait(&s);
	assert_int_equal(nevents(&s), 1);
	assert_int_equal(s.ev.items[0].kind, KFS_GIT_RETRY_COMMITTED);
	assert_int_equal(s.ev.items[0].owner, KFS_GIT_REQUEST);
	assert_string_equal(s.ev.items[0].ns, "team");
	assert_string_equal(s.ev.items[0].name, "second");
	assert_int_equal(s.ev.items[0].serial, 7);
	char *head = head_of(&s);
	assert_string_equal(s.ev.items[0].commit, head);
	free(head);
	sink_close(&s);
}

static void test_keys_compare_by_field(void **state)
{
	(void)state;
	struct kfs_output o = {"p", "r.yaml", "a: 1\n", 5};
	struct kfs_git_render req = request(NULL, "pg", "pg", &o);
	struct kfs_git_render prom = {.type = KFS_WF_PROMISE, .promise = "pg"};
	struct kfs_git_key a = kfs_git_key_of(&req), b = kfs_git_key_of(&prom);
	assert_int_equal(a.kind, KFS_GIT_REQUEST);
	assert_string_equal(a.ns, "default");
	assert_string_equal(a.name, "pg");
	assert_int_equal(b.kind, KFS_GIT_PROMISE);
	assert_null(b.ns);
	assert_string_equal(b.name, "pg");
	assert_false(kfs_git_key_equal(&a, &b));

	/* Names that would make one string "resource/a/b/c/d" stay two owners. */
	struct kfs_git_render x = request("a/b", "c", "d", &o), y = request("a", "b/c", "d", &o);
	struct kfs_git_render z = request("a/b", "other", "d", &o);
	struct kfs_git_key kx = kfs_git_key_of(&x), ky = kfs_git_key_of(&y), kz = kfs_git_key_of(&z);
	assert_false(kfs_git_key_equal(&kx, &ky));
	/* The promise is no part of a request's key: one request, whichever promise renders it. */
	assert_true(kfs_git_key_equal(&kx, &kz));

	struct kfs_git_key copy;
	kfs_git_key_copy(&copy, &kx);
	assert_true(copy.ns != kx.ns && copy.name != kx.name);
	assert_true(kfs_git_key_equal(&copy, &kx));
	kfs_git_key_free(&copy);
}

/* A request and a promise of the same name both fail to commit; forgetting the promise's work
 * must leave the request's to be retried, and the retry's event names the request. */
static void test_same_name_request_and_promise_stay_apart(void **state)
{
	(void)state;
	struct sink s;
	sink_open(&s, NULL);
	struct kfs_output ro = {"p", "r.yaml", "r: 1\n", 5};
	struct kfs_output po = {"promise-configure", "op.yaml", "op: 1\n", 6};
	struct kfs_git_render req = request(NULL, "pg", "pg", &ro);
	struct kfs_git_render prom = {
	    .type = KFS_WF_PROMISE, .promise = "pg", .outputs = &po, .noutputs = 1};
	struct kfs_git_outcome out;
	kfs_git_sink(s.g, &req, 1, &out); /* the branch exists */
	kfs_git_outcome_free(&out);
	ro.data = "r: 2\n";

	lock_branch(&s);
	kfs_git_sink(s.g, &req, 2, &out);
	assert_int_equal(out.kind, KFS_GIT_FAILED);
	kfs_git_outcome_free(&out);
	kfs_git_sink(s.g, &prom, 3, &out);
	assert_int_equal(out.kind, KFS_GIT_FAILED);
	kfs_git_outcome_free(&out);
	struct kfs_git_key pk = kfs_git_key_of(&prom);
	kfs_git_forget(s.g, &pk);

	unlock_and_wait(&s);
	assert_int_equal(nevents(&s), 1);
	assert_int_equal(s.ev.items[0].kind, KFS_GIT_RETRY_COMMITTED);
	assert_int_equal(s.ev.items[0].owner, KFS_GIT_REQUEST);
	assert_string_equal(s.ev.items[0].name, "pg");
	assert_int_equal(s.ev.items[0].serial, 2);
	char *ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main | { grep -v /kratix-canary- || true; }", s.repo);
	assert_string_equal(ls, "default/resources/default/pg/pg/p/5058f/r.yaml\n");
	free(ls);
	char *data = tu_sh("git --git-dir=%s show main:default/resources/default/pg/pg/p/5058f/r.yaml",
			   s.repo);
	assert_string_equal(data, "r: 2\n");
	free(data);
	sink_close(&s);
}

/* Two requests whose names and namespaces would collide as one "resource/..." string: a
 * newer work of one does not replace the other's failed work. */
static void test_slash_names_stay_apart(void **state)
{
	(void)state;
	struct sink s;
	sink_open(&s, NULL);
	struct kfs_output o = {"p", "r.yaml", "a: 1\n", 5};
	struct kfs_git_render seed = request(NULL, "pg", "seed", &o);
	struct kfs_git_outcome out;
	kfs_git_sink(s.g, &seed, 1, &out);
	kfs_git_outcome_free(&out);

	lock_branch(&s);
	struct kfs_git_render x = request("a/b", "c", "d", &o), y = request("a", "b/c", "d", &o);
	kfs_git_sink(s.g, &x, 2, &out);
	assert_int_equal(out.kind, KFS_GIT_FAILED);
	kfs_git_outcome_free(&out);
	kfs_git_sink(s.g, &y, 3, &out);
	assert_int_equal(out.kind, KFS_GIT_FAILED);
	kfs_git_outcome_free(&out);
	struct kfs_git_key ky = kfs_git_key_of(&y);
	kfs_git_forget(s.g, &ky);

	unlock_and_wait(&s);
	assert_int_equal(nevents(&s), 1);
	assert_string_equal(s.ev.items[0].ns, "a/b");
	assert_string_equal(s.ev.items[0].name, "d");
	assert_int_equal(s.ev.items[0].serial, 2);
	sink_close(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_outcome_committed_and_unchanged),
	    cmocka_unit_test(test_outcome_unplaced_and_invalid),
	    cmocka_unit_test(test_outcome_failed_then_retried),
	    cmocka_unit_test(test_keys_compare_by_field),
	    cmocka_unit_test(test_same_name_request_and_promise_stay_apart),
	    cmocka_unit_test(test_slash_names_stay_apart),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
