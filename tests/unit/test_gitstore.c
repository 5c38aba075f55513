/* The Git state store: destinations, scheduling, Kratix's paths and the libgit2 writer's
 * commits, checked with the real git CLI (push and retries: test_gitpush.c; aggregatedYAML
 * parts: test_gitparts.c). */
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

#include "kratixfs/doc.h"
#include "kratixfs/gitstore.h"
#include "gittest.h"
#include "testutil.h"

static struct kfs_node *yaml(const char *text)
{
	struct kfs_node *n = NULL;
	struct kfs_error err = {0};
	if (kfs_doc_parse(text, strlen(text), "test.yaml", &n, &err) != 0)
		fail_msg("%s", err.msg);
	return n;
}



#define OUT(pl, p, d)                                                                              \
	{                                                                                          \
		(char *)(pl), (char *)(p), (char *)(d), sizeof(d) - 1                              \
	}

/* ---- ids, destinations ------------------------------------------------------------------- */

static void test_id5(void **state)
{
	(void)state;
	char id[6];
	kfs_git_id5(".", id);
	assert_string_equal(id, "5058f");
	kfs_git_id5("abc", id); /* md5("abc") = 900150983cd2... */
	assert_string_equal(id, "90015");
	kfs_git_id5("", id); /* md5("") = d41d8cd98f00... */
	assert_string_equal(id, "d41d8");
	char *long_in = kfs_xmalloc(200);
	memset(long_in, 'a', 199);
	long_in[199] = '\0';
	kfs_git_id5(long_in, id); /* several blocks */
	char *want = tu_sh("printf '%%s' %s | md5sum | cut -c1-5 | tr -d '\\n'", long_in);
	assert_string_equal(id, want);
	free(want);
	free(long_in);
}

static void test_destinations_load(void **state)
{
	(void)state;
	struct kfs_destinations d;
	dests(THREE_DESTS, &d);
	assert_int_equal(d.n, 3);
	/* Sorted by name, as Kratix lists them. */
	assert_string_equal(d.items[0].name, "a-plain");
	assert_string_equal(d.items[0].path, "a-plain"); /* path defaults to the name */
	assert_string_equal(d.items[1].name, "worker-dev");
	assert_string_equal(d.items[1].labels[0].key, "environment");
	assert_string_equal(d.items[1].labels[0].value, "dev");
	assert_true(d.items[2].strict);
	assert_int_equal(d.items[2].mode, KFS_FP_NESTED);
	kfs_destinations_free(&d);

	struct kfs_destinations def;
	struct kfs_error err = {0};
	assert_int_equal(kfs_destinations_load(NULL, &def, &err), 0);
	assert_int_equal(def.n, 1);
	assert_string_equal(def.items[0].name, "default");
	assert_string_equal(def.items[0].path, "default");
	kfs_destinations_free(&def);

	const char *bad = "kind: Destination\nmetadata: {name: x}\nspec:\n  path: /\n"
			  "---\nkind: Destination\nmetadata: {name: y}\nspec:\n  filepath:\n"
			  "    mode: flat\n";
	assert_int_equal(kfs_destinations_parse(bad, strlen(bad), "dests.yaml", &d, &err), -EINVAL);
	assert_contains(err.msg, "dests.yaml:10: spec.filepath.mode must be nestedByMetadata");
	assert_contains(err.msg, "not flat");

	const char *wrong = "kind: Cluster\nmetadata: {name: x}\n";
	assert_int_equal(kfs_destinations_parse(wrong, strlen(wrong), "d.yaml", &d, &err), -EINVAL);
	assert_contains(err.msg,
			"d.yaml:1: kind must be Destination, GitStateStore or BucketStateStore, not "
			"Cluster");
	const char *stores_only = "kind: GitStateStore\nmetadata: {name: s}\nspec: {path: x}\n";
	assert_int_equal(
	    kfs_destinations_parse(stores_only, strlen(stores_only), "d.yaml", &d, &err), -EINVAL);
	assert_contains(err.msg, "d.yaml: holds no Destination document");
}

/* What `kubectl get destinations,gitstatestores -o yaml` gives: a List. A destination's path is
 * inside its GitStateStore's spec.path, joined as Kratix joins them. */
