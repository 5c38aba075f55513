/* The runner (src/exec/run*.c) called as kfs_render calls it: a busybox image built offline into
 * an OCI layout (tests/exec/ociimage.py), containers run under bwrap, their /kratix read back.
 * Skipped (77) without bwrap or busybox. */
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
#include <time.h>
#include <unistd.h>

#include "kratixfs/doc.h"
#include "kratixfs/exec.h"
#include "kratixfs/promise.h"
#include "testutil.h"

static char *work;
static struct kfs_exec *ex;
static struct kfs_promise promise = {.name = "probe", .plural = "probes"};
static struct kfs_pipeline pipeline = {.name = "main"};

/* busybox in a root with its applets as links, and a script, as image kratixfs.test/t:v1. */
static int setup(void **state)
{
	(void)state;
	work = tu_mkdtemp();
	char *out = tu_sh("set -e; cd %s; mkdir -p rootfs/bin rootfs/etc rootfs/tmp/transfer; "
			  "cp /bin/busybox rootfs/bin/busybox; "
			  "for a in $(rootfs/bin/busybox --list); do "
			  "[ \"$a\" = busybox ] || ln -s busybox rootfs/bin/$a; done; "
			  "echo 'root:x:0:0:root:/root:/bin/sh' >rootfs/etc/passwd; "
			  "echo 'app:x:1000:1000::/home/app:/bin/sh' >>rootfs/etc/passwd; "
			  "echo template >rootfs/tmp/transfer/t.txt; "
			  "/usr/bin/python3 %s/tests/exec/ociimage.py layout kratixfs.test/t:v1 rootfs "
			  "--env PATH=/bin --env FROM_IMAGE=yes --workdir /work --cmd '[\"sh\", \"-c\", "
			  "\"echo from-cmd >/kratix/output/cmd.txt\"]'",
			  work, KFS_SOURCE_ROOT);
	free(out);
	struct kfs_buf cache = {0}, layout = {0};
	kfs_buf_printf(&cache, "%s/cache", work);
	kfs_buf_printf(&layout, "%s/layout", work);
	const char *archives[] = {layout.data};
	struct kfs_exec_opts o = {.images = {.cache_dir = cache.data, .archives = archives,
					     .narchives = 1},
				  .timeout = 2};
	ex = kfs_exec_new(&o);
	kfs_buf_free(&cache);
	kfs_buf_free(&layout);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	kfs_exec_free(ex);
	tu_rmdir(work);
	return 0;
}

/* Runs a shell script in the image (command: sh -c SCRIPT). */
static int run_script(const char *script, char **env, struct kfs_exec_reply *reply,
		      struct kfs_error *err)
{
	char *command[] = {"sh", "-c", (char *)script, NULL};
	struct kfs_container c = {.name = "probe", .image = "kratixfs.test/t:v1",
				  .command = command, .env = env};
	struct kfs_node *object;
	const char *text = "apiVersion: test.kratixfs.io/v1\nkind: Probe\n"
			   "metadata: {name: one, namespace: team}\nspec: {size: large}\n";
	assert_int_equal(kfs_doc_parse(text, strlen(text), "object.yaml", &object, NULL), 0);
	struct kfs_output before = {.path = "earlier/a.yaml", .data = "a: 1\n", .len = 5};
	struct kfs_exec_call call = {.promise = &promise, .pipeline = &pipeline, .container = &c,
				     .type = KFS_WF_RESOURCE, .action = KFS_WF_CONFIGURE,
				     .object = object, .outputs = &before, .noutputs = 1,
				     .status = "message: before\n", .status_len = 16};
	int rc = ex->run(ex->ctx, &call, reply, err);
	kfs_node_free(object);
	return rc;
}

static const struct kfs_output *find(const struct kfs_exec_reply *r, const char *path)
{
	for (size_t i = 0; i < r->noutputs; i++)
		if (strcmp(r->outputs[i].path, path) == 0)
			return &r->outputs[i];
	return NULL;
}

