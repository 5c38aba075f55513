/* values.yaml: lookups through a map, defaults, templated strings, constants, evaluation order,
 * placeholders, and the compile and evaluation errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/doc.h"
#include "kratixfs/values.h"

static const char seed_values[] =
    "values:\n"
    "  storage:  { from: .spec.size, map: { small: 1Gi, medium: 10Gi, large: 100Gi } }\n"
    "  replicas: { from: .spec.size, map: { small: 1, medium: 2, large: 3 }, default: 1 }\n"
    "  instance: \"{{ .spec.teamId | default \\\"acid\\\" }}-{{ .metadata.name }}\"\n"
    "  port: 5432\n"
    "  labels: { tier: db }\n"
    "  summary: \"{{ .values.instance }} x{{ .values.replicas }} on {{ .workflow.action }}\"\n"
    "placeholders:\n"
    "  placeholder-name: .metadata.name\n"
    "  placeholder-namespace: .metadata.namespace\n"
    "  placeholder-db: .spec.database\n";

static struct kfs_node *parse(const char *yaml)
{
	struct kfs_node *n = NULL;
	struct kfs_error err = {0};
	if (kfs_doc_parse(yaml, strlen(yaml), "test.yaml", &n, &err))
		fail_msg("parse: %s", err.msg);
	return n;
}

static struct kfs_values *compile(const char *yaml)
{
	struct kfs_node *doc = parse(yaml);
	struct kfs_values *v = NULL;
	struct kfs_error err = {0};
	if (kfs_values_compile(doc, "values.yaml", &v, &err))
		fail_msg("compile: %s", err.msg);
	kfs_node_free(doc);
	return v;
}

static void expect_compile_error(const char *yaml, const char *want)
{
	struct kfs_node *doc = parse(yaml);
	struct kfs_values *v = (struct kfs_values *)1;
	struct kfs_error err = {0};
	assert_int_equal(kfs_values_compile(doc, "values.yaml", &v, &err), -EINVAL);
	assert_null(v);
	if (!strstr(err.msg, want))
		fail_msg("error '%s' does not contain '%s'", err.msg, want);
	kfs_node_free(doc);
}

/* Evaluates values against a request; returns the values map or NULL with err filled. */
static struct kfs_node *eval(const struct kfs_values *v, const char *request, struct kfs_error *err)
{
	struct kfs_node *req = parse(request);
	struct kfs_node *wf = parse("type: resource\naction: configure\n");
	struct kfs_tcontext ctx = {.root = req, .workflow = wf};
	struct kfs_node *out = (struct kfs_node *)1;
	int rc = kfs_values_eval(v, &ctx, &out, err);
	kfs_node_free(req);
	kfs_node_free(wf);
	if (rc) {
		assert_int_equal(rc, -EIO);
		assert_null(out);
		return NULL;
	}
	return out;
}

static void expect_eval_error(const char *values, const char *request, const char *want)
{
	struct kfs_values *v = compile(values);
	struct kfs_error err = {0};
	assert_null(eval(v, request, &err));
	if (!strstr(err.msg, want))
		fail_msg("error '%s' does not contain '%s'", err.msg, want);
	kfs_values_free(v);
}