static void test_destinations_in_state_stores(void **state)
{
	(void)state;
	struct kfs_destinations d;
	dests("apiVersion: v1\n"
	      "kind: List\n"
	      "items:\n"
	      "- apiVersion: platform.kratix.io/v1alpha1\n"
	      "  kind: Destination\n"
	      "  metadata: {name: worker-1}\n"
	      "  spec:\n"
	      "    path: worker-1\n"
	      "    stateStoreRef: {kind: GitStateStore, name: default}\n"
	      "- apiVersion: platform.kratix.io/v1alpha1\n"
	      "  kind: GitStateStore\n"
	      "  metadata: {name: default}\n"
	      "  spec: {branch: main, path: /clusters/, url: https://git.example.com/state}\n"
	      "- kind: Destination\n"
	      "  metadata: {name: worker-2}\n"
	      "  spec: {path: ., stateStoreRef: {kind: GitStateStore, name: default}}\n"
	      "- kind: BucketStateStore\n"
	      "  metadata: {name: minio}\n"
	      "  spec: {bucketName: kratix, endpoint: minio:9000}\n"
	      "---\n"
	      "kind: Destination\n"
	      "metadata: {name: worker-3}\n"
	      "spec: {stateStoreRef: {kind: GitStateStore, name: not-in-the-file}}\n",
	      &d);
	assert_int_equal(d.n, 3);
	assert_string_equal(d.items[0].path, "clusters/worker-1");
	assert_string_equal(d.items[1].path, "clusters");
	assert_string_equal(d.items[2].path, "worker-3"); /* its store is not known: REPO's root */
	/* The store writes main: so must kratixfs. */
	struct kfs_error err = {0};
	assert_int_equal(kfs_destinations_check_branch(&d, NULL, "d.yaml", &err), 0);
	assert_int_equal(kfs_destinations_check_branch(&d, "", "d.yaml", &err), 0); /* git_branch= */
	assert_int_equal(kfs_destinations_check_branch(&d, "prod", "d.yaml", &err), -EINVAL);
	assert_string_equal(err.msg, "d.yaml: destination worker-1 is on GitStateStore default, "
				     "which writes branch main, but kratixfs writes prod (-o "
				     "git_branch): make them the same");
	kfs_destinations_free(&d);
}

/* ---- scheduling -------------------------------------------------------------------------- */

/* One output at the root, one in folder prod, one in folder sub. */
static struct kfs_output sched_outs[] = {OUT("p1", "a.yaml", "a: 1\n"),
					 OUT("p1", "prod/b.yaml", "b: 1\n"),
					 OUT("p1", "sub/c.yaml", "c: 1\n")};

