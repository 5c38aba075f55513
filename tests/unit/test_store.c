#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kratixfs/store.h"
#include "store_internal.h"
#include "testutil.h"

struct fixture {
	pthread_mutex_t log_lock; /* the store logs from its Git thread too */
	struct kfs_buf log;
	char *dir;
	char promises[512], state[512], repo[512], remote[512], destinations[512];
	bool git;
	struct kfs_store *s;
	int published; /* atomic: the store publishes from several threads */
};

static void count_publish(void *ctx, const char *folder)
{
	(void)folder;
	__atomic_add_fetch(&((struct fixture *)ctx)->published, 1, __ATOMIC_RELAXED);
}

static void collect_log(void *ctx, enum kfs_log_level level, const char *line)
{
	struct fixture *f = ctx;
	pthread_mutex_lock(&f->log_lock);
	kfs_buf_printf(&f->log, "%d %s\n", (int)level, line);
	pthread_mutex_unlock(&f->log_lock);
}

static void open_store(struct fixture *f)
{
	struct kfs_store_options o = {.promises_dir = f->promises, .state_dir = f->state,
				      .max_input = 4096, .on_publish = count_publish,
				      .on_publish_ctx = f};
	o.log = collect_log;
	o.log_ctx = f;
	if (f->git) {
		o.git_repo = f->repo;
		o.git_push = f->remote;
		o.destinations = f->destinations[0] ? f->destinations : NULL;
	}
	struct kfs_error err = {0};
	if (kfs_store_open(&o, &f->s, &err) != 0)
		fail_msg("%s", err.msg);
}

/* A temp folder with a copy of the bundled postgresql promise; the store not opened yet. */
static struct fixture *fixture_new(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	pthread_mutex_init(&f->log_lock, NULL);
	f->dir = tu_mkdtemp();
	snprintf(f->promises, sizeof(f->promises), "%s/promises", f->dir);
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	char cmd[1200];
	snprintf(cmd, sizeof(cmd), "mkdir -p %s && cp -r %s/templates/postgresql %s/", f->promises,
		 KFS_SOURCE_ROOT, f->promises);
	assert_int_equal(system(cmd), 0);
	return f;
}

static int setup(void **state)
{
	struct fixture *f = fixture_new();
	open_store(f);
	*state = f;
	return 0;
}

/* With Git; destinations (YAML text) NULL for the default destination. */
static struct fixture *git_fixture(const char *destinations)
{
	struct fixture *f = fixture_new();
	f->git = true;
	snprintf(f->repo, sizeof(f->repo), "%s/statestore.git", f->dir);
	snprintf(f->remote, sizeof(f->remote), "%s/remote.git", f->dir);
	free(tu_sh("git init -q --bare %s", f->remote));
	if (destinations) {
		snprintf(f->destinations, sizeof(f->destinations), "%s/destinations.yaml", f->dir);
		FILE *fp = fopen(f->destinations, "w");
		assert_non_null(fp);
		fputs(destinations, fp);
		fclose(fp);
	}
	open_store(f);
	return f;
}

static int setup_git(void **state)
{
	*state = git_fixture(NULL);
	return 0;
}

/* The promise selects environment=dev; the one destination is prod: nothing is placed. */
static int setup_git_prod_only(void **state)
{
	*state = git_fixture("apiVersion: platform.kratix.io/v1alpha1\nkind: Destination\n"
			     "metadata: {name: prod, labels: {environment: prod}}\n"
			     "spec: {path: prod}\n");
	return 0;
}

/* Runs a git command on the fixture's repository and returns its output. */
static char *git_out(struct fixture *f, const char *args)
{
	return tu_sh("git --git-dir=%s %s 2>&1", f->repo, args);
}

#define assert_git(f, args, needle)                                                                \
	do {                                                                                       \
		char *o_ = git_out(f, args);                                                       \
		assert_contains(o_, needle);                                                       \
		free(o_);                                                                          \
	} while (0)

