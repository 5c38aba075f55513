/* A promise's lifecycle in the store (docs/kratix.md, "Promise lifecycle"): its folder removed
 * and back, spec.requiredPromises, the delete pipelines that run, and promises/<p>/status.yaml. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kratixfs/render.h"
#include "kratixfs/store.h"
#include "testutil.h"

struct fixture {
	pthread_mutex_t log_lock; /* the store logs from its Git thread too */
	struct kfs_buf log;
	char *dir;
	char promises[512], state[512], repo[512];
	bool git;
	struct kfs_store *s;
	struct kfs_exec exec; /* set by a test that runs image containers, else run is NULL */
};

static void collect_log(void *ctx, enum kfs_log_level level, const char *line)
{
	struct fixture *f = ctx;
	(void)level;
	pthread_mutex_lock(&f->log_lock);
	kfs_buf_printf(&f->log, "%s\n", line);
	pthread_mutex_unlock(&f->log_lock);
}

static void open_store(struct fixture *f)
{
	struct kfs_store_options o = {.promises_dir = f->promises, .state_dir = f->state,
				      .max_input = 65536, .log = collect_log, .log_ctx = f};
	if (f->git)
		o.git_repo = f->repo;
	if (f->exec.run)
		o.exec = &f->exec;
	struct kfs_error err = {0};
	if (kfs_store_open(&o, &f->s, &err) != 0)
		fail_msg("%s", err.msg);
}

/* A scratch folder with an empty promises folder (postgresql: a copy of the bundled one). */
static struct fixture *fixture_new(bool git, bool postgresql)
{
	struct fixture *f = calloc(1, sizeof(*f));
	pthread_mutex_init(&f->log_lock, NULL);
	f->dir = tu_mkdtemp();
	f->git = git;
	snprintf(f->promises, sizeof(f->promises), "%s/promises", f->dir);
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	snprintf(f->repo, sizeof(f->repo), "%s/statestore.git", f->dir);
	free(tu_sh("mkdir -p %s", f->promises));
	if (postgresql)
		free(tu_sh("cp -r %s/templates/postgresql %s/", KFS_SOURCE_ROOT, f->promises));
	return f;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	kfs_store_close(f->s);
	tu_rmdir(f->dir);
	kfs_buf_free(&f->log);
	pthread_mutex_destroy(&f->log_lock);
	free(f);
	return 0;
}

static char *read_file(struct kfs_store *s, const char *folder, const char *path)
{
	struct kfs_view *v = kfs_store_view(s, folder);
	if (!v)
		return NULL;
	const struct kfs_view_file *f = kfs_view_file(v, path);
	char *text = f ? strndup(f->data, f->len) : NULL;
	kfs_view_put(v);
	return text;
}

#define assert_file_contains(s, folder, path, needle)                                              \
	do {                                                                                       \
		char *t_ = read_file(s, folder, path);                                             \
		assert_contains(t_, needle);                                                       \
		free(t_);                                                                          \
	} while (0)

#define assert_file_lacks(s, folder, path, needle)                                                 \
	do {                                                                                       \
		char *t_ = read_file(s, folder, path);                                             \
		if (t_ && strstr(t_, needle))                                                      \
			fail_msg("'%s' contains '%s'", t_, needle);                                \
		free(t_);                                                                          \
	} while (0)

static char *git_out(struct fixture *f, const char *args)
{
	return tu_sh("git --git-dir=%s %s 2>&1", f->repo, args);
}

static void submit_ok(struct kfs_store *s, const char *name, const char *text)
{
	struct kfs_error err = {0};
	if (kfs_store_submit(s, name, text, strlen(text), &err) != 0)
		fail_msg("%s", err.msg);
}

static void reload(struct fixture *f)
{
	struct kfs_error err = {0};
	if (kfs_store_reload(f->s, &err) != 0)
		fail_msg("%s", err.msg);
}

/* A small promise in f's promises folder: kind `kind` of group example.org, label
 * kratix.io/promise-version `version`, spec.requiredPromises from requires (a YAML flow
 * sequence, or NULL), and one resource configure pipeline rendering a ConfigMap. */
