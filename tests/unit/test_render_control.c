/* metadata/workflow-control.yaml and metadata/destination-selectors.yaml as Kratix reads them
 * (work-creator/lib/workflow_control.go, work_creator.go), and what they do to a render. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>

#include "kratixfs/render.h"
#include "render_internal.h"
#include "testutil.h"

static struct kfs_node *parse(const char *text)
{
	struct kfs_node *n = NULL;
	struct kfs_error err = {0};
	if (*text && kfs_doc_parse(text, strlen(text), "t.yaml", &n, &err) != 0)
		fail_msg("%s", err.msg);
	return n;
}

static int control_of(const char *text, struct kfs_workflow_control *c, struct kfs_error *err)
{
	struct kfs_node *doc = parse(text);
	kfs_error_clear(err);
	int rc = render_parse_control(doc, "workflow-control.yaml", c, err);
	kfs_node_free(doc);
	return rc;
}

/* retryAfter is a Go duration (time.ParseDuration), kept in seconds rounded up. */
static void test_retry_after_durations(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		long long seconds;
	} ok[] = {
		{"30s", 30}, {"5m", 300}, {"1h30m", 5400}, {"1.5s", 2}, {"300ms", 1},
		{"0", 0}, {"2h0m0s", 7200}, {"+2m", 120}, {"-1h", 0}, {".5m", 30},
		{"1000000us", 1},
	};
	struct kfs_workflow_control c;
	struct kfs_error err = {0};
	char doc[128];
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(doc, sizeof(doc), "retryAfter: \"%s\"\n", ok[i].text);
		if (control_of(doc, &c, &err) != 0)
			fail_msg("%s: %s", ok[i].text, err.msg);
		assert_int_equal(c.retry_after, ok[i].seconds);
		assert_true(c.stopped);
		assert_false(c.suspend);
		free(c.message);
	}
	static const char *const bad[] = {"soon", "30", "1x", ".s", "1h 30m", "s", "-", "1.h.5"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(doc, sizeof(doc), "retryAfter: \"%s\"\n", bad[i]);
		assert_int_equal(control_of(doc, &c, &err), -EIO);
		assert_contains(err.msg, "is not a duration");
		assert_contains(err.msg, "workflow-control.yaml:1");
	}
}

static void test_control_fields(void **state)
{
	(void)state;
	struct kfs_workflow_control c;
	struct kfs_error err = {0};
	assert_int_equal(control_of("suspend: true\nmessage: waiting\n", &c, &err), 0);
	assert_true(c.suspend && c.stopped);
	assert_int_equal(c.retry_after, -1);
	assert_string_equal(c.message, "waiting");
	free(c.message);
	/* Nothing asked: the workflow goes on (an empty retryAfter asks for nothing). */
	assert_int_equal(control_of("suspend: false\nretryAfter: \"\"\nother: 1\n", &c, &err), 0);
	assert_false(c.stopped);
	assert_null(c.message);
	assert_int_equal(control_of("", &c, &err), 0);
	assert_false(c.stopped);
	/* Wrong types are refused, naming the field. */
	assert_int_equal(control_of("suspend: maybe\n", &c, &err), -EIO);
	assert_contains(err.msg, "suspend must be true or false, not string");
	assert_int_equal(control_of("retryAfter: 30\n", &c, &err), -EIO);
	assert_contains(err.msg, "retryAfter must be a duration in quotes");
	assert_int_equal(control_of("message: [a]\n", &c, &err), -EIO);
	assert_contains(err.msg, "message must be a string");
	assert_int_equal(control_of("- suspend: true\n", &c, &err), -EIO);
	assert_contains(err.msg, "must be a map of suspend, retryAfter and message");
}

static int selectors_of(const char *text, struct kfs_error *err)
{
	struct kfs_node *doc = parse(text);
	kfs_error_clear(err);
	int rc = render_check_selectors(doc, "destination-selectors.yaml", err);
	kfs_node_free(doc);
	return rc;
}

/* Kratix's ParseDestinationSelectors: entries need matchLabels (a map of strings), directories
 * are top-level (cleaned first) and unique. */
