#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "kratixfs/render.h"
#include "testutil.h"

static const char promise_yaml[] =
	"apiVersion: platform.kratix.io/v1alpha1\n"
	"kind: Promise\n"
	"metadata: {name: app, labels: {kratix.io/promise-version: v2}}\n"
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
	"                spec:\n"
	"                  type: object\n"
	"                  properties:\n"
	"                    tier: {type: string, enum: [web, worker], default: web}\n"
	"                    note: {type: string}\n"
	"  workflows:\n"
	"    resource:\n"
	"      configure:\n"
	"        - metadata: {name: first}\n"
	"          spec: {containers: [{name: one}, {name: two}]}\n"
	"        - metadata: {name: second}\n"
	"          spec: {containers: [{name: three}]}\n"
	"    promise:\n"
	"      configure:\n"
	"        - metadata: {name: deps}\n"
	"          spec: {containers: [{name: ns}]}\n";

#define C1 "workflows/resource/configure/first/one/"
#define C2 "workflows/resource/configure/first/two/"
#define C3 "workflows/resource/configure/second/three/"
#define CP "workflows/promise/configure/deps/ns/"

struct fixture {
	char *dir;
	struct kfs_promise *p;
};

static void write_promise(const char *dir)
{
	tu_write(dir, "promise.yaml", promise_yaml);
	tu_write(dir, C1 "templates/output/app.yaml",
		 "name: {{ .metadata.name }}\ntier: {{ .spec.tier }}\n"
		 "pipeline: {{ .workflow.pipeline }}\npromise: {{ .promise.version }}\n");
	tu_write(dir, C1 "templates/output/shared.yaml", "from: one\n");
	tu_write(dir, C1 "templates/metadata/status.yaml",
		 "message: one\nconditions:\n  - {type: A, status: \"False\"}\n");
	tu_write(dir, C2 "templates/output/shared.yaml", "from: two\n");
	tu_write(dir, C2 "templates/metadata/status.yaml",
		 "endpoint: x\nconditions:\n  - {type: A, status: \"True\"}\n  - {type: B, "
		 "status: \"True\"}\n");
	tu_write(dir, C3 "templates/output/sub/extra.yaml", "note: {{ .spec.note | default \"none\" }}\n");
	tu_write(dir, C3 "templates/output/notes.txt", "free text: {{ .spec.tier }}\n");
	tu_write(dir, C3 "templates/metadata/destination-selectors.yaml",
		 "- directory: sub\n  matchLabels: {zone: \"{{ .spec.tier }}\"}\n");
	tu_write(dir, CP "templates/output/ns.yaml",
		 "kind: Namespace\nmetadata: {name: {{ .metadata.name }}-system}\n");
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

static int render(struct fixture *f, enum kfs_wtype type, const char *pipeline, const char *in,
		  struct kfs_render_result *r, struct kfs_error *err)
{
	struct kfs_render_input ri = {
		.promise = f->p,
		.type = type,
		.action = KFS_WF_CONFIGURE,
		.pipeline = pipeline,
		.data = in,
		.len = strlen(in),
	};
	return kfs_render(&ri, r, err);
}

static const char request[] = "apiVersion: example.org/v1\nkind: App\nmetadata: {name: web1}\n"
			      "spec: {unknown: 1}\n";

static void test_pipelines_and_containers(void **state)
{
	struct fixture *f = *state;
	struct kfs_render_result r;
	struct kfs_error err = {0};
	if (render(f, KFS_WF_RESOURCE, NULL, request, &r, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(r.noutputs, 4);
	/* Sorted by path. */
	assert_string_equal(r.outputs[0].path, "app.yaml");
	assert_string_equal(r.outputs[1].path, "notes.txt");
	assert_string_equal(r.outputs[2].path, "shared.yaml");
	assert_string_equal(r.outputs[3].path, "sub/extra.yaml");
	assert_string_equal(r.outputs[0].data,
			    "name: web1\ntier: web\npipeline: first\npromise: v2\n");
	/* Containers of one pipeline share its output: the later one wins. */
	assert_string_equal(kfs_render_output(&r, "shared.yaml")->data, "from: two\n");
	assert_string_equal(kfs_render_output(&r, "shared.yaml")->pipeline, "first");
	assert_string_equal(kfs_render_output(&r, "sub/extra.yaml")->pipeline, "second");
	assert_string_equal(kfs_render_output(&r, "sub/extra.yaml")->data, "note: none\n");
	/* The admitted object: defaults applied, unknown fields pruned. */
	assert_string_equal(kfs_node_text_at(r.object, "spec.tier"), "web");
	assert_null(kfs_node_at(r.object, "spec.unknown"));
	/* Status fragments merge as Kratix merges them. */
	assert_string_equal(kfs_node_text_at(r.status, "message"), "one");
	assert_string_equal(kfs_node_text_at(r.status, "endpoint"), "x");
	const struct kfs_node *conds = kfs_map_get(r.status, "conditions");
	assert_int_equal(conds->len, 2);
	assert_string_equal(kfs_node_text_at(conds->items[0], "status"), "True");
	/* Destination selectors from the render. */
	assert_int_equal(r.selectors->len, 1);
	assert_string_equal(kfs_node_text_at(r.selectors->items[0], "matchLabels.zone"), "web");
	assert_contains(r.log.data, "first/one: rendered 2 file(s)");
	kfs_render_result_free(&r);
}

static void test_deterministic(void **state)
{
	struct fixture *f = *state;
	struct kfs_render_result a, b;
	struct kfs_error err = {0};
	assert_int_equal(render(f, KFS_WF_RESOURCE, NULL, request, &a, &err), 0);
	assert_int_equal(render(f, KFS_WF_RESOURCE, NULL, request, &b, &err), 0);
	assert_int_equal(a.noutputs, b.noutputs);
	for (size_t i = 0; i < a.noutputs; i++) {
		assert_int_equal(a.outputs[i].len, b.outputs[i].len);
		assert_memory_equal(a.outputs[i].data, b.outputs[i].data, a.outputs[i].len);
	}
	assert_true(kfs_node_equal(a.status, b.status));
	kfs_render_result_free(&a);
	kfs_render_result_free(&b);
}

static void test_one_pipeline(void **state)
{
	struct fixture *f = *state;
	struct kfs_render_result r;
	struct kfs_error err = {0};
	assert_int_equal(render(f, KFS_WF_RESOURCE, "second", request, &r, &err), 0);
	assert_int_equal(r.noutputs, 2);
	assert_null(kfs_render_output(&r, "app.yaml"));
	assert_null(r.status);
	kfs_render_result_free(&r);
	assert_int_equal(render(f, KFS_WF_RESOURCE, "third", request, &r, &err), -EIO);
	assert_contains(err.msg, "pipeline third is not in the resource configure workflow");
	kfs_render_result_free(&r);
}

static void test_promise_workflow(void **state)
{
	struct fixture *f = *state;
	struct kfs_render_result r;
	struct kfs_error err = {0};
	if (render(f, KFS_WF_PROMISE, NULL, promise_yaml, &r, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(r.noutputs, 1);
	assert_string_equal(r.outputs[0].data, "kind: Namespace\nmetadata: {name: app-system}\n");
	kfs_render_result_free(&r);
	assert_int_equal(render(f, KFS_WF_PROMISE, NULL, request, &r, &err), -EINVAL);
	assert_contains(err.msg, "the promise workflow takes the Promise document");
	kfs_render_result_free(&r);
}

static void test_rejected_input(void **state)
{
	struct fixture *f = *state;
	struct kfs_render_result r;
	struct kfs_error err = {0};
	assert_int_equal(render(f, KFS_WF_RESOURCE, NULL, "a: [", &r, &err), -EINVAL);
	assert_contains(err.msg, "object.yaml:");
	kfs_render_result_free(&r);
	kfs_error_clear(&err);
	const char *bad = "apiVersion: example.org/v1\nkind: App\nmetadata: {name: w}\n"
			  "spec: {tier: db}\n";
	assert_int_equal(render(f, KFS_WF_RESOURCE, NULL, bad, &r, &err), -EINVAL);
	assert_contains(err.msg, "spec.tier");
	assert_int_equal(r.noutputs, 0);
	kfs_render_result_free(&r);
}

/* A caller that parsed the input already hands the tree over instead of parsing twice. */
static void test_preparsed_input(void **state)
{
	struct fixture *f = *state;
	struct kfs_node *doc;
	struct kfs_error err = {0};
	assert_int_equal(kfs_doc_parse(request, strlen(request), "r.yaml", &doc, &err), 0);
	struct kfs_render_input in = {.promise = f->p, .type = KFS_WF_RESOURCE, .data = "not: [yaml",
				      .len = 10, .doc = doc};
	struct kfs_render_result r;
	if (kfs_render(&in, &r, &err) != 0)
		fail_msg("%s", err.msg);
	assert_ptr_equal(r.object, doc);
	assert_string_equal(kfs_render_output(&r, "app.yaml")->data,
			    "name: web1\ntier: web\npipeline: first\npromise: v2\n");
	kfs_render_result_free(&r);
}

/* A request written into a folder takes the folder's name, and may not claim another. */
static void test_folder_name(void **state)
{
	struct fixture *f = *state;
	struct kfs_render_result r;
	struct kfs_error err = {0};
	const char *unnamed = "apiVersion: example.org/v1\nkind: App\nspec: {}\n";
	struct kfs_render_input in = {.promise = f->p, .type = KFS_WF_RESOURCE, .name = "from-dir",
				      .data = unnamed, .len = strlen(unnamed)};
	if (kfs_render(&in, &r, &err) != 0)
		fail_msg("%s", err.msg);
	assert_string_equal(kfs_node_text_at(r.object, "metadata.name"), "from-dir");
	assert_contains(kfs_render_output(&r, "app.yaml")->data, "name: from-dir");
	kfs_render_result_free(&r);
	in.data = request;
	in.len = strlen(request);
	assert_int_equal(kfs_render(&in, &r, &err), -EINVAL);
	assert_contains(err.msg, "\"web1\" differs from the folder name \"from-dir\"");
	kfs_render_result_free(&r);
}

/* Render failures that the promise author must fix: each names the file. */
static void test_render_failures(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	write_promise(dir);
	struct kfs_promise *p;
	struct kfs_error err = {0};
	struct kfs_render_result r;
	struct kfs_render_input in = {.type = KFS_WF_RESOURCE, .data = request,
				      .len = sizeof(request) - 1};

	/* Output that is not YAML. */
	tu_write(dir, C3 "templates/output/sub/extra.yaml", "note: {{ .spec.tier }}: broken: [\n");
	assert_int_equal(kfs_promise_load_dir(dir, &p, &err), 0);
	in.promise = p;
	assert_int_equal(kfs_render(&in, &r, &err), -EIO);
	assert_contains(err.msg, "output/sub/extra.yaml");
	assert_contains(r.log.data, "error:");
	kfs_render_result_free(&r);
	kfs_promise_free(p);

	/* Two pipelines writing one path: legal (one Work per pipeline, as in Kratix); both
	 * files are kept, and output/ shows the later pipeline's. */
	tu_write(dir, C3 "templates/output/sub/extra.yaml", "ok: 1\n");
	tu_write(dir, C3 "templates/output/app.yaml", "ok: 1\n");
	assert_int_equal(kfs_promise_load_dir(dir, &p, &err), 0);
	in.promise = p;
	if (kfs_render(&in, &r, &err) != 0)
		fail_msg("%s", err.msg);
	assert_string_equal(r.outputs[0].path, "app.yaml");
	assert_string_equal(r.outputs[0].pipeline, "first");
	assert_string_equal(r.outputs[1].path, "app.yaml");
	assert_string_equal(r.outputs[1].pipeline, "second");
	assert_string_equal(kfs_render_output(&r, "app.yaml")->data, "ok: 1\n");
	kfs_render_result_free(&r);
	kfs_promise_free(p);

	/* A status that sets the reserved `kratix` key. */
	char path[512];
	snprintf(path, sizeof(path), "%s/" C3 "templates/output/app.yaml", dir);
	unlink(path);
	tu_write(dir, C3 "templates/metadata/status.yaml", "kratix: {hijack: true}\n");
	assert_int_equal(kfs_promise_load_dir(dir, &p, &err), 0);
	in.promise = p;
	assert_int_equal(kfs_render(&in, &r, &err), -EIO);
	assert_contains(err.msg, "kratix");
	assert_contains(err.msg, "status.yaml");
	kfs_render_result_free(&r);
	kfs_promise_free(p);
	tu_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pipelines_and_containers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deterministic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_pipeline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_promise_workflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejected_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folder_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preparsed_input, setup, teardown),
		cmocka_unit_test(test_render_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
