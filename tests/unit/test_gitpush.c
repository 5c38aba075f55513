/* The libgit2 writer's background work: pushes (rejected, failing, diverged, hung up) and the
 * retry of failed commits, checked with the real git CLI. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kratixfs/buf.h"
#include "kratixfs/gitstore.h"
#include "../../src/git/ssh_auth.h"
#include "gittest.h"
#include "testutil.h"

struct events {
	pthread_mutex_t lock;
	int pushed_true, pushed_false, committed;
	char reason[KFS_ERROR_MAX];
	char commit[41];
	enum kfs_git_kind kind; /* the owner of the last retry */
	char ns[64], name[64];
	unsigned long long serial;
};

static void on_event(void *ctx, const struct kfs_git_event *ev)
{
	struct events *e = ctx;
	pthread_mutex_lock(&e->lock);
	switch (ev->kind) {
	case KFS_GIT_PUSHED:
		e->pushed_true++;
		break;
	case KFS_GIT_PUSH_FAILED:
		e->pushed_false++;
		snprintf(e->reason, sizeof(e->reason), "%s", ev->reason);
		break;
	case KFS_GIT_RETRY_COMMITTED:
	case KFS_GIT_RETRY_FAILED:
		e->kind = ev->key.kind;
		snprintf(e->ns, sizeof(e->ns), "%s", ev->key.ns ? ev->key.ns : "");
		snprintf(e->name, sizeof(e->name), "%s", ev->key.name);
		e->serial = ev->serial;
		if (ev->kind == KFS_GIT_RETRY_COMMITTED) {
			e->committed++;
			snprintf(e->commit, sizeof(e->commit), "%s", ev->commit);
		} else {
			snprintf(e->reason, sizeof(e->reason), "%s", ev->reason);
		}
		break;
	}
	pthread_mutex_unlock(&e->lock);
}

static struct kfs_git *open_pushing_backoff(const char *repo, const char *remote,
					    struct events *ev, unsigned min_ms, unsigned max_ms)
{
	struct kfs_git *g;
	struct kfs_error err = {0};
	struct kfs_git_options o = {.repo = repo,
				    .remote = remote,
				    .backoff_min_ms = min_ms,
				    .backoff_max_ms = max_ms,
				    .on_event = on_event,
				    .ctx = ev};
	if (kfs_git_open(&o, &g, &err) != 0)
		fail_msg("%s", err.msg);
	return g;
}

static struct kfs_git *open_pushing(const char *repo, const char *remote, struct events *ev)
{
	return open_pushing_backoff(repo, remote, ev, 20, 100);
}

static void put(struct kfs_git *g, const struct kfs_destinations *d, const char *name,
		const char *data)
{
	struct kfs_output o = {"p", "r.yaml", (char *)data, strlen(data)};
	struct kfs_git_render r = {.type = KFS_WF_RESOURCE,
				   .promise = "pg",
				   .request = name,
				   .outputs = &o,
				   .noutputs = 1};
	struct kfs_git_work w;
	struct kfs_git_result res;
	struct kfs_error err = {0};
	if (kfs_git_work_build(d, &r, &w, NULL, &err) || kfs_git_commit(g, &w, 1, &res, &err))
		fail_msg("%s", err.msg);
	kfs_git_work_free(&w);
}

/* Two writers with their own repositories, both pushing to one bare remote. */
struct two_writers {
	char *dir;
	char remote[512];
	struct events ea, eb;
	struct kfs_git *a, *b;
};

static void two_writers_open(struct two_writers *t)
{
	char ra[600], rb[600];
	memset(t, 0, sizeof(*t));
	t->dir = tu_mkdtemp();
	pthread_mutex_init(&t->ea.lock, NULL);
	pthread_mutex_init(&t->eb.lock, NULL);
	snprintf(t->remote, sizeof(t->remote), "%s/remote.git", t->dir);
	snprintf(ra, sizeof(ra), "%s/a.git", t->dir);
	snprintf(rb, sizeof(rb), "%s/b.git", t->dir);
	free(tu_sh("git init -q --bare -b main %s", t->remote));
	t->a = open_pushing(ra, t->remote, &t->ea);
	t->b = open_pushing(rb, t->remote, &t->eb);
}

