/* Kratix's contract on the render side (docs/kratix.md): the object's status in the input,
 * status merged pipeline by pipeline, one Work per pipeline. */
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
	"            openAPIV3Schema:\n"
	"              type: object\n"
	"              properties:\n"
	"                spec: {type: object, properties: {tier: {type: string}}}\n"
	"  workflows:\n"
	"    resource:\n"
	"      configure:\n"
	"        - metadata: {name: first}\n"
	"          spec: {containers: [{name: one}]}\n"
	"        - metadata: {name: second}\n"
	"          spec: {containers: [{name: two}]}\n"
	"    promise:\n"
	"      configure:\n"
	"        - metadata: {name: deps}\n"
	"          spec: {containers: [{name: ns}]}\n";

#define C1 "workflows/resource/configure/first/one/"
#define C2 "workflows/resource/configure/second/two/"
#define CP "workflows/promise/configure/deps/ns/"

static const char request[] = "apiVersion: example.org/v1\nkind: App\nmetadata: {name: web1}\n"
			      "spec: {tier: gold}\n";

struct fixture {
	char *dir;
	struct kfs_promise *p;
};

static void write_promise(const char *dir)
{
	tu_write(dir, "promise.yaml", promise_yaml);
	/* Pipeline 1 reads the status the object had, and writes to it. */
	tu_write(dir, C1 "templates/output/shared.yaml",
		 "from: first\nprevious: {{ .status.counter | default \"none\" }}\n");
	tu_write(dir, C1 "templates/output/first.yaml", "tier: {{ .spec.tier }}\n");
	tu_write(dir, C1 "templates/metadata/status.yaml",
		 "endpoint: db.{{ .metadata.name }}\n"
		 "conditions:\n  - {type: Ready, status: \"False\", reason: Starting}\n");
	/* Pipeline 2 sees what pipeline 1 wrote, and writes the same path. */
	tu_write(dir, C2 "templates/output/shared.yaml",
		 "from: second\nendpoint: {{ .status.endpoint }}\n"
		 "pipeline: {{ .workflow.pipeline }}\ntype: {{ .workflow.type }}\n"
		 "action: {{ .workflow.action }}\n");
	tu_write(dir, C2 "templates/metadata/status.yaml",
		 "conditions:\n  - {type: Ready, status: \"True\", reason: Done}\n");
	tu_write(dir, CP "templates/output/ns.yaml",
		 "name: {{ .metadata.name }}\nmessage: {{ .status.message | default \"none\" }}\n");
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->dir = tu_mkdtemp();
	write_promise(f->dir);
	struct kfs_error err = {0};
	if (kfs_promise_load_dir(f->dir, &f->p, &err) != 0)
		fail_msg("%s", err.msg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	kfs_promise_free(f->p);
	tu_rmdir(f->dir);
	free(f);
	return 0;
}

static struct kfs_node *parse(const char *text)
{
	struct kfs_node *n;
	struct kfs_error err = {0};
	if (kfs_doc_parse(text, strlen(text), "test.yaml", &n, &err) != 0)
		fail_msg("%s", err.msg);
	return n;
}

static int render_with(struct fixture *f, enum kfs_wtype type, const char *in_text,
		       const struct kfs_node *status, struct kfs_render_result *r,
		       struct kfs_error *err)
{
	struct kfs_render_input in = {
		.promise = f->p,
		.type = type,
		.action = KFS_WF_CONFIGURE,
		.data = in_text,
		.len = strlen(in_text),
		.status = status,
	};
	return kfs_render(&in, r, err);
}

/* The object's status is the input's .status: templates read it, and the schema's pruning
 * leaves it; a status written in the request is not the object's and is dropped. */
static void test_status_in_input(void **state)
{
	struct fixture *f = *state;
	struct kfs_node *status = parse("counter: 3\nkratix: {workflows: {suspendedGeneration: 1}}\n");
	const char *forged = "apiVersion: example.org/v1\nkind: App\nmetadata: {name: web1}\n"
			     "spec: {tier: gold}\nstatus: {counter: 99, forged: true}\n";
	struct kfs_render_result r;
	struct kfs_error err = {0};
	if (render_with(f, KFS_WF_RESOURCE, forged, status, &r, &err) != 0)
		fail_msg("%s", err.msg);
	assert_contains(r.warnings.data, "ignored field \"status\"");
	/* Pipeline 1 read the status the object had, not the request's. */
	assert_string_equal(r.outputs[1].pipeline, "first");
	assert_contains(r.outputs[1].data, "previous: 3\n");
	assert_null(kfs_node_at(r.object, "status.forged"));
	/* Keys no schema names stay: the status is not pruned. */
	assert_string_equal(kfs_node_text_at(r.object, "status.counter"), "3");
	assert_non_null(kfs_node_at(r.object, "status.kratix.workflows"));
	kfs_render_result_free(&r);
	kfs_node_free(status);

	/* Without a status, none: the template's default. */
	if (render_with(f, KFS_WF_RESOURCE, request, NULL, &r, &err) != 0)
		fail_msg("%s", err.msg);
	assert_contains(r.outputs[1].data, "previous: none\n");
	assert_null(r.warnings.data);
	kfs_render_result_free(&r);
}

/* Each pipeline's status.yaml merges onto the object's status at its end (top-level keys
 * replace, conditions by type), and the next pipeline reads the merged status. */
static void test_status_between_pipelines(void **state)
{
	struct fixture *f = *state;
	struct kfs_node *status = parse("counter: 3\nendpoint: old\nconditions:\n"
					"  - {type: Configured, status: \"True\"}\n"
					"  - {type: Ready, status: Unknown}\n");
	struct kfs_render_result r;
	struct kfs_error err = {0};
	if (render_with(f, KFS_WF_RESOURCE, request, status, &r, &err) != 0)
		fail_msg("%s", err.msg);
	const struct kfs_output *shared = kfs_render_output(&r, "shared.yaml");
	assert_string_equal(shared->pipeline, "second");
	assert_contains(shared->data, "endpoint: db.web1\n");
	/* The .workflow data a Kratix pod has in KRATIX_* variables. */
	assert_contains(shared->data, "pipeline: second\ntype: resource\naction: configure\n");
	assert_string_equal(kfs_node_text_at(r.status, "counter"), "3");
	assert_string_equal(kfs_node_text_at(r.status, "endpoint"), "db.web1");
	const struct kfs_node *conds = kfs_map_get(r.status, "conditions");
	assert_int_equal(conds->len, 2);
	assert_string_equal(kfs_node_text_at(conds->items[0], "type"), "Configured");
	assert_string_equal(kfs_node_text_at(conds->items[1], "status"), "True");
	assert_string_equal(kfs_node_text_at(conds->items[1], "reason"), "Done");
	/* The object the render returns carries the final status; in->status is untouched. */
	assert_true(kfs_node_equal(kfs_map_get(r.object, "status"), r.status));
	assert_string_equal(kfs_node_text_at(status, "endpoint"), "old");
	/* Each pipeline's own status.yaml, before the merge. */
	assert_int_equal(r.npipelines, 2);
	assert_string_equal(kfs_node_text_at(r.pipelines[0].status, "endpoint"), "db.web1");
	assert_null(kfs_map_get(r.pipelines[1].status, "endpoint"));
	kfs_render_result_free(&r);
	kfs_node_free(status);
}

/* One Work per pipeline: two pipelines may write one path; both files are kept, sorted by
 * path then workflow order; output/ shows the later one. */
static void test_one_work_per_pipeline(void **state)
{
	struct fixture *f = *state;
	struct kfs_render_result r;
	struct kfs_error err = {0};
	if (render_with(f, KFS_WF_RESOURCE, request, NULL, &r, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(r.noutputs, 3);
	assert_string_equal(r.outputs[0].path, "first.yaml");
	assert_string_equal(r.outputs[1].path, "shared.yaml");
	assert_string_equal(r.outputs[1].pipeline, "first");
	assert_contains(r.outputs[1].data, "from: first");
	assert_string_equal(r.outputs[2].path, "shared.yaml");
	assert_string_equal(r.outputs[2].pipeline, "second");
	assert_ptr_equal(kfs_render_output(&r, "shared.yaml"), &r.outputs[2]);
	assert_null(kfs_render_output(&r, "missing.yaml"));
	assert_string_equal(r.pipelines[0].name, "first");
	assert_true(r.pipelines[0].work);
	assert_string_equal(r.pipelines[1].name, "second");
	assert_null(r.failed_pipeline);
	assert_null(r.control.pipeline);
	assert_int_equal(r.control.retry_after, -1);
	kfs_render_result_free(&r);
}

/* The promise workflow's input is the Promise with its status; one in promise.yaml (an export
 * from a cluster) is not the object's. */
static void test_promise_status(void **state)
{
	struct fixture *f = *state;
	struct kfs_node *status = parse("message: Promise configured\n");
	struct kfs_buf doc = {0};
	kfs_buf_printf(&doc, "%sstatus: {message: exported}\n", promise_yaml);
	struct kfs_render_result r;
	struct kfs_error err = {0};
	if (render_with(f, KFS_WF_PROMISE, doc.data, status, &r, &err) != 0)
		fail_msg("%s", err.msg);
	assert_string_equal(r.outputs[0].data, "name: app\nmessage: Promise configured\n");
	kfs_render_result_free(&r);
	if (render_with(f, KFS_WF_PROMISE, doc.data, NULL, &r, &err) != 0)
		fail_msg("%s", err.msg);
	assert_string_equal(r.outputs[0].data, "name: app\nmessage: none\n");
	kfs_render_result_free(&r);
	kfs_buf_free(&doc);
	kfs_node_free(status);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status_in_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_between_pipelines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_work_per_pipeline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_promise_status, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