static void test_seed_values(void **state)
{
	(void)state;
	struct kfs_values *v = compile(seed_values);
	struct kfs_error err = {0};
	struct kfs_node *out =
	    eval(v, "metadata: {name: my-db}\nspec: {size: medium, teamId: team}\n", &err);
	assert_non_null(out);
	struct kfs_node *want = parse("storage: 10Gi\nreplicas: 2\ninstance: team-my-db\n"
				      "port: 5432\nlabels: {tier: db}\n"
				      "summary: team-my-db x2 on configure\n");
	assert_true(kfs_node_equal(out, want));
	/* The map's node is copied with its type: replicas stays an integer. */
	assert_int_equal(kfs_map_get(out, "replicas")->type, KFS_INT);
	assert_int_equal(kfs_map_get(out, "port")->type, KFS_INT);
	assert_int_equal(kfs_map_get(out, "instance")->type, KFS_STR);
	kfs_node_free(want);
	kfs_node_free(out);

	/* Defaults: replicas' default when the size is unknown, the template's default. */
	struct kfs_values *lenient =
	    compile("values:\n  replicas: { from: .spec.size, map: { small: 1 }, default: 7 }\n"
		    "  team: \"{{ .spec.teamId | default \\\"acid\\\" }}\"\n"
		    "  size: { from: .spec.size, default: small }\n"
		    "  tags: { from: .spec.tags }\n");
	out = eval(lenient, "spec: {size: huge, tags: [a, b]}\n", &err);
	assert_non_null(out);
	want = parse("replicas: 7\nteam: acid\nsize: huge\ntags: [a, b]\n");
	assert_true(kfs_node_equal(out, want));
	kfs_node_free(want);
	kfs_node_free(out);
	out = eval(lenient, "spec: {tags: []}\n", &err);
	assert_non_null(out);
	assert_string_equal(kfs_node_text_at(out, "replicas"), "7");
	assert_string_equal(kfs_node_text_at(out, "size"), "small");
	kfs_node_free(out);
	kfs_values_free(lenient);
	kfs_values_free(v);
}

static void test_order(void **state)
{
	(void)state;
	/* A value sees only the values before it. */
	struct kfs_values *v = compile("values:\n  a: \"x\"\n  b: \"{{ .values.a }}y\"\n"
				       "  c: { from: .values.b, map: { xy: found } }\n");
	struct kfs_error err = {0};
	struct kfs_node *out = eval(v, "spec: {}\n", &err);
	assert_non_null(out);
	assert_string_equal(kfs_node_text_at(out, "c"), "found");
	kfs_node_free(out);
	kfs_values_free(v);
	expect_eval_error("values:\n  b: \"{{ .values.a }}\"\n  a: x\n", "spec: {}\n",
			  "values.yaml: values.b: .values.a is not defined (no default)");
}

static void test_bool_and_int_keys(void **state)
{
	(void)state;
	struct kfs_values *v =
	    compile("values:\n"
		    "  mode: { from: .spec.ha, map: { \"true\": cluster, "
		    "\"false\": single } }\n"
		    "  size: { from: .spec.n, map: { \"1\": one, \"2\": two } }\n");
	struct kfs_error err = {0};
	struct kfs_node *out = eval(v, "spec: {ha: True, n: 2}\n", &err);
	assert_non_null(out);
	assert_string_equal(kfs_node_text_at(out, "mode"), "cluster");
	assert_string_equal(kfs_node_text_at(out, "size"), "two");
	kfs_node_free(out);
	kfs_values_free(v);
}

static void test_eval_errors(void **state)
{
	(void)state;
	expect_eval_error(seed_values, "metadata: {name: my-db}\nspec: {size: huge}\n",
			  "values.yaml: values.storage: \"huge\" (from .spec.size) is not one of "
			  "small, medium, large");
	expect_eval_error(seed_values, "metadata: {name: my-db}\nspec: {}\n",
			  "values.yaml: values.storage: .spec.size is not defined (no default)");
	expect_eval_error(seed_values, "metadata: {name: my-db}\nspec: {size: null}\n",
			  "values.yaml: values.storage: .spec.size is not defined (no default)");
	expect_eval_error(seed_values, "metadata: {name: my-db}\nspec: {size: {a: 1}}\n",
			  "values.yaml: values.storage: .spec.size is a mapping, not one of small, "
			  "medium, large");
	expect_eval_error("values:\n  instance: \"{{ .spec.teamId }}-{{ .metadata.name }}\"\n",
			  "metadata: {name: my-db}\nspec: {teamid: x}\n",
			  "values.yaml: values.instance: .spec.teamId is not defined (no default); "
			  "did you mean .spec.teamid?");
	expect_eval_error("values:\n  name: \"{{ .metadata.name }}\"\n",
			  "metadata: {name: \"a\\nb\"}\n",
			  "values.yaml: values.name: .metadata.name holds a newline; use | quote");
}