static void test_selectors(void **state)
{
	(void)state;
	struct kfs_error err = {0};
	assert_int_equal(selectors_of("- matchLabels: {env: dev}\n"
				      "- matchLabels: {env: prod}\n  directory: ./prod/\n",
				      &err),
			 0);
	assert_int_equal(selectors_of("", &err), 0);
	static const struct {
		const char *doc, *msg;
	} bad[] = {
		{"matchLabels: {env: dev}\n", "must be a list of {matchLabels, directory}"},
		{"- directory: a\n", "entry with index 0 has no selectors"},
		{"- matchLabels: {}\n", "entry with index 0 has no selectors"},
		{"- matchLabels: [env]\n", "matchLabels must be a map"},
		{"- matchLabels: {replicas: 3}\n", "matchLabels.replicas must be a string, not integer"},
		{"- matchLabels: {a: b}\n  directory: a/b\n", "invalid directory a/b"},
		{"- matchLabels: {a: b}\n  directory: /abs\n", "invalid directory /abs"},
		{"- matchLabels: {a: b}\n  directory: ../up\n", "invalid directory ../up"},
		{"- matchLabels: {a: b}\n- matchLabels: {c: d}\n  directory: .\n",
		 "directory . is listed by entries 0 and 1"},
		{"- matchLabels: {a: b}\n  directory: x\n- matchLabels: {c: d}\n  directory: y/../x\n",
		 "directory x is listed by entries 0 and 1"},
		{"- matchLabels: {a: b}\n  directory: 3\n", "directory must be a string"},
		{"- just-a-string\n", "entry with index 0 must be a map"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(selectors_of(bad[i].doc, &err), -EIO);
		assert_contains(err.msg, bad[i].msg);
		assert_contains(err.msg, "destination-selectors.yaml");
	}
}

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
	"            openAPIV3Schema: {type: object, properties: {spec: {type: object, "
	"x-kubernetes-preserve-unknown-fields: true}}}\n"
	"  workflows:\n"
	"    resource:\n"
	"      configure:\n"
	"        - metadata: {name: first}\n"
	"          spec: {containers: [{name: one}]}\n"
	"        - metadata: {name: gate}\n"
	"          spec: {containers: [{name: ask}, {name: decide}]}\n"
	"        - metadata: {name: last}\n"
	"          spec: {containers: [{name: three}]}\n";

#define C1 "workflows/resource/configure/first/one/"
#define CA "workflows/resource/configure/gate/ask/"
#define CD "workflows/resource/configure/gate/decide/"
#define C3 "workflows/resource/configure/last/three/"

static int render_control(const char *decide, const char *ask, struct kfs_render_result *r,
			  struct kfs_error *err)
{
	char *dir = tu_mkdtemp();
	tu_write(dir, "promise.yaml", promise_yaml);
	tu_write(dir, C1 "templates/output/first.yaml", "a: 1\n");
	tu_write(dir, CA "templates/output/gate.yaml", "b: 1\n");
	tu_write(dir, CA "templates/metadata/workflow-control.yaml", ask);
	tu_write(dir, CA "templates/metadata/status.yaml", "gate: asked\n");
	tu_write(dir, CD "templates/metadata/workflow-control.yaml", decide);
	tu_write(dir, C3 "templates/output/last.yaml", "c: 1\n");
	struct kfs_promise *p;
	if (kfs_promise_load_dir(dir, &p, err) != 0)
		fail_msg("%s", err->msg);
	const char *req = "apiVersion: example.org/v1\nkind: App\nmetadata: {name: w}\n"
			  "spec: {approved: false}\n";
	struct kfs_render_input in = {.promise = p, .type = KFS_WF_RESOURCE, .data = req,
				      .len = strlen(req)};
	int rc = kfs_render(&in, r, err);
	kfs_promise_free(p);
	tu_rmdir(dir);
	return rc;
}

/* A template container's workflow-control.yaml: suspend or retryAfter stops the workflow
 * after its pipeline (whose files make no Work); the later container's file replaces the
 * earlier's; the status still merges, as Kratix's update-status does. */
static void test_control_in_templates(void **state)
{
	(void)state;
	struct kfs_render_result r;
	struct kfs_error err = {0};
	const char *suspend = "{{ if not .spec.approved }}suspend: true\n"
			      "message: waiting for {{ .metadata.name }}{{ end }}\n";
	if (render_control(suspend, "retryAfter: \"1h\"\n", &r, &err) != 0)
		fail_msg("%s", err.msg);
	assert_true(r.control.suspend);
	assert_int_equal(r.control.retry_after, -1);
	assert_string_equal(r.control.message, "waiting for w");
	assert_string_equal(r.control.pipeline, "gate");
	assert_int_equal(r.noutputs, 1);
	assert_string_equal(r.outputs[0].path, "first.yaml");
	assert_int_equal(r.npipelines, 2);
	assert_true(r.pipelines[0].work);
	assert_false(r.pipelines[1].work);
	assert_string_equal(kfs_node_text_at(r.status, "gate"), "asked");
	struct kfs_buf text = {0};
	kfs_workflow_control_emit(&r.control, &text);
	assert_string_equal(text.data, "suspend: true\nmessage: waiting for w\n");
	kfs_buf_free(&text);
	kfs_render_result_free(&r);

	if (render_control("retryAfter: 90s\n", "suspend: false\n", &r, &err) != 0)
		fail_msg("%s", err.msg);
	assert_false(r.control.suspend);
	assert_int_equal(r.control.retry_after, 90);
	assert_null(kfs_render_output(&r, "last.yaml"));
	kfs_render_result_free(&r);

	/* A control that asks nothing lets the workflow go on. */
	if (render_control("suspend: false\n", "suspend: false\n", &r, &err) != 0)
		fail_msg("%s", err.msg);
	assert_false(r.control.stopped);
	assert_string_equal(r.control.pipeline, "gate");
	assert_non_null(kfs_render_output(&r, "last.yaml"));
	assert_non_null(kfs_render_output(&r, "gate.yaml"));
	kfs_render_result_free(&r);

	/* Invalid content fails the pipeline. */
	assert_int_equal(render_control("retryAfter: soon\n", "", &r, &err), -EIO);
	assert_contains(err.msg, "pipeline gate: metadata/workflow-control.yaml:1: retryAfter "
				 "\"soon\" is not a duration");
	assert_string_equal(r.failed_pipeline, "gate");
	assert_int_equal(r.noutputs, 1);
	kfs_render_result_free(&r);
}

/* Selectors in templates: a later container's destination-selectors.yaml replaces the one an
 * earlier container of its pipeline left (as a file on Kratix's shared metadata/ does), and
 * each pipeline keeps its own: two pipelines may each name the root directory. */
static void test_selectors_in_templates(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	tu_write(dir, "promise.yaml", promise_yaml);
	tu_write(dir, C1 "templates/output/first.yaml", "a: 1\n");
	tu_write(dir, C1 "templates/metadata/destination-selectors.yaml",
		 "- matchLabels: {env: first}\n");
	tu_write(dir, CA "templates/output/gate.yaml", "b: 1\n");
	tu_write(dir, CA "templates/metadata/destination-selectors.yaml",
		 "- matchLabels: {env: ask}\n");
	tu_write(dir, CD "templates/metadata/destination-selectors.yaml",
		 "- matchLabels: {env: decide}\n");
	tu_write(dir, C3 "templates/output/last.yaml", "c: 1\n");
	struct kfs_promise *p;
	struct kfs_error err = {0};
	if (kfs_promise_load_dir(dir, &p, &err) != 0)
		fail_msg("%s", err.msg);
	const char *req = "apiVersion: example.org/v1\nkind: App\nmetadata: {name: w}\n";
	struct kfs_render_input in = {.promise = p, .type = KFS_WF_RESOURCE, .data = req,
				      .len = strlen(req)};
	struct kfs_render_result r;
	if (kfs_render(&in, &r, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(r.npipelines, 3);
	assert_int_equal(r.pipelines[0].selectors->len, 1);
	assert_string_equal(kfs_node_text_at(r.pipelines[0].selectors->items[0], "matchLabels.env"),
			    "first");
	assert_int_equal(r.pipelines[1].selectors->len, 1);
	assert_string_equal(kfs_node_text_at(r.pipelines[1].selectors->items[0], "matchLabels.env"),
			    "decide");
	assert_null(r.pipelines[2].selectors);
	kfs_render_result_free(&r);
	kfs_promise_free(p);
	tu_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retry_after_durations),
		cmocka_unit_test(test_control_fields),
		cmocka_unit_test(test_selectors),
		cmocka_unit_test(test_control_in_templates),
		cmocka_unit_test(test_selectors_in_templates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
