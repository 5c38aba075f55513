/* The exec glue of render (src/core/render_exec.c): image and script containers run through
 * struct kfs_exec on the pipeline's /kratix in memory. The runner here is a fake written in C,
 * so no container runtime is needed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>

#include "kratixfs/render.h"
#include "testutil.h"

static const char promise_yaml[] =
	"apiVersion: platform.kratix.io/v1alpha1\n"
	"kind: Promise\n"
	"metadata: {name: app}\n"
	"spec:\n"
	"  api:\n"
	"    spec:\n"
	"      group: example.org\n"
	"      names: {kind: App, plural: apps}\n"
	"      versions:\n"
	"        - name: v1\n"
	"          schema:\n"
	"            openAPIV3Schema: {type: object, properties: {spec: {type: object}}}\n"
	"  workflows:\n"
	"    resource:\n"
	"      configure:\n"
	"        - metadata: {name: mixed}\n"
	"          spec: {containers: [{name: tmpl}, {name: script}]}\n"
	"        - metadata: {name: after}\n"
	"          spec: {containers: [{name: reader}]}\n";

#define CT "workflows/resource/configure/mixed/tmpl/"
#define CS "workflows/resource/configure/mixed/script/"
#define CR "workflows/resource/configure/after/reader/"

static const char request[] = "apiVersion: example.org/v1\nkind: App\nmetadata: {name: web1}\n"
			      "spec: {}\n";

/* What the fake container does, and what it saw. */
struct fake {
	const char *mode;
	int calls;
	size_t saw_outputs;
	char *saw_status;
	char *saw_object_status;
	char *saw_env;
};

static void reply_file(struct kfs_exec_reply *rep, const char *path, const char *data)
{
	rep->outputs = kfs_xrealloc(rep->outputs, (rep->noutputs + 1) * sizeof(*rep->outputs));
	struct kfs_output *o = &rep->outputs[rep->noutputs++];
	o->pipeline = NULL;
	o->path = kfs_xstrdup(path);
	o->data = kfs_xstrdup(data);
	o->len = strlen(data);
}

static char *dup_meta(const char *text, size_t *len, const char *add)
{
	struct kfs_buf b = {0};
	if (text)
		kfs_buf_add(&b, text, strlen(text));
	kfs_buf_adds(&b, add);
	*len = b.len;
	return kfs_buf_steal(&b);
}

/* A script that keeps every file but remove-me.yaml, adds one, and adds a key to the status
 * file it found (as `yq -i` would). */
static void edit_pipeline(const struct kfs_exec_call *call, struct kfs_exec_reply *rep)
{
	for (size_t i = 0; i < call->noutputs; i++)
		if (strcmp(call->outputs[i].path, "remove-me.yaml") != 0)
			reply_file(rep, call->outputs[i].path, call->outputs[i].data);
	reply_file(rep, "added/by-script.yaml", "kind: ConfigMap\n");
	rep->status = dup_meta(call->status, &rep->status_len, "fromexec: done\n");
}

static int fake_run(void *ctx, const struct kfs_exec_call *call, struct kfs_exec_reply *rep,
		    struct kfs_error *err)
{
	struct fake *f = ctx;
	f->calls++;
	f->saw_outputs = call->noutputs;
	free(f->saw_status);
	f->saw_status = call->status ? kfs_xstrndup(call->status, call->status_len) : NULL;
	free(f->saw_object_status);
	const char *os = kfs_node_text_at(call->object, "status.counter");
	f->saw_object_status = os ? kfs_xstrdup(os) : NULL;
	kfs_buf_printf(&rep->log, "%s: starting\n", call->container->name);
	if (strcmp(f->mode, "edit") == 0) {
		edit_pipeline(call, rep);
	} else if (strcmp(f->mode, "fail") == 0) {
		for (int i = 1; i <= 15; i++)
			kfs_buf_printf(&rep->log, "step %d\n", i);
		kfs_buf_adds(&rep->log, "error: database unreachable");
		return kfs_error_set(err, -EIO, "container %s exited with status 3",
				     call->container->name);
	} else if (strcmp(f->mode, "escape") == 0) {
		reply_file(rep, "../x", "a: 1\n");
	} else if (strcmp(f->mode, "absolute") == 0) {
		reply_file(rep, "/etc/passwd", "a: 1\n");
	} else if (strcmp(f->mode, "dotdot-inside") == 0) {
		reply_file(rep, "a/../../x", "a: 1\n");
	} else if (strcmp(f->mode, "badyaml") == 0) {
		reply_file(rep, "bad.yaml", "a: [\n");
	} else if (strcmp(f->mode, "kratix") == 0) {
		rep->status = dup_meta(NULL, &rep->status_len, "kratix: {workflows: {}}\n");
	} else if (strcmp(f->mode, "suspend") == 0) {
		reply_file(rep, "pending.yaml", "a: 1\n");
		rep->control = dup_meta(NULL, &rep->control_len,
					"suspend: true\nmessage: waiting for approval\n");
	} else if (strcmp(f->mode, "badselectors") == 0) {
		rep->selectors =
		    dup_meta(NULL, &rep->selectors_len, "- matchLabels: {env: 1}\n");
	} else if (strcmp(f->mode, "deletestatus") == 0) {
		reply_file(rep, "kept.txt", "x");
	}
	return 0;
}