static void test_compile_errors(void **state)
{
	(void)state;
	expect_compile_error("values: {}\nplaceholder: {}\n",
			     "values.yaml: unknown key \"placeholder\" (expected values, "
			     "placeholders)");
	expect_compile_error("- a\n", "values.yaml: must be a mapping");
	expect_compile_error("values: [a]\n", "values.yaml: values must be one mapping");
	expect_compile_error("values:\n  replicas: { from: .spec.size, map: [1, 2] }\n",
			     "values.yaml: values.replicas: map must be a mapping");
	expect_compile_error("values:\n  replicas: { from: .spec.size, maps: {a: 1} }\n",
			     "values.yaml: values.replicas: unknown key \"maps\" (expected from, "
			     "map, default)");
	expect_compile_error("values:\n  replicas: { from: spec.size, map: {a: 1} }\n",
			     "values.yaml: values.replicas: 'spec.size' is not a path like "
			     ".spec.size");
	expect_compile_error("values:\n  replicas: { from: 3, map: {a: 1} }\n",
			     "values.yaml: values.replicas: from must be a path like .spec.size");
	expect_compile_error("values:\n  replicas: { from: \".spec..size\", map: {a: 1} }\n",
			     "values.yaml: values.replicas: bad path .spec.");
	expect_compile_error("values:\n  instance: \"{{ .metadata.name | shout }}\"\n",
			     "values.yaml: values.instance: unknown function shout");
	expect_compile_error("placeholders: [a]\n",
			     "values.yaml: placeholders must be one mapping");
	expect_compile_error("placeholders:\n  placeholder-name: metadata.name\n",
			     "values.yaml: placeholders.placeholder-name: 'metadata.name' is not a "
			     "path like .spec.size");
	expect_compile_error("placeholders:\n  placeholder-name: 3\n",
			     "values.yaml: placeholders.placeholder-name: must be a path like "
			     ".metadata.name");
}

static void test_placeholders(void **state)
{
	(void)state;
	struct kfs_values *v = compile(seed_values);
	const struct kfs_placeholders *ph = kfs_values_placeholders(v);
	assert_int_equal(ph->n, 3);
	/* Longest first, ties by text: the order a template compiler must try them in. */
	assert_string_equal(ph->items[0].token, "placeholder-namespace");
	assert_string_equal(ph->items[0].path, ".metadata.namespace");
	assert_string_equal(ph->items[1].token, "placeholder-name");
	assert_string_equal(ph->items[2].token, "placeholder-db");

	struct kfs_node *req = parse("metadata: {name: my-db, namespace: team-a}\n"
				     "spec: {database: app}\n");
	struct kfs_tcontext ctx = {.root = req};
	struct kfs_template *t = NULL;
	struct kfs_error err = {0};
	struct kfs_buf out = {0};
	const char *tpl = "placeholder-name.placeholder-namespace.svc/placeholder-db";
	assert_int_equal(kfs_template_compile(tpl, strlen(tpl), "t", ph, &t, &err), 0);
	assert_int_equal(kfs_template_render(t, &ctx, &out, &err), 0);
	assert_string_equal(out.data, "my-db.team-a.svc/app");
	kfs_buf_free(&out);
	kfs_template_free(t);
	kfs_node_free(req);
	kfs_values_free(v);

	/* No placeholders, or no values.yaml at all: an empty list, never NULL. */
	v = compile("values: {a: 1}\n");
	assert_int_equal(kfs_values_placeholders(v)->n, 0);
	kfs_values_free(v);
	assert_int_equal(kfs_values_placeholders(NULL)->n, 0);
}

static void test_empty(void **state)
{
	(void)state;
	struct kfs_values *v = compile("values:\nplaceholders:\n");
	struct kfs_error err = {0};
	struct kfs_node *out = eval(v, "spec: {}\n", &err);
	assert_non_null(out);
	assert_int_equal(out->type, KFS_MAP);
	assert_int_equal(out->len, 0);
	kfs_node_free(out);
	kfs_values_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seed_values),
	    cmocka_unit_test(test_order),
	    cmocka_unit_test(test_bool_and_int_keys),
	    cmocka_unit_test(test_eval_errors),
	    cmocka_unit_test(test_compile_errors),
	    cmocka_unit_test(test_placeholders),
	    cmocka_unit_test(test_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