static void two_writers_close(struct two_writers *t)
{
	kfs_git_close(t->a);
	kfs_git_close(t->b);
	pthread_mutex_destroy(&t->ea.lock);
	pthread_mutex_destroy(&t->eb.lock);
	tu_rmdir(t->dir);
}

static void test_push_and_rejected_push(void **state)
{
	(void)state;
	struct two_writers t;
	struct kfs_destinations d;
	struct kfs_error err = {0};
	two_writers_open(&t);
	assert_int_equal(kfs_destinations_load(NULL, &d, &err), 0);
	put(t.a, &d, "from-a", "a: 1\n");
	if (kfs_git_push_wait(t.a, 10000) != 0)
		fail_msg("push: %s", t.ea.reason);
	char *ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main", t.remote);
	assert_string_equal(ls, "default/resources/default/pg/from-a/p/5058f/r.yaml\n");
	free(ls);
	pthread_mutex_lock(&t.ea.lock); /* the Git thread reports through the same events */
	int pushed = t.ea.pushed_true;
	pthread_mutex_unlock(&t.ea.lock);
	assert_true(pushed >= 1);

	/* b's history does not contain a's commit: its push is rejected, so it fetches,
	 * re-applies its own paths on a's head and pushes again. */
	put(t.b, &d, "from-b", "b: 1\n");
	assert_int_equal(kfs_git_push_wait(t.b, 10000), 0);
	put(t.a, &d, "from-a", "a: 2\n");
	assert_int_equal(kfs_git_push_wait(t.a, 10000), 0);
	ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main", t.remote);
	assert_string_equal(ls, "default/resources/default/pg/from-a/p/5058f/r.yaml\n"
				"default/resources/default/pg/from-b/p/5058f/r.yaml\n");
	free(ls);
	char *v =
	    tu_sh("git --git-dir=%s show main:default/resources/default/pg/from-a/p/5058f/r.yaml",
	       t.remote);
	assert_string_equal(v, "a: 2\n");
	free(v);
	char *log = tu_sh("git --git-dir=%s log --format=%%s main", t.remote);
	char wa[256], wb[256], want[1024];
	kratix_wp(wa, sizeof(wa), "pg", "from-a", "default", "p", "default", ".");
	kratix_wp(wb, sizeof(wb), "pg", "from-b", "default", "p", "default", ".");
	snprintf(want, sizeof(want), "Update from: %s\nUpdate from: %s\nUpdate from: %s\n", wa, wb,
		 wa);
	assert_string_equal(log, want);
	free(log);
	free(tu_sh("git --git-dir=%s fsck --strict 2>&1", t.remote));
	free(tu_sh("git clone -q %s %s/clone && test -f "
		"%s/clone/default/resources/default/pg/from-b/p/5058f/r.yaml",
		t.remote, t.dir, t.dir));
	/* The local branch follows the remote: both writers now agree. */
	char ha[41], hb[41];
	kfs_git_head(t.a, ha);
	char *rh = tu_sh("git --git-dir=%s rev-parse main | tr -d '\\n'", t.remote);
	assert_string_equal(ha, rh);
	free(rh);
	kfs_git_head(t.b, hb);
	assert_true(hb[0] != '\0');

	kfs_destinations_free(&d);
	two_writers_close(&t);
}

/* Two writers with their own repositories push to one remote, both into one aggregatedYAML
 * file: each re-applies only its own owners' parts on the other's, so neither loses the
 * other's parts, whatever the order. */