struct fixture {
	char *dir;
	struct kfs_promise *p;
	struct fake fake;
	struct kfs_exec exec;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->dir = tu_mkdtemp();
	tu_write(f->dir, "promise.yaml", promise_yaml);
	tu_write(f->dir, CT "templates/output/keep.yaml", "name: {{ .metadata.name }}\n");
	tu_write(f->dir, CT "templates/output/remove-me.yaml", "a: 1\n");
	tu_write(f->dir, CT "templates/metadata/status.yaml", "fromtemplate: \"1\"\n");
	tu_write(f->dir, CS "scripts/pipeline.sh", "#!/bin/sh\nexit 0\n");
	tu_write(f->dir, CS "Dockerfile",
		 "FROM busybox\nCOPY scripts/pipeline.sh /pipeline.sh\nCMD [\"/pipeline.sh\"]\n");
	tu_write(f->dir, CR "templates/output/after.yaml",
		 "sawexec: {{ .status.fromexec | default \"none\" }}\n"
		 "sawtemplate: {{ .status.fromtemplate | default \"none\" }}\n");
	struct kfs_error err = {0};
	if (kfs_promise_load_dir(f->dir, &f->p, &err) != 0)
		fail_msg("%s", err.msg);
	f->exec = (struct kfs_exec){fake_run, &f->fake};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	kfs_promise_free(f->p);
	tu_rmdir(f->dir);
	free(f->fake.saw_status);
	free(f->fake.saw_object_status);
	free(f);
	return 0;
}

static int run(struct fixture *f, const char *mode, const struct kfs_node *status,
	       struct kfs_render_result *r, struct kfs_error *err)
{
	f->fake.mode = mode;
	struct kfs_render_input in = {
		.promise = f->p,
		.type = KFS_WF_RESOURCE,
		.action = KFS_WF_CONFIGURE,
		.data = request,
		.len = sizeof(request) - 1,
		.status = status,
		.exec = &f->exec,
	};
	kfs_error_clear(err);
	return kfs_render(&in, r, err);
}

/* A template container then a script sharing output/ and status.yaml; the next pipeline sees
 * the status both left. */
