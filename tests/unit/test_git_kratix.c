/* The bundled postgresql promise's Git tree against what Kratix would write for the same
 * outputs. The expected paths, .kratix index files, aggregatedYAML file, canary files and commit
 * lines are computed here from Kratix's rules (internal/controller/workplacement_controller.go,
 * destination_controller.go, scheduler.go, lib/writers/git.go, work-creator/lib/work_creator.go),
 * not from the code under test, for each filepath mode, on a GitStateStore with a spec.path and a
 * spec.gitAuthor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/buf.h"
#include "kratixfs/files.h"
#include "kratixfs/gitstore.h"
#include "kratixfs/render.h"
#include "gittest.h"
#include "testutil.h"

#define STORE_PATH "platform"
#define AUTHOR	   "platform-bot <bot@example.com>"
#define NS	   "my-namespace"

/* What Kratix's destination controller writes (its getCanaryWorkloads, as its own tests spell
 * the bytes sigs.k8s.io/yaml gives). */
static const char canary_ns[] = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "
				"kratix-worker-system\nspec: {}\nstatus: {}\n";
static const char canary_cm[] =
    "apiVersion: v1\ndata:\n  canary: this confirms your infrastructure is reading from Kratix "
    "state stores\nkind: ConfigMap\nmetadata:\n  name: kratix-info\n  namespace: "
    "kratix-worker-system\n";

struct file {
	char *path, *data;
};

struct tree {
	struct file *items;
	size_t n;
};

static void tree_add(struct tree *t, const char *path, const char *data, size_t len)
{
	t->items = realloc(t->items, (t->n + 1) * sizeof(*t->items));
	t->items[t->n].path = strdup(path);
	t->items[t->n].data = strndup(data, len);
	t->n++;
}

static void tree_addf(struct tree *t, const char *data, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void tree_addf(struct tree *t, const char *data, const char *fmt, ...)
{
	char path[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	tree_add(t, path, data, strlen(data));
}

static void tree_free(struct tree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->items[i].path);
		free(t->items[i].data);
	}
	free(t->items);
	memset(t, 0, sizeof(*t));
}

/* One WorkPlacement's workloads: what a pipeline wrote (or the static dependencies). */
struct wp {
	char name[256];
	const char *ns; /* the WorkPlacement's namespace */
	const struct kfs_output *outs;
	size_t n;
	const char *nested; /* its nestedByMetadata folder under the destination */
};

/* Kratix's ReadDir walk lists a folder's entries by name, so a workload's order is by path
 * compared folder by folder ('/' below every other byte). */
static int readdir_cmp(const void *a, const void *b)
{
	const char *x = ((const struct kfs_output *)a)->path, *y = ((const struct kfs_output *)b)->path;
	for (; *x && *x == *y; x++, y++)
		;
	return (*x == '/' ? 0 : (unsigned char)*x) - (*y == '/' ? 0 : (unsigned char)*y);
}

static int wp_cmp(const void *a, const void *b)
{
	return strcmp(((const struct wp *)a)->name, ((const struct wp *)b)->name);
}

/* The tree Kratix writes for the WorkPlacements on destination "worker" at spec.path dpath in
 * mode, inside the store's spec.path (the writer's root). */