static void test_two_writers_share_an_aggregated_file(void **state)
{
	(void)state;
	struct two_writers t;
	struct kfs_destinations d;
	two_writers_open(&t);
	dests(MODE_DESTS, &d); /* a request goes to "agg", the first by name */
	put(t.a, &d, "from-a", "a: 1\n");
	assert_int_equal(kfs_git_push_wait(t.a, 10000), 0);
	put(t.b, &d, "from-b", "b: 1\n");
	assert_int_equal(kfs_git_push_wait(t.b, 10000), 0); /* rejected, re-applied on a's */
	put(t.a, &d, "from-a", "a: 2\n");
	put(t.a, &d, "from-a2", "a2: 1\n");
	assert_int_equal(kfs_git_push_wait(t.a, 10000), 0); /* a re-applies on b's */
	char *agg = tu_sh("git --git-dir=%s show main:agg/aggregated.yaml | grep -v '^#'", t.remote);
	assert_string_equal(agg, "a: 2\n\n---\na2: 1\n\n---\nb: 1\n");
	free(agg);
	/* b deletes its request: its part goes, a's stay. */
	struct kfs_git_render r = {.type = KFS_WF_RESOURCE, .promise = "pg", .request = "from-b",
				   .delete = true};
	struct kfs_git_work w;
	struct kfs_git_result res;
	struct kfs_error err = {0};
	assert_int_equal(kfs_git_work_build(&d, &r, &w, NULL, &err), 0);
	assert_int_equal(kfs_git_commit(t.b, &w, 1, &res, &err), 0);
	kfs_git_work_free(&w);
	assert_int_equal(kfs_git_push_wait(t.b, 10000), 0);
	agg = tu_sh("git --git-dir=%s show main:agg/aggregated.yaml | grep -v '^#'", t.remote);
	assert_string_equal(agg, "a: 2\n\n---\na2: 1\n");
	free(agg);
	/* Every commit's line is there (a's last two may be re-applied as one commit). */
	char *log = tu_sh("git --git-dir=%s log --format=%%B main | grep . | sort", t.remote);
	char wa[256], wa2[256], wb[256], want[1500];
	kratix_wp(wa, sizeof(wa), "pg", "from-a", "default", "p", "agg", ".");
	kratix_wp(wa2, sizeof(wa2), "pg", "from-a2", "default", "p", "agg", ".");
	kratix_wp(wb, sizeof(wb), "pg", "from-b", "default", "p", "agg", ".");
	snprintf(want, sizeof(want),
		 "Delete from: %s\nUpdate from: %s\nUpdate from: %s\nUpdate from: %s\n"
		 "Update from: %s\n",
		 wb, wa, wa, wa2, wb);
	assert_string_equal(log, want);
	free(log);
	free(tu_sh("git --git-dir=%s fsck --strict 2>&1", t.remote));
	kfs_destinations_free(&d);
	two_writers_close(&t);
}

/* An HTTP(S) server that refuses the URL's user and token, or wants some: said plainly. */
static void test_http_credentials_refused(void **state)
{
	(void)state;
	struct kfs_ssh_auth a = {.remote = "https://host/org/state.git"};
	git_credential *cred = NULL;
	git_libgit2_init();
	assert_int_equal(kfs_ssh_credentials_cb(&cred, "https://host/org/state.git", NULL,
						GIT_CREDENTIAL_USERPASS_PLAINTEXT, &a),
			 GIT_EAUTH);
	assert_contains(git_error_last()->message, "the server asks for a user and token: write "
						   "them in the URL, as https://user:token@host");
	assert_int_equal(kfs_ssh_credentials_cb(&cred, "https://me:t0k@host/org/state.git", "me",
						GIT_CREDENTIAL_USERPASS_PLAINTEXT, &a),
			 GIT_EAUTH);
	assert_contains(git_error_last()->message, "the server refused the user and token in the URL");
	assert_int_equal(kfs_ssh_credentials_cb(&cred, "HTTPS://me:t0k@host/org/state.git", "me",
						GIT_CREDENTIAL_USERPASS_PLAINTEXT, &a),
			 GIT_EAUTH); /* libgit2 takes the scheme in any case */
	assert_null(cred);
	/* An SSH server that takes passwords too: keys are offered (none here), never the
	 * HTTP answer. */
	char *home = tu_mkdtemp();
	char *real_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	char *real_agent = getenv("SSH_AUTH_SOCK") ? strdup(getenv("SSH_AUTH_SOCK")) : NULL;
	setenv("HOME", home, 1);
	unsetenv("SSH_AUTH_SOCK");
	a.remote = "ssh://git@host/org/state.git";
	assert_int_equal(kfs_ssh_credentials_cb(&cred, a.remote, "git",
						GIT_CREDENTIAL_USERPASS_PLAINTEXT |
						    GIT_CREDENTIAL_SSH_KEY,
						&a),
			 GIT_EAUTH);
	assert_contains(git_error_last()->message, "no SSH key was accepted");
	if (real_home)
		setenv("HOME", real_home, 1);
	if (real_agent)
		setenv("SSH_AUTH_SOCK", real_agent, 1);
	free(real_home);
	free(real_agent);
	tu_rmdir(home);
	git_libgit2_shutdown();
}

