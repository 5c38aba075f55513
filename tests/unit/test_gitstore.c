/* The Git state store: destinations, scheduling, Kratix's paths, the libgit2 writer and push,
 * checked with the real git CLI. */
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
#include "../../src/git/ssh_auth.h"
#include "testutil.h"

static struct kfs_node *yaml(const char *text)
{
	struct kfs_node *n = NULL;
	struct kfs_error err = {0};
	if (kfs_doc_parse(text, strlen(text), "test.yaml", &n, &err) != 0)
		fail_msg("%s", err.msg);
	return n;
}

static void dests(const char *text, struct kfs_destinations *d)
{
	struct kfs_error err = {0};
	if (kfs_destinations_parse(text, strlen(text), "destinations.yaml", d, &err) != 0)
		fail_msg("%s", err.msg);
}

static const char *three_dests = "apiVersion: platform.kratix.io/v1alpha1\n"
				 "kind: Destination\n"
				 "metadata: {name: worker-dev, labels: {environment: dev}}\n"
				 "spec: {path: dev}\n"
				 "---\n"
				 "apiVersion: platform.kratix.io/v1alpha1\n"
				 "kind: Destination\n"
				 "metadata: {name: worker-prod, labels: {environment: prod}}\n"
				 "spec: {path: prod, strictMatchLabels: true}\n"
				 "---\n"
				 "apiVersion: platform.kratix.io/v1alpha1\n"
				 "kind: Destination\n"
				 "metadata: {name: a-plain}\n";

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
	dests(three_dests, &d);
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

static void test_schedule_selectors(void **state)
{
	(void)state;
	struct kfs_destinations d;
	struct kfs_schedule s;
	struct kfs_error err = {0};
	dests(three_dests, &d);
	struct kfs_output outs[] = {OUT("p1", "a.yaml", "a: 1\n"),
				    OUT("p1", "prod/b.yaml", "b: 1\n"),
				    OUT("p1", "sub/c.yaml", "c: 1\n")};

	/* Root selector dev; the prod folder goes to prod only, by its own labels. */
	struct kfs_node *sel = yaml("- matchLabels: {environment: dev}\n"
				    "- matchLabels: {environment: prod}\n  directory: prod/\n");
	struct kfs_sched_input in = {
	    .type = KFS_WF_RESOURCE, .selectors = sel, .outputs = outs, .noutputs = 3};
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

	kfs_node_free(sel);
	kfs_node_free(psel);
	kfs_node_free(root);
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
	char *log = tu_sh("git --git-dir=%s log --format='%%an %%s' main", f->repo);
	assert_string_equal(log, "kratix Update from: my-db\n");
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
	log = tu_sh("git --git-dir=%s log -1 --format='%%an <%%ae> %%s' main", f->repo);
	assert_string_equal(log, "kratix <kratix@kratix.io> Delete from: my-db\n");
	free(log);
	free(tu_sh("git --git-dir=%s fsck --strict 2>&1", f->repo));
	/* No work tree, no index: the repository stays bare. */
	assert_int_equal(access(f->repo, F_OK), 0);
	char idx[600];
	snprintf(idx, sizeof(idx), "%s/index", f->repo);
	assert_int_not_equal(access(idx, F_OK), 0);
	fx_free(f);
}

/* Several works in one call (what a group commit holds): one commit, one line per work. */
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
	assert_string_equal(log, "Update from: one\nUpdate from: two\n\n");
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
	struct fixture *f = fx_new(three_dests);
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
	char *log = tu_sh("git --git-dir=%s log --format=%%s main", f->repo);
	assert_string_equal(log, "Update from: postgresql\n");
	free(log);
	fx_free(f);
}

static const char *mode_dests = "kind: Destination\nmetadata: {name: flat}\n"
				"spec: {path: flat, filepath: {mode: none}}\n---\n"
				"kind: Destination\nmetadata: {name: agg}\n"
				"spec: {path: agg, filepath: {mode: aggregatedYAML}}\n";