static void test_template_then_script(void **state)
{
	struct fixture *f = *state;
	struct kfs_node *status;
	struct kfs_error err = {0};
	const char *st = "counter: \"7\"\n";
	assert_int_equal(kfs_doc_parse(st, strlen(st), "s", &status, &err), 0);
	struct kfs_render_result r;
	if (run(f, "edit", status, &r, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(f->fake.calls, 1);
	/* It saw the template container's two files, its status.yaml, the object's status. */
	assert_int_equal(f->fake.saw_outputs, 2);
	assert_string_equal(f->fake.saw_status, "fromtemplate: \"1\"\n");
	assert_string_equal(f->fake.saw_object_status, "7");
	/* Its reply replaced the pipeline's files: one removed, one added. */
	assert_null(kfs_render_output(&r, "remove-me.yaml"));
	assert_string_equal(kfs_render_output(&r, "keep.yaml")->data, "name: web1\n");
	assert_string_equal(kfs_render_output(&r, "added/by-script.yaml")->pipeline, "mixed");
	assert_string_equal(kfs_render_output(&r, "after.yaml")->data,
			    "sawexec: done\nsawtemplate: 1\n");
	assert_string_equal(kfs_node_text_at(r.status, "counter"), "7");
	assert_string_equal(kfs_node_text_at(r.status, "fromexec"), "done");
	/* The container's log is the render's. */
	assert_contains(r.log.data, "script: starting\n");
	assert_contains(r.log.data, "mixed/script: ran; output/ holds 2 file(s)");
	kfs_render_result_free(&r);
	kfs_node_free(status);
}

/* A container that fails: the render fails naming it, with the last lines of its output, and
 * the pipeline is the failed one. */
static void test_failing_container(void **state)
{
	struct fixture *f = *state;
	struct kfs_render_result r;
	struct kfs_error err = {0};
	assert_int_equal(run(f, "fail", NULL, &r, &err), -EIO);
	assert_contains(err.msg, "container script exited with status 3");
	assert_contains(err.msg, "error: database unreachable");
	assert_contains(err.msg, "step 15");
	assert_null(strstr(err.msg, "step 5\n"));
	assert_string_equal(r.failed_pipeline, "mixed");
	assert_contains(r.log.data, "step 1\n");
	/* The pipeline after it did not run. */
	assert_null(kfs_render_output(&r, "after.yaml"));
	kfs_render_result_free(&r);
}

/* Paths outside output/ and invalid YAML are refused, naming the container and the file. */
static void test_bad_replies(void **state)
{
	struct fixture *f = *state;
	struct kfs_render_result r;
	struct kfs_error err = {0};
	static const char *const modes[] = {"escape", "absolute", "dotdot-inside"};
	static const char *const names[] = {"\"../x\"", "\"/etc/passwd\"", "\"a/../../x\""};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(run(f, modes[i], NULL, &r, &err), -EIO);
		assert_contains(err.msg, "container script wrote");
		assert_contains(err.msg, names[i]);
		assert_contains(err.msg, "must stay inside output/");
		assert_string_equal(r.failed_pipeline, "mixed");
		assert_int_equal(r.noutputs, 0);
		kfs_render_result_free(&r);
	}
	assert_int_equal(run(f, "badyaml", NULL, &r, &err), -EIO);
	assert_contains(err.msg, "output/bad.yaml (from container script)");
	kfs_render_result_free(&r);
	/* status.yaml with the key reserved for Kratix fails at the pipeline's end. */
	assert_int_equal(run(f, "kratix", NULL, &r, &err), -EIO);
	assert_contains(err.msg, "pipeline mixed: metadata/status.yaml");
	assert_contains(err.msg, "'kratix' is reserved");
	assert_string_equal(r.failed_pipeline, "mixed");
	kfs_render_result_free(&r);
	/* destination-selectors.yaml checked as Kratix checks it. */
	assert_int_equal(run(f, "badselectors", NULL, &r, &err), -EIO);
	assert_contains(err.msg, "matchLabels.env must be a string");
	kfs_render_result_free(&r);
}

/* A script that leaves no status.yaml removed the template container's; its workflow-control
 * stops the workflow and its files make no Work. */
static void test_script_metadata(void **state)
{
	struct fixture *f = *state;
	struct kfs_render_result r;
	struct kfs_error err = {0};
	if (run(f, "deletestatus", NULL, &r, &err) != 0)
		fail_msg("%s", err.msg);
	assert_null(r.status);
	assert_string_equal(kfs_render_output(&r, "after.yaml")->data,
			    "sawexec: none\nsawtemplate: none\n");
	kfs_render_result_free(&r);
	if (run(f, "suspend", NULL, &r, &err) != 0)
		fail_msg("%s", err.msg);
	assert_true(r.control.suspend);
	assert_true(r.control.stopped);
	assert_string_equal(r.control.message, "waiting for approval");
	assert_string_equal(r.control.pipeline, "mixed");
	assert_int_equal(r.npipelines, 1);
	assert_false(r.pipelines[0].work);
	assert_int_equal(r.noutputs, 0);
	assert_contains(r.log.data, "the workflow stops here");
	kfs_render_result_free(&r);
}

/* Without a runner, a script or image container is an error that says what it needs. */
static void test_no_runner(void **state)
{
	struct fixture *f = *state;
	struct kfs_render_input in = {.promise = f->p, .type = KFS_WF_RESOURCE, .data = request,
				      .len = sizeof(request) - 1};
	struct kfs_render_result r;
	struct kfs_error err = {0};
	assert_int_equal(kfs_render(&in, &r, &err), -EIO);
	assert_contains(err.msg, "container script runs a script");
	assert_contains(err.msg, "need the exec runner");
	assert_string_equal(r.failed_pipeline, "mixed");
	kfs_render_result_free(&r);

	/* An image container (no folder) the same; with a runner, it runs. */
	struct kfs_container *c = &f->p->workflows[KFS_WF_RESOURCE][KFS_WF_CONFIGURE]
					.pipelines[0].containers[1];
	free(c->exec);
	free(c->dir);
	c->exec = c->dir = NULL;
	c->image = kfs_xstrdup("ghcr.io/example/configure:v1");
	assert_int_equal(kfs_render(&in, &r, &err), -EIO);
	assert_contains(err.msg, "container script runs the image ghcr.io/example/configure:v1");
	assert_contains(err.msg, "need the exec runner");
	kfs_render_result_free(&r);
	kfs_error_clear(&err);
	f->fake.mode = "edit";
	in.exec = &f->exec;
	if (kfs_render(&in, &r, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(f->fake.calls, 1);
	assert_non_null(kfs_render_output(&r, "added/by-script.yaml"));
	kfs_render_result_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_template_then_script, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failing_container, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_replies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_script_metadata, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_runner, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