static void kratix_tree(const char *mode, const char *dpath, const struct wp *given, size_t nwps,
			struct tree *t)
{
	bool nested = strcmp(mode, "nestedByMetadata") == 0;
	/* The canary files: in dependencies/ and resources/ when nested. */
	tree_addf(t, canary_ns, STORE_PATH "/%s/%skratix-canary-namespace.yaml", dpath,
		  nested ? "dependencies/" : "");
	tree_addf(t, canary_cm, STORE_PATH "/%s/%skratix-canary-configmap.yaml", dpath,
		  nested ? "resources/" : "");
	struct kfs_buf agg = {0};
	struct wp wps[4];
	memcpy(wps, given, nwps * sizeof(*wps));
	qsort(wps, nwps, sizeof(*wps), wp_cmp); /* getAllWorkplacementsForDestination's order */
	for (size_t i = 0; i < nwps; i++) {
		struct wp *w = &wps[i];
		struct kfs_output *o = calloc(w->n ? w->n : 1, sizeof(*o));
		memcpy(o, w->outs, w->n * sizeof(*o));
		qsort(o, w->n, sizeof(*o), readdir_cmp);
		struct kfs_buf index = {0};
		kfs_buf_adds(&index, w->n ? "files:\n" : "files: []\n");
		for (size_t j = 0; j < w->n; j++) {
			if (nested) {
				tree_addf(t, o[j].data, STORE_PATH "/%s/%s/%s", dpath, w->nested,
					  o[j].path);
			} else if (strcmp(mode, "none") == 0) {
				/* filepath.Join(spec.path + "/", file): relative to the store. */
				tree_addf(t, o[j].data, STORE_PATH "/%s/%s", dpath, o[j].path);
				kfs_buf_printf(&index, "- %s/%s\n", dpath, o[j].path);
			} else {
				kfs_buf_printf(&agg, "%s%s", agg.len ? "\n---\n" : "", o[j].data);
			}
		}
		if (strcmp(mode, "none") == 0)
			tree_addf(t, index.data, STORE_PATH "/%s/.kratix/%s-%s.yaml", dpath, w->ns,
				  w->name);
		kfs_buf_free(&index);
		free(o);
	}
	if (agg.len)
		tree_addf(t, agg.data, STORE_PATH "/%s/aggregated.yaml", dpath);
	kfs_buf_free(&agg);
}

/* The branch's tree as git shows it, but for kratixfs's own files outside the destination. */
static void git_tree(const char *repo, struct tree *t, bool *own_outside)
{
	char *ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main", repo);
	*own_outside = false;
	for (char *line = strtok(ls, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, ".kratixfs/", 10) == 0) {
			*own_outside = true;
			continue;
		}
		char *data = tu_sh("git --git-dir=%s cat-file blob main:%s", repo, line);
		tree_add(t, line, data, strlen(data));
		free(data);
	}
	free(ls);
}

static int file_cmp(const void *a, const void *b)
{
	return strcmp(((const struct file *)a)->path, ((const struct file *)b)->path);
}

static void assert_trees_equal(struct tree *want, struct tree *got, const char *what)
{
	qsort(want->items, want->n, sizeof(*want->items), file_cmp);
	qsort(got->items, got->n, sizeof(*got->items), file_cmp);
	for (size_t i = 0; i < want->n || i < got->n; i++) {
		const char *w = i < want->n ? want->items[i].path : "(none)";
		const char *g = i < got->n ? got->items[i].path : "(none)";
		if (strcmp(w, g) != 0)
			fail_msg("%s: Kratix writes %s, kratixfs %s", what, w, g);
		if (strcmp(want->items[i].data, got->items[i].data) != 0)
			fail_msg("%s: %s: Kratix writes\n%s\nkratixfs\n%s", what, w,
				 want->items[i].data, got->items[i].data);
	}
}

/* The rendered promise workflow and request, as the store hands them over. */
struct rendered {
	struct kfs_promise *p;
	struct kfs_render_result promise, request;
};

static void render_one(struct kfs_promise *p, enum kfs_wtype type, const char *file,
		       struct kfs_render_result *r)
{
	struct kfs_buf in = {0};
	struct kfs_error err = {0};
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", KFS_SOURCE_ROOT, file);
	if (kfs_read_file(path, &in, &err) != 0)
		fail_msg("%s", err.msg);
	struct kfs_render_input ri = {.promise = p, .type = type, .action = KFS_WF_CONFIGURE,
				      .data = in.data, .len = in.len};
	if (kfs_render(&ri, r, &err) != 0)
		fail_msg("%s", err.msg);
	kfs_buf_free(&in);
}