static void write_promise(struct fixture *f, const char *name, const char *kind,
			  const char *version, const char *requires)
{
	struct kfs_buf b = {0};
	kfs_buf_printf(&b,
		       "apiVersion: platform.kratix.io/v1alpha1\nkind: Promise\n"
		       "metadata: {name: %s, labels: {kratix.io/promise-version: %s}}\nspec:\n",
		       name, version);
	if (requires)
		kfs_buf_printf(&b, "  requiredPromises: %s\n", requires);
	kfs_buf_printf(&b,
		       "  dependencies:\n    - {apiVersion: v1, kind: Namespace, metadata: {name: "
		       "%s-system}}\n"
		       "  api:\n    apiVersion: apiextensions.k8s.io/v1\n"
		       "    kind: CustomResourceDefinition\n    spec:\n      group: example.org\n"
		       "      names: {kind: %s, plural: %ss}\n      scope: Namespaced\n"
		       "      versions:\n        - name: v1\n          served: true\n"
		       "          schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-"
		       "unknown-fields: true}}\n"
		       "  workflows:\n    resource:\n      configure:\n"
		       "        - apiVersion: platform.kratix.io/v1alpha1\n          kind: Pipeline\n"
		       "          metadata: {name: main}\n"
		       "          spec: {containers: [{name: render, image: x}]}\n",
		       name, kind, name);
	struct kfs_buf path = {0};
	kfs_buf_printf(&path, "%s/promise.yaml", name);
	tu_write(f->promises, path.data, b.data);
	path.len = 0;
	kfs_buf_printf(&path, "%s/workflows/resource/configure/main/render/templates/output/cm.yaml",
		       name);
	tu_write(f->promises, path.data,
		 "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .metadata.name }}}\n");
	kfs_buf_free(&path);
	kfs_buf_free(&b);
}

static char *request_of(const char *kind, const char *name)
{
	struct kfs_buf b = {0};
	kfs_buf_printf(&b, "apiVersion: example.org/v1\nkind: %s\nmetadata: {name: %s}\n", kind,
		       name);
	return kfs_buf_steal(&b);
}

static const char db1[] = "apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\n"
			  "metadata: {name: db1, namespace: team}\nspec: {size: medium}\n";
static const char db2[] = "apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\n"
			  "metadata: {name: db2, namespace: team}\nspec: {size: small}\n";

/* promises/<p>/status.yaml counts the requests it serves as they come and go. */
static void test_request_count(void **state)
{
	struct fixture *f = fixture_new(false, true);
	*state = f;
	open_store(f);
	struct kfs_error err = {0};
	assert_file_contains(f->s, "promises/postgresql", "status.yaml", "requests: 0\n");
	assert_int_equal(kfs_store_create(f->s, "db1", &err), 0);
	assert_int_equal(kfs_store_create(f->s, "db2", &err), 0);
	assert_file_contains(f->s, "promises/postgresql", "status.yaml", "requests: 0\n");
	submit_ok(f->s, "db1", db1);
	submit_ok(f->s, "db2", db2);
	assert_file_contains(f->s, "promises/postgresql", "status.yaml", "requests: 2\n");
	assert_int_equal(kfs_store_delete_object(f->s, "db2", &err), 0);
	assert_file_contains(f->s, "promises/postgresql", "status.yaml", "requests: 1\n");
	assert_int_equal(kfs_store_remove(f->s, "db2", &err), 0);
	assert_file_contains(f->s, "promises/postgresql", "status.yaml", "requests: 1\n");
	/* A restart counts the recovered ones. */
	kfs_store_close(f->s);
	open_store(f);
	assert_file_contains(f->s, "promises/postgresql", "status.yaml", "requests: 1\n");
}

/* The promise workflow's metadata/status.yaml is merged onto the promise's status: its message
 * (the bundled promise writes one) and its own keys; kratixfs's keys stay its own. */
