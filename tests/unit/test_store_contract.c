/* The store's side of Kratix's contract (docs/kratix.md): a request's status persists between
 * renders and restarts and is each render's `.status`; workflow-control.yaml suspends and
 * retries; output/ shows one file a path; Reconciled means what Kratix means. */
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
#include <unistd.h>

#include "kratixfs/doc.h"
#include "kratixfs/store.h"
#include "journal.h"
#include "store_internal.h"
#include "testutil.h"

/* Two pipelines. mode picks what they do: "first" writes a status key only then; "suspend"
 * and "retry" write workflow-control.yaml in pipeline one (retry: until the status counts two
 * attempts); "fail" fails pipeline two. Both write output/shared.yaml. */
static const char promise_yaml[] = "apiVersion: platform.kratix.io/v1alpha1\n"
				   "kind: Promise\n"
				   "metadata: {name: st}\n"
				   "spec:\n"
				   "  destinationSelectors: [{matchLabels: {environment: dev}}]\n"
				   "  api:\n"
				   "    apiVersion: apiextensions.k8s.io/v1\n"
				   "    kind: CustomResourceDefinition\n"
				   "    metadata: {name: things.example.org}\n"
				   "    spec:\n"
				   "      group: example.org\n"
				   "      scope: Namespaced\n"
				   "      names: {kind: Thing, plural: things, singular: thing}\n"
				   "      versions:\n"
				   "        - name: v1\n"
				   "          served: true\n"
				   "          storage: true\n"
				   "          schema:\n"
				   "            openAPIV3Schema:\n"
				   "              type: object\n"
				   "              properties:\n"
				   "                spec:\n"
				   "                  type: object\n"
				   "                  properties:\n"
				   "                    mode: {type: string}\n"
				   "  workflows:\n"
				   "    resource:\n"
				   "      configure:\n"
				   "        - metadata: {name: one}\n"
				   "          spec: {containers: [{name: a}]}\n"
				   "        - metadata: {name: two}\n"
				   "          spec: {containers: [{name: b}]}\n";

#define CA "st/workflows/resource/configure/one/a/templates/"
#define CB "st/workflows/resource/configure/two/b/templates/"

static void write_promise(const char *promises)
{
	tu_write(promises, "st/promise.yaml", promise_yaml);
	tu_write(promises, CA "output/shared.yaml", "from: one\nmode: {{ .spec.mode }}\n");
	tu_write(promises, CA "output/only-one.yaml", "mode: {{ .spec.mode }}\n");
	tu_write(promises, CA "metadata/status.yaml",
		 "{{- if eq .spec.mode \"first\" }}\nfirst: written-by-first\n{{- end }}\n"
		 "{{- if eq .spec.mode \"clear\" }}\nfirst: null\n{{- end }}\n"
		 "lastMode: {{ .spec.mode }}\n"
		 "seenFirst: {{ .status.first | default \"none\" }}\n"
		 "attempts: {{ add (.status.attempts | default 0) 1 }}\n");
	tu_write(
	    promises, CA "metadata/workflow-control.yaml",
	    "{{- if eq .spec.mode \"suspend\" }}\nsuspend: true\nmessage: waiting for approval\n"
	    "{{- else if and (eq .spec.mode \"retry\") (lt (.status.attempts | default 0) 1) }}\n"
	    "retryAfter: 1s\n{{- end }}\n");
	tu_write(promises, CB "output/shared.yaml", "from: two\n");
	tu_write(promises, CB "output/only-two.yaml",
		 "{{- if eq .spec.mode \"fail\" }}{{ fail \"pipeline two refuses\" }}{{ end }}\n"
		 "two: ran\n");
	tu_write(promises, CB "metadata/status.yaml", "twoRan: \"yes\"\n");
}

struct fixture {
	char *dir;
	char promises[512], state[512], repo[512], destinations[512];
	bool git;
	pthread_mutex_t log_lock;
	struct kfs_buf log;
	struct kfs_store *s;
};

static void collect_log(void *ctx, enum kfs_log_level level, const char *line)
{
	struct fixture *f = ctx;
	pthread_mutex_lock(&f->log_lock);
	kfs_buf_printf(&f->log, "%d %s\n", (int)level, line);
	pthread_mutex_unlock(&f->log_lock);
}