static void sink(struct kfs_git *g, const struct rendered *rd, bool request, bool del)
{
	const struct kfs_render_result *r = request ? &rd->request : &rd->promise;
	struct kfs_git_render gr = {
	    .type = request ? KFS_WF_RESOURCE : KFS_WF_PROMISE,
	    .promise = rd->p->name,
	    .request = request ? "my-db" : NULL,
	    .ns = request ? NS : NULL,
	    .outputs = r->outputs,
	    .noutputs = r->noutputs,
	    .static_deps = request ? NULL : rd->p->dependencies,
	    .promise_selectors = kfs_node_at(rd->p->doc, "spec.destinationSelectors"),
	    .selectors = r->selectors,
	    .delete = del,
	};
	struct kfs_git_outcome o;
	kfs_git_sink(g, &gr, 1, &o);
	if (o.kind != KFS_GIT_COMMITTED)
		fail_msg("%s: no commit (%d): %s", request ? "my-db" : "promise", o.kind, o.err.msg);
	kfs_git_outcome_free(&o);
}

/* The lines of commit rev (HEAD~n), sorted, one per line, and its subject. */
static void commit_lines(const char *repo, const char *rev, char **lines, char **subject)
{
	*lines = tu_sh("git --git-dir=%s log -1 --format=%%B %s | grep . | sort", repo, rev);
	*subject = tu_sh("git --git-dir=%s log -1 --format=%%s %s", repo, rev);
}

static const char *mode_of(int m)
{
	return m == 0 ? "nestedByMetadata" : m == 1 ? "none" : "aggregatedYAML";
}

/* The WorkPlacements of the promise workflow, its static dependencies and my-db. */
static void workplacements(const struct rendered *rd, const struct kfs_output *stat,
			   struct wp wps[3], char nested[3][512])
{
	const char *pp = rd->promise.outputs[0].pipeline, *rp = rd->request.outputs[0].pipeline;
	memset(wps, 0, 3 * sizeof(*wps));
	kratix_wp(wps[0].name, sizeof(wps[0].name), "postgresql", NULL, NULL, pp, "worker", ".");
	kratix_wp(wps[1].name, sizeof(wps[1].name), "postgresql", NULL, NULL, NULL, "worker", ".");
	kratix_wp(wps[2].name, sizeof(wps[2].name), "postgresql", "my-db", NS, rp, "worker", ".");
	/* getDir: dependencies/<promise>/<pipeline>/<id5>, resources/<ns>/<promise>/<name>/... */
	snprintf(nested[0], 512, "dependencies/postgresql/%s/5058f", pp);
	snprintf(nested[1], 512, "dependencies/postgresql/5058f");
	snprintf(nested[2], 512, "resources/%s/postgresql/my-db/%s/5058f", NS, rp);
	const struct kfs_output *outs[] = {rd->promise.outputs, stat, rd->request.outputs};
	size_t ns[] = {rd->promise.noutputs, 1, rd->request.noutputs};
	for (int i = 0; i < 3; i++) {
		wps[i].ns = i < 2 ? "kratix-platform-system" : NS;
		wps[i].outs = outs[i];
		wps[i].n = ns[i];
		wps[i].nested = nested[i];
	}
}

static const char dests_fmt[] =
    "apiVersion: platform.kratix.io/v1alpha1\nkind: GitStateStore\nmetadata: {name: default}\n"
    "spec:\n  path: " STORE_PATH "/\n  branch: main\n  url: https://git.example.com/state.git\n"
    "  gitAuthor: {name: platform-bot, email: bot@example.com}\n---\n"
    "apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\n"
    "metadata: {name: worker, labels: {environment: dev}}\n"
    "spec:\n  path: %s\n  stateStoreRef: {kind: GitStateStore, name: default}\n"
    "  filepath: {mode: %s}\n";