static void test_workflow_status(void **state)
{
	struct fixture *f = fixture_new(false, true);
	*state = f;
	tu_write(f->promises,
		 "postgresql/workflows/promise/configure/promise-configure/dependencies/templates/"
		 "metadata/status.yaml",
		 "message: Promise {{ .metadata.name }} configured by its workflow\n"
		 "phase: Forged\nrequests: 99\nendpoint: https://db.example.org\n"
		 "conditions:\n  - {type: DependenciesReady, status: \"True\", reason: Ok, "
		 "message: ok}\n");
	open_store(f);
	assert_file_contains(f->s, "promises/postgresql", "status.yaml",
			     "message: Promise postgresql configured by its workflow\n");
	assert_file_contains(f->s, "promises/postgresql", "status.yaml",
			     "endpoint: https://db.example.org\n");
	assert_file_contains(f->s, "promises/postgresql", "status.yaml", "DependenciesReady");
	assert_file_contains(f->s, "promises/postgresql", "status.yaml", "phase: Available\n");
	assert_file_contains(f->s, "promises/postgresql", "status.yaml", "requests: 0\n");
	assert_file_lacks(f->s, "promises/postgresql", "status.yaml", "Forged");
}

/* The bundled promise's own status.yaml message is shown, not a fixed "Promise loaded". */
static void test_bundled_message(void **state)
{
	struct fixture *f = fixture_new(false, true);
	*state = f;
	open_store(f);
	assert_file_contains(f->s, "promises/postgresql", "status.yaml",
			     "message: Promise postgresql v0.1.0 dependencies rendered\n");
}

/* Removing a promise folder deletes its Works (dependencies) from Git in one Delete commit and
 * keeps its requests and their Works; each request says its promise is gone and refuses writes
 * naming it; rm -rf deletes one; the folder coming back serves them again. */
static void test_removed_promise(void **state)
{
	struct fixture *f = fixture_new(true, true);
	*state = f;
	open_store(f);
	struct kfs_error err = {0};
	assert_int_equal(kfs_store_create(f->s, "db1", &err), 0);
	assert_int_equal(kfs_store_create(f->s, "db2", &err), 0);
	submit_ok(f->s, "db1", db1);
	submit_ok(f->s, "db2", db2);
	char *tree = git_out(f, "ls-tree -r --name-only main");
	assert_contains(tree, "default/dependencies/postgresql/");
	free(tree);
	free(tu_sh("mv %s/postgresql %s/postgresql.away", f->promises, f->dir));
	reload(f);
	char *log = git_out(f, "log -1 --format=%s main");
	/* Names the promise, or its Works' WorkPlacement (which starts with it). */
	assert_contains(log, "Delete from: postgresql");
	free(log);
	tree = git_out(f, "ls-tree -r --name-only main");
	if (strstr(tree, "dependencies/postgresql"))
		fail_msg("the promise's Works are still in Git:\n%s", tree);
	assert_contains(tree, "default/resources/team/postgresql/db1/");
	assert_contains(tree, "default/resources/team/postgresql/db2/");
	free(tree);
	assert_null(kfs_store_view(f->s, "promises/postgresql"));
	assert_file_contains(f->s, "requests/db1", "status.yaml", "its promise postgresql is no "
								  "longer in the promises folder");
	assert_file_contains(f->s, "requests/db1", "status.yaml", "reason: PromiseRemoved");
	assert_file_contains(f->s, "requests/db1", "output/statefulset.yaml", "replicas: 2");
	/* A write is refused, naming the promise; the request keeps its object. */
	assert_int_equal(kfs_store_submit(f->s, "db1", db2, strlen(db2), &err), -EINVAL);
	assert_contains(err.msg, "promise postgresql");
	assert_file_contains(f->s, "requests/db1", "object.yaml", "size: medium");
	/* The hold survives a restart. */
	kfs_store_close(f->s);
	open_store(f);
	assert_file_contains(f->s, "requests/db1", "status.yaml", "its promise postgresql");
	assert_file_lacks(f->s, "requests/db1", "phase", "Error");
	/* rm -rf deletes one deliberately: its Works leave Git. */
	assert_int_equal(kfs_store_unlink_object(f->s, "db2", &err), 0);
	assert_int_equal(kfs_store_remove(f->s, "db2", &err), 0);
	tree = git_out(f, "ls-tree -r --name-only main");
	if (strstr(tree, "postgresql/db2"))
		fail_msg("db2's Works are still in Git:\n%s", tree);
	free(tree);
	/* The folder comes back: db1 is served again, the dependencies return. */
	free(tu_sh("mv %s/postgresql.away %s/postgresql", f->dir, f->promises));
	reload(f);
	assert_file_contains(f->s, "requests/db1", "status.yaml", "message: PostgreSQL db1");
	assert_file_lacks(f->s, "requests/db1", "status.yaml", "PromiseRemoved");
	submit_ok(f->s, "db1", "apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\n"
			       "metadata: {name: db1, namespace: team}\nspec: {size: large}\n");
	assert_file_contains(f->s, "requests/db1", "output/statefulset.yaml", "replicas: 3");
	tree = git_out(f, "ls-tree -r --name-only main");
	assert_contains(tree, "default/dependencies/postgresql/");
	free(tree);
	assert_file_contains(f->s, "promises/postgresql", "status.yaml", "requests: 1\n");
}