static void test_schedule_selectors(void **state)
{
	(void)state;
	struct kfs_destinations d;
	struct kfs_schedule s;
	struct kfs_error err = {0};
	dests(THREE_DESTS, &d);

	/* Root selector dev; the prod folder goes to prod only, by its own labels. */
	struct kfs_node *sel = yaml("- matchLabels: {environment: dev}\n"
				    "- matchLabels: {environment: prod}\n  directory: prod/\n");
	struct kfs_sched_input in = {
	    .type = KFS_WF_RESOURCE, .selectors = sel, .outputs = sched_outs, .noutputs = 3};
	assert_int_equal(kfs_schedule(&d, &in, &s, &err), 0);
	assert_null(s.unscheduled);
	assert_int_equal(s.n, 2);
	assert_string_equal(d.items[s.items[0].dest].name, "worker-prod");
	assert_string_equal(s.items[0].directory, "prod");
	assert_int_equal(s.items[0].noutputs, 1);
	assert_int_equal(s.items[0].outputs[0], 1);
	assert_string_equal(d.items[s.items[1].dest].name, "worker-dev");
	assert_string_equal(s.items[1].directory, ".");
	assert_int_equal(s.items[1].noutputs, 2); /* a.yaml and sub/c.yaml */
	kfs_schedule_free(&s);

	/* The promise's selectors win over the workflow's root entry. */
	struct kfs_node *psel = yaml("- matchLabels: {environment: prod}\n");
	struct kfs_node *root = yaml("- matchLabels: {environment: dev}\n");
	in.selectors = root;
	in.promise_selectors = psel;
	assert_int_equal(kfs_schedule(&d, &in, &s, &err), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(d.items[s.items[0].dest].name, "worker-prod");
	kfs_schedule_free(&s);

	/* No selectors: a request goes to one destination, never to a strict one with labels;
	 * the promise workflow goes to every non-strict one. */
	in.selectors = NULL;
	in.promise_selectors = NULL;
	assert_int_equal(kfs_schedule(&d, &in, &s, &err), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(d.items[s.items[0].dest].name, "a-plain");
	kfs_schedule_free(&s);
	in.type = KFS_WF_PROMISE;
	assert_int_equal(kfs_schedule(&d, &in, &s, &err), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(d.items[s.items[0].dest].name, "a-plain");
	assert_string_equal(d.items[s.items[1].dest].name, "worker-dev");
	kfs_schedule_free(&s);

	kfs_node_free(sel);
	kfs_node_free(psel);
	kfs_node_free(root);
	kfs_destinations_free(&d);
}

/* Each pipeline's Work is scheduled by its own destination-selectors.yaml: two pipelines may
 * each name the root directory (the render's list holding both is not refused). */
static void test_schedule_per_pipeline(void **state)
{
	(void)state;
	struct kfs_destinations d;
	struct kfs_schedule s;
	struct kfs_error err = {0};
	dests(THREE_DESTS, &d);
	struct kfs_output outs[] = {OUT("p1", "a.yaml", "a: 1\n"), OUT("p2", "b.yaml", "b: 1\n")};
	struct kfs_node *all = yaml("- matchLabels: {environment: dev}\n"
				    "- matchLabels: {environment: prod}\n");
	struct kfs_node *dev = yaml("- matchLabels: {environment: dev}\n");
	struct kfs_node *prod = yaml("- matchLabels: {environment: prod}\n");
	struct kfs_render_pipeline pl[] = {{.name = (char *)"p1", .selectors = dev},
					   {.name = (char *)"p2", .selectors = prod}};
	struct kfs_sched_input in = {.type = KFS_WF_RESOURCE, .selectors = all, .rpipelines = pl,
				     .nrpipelines = 2, .outputs = outs, .noutputs = 2};
	if (kfs_schedule(&d, &in, &s, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.items[0].pipeline, "p1");
	assert_string_equal(d.items[s.items[0].dest].name, "worker-dev");
	assert_string_equal(s.items[1].pipeline, "p2");
	assert_string_equal(d.items[s.items[1].dest].name, "worker-prod");
	kfs_schedule_free(&s);
	/* A pipeline's own list is still checked. */
	struct kfs_node *twice = yaml("- matchLabels: {a: b}\n- matchLabels: {c: d}\n");
	pl[1].selectors = twice;
	assert_int_equal(kfs_schedule(&d, &in, &s, &err), -EINVAL);
	kfs_schedule_free(&s);
	kfs_node_free(all);
	kfs_node_free(dev);
	kfs_node_free(prod);
	kfs_node_free(twice);
	kfs_destinations_free(&d);
}

static void test_schedule_unplaced_and_invalid(void **state)
{
	(void)state;
	struct kfs_destinations d;
	struct kfs_schedule s;
	struct kfs_error err = {0};
	dests(THREE_DESTS, &d);
	struct kfs_sched_input in = {.type = KFS_WF_PROMISE, .outputs = sched_outs, .noutputs = 3};

	/* A label nobody has: nothing placed, and the status can say why. */
	struct kfs_node *none = yaml("- matchLabels: {environment: staging, team: a}\n"
				     "- matchLabels: {zone: eu}\n  directory: sub\n");
	in.selectors = none;
	assert_int_equal(kfs_schedule(&d, &in, &s, &err), 0);
	assert_int_equal(s.n, 0);
	assert_contains(s.unscheduled, "no destination has labels zone=eu (output folder sub)");
	assert_contains(s.unscheduled, "no destination has labels environment=staging, team=a");
	kfs_schedule_free(&s);

	/* Invalid selector files are refused, naming the entry. */
	struct kfs_node *nested = yaml("- matchLabels: {a: b}\n  directory: x/y\n");
	in.selectors = nested;
	assert_int_equal(kfs_schedule(&d, &in, &s, &err), -EINVAL);
	assert_contains(err.msg, "directory x/y: sub-directories are not allowed");
	kfs_schedule_free(&s);
	struct kfs_node *empty = yaml("- directory: x\n");
	in.selectors = empty;
	assert_int_equal(kfs_schedule(&d, &in, &s, &err), -EINVAL);
	assert_contains(err.msg, "entry with index 0 has no matchLabels");
	kfs_schedule_free(&s);

	kfs_node_free(none);
	kfs_node_free(nested);
	kfs_node_free(empty);
	kfs_destinations_free(&d);
}

static void test_strict_match_labels(void **state)
{
	(void)state;
	struct kfs_destinations d;
	struct kfs_schedule s;
	struct kfs_error err = {0};
	dests("kind: Destination\nmetadata: {name: only, labels: {env: prod}}\n"
	      "spec: {strictMatchLabels: true}\n",
	      &d);
	struct kfs_output outs[] = {OUT("p", "a.yaml", "a: 1\n")};
	struct kfs_sched_input in = {.type = KFS_WF_PROMISE, .outputs = outs, .noutputs = 1};
	assert_int_equal(kfs_schedule(&d, &in, &s, &err), 0);
	assert_int_equal(s.n, 0);
	assert_contains(s.unscheduled, "no destination takes works without labels");
	kfs_schedule_free(&s);
	struct kfs_node *psel = yaml("- matchLabels: {env: prod}\n");
	in.promise_selectors = psel;
	assert_int_equal(kfs_schedule(&d, &in, &s, &err), 0);
	assert_int_equal(s.n, 1);
	kfs_schedule_free(&s);
	kfs_node_free(psel);
	kfs_destinations_free(&d);
}

/* ---- the writer ---------------------------------------------------------------------------- */

struct fixture {
	char *dir;
	char repo[512];
	struct kfs_destinations d;
	struct kfs_git *g;
};

static struct fixture *fx_new(const char *dtext)
{
	struct fixture *f = kfs_xcalloc(1, sizeof(*f));
	struct kfs_error err = {0};
	f->dir = tu_mkdtemp();
	snprintf(f->repo, sizeof(f->repo), "%s/state.git", f->dir);
	if (dtext)
		dests(dtext, &f->d);
	else
		assert_int_equal(kfs_destinations_load(NULL, &f->d, &err), 0);
	struct kfs_git_options o = {.repo = f->repo, .backoff_min_ms = 20, .backoff_max_ms = 100};
	if (kfs_git_open(&o, &f->g, &err) != 0)
		fail_msg("%s", err.msg);
	return f;
}

static void fx_free(struct fixture *f)
{
	kfs_git_close(f->g);
	kfs_destinations_free(&f->d);
	tu_rmdir(f->dir);
	free(f);
}

/* Builds and commits one request's render; returns whether it made a commit. */
static bool commit_request(struct fixture *f, const char *name, const struct kfs_output *outs,
			   size_t n, const struct kfs_node *sel, bool del, char *commit)
{
	struct kfs_git_render r = {.type = KFS_WF_RESOURCE,
				   .promise = "postgresql",
				   .request = name,
				   .outputs = outs,
				   .noutputs = n,
				   .selectors = sel,
				   .delete = del};
	struct kfs_git_work w;
	struct kfs_git_result res;
	struct kfs_error err = {0};
	char *why = NULL;
	if (kfs_git_work_build(&f->d, &r, &w, &why, &err) != 0)
		fail_msg("%s", err.msg);
	free(why);
	if (kfs_git_commit(f->g, &w, 1, &res, &err) != 0)
		fail_msg("%s", err.msg);
	kfs_git_work_free(&w);
	if (commit)
		strcpy(commit, res.commit);
	return res.changed;
}

static void test_nested_paths_idempotent_delete(void **state)
{
	(void)state;
	struct fixture *f = fx_new(NULL);
	struct kfs_output outs[] = {
	    OUT("instance-configure", "postgresql-instance.yaml", "kind: A\n"),
	    OUT("instance-configure", "sub/b.yaml", "kind: B\n")};
	char c1[41], c2[41];

	assert_true(commit_request(f, "my-db", outs, 2, NULL, false, c1));
	char *ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main", f->repo);
	assert_string_equal(ls, "default/resources/default/postgresql/my-db/instance-configure/"
				"5058f/postgresql-instance.yaml\n"
				"default/resources/default/postgresql/my-db/instance-configure/"
				"5058f/sub/b.yaml\n");
	free(ls);
	/* The subject names the WorkPlacement, as Kratix's Git writer does. */
	char wp[256], want[512];
	kratix_wp(wp, sizeof(wp), "postgresql", "my-db", "default", "instance-configure", "default",
		  ".");
	char *log = tu_sh("git --git-dir=%s log --format='%%an %%s' main", f->repo);
	snprintf(want, sizeof(want), "kratix Update from: %s\n", wp);
	assert_string_equal(log, want);
	free(log);
	char *head = tu_sh("git --git-dir=%s rev-parse main | tr -d '\\n'", f->repo);
	assert_string_equal(head, c1);
	free(head);
	free(tu_sh("git --git-dir=%s fsck --strict 2>&1", f->repo));

	/* The same render again: no commit, the head is reported. */
	assert_false(commit_request(f, "my-db", outs, 2, NULL, false, c2));
	assert_string_equal(c1, c2);
	char *count = tu_sh("git --git-dir=%s rev-list --count main", f->repo);
	assert_string_equal(count, "1\n");
	free(count);

	/* A render without sub/b.yaml removes it, and its now empty folder. */
	assert_true(commit_request(f, "my-db", outs, 1, NULL, false, NULL));
	ls = tu_sh("git --git-dir=%s ls-tree -r -t --name-only main | grep -c sub || true", f->repo);
	assert_string_equal(ls, "0\n");
	free(ls);

	/* Deleting the request removes everything it owned in a "Delete from:" commit. */
	struct kfs_output other[] = {OUT("p", "x.yaml", "x: 1\n")};
	assert_true(commit_request(f, "other", other, 1, NULL, false, NULL));
	assert_true(commit_request(f, "my-db", outs, 1, NULL, true, NULL));
	ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main", f->repo);
	assert_string_equal(ls, "default/resources/default/postgresql/other/p/5058f/x.yaml\n");
	free(ls);
	/* Kratix's default author: spec.gitAuthor {name: kratix}, no email. */
	log = tu_sh("git --git-dir=%s log -1 --format='%%an <%%ae> %%cn <%%ce> %%s' main", f->repo);
	snprintf(want, sizeof(want), "kratix <> kratix <> Delete from: %s\n", wp);
	assert_string_equal(log, want);
	free(log);
	free(tu_sh("git --git-dir=%s fsck --strict 2>&1", f->repo));
	/* No work tree, no index: the repository stays bare. */
	assert_int_equal(access(f->repo, F_OK), 0);
	char idx[600];
	snprintf(idx, sizeof(idx), "%s/index", f->repo);
	assert_int_not_equal(access(idx, F_OK), 0);
	fx_free(f);
}

/* Several works in one call (what a group commit holds): one commit, one line per WorkPlacement,
 * the first the subject. */
static void test_batch_message(void **state)
{
	(void)state;
	struct fixture *f = fx_new(NULL);
	struct kfs_output o = {"p", "r.yaml", "r: 1\n", 5};
	struct kfs_git_work w[3];
	struct kfs_git_result res;
	struct kfs_error err = {0};
	const char *names[] = {"one", "two", "three"};
	for (int i = 0; i < 3; i++) {
		struct kfs_git_render r = {.type = KFS_WF_RESOURCE,
					   .promise = "pg",
					   .request = names[i],
					   .outputs = &o,
					   .noutputs = 1,
					   .delete = i == 2};
		assert_int_equal(kfs_git_work_build(&f->d, &r, &w[i], NULL, &err), 0);
	}
	assert_int_equal(kfs_git_commit(f->g, w, 2, &res, &err), 0);
	assert_true(res.changed);
	char *log = tu_sh("git --git-dir=%s log --format=%%B main", f->repo);
	char w1[256], w2[256], want[600];
	snprintf(want, sizeof(want), "Update from: %s\n\nUpdate from: %s\n\n",
		 kratix_wp(w1, sizeof(w1), "pg", "one", "default", "p", "default", "."),
		 kratix_wp(w2, sizeof(w2), "pg", "two", "default", "p", "default", "."));
	assert_string_equal(log, want);
	free(log);
	/* A delete of something never written changes nothing and makes no commit. */
	assert_int_equal(kfs_git_commit(f->g, &w[2], 1, &res, &err), 0);
	assert_false(res.changed);
	char *count = tu_sh("git --git-dir=%s rev-list --count main", f->repo);
	assert_string_equal(count, "1\n");
	free(count);
	for (int i = 0; i < 3; i++)
		kfs_git_work_free(&w[i]);
	fx_free(f);
}

static void test_directory_routing_paths(void **state)
{
	(void)state;
	struct fixture *f = fx_new(THREE_DESTS);
	struct kfs_output outs[] = {OUT("p1", "a.yaml", "a: 1\n"),
				    OUT("p1", "prod/b.yaml", "b: 1\n")};
	struct kfs_node *sel = yaml("- matchLabels: {environment: dev}\n"
				    "- matchLabels: {environment: prod}\n  directory: prod\n");
	assert_true(commit_request(f, "my-db", outs, 2, sel, false, NULL));
	char id[6];
	kfs_git_id5("prod", id);
	char *ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main", f->repo);
	char want[1024];
	snprintf(want, sizeof(want),
		 "dev/resources/default/postgresql/my-db/p1/5058f/a.yaml\n"
		 "prod/resources/default/postgresql/my-db/p1/%s/prod/b.yaml\n",
		 id);
	assert_string_equal(ls, want);
	free(ls);

	/* Routed elsewhere: the old destination's files go. */
	struct kfs_node *sel2 = yaml("- matchLabels: {environment: prod}\n");
	assert_true(commit_request(f, "my-db", outs, 1, sel2, false, NULL));
	ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main", f->repo);
	assert_string_equal(ls, "prod/resources/default/postgresql/my-db/p1/5058f/a.yaml\n");
	free(ls);
	kfs_node_free(sel);
	kfs_node_free(sel2);
	fx_free(f);
}

static void test_promise_dependencies(void **state)
{
	(void)state;
	struct fixture *f = fx_new(NULL);
	struct kfs_output outs[] = {OUT("promise-configure", "operator.yaml", "kind: Op\n")};
	struct kfs_git_render r = {.type = KFS_WF_PROMISE,
				   .promise = "postgresql",
				   .outputs = outs,
				   .noutputs = 1,
				   .static_deps = "kind: Namespace\n"};
	struct kfs_git_work w;
	struct kfs_git_result res;
	struct kfs_error err = {0};
	assert_int_equal(kfs_git_work_build(&f->d, &r, &w, NULL, &err), 0);
	assert_int_equal(kfs_git_commit(f->g, &w, 1, &res, &err), 0);
	kfs_git_work_free(&w);
	char *ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main", f->repo);
	assert_string_equal(ls, "default/dependencies/postgresql/5058f/static/"
				"postgresql-dependencies.yaml\n"
				"default/dependencies/postgresql/promise-configure/5058f/"
				"operator.yaml\n");
	free(ls);
	/* Two WorkPlacements: the promise workflow's and the static dependencies'. */
	char *log = tu_sh("git --git-dir=%s log --format=%%B main", f->repo);
	char w1[256], w2[256], want[600];
	snprintf(want, sizeof(want), "Update from: %s\n\nUpdate from: %s\n\n",
		 kratix_wp(w1, sizeof(w1), "postgresql", NULL, NULL, "promise-configure", "default",
			   "."),
		 kratix_wp(w2, sizeof(w2), "postgresql", NULL, NULL, NULL, "default", "."));
	assert_string_equal(log, want);
	free(log);
	fx_free(f);
}


static void test_mode_none(void **state)
{
	(void)state;
	struct fixture *f = fx_new(MODE_DESTS);
	/* Both destinations have no labels: a request goes to the first by name (agg); the
	 * promise workflow goes to both. */
	struct kfs_output outs[] = {OUT("pc", "a.yaml", "a: 1\n"), OUT("pc", "d/b.yaml", "b: 1\n")};
	struct kfs_git_render r = {
	    .type = KFS_WF_PROMISE, .promise = "pg", .outputs = outs, .noutputs = 2};
	struct kfs_git_work w;
	struct kfs_git_result res;
	struct kfs_error err = {0};
	assert_int_equal(kfs_git_work_build(&f->d, &r, &w, NULL, &err), 0);
	assert_int_equal(kfs_git_commit(f->g, &w, 1, &res, &err), 0);
	kfs_git_work_free(&w);
	char *ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main -- flat", f->repo);
	assert_string_equal(ls, "flat/.kratix/kratix-platform-system-pg-pc-"
				"45f0f.flat-5058f.yaml\nflat/a.yaml\nflat/d/b.yaml\n");
	free(ls);
	char *idx = tu_sh("git --git-dir=%s show main:flat/.kratix/kratix-platform-system-pg-pc-"
		       "45f0f.flat-5058f.yaml",
		       f->repo);
	assert_string_equal(idx, "files:\n- flat/a.yaml\n- flat/d/b.yaml\n");
	free(idx);

	/* The next render drops d/b.yaml: the index says it was ours, so it goes. */
	r.noutputs = 1;
	assert_int_equal(kfs_git_work_build(&f->d, &r, &w, NULL, &err), 0);
	assert_int_equal(kfs_git_commit(f->g, &w, 1, &res, &err), 0);
	assert_true(res.changed);
	kfs_git_work_free(&w);
	ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main -- flat", f->repo);
	assert_string_equal(ls, "flat/.kratix/kratix-platform-system-pg-pc-"
				"45f0f.flat-5058f.yaml\nflat/a.yaml\n");
	free(ls);

	/* Delete: the files and the index go. */
	r.delete = true;
	assert_int_equal(kfs_git_work_build(&f->d, &r, &w, NULL, &err), 0);
	assert_int_equal(kfs_git_commit(f->g, &w, 1, &res, &err), 0);
	kfs_git_work_free(&w);
	ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main", f->repo);
	assert_string_equal(ls, "");
	free(ls);
	fx_free(f);
}

#define MARK(req, key, n) n " resource/default/postgresql/" req " " key "\n"
#define ALPHA		  MARK("alpha", "postgresql-alpha-default-p-422dd.agg-5058f", "5")
#define ZETA		  MARK("zeta", "postgresql-zeta-default-p-369b7.agg-5058f", "5")
#define PARTS_HEAD                                                                                 \
	"# kratixfs: whose each part of the aggregatedYAML file is, in file order: <bytes> "      \
	"<owner> <WorkPlacement>\n"

static void test_mode_aggregated(void **state)
{
	(void)state;
	struct fixture *f = fx_new(MODE_DESTS);
	/* A file an older kratixfs (or Kratix) wrote: its parts are nobody's, replaced at once. */
	free(tu_sh("d=%s/old && git init -q -b main $d && mkdir $d/agg && "
		   "echo 'old: 1' >$d/agg/aggregated.yaml && git -C $d add . && "
		   "git -C $d -c user.name=x -c user.email=x@x commit -qm old && "
		   "git -C $d push -q %s main",
		   f->dir, f->repo));
	struct kfs_output o1[] = {OUT("p", "a.yaml", "a: 1\n"), OUT("p", "b.yaml", "b: 1\n")};
	struct kfs_output o2[] = {OUT("p", "z.yaml", "z: 1\n")};
	assert_true(commit_request(f, "zeta", o2, 1, NULL, false, NULL));
	assert_true(commit_request(f, "alpha", o1, 2, NULL, false, NULL));
	char *agg = tu_sh("git --git-dir=%s show main:agg/aggregated.yaml", f->repo);
	/* Ordered by WorkPlacement name (alpha's before zeta's), joined by "\n---\n": Kratix's
	 * plain join. Whose each part is lives in the parts index, outside the destination. */
	assert_string_equal(agg, "a: 1\n\n---\nb: 1\n\n---\nz: 1\n");
	free(agg);
	agg = tu_sh("git --git-dir=%s show main:.kratixfs/aggregated/agg/aggregated.yaml.parts",
		    f->repo);
	assert_string_equal(agg, PARTS_HEAD ALPHA ALPHA ZETA);
	free(agg);
	/* The same again: no commit. */
	assert_false(commit_request(f, "alpha", o1, 2, NULL, false, NULL));
	/* Parts of two pipelines whose keys sort the other way round than they come: the same
	 * again, in one commit with another request's change, is not a change of its own. */
	struct kfs_output o4[] = {OUT("zp", "z.yaml", "z: 2\n"), OUT("ap", "a.yaml", "a: 3\n")};
	assert_true(commit_request(f, "multi", o4, 2, NULL, false, NULL));
	struct kfs_git_render rm = {.type = KFS_WF_RESOURCE, .promise = "postgresql",
				    .request = "multi", .outputs = o4, .noutputs = 2};
	struct kfs_git_render ro = {.type = KFS_WF_RESOURCE, .promise = "postgresql",
				    .request = "other", .outputs = o2, .noutputs = 1};
	struct kfs_git_work two[2];
	struct kfs_git_result res;
	struct kfs_error err = {0};
	assert_int_equal(kfs_git_work_build(&f->d, &rm, &two[0], NULL, &err), 0);
	assert_int_equal(kfs_git_work_build(&f->d, &ro, &two[1], NULL, &err), 0);
	assert_int_equal(kfs_git_commit(f->g, two, 2, &res, &err), 0);
	kfs_git_work_free(&two[0]);
	kfs_git_work_free(&two[1]);
	char *msg = tu_sh("git --git-dir=%s log -1 --format=%%B main", f->repo);
	char wp[256], want[400];
	snprintf(want, sizeof(want), "Update from: %s\n\n",
		 kratix_wp(wp, sizeof(wp), "postgresql", "other", "default", "p", "agg", "."));
	assert_string_equal(msg, want);
	free(msg);
	assert_true(commit_request(f, "multi", o4, 2, NULL, true, NULL));
	assert_true(commit_request(f, "other", o2, 1, NULL, true, NULL));

	/* A restart, then only alpha is written: zeta's part, which this run never had, stays. */
	kfs_git_close(f->g);
	struct kfs_git_options o = {.repo = f->repo};
	assert_int_equal(kfs_git_open(&o, &f->g, &err), 0);
	struct kfs_output o3[] = {OUT("p", "a.yaml", "a: 2\n")};
	assert_true(commit_request(f, "alpha", o3, 1, NULL, false, NULL));
	agg = tu_sh("git --git-dir=%s show main:agg/aggregated.yaml", f->repo);
	assert_string_equal(agg, "a: 2\n\n---\nz: 1\n");
	free(agg);
	agg = tu_sh("git --git-dir=%s show main:.kratixfs/aggregated/agg/aggregated.yaml.parts",
		    f->repo);
	assert_string_equal(agg, PARTS_HEAD ALPHA ZETA);
	free(agg);

	assert_true(commit_request(f, "alpha", o1, 2, NULL, true, NULL));
	agg = tu_sh("git --git-dir=%s show main:agg/aggregated.yaml", f->repo);
	assert_string_equal(agg, "z: 1\n");
	free(agg);
	assert_true(commit_request(f, "zeta", o2, 1, NULL, true, NULL));
	char *ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main", f->repo);
	assert_string_equal(ls, "");
	free(ls);
	fx_free(f);
}

struct writer_arg {
	struct fixture *f;
	int id;
};

static void *writer(void *p)
{
	struct writer_arg *a = p;
	for (int round = 0; round < 5; round++) {
		char name[32], data[64];
		snprintf(name, sizeof(name), "req-%d", a->id);
		snprintf(data, sizeof(data), "round: %d\n", round);
		struct kfs_output o = {"p", "r.yaml", data, strlen(data)};
		struct kfs_git_render r = {.type = KFS_WF_RESOURCE,
					   .promise = "pg",
					   .request = name,
					   .outputs = &o,
					   .noutputs = 1};
		struct kfs_git_work w;
		struct kfs_git_result res;
		struct kfs_error err = {0};
		if (kfs_git_work_build(&a->f->d, &r, &w, NULL, &err) ||
		    kfs_git_commit(a->f->g, &w, 1, &res, &err))
			fail_msg("%s", err.msg);
		kfs_git_work_free(&w);
		/* The commit exists when the call returns. */
		char *has =
		    tu_sh("git --git-dir=%s cat-file -e %s && echo ok", a->f->repo, res.commit);
		assert_string_equal(has, "ok\n");
		free(has);
	}
	return NULL;
}

static void test_concurrent_writers(void **state)
{
	(void)state;
	struct fixture *f = fx_new(NULL);
	pthread_t t[8];
	struct writer_arg a[8];
	for (int i = 0; i < 8; i++) {
		a[i] = (struct writer_arg){f, i};
		pthread_create(&t[i], NULL, writer, &a[i]);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 8; i++) {
		char *v =
		    tu_sh("git --git-dir=%s show main:default/resources/default/pg/req-%d/p/5058f/"
		       "r.yaml",
		       f->repo, i);
		assert_string_equal(v, "round: 4\n"); /* nobody's last write was lost */
		free(v);
	}
	char *count = tu_sh("git --git-dir=%s rev-list --count main", f->repo);
	assert_true(atoi(count) >= 1 && atoi(count) <= 40);
	free(count);
	free(tu_sh("git --git-dir=%s fsck --strict 2>&1", f->repo));
	fx_free(f);
}

static void test_open_errors(void **state)
{
	(void)state;
	struct kfs_git *g;
	struct kfs_error err = {0};
	struct kfs_git_options o = {.repo = "/proc/kratixfs-cannot-exist/state.git"};
	assert_int_equal(kfs_git_open(&o, &g, &err), -EIO);
	assert_contains(err.msg, "/proc/kratixfs-cannot-exist/state.git");
	char *dir = tu_mkdtemp();
	char repo[512];
	snprintf(repo, sizeof(repo), "%s/r.git", dir);
	struct kfs_git_options o2 = {.repo = repo, .branch = "bad..name"};
	assert_int_equal(kfs_git_open(&o2, &g, &err), -EINVAL);
	assert_contains(err.msg, "git_branch=bad..name");
	tu_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_id5),
	    cmocka_unit_test(test_destinations_load),
	    cmocka_unit_test(test_destinations_in_state_stores),
	    cmocka_unit_test(test_schedule_selectors),
	    cmocka_unit_test(test_schedule_unplaced_and_invalid),
	    cmocka_unit_test(test_schedule_per_pipeline),
	    cmocka_unit_test(test_strict_match_labels),
	    cmocka_unit_test(test_nested_paths_idempotent_delete),
	    cmocka_unit_test(test_batch_message),
	    cmocka_unit_test(test_directory_routing_paths),
	    cmocka_unit_test(test_promise_dependencies),
	    cmocka_unit_test(test_mode_none),
	    cmocka_unit_test(test_mode_aggregated),
	    cmocka_unit_test(test_concurrent_writers),
	    cmocka_unit_test(test_open_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