/* One filepath mode: the promise loads, my-db is written, then deleted. */
static void one_mode(const struct rendered *rd, int m)
{
	const char *mode = mode_of(m), *dpath = m == 0 ? "dev" : m == 1 ? "flat" : "agg";
	char *dir = tu_mkdtemp(), repo[600], text[2048], nested[3][512], want[2048];
	snprintf(repo, sizeof(repo), "%s/state.git", dir);
	snprintf(text, sizeof(text), dests_fmt, dpath, mode);
	struct kfs_destinations d;
	dests(text, &d);
	struct kfs_git *g;
	struct kfs_error err = {0};
	struct kfs_git_options o = {.repo = repo, .destinations = &d};
	if (kfs_git_open(&o, &g, &err) != 0)
		fail_msg("%s", err.msg);
	struct kfs_output stat = {"", "static/postgresql-dependencies.yaml", rd->p->dependencies,
				  strlen(rd->p->dependencies)};
	struct wp wps[3];
	workplacements(rd, &stat, wps, nested);

	/* Kratix makes a commit per WorkPlacement (and one for the canary files); kratixfs one
	 * with a line each, the first WorkPlacement's the subject. */
	sink(g, rd, false, false);
	char *lines, *subject;
	commit_lines(repo, "main", &lines, &subject);
	char sorted[3][300];
	snprintf(sorted[0], sizeof(sorted[0]), "Update from: %s\n", wps[0].name);
	snprintf(sorted[1], sizeof(sorted[1]), "Update from: %s\n", wps[1].name);
	snprintf(sorted[2], sizeof(sorted[2]), "Update from: kratix-canary\n");
	qsort(sorted, 3, sizeof(sorted[0]), (int (*)(const void *, const void *))strcmp);
	snprintf(want, sizeof(want), "%s%s%s", sorted[0], sorted[1], sorted[2]);
	assert_string_equal(lines, want);
	snprintf(want, sizeof(want), "Update from: %s\n", wps[0].name);
	assert_string_equal(subject, want);
	free(lines);
	free(subject);

	sink(g, rd, true, false);
	commit_lines(repo, "main", &lines, &subject);
	snprintf(want, sizeof(want), "Update from: %s\n", wps[2].name);
	assert_string_equal(lines, want);
	assert_string_equal(subject, want);
	free(lines);
	free(subject);
	struct tree kt = {0}, gt = {0};
	bool own;
	kratix_tree(mode, dpath, wps, 3, &kt);
	git_tree(repo, &gt, &own);
	assert_trees_equal(&kt, &gt, mode);
	/* kratixfs's own file (the aggregatedYAML parts index) is outside the destination. */
	assert_int_equal(own, m == 2);
	tree_free(&kt);
	tree_free(&gt);

	sink(g, rd, true, true);
	commit_lines(repo, "main", &lines, &subject);
	snprintf(want, sizeof(want), "Delete from: %s\n", wps[2].name);
	assert_string_equal(lines, want);
	free(lines);
	free(subject);
	kratix_tree(mode, dpath, wps, 2, &kt);
	git_tree(repo, &gt, &own);
	assert_trees_equal(&kt, &gt, mode);
	tree_free(&kt);
	tree_free(&gt);

	/* Every commit is signed by the GitStateStore's spec.gitAuthor, as committer too. */
	char *who = tu_sh("git --git-dir=%s log --format='%%an <%%ae>|%%cn <%%ce>' main | sort -u",
			  repo);
	assert_string_equal(who, AUTHOR "|" AUTHOR "\n");
	free(who);
	free(tu_sh("git --git-dir=%s fsck --strict 2>&1", repo));
	kfs_git_close(g);
	kfs_destinations_free(&d);
	tu_rmdir(dir);
}