/* A copy of a loaded promise's folder is refused, naming both folders; removing the copy
 * leaves the promise loaded and its Works in Git (no delete workflow, no Delete commit). */
static void test_copy_removed_keeps_works(void **state)
{
	struct fixture *f = fixture_new(true, true);
	*state = f;
	open_store(f);
	free(tu_sh("cp -r %s/postgresql %s/pg-copy", f->promises, f->promises));
	reload(f);
	assert_file_contains(f->s, "promises/pg-copy", "status.yaml",
			     "promises/pg-copy: promise postgresql is already loaded from "
			     "promises/postgresql");
	assert_file_lacks(f->s, "promises/postgresql", "status.yaml", "already loaded");
	/* Its folder keeps the promise while its promise.yaml does not load (the last good
	 * version serves), though the copy's name sorts first. */
	free(tu_sh("cp %s/postgresql/promise.yaml %s/good.yaml && echo 'spec: [' >>"
		   " %s/postgresql/promise.yaml",
		   f->promises, f->dir, f->promises));
	reload(f);
	assert_file_contains(f->s, "promises/pg-copy", "status.yaml", "already loaded from "
								     "promises/postgresql");
	assert_file_contains(f->s, "promises/postgresql", "status.yaml", "last good version");
	free(tu_sh("cp %s/good.yaml %s/postgresql/promise.yaml", f->dir, f->promises));
	reload(f);
	assert_file_lacks(f->s, "promises/postgresql", "status.yaml", "last good version");
	free(tu_sh("rm -rf %s/pg-copy", f->promises));
	reload(f);
	char *log = git_out(f, "log --format=%s main");
	if (strstr(log, "Delete from"))
		fail_msg("removing the copy deleted the loaded promise's Works:\n%s", log);
	free(log);
	char *tree = git_out(f, "ls-tree -r --name-only main");
	assert_contains(tree, "default/dependencies/postgresql/");
	free(tree);
	if (strstr(f->log.data, "remove promise=postgresql"))
		fail_msg("the delete workflow ran:\n%s", f->log.data);
	assert_file_contains(f->s, "promises/postgresql", "status.yaml", "requests: 0\n");
}

/* A promise folder renamed (same metadata.name) is no removal: its Works stay in Git, with no
 * Delete commit between, and its requests are still served. */
static void test_renamed_folder_keeps_works(void **state)
{
	struct fixture *f = fixture_new(true, true);
	*state = f;
	open_store(f);
	struct kfs_error err = {0};
	assert_int_equal(kfs_store_create(f->s, "db1", &err), 0);
	submit_ok(f->s, "db1", db1);
	free(tu_sh("mv %s/postgresql %s/pg2", f->promises, f->promises));
	reload(f);
	char *log = git_out(f, "log --format=%s main");
	if (strstr(log, "Delete from"))
		fail_msg("renaming the folder deleted the promise's Works:\n%s", log);
	free(log);
	char *tree = git_out(f, "ls-tree -r --name-only main");
	assert_contains(tree, "default/dependencies/postgresql/");
	free(tree);
	assert_null(kfs_store_view(f->s, "promises/postgresql"));
	assert_file_contains(f->s, "promises/pg2", "status.yaml", "requests: 1\n");
	assert_file_lacks(f->s, "requests/db1", "status.yaml", "PromiseRemoved");
	submit_ok(f->s, "db1", "apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\n"
			       "metadata: {name: db1, namespace: team}\nspec: {size: large}\n");
	assert_file_contains(f->s, "requests/db1", "output/statefulset.yaml", "replicas: 3");
}