static void test_mode_none(void **state)
{
	(void)state;
	struct fixture *f = fx_new(mode_dests);
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

#define MARK(req, key, n)                                                                          \
	"# kratixfs-part: owner=resource/default/postgresql/" req " key=" key " bytes=" n "\n"
#define ALPHA MARK("alpha", "postgresql-alpha-default-p-422dd.agg-5058f", "5")
#define ZETA  MARK("zeta", "postgresql-zeta-default-p-369b7.agg-5058f", "5")

static void test_mode_aggregated(void **state)
{
	(void)state;
	struct fixture *f = fx_new(mode_dests);
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
	/* Ordered by WorkPlacement name (alpha's before zeta's), joined by "\n---\n", each part
	 * marked with its owner. */
	assert_string_equal(agg, ALPHA "a: 1\n\n---\n" ALPHA "b: 1\n\n---\n" ZETA "z: 1\n");
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
	assert_string_equal(msg, "Update from: other\n\n");
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
	assert_string_equal(agg, ALPHA "a: 2\n\n---\n" ZETA "z: 1\n");
	free(agg);

	assert_true(commit_request(f, "alpha", o1, 2, NULL, true, NULL));
	agg = tu_sh("git --git-dir=%s show main:agg/aggregated.yaml", f->repo);
	assert_string_equal(agg, ZETA "z: 1\n");
	free(agg);
	assert_true(commit_request(f, "zeta", o2, 1, NULL, true, NULL));
	char *ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main", f->repo);
	assert_string_equal(ls, "");
	free(ls);
	fx_free(f);
}

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

struct events {
	pthread_mutex_t lock;
	int pushed_true, pushed_false, committed;
	char reason[KFS_ERROR_MAX];
	char commit[41];
	enum kfs_git_kind kind; /* the owner of the last retry */
	char ns[64], name[64];
	unsigned long long serial;
};

static void on_event(void *ctx, const struct kfs_git_event *ev)
{
	struct events *e = ctx;
	pthread_mutex_lock(&e->lock);
	switch (ev->kind) {
	case KFS_GIT_PUSHED:
		e->pushed_true++;
		break;
	case KFS_GIT_PUSH_FAILED:
		e->pushed_false++;
		snprintf(e->reason, sizeof(e->reason), "%s", ev->reason);
		break;
	case KFS_GIT_RETRY_COMMITTED:
	case KFS_GIT_RETRY_FAILED:
		e->kind = ev->key.kind;
		snprintf(e->ns, sizeof(e->ns), "%s", ev->key.ns ? ev->key.ns : "");
		snprintf(e->name, sizeof(e->name), "%s", ev->key.name);
		e->serial = ev->serial;
		if (ev->kind == KFS_GIT_RETRY_COMMITTED) {
			e->committed++;
			snprintf(e->commit, sizeof(e->commit), "%s", ev->commit);
		} else {
			snprintf(e->reason, sizeof(e->reason), "%s", ev->reason);
		}
		break;
	}
	pthread_mutex_unlock(&e->lock);
}

static struct kfs_git *open_pushing_backoff(const char *repo, const char *remote,
					    struct events *ev, unsigned min_ms, unsigned max_ms)
{
	struct kfs_git *g;
	struct kfs_error err = {0};
	struct kfs_git_options o = {.repo = repo,
				    .remote = remote,
				    .backoff_min_ms = min_ms,
				    .backoff_max_ms = max_ms,
				    .on_event = on_event,
				    .ctx = ev};
	if (kfs_git_open(&o, &g, &err) != 0)
		fail_msg("%s", err.msg);
	return g;
}

static struct kfs_git *open_pushing(const char *repo, const char *remote, struct events *ev)
{
	return open_pushing_backoff(repo, remote, ev, 20, 100);
}

static void put(struct kfs_git *g, const struct kfs_destinations *d, const char *name,
		const char *data)
{
	struct kfs_output o = {"p", "r.yaml", (char *)data, strlen(data)};
	struct kfs_git_render r = {.type = KFS_WF_RESOURCE,
				   .promise = "pg",
				   .request = name,
				   .outputs = &o,
				   .noutputs = 1};
	struct kfs_git_work w;
	struct kfs_git_result res;
	struct kfs_error err = {0};
	if (kfs_git_work_build(d, &r, &w, NULL, &err) || kfs_git_commit(g, &w, 1, &res, &err))
		fail_msg("%s", err.msg);
	kfs_git_work_free(&w);
}

/* Two writers with their own repositories, both pushing to one bare remote. */
struct two_writers {
	char *dir;
	char remote[512];
	struct events ea, eb;
	struct kfs_git *a, *b;
};

static void two_writers_open(struct two_writers *t)
{
	char ra[600], rb[600];
	memset(t, 0, sizeof(*t));
	t->dir = tu_mkdtemp();
	pthread_mutex_init(&t->ea.lock, NULL);
	pthread_mutex_init(&t->eb.lock, NULL);
	snprintf(t->remote, sizeof(t->remote), "%s/remote.git", t->dir);
	snprintf(ra, sizeof(ra), "%s/a.git", t->dir);
	snprintf(rb, sizeof(rb), "%s/b.git", t->dir);
	free(tu_sh("git init -q --bare -b main %s", t->remote));
	t->a = open_pushing(ra, t->remote, &t->ea);
	t->b = open_pushing(rb, t->remote, &t->eb);
}

static void two_writers_close(struct two_writers *t)
{
	kfs_git_close(t->a);
	kfs_git_close(t->b);
	pthread_mutex_destroy(&t->ea.lock);
	pthread_mutex_destroy(&t->eb.lock);
	tu_rmdir(t->dir);
}

static void test_push_and_rejected_push(void **state)
{
	(void)state;
	struct two_writers t;
	struct kfs_destinations d;
	struct kfs_error err = {0};
	two_writers_open(&t);
	assert_int_equal(kfs_destinations_load(NULL, &d, &err), 0);
	put(t.a, &d, "from-a", "a: 1\n");
	if (kfs_git_push_wait(t.a, 10000) != 0)
		fail_msg("push: %s", t.ea.reason);
	char *ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main", t.remote);
	assert_string_equal(ls, "default/resources/default/pg/from-a/p/5058f/r.yaml\n");
	free(ls);
	assert_true(t.ea.pushed_true >= 1);

	/* b's history does not contain a's commit: its push is rejected, so it fetches,
	 * re-applies its own paths on a's head and pushes again. */
	put(t.b, &d, "from-b", "b: 1\n");
	assert_int_equal(kfs_git_push_wait(t.b, 10000), 0);
	put(t.a, &d, "from-a", "a: 2\n");
	assert_int_equal(kfs_git_push_wait(t.a, 10000), 0);
	ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main", t.remote);
	assert_string_equal(ls, "default/resources/default/pg/from-a/p/5058f/r.yaml\n"
				"default/resources/default/pg/from-b/p/5058f/r.yaml\n");
	free(ls);
	char *v =
	    tu_sh("git --git-dir=%s show main:default/resources/default/pg/from-a/p/5058f/r.yaml",
	       t.remote);
	assert_string_equal(v, "a: 2\n");
	free(v);
	char *log = tu_sh("git --git-dir=%s log --format=%%s main", t.remote);
	assert_string_equal(log, "Update from: from-a\nUpdate from: from-b\nUpdate from: from-a\n");
	free(log);
	free(tu_sh("git --git-dir=%s fsck --strict 2>&1", t.remote));
	free(tu_sh("git clone -q %s %s/clone && test -f "
		"%s/clone/default/resources/default/pg/from-b/p/5058f/r.yaml",
		t.remote, t.dir, t.dir));
	/* The local branch follows the remote: both writers now agree. */
	char ha[41], hb[41];
	kfs_git_head(t.a, ha);
	char *rh = tu_sh("git --git-dir=%s rev-parse main | tr -d '\\n'", t.remote);
	assert_string_equal(ha, rh);
	free(rh);
	kfs_git_head(t.b, hb);
	assert_true(hb[0] != '\0');

	kfs_destinations_free(&d);
	two_writers_close(&t);
}

/* Two writers with their own repositories push to one remote, both into one aggregatedYAML
 * file: each re-applies only its own owners' parts on the other's, so neither loses the
 * other's parts, whatever the order. */
static void test_two_writers_share_an_aggregated_file(void **state)
{
	(void)state;
	struct two_writers t;
	struct kfs_destinations d;
	two_writers_open(&t);
	dests(mode_dests, &d); /* a request goes to "agg", the first by name */
	put(t.a, &d, "from-a", "a: 1\n");
	assert_int_equal(kfs_git_push_wait(t.a, 10000), 0);
	put(t.b, &d, "from-b", "b: 1\n");
	assert_int_equal(kfs_git_push_wait(t.b, 10000), 0); /* rejected, re-applied on a's */
	put(t.a, &d, "from-a", "a: 2\n");
	put(t.a, &d, "from-a2", "a2: 1\n");
	assert_int_equal(kfs_git_push_wait(t.a, 10000), 0); /* a re-applies on b's */
	char *agg = tu_sh("git --git-dir=%s show main:agg/aggregated.yaml | grep -v '^#'", t.remote);
	assert_string_equal(agg, "a: 2\n\n---\na2: 1\n\n---\nb: 1\n");
	free(agg);
	/* b deletes its request: its part goes, a's stay. */
	struct kfs_git_render r = {.type = KFS_WF_RESOURCE, .promise = "pg", .request = "from-b",
				   .delete = true};
	struct kfs_git_work w;
	struct kfs_git_result res;
	struct kfs_error err = {0};
	assert_int_equal(kfs_git_work_build(&d, &r, &w, NULL, &err), 0);
	assert_int_equal(kfs_git_commit(t.b, &w, 1, &res, &err), 0);
	kfs_git_work_free(&w);
	assert_int_equal(kfs_git_push_wait(t.b, 10000), 0);
	agg = tu_sh("git --git-dir=%s show main:agg/aggregated.yaml | grep -v '^#'", t.remote);
	assert_string_equal(agg, "a: 2\n\n---\na2: 1\n");
	free(agg);
	/* Every commit's line is there (a's last two may be re-applied as one commit). */
	char *log = tu_sh("git --git-dir=%s log --format=%%B main | grep . | sort", t.remote);
	assert_string_equal(log, "Delete from: from-b\nUpdate from: from-a\nUpdate from: from-a\n"
				 "Update from: from-a2\nUpdate from: from-b\n");
	free(log);
	free(tu_sh("git --git-dir=%s fsck --strict 2>&1", t.remote));
	kfs_destinations_free(&d);
	two_writers_close(&t);
}

/* An HTTP(S) server that refuses the URL's user and token, or wants some: said plainly. */
static void test_http_credentials_refused(void **state)
{
	(void)state;
	struct kfs_ssh_auth a = {.remote = "https://host/org/state.git"};
	git_credential *cred = NULL;
	git_libgit2_init();
	assert_int_equal(kfs_ssh_credentials_cb(&cred, "https://host/org/state.git", NULL,
						GIT_CREDENTIAL_USERPASS_PLAINTEXT, &a),
			 GIT_EAUTH);
	assert_contains(git_error_last()->message, "the server asks for a user and token: write "
						   "them in the URL, as https://user:token@host");
	assert_int_equal(kfs_ssh_credentials_cb(&cred, "https://me:t0k@host/org/state.git", "me",
						GIT_CREDENTIAL_USERPASS_PLAINTEXT, &a),
			 GIT_EAUTH);
	assert_contains(git_error_last()->message, "the server refused the user and token in the URL");
	assert_int_equal(kfs_ssh_credentials_cb(&cred, "HTTPS://me:t0k@host/org/state.git", "me",
						GIT_CREDENTIAL_USERPASS_PLAINTEXT, &a),
			 GIT_EAUTH); /* libgit2 takes the scheme in any case */
	assert_null(cred);
	/* An SSH server that takes passwords too: keys are offered (none here), never the
	 * HTTP answer. */
	char *home = tu_mkdtemp();
	char *real_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	char *real_agent = getenv("SSH_AUTH_SOCK") ? strdup(getenv("SSH_AUTH_SOCK")) : NULL;
	setenv("HOME", home, 1);
	unsetenv("SSH_AUTH_SOCK");
	a.remote = "ssh://git@host/org/state.git";
	assert_int_equal(kfs_ssh_credentials_cb(&cred, a.remote, "git",
						GIT_CREDENTIAL_USERPASS_PLAINTEXT |
						    GIT_CREDENTIAL_SSH_KEY,
						&a),
			 GIT_EAUTH);
	assert_contains(git_error_last()->message, "no SSH key was accepted");
	if (real_home)
		setenv("HOME", real_home, 1);
	if (real_agent)
		setenv("SSH_AUTH_SOCK", real_agent, 1);
	free(real_home);
	free(real_agent);
	tu_rmdir(home);
	git_libgit2_shutdown();
}

static void test_failing_remote_then_recovers(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char remote[512], repo[512];
	struct kfs_destinations d;
	struct kfs_error err = {0};
	struct events ev = {.lock = PTHREAD_MUTEX_INITIALIZER};
	snprintf(remote, sizeof(remote), "%s/missing.git", dir);
	snprintf(repo, sizeof(repo), "%s/local.git", dir);
	assert_int_equal(kfs_destinations_load(NULL, &d, &err), 0);
	struct kfs_git *g = open_pushing(repo, remote, &ev);
	/* The commit returns at once even though the remote is not there. */
	put(g, &d, "r1", "x: 1\n");
	assert_int_equal(kfs_git_push_wait(g, 300), -ETIMEDOUT);
	pthread_mutex_lock(&ev.lock);
	assert_true(ev.pushed_false >= 1);
	assert_contains(ev.reason, "missing.git");
	pthread_mutex_unlock(&ev.lock);

	free(tu_sh("git init -q --bare -b main %s", remote));
	kfs_git_push_now(g);
	assert_int_equal(kfs_git_push_wait(g, 10000), 0);
	pthread_mutex_lock(&ev.lock);
	assert_true(ev.pushed_true >= 1);
	pthread_mutex_unlock(&ev.lock);
	char *ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main", remote);
	assert_string_equal(ls, "default/resources/default/pg/r1/p/5058f/r.yaml\n");
	free(ls);
	kfs_git_close(g);
	kfs_destinations_free(&d);
	tu_rmdir(dir);
}

static void test_new_commit_cuts_a_long_backoff_short(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char remote[512], repo[512];
	struct kfs_destinations d;
	struct kfs_error err = {0};
	struct events ev = {.lock = PTHREAD_MUTEX_INITIALIZER};
	snprintf(remote, sizeof(remote), "%s/missing.git", dir);
	snprintf(repo, sizeof(repo), "%s/local.git", dir);
	assert_int_equal(kfs_destinations_load(NULL, &d, &err), 0);
	/* The first failure waits 20 s before the next attempt. */
	struct kfs_git *g = open_pushing_backoff(repo, remote, &ev, 20000, 20000);
	put(g, &d, "r1", "x: 1\n");
	int failed = 0;
	for (int i = 0; i < 250 && !failed; i++) {
		usleep(20000);
		pthread_mutex_lock(&ev.lock);
		failed = ev.pushed_false;
		pthread_mutex_unlock(&ev.lock);
	}
	assert_true(failed >= 1);
	/* The remote comes back, then a new commit: pushed within about a second, not 20. */
	free(tu_sh("git init -q --bare -b main %s", remote));
	put(g, &d, "r2", "x: 2\n");
	assert_int_equal(kfs_git_push_wait(g, 5000), 0);
	char *ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main | grep -c r.yaml", remote);
	assert_int_equal(atoi(ls), 2);
	free(ls);
	kfs_git_close(g);
	kfs_destinations_free(&d);
	tu_rmdir(dir);
}

/* A git:// server that hangs up in the middle of every push: it answers the request with the
 * ref list of an empty repository, then resets the connection while the client sends. */
struct hangup_server {
	int fd;
	pthread_t thread;
};

static void *hangup_serve(void *arg)
{
	struct hangup_server *s = arg;
	static const char adv[] = "0000000000000000000000000000000000000000 capabilities^{}";
	static const char caps[] = "report-status ofs-delta\n";
	char pkt[128], in[1024];
	size_t n = sizeof(adv) + sizeof(caps) - 1; /* adv's NUL separates it from caps */
	snprintf(pkt, sizeof(pkt), "%04zx", n + 4);
	memcpy(pkt + 4, adv, sizeof(adv));
	memcpy(pkt + 4 + sizeof(adv), caps, sizeof(caps) - 1);
	memcpy(pkt + 4 + n, "0000", 4);
	for (;;) {
		int c = accept(s->fd, NULL, NULL);
		if (c < 0)
			return NULL; /* the listening socket was shut down */
		if (read(c, in, sizeof(in)) > 0 && write(c, pkt, n + 8) == (ssize_t)(n + 8)) {
			struct linger reset = {.l_onoff = 1, .l_linger = 0};
			setsockopt(c, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
		}
		close(c);
	}
}

static void test_remote_hanging_up_mid_push(void **state)
{
	(void)state;
	/* The default disposition, a daemon's outside libfuse's loop: SIGPIPE kills. */
	signal(SIGPIPE, SIG_DFL);
	struct hangup_server srv = {.fd = socket(AF_INET, SOCK_STREAM, 0)};
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	assert_int_equal(bind(srv.fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(srv.fd, 8), 0);
	assert_int_equal(getsockname(srv.fd, (struct sockaddr *)&a, &alen), 0);
	assert_int_equal(pthread_create(&srv.thread, NULL, hangup_serve, &srv), 0);

	char *dir = tu_mkdtemp();
	char remote[128], repo[512];
	struct kfs_destinations d;
	struct kfs_error err = {0};
	struct events ev = {.lock = PTHREAD_MUTEX_INITIALIZER};
	snprintf(remote, sizeof(remote), "git://127.0.0.1:%d/state.git", ntohs(a.sin_port));
	snprintf(repo, sizeof(repo), "%s/local.git", dir);
	assert_int_equal(kfs_destinations_load(NULL, &d, &err), 0);
	struct kfs_git *g = open_pushing(repo, remote, &ev);
	put(g, &d, "r1", "x: 1\n");
	/* Several attempts, each cut off while the pack is sent: each one fails, and we live. */
	int failed = 0;
	for (int i = 0; i < 500 && failed < 3; i++) {
		usleep(10000);
		pthread_mutex_lock(&ev.lock);
		failed = ev.pushed_false;
		pthread_mutex_unlock(&ev.lock);
	}
	assert_true(failed >= 3);
	pthread_mutex_lock(&ev.lock);
	assert_int_equal(ev.pushed_true, 0);
	assert_true(ev.reason[0] != '\0');
	pthread_mutex_unlock(&ev.lock);
	kfs_git_close(g);
	shutdown(srv.fd, SHUT_RDWR);
	pthread_join(srv.thread, NULL);
	close(srv.fd);
	kfs_destinations_free(&d);
	tu_rmdir(dir);
}

/* A repository whose branch another git process has locked, after request "first" was
 * committed; request "second" (work serial 42) then failed to commit and waits for a retry. */
struct locked {
	char *dir;
	char repo[512], lock[600];
	struct kfs_destinations d;
	struct events ev;
	struct kfs_git *g;
	struct kfs_git_render second;
	struct kfs_output second_out;
	struct kfs_error err; /* why second failed */
};

static void locked_open(struct locked *l)
{
	memset(l, 0, sizeof(*l));
	l->dir = tu_mkdtemp();
	pthread_mutex_init(&l->ev.lock, NULL);
	snprintf(l->repo, sizeof(l->repo), "%s/state.git", l->dir);
	assert_int_equal(kfs_destinations_load(NULL, &l->d, &l->err), 0);
	l->g = open_pushing(l->repo, NULL, &l->ev);
	put(l->g, &l->d, "first", "x: 1\n");
	snprintf(l->lock, sizeof(l->lock), "%s/refs/heads/main.lock", l->repo);
	FILE *fp = fopen(l->lock, "w");
	assert_non_null(fp);
	fclose(fp);
	l->second_out = (struct kfs_output){"p", "r.yaml", "y: 1\n", 5};
	l->second = (struct kfs_git_render){.type = KFS_WF_RESOURCE,
					    .promise = "pg",
					    .request = "second",
					    .outputs = &l->second_out,
					    .noutputs = 1};
	struct kfs_git_work w;
	struct kfs_git_result res;
	assert_int_equal(kfs_git_work_build(&l->d, &l->second, &w, NULL, &l->err), 0);
	w.serial = 42;
	assert_int_equal(kfs_git_commit(l->g, &w, 1, &res, &l->err), -EIO);
	kfs_git_work_free(&w);
}

static void locked_close(struct locked *l)
{
	kfs_git_close(l->g);
	kfs_destinations_free(&l->d);
	pthread_mutex_destroy(&l->ev.lock);
	tu_rmdir(l->dir);
}

static int committed(struct locked *l)
{
	pthread_mutex_lock(&l->ev.lock);
	int n = l->ev.committed;
	pthread_mutex_unlock(&l->ev.lock);
	return n;
}

static void test_locked_repository_retried(void **state)
{
	(void)state;
	struct locked l;
	locked_open(&l);
	assert_contains(l.err.msg, l.repo);
	assert_contains(l.err.msg, "locked");
	assert_contains(l.err.msg, "retries");

	/* A lock a dead process left (old): removed, and the commit goes through at once. */
	free(tu_sh("touch -d '-1 minute' %s", l.lock));
	put(l.g, &l.d, "third", "z: 1\n");
	assert_int_equal(access(l.lock, F_OK), -1);
	/* Which also lets the background thread commit the work that failed. */
	for (int i = 0; i < 200 && !committed(&l); i++)
		usleep(20000);
	assert_int_equal(committed(&l), 1);
	/* The retry says whose work, and which version of it, it committed. */
	assert_int_equal(l.ev.kind, KFS_GIT_REQUEST);
	assert_string_equal(l.ev.ns, "default");
	assert_string_equal(l.ev.name, "second");
	assert_int_equal(l.ev.serial, 42);
	/* The retry and the third commit may come in either order: the branch has all three. */
	char *ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main", l.repo);
	assert_string_equal(ls, "default/resources/default/pg/first/p/5058f/r.yaml\n"
				"default/resources/default/pg/second/p/5058f/r.yaml\n"
				"default/resources/default/pg/third/p/5058f/r.yaml\n");
	free(ls);
	locked_close(&l);
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

/* A failed work whose owner has nothing newer to commit (invalid selectors) is forgotten: the
 * retry never lands it. A failed Delete is not: the removed request's files must still go. */
static void test_forgotten_work_is_not_retried(void **state)
{
	(void)state;
	struct locked l;
	locked_open(&l);
	struct kfs_git_key owner = kfs_git_key_of(&l.second);
	kfs_git_forget(l.g, &owner);
	struct kfs_git_render gone = {
	    .type = KFS_WF_RESOURCE, .promise = "pg", .request = "first", .delete = true};
	struct kfs_git_work w;
	struct kfs_git_result res;
	assert_int_equal(kfs_git_work_build(&l.d, &gone, &w, NULL, &l.err), 0);
	assert_int_equal(kfs_git_commit(l.g, &w, 1, &res, &l.err), -EIO);
	kfs_git_work_free(&w);
	owner = kfs_git_key_of(&gone);
	kfs_git_forget(l.g, &owner);
	unlink(l.lock);
	put(l.g, &l.d, "third", "z: 1\n"); /* the retries follow this commit */
	for (int i = 0; i < 200 && !committed(&l); i++)
		usleep(20000);
	usleep(300000);
	assert_int_equal(committed(&l), 1); /* the Delete, and nothing of second */
	char *ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main", l.repo);
	assert_string_equal(ls, "default/resources/default/pg/third/p/5058f/r.yaml\n");
	free(ls);
	locked_close(&l);
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
	    cmocka_unit_test(test_strict_match_labels),
	    cmocka_unit_test(test_nested_paths_idempotent_delete),
	    cmocka_unit_test(test_batch_message),
	    cmocka_unit_test(test_directory_routing_paths),
	    cmocka_unit_test(test_promise_dependencies),
	    cmocka_unit_test(test_mode_none),
	    cmocka_unit_test(test_mode_aggregated),
	    cmocka_unit_test(test_aggregated_parts),
	    cmocka_unit_test(test_aggregated_parts_fuzz),
	    cmocka_unit_test(test_concurrent_writers),
	    cmocka_unit_test(test_push_and_rejected_push),
	    cmocka_unit_test(test_two_writers_share_an_aggregated_file),
	    cmocka_unit_test(test_http_credentials_refused),
	    cmocka_unit_test(test_failing_remote_then_recovers),
	    cmocka_unit_test(test_remote_hanging_up_mid_push),
	    cmocka_unit_test(test_new_commit_cuts_a_long_backoff_short),
	    cmocka_unit_test(test_locked_repository_retried),
	    cmocka_unit_test(test_forgotten_work_is_not_retried),
	    cmocka_unit_test(test_open_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