static void open_store(struct fixture *f)
{
	struct kfs_store_options o = {.promises_dir = f->promises,
				      .state_dir = f->state,
				      .max_input = 65536,
				      .log = collect_log,
				      .log_ctx = f};
	if (f->git)
		o.git_repo = f->repo;
	if (f->destinations[0])
		o.destinations = f->destinations;
	struct kfs_error err = {0};
	if (kfs_store_open(&o, &f->s, &err) != 0)
		fail_msg("%s", err.msg);
}

static struct fixture *fixture_new(bool git)
{
	struct fixture *f = calloc(1, sizeof(*f));
	pthread_mutex_init(&f->log_lock, NULL);
	f->dir = tu_mkdtemp();
	f->git = git;
	snprintf(f->promises, sizeof(f->promises), "%s/promises", f->dir);
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	snprintf(f->repo, sizeof(f->repo), "%s/statestore.git", f->dir);
	write_promise(f->promises);
	open_store(f);
	return f;
}

static int setup(void **state)
{
	*state = fixture_new(false);
	return 0;
}

static int setup_git(void **state)
{
	*state = fixture_new(true);
	return 0;
}

/* The promise selects environment=dev; the one destination is prod: no Work is placed. */
static int setup_git_prod_only(void **state)
{
	struct fixture *f = fixture_new(true);
	kfs_store_close(f->s);
	snprintf(f->destinations, sizeof(f->destinations), "%s/destinations.yaml", f->dir);
	tu_write(f->dir, "destinations.yaml",
		 "apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\n"
		 "metadata: {name: prod, labels: {environment: prod}}\nspec: {path: prod}\n");
	open_store(f);
	*state = f;
	return 0;
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

static char *thing(const char *mode)
{
	struct kfs_buf b = {0};
	kfs_buf_printf(&b,
		       "apiVersion: example.org/v1\nkind: Thing\nmetadata: {name: t1, namespace: "
		       "team}\nspec: {mode: %s}\n",
		       mode);
	return kfs_buf_steal(&b);
}

static int submit(struct fixture *f, const char *mode, struct kfs_error *err)
{
	char *text = thing(mode);
	int rc = kfs_store_submit(f->s, "t1", text, strlen(text), err);
	free(text);
	return rc;
}

static void submit_ok(struct fixture *f, const char *mode)
{
	struct kfs_error err = {0};
	if (submit(f, mode, &err) != 0)
		fail_msg("%s", err.msg);
}

/* A copy of a file of requests/t1, or NULL. */
static char *file(struct fixture *f, const char *path)
{
	struct kfs_view *v = kfs_store_view(f->s, "requests/t1");
	const struct kfs_view_file *vf = v ? kfs_view_file(v, path) : NULL;
	char *text = vf ? strndup(vf->data, vf->len) : NULL;
	kfs_view_put(v);
	return text;
}

/* requests/t1's status.yaml, parsed. */
static struct kfs_node *status(struct fixture *f)
{
	char *text = file(f, "status.yaml");
	assert_non_null(text);
	struct kfs_node *st = NULL;
	assert_int_equal(kfs_doc_parse(text, strlen(text), "status.yaml", &st, NULL), 0);
	free(text);
	return st;
}

static const struct kfs_node *condition(const struct kfs_node *st, const char *type)
{
	const struct kfs_node *conds = kfs_map_get(st, "conditions");
	for (size_t i = 0; conds && i < conds->len; i++) {
		const char *t = kfs_node_text_at(conds->items[i], "type");
		if (t && strcmp(t, type) == 0)
			return conds->items[i];
	}
	return NULL;
}

#define assert_text(node, path, want)                                                              \
	do {                                                                                       \
		const char *t_ = kfs_node_text_at(node, path);                                     \
		if (!t_ || strcmp(t_, want) != 0)                                                  \
			fail_msg("%s: %s, want %s", path, t_ ? t_ : "(none)", want);               \
	} while (0)

static void assert_condition(const struct kfs_node *st, const char *type, const char *cstatus,
			     const char *reason, const char *message)
{
	const struct kfs_node *c = condition(st, type);
	if (!c)
		fail_msg("no condition %s", type);
	assert_text(c, "status", cstatus);
	assert_text(c, "reason", reason);
	if (message)
		assert_text(c, "message", message);
}

static void create(struct fixture *f)
{
	struct kfs_error err = {0};
	assert_int_equal(kfs_store_create(f->s, "t1", &err), 0);
}

/* A key the first render wrote is still there after the second, which saw it as `.status`;
 * and after a restart, which renders the same input from the same status. */
static void test_status_persists(void **state)
{
	struct fixture *f = *state;
	create(f);
	submit_ok(f, "first");
	struct kfs_node *st = status(f);
	assert_text(st, "first", "written-by-first");
	assert_text(st, "seenFirst", "none");
	assert_text(st, "attempts", "1");
	assert_text(st, "twoRan", "yes");
	kfs_node_free(st);

	submit_ok(f, "second");
	st = status(f);
	assert_text(st, "first", "written-by-first");
	assert_text(st, "seenFirst", "written-by-first");
	assert_text(st, "lastMode", "second");
	assert_text(st, "attempts", "2");
	kfs_node_free(st);
	/* The daemon's conditions the render was given are not taken for the pipeline's. */
	pthread_mutex_lock(&f->log_lock);
	assert_null(strstr(f->log.data, "status-condition-dropped"));
	pthread_mutex_unlock(&f->log_lock);

	kfs_store_close(f->s);
	open_store(f);
	st = status(f);
	assert_text(st, "first", "written-by-first");
	assert_text(st, "lastMode", "second");
	assert_text(st, "attempts", "2"); /* the restart did not count a third render */
	kfs_node_free(st);
	char *out = file(f, "output/only-one.yaml");
	assert_contains(out, "mode: second");
	free(out);

	submit_ok(f, "third");
	st = status(f);
	assert_text(st, "first", "written-by-first");
	assert_text(st, "attempts", "3");
	kfs_node_free(st);
}

/* A key goes only when a pipeline writes it null, as in Kratix: its merge replaces a top-level
 * key with the incoming value, null included, and the status keeps `first: null`. */
static void test_status_key_cleared(void **state)
{
	struct fixture *f = *state;
	create(f);
	submit_ok(f, "first");
	submit_ok(f, "clear");
	struct kfs_node *st = status(f);
	const struct kfs_node *first = kfs_map_get(st, "first");
	assert_non_null(first);
	assert_int_equal(first->type, KFS_NULL);
	kfs_node_free(st);
	submit_ok(f, "second");
	st = status(f);
	assert_text(st, "seenFirst", "none"); /* a template sees it null */
	first = kfs_map_get(st, "first");
	assert_true(first && first->type == KFS_NULL);
	kfs_node_free(st);
}

/* A record written before records held the status reads back: the status is then what the
 * render of the last good input gives. */
static void test_status_old_record(void **state)
{
	struct fixture *f = *state;
	create(f);
	submit_ok(f, "first");
	char *text = thing("first");
	struct kfs_buf rec = {0};
	kfs_buf_printf(&rec, "generation: 1\nobservedGeneration: 1\nphase: Rendered\n"
			     "message: Resource requested\nobject: |\n");
	for (const char *l = text, *nl; *l; l = nl + 1) {
		nl = strchr(l, '\n');
		kfs_buf_printf(&rec, "  %.*s\n", (int)(nl - l), l);
	}
	free(text);
	struct kfs_error err = {0};
	assert_int_equal(kfs_journal_put(f->s->journal, "t1", rec.data, rec.len, &err), 0);
	kfs_buf_free(&rec);
	kfs_store_close(f->s);
	open_store(f);
	struct kfs_node *st = status(f);
	assert_text(st, "phase", "Rendered");
	assert_text(st, "first", "written-by-first");
	assert_text(st, "attempts", "1");
	kfs_node_free(st);
}

/* Kratix's conditions: Reconciled True once the workflow completed and the works succeeded
 * (without Git: rendered). */
static void test_reconciled_rendered(void **state)
{
	struct fixture *f = *state;
	create(f);
	submit_ok(f, "first");
	struct kfs_node *st = status(f);
	assert_condition(st, "ConfigureWorkflowCompleted", "True", "PipelinesExecutedSuccessfully",
			 "Pipelines completed");
	assert_condition(st, "WorksSucceeded", "True", "WorksSucceeded",
			 "All works associated with this resource are ready");
	assert_condition(st, "Reconciled", "True", "Reconciled", "Reconciled");
	kfs_node_free(st);
}

/* With Git, works that are not committed (no destination takes them: Kratix's Work waits for
 * one) are pending: Reconciled Unknown, WorksPending, Pending. */
static void test_reconciled_works_pending(void **state)
{
	struct fixture *f = *state;
	create(f);
	submit_ok(f, "first");
	struct kfs_node *st = status(f);
	assert_condition(st, "ConfigureWorkflowCompleted", "True", "PipelinesExecutedSuccessfully",
			 NULL);
	assert_condition(st, "Committed", "False", "NoMatchingDestination", NULL);
	assert_condition(st, "WorksSucceeded", "Unknown", "WorksPending", NULL);
	assert_contains(kfs_node_text_at(condition(st, "WorksSucceeded"), "message"),
			"Some works associated with this resource are not ready: [t1]");
	assert_condition(st, "Reconciled", "Unknown", "WorksPending", "Pending");
	kfs_node_free(st);
}

/* GitOps feedback speaks for the works: Error makes Reconciled False, WorksFailing. */
static void test_reconciled_feedback_error(void **state)
{
	struct fixture *f = *state;
	create(f);
	submit_ok(f, "first");
	struct kfs_error err = {0};
	const char *line = "Error the cluster refused it\n";
	assert_int_equal(kfs_store_feedback(f->s, "t1", line, strlen(line), &err), 0);
	struct kfs_node *st = status(f);
	assert_condition(st, "WorksSucceeded", "False", "ApplyFailed", NULL);
	assert_condition(st, "Reconciled", "False", "WorksFailing", "Failing");
	kfs_node_free(st);
}

/* A failed pipeline: "A Configure Pipeline has failed: <pipeline>", Reconciled False
 * (ConfigureWorkflowFailed, Failing); the last good outputs stay. */
static void test_failed_pipeline(void **state)
{
	struct fixture *f = *state;
	create(f);
	submit_ok(f, "first");
	struct kfs_error err = {0};
	assert_int_equal(submit(f, "fail", &err), -EIO);
	struct kfs_node *st = status(f);
	assert_text(st, "phase", "Error");
	assert_condition(st, "ConfigureWorkflowCompleted", "False", "ConfigureWorkflowFailed",
			 "A Configure Pipeline has failed: two");
	assert_condition(st, "Reconciled", "False", "ConfigureWorkflowFailed", "Failing");
	assert_text(st, "first", "written-by-first");
	kfs_node_free(st);
	char *out = file(f, "output/only-one.yaml");
	assert_contains(out, "mode: first");
	free(out);
}

/* Two pipelines wrote output/shared.yaml: output/ shows the later one's, the log says so. */
static void test_union_view(void **state)
{
	struct fixture *f = *state;
	create(f);
	submit_ok(f, "first");
	char *shared = file(f, "output/shared.yaml");
	assert_string_equal(shared, "from: two\n");
	free(shared);
	char *log = file(f, "log");
	assert_contains(log, "output/shared.yaml: written by pipelines one and two; output/ shows "
			     "two's");
	free(log);
	struct kfs_node *st = status(f);
	const struct kfs_node *outs = kfs_map_get(st, "outputs");
	assert_non_null(outs);
	size_t nshared = 0;
	for (size_t i = 0; i < outs->len; i++)
		nshared += strcmp(kfs_node_text_at(outs->items[i], "path"), "shared.yaml") == 0;
	assert_int_equal(nshared, 1);
	kfs_node_free(st);
}

static char *git(struct fixture *f, const char *args)
{
	return tu_sh("git --git-dir=%s %s 2>&1", f->repo, args);
}

/* With Git, both pipelines' shared.yaml are committed, each in its own Work. */
static void test_union_view_git(void **state)
{
	struct fixture *f = *state;
	create(f);
	submit_ok(f, "first");
	char *files = git(f, "ls-tree -r --name-only main");
	assert_contains(files, "/one/");
	assert_contains(files, "/two/");
	size_t n = 0;
	for (const char *p = files; (p = strstr(p, "shared.yaml")); p++)
		n++;
	assert_int_equal(n, 2);
	free(files);
	struct kfs_node *st = status(f);
	assert_condition(st, "Committed", "True", "Committed", NULL);
	assert_condition(st, "WorksSucceeded", "True", "WorksSucceeded", NULL);
	assert_condition(st, "Reconciled", "True", "Reconciled", "Reconciled");
	kfs_node_free(st);
}

/* suspend: true: Kratix's Suspended state, pipeline two does not run, nothing is committed;
 * the next write of object.yaml, even of the same bytes, runs the workflow again. */
static void test_suspend(void **state)
{
	struct fixture *f = *state;
	create(f);
	submit_ok(f, "first");
	char *head = git(f, "rev-parse main");
	submit_ok(f, "suspend");
	struct kfs_node *st = status(f);
	assert_text(st, "phase", "Suspended");
	assert_condition(st, "Reconciled", "Unknown", "WorkflowSuspended", "Suspended");
	assert_condition(st, "ConfigureWorkflowCompleted", "False", "PipelinesInProgress", NULL);
	assert_contains(kfs_node_text_at(st, "message"), "waiting for approval");
	assert_text(st, "lastMode", "suspend"); /* pipeline one's status is kept */
	kfs_node_free(st);
	char *phase = file(f, "phase");
	assert_string_equal(phase, "Suspended\n");
	free(phase);
	char *head2 = git(f, "rev-parse main");
	assert_string_equal(head, head2); /* nothing committed: the previous commit stays */
	free(head2);
	char *out = file(f, "output/only-one.yaml");
	assert_contains(out, "mode: first"); /* the outputs in force stay */
	free(out);

	/* A restart keeps it suspended. */
	kfs_store_close(f->s);
	open_store(f);
	phase = file(f, "phase");
	assert_string_equal(phase, "Suspended\n");
	free(phase);
	head2 = git(f, "rev-parse main");
	assert_string_equal(head, head2);
	free(head2);

	submit_ok(f, "second");
	st = status(f);
	assert_text(st, "phase", "Committed");
	assert_condition(st, "Reconciled", "True", "Reconciled", "Reconciled");
	kfs_node_free(st);
	head2 = git(f, "rev-parse main");
	assert_string_not_equal(head, head2);
	free(head2);
	free(head);
}

/* The same bytes written again while suspended run the workflow again. */
static void test_suspend_same_bytes(void **state)
{
	struct fixture *f = *state;
	create(f);
	submit_ok(f, "suspend");
	int before = (int)strlen(f->log.data);
	submit_ok(f, "suspend");
	pthread_mutex_lock(&f->log_lock);
	assert_non_null(strstr(f->log.data + before, "suspend request=t1"));
	pthread_mutex_unlock(&f->log_lock);
	struct kfs_node *st = status(f);
	assert_text(st, "attempts", "2");
	kfs_node_free(st);
}

/* Polls (at most a minute, generous for a loaded machine) until requests/t1's phase is want. */
static void wait_phase(struct fixture *f, const char *want)
{
	for (int i = 0; i < 600; i++) {
		char *phase = file(f, "phase");
		bool done = phase && strncmp(phase, want, strlen(want)) == 0;
		free(phase);
		if (done)
			return;
		usleep(100000);
	}
	char *phase = file(f, "phase");
	fail_msg("phase is %s, never %s", phase ? phase : "(none)", want);
}

/* retryAfter: the workflow runs again after that time, by itself (the retry sees the status
 * the first run left: its second attempt completes). */
static void test_retry_after(void **state)
{
	struct fixture *f = *state;
	create(f);
	submit_ok(f, "retry");
	struct kfs_node *st = status(f);
	assert_text(st, "phase", "Suspended");
	assert_condition(st, "Reconciled", "Unknown", "WorkflowSuspended", "Suspended");
	assert_text(st, "attempts", "1");
	kfs_node_free(st);
	wait_phase(f, "Rendered");
	st = status(f);
	assert_text(st, "attempts", "2");
	assert_condition(st, "Reconciled", "True", "Reconciled", "Reconciled");
	kfs_node_free(st);
	pthread_mutex_lock(&f->log_lock);
	assert_non_null(strstr(f->log.data, "retry request=t1 reason=retryAfter"));
	pthread_mutex_unlock(&f->log_lock);
}

/* A retry that is due while the daemon is down runs at the next start. */
static void test_retry_after_restart(void **state)
{
	struct fixture *f = *state;
	create(f);
	submit_ok(f, "retry");
	kfs_store_close(f->s);
	sleep(2);
	open_store(f);
	wait_phase(f, "Rendered");
	struct kfs_node *st = status(f);
	assert_text(st, "attempts", "2");
	kfs_node_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_status_persists, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_key_cleared, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_old_record, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reconciled_rendered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reconciled_works_pending, setup_git_prod_only,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_reconciled_feedback_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_pipeline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_union_view, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_union_view_git, setup_git, teardown),
	    cmocka_unit_test_setup_teardown(test_suspend, setup_git, teardown),
	    cmocka_unit_test_setup_teardown(test_suspend_same_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_retry_after, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_retry_after_restart, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