/* A reader of promises/other, started while a promise delete workflow runs. */
struct side_read {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct kfs_store *s;
	bool done;
	bool found;
};

static void *read_other(void *arg)
{
	struct side_read *r = arg;
	struct kfs_view *v = kfs_store_view(r->s, "promises/other");
	pthread_mutex_lock(&r->lock);
	r->found = v != NULL;
	r->done = true;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	kfs_view_put(v);
	return NULL;
}

struct slow_ctx {
	struct fixture *f;
	pthread_t reader;
	struct side_read read;
	bool ran, read_in_time;
};

/* The image container of the delete workflow: while it runs, another thread reads
 * promises/other; it must not wait for the workflow (3 s at most here). */
static int slow_run(void *ctx, const struct kfs_exec_call *call, struct kfs_exec_reply *reply,
		    struct kfs_error *err)
{
	struct slow_ctx *c = ctx;
	(void)call, (void)err;
	memset(reply, 0, sizeof(*reply));
	c->ran = true;
	c->read.s = c->f->s;
	pthread_create(&c->reader, NULL, read_other, &c->read);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 3;
	pthread_mutex_lock(&c->read.lock);
	while (!c->read.done &&
	       pthread_cond_timedwait(&c->read.cond, &c->read.lock, &until) == 0)
		;
	c->read_in_time = c->read.done;
	pthread_mutex_unlock(&c->read.lock);
	return 0;
}

/* A removed promise's delete workflow runs without holding the promises: a read of another
 * promise's folder is answered while its container runs. */
static void test_delete_workflow_unlocked(void **state)
{
	struct fixture *f = fixture_new(true, false);
	*state = f;
	struct slow_ctx c = {.f = f};
	pthread_mutex_init(&c.read.lock, NULL);
	pthread_cond_init(&c.read.cond, NULL);
	f->exec = (struct kfs_exec){.run = slow_run, .ctx = &c};
	write_promise(f, "gone", "Gone", "v1", NULL);
	write_promise(f, "other", "Other", "v1", NULL);
	free(tu_sh("cd %s/gone && /usr/bin/python3 -c \"t=open('promise.yaml').read(); "
		   "t=t.replace('  workflows:\\n', '  workflows:\\n    promise:\\n      delete:\\n"
		   "        - {apiVersion: platform.kratix.io/v1alpha1, kind: Pipeline, metadata: "
		   "{name: d}, spec: {containers: [{name: slow, image: example.org/slow:1}]}}\\n', "
		   "1); open('promise.yaml','w').write(t)\"",
		   f->promises));
	open_store(f);
	free(tu_sh("rm -rf %s/gone", f->promises));
	reload(f);
	assert_true(c.ran);
	pthread_join(c.reader, NULL);
	assert_true(c.read.found);
	assert_true(c.read_in_time);
	assert_contains(f->log.data, "remove promise=gone delete-workflow=ran");
	pthread_mutex_destroy(&c.read.lock);
	pthread_cond_destroy(&c.read.cond);
}

/* Adds a promise delete workflow of two pipelines to the bundled promise; first_fails makes
 * the first one fail, and the second one always would. */
static void add_promise_delete(struct fixture *f, bool first_fails)
{
	free(tu_sh("cd %s/postgresql && /usr/bin/python3 -c \"import sys; "
		   "t=open('promise.yaml').read(); "
		   "t=t.replace('    resource:\\n', '      delete:\\n"
		   "        - {apiVersion: platform.kratix.io/v1alpha1, kind: Pipeline, metadata: "
		   "{name: first}, spec: {containers: [{name: c, image: x}]}}\\n"
		   "        - {apiVersion: platform.kratix.io/v1alpha1, kind: Pipeline, metadata: "
		   "{name: second}, spec: {containers: [{name: c, image: x}]}}\\n    resource:\\n', 1); "
		   "open('promise.yaml','w').write(t)\"",
		   f->promises));
	tu_write(f->promises, "postgresql/workflows/promise/delete/first/c/templates/output/a.yaml",
		 first_fails ? "{{ fail \"first delete pipeline failed\" }}\n" : "a: 1\n");
	tu_write(f->promises, "postgresql/workflows/promise/delete/second/c/templates/output/b.yaml",
		 "{{ fail \"the second delete pipeline ran\" }}\n");
}

