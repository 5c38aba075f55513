/* Loading a promise's containers: image containers, container folders run from a Dockerfile,
 * the marketplace's internal/ folders, command/args/env (docs/exec.md). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kratixfs/promise.h"
#include "testutil.h"

#define HEAD                                                                                       \
	"apiVersion: platform.kratix.io/v1alpha1\n"                                                \
	"kind: Promise\n"                                                                          \
	"metadata: {name: redis}\n"                                                                \
	"spec:\n"                                                                                  \
	"  api:\n"                                                                                 \
	"    spec:\n"                                                                              \
	"      group: example.org\n"                                                               \
	"      names: {kind: redis, plural: redises}\n"                                            \
	"      versions: [{name: v1, served: true}]\n"                                             \
	"  workflows:\n"                                                                           \
	"    resource:\n"                                                                          \
	"      configure:\n"                                                                       \
	"        - apiVersion: platform.kratix.io/v1alpha1\n"                                      \
	"          kind: Pipeline\n"                                                               \
	"          metadata: {name: instance}\n"                                                   \
	"          spec:\n"                                                                        \
	"            containers:\n"

static struct kfs_promise *load_ok(const char *dir)
{
	struct kfs_promise *p;
	struct kfs_error err = {0};
	if (kfs_promise_load_dir(dir, &p, &err) != 0)
		fail_msg("%s", err.msg);
	return p;
}

static const struct kfs_container *first(const struct kfs_promise *p)
{
	return &p->workflows[KFS_WF_RESOURCE][KFS_WF_CONFIGURE].pipelines[0].containers[0];
}

static void test_image_container(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	tu_write(dir, "promise.yaml",
		 HEAD "              - name: run\n"
		      "                image: example.org/run:v1\n"
		      "                command: [sh, -c]\n"
		      "                args: ['echo $(GREETING)', x]\n"
		      "                env:\n"
		      "                  - {name: GREETING, value: hello}\n"
		      "                  - {name: EMPTY}\n"
		      "                  - name: SECRET\n"
		      "                    valueFrom: {secretKeyRef: {name: s, key: k}}\n");
	struct kfs_promise *p = load_ok(dir);
	const struct kfs_container *c = first(p);
	assert_null(c->dir);
	assert_null(c->exec);
	assert_string_equal(c->image, "example.org/run:v1");
	assert_string_equal(c->command[0], "sh");
	assert_string_equal(c->command[1], "-c");
	assert_null(c->command[2]);
	assert_string_equal(c->args[0], "echo $(GREETING)");
	assert_string_equal(c->args[1], "x");
	assert_string_equal(c->env[0], "GREETING=hello");
	assert_string_equal(c->env[1], "EMPTY=");
	assert_null(c->env[2]);
	assert_contains(p->warnings.data, "env SECRET: valueFrom is not supported");
	kfs_promise_free(p);
	tu_rmdir(dir);
}

static void test_folder_with_dockerfile(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	tu_write(dir, "promise.yaml", HEAD "              - {name: run, image: x/run:v1}\n");
	tu_write(dir, "workflows/resource/configure/instance/run/Dockerfile", "FROM alpine\n");
	tu_write(dir, "workflows/resource/configure/instance/run/scripts/pipeline.sh", "exit 0\n");
	struct kfs_promise *p = load_ok(dir);
	const struct kfs_container *c = first(p);
	assert_non_null(c->dir);
	assert_contains(c->dir, "workflows/resource/configure/instance/run");
	assert_contains(c->exec, "scripts/pipeline.sh");
	kfs_promise_free(p);
	tu_rmdir(dir);
}

static void test_internal_folder_by_image(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	tu_write(dir, "promise.yaml",
		 HEAD "              - name: redis-configure-pipeline\n"
		      "                image: ghcr.io/syntasso/kratix-marketplace/"
		      "redis-configure-pipeline:v0.1.0\n");
	tu_write(dir, "internal/configure-pipeline/Dockerfile", "FROM alpine\n");
	tu_write(dir, "internal/configure-pipeline/execute-pipeline", "#!/bin/sh\n");
	char *path = kfs_path_join(dir, "internal/configure-pipeline/execute-pipeline");
	assert_int_equal(chmod(path, 0755), 0);
	free(path);
	struct kfs_promise *p = load_ok(dir);
	const struct kfs_container *c = first(p);
	assert_contains(c->dir, "/internal/configure-pipeline");
	assert_contains(c->exec, "internal/configure-pipeline/execute-pipeline");
	kfs_promise_free(p);
	tu_rmdir(dir);
}

static void test_templates_and_script(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	tu_write(dir, "promise.yaml", HEAD "              - {name: run, image: x/run:v1}\n");
	tu_write(dir, "workflows/resource/configure/instance/run/templates/output/a.yaml", "a: 1\n");
	tu_write(dir, "workflows/resource/configure/instance/run/scripts/pipeline.sh", "exit 0\n");
	tu_write(dir, "workflows/resource/configure/instance/run/Dockerfile", "FROM alpine\n");
	struct kfs_promise *p;
	struct kfs_error err = {0};
	assert_int_equal(kfs_promise_load_dir(dir, &p, &err), -EINVAL);
	assert_null(p);
	assert_contains(err.msg, "/templates and ");
	assert_contains(err.msg, "scripts/pipeline.sh: keep one");
	tu_rmdir(dir);
}

static void test_script_without_dockerfile(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	tu_write(dir, "promise.yaml", HEAD "              - {name: run}\n");
	tu_write(dir, "workflows/resource/configure/instance/run/scripts/pipeline.sh", "exit 0\n");
	struct kfs_promise *p;
	struct kfs_error err = {0};
	assert_int_equal(kfs_promise_load_dir(dir, &p, &err), -EINVAL);
	assert_contains(err.msg, "but no Dockerfile");
	tu_rmdir(dir);
}

static void test_bad_specs(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	tu_write(dir, "promise.yaml", HEAD "              - {name: run, image: x, command: sh}\n");
	struct kfs_promise *p;
	struct kfs_error err = {0};
	assert_int_equal(kfs_promise_load_dir(dir, &p, &err), -EINVAL);
	assert_contains(err.msg, "container run: command must be a list of strings");
	tu_write(dir, "promise.yaml", HEAD "              - {name: run, image: x, env: [{value: 1}]}\n");
	kfs_error_clear(&err);
	assert_int_equal(kfs_promise_load_dir(dir, &p, &err), -EINVAL);
	assert_contains(err.msg, "env[0] needs a name");
	kfs_error_clear(&err);
	tu_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_image_container),
		cmocka_unit_test(test_folder_with_dockerfile),
		cmocka_unit_test(test_internal_folder_by_image),
		cmocka_unit_test(test_templates_and_script),
		cmocka_unit_test(test_script_without_dockerfile),
		cmocka_unit_test(test_bad_specs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