static void test_reads_input_writes_output(void **state)
{
	(void)state;
	struct kfs_exec_reply reply;
	struct kfs_error err = {0};
	int rc = run_script("set -e; mkdir /kratix/output/sub; "
			    "sed -n 's/^  name: //p' /kratix/input/object.yaml >/kratix/output/sub/n; "
			    "cat /tmp/transfer/t.txt >/kratix/output/t; pwd >/kratix/output/pwd; "
			    "cat /kratix/metadata/status.yaml >/kratix/output/st; "
			    "echo 'message: after' >/kratix/metadata/status.yaml; echo said-this",
			    NULL, &reply, &err);
	if (rc != 0)
		fail_msg("%s\n%s", err.msg, reply.log.data ? reply.log.data : "");
	assert_string_equal(find(&reply, "sub/n")->data, "one\n");
	assert_string_equal(find(&reply, "t")->data, "template\n");
	assert_string_equal(find(&reply, "pwd")->data, "/work\n");
	assert_string_equal(find(&reply, "st")->data, "message: before\n");
	assert_string_equal(find(&reply, "earlier/a.yaml")->data, "a: 1\n");
	assert_string_equal(reply.status, "message: after\n");
	assert_contains(reply.log.data, "said-this");
	kfs_exec_reply_free(&reply);
}

static void test_image_cmd(void **state)
{
	(void)state;
	struct kfs_container c = {.name = "plain", .image = "kratixfs.test/t:v1"};
	struct kfs_node *object = kfs_node_new(KFS_MAP);
	struct kfs_exec_call call = {.promise = &promise, .pipeline = &pipeline, .container = &c,
				     .object = object};
	struct kfs_exec_reply reply;
	struct kfs_error err = {0};
	if (ex->run(ex->ctx, &call, &reply, &err) != 0)
		fail_msg("%s", err.msg);
	assert_string_equal(find(&reply, "cmd.txt")->data, "from-cmd\n");
	kfs_exec_reply_free(&reply);
	kfs_node_free(object);
}

static void test_env(void **state)
{
	(void)state;
	char *env[] = {"GREETING=hi", "WHO=$(GREETING)-$(KRATIX_OBJECT_NAME)-$(NOPE)", NULL};
	struct kfs_exec_reply reply;
	struct kfs_error err = {0};
	if (run_script("env | sort >/kratix/output/env", env, &reply, &err) != 0)
		fail_msg("%s", err.msg);
	const char *e = find(&reply, "env")->data;
	assert_contains(e, "FROM_IMAGE=yes\n");
	assert_contains(e, "KRATIX_WORKFLOW_TYPE=resource\n");
	assert_contains(e, "KRATIX_WORKFLOW_ACTION=configure\n");
	assert_contains(e, "KRATIX_PROMISE_NAME=probe\n");
	assert_contains(e, "KRATIX_PIPELINE_NAME=main\n");
	assert_contains(e, "KRATIX_OBJECT_KIND=Probe\n");
	assert_contains(e, "KRATIX_OBJECT_GROUP=test.kratixfs.io\n");
	assert_contains(e, "KRATIX_OBJECT_VERSION=v1\n");
	assert_contains(e, "KRATIX_OBJECT_NAME=one\n");
	assert_contains(e, "KRATIX_OBJECT_NAMESPACE=team\n");
	assert_contains(e, "KRATIX_CRD_PLURAL=probes\n");
	assert_contains(e, "KRATIX_CLUSTER_SCOPED=false\n");
	assert_contains(e, "WHO=hi-one-$(NOPE)\n");
	assert_null(strstr(e, "KRATIX_DRY_RUN"));
	/* Nothing of the host's environment. */
	assert_null(strstr(e, "CMOCKA_MESSAGE_OUTPUT"));
	kfs_exec_reply_free(&reply);
}

static void test_exit_status(void **state)
{
	(void)state;
	struct kfs_exec_reply reply;
	struct kfs_error err = {0};
	int rc = run_script("echo partial >/kratix/output/p; echo line1 >&2; echo it broke >&2; "
			    "exit 3",
			    NULL, &reply, &err);
	assert_int_equal(rc, -EIO);
	assert_contains(err.msg, "container probe: exited with status 3");
	assert_contains(err.msg, "it broke");
	assert_contains(reply.log.data, "line1\nit broke\n");
	kfs_exec_reply_free(&reply);
	kfs_error_clear(&err);
}