/* Only the first promise delete pipeline runs (Kratix's ReconcileDelete); the status warns that
 * the second never does. */
static void test_promise_delete_first_pipeline(void **state)
{
	struct fixture *f = fixture_new(true, true);
	*state = f;
	add_promise_delete(f, false);
	open_store(f);
	assert_file_contains(f->s, "promises/postgresql", "status.yaml",
			     "spec.workflows.promise.delete: pipeline second never runs");
	free(tu_sh("rm -rf %s/postgresql", f->promises));
	reload(f);
	assert_contains(f->log.data, "remove promise=postgresql delete-workflow=ran");
	char *log = git_out(f, "log -1 --format=%s main");
	/* Names the promise, or its Works' WorkPlacement (which starts with it). */
	assert_contains(log, "Delete from: postgresql");
	free(log);
}

/* A failing promise delete workflow keeps the promise's Works, as Kratix keeps a Promise whose
 * delete pipeline failed. */
static void test_promise_delete_failure_keeps_works(void **state)
{
	struct fixture *f = fixture_new(true, true);
	*state = f;
	add_promise_delete(f, true);
	open_store(f);
	free(tu_sh("rm -rf %s/postgresql", f->promises));
	reload(f);
	assert_contains(f->log.data, "first delete pipeline failed");
	assert_contains(f->log.data, "works=kept");
	char *tree = git_out(f, "ls-tree -r --name-only main");
	assert_contains(tree, "default/dependencies/postgresql/");
	free(tree);
}

/* Only the first resource delete pipeline runs; the second would fail the delete. */
static void test_resource_delete_first_pipeline(void **state)
{
	struct fixture *f = fixture_new(false, false);
	*state = f;
	write_promise(f, "cache", "Cache", "v1", NULL);
	free(tu_sh("cd %s/cache && printf '      delete:\\n"
		   "        - {apiVersion: platform.kratix.io/v1alpha1, kind: Pipeline, metadata: "
		   "{name: first}, spec: {containers: [{name: c, image: x}]}}\\n"
		   "        - {apiVersion: platform.kratix.io/v1alpha1, kind: Pipeline, metadata: "
		   "{name: second}, spec: {containers: [{name: c, image: x}]}}\\n' >>promise.yaml",
		   f->promises));
	tu_write(f->promises, "cache/workflows/resource/delete/first/c/templates/output/a.yaml",
		 "a: {{ .metadata.name }}\n");
	tu_write(f->promises, "cache/workflows/resource/delete/second/c/templates/output/b.yaml",
		 "{{ fail \"the second delete pipeline ran\" }}\n");
	open_store(f);
	assert_file_contains(f->s, "promises/cache", "status.yaml",
			     "spec.workflows.resource.delete: pipeline second never runs");
	struct kfs_error err = {0};
	assert_int_equal(kfs_store_create(f->s, "c1", &err), 0);
	char *req = request_of("Cache", "c1");
	submit_ok(f->s, "c1", req);
	free(req);
	if (kfs_store_delete_object(f->s, "c1", &err) != 0)
		fail_msg("%s", err.msg);
	assert_file_contains(f->s, "requests/c1", "log", "first");
}