static void test_postgresql_as_kratix_writes_it(void **state)
{
	(void)state;
	struct rendered rd = {0};
	struct kfs_error err = {0};
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s/templates/postgresql", KFS_SOURCE_ROOT);
	if (kfs_promise_load_dir(dir, &rd.p, &err) != 0)
		fail_msg("%s", err.msg);
	assert_non_null(rd.p->dependencies);
	render_one(rd.p, KFS_WF_PROMISE, "templates/postgresql/promise.yaml", &rd.promise);
	render_one(rd.p, KFS_WF_RESOURCE, "templates/postgresql/test-input/my-db.yaml", &rd.request);
	assert_true(rd.promise.noutputs > 0 && rd.request.noutputs > 0);
	for (int m = 0; m < 3; m++)
		one_mode(&rd, m);
	kfs_render_result_free(&rd.promise);
	kfs_render_result_free(&rd.request);
	kfs_promise_free(rd.p);
}

/* scheduler.go: a destination labelled kratix.io/dry-run: "true" never takes a normal work,
 * even when it is the first that matches. */
static void test_dry_run_destination(void **state)
{
	(void)state;
	struct kfs_destinations d;
	dests("kind: Destination\nmetadata: {name: a-preview, labels: {environment: dev, "
	      "kratix.io/dry-run: \"true\"}}\n---\n"
	      "kind: Destination\nmetadata: {name: b-real, labels: {environment: dev}}\n",
	      &d);
	struct kfs_output o = {"p", "a.yaml", "a: 1\n", 5};
	struct kfs_node *sel = NULL;
	struct kfs_error err = {0};
	const char *t = "- matchLabels: {environment: dev}\n";
	assert_int_equal(kfs_doc_parse(t, strlen(t), "promise.yaml", &sel, &err), 0);
	struct kfs_sched_input in = {.type = KFS_WF_PROMISE, .promise_selectors = sel,
				     .outputs = &o, .noutputs = 1};
	struct kfs_schedule s;
	assert_int_equal(kfs_schedule(&d, &in, &s, &err), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(d.items[s.items[0].dest].name, "b-real");
	kfs_schedule_free(&s);
	/* Without labels either: a work selecting nothing goes everywhere but there. */
	in.promise_selectors = NULL;
	assert_int_equal(kfs_schedule(&d, &in, &s, &err), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(d.items[s.items[0].dest].name, "b-real");
	kfs_schedule_free(&s);
	kfs_node_free(sel);
	kfs_destinations_free(&d);
}

/* spec.gitAuthor, spec.initWorkloads and spec.cleanup: read, and refused when git or Kratix
 * would refuse them, with the file, line and what to change. */
static void test_destination_fields(void **state)
{
	(void)state;
	struct kfs_destinations d;
	struct kfs_error err = {0};
	const char *ok = "kind: GitStateStore\nmetadata: {name: s}\nspec: {path: p}\n---\n"
			 "kind: Destination\nmetadata: {name: x}\n"
			 "spec: {path: ., stateStoreRef: {kind: GitStateStore, name: s}, cleanup: all,"
			 " initWorkloads: {enabled: false}}\n";
	assert_int_equal(kfs_destinations_parse(ok, strlen(ok), "d.yaml", &d, &err), 0);
	/* Kratix's default author: {name: kratix}, no email. */
	assert_string_equal(d.items[0].author_name, "kratix");
	assert_string_equal(d.items[0].author_email, "");
	assert_false(d.items[0].init_workloads);
	assert_string_equal(d.items[0].path, "p");
	assert_string_equal(d.items[0].spec_path, ".");
	assert_string_equal(d.items[0].store_path, "p");
	kfs_destinations_free(&d);
	static const char *const bad[][2] = {
	    {"kind: GitStateStore\nmetadata: {name: s}\nspec: {gitAuthor: {email: a@b}}\n---\n"
	     "kind: Destination\nmetadata: {name: x}\n",
	     "d.yaml:3: GitStateStore s: spec.gitAuthor.name is empty"},
	    {"kind: GitStateStore\nmetadata: {name: s}\nspec: {gitAuthor: {name: a <b>}}\n---\n"
	     "kind: Destination\nmetadata: {name: x}\n",
	     "must not hold <, > or a line break"},
	    {"kind: Destination\nmetadata: {name: x}\nspec: {cleanup: some}\n",
	     "d.yaml:1: spec.cleanup must be none or all, not some"},
	    {"kind: Destination\nmetadata: {name: x}\nspec: {initWorkloads: {enabled: 3}}\n",
	     "spec.initWorkloads.enabled must be true or false"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_not_equal(
		    kfs_destinations_parse(bad[i][0], strlen(bad[i][0]), "d.yaml", &d, &err), 0);
		assert_contains(err.msg, bad[i][1]);
	}
}

/* initWorkloads.enabled: false removes the canary files an earlier run wrote, as Kratix's
 * destination controller does ("Delete from: kratix-canary"). */
static void test_canary_removed(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp(), repo[600];
	snprintf(repo, sizeof(repo), "%s/state.git", dir);
	const char *on = "kind: Destination\nmetadata: {name: w}\nspec: {path: w}\n";
	const char *off = "kind: Destination\nmetadata: {name: w}\n"
			  "spec: {path: w, initWorkloads: {enabled: false}}\n";
	for (int run = 0; run < 2; run++) {
		struct kfs_destinations d;
		dests(run ? off : on, &d);
		struct kfs_git *g;
		struct kfs_error err = {0};
		struct kfs_git_options o = {.repo = repo, .destinations = &d};
		assert_int_equal(kfs_git_open(&o, &g, &err), 0);
		struct kfs_output out = {"p", "a.yaml", run ? "a: 2\n" : "a: 1\n", 5};
		struct kfs_git_render r = {.type = KFS_WF_RESOURCE, .promise = "pg", .request = "r",
					   .outputs = &out, .noutputs = 1};
		struct kfs_git_outcome oc;
		kfs_git_sink(g, &r, 1, &oc);
		assert_int_equal(oc.kind, KFS_GIT_COMMITTED);
		kfs_git_outcome_free(&oc);
		char *ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main | grep -c canary || true",
				 repo);
		assert_string_equal(ls, run ? "0\n" : "2\n");
		free(ls);
		kfs_git_close(g);
		kfs_destinations_free(&d);
	}
	char *msg = tu_sh("git --git-dir=%s log -1 --format=%%B main | grep . | tail -1", repo);
	assert_string_equal(msg, "Delete from: kratix-canary\n");
	free(msg);
	tu_rmdir(dir);
}

/* A .kratix index lists a WorkPlacement's files in the order Kratix's os.ReadDir walk finds
 * them: a/x.yaml (in folder a) before a-b.yaml, though "a-" sorts before "a/". */
static void test_index_order(void **state)
{
	(void)state;
	struct kfs_destinations d;
	dests("kind: Destination\nmetadata: {name: n}\nspec: {path: n, filepath: {mode: none}}\n",
	      &d);
	struct kfs_output o[] = {{"p", "a-b.yaml", "b: 1\n", 5}, {"p", "a/x.yaml", "x: 1\n", 5}};
	struct kfs_git_render r = {.type = KFS_WF_RESOURCE, .promise = "pg", .request = "r",
				   .outputs = o, .noutputs = 2};
	struct kfs_git_work w;
	struct kfs_error err = {0};
	assert_int_equal(kfs_git_work_build(&d, &r, &w, NULL, &err), 0);
	const char *index = NULL;
	for (size_t i = 0; i < w.nfiles; i++)
		if (strstr(w.files[i].path, "/.kratix/"))
			index = w.files[i].data;
	assert_non_null(index);
	assert_string_equal(index, "files:\n- n/a/x.yaml\n- n/a-b.yaml\n");
	kfs_git_work_free(&w);
	kfs_destinations_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_postgresql_as_kratix_writes_it),
	    cmocka_unit_test(test_dry_run_destination),
	    cmocka_unit_test(test_destination_fields),
	    cmocka_unit_test(test_canary_removed),
	    cmocka_unit_test(test_index_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