static void test_time_limit(void **state)
{
	(void)state;
	struct kfs_exec_reply reply;
	struct kfs_error err = {0};
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	int rc = run_script("sleep 100 & sleep 100", NULL, &reply, &err);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_int_equal(rc, -EIO);
	assert_contains(err.msg, "killed after 2 s");
	assert_true(b.tv_sec - a.tv_sec < 6);
	kfs_exec_reply_free(&reply);
	kfs_error_clear(&err);
}

static void test_sandbox(void **state)
{
	(void)state;
	struct kfs_exec_reply reply;
	struct kfs_error err = {0};
	int rc = run_script("o=/kratix/output; "
			    "(echo x >/etc/x) 2>/dev/null && echo yes >$o/root-writable; "
			    "(echo x >/kratix/input/x) 2>/dev/null && echo yes >$o/input-writable; "
			    "echo $$ >$o/pid; cat /proc/net/dev | tail -n +3 | wc -l >$o/ifaces; "
			    "id -u >$o/uid; grep CapEff /proc/self/status >$o/caps; exit 0",
			    NULL, &reply, &err);
	if (rc != 0)
		fail_msg("%s", err.msg);
	assert_null(find(&reply, "root-writable"));
	assert_null(find(&reply, "input-writable"));
	assert_string_equal(find(&reply, "ifaces")->data, "1\n"); /* lo alone */
	assert_string_equal(find(&reply, "uid")->data, "0\n");
	assert_contains(find(&reply, "caps")->data, "0000000000000000");
	/* A new PID namespace: bwrap's init is 1, the script is one of the first. */
	assert_true(atoi(find(&reply, "pid")->data) < 10);
	kfs_exec_reply_free(&reply);
}

static void test_symlink_refused(void **state)
{
	(void)state;
	struct kfs_exec_reply reply;
	struct kfs_error err = {0};
	int rc = run_script("ln -s /etc/passwd /kratix/output/passwd.yaml", NULL, &reply, &err);
	assert_int_equal(rc, -EIO);
	assert_contains(err.msg, "output/passwd.yaml: is a symbolic link");
	kfs_exec_reply_free(&reply);
	kfs_error_clear(&err);
}

static void test_missing_image(void **state)
{
	(void)state;
	struct kfs_container c = {.name = "gone", .image = "kratixfs.test/nowhere:v9"};
	struct kfs_node *object = kfs_node_new(KFS_MAP);
	struct kfs_exec_call call = {.promise = &promise, .pipeline = &pipeline, .container = &c,
				     .object = object};
	struct kfs_exec_reply reply;
	struct kfs_error err = {0};
	assert_int_equal(ex->run(ex->ctx, &call, &reply, &err), -EINVAL);
	assert_contains(err.msg, "kratixfs.test/nowhere:v9");
	assert_contains(err.msg, "podman");
	kfs_exec_reply_free(&reply);
	kfs_node_free(object);
	kfs_error_clear(&err);
}

int main(void)
{
	if (system("command -v bwrap >/dev/null && test -x /bin/busybox") != 0) {
		printf("SKIP: bwrap or /bin/busybox is missing (make deps)\n");
		return 77;
	}
	/* Valgrind does not know openat2, which unpacking an image needs (src/exec/oci_layer.c):
	 * the runner's memory is checked by the ASan build instead. */
	const char *preload = getenv("LD_PRELOAD");
	if (preload && strstr(preload, "vgpreload")) {
		printf("SKIP: under valgrind (no openat2); make test-asan runs it\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_input_writes_output),
		cmocka_unit_test(test_image_cmd),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_exit_status),
		cmocka_unit_test(test_time_limit),
		cmocka_unit_test(test_sandbox),
		cmocka_unit_test(test_symlink_refused),
		cmocka_unit_test(test_missing_image),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