/* requiredPromises, both ways along a chain: top requires mid (v1), mid requires base. */
static void test_required_chain(void **state)
{
	struct fixture *f = fixture_new(false, false);
	*state = f;
	write_promise(f, "top", "Top", "v1", "[{name: mid, version: v1}]");
	write_promise(f, "mid", "Mid", "v1", "[{name: base}]");
	open_store(f);
	struct kfs_error err = {0};
	/* base missing: mid is not installed-able, top waits for mid. */
	assert_file_contains(f->s, "promises/mid", "status.yaml", "phase: Unavailable");
	assert_file_contains(f->s, "promises/mid", "status.yaml", "state: Requirement not installed");
	assert_file_contains(f->s, "promises/mid", "status.yaml", "reason: RequirementsNotInstalled");
	assert_file_contains(f->s, "promises/top", "status.yaml", "state: Requirement not available");
	assert_file_contains(f->s, "promises/top", "status.yaml",
			     "message: Requirements not fulfilled");
	assert_file_contains(f->s, "", "status.yaml", "top: Unavailable");
	assert_int_equal(kfs_store_create(f->s, "t1", &err), 0);
	char *top = request_of("Top", "t1");
	assert_int_equal(kfs_store_submit(f->s, "t1", top, strlen(top), &err), -EINVAL);
	assert_contains(err.msg, "promise top does not serve requests");
	assert_contains(err.msg, "promise mid v1: Requirement not available");
	/* base arrives: both serve. */
	write_promise(f, "base", "Base", "v1", NULL);
	reload(f);
	assert_file_contains(f->s, "promises/top", "status.yaml", "phase: Available");
	assert_file_contains(f->s, "promises/top", "status.yaml", "state: Requirement installed");
	assert_file_contains(f->s, "promises/mid", "status.yaml", "status: \"True\"");
	submit_ok(f->s, "t1", top);
	assert_file_contains(f->s, "requests/t1", "output/cm.yaml", "name: t1");
	/* base goes again: top's request is held, with its outputs, and says why. */
	free(tu_sh("rm -rf %s/base", f->promises));
	reload(f);
	assert_file_contains(f->s, "promises/top", "status.yaml", "phase: Unavailable");
	assert_file_contains(f->s, "requests/t1", "status.yaml", "reason: RequirementsNotFulfilled");
	assert_file_contains(f->s, "requests/t1", "status.yaml", "promise top does not serve");
	assert_file_contains(f->s, "requests/t1", "output/cm.yaml", "name: t1");
	/* mid at another version than top asks for. */
	write_promise(f, "base", "Base", "v1", NULL);
	write_promise(f, "mid", "Mid", "v2", "[{name: base}]");
	reload(f);
	assert_file_contains(f->s, "promises/mid", "status.yaml", "phase: Available");
	assert_file_contains(f->s, "promises/top", "status.yaml",
			     "state: Requirement not installed at the specified version");
	const char edit[] = "apiVersion: example.org/v1\nkind: Top\nmetadata: {name: t1}\n"
			    "spec: {x: 1}\n";
	assert_int_equal(kfs_store_submit(f->s, "t1", edit, strlen(edit), &err), -EINVAL);
	assert_contains(err.msg, "promise mid v1");
	write_promise(f, "mid", "Mid", "v1", "[{name: base}]");
	reload(f);
	assert_file_lacks(f->s, "requests/t1", "status.yaml", "RequirementsNotFulfilled");
	assert_file_contains(f->s, "promises/top", "status.yaml", "phase: Available");
	free(top);
}

/* Promises that require each other never serve: each waits for the other, as in Kratix. */
static void test_required_cycle(void **state)
{
	struct fixture *f = fixture_new(false, false);
	*state = f;
	write_promise(f, "one", "One", "v1", "[{name: two}]");
	write_promise(f, "two", "Two", "v1", "[{name: one}]");
	open_store(f);
	assert_file_contains(f->s, "promises/one", "status.yaml", "state: Requirement not available");
	assert_file_contains(f->s, "promises/two", "status.yaml", "phase: Unavailable");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_request_count, teardown),
	    cmocka_unit_test_teardown(test_workflow_status, teardown),
	    cmocka_unit_test_teardown(test_bundled_message, teardown),
	    cmocka_unit_test_teardown(test_removed_promise, teardown),
	    cmocka_unit_test_teardown(test_copy_removed_keeps_works, teardown),
	    cmocka_unit_test_teardown(test_renamed_folder_keeps_works, teardown),
	    cmocka_unit_test_teardown(test_delete_workflow_unlocked, teardown),
	    cmocka_unit_test_teardown(test_promise_delete_first_pipeline, teardown),
	    cmocka_unit_test_teardown(test_promise_delete_failure_keeps_works, teardown),
	    cmocka_unit_test_teardown(test_resource_delete_first_pipeline, teardown),
	    cmocka_unit_test_teardown(test_required_chain, teardown),
	    cmocka_unit_test_teardown(test_required_cycle, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