static void test_failing_remote_then_recovers(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char remote[512], repo[512];
	struct kfs_destinations d;
	struct kfs_error err = {0};
	struct events ev = {.lock = PTHREAD_MUTEX_INITIALIZER};
	snprintf(remote, sizeof(remote), "%s/missing.git", dir);
	snprintf(repo, sizeof(repo), "%s/local.git", dir);
	assert_int_equal(kfs_destinations_load(NULL, &d, &err), 0);
	struct kfs_git *g = open_pushing(repo, remote, &ev);
	/* The commit returns at once even though the remote is not there. */
	put(g, &d, "r1", "x: 1\n");
	assert_int_equal(kfs_git_push_wait(g, 300), -ETIMEDOUT);
	pthread_mutex_lock(&ev.lock);
	assert_true(ev.pushed_false >= 1);
	assert_contains(ev.reason, "missing.git");
	pthread_mutex_unlock(&ev.lock);

	free(tu_sh("git init -q --bare -b main %s", remote));
	kfs_git_push_now(g);
	assert_int_equal(kfs_git_push_wait(g, 10000), 0);
	pthread_mutex_lock(&ev.lock);
	assert_true(ev.pushed_true >= 1);
	pthread_mutex_unlock(&ev.lock);
	char *ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main", remote);
	assert_string_equal(ls, "default/resources/default/pg/r1/p/5058f/r.yaml\n");
	free(ls);
	kfs_git_close(g);
	kfs_destinations_free(&d);
	tu_rmdir(dir);
}

static void test_new_commit_cuts_a_long_backoff_short(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char remote[512], repo[512];
	struct kfs_destinations d;
	struct kfs_error err = {0};
	struct events ev = {.lock = PTHREAD_MUTEX_INITIALIZER};
	snprintf(remote, sizeof(remote), "%s/missing.git", dir);
	snprintf(repo, sizeof(repo), "%s/local.git", dir);
	assert_int_equal(kfs_destinations_load(NULL, &d, &err), 0);
	/* The first failure waits 20 s before the next attempt. */
	struct kfs_git *g = open_pushing_backoff(repo, remote, &ev, 20000, 20000);
	put(g, &d, "r1", "x: 1\n");
	int failed = 0;
	for (int i = 0; i < 250 && !failed; i++) {
		usleep(20000);
		pthread_mutex_lock(&ev.lock);
		failed = ev.pushed_false;
		pthread_mutex_unlock(&ev.lock);
	}
	assert_true(failed >= 1);
	/* The remote comes back, then a new commit: pushed within about a second, not 20. */
	free(tu_sh("git init -q --bare -b main %s", remote));
	put(g, &d, "r2", "x: 2\n");
	assert_int_equal(kfs_git_push_wait(g, 5000), 0);
	char *ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main | grep -c r.yaml", remote);
	assert_int_equal(atoi(ls), 2);
	free(ls);
	kfs_git_close(g);
	kfs_destinations_free(&d);
	tu_rmdir(dir);
}

/* A git:// server that hangs up in the middle of every push: it answers the request with the
 * ref list of an empty repository, then resets the connection while the client sends. */
struct hangup_server {
	int fd;
	pthread_t thread;
};

