/* The root slot as a pipeline's shared /kratix: other processes change output/ and metadata/
 * between runs (src/store/slot.c, slot_check.c), through the store's API. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/store.h"
#include "testutil.h"

struct fixture {
	char *dir;
	char promises[512], state[512];
	struct kfs_store *s;
	struct kfs_buf log;
};

static void collect_log(void *ctx, enum kfs_log_level level, const char *line)
{
	(void)level;
	kfs_buf_printf(&((struct fixture *)ctx)->log, "%s\n", line); /* no Git: one thread */
}

static void open_store(struct fixture *f)
{
	struct kfs_store_options o = {.promises_dir = f->promises, .state_dir = f->state,
				      .max_input = 4096, .log = collect_log, .log_ctx = f};
	struct kfs_error err = {0};
	if (kfs_store_open(&o, &f->s, &err) != 0)
		fail_msg("%s", err.msg);
}

static const char medium[] = "apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\n"
			     "metadata: {name: db1, namespace: team}\n"
			     "spec: {database: orders, size: medium}\n";
static const char cm[] = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n";

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->dir = tu_mkdtemp();
	snprintf(f->promises, sizeof(f->promises), "%s/promises", f->dir);
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	free(tu_sh("mkdir -p %s && cp -r %s/templates/postgresql %s/", f->promises,
		   KFS_SOURCE_ROOT, f->promises));
	open_store(f);
	struct kfs_error err = {0};
	assert_int_equal(kfs_store_submit_slot(f->s, medium, strlen(medium), &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	kfs_store_close(f->s);
	tu_rmdir(f->dir);
	kfs_buf_free(&f->log);
	free(f);
	return 0;
}

/* The text of path in the root view, or NULL. */
static char *root_file(struct kfs_store *s, const char *path)
{
	struct kfs_view *v = kfs_store_view(s, "");
	const struct kfs_view_file *f = kfs_view_file(v, path);
	char *t = f ? strndup(f->data, f->len) : NULL;
	kfs_view_put(v);
	return t;
}

static bool root_dir(struct kfs_store *s, const char *path)
{
	struct kfs_view *v = kfs_store_view(s, "");
	bool d = kfs_view_is_dir(v, path);
	kfs_view_put(v);
	return d;
}

static int put(struct fixture *f, const char *path, const char *text, struct kfs_error *err)
{
	memset(err, 0, sizeof(*err));
	return kfs_store_slot_put(f->s, path, text, strlen(text), err);
}

static void test_files_added_replaced_removed(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err;
	assert_int_equal(put(f, "output/extra.yaml", cm, &err), 0);
	char *t = root_file(f->s, "output/extra.yaml");
	assert_string_equal(t, cm);
	free(t);
	/* The rendered files are there too, and the slot's status lists the new output. */
	t = root_file(f->s, "output/statefulset.yaml");
	assert_non_null(t);
	free(t);
	t = root_file(f->s, "status.yaml");
	assert_non_null(strstr(t, "path: extra.yaml"));
	free(t);
	/* Folders: mkdir, a file in it, rmdir only once empty. */
	memset(&err, 0, sizeof(err));
	assert_int_equal(kfs_store_slot_mkdir(f->s, "output/sub", &err), 0);
	assert_true(root_dir(f->s, "output/sub"));
	assert_int_equal(put(f, "output/nope/a.yaml", cm, &err), -ENOENT);
	assert_int_equal(put(f, "output/sub/a.yaml", cm, &err), 0);
	assert_int_equal(kfs_store_slot_rmdir(f->s, "output/sub", &err), -ENOTEMPTY);
	assert_int_equal(kfs_store_slot_rename(f->s, "output/sub/a.yaml", "output/b.yaml", false,
					       &err),
			 0);
	assert_int_equal(kfs_store_slot_rmdir(f->s, "output/sub", &err), 0);
	assert_false(root_dir(f->s, "output/sub"));
	assert_int_equal(kfs_store_slot_remove(f->s, "output/statefulset.yaml", &err), 0);
	assert_null(root_file(f->s, "output/statefulset.yaml"));
	assert_int_equal(kfs_store_slot_remove(f->s, "output/statefulset.yaml", &err), -ENOENT);
}

static void test_paths_stay_inside(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err;
	assert_int_equal(put(f, "output/../input/object.yaml", cm, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "inside output/ or metadata/"));
	assert_int_equal(put(f, "input/object.yaml", cm, &err), -EINVAL);
	assert_int_equal(put(f, "status.yaml", cm, &err), -EINVAL);
	assert_int_equal(put(f, "output//a.yaml", cm, &err), -EINVAL);
	assert_int_equal(put(f, "output/./a.yaml", cm, &err), -EINVAL);
	assert_int_equal(put(f, "output/a.yaml/", cm, &err), -EINVAL);
	assert_int_equal(kfs_store_slot_rename(f->s, "output/secret.yaml", "output/../x", false,
					       &err),
			 -EINVAL);
	char *t = root_file(f->s, "output/secret.yaml");
	assert_non_null(t);
	free(t);
}

/* A refused file changes nothing: the previous bytes stay, the log says why. */
static void test_checked_as_rendered(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err;
	char *before = root_file(f->s, "output/service.yaml");
	assert_int_equal(put(f, "output/service.yaml", "kind: [\n", &err), -EIO);
	assert_non_null(strstr(err.msg, "output/service.yaml"));
	char *after = root_file(f->s, "output/service.yaml");
	assert_string_equal(before, after);
	free(before);
	free(after);
	assert_non_null(strstr(f->log.data, "slot-refused op=put path=output/service.yaml"));
	/* Not YAML by name: any bytes. */
	assert_int_equal(put(f, "output/notes.txt", "kind: [\n", &err), 0);
	/* A rename is checked at the new name. */
	assert_int_equal(kfs_store_slot_rename(f->s, "output/notes.txt", "output/notes.yaml", false,
					       &err),
			 -EIO);
	assert_null(root_file(f->s, "output/notes.yaml"));
	memset(&err, 0, sizeof(err));
	assert_int_equal(kfs_store_slot_check(f->s, "output/x.yaml", "a: [", 4, &err), -EIO);
	assert_null(root_file(f->s, "output/x.yaml"));
	/* Larger than max_input. */
	char *big = calloc(1, 5000);
	memset(big, 'a', 4999);
	assert_int_equal(put(f, "output/big.txt", big, &err), -EFBIG);
	free(big);
}

static void test_metadata_rules(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err;
	const char *status = "message: from a script\nconditions:\n"
			     "  - {type: Custom, status: \"True\", reason: R, message: m}\n";
	assert_int_equal(put(f, "metadata/status.yaml", status, &err), 0);
	char *t = root_file(f->s, "metadata/status.yaml");
	assert_string_equal(t, status);
	free(t);
	/* The slot's status merges it as Kratix merges a pipeline's. */
	t = root_file(f->s, "status.yaml");
	assert_non_null(strstr(t, "message: from a script"));
	assert_non_null(strstr(t, "type: Custom"));
	assert_non_null(strstr(t, "type: Reconciled"));
	free(t);
	assert_int_equal(put(f, "metadata/status.yaml", "kratix: {}\n", &err), -EIO);
	assert_non_null(strstr(err.msg, "kratix"));
	assert_int_equal(put(f, "metadata/status.yaml", "- a\n", &err), -EIO);
	assert_int_equal(put(f, "metadata/status.yaml", "conditions: [{status: x}]\n", &err), -EIO);
	/* The daemon's condition types are dropped, secrets masked, as a render keeps them. */
	assert_int_equal(put(f, "metadata/status.yaml",
			     "password: hunter2\nconditions: [{type: Committed, status: \"True\"}]\n",
			     &err),
			 0);
	t = root_file(f->s, "metadata/status.yaml");
	assert_null(strstr(t, "hunter2"));
	assert_null(strstr(t, "Committed"));
	free(t);
	/* Destination selectors: Kratix's rules. */
	assert_int_equal(put(f, "metadata/destination-selectors.yaml",
			     "- matchLabels: {env: dev}\n- matchLabels: {env: prod}\n  directory: "
			     "prod\n",
			     &err),
			 0);
	assert_int_equal(put(f, "metadata/destination-selectors.yaml", "matchLabels: {a: b}\n",
			     &err),
			 -EIO);
	assert_int_equal(put(f, "metadata/destination-selectors.yaml", "- directory: x\n", &err),
			 -EIO);
	assert_non_null(strstr(err.msg, "has no selectors"));
	assert_int_equal(put(f, "metadata/destination-selectors.yaml",
			     "- {matchLabels: {a: b}, directory: x/y}\n", &err),
			 -EIO);
	assert_int_equal(put(f, "metadata/destination-selectors.yaml",
			     "- {matchLabels: {a: b}}\n- {matchLabels: {c: d}, directory: .}\n",
			     &err),
			 -EIO);
	assert_non_null(strstr(err.msg, "duplicate"));
	/* Workflow control. */
	assert_int_equal(put(f, "metadata/workflow-control.yaml",
			     "suspend: true\nretryAfter: 1h30m\nmessage: wait\n", &err),
			 0);
	assert_int_equal(put(f, "metadata/workflow-control.yaml", "retryAfter: soon\n", &err),
			 -EIO);
	assert_int_equal(put(f, "metadata/workflow-control.yaml", "suspend: maybe\n", &err), -EIO);
	/* Other names in metadata/ are the pipeline's own business (a sed -i temporary file). */
	assert_int_equal(put(f, "metadata/sedX1", "kratix: [", &err), 0);
}

/* The next accepted write of input/object.yaml starts a new run; a refused one does not. */
static void test_new_run_resets(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err;
	assert_int_equal(put(f, "output/extra.yaml", cm, &err), 0);
	const char *bad = "apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\n"
			  "metadata: {name: db1, namespace: team}\nspec: {size: huge}\n";
	assert_int_equal(kfs_store_submit_slot(f->s, bad, strlen(bad), &err), -EINVAL);
	char *t = root_file(f->s, "output/extra.yaml");
	assert_non_null(t);
	free(t);
	/* The same bytes as the last run: a new run all the same. */
	memset(&err, 0, sizeof(err));
	assert_int_equal(kfs_store_submit_slot(f->s, medium, strlen(medium), &err), 0);
	assert_null(root_file(f->s, "output/extra.yaml"));
	t = root_file(f->s, "output/statefulset.yaml");
	assert_non_null(t);
	free(t);
}

/* A promise reload that renders the slot again is a new run too. */
static void test_reload_is_a_new_run(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err;
	assert_int_equal(put(f, "output/extra.yaml", cm, &err), 0);
	free(tu_sh("echo '# changed' >>%s/postgresql/promise.yaml", f->promises));
	memset(&err, 0, sizeof(err));
	assert_int_equal(kfs_store_reload(f->s, &err), 0);
	assert_null(root_file(f->s, "output/extra.yaml"));
	char *t = root_file(f->s, "output/statefulset.yaml");
	assert_non_null(t);
	free(t);
}

/* The slot's files are kept in the state folder: a restart shows them as they were. */
static void test_restart_keeps_files(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err;
	assert_int_equal(put(f, "output/extra.yaml", cm, &err), 0);
	assert_int_equal(kfs_store_slot_mkdir(f->s, "output/empty", &err), 0);
	assert_int_equal(kfs_store_slot_remove(f->s, "output/secret.yaml", &err), 0);
	assert_int_equal(put(f, "metadata/status.yaml", "message: kept\n", &err), 0);
	kfs_store_close(f->s);
	open_store(f);
	char *t = root_file(f->s, "output/extra.yaml");
	assert_string_equal(t, cm);
	free(t);
	assert_true(root_dir(f->s, "output/empty"));
	assert_null(root_file(f->s, "output/secret.yaml"));
	t = root_file(f->s, "status.yaml");
	assert_non_null(strstr(t, "message: kept"));
	free(t);
}

/* Directories of any length are checked whole: a long one with a sub-folder is refused, two
 * long ones that differ only past 255 characters are no duplicates. */
static void test_long_selector_directories(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err;
	char dir[301], doc[1024];
	memset(dir, 'd', 300);
	dir[300] = '\0';
	snprintf(doc, sizeof(doc), "- {matchLabels: {a: b}, directory: %s/b}\n", dir);
	assert_int_equal(put(f, "metadata/destination-selectors.yaml", doc, &err), -EIO);
	assert_non_null(strstr(err.msg, "sub-directories are not allowed"));
	snprintf(doc, sizeof(doc),
		 "- {matchLabels: {a: b}, directory: %sx}\n- {matchLabels: {c: d}, directory: %sy}\n",
		 dir, dir);
	assert_int_equal(put(f, "metadata/destination-selectors.yaml", doc, &err), 0);
	snprintf(doc, sizeof(doc),
		 "- {matchLabels: {a: b}, directory: %s}\n- {matchLabels: {c: d}, directory: %s/}\n",
		 dir, dir);
	assert_int_equal(put(f, "metadata/destination-selectors.yaml", doc, &err), -EIO);
	assert_non_null(strstr(err.msg, "duplicate"));
}

/* A writer that opened a file before a new run started cannot store its bytes over the new
 * run's files; one that opened it in the current run can. */
static void test_stale_writer_refused(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err = {0};
	uint64_t run = kfs_store_slot_run(f->s);
	assert_int_equal(kfs_store_slot_put_in(f->s, run, "output/extra.yaml", cm, strlen(cm),
					       &err),
			 0);
	assert_int_equal(kfs_store_submit_slot(f->s, medium, strlen(medium), &err), 0);
	assert_int_not_equal(kfs_store_slot_run(f->s), run);
	char *before = root_file(f->s, "output/secret.yaml");
	assert_non_null(before);
	assert_int_equal(kfs_store_slot_put_in(f->s, run, "output/secret.yaml", cm, strlen(cm),
					       &err),
			 -ESTALE);
	assert_non_null(strstr(err.msg, "a new run started since it was opened"));
	assert_non_null(strstr(f->log.data, "slot-refused op=put path=output/secret.yaml"));
	char *after = root_file(f->s, "output/secret.yaml");
	assert_string_equal(after, before);
	free(before);
	free(after);
	/* A promise reload that renders the slot again is a new run too. */
	run = kfs_store_slot_run(f->s);
	free(tu_sh("echo '# changed' >>%s/postgresql/promise.yaml", f->promises));
	memset(&err, 0, sizeof(err));
	assert_int_equal(kfs_store_reload(f->s, &err), 0);
	assert_int_equal(kfs_store_slot_put_in(f->s, run, "output/extra.yaml", cm, strlen(cm),
					       &err),
			 -ESTALE);
	memset(&err, 0, sizeof(err));
	assert_int_equal(kfs_store_slot_put_in(f->s, kfs_store_slot_run(f->s), "output/extra.yaml",
					       cm, strlen(cm), &err),
			 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_files_added_replaced_removed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_paths_stay_inside, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_checked_as_rendered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_metadata_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_new_run_resets, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reload_is_a_new_run, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restart_keeps_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_long_selector_directories, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_writer_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