static int count_commits(struct fixture *f)
{
	char *o = git_out(f, "rev-list --count main");
	int n = atoi(o);
	free(o);
	return n;
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

static const char medium[] = "apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\n"
			     "metadata: {name: db1, namespace: team}\n"
			     "spec: {database: orders, size: medium}\n";

/* A copy of the file's text in the folder's current view, or NULL. */
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

static void submit_ok(struct kfs_store *s, const char *name, const char *text)
{
	struct kfs_error err = {0};
	if (kfs_store_submit(s, name, text, strlen(text), &err) != 0)
		fail_msg("%s", err.msg);
}

static void test_lifecycle(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err = {0};
	assert_int_equal(kfs_store_create(f->s, "db1", &err), 0);
	assert_int_equal(kfs_store_create(f->s, "db1", &err), -EEXIST);
	assert_int_equal(kfs_store_create(f->s, "Bad_Name", &err), -EINVAL);
	assert_file_contains(f->s, "requests/db1", "phase", "Pending\n");
	struct kfs_view *v = kfs_store_view(f->s, "requests/db1");
	assert_null(kfs_view_file(v, "object.yaml"));
	assert_true(kfs_view_is_dir(v, "output"));
	kfs_view_put(v);

	submit_ok(f->s, "db1", medium);
	assert_file_contains(f->s, "requests/db1", "phase", "Rendered\n");
	assert_file_contains(f->s, "requests/db1", "output/statefulset.yaml", "replicas: 2");
	assert_file_contains(f->s, "requests/db1", "object.yaml", "size: medium");
	assert_file_contains(f->s, "requests/db1", "status.yaml", "generation: 1\n");
	assert_file_contains(f->s, "requests/db1", "status.yaml", "observedGeneration: 1\n");
	assert_file_contains(f->s, "requests/db1", "status.yaml", "inputDigest: sha256:");
	assert_file_contains(f->s, "requests/db1", "status.yaml", "path: statefulset.yaml");
	assert_file_contains(f->s, "requests/db1", "status.yaml",
			     "reason: PipelinesExecutedSuccessfully");
	assert_file_contains(f->s, "requests/db1", "metadata/status.yaml", "connection:");

	/* The same bytes again change nothing: no publish, same view. */
	v = kfs_store_view(f->s, "requests/db1");
	uint64_t serial = v->serial;
	kfs_view_put(v);
	int before = f->published;
	submit_ok(f->s, "db1", medium);
	assert_int_equal(f->published, before);
	v = kfs_store_view(f->s, "requests/db1");
	assert_int_equal(v->serial, serial);
	kfs_view_put(v);

	/* Rejected: previous object and outputs kept, status says why. */
	char bad[512];
	snprintf(bad, sizeof(bad), "%s", medium);
	memcpy(strstr(bad, "medium"), "huge}\n", 7);
	assert_int_equal(kfs_store_submit(f->s, "db1", bad, strlen(bad), &err), -EINVAL);
	assert_contains(err.msg, "spec.size");
	assert_file_contains(f->s, "requests/db1", "object.yaml", "size: medium");
	assert_file_contains(f->s, "requests/db1", "output/statefulset.yaml", "replicas: 2");
	assert_file_contains(f->s, "requests/db1", "status.yaml", "type: Rejected");
	assert_file_contains(f->s, "requests/db1", "status.yaml", "spec.size");
	assert_file_contains(f->s, "requests/db1", "phase", "Rendered\n");

	/* Too large. */
	char *big = calloc(1, 5000);
	memset(big, '#', 4999);
	assert_int_equal(kfs_store_submit(f->s, "db1", big, 4999, &err), -EFBIG);
	assert_contains(err.msg, "max_input");
	free(big);

	/* A different name in the document than the folder is refused. */
	const char *other = "apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\n"
			    "metadata: {name: other}\nspec: {size: large}\n";
	assert_int_equal(kfs_store_submit(f->s, "db1", other, strlen(other), &err), -EINVAL);
	assert_contains(err.msg, "differs from the folder name");

	/* Accepted again: the rejection is cleared, generation 2. */
	const char *large = "apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\n"
			    "spec: {size: large}\n";
	submit_ok(f->s, "db1", large);
	assert_file_contains(f->s, "requests/db1", "output/statefulset.yaml", "replicas: 3");
	assert_file_contains(f->s, "requests/db1", "status.yaml", "generation: 2\n");
	assert_file_contains(f->s, "requests/db1", "status.yaml", "reason: Accepted");

	/* Feedback. */
	assert_int_equal(kfs_store_feedback(f->s, "db1", "Applied\n", 8, &err), 0);
	assert_file_contains(f->s, "requests/db1", "phase", "Applied\n");
	assert_int_equal(kfs_store_feedback(f->s, "db1", "Ready @1\n", 9, &err), -EINVAL);
	assert_contains(err.msg, "not current");
	assert_int_equal(kfs_store_feedback(f->s, "db1", "Ready @2\n", 9, &err), 0);
	assert_file_contains(f->s, "requests/db1", "phase", "Ready\n");
	assert_int_equal(kfs_store_feedback(f->s, "db1", "Done", 4, &err), -EINVAL);
	assert_contains(err.msg, "write Applied, Ready");
	/* One line only: a second one is refused, and the phase and message stay. */
	const char *two = "Error disk full\nReady\n";
	assert_int_equal(kfs_store_feedback(f->s, "db1", two, strlen(two), &err), -EINVAL);
	assert_string_equal(err.msg, "feedback: holds 2 lines; write one line: Applied, Ready, "
				     "Ready @<generation> or Error <message>");
	assert_int_equal(kfs_store_feedback(f->s, "db1", "\nReady", 6, &err), -EINVAL);
	assert_contains(err.msg, "holds 2 lines");
	assert_int_equal(kfs_store_feedback(f->s, "db1", "Error a\rb", 9, &err), -EINVAL);
	assert_contains(err.msg, "feedback: holds a control character 0x0d");
	assert_int_equal(kfs_store_feedback(f->s, "db1", "Error a\0b", 9, &err), -EINVAL);
	assert_contains(err.msg, "control character 0x00");
	char *long_line = calloc(1, 700);
	memcpy(long_line, "Error ", 6);
	memset(long_line + 6, 'x', 600);
	assert_int_equal(kfs_store_feedback(f->s, "db1", long_line, 606, &err), -EINVAL);
	assert_contains(err.msg, "feedback: longer than 511 bytes");
	free(long_line);
	assert_file_contains(f->s, "requests/db1", "phase", "Ready\n");
	/* A single trailing newline (or CRLF) is fine. */
	assert_int_equal(kfs_store_feedback(f->s, "db1", "Ready\r\n", 7, &err), 0);

	/* Delete, then remove. */
	assert_int_equal(kfs_store_remove(f->s, "db1", &err), -ENOTEMPTY);
	assert_int_equal(kfs_store_delete_object(f->s, "db1", &err), 0);
	v = kfs_store_view(f->s, "requests/db1");
	assert_null(kfs_view_file(v, "object.yaml"));
	assert_null(kfs_view_file(v, "output/statefulset.yaml"));
	kfs_view_put(v);
	assert_int_equal(kfs_store_remove(f->s, "db1", &err), 0);
	assert_null(kfs_store_view(f->s, "requests/db1"));
}

static void test_render_failure_keeps_last_good(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err = {0};
	assert_int_equal(kfs_store_create(f->s, "db1", &err), 0);
	submit_ok(f->s, "db1", medium);
	/* Break a template, reload: the request is re-rendered and fails, keeping its outputs. */
	char path[700];
	snprintf(path, sizeof(path),
		 "%s/postgresql/workflows/resource/configure/instance-configure/"
		 "postgresql-configure/templates/output/service.yaml",
		 f->promises);
	FILE *fp = fopen(path, "a");
	fputs("broken: {{ .spec.nothing }}\n", fp);
	fclose(fp);
	assert_int_equal(kfs_store_reload(f->s, &err), 0);
	assert_file_contains(f->s, "requests/db1", "phase", "Error\n");
	assert_file_contains(f->s, "requests/db1", "status.yaml", ".spec.nothing");
	assert_file_contains(f->s, "requests/db1", "output/statefulset.yaml", "replicas: 2");
	assert_file_contains(f->s, "requests/db1", "log", ".spec.nothing");
	/* A new write renders with the broken template too: EIO, new content kept. */
	const char *small = "apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\n"
			    "spec: {size: small}\n";
	assert_int_equal(kfs_store_submit(f->s, "db1", small, strlen(small), &err), -EIO);
	assert_file_contains(f->s, "requests/db1", "object.yaml", "size: small");
	assert_file_contains(f->s, "requests/db1", "output/statefulset.yaml", "replicas: 2");
	/* The same bytes again report the same failure. */
	assert_int_equal(kfs_store_submit(f->s, "db1", small, strlen(small), &err), -EIO);
}

static void test_broken_promise_keeps_last_good(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err = {0};
	char path[600];
	snprintf(path, sizeof(path), "%s/postgresql/promise.yaml", f->promises);
	FILE *fp = fopen(path, "a");
	fputs("  oops: [\n", fp);
	fclose(fp);
	assert_int_equal(kfs_store_reload(f->s, &err), 0);
	assert_file_contains(f->s, "promises/postgresql", "status.yaml", "phase: Degraded");
	assert_file_contains(f->s, "promises/postgresql", "status.yaml", "not valid YAML");
	assert_file_contains(f->s, "", "status.yaml", "postgresql: Degraded");
	/* Requests still render with the last good version. */
	assert_int_equal(kfs_store_create(f->s, "db1", &err), 0);
	submit_ok(f->s, "db1", medium);
}

static void test_restart(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err = {0};
	assert_int_equal(kfs_store_create(f->s, "db1", &err), 0);
	assert_int_equal(kfs_store_create(f->s, "empty", &err), 0);
	submit_ok(f->s, "db1", medium);
	assert_int_equal(kfs_store_feedback(f->s, "db1", "Ready", 5, &err), 0);
	char *status = read_file(f->s, "requests/db1", "status.yaml");
	char *sts = read_file(f->s, "requests/db1", "output/statefulset.yaml");
	kfs_store_close(f->s);
	open_store(f);
	char **names;
	size_t n;
	assert_int_equal(kfs_store_list(f->s, "requests", &names, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "db1");
	assert_string_equal(names[1], "empty");
	kfs_store_free_names(names, n);
	char *status2 = read_file(f->s, "requests/db1", "status.yaml");
	char *sts2 = read_file(f->s, "requests/db1", "output/statefulset.yaml");
	assert_string_equal(status, status2);
	assert_string_equal(sts, sts2);
	assert_file_contains(f->s, "requests/empty", "phase", "Pending\n");
	assert_file_contains(f->s, "", "status.yaml", "Ready: 1");
	free(status);
	free(status2);
	free(sts);
	free(sts2);
}

static void test_slot_and_promise_views(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err = {0};
	assert_int_equal(kfs_store_submit_slot(f->s, medium, strlen(medium), &err), 0);
	assert_file_contains(f->s, "", "output/statefulset.yaml", "replicas: 2");
	assert_file_contains(f->s, "", "input/object.yaml", "size: medium");
	/* The slot's lifecycle is the root status.yaml's `slot`; its metadata/status.yaml is
	 * what its pipelines wrote, as a request's is. */
	assert_file_contains(f->s, "", "status.yaml", "  phase: Rendered");
	assert_file_contains(f->s, "", "metadata/status.yaml", "message: PostgreSQL");
	/* A Promise document in the slot runs the promise workflow. */
	char path[600];
	snprintf(path, sizeof(path), "%s/postgresql/promise.yaml", f->promises);
	struct kfs_buf text = {0};
	assert_int_equal(kfs_read_file(path, &text, &err), 0);
	assert_int_equal(kfs_store_submit_slot(f->s, text.data, text.len, &err), 0);
	kfs_buf_free(&text);
	struct kfs_view *v = kfs_store_view(f->s, "");
	assert_null(kfs_view_file(v, "output/statefulset.yaml"));
	assert_non_null(kfs_view_file(v, "output/serviceaccount.yaml"));
	kfs_view_put(v);
	/* promises/<p>: promise workflow outputs plus the static dependencies. */
	v = kfs_store_view(f->s, "promises/postgresql");
	assert_non_null(v);
	assert_non_null(kfs_view_file(v, "promise.yaml"));
	assert_non_null(kfs_view_file(v, "output/static/postgresql-dependencies.yaml"));
	assert_non_null(kfs_view_file(v, "output/serviceaccount.yaml"));
	kfs_view_put(v);
	assert_file_contains(f->s, "promises/postgresql", "status.yaml", "phase: Available");
}

static void test_git_commit_through(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err = {0};
	/* The promise's dependencies are committed when it loads. */
	assert_git(f, "ls-tree -r --name-only main",
		   "default/dependencies/postgresql/5058f/static/postgresql-dependencies.yaml");
	assert_int_equal(kfs_store_create(f->s, "db1", &err), 0);
	int before = count_commits(f);
	submit_ok(f->s, "db1", medium);
	assert_int_equal(count_commits(f), before + 1);
	assert_git(f, "ls-tree -r --name-only main",
		   "default/resources/team/postgresql/db1/instance-configure/5058f/statefulset.yaml");
	assert_git(f, "log -1 --format='%an %s' main",
		   "kratix Update from: postgresql-db1-team-instance-configure-");
	assert_file_contains(f->s, "requests/db1", "phase", "Committed\n");
	char *head = git_out(f, "rev-parse main");
	head[40] = '\0';
	assert_file_contains(f->s, "requests/db1", "status.yaml", head);
	assert_file_contains(f->s, "requests/db1", "status.yaml", "type: Committed");
	assert_file_contains(f->s, "", "status.yaml", head); /* the daemon-wide git head */
	free(head);
	/* The same content again makes no commit, even through a re-render. */
	assert_int_equal(kfs_store_reload(f->s, &err), 0);
	assert_int_equal(count_commits(f), before + 1);
	/* The push lands on the remote and the status says so. */
	for (int i = 0; i < 100; i++) {
		char *st = read_file(f->s, "requests/db1", "status.yaml");
		bool pushed = strstr(st, "pushed: true") != NULL;
		free(st);
		if (pushed)
			break;
		usleep(50000);
	}
	assert_file_contains(f->s, "requests/db1", "status.yaml", "pushed: true");
	/* Deleting removes the request's files in a Delete commit. */
	assert_int_equal(kfs_store_delete_object(f->s, "db1", &err), 0);
	assert_git(f, "log -1 --format='%s' main",
		   "Delete from: postgresql-db1-team-instance-configure-");
	char *tree = git_out(f, "ls-tree -r --name-only main");
	assert_null(strstr(tree, "resources/team/postgresql/db1"));
	free(tree);
	char *fsck = git_out(f, "fsck --strict");
	assert_null(strstr(fsck, "error"));
	free(fsck);
}

/* A retried commit of request's work serial ended, as the Git thread reports it (commit NULL:
 * it failed again, with reason). */
static void retry_outcome(struct kfs_store *s, const char *request, unsigned long long serial,
			  const char *commit, const char *reason)
{
	struct kfs_git_event e = {
	    .kind = commit ? KFS_GIT_RETRY_COMMITTED : KFS_GIT_RETRY_FAILED,
	    .key = {.kind = KFS_GIT_REQUEST, .ns = "team", .name = request},
	    .serial = serial,
	    .reason = reason};
	snprintf(e.commit, sizeof(e.commit), "%s", commit ? commit : "");
	kfs_gitsync_on_event(s, &e);
}

static unsigned long long work_serial(struct kfs_store *s, const char *request)
{
	struct request *r = kfs_store_request_get(s, request);
	assert_non_null(r);
	pthread_mutex_lock(&r->write_lock);
	unsigned long long serial = r->work_serial;
	pthread_mutex_unlock(&r->write_lock);
	kfs_store_request_put(r);
	return serial;
}

static unsigned long long promise_work_serial(struct kfs_store *s)
{
	pthread_rwlock_rdlock(&s->promises_lock);
	assert_int_equal(s->npromises, 1);
	unsigned long long serial = s->promises[0].work_serial;
	pthread_rwlock_unlock(&s->promises_lock);
	return serial;
}

/* Waits until the folder's status.yaml contains needle: outcomes are applied in order, so
 * every outcome queued before the one that wrote needle has been applied too. */
static void wait_status(struct kfs_store *s, const char *folder, const char *needle)
{
	for (int i = 0; i < 250; i++) {
		char *st = read_file(s, folder, "status.yaml");
		bool seen = st && strstr(st, needle);
		free(st);
		if (seen)
			return;
		usleep(20000);
	}
	assert_file_contains(s, folder, "status.yaml", needle);
}

static const char second[] = "apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\n"
			     "metadata: {name: db2, namespace: team}\n"
			     "spec: {database: orders, size: small}\n";

/* db1 and db2, rendered. */
static void two_requests(struct kfs_store *s)
{
	struct kfs_error err = {0};
	assert_int_equal(kfs_store_create(s, "db1", &err), 0);
	assert_int_equal(kfs_store_create(s, "db2", &err), 0);
	submit_ok(s, "db1", medium);
	submit_ok(s, "db2", second);
}

/* A retried commit's outcome changes a request only if it is for the request's last render. */
static void test_git_retry_outcomes(void **state)
{
	struct fixture *f = *state;
	two_requests(f->s);
	unsigned long long db1 = work_serial(f->s, "db1"), db2 = work_serial(f->s, "db2");
	/* The outcome of an older render of db1 arrives late: ignored. */
	retry_outcome(f->s, "db1", db1 - 1, NULL, "an older render failed");
	retry_outcome(f->s, "db2", db2, NULL, "db2's last render failed");
	wait_status(f->s, "requests/db2", "db2's last render failed");
	/* Each retry that ended is logged, the stale one too (1: warn, 2: info). */
	pthread_mutex_lock(&f->log_lock);
	assert_contains(f->log.data, "1 commit-retry request=db1 result=failed error=\"an older "
				     "render failed\"\n");
	assert_contains(f->log.data, "1 commit-retry request=db2 result=failed error=\"db2's last "
				     "render failed\"\n");
	pthread_mutex_unlock(&f->log_lock);
	assert_file_contains(f->s, "requests/db2", "phase", "Rendered\n");
	char *st = read_file(f->s, "requests/db1", "status.yaml");
	assert_null(strstr(st, "an older render failed"));
	free(st);
	assert_file_contains(f->s, "requests/db1", "phase", "Committed\n");
	/* db2's last render committed by the retry: Committed again, with that commit. */
	char *head = git_out(f, "rev-parse main");
	head[40] = '\0';
	retry_outcome(f->s, "db2", db2, head, NULL);
	wait_status(f->s, "requests/db2", "reason: Committed");
	char line[128];
	snprintf(line, sizeof(line), "2 commit-retry request=db2 commit=%.12s result=committed\n",
		 head);
	pthread_mutex_lock(&f->log_lock);
	assert_contains(f->log.data, line);
	pthread_mutex_unlock(&f->log_lock);
	assert_file_contains(f->s, "requests/db2", "status.yaml", head);
	assert_file_contains(f->s, "requests/db2", "phase", "Committed\n");
	free(head);
	/* A promise's too: a failure of its older work does not show, its last work's does. */
	unsigned long long p = promise_work_serial(f->s);
	kfs_store_promise_committed(f->s, "postgresql", p - 1, "an older run failed");
	st = read_file(f->s, "promises/postgresql", "status.yaml");
	assert_null(strstr(st, "commitError"));
	free(st);
	kfs_store_promise_committed(f->s, "postgresql", p, "its last run failed");
	assert_file_contains(f->s, "promises/postgresql", "status.yaml",
			     "commitError: its last run failed");
	kfs_store_promise_committed(f->s, "postgresql", p, NULL);
	st = read_file(f->s, "promises/postgresql", "status.yaml");
	assert_null(strstr(st, "commitError"));
	free(st);
}

/* A request none of whose files has a destination is not committed, even once a retry of its
 * work (which removes the files of an earlier render) lands. */
static void test_git_retry_of_unplaced_request(void **state)
{
	struct fixture *f = *state;
	two_requests(f->s);
	assert_file_contains(f->s, "requests/db1", "status.yaml", "reason: NoMatchingDestination");
	/* Nothing was ever placed, so the branch does not exist: a retry that lands reports the
	 * commit "" (a success, not a failure). */
	char *branches = git_out(f, "branch --list");
	assert_string_equal(branches, "");
	free(branches);
	retry_outcome(f->s, "db1", work_serial(f->s, "db1"), "", NULL);
	retry_outcome(f->s, "db2", work_serial(f->s, "db2"), NULL, "sentinel");
	wait_status(f->s, "requests/db2", "sentinel");
	char *st = read_file(f->s, "requests/db1", "status.yaml");
	assert_null(strstr(st, "\ncommit:"));
	assert_null(strstr(st, "reason: Committed"));
	assert_null(strstr(st, "CommitFailed"));
	assert_contains(st, "no destination takes any of its files");
	free(st);
	assert_file_contains(f->s, "requests/db1", "phase", "Rendered\n");
	/* The promise's dependencies have no destination either: it says so as unscheduled, not
	 * as a commit error, and a retry that commits its work does not clear it. */
	const char *why = "unscheduled: no destination has labels environment=dev";
	assert_file_contains(f->s, "promises/postgresql", "status.yaml", why);
	kfs_store_promise_committed(f->s, "postgresql", promise_work_serial(f->s), NULL);
	st = read_file(f->s, "promises/postgresql", "status.yaml");
	assert_contains(st, why);
	assert_null(strstr(st, "commitError"));
	free(st);
}

/* Reload, rmdir and write at once, on one request: each takes two of the store's locks (a
 * reload the promises' then the table's to count requests, an rmdir the table's then the
 * request's, a write the request's then the promises'). Taken in that cycle they deadlock; the
 * ThreadSanitizer build reports the inversion even when the timing spares the plain build. */
struct race {
	struct fixture *f;
	int rounds;
	int failures; /* calls that did not return what they must */
};

static void *race_writer(void *arg)
{
	struct race *r = arg;
	const char *large = "apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\n"
			    "metadata: {name: db1, namespace: team}\n"
			    "spec: {database: orders, size: large}\n";
	for (int i = 0; i < r->rounds; i++) {
		const char *text = i % 2 ? medium : large;
		struct kfs_error err = {0};
		if (kfs_store_submit(r->f->s, "db1", text, strlen(text), &err) != 0)
			__atomic_add_fetch(&r->failures, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *race_remover(void *arg)
{
	struct race *r = arg;
	for (int i = 0; i < r->rounds; i++) {
		struct kfs_error err = {0};
		/* db1 holds an object.yaml: refused, after taking both locks. */
		if (kfs_store_remove(r->f->s, "db1", &err) != -ENOTEMPTY)
			__atomic_add_fetch(&r->failures, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *race_reloader(void *arg)
{
	struct race *r = arg;
	char path[600];
	snprintf(path, sizeof(path), "%s/postgresql/NOTES", r->f->promises);
	for (int i = 0; i < r->rounds / 4; i++) {
		/* A new file in the folder changes its digest: the promise reloads, its requests
		 * render again and its view (with their count) is built again. */
		FILE *fp = fopen(path, "w");
		fprintf(fp, "%d\n", i);
		fclose(fp);
		struct kfs_error err = {0};
		if (kfs_store_reload(r->f->s, &err) != 0)
			__atomic_add_fetch(&r->failures, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* Readers of every kind of folder meanwhile: the root's status counts the requests' phases. */
static void *race_reader(void *arg)
{
	struct race *r = arg;
	static const char *const folders[] = {"", "requests/db1", "promises/postgresql"};
	for (int i = 0; i < r->rounds; i++) {
		struct kfs_view *v = kfs_store_view(r->f->s, folders[i % 3]);
		const struct kfs_view_file *st = v ? kfs_view_file(v, "status.yaml") : NULL;
		if (!st || !st->len)
			__atomic_add_fetch(&r->failures, 1, __ATOMIC_RELAXED);
		kfs_view_put(v);
	}
	return NULL;
}

static void test_reload_remove_write_race(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err = {0};
	assert_int_equal(kfs_store_create(f->s, "db1", &err), 0);
	submit_ok(f->s, "db1", medium);
	struct race r = {.f = f, .rounds = 200};
	pthread_t t[4];
	assert_int_equal(pthread_create(&t[0], NULL, race_writer, &r), 0);
	assert_int_equal(pthread_create(&t[1], NULL, race_remover, &r), 0);
	assert_int_equal(pthread_create(&t[2], NULL, race_reloader, &r), 0);
	assert_int_equal(pthread_create(&t[3], NULL, race_reader, &r), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(r.failures, 0);
	/* The last write (round 199: medium) is the one in force, and the count is right. */
	assert_file_contains(f->s, "requests/db1", "object.yaml", "size: medium");
	assert_file_contains(f->s, "requests/db1", "output/statefulset.yaml", "replicas: 2");
	assert_file_contains(f->s, "promises/postgresql", "status.yaml", "requests: 1\n");
}

/* A pipeline's metadata/status.yaml cannot set the conditions kratixfs owns: a forged
 * Committed "True" and Rejected "True" are dropped (said in the log) and the daemon's stand, at
 * the write and after a restart; a condition type of the pipeline's own is kept. */
static void test_forged_conditions(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err = {0};
	char path[700];
	snprintf(path, sizeof(path),
		 "%s/postgresql/workflows/resource/configure/instance-configure/"
		 "postgresql-configure/templates/metadata/status.yaml",
		 f->promises);
	FILE *fp = fopen(path, "a");
	assert_non_null(fp);
	fputs("conditions:\n"
	      "  - {type: Committed, status: \"True\", reason: Forged, message: forged}\n"
	      "  - {type: Rejected, status: \"True\", reason: Forged, message: forged}\n"
	      "  - {type: DatabaseReady, status: \"True\", reason: Provisioned}\n",
	      fp);
	fclose(fp);
	assert_int_equal(kfs_store_reload(f->s, &err), 0);
	assert_int_equal(kfs_store_create(f->s, "db1", &err), 0);
	submit_ok(f->s, "db1", medium);
	for (int round = 0; round < 2; round++) {
		char *st = read_file(f->s, "requests/db1", "status.yaml");
		assert_null(strstr(st, "Forged"));
		/* No destination takes its files: the daemon's Committed is False. */
		assert_contains(st, "type: Committed\n    status: \"False\"\n"
				    "    reason: NoMatchingDestination");
		assert_null(strstr(st, "type: Rejected"));
		assert_contains(st, "type: DatabaseReady\n    status: \"True\"\n"
				    "    reason: Provisioned");
		free(st);
		st = read_file(f->s, "requests/db1", "metadata/status.yaml");
		assert_null(strstr(st, "Forged"));
		assert_contains(st, "DatabaseReady");
		free(st);
		assert_file_contains(f->s, "requests/db1", "log",
				     "warning: metadata/status.yaml: condition Committed is "
				     "kratixfs's own; the pipeline's is dropped (give it another type)\n");
		assert_file_contains(f->s, "requests/db1", "log", "condition Rejected is");
		pthread_mutex_lock(&f->log_lock); /* the Git thread logs its pushes meanwhile */
		char *log = kfs_xstrdup(f->log.data ? f->log.data : "");
		pthread_mutex_unlock(&f->log_lock);
		assert_contains(log, "status-condition-dropped request=db1 type=Committed");
		assert_contains(log, "status-condition-dropped request=db1 type=Rejected");
		free(log);
		assert_file_contains(f->s, "requests/db1", "phase", "Rendered\n");
		/* Recovery renders again: the same, and the log says it once. */
		kfs_store_close(f->s);
		kfs_buf_free(&f->log);
		open_store(f);
	}
	char *log = read_file(f->s, "requests/db1", "log");
	char *first = strstr(log, "condition Committed is");
	assert_non_null(first);
	assert_null(strstr(first + 1, "condition Committed is"));
	free(log);
}

/* A byte flipped in db2's last record: at restart db1 is whole, db2 comes back as its older
 * record had it, and that older render is not committed over what the Git store has (the start
 * used to commit it, which GitOps would apply: a silent rollback). The log and the root
 * status.yaml say which file was damaged, where it was kept and which request lost its change. */
static void test_damaged_state_keeps_git(void **state)
{
	struct fixture *f = *state;
	two_requests(f->s);
	const char *large = "apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\n"
			    "metadata: {name: db2, namespace: team}\n"
			    "spec: {database: orders, size: large}\n";
	submit_ok(f->s, "db2", large);
	char *before = git_out(f, "ls-tree -r main");
	char *commits = git_out(f, "rev-parse main");
	kfs_store_close(f->s);
	f->s = NULL;
	char path[600];
	snprintf(path, sizeof(path), "%s/journal", f->state);
	struct kfs_buf text = {0};
	struct kfs_error err = {0};
	assert_int_equal(kfs_read_file(path, &text, &err), 0);
	/* Every record holding db2's large input (pushes write more than one): its older,
	 * small, record is the newest one left. */
	FILE *fp = fopen(path, "r+");
	assert_non_null(fp);
	int flipped = 0;
	for (const char *p = text.data;
	     (p = memmem(p, text.len - (size_t)(p - text.data), "size: large", 11));
	     p++, flipped++) {
		fseek(fp, p - text.data, SEEK_SET);
		fputc('S', fp);
	}
	fclose(fp);
	assert_true(flipped > 0);
	kfs_buf_free(&text);
	f->log.len = 0;
	open_store(f);
	assert_file_contains(f->s, "requests/db1", "phase", "Committed\n");
	assert_file_contains(f->s, "requests/db2", "object.yaml", "size: small");
	assert_file_contains(f->s, "requests/db2", "status.yaml", "reason: StateDamaged");
	assert_file_contains(f->s, "requests/db2", "phase", "Rendered\n");
	char *after = git_out(f, "ls-tree -r main");
	assert_string_equal(after, before);
	char *commits2 = git_out(f, "rev-parse main");
	assert_string_equal(commits2, commits);
	char *root = read_file(f->s, "", "status.yaml");
	assert_contains(root, "recovery:\n");
	assert_contains(root, "file: ");
	assert_contains(root, "/state/journal\n");
	assert_contains(root, "keptAs: ");
	assert_contains(root, "/state/journal.damaged-");
	char lost[64];
	snprintf(lost, sizeof(lost), "recordsLost: %d\n", flipped);
	assert_contains(root, lost);
	assert_contains(root, "lostRequests:\n    - db2\n");
	assert_contains(root, "the Git store keeps the last committed files");
	pthread_mutex_lock(&f->log_lock);
	assert_contains(f->log.data, "0 state-damaged file=");
	assert_contains(f->log.data,
			"0 state-damaged lost-requests=db2 unnamed-records=0 git=kept");
	pthread_mutex_unlock(&f->log_lock);
	/* The next start finds a whole state folder, and still holds db2's older render back. */
	kfs_store_close(f->s);
	open_store(f);
	assert_file_contains(f->s, "requests/db2", "status.yaml", "reason: StateDamaged");
	char *again = git_out(f, "ls-tree -r main");
	assert_string_equal(again, before);
	free(again);
	free(root);
	root = read_file(f->s, "", "status.yaml");
	assert_null(strstr(root, "recovery:"));
	/* Written again, db2 is committed as usual. */
	submit_ok(f->s, "db2", large);
	assert_file_contains(f->s, "requests/db2", "phase", "Committed\n");
	char *st = read_file(f->s, "requests/db2", "status.yaml");
	assert_null(strstr(st, "StateDamaged"));
	free(st);
	free(root);
	free(before);
	free(after);
	free(commits);
	free(commits2);
}

/* One log line per event, with the request and the duration; secrets never appear. */
static void test_log_lines(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err = {0};
	assert_int_equal(kfs_store_create(f->s, "db1", &err), 0);
	submit_ok(f->s, "db1", medium);
	assert_contains(f->log.data, "2 render request=db1 promise=postgresql generation=1 outputs=3");
	assert_contains(f->log.data, "duration=");
	const char *bad = "apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\n"
			  "spec: {size: huge, adminPassword: hunter2}\n";
	assert_int_equal(kfs_store_submit(f->s, "db1", bad, strlen(bad), &err), -EINVAL);
	assert_contains(f->log.data, "1 reject request=db1");
	assert_int_equal(kfs_store_delete_object(f->s, "db1", &err), 0);
	assert_contains(f->log.data, "delete request=db1");
	assert_null(strstr(f->log.data, "hunter2"));
}

/* A pruned field is kept out of the render but named: in status.yaml (also after a restart,
 * which renders again) and in the log line; a write without it clears the list. */
static void test_unknown_field_warnings(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err = {0};
	assert_int_equal(kfs_store_create(f->s, "db1", &err), 0);
	const char *typo = "apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\n"
			   "spec: {size: large, sise: small}\n";
	submit_ok(f->s, "db1", typo);
	const char *want = "warnings:\n  - unknown field \"spec.sise\"\n";
	assert_file_contains(f->s, "requests/db1", "status.yaml", want);
	assert_file_contains(f->s, "requests/db1", "output/statefulset.yaml", "replicas: 3");
	assert_contains(f->log.data, "render request=db1 promise=postgresql generation=1 outputs=3 "
				     "warnings=1 phase=Rendered");
	kfs_store_close(f->s);
	open_store(f);
	assert_file_contains(f->s, "requests/db1", "status.yaml", want);
	submit_ok(f->s, "db1", medium);
	char *st = read_file(f->s, "requests/db1", "status.yaml");
	assert_null(strstr(st, "warnings"));
	free(st);
}

/* warnings is the daemon's key: a pipeline's status cannot set or hide it. */
static int setup_forged_warnings(void **state)
{
	struct fixture *f = fixture_new();
	char path[1200];
	snprintf(path, sizeof(path),
		 "%s/postgresql/workflows/resource/configure/instance-configure/"
		 "postgresql-configure/templates/metadata/status.yaml",
		 f->promises);
	FILE *fp = fopen(path, "a");
	assert_non_null(fp);
	fputs("warnings: [forged by the pipeline]\n", fp);
	fclose(fp);
	open_store(f);
	*state = f;
	return 0;
}

static void test_warnings_are_the_daemons(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err = {0};
	assert_int_equal(kfs_store_create(f->s, "db1", &err), 0);
	submit_ok(f->s, "db1", medium);
	char *st = read_file(f->s, "requests/db1", "status.yaml");
	assert_null(strstr(st, "forged"));
	free(st);
	const char *typo = "apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\n"
			   "spec: {size: large, sise: small}\n";
	submit_ok(f->s, "db1", typo);
	st = read_file(f->s, "requests/db1", "status.yaml");
	assert_contains(st, "warnings:\n  - unknown field \"spec.sise\"\n");
	assert_null(strstr(st, "forged"));
	free(st);
}

static void test_mask(void **state)
{
	(void)state;
	char *m = kfs_store_mask("spec.size: must be one of small (got \"huge\")\n"
				 "spec.dbPassword: must be integer, got string \"s3cret\"\n"
				 "spec.apiToken: must match ^x$ (got \"abc\")");
	assert_contains(m, "(got \"huge\")");
	assert_null(strstr(m, "s3cret"));
	assert_null(strstr(m, "abc"));
	assert_contains(m, "spec.dbPassword: must be integer, got ***");
	free(m);
}

static const char large[] = "apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\n"
			    "metadata: {name: db1, namespace: team}\n"
			    "spec: {database: orders, size: large}\n";
static const char huge[] = "apiVersion: marketplace.kratix.io/v1\nkind: Postgresql\n"
			   "metadata: {name: db1, namespace: team}\n"
			   "spec: {database: orders, size: huge}\n";

static bool has_file(struct kfs_store *s, const char *folder, const char *path)
{
	char *t = read_file(s, folder, path);
	free(t);
	return t != NULL;
}

static int count_deletes(struct fixture *f)
{
	char *o = git_out(f, "log --format=%s main");
	int n = 0;
	for (const char *p = o; (p = strstr(p, "Delete from")); p++)
		n++;
	free(o);
	return n;
}

/* unlink(object.yaml) hides the file and deletes nothing; a write after it is an edit; a refused
 * write while it is absent stays as a draft; only the folder's removal deletes, once. All of it
 * survives a restart. */
static void test_unlink_is_an_edit(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err = {0};
	assert_int_equal(kfs_store_create(f->s, "db1", &err), 0);
	submit_ok(f->s, "db1", medium);
	int commits = count_commits(f);
	assert_int_equal(kfs_store_unlink_object(f->s, "db1", &err), 0);
	assert_false(has_file(f->s, "requests/db1", "object.yaml"));
	assert_true(has_file(f->s, "requests/db1", "output/statefulset.yaml"));
	assert_file_contains(f->s, "requests/db1", "status.yaml", "stays in force");
	assert_int_equal(kfs_store_unlink_object(f->s, "db1", &err), -ENOENT);
	assert_int_equal(count_commits(f), commits);

	/* A refused write now: kept as a draft, not in force; the outputs stay. */
	assert_int_equal(kfs_store_submit(f->s, "db1", huge, strlen(huge), &err), -EINVAL);
	assert_file_contains(f->s, "requests/db1", "object.yaml", "size: huge");
	assert_file_contains(f->s, "requests/db1", "status.yaml", "not in force");
	assert_file_contains(f->s, "requests/db1", "output/statefulset.yaml", "replicas: 2");
	/* The folder shows an object.yaml (the draft): rmdir is refused. */
	assert_int_equal(kfs_store_remove(f->s, "db1", &err), -ENOTEMPTY);

	/* A restart keeps the draft, and the request in force. */
	kfs_store_close(f->s);
	open_store(f);
	assert_file_contains(f->s, "requests/db1", "object.yaml", "size: huge");
	assert_file_contains(f->s, "requests/db1", "output/statefulset.yaml", "replicas: 2");

	/* The same bytes as the object in force show it again (vim restoring its backup). */
	assert_int_equal(kfs_store_unlink_object(f->s, "db1", &err), 0);
	kfs_store_close(f->s);
	open_store(f);
	assert_false(has_file(f->s, "requests/db1", "object.yaml"));
	submit_ok(f->s, "db1", medium);
	assert_file_contains(f->s, "requests/db1", "object.yaml", "size: medium");
	assert_int_equal(count_commits(f), commits);
	/* An edit after an unlink is one Update. */
	assert_int_equal(kfs_store_unlink_object(f->s, "db1", &err), 0);
	submit_ok(f->s, "db1", large);
	assert_file_contains(f->s, "requests/db1", "output/statefulset.yaml", "replicas: 3");
	assert_int_equal(count_deletes(f), 0);

	/* With object.yaml in the folder, rmdir is refused; once unlinked, it deletes. */
	assert_int_equal(kfs_store_remove(f->s, "db1", &err), -ENOTEMPTY);
	assert_int_equal(kfs_store_unlink_object(f->s, "db1", &err), 0);
	assert_int_equal(kfs_store_remove(f->s, "db1", &err), 0);
	assert_null(kfs_store_view(f->s, "requests/db1"));
	assert_int_equal(count_deletes(f), 1);
}

/* Makes the journal unable to grow, as a full disk does: RLIMIT_FSIZE at its size (SIGXFSZ
 * ignored, so a write fails with EFBIG). Returns the limit to put back. */
static struct rlimit journal_full(struct fixture *f)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/journal", f->state);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	struct rlimit old, lim;
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = (rlim_t)st.st_size;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	return old;
}

/* A record the state folder cannot store (here: RLIMIT_FSIZE at the journal's size, as a full
 * disk) fails the write and changes nothing: no new outputs, no commit, the same status. */
static void test_unstorable_write_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err = {0};
	assert_int_equal(kfs_store_create(f->s, "db1", &err), 0);
	submit_ok(f->s, "db1", medium);
	int commits = count_commits(f);
	char *status = read_file(f->s, "requests/db1", "status.yaml");
	char *sts = read_file(f->s, "requests/db1", "output/statefulset.yaml");
	struct rlimit old = journal_full(f);
	int rc = kfs_store_submit(f->s, "db1", large, strlen(large), &err);
	setrlimit(RLIMIT_FSIZE, &old);
	assert_true(rc == -EIO || rc == -ENOSPC);
	assert_contains(err.msg, "state folder");
	char *status2 = read_file(f->s, "requests/db1", "status.yaml");
	char *sts2 = read_file(f->s, "requests/db1", "output/statefulset.yaml");
	assert_string_equal(status, status2);
	assert_string_equal(sts, sts2);
	assert_int_equal(count_commits(f), commits);
	/* With room again, the same write goes through, and a restart keeps it. */
	submit_ok(f->s, "db1", large);
	kfs_store_close(f->s);
	open_store(f);
	assert_file_contains(f->s, "requests/db1", "output/statefulset.yaml", "replicas: 3");
	free(status);
	free(status2);
	free(sts);
	free(sts2);
}

/* A folder's owner and modes come from its mkdir, change with set_owner, survive a restart. */
static void test_owner(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err = {0};
	struct kfs_owner o = {.uid = 1234, .gid = 4321, .dir_mode = 0750, .obj_mode = 0640};
	assert_int_equal(kfs_store_create_as(f->s, "db1", &o, &err), 0);
	struct kfs_view *v = kfs_store_view(f->s, "requests/db1");
	assert_int_equal(v->owner.uid, 1234);
	assert_int_equal(v->owner.dir_mode, 0750);
	kfs_view_put(v);
	/* Only the owner or root may chmod; only root may give the request away. */
	assert_int_equal(kfs_store_chmod(f->s, "db1", true, 0600, 99, &err), -EPERM);
	assert_int_equal(kfs_store_chmod(f->s, "db1", true, 0600, 1234, &err), 0);
	assert_int_equal(kfs_store_chown(f->s, "db1", 77, (gid_t)-1, 1234, 4321, &err), -EPERM);
	assert_int_equal(kfs_store_chown(f->s, "db1", (uid_t)-1, 5, 1234, 4321, &err), -EPERM);
	assert_int_equal(kfs_store_chown(f->s, "db1", 77, (gid_t)-1, 0, 0, &err), 0);
	kfs_store_close(f->s);
	open_store(f);
	v = kfs_store_view(f->s, "requests/db1");
	assert_int_equal(v->owner.uid, 77);
	assert_int_equal(v->owner.gid, 4321);
	assert_int_equal(v->owner.dir_mode, 0750);
	assert_int_equal(v->owner.obj_mode, 0600);
	kfs_view_put(v);
	/* Views nobody made belong to the daemon's user. */
	v = kfs_store_view(f->s, "");
	assert_int_equal(v->owner.uid, geteuid());
	kfs_view_put(v);
}

/* kfs_store_check answers as a submit would, and changes nothing. */
static void test_check_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err = {0};
	assert_int_equal(kfs_store_create(f->s, "db1", &err), 0);
	submit_ok(f->s, "db1", medium);
	struct kfs_view *before = kfs_store_view(f->s, "requests/db1");
	assert_int_equal(kfs_store_check(f->s, "db1", huge, strlen(huge), &err), -EINVAL);
	assert_contains(err.msg, "spec.size");
	assert_int_equal(kfs_store_check(f->s, "db1", large, strlen(large), &err), 0);
	assert_int_equal(kfs_store_check(f->s, "db1", "", 0, &err), -EINVAL);
	struct kfs_view *after = kfs_store_view(f->s, "requests/db1");
	assert_int_equal(before->serial, after->serial);
	kfs_view_put(before);
	kfs_view_put(after);
}

/* Review findings: a draft of any bytes (invalid UTF-8, NUL) survives a restart; a reload keeps
 * an unlinked object.yaml unlinked and a draft a draft; an rmdir the state folder cannot store
 * commits no Delete. */
static void test_draft_bytes_and_reload(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err = {0};
	assert_int_equal(kfs_store_create(f->s, "db1", &err), 0);
	submit_ok(f->s, "db1", medium);
	assert_int_equal(kfs_store_unlink_object(f->s, "db1", &err), 0);
	static const char bad[] = "kind: \xc0\xaf\x00x\n";
	assert_int_equal(kfs_store_submit(f->s, "db1", bad, sizeof(bad) - 1, &err), -EINVAL);
	kfs_store_close(f->s);
	open_store(f);
	struct kfs_view *v = kfs_store_view(f->s, "requests/db1");
	assert_non_null(v);
	const struct kfs_view_file *obj = kfs_view_file(v, "object.yaml");
	assert_non_null(obj);
	assert_int_equal(obj->len, sizeof(bad) - 1);
	assert_memory_equal(obj->data, bad, sizeof(bad) - 1);
	kfs_view_put(v);
	/* A reload re-renders every request of a changed promise: the draft stays. */
	char path[600];
	snprintf(path, sizeof(path), "%s/postgresql/NOTES", f->promises);
	FILE *fp = fopen(path, "w");
	fputs("changed\n", fp);
	fclose(fp);
	assert_int_equal(kfs_store_reload(f->s, &err), 0);
	assert_file_contains(f->s, "requests/db1", "object.yaml", "kind: ");
	assert_file_contains(f->s, "requests/db1", "status.yaml", "not in force");
	/* Unlinked, a reload does not bring object.yaml back; rmdir then deletes. */
	assert_int_equal(kfs_store_unlink_object(f->s, "db1", &err), 0);
	fp = fopen(path, "w");
	fputs("changed again\n", fp);
	fclose(fp);
	assert_int_equal(kfs_store_reload(f->s, &err), 0);
	assert_false(has_file(f->s, "requests/db1", "object.yaml"));
	assert_file_contains(f->s, "requests/db1", "output/statefulset.yaml", "replicas: 2");
}

static void test_unstorable_rmdir_commits_nothing(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err = {0};
	assert_int_equal(kfs_store_create(f->s, "db1", &err), 0);
	submit_ok(f->s, "db1", medium);
	assert_int_equal(kfs_store_unlink_object(f->s, "db1", &err), 0);
	int commits = count_commits(f);
	struct rlimit old = journal_full(f);
	int rc = kfs_store_remove(f->s, "db1", &err);
	setrlimit(RLIMIT_FSIZE, &old);
	assert_true(rc == -EIO || rc == -ENOSPC);
	assert_int_equal(count_commits(f), commits);
	assert_int_equal(count_deletes(f), 0);
	assert_true(has_file(f->s, "requests/db1", "output/statefulset.yaml"));
	assert_int_equal(kfs_store_remove(f->s, "db1", &err), 0);
	assert_int_equal(count_deletes(f), 1);
}

/* Ids name bytes: a re-render keeps the id of every output whose bytes did not change (a front
 * end may keep its cache of it) and gives the others new ones. */
static void test_ids_follow_bytes(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err = {0};
	assert_int_equal(kfs_store_create(f->s, "db1", &err), 0);
	submit_ok(f->s, "db1", medium);
	struct kfs_view *a = kfs_store_view(f->s, "requests/db1");
	submit_ok(f->s, "db1", large);
	struct kfs_view *b = kfs_store_view(f->s, "requests/db1");
	assert_true(b->serial > a->serial);
	size_t same = 0, changed = 0;
	for (size_t i = 0; i < b->nfiles; i++) {
		const struct kfs_view_file *nf = &b->files[i];
		const struct kfs_view_file *of = kfs_view_file(a, nf->path);
		if (!of)
			continue;
		bool equal = of->len == nf->len && memcmp(of->data, nf->data, nf->len) == 0;
		if (equal)
			assert_true(of->id == nf->id);
		else
			assert_true(of->id != nf->id);
		if (strncmp(nf->path, "output/", 7) == 0) {
			same += equal;
			changed += !equal;
		}
	}
	assert_true(same > 0);    /* e.g. the service: size does not touch it */
	assert_true(changed > 0); /* the statefulset's storage */
	/* A re-render of the same input (a promise reload) keeps every output's id. */
	struct kfs_view *c = NULL;
	char *out = tu_sh("echo '# touched' >> %s/postgresql/promise.yaml", f->promises);
	free(out);
	assert_int_equal(kfs_store_reload(f->s, &err), 0);
	c = kfs_store_view(f->s, "requests/db1");
	assert_true(c->serial > b->serial); /* the reload did publish again */
	size_t outputs = 0;
	for (size_t i = 0; i < c->nfiles; i++)
		if (strncmp(c->files[i].path, "output/", 7) == 0) {
			assert_true(kfs_view_file(b, c->files[i].path)->id == c->files[i].id);
			outputs++;
		}
	assert_true(outputs > 0);
	kfs_view_put(a);
	kfs_view_put(b);
	kfs_view_put(c);
}

static long file_size(const char *dir, const char *name)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	struct stat st;
	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* A push changes one store-wide value: no request is published or recorded again, yet its
 * status.yaml, built when read, says pushed (and its view keeps its serial). */
static void test_push_read_when_built(void **state)
{
	struct fixture *f = *state;
	struct kfs_error err = {0};
	/* The remote is away: the Git thread's own pushes fail, only the one below lands. It goes
	 * once the push of the promise's commit has landed, never in the middle of a push: libgit2
	 * 1.5 leaks a push that loses its local remote part-way (tests/lsan.supp). It does not
	 * come back (teardown removes it). */
	char *root = NULL;
	for (int i = 0; i < 500; i++) {
		free(root);
		root = read_file(f->s, "", "status.yaml");
		if (strstr(root, "pushed: true"))
			break;
		usleep(20000);
	}
	assert_contains(root, "pushed: true");
	free(root);
	free(tu_sh("mv %s %s.away", f->remote, f->remote));
	assert_int_equal(kfs_store_create(f->s, "db1", &err), 0);
	submit_ok(f->s, "db1", medium);
	struct kfs_view *before = kfs_store_view(f->s, "requests/db1");
	assert_non_null(before);
	assert_null(strstr(kfs_view_file(before, "status.yaml")->data, "pushed: true"));
	int published = __atomic_load_n(&f->published, __ATOMIC_RELAXED);
	long journal = file_size(f->state, "journal");
	assert_true(journal > 0);
	char *head = git_out(f, "rev-parse main");
	head[40] = '\0';
	struct kfs_git_event pushed = {.kind = KFS_GIT_PUSHED};
	snprintf(pushed.commit, sizeof(pushed.commit), "%s", head);
	kfs_gitsync_on_event(f->s, &pushed);
	char *st = NULL;
	for (int i = 0; i < 200; i++) {
		free(st);
		st = read_file(f->s, "requests/db1", "status.yaml");
		if (strstr(st, "pushed: true"))
			break;
		usleep(20000);
	}
	assert_contains(st, "pushed: true");
	assert_contains(st, "- type: Pushed\n    status: \"True\"\n    reason: Pushed");
	struct kfs_view *after = kfs_store_view(f->s, "requests/db1");
	assert_true(after->serial == before->serial);
	assert_true(kfs_view_file(after, "status.yaml")->id !=
		    kfs_view_file(before, "status.yaml")->id);
	assert_true(kfs_view_file(after, "output/statefulset.yaml")->id ==
		    kfs_view_file(before, "output/statefulset.yaml")->id);
	assert_int_equal(__atomic_load_n(&f->published, __ATOMIC_RELAXED), published);
	assert_int_equal(file_size(f->state, "journal"), journal);
	/* The daemon-wide status says so too. */
	assert_file_contains(f->s, "", "status.yaml", "pushed: true");
	free(st);
	free(head);
	kfs_view_put(before);
	kfs_view_put(after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_failure_keeps_last_good, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_broken_promise_keeps_last_good, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slot_and_promise_views, setup, teardown),
		cmocka_unit_test_setup_teardown(test_git_commit_through, setup_git, teardown),
		cmocka_unit_test_setup_teardown(test_ids_follow_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_push_read_when_built, setup_git, teardown),
		cmocka_unit_test_setup_teardown(test_git_retry_outcomes, setup_git, teardown),
		cmocka_unit_test_setup_teardown(test_git_retry_of_unplaced_request,
						setup_git_prod_only, teardown),
		cmocka_unit_test_setup_teardown(test_reload_remove_write_race, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forged_conditions, setup_git_prod_only,
						teardown),
		cmocka_unit_test_setup_teardown(test_log_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_field_warnings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_warnings_are_the_daemons, setup_forged_warnings,
						teardown),
		cmocka_unit_test(test_mask),
		cmocka_unit_test_setup_teardown(test_unlink_is_an_edit, setup_git, teardown),
		cmocka_unit_test_setup_teardown(test_unstorable_write_changes_nothing, setup_git,
						teardown),
		cmocka_unit_test_setup_teardown(test_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_draft_bytes_and_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unstorable_rmdir_commits_nothing, setup_git,
						teardown),
		cmocka_unit_test_setup_teardown(test_damaged_state_keeps_git, setup_git, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