static void *hangup_serve(void *arg)
{
	struct hangup_server *s = arg;
	static const char adv[] = "0000000000000000000000000000000000000000 capabilities^{}";
	static const char caps[] = "report-status ofs-delta\n";
	char pkt[128], in[1024];
	size_t n = sizeof(adv) + sizeof(caps) - 1; /* adv's NUL separates it from caps */
	snprintf(pkt, sizeof(pkt), "%04zx", n + 4);
	memcpy(pkt + 4, adv, sizeof(adv));
	memcpy(pkt + 4 + sizeof(adv), caps, sizeof(caps) - 1);
	memcpy(pkt + 4 + n, "0000", 4);
	for (;;) {
		int c = accept(s->fd, NULL, NULL);
		if (c < 0)
			return NULL; /* the listening socket was shut down */
		if (read(c, in, sizeof(in)) > 0 && write(c, pkt, n + 8) == (ssize_t)(n + 8)) {
			struct linger reset = {.l_onoff = 1, .l_linger = 0};
			setsockopt(c, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
		}
		close(c);
	}
}

static void test_remote_hanging_up_mid_push(void **state)
{
	(void)state;
	/* The default disposition, a daemon's outside libfuse's loop: SIGPIPE kills. */
	signal(SIGPIPE, SIG_DFL);
	struct hangup_server srv = {.fd = socket(AF_INET, SOCK_STREAM, 0)};
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	assert_int_equal(bind(srv.fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(srv.fd, 8), 0);
	assert_int_equal(getsockname(srv.fd, (struct sockaddr *)&a, &alen), 0);
	assert_int_equal(pthread_create(&srv.thread, NULL, hangup_serve, &srv), 0);

	char *dir = tu_mkdtemp();
	char remote[128], repo[512];
	struct kfs_destinations d;
	struct kfs_error err = {0};
	struct events ev = {.lock = PTHREAD_MUTEX_INITIALIZER};
	snprintf(remote, sizeof(remote), "git://127.0.0.1:%d/state.git", ntohs(a.sin_port));
	snprintf(repo, sizeof(repo), "%s/local.git", dir);
	assert_int_equal(kfs_destinations_load(NULL, &d, &err), 0);
	struct kfs_git *g = open_pushing(repo, remote, &ev);
	put(g, &d, "r1", "x: 1\n");
	/* Several attempts, each cut off while the pack is sent: each one fails, and we live. */
	int failed = 0;
	for (int i = 0; i < 500 && failed < 3; i++) {
		usleep(10000);
		pthread_mutex_lock(&ev.lock);
		failed = ev.pushed_false;
		pthread_mutex_unlock(&ev.lock);
	}
	assert_true(failed >= 3);
	pthread_mutex_lock(&ev.lock);
	assert_int_equal(ev.pushed_true, 0);
	assert_true(ev.reason[0] != '\0');
	pthread_mutex_unlock(&ev.lock);
	kfs_git_close(g);
	shutdown(srv.fd, SHUT_RDWR);
	pthread_join(srv.thread, NULL);
	close(srv.fd);
	kfs_destinations_free(&d);
	tu_rmdir(dir);
}

/* A repository whose branch another git process has locked, after request "first" was
 * committed; request "second" (work serial 42) then failed to commit and waits for a retry. */
struct locked {
	char *dir;
	char repo[512], lock[600];
	struct kfs_destinations d;
	struct events ev;
	struct kfs_git *g;
	struct kfs_git_render second;
	struct kfs_output second_out;
	struct kfs_error err; /* why second failed */
};

static void locked_open(struct locked *l)
{
	memset(l, 0, sizeof(*l));
	l->dir = tu_mkdtemp();
	pthread_mutex_init(&l->ev.lock, NULL);
	snprintf(l->repo, sizeof(l->repo), "%s/state.git", l->dir);
	assert_int_equal(kfs_destinations_load(NULL, &l->d, &l->err), 0);
	l->g = open_pushing(l->repo, NULL, &l->ev);
	put(l->g, &l->d, "first", "x: 1\n");
	snprintf(l->lock, sizeof(l->lock), "%s/refs/heads/main.lock", l->repo);
	FILE *fp = fopen(l->lock, "w");
	assert_non_null(fp);
	fclose(fp);
	l->second_out = (struct kfs_output){"p", "r.yaml", "y: 1\n", 5};
	l->second = (struct kfs_git_render){.type = KFS_WF_RESOURCE,
					    .promise = "pg",
					    .request = "second",
					    .outputs = &l->second_out,
					    .noutputs = 1};
	struct kfs_git_work w;
	struct kfs_git_result res;
	assert_int_equal(kfs_git_work_build(&l->d, &l->second, &w, NULL, &l->err), 0);
	w.serial = 42;
	assert_int_equal(kfs_git_commit(l->g, &w, 1, &res, &l->err), -EIO);
	kfs_git_work_free(&w);
}

static void locked_close(struct locked *l)
{
	kfs_git_close(l->g);
	kfs_destinations_free(&l->d);
	pthread_mutex_destroy(&l->ev.lock);
	tu_rmdir(l->dir);
}

static int committed(struct locked *l)
{
	pthread_mutex_lock(&l->ev.lock);
	int n = l->ev.committed;
	pthread_mutex_unlock(&l->ev.lock);
	return n;
}

static void test_locked_repository_retried(void **state)
{
	(void)state;
	struct locked l;
	locked_open(&l);
	assert_contains(l.err.msg, l.repo);
	assert_contains(l.err.msg, "locked");
	assert_contains(l.err.msg, "retries");

	/* A lock a dead process left (old): removed, and the commit goes through at once. */
	free(tu_sh("touch -d '-1 minute' %s", l.lock));
	put(l.g, &l.d, "third", "z: 1\n");
	assert_int_equal(access(l.lock, F_OK), -1);
	/* Which also lets the background thread commit the work that failed. */
	for (int i = 0; i < 200 && !committed(&l); i++)
		usleep(20000);
	assert_int_equal(committed(&l), 1);
	/* The retry says whose work, and which version of it, it committed. */
	assert_int_equal(l.ev.kind, KFS_GIT_REQUEST);
	assert_string_equal(l.ev.ns, "default");
	assert_string_equal(l.ev.name, "second");
	assert_int_equal(l.ev.serial, 42);
	/* The retry and the third commit may come in either order: the branch has all three. */
	char *ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main", l.repo);
	assert_string_equal(ls, "default/resources/default/pg/first/p/5058f/r.yaml\n"
				"default/resources/default/pg/second/p/5058f/r.yaml\n"
				"default/resources/default/pg/third/p/5058f/r.yaml\n");
	free(ls);
	locked_close(&l);
}

/* A failed work whose owner has nothing newer to commit (invalid selectors) is forgotten: the
 * retry never lands it. A failed Delete is not: the removed request's files must still go. */
static void test_forgotten_work_is_not_retried(void **state)
{
	(void)state;
	struct locked l;
	locked_open(&l);
	struct kfs_git_key owner = kfs_git_key_of(&l.second);
	kfs_git_forget(l.g, &owner);
	struct kfs_git_render gone = {
	    .type = KFS_WF_RESOURCE, .promise = "pg", .request = "first", .delete = true};
	struct kfs_git_work w;
	struct kfs_git_result res;
	assert_int_equal(kfs_git_work_build(&l.d, &gone, &w, NULL, &l.err), 0);
	assert_int_equal(kfs_git_commit(l.g, &w, 1, &res, &l.err), -EIO);
	kfs_git_work_free(&w);
	owner = kfs_git_key_of(&gone);
	kfs_git_forget(l.g, &owner);
	unlink(l.lock);
	put(l.g, &l.d, "third", "z: 1\n"); /* the retries follow this commit */
	for (int i = 0; i < 200 && !committed(&l); i++)
		usleep(20000);
	usleep(300000);
	assert_int_equal(committed(&l), 1); /* the Delete, and nothing of second */
	char *ls = tu_sh("git --git-dir=%s ls-tree -r --name-only main", l.repo);
	assert_string_equal(ls, "default/resources/default/pg/third/p/5058f/r.yaml\n");
	free(ls);
	locked_close(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_push_and_rejected_push),
	    cmocka_unit_test(test_two_writers_share_an_aggregated_file),
	    cmocka_unit_test(test_http_credentials_refused),
	    cmocka_unit_test(test_failing_remote_then_recovers),
	    cmocka_unit_test(test_remote_hanging_up_mid_push),
	    cmocka_unit_test(test_new_commit_cuts_a_long_backoff_short),
	    cmocka_unit_test(test_locked_repository_retried),
	    cmocka_unit_test(test_forgotten_work_is_not_retried),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
