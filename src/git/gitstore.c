/* The libgit2 writer: its background thread, open and close (the rest: git_writer.h).
 *
 * Threads and locks of the Git layer:
 *   - callers of kfs_git_commit / kfs_git_sink (the store's writers, any number): they queue
 *     under qlock; the first one finding nobody committing becomes the committer, drops qlock,
 *     commits every queued request under rlock, then takes qlock again to mark them done.
 *   - the background thread (one, started by kfs_git_open): waits on qcond under qlock; after a
 *     commit or kfs_git_push_now it retries failed commits (under rlock) and pushes (the
 *     network on a second repository handle, rlock only to read and move the branch), backing
 *     off while they fail.
 *   - rlock guards the repository handle, its object database (gitodb.c) and the retry list;
 *     qlock guards the commit queue and the thread's state (dirty, force, stop, pushed). Both
 *     are leaves of the daemon's lock order (src/store/store_internal.h): never held together,
 *     and neither is held while taking any lock outside this layer.
 *   - on_event runs on the background thread with neither rlock nor qlock held; the store's
 *     handler only queues the event (its git_lock), so this thread never waits for a request's
 *     lock. */
#include "kratixfs/gitstore.h"

#include <errno.h>
#include <git2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include "kratixfs/buf.h"
#include "kratixfs/files.h"
#include "gitodb.h"
#include "git_error.h"
#include "git_writer.h"

/* While pushes fail, a new commit makes the next attempt come at most this long after it. */
#define RETRY_SOON_MS 1000

static void deadline_after(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Retries failed commits, oldest first, under rlock so that no newer commit of the same owner
 * can slip in between; stops at the first failure. Reports each through on_event. */
static bool retry_commits(struct kfs_git *g)
{
	struct kfs_git_event *evs = NULL;
	size_t nevs = 0;
	bool failed = false;

	pthread_mutex_lock(&g->rlock);
	while (g->nretry > 0 && !failed) {
		struct kfs_git_work w = g->retry[0];
		memmove(g->retry, g->retry + 1, (g->nretry - 1) * sizeof(*g->retry));
		g->nretry--;
		struct kfs_git_result res = {0};
		struct req r = {.works = &w, .n = 1, .res = &res};
		struct req *rp = &r;
		kfs_gitw_commit_reqs(g, &rp, 1); /* a failure puts the work back */
		failed = r.rc != 0;
		evs = kfs_xrealloc(evs, (nevs + 1) * sizeof(*evs));
		struct kfs_git_event *e = &evs[nevs++];
		memset(e, 0, sizeof(*e));
		e->kind = failed ? KFS_GIT_RETRY_FAILED : KFS_GIT_RETRY_COMMITTED;
		kfs_git_key_copy(&e->key, &w.key);
		e->serial = w.serial;
		if (!failed)
			snprintf(e->commit, sizeof(e->commit), "%s", res.commit);
		e->reason = failed ? kfs_xstrdup(r.err.msg) : NULL;
		kfs_git_work_free(&w);
	}
	pthread_mutex_unlock(&g->rlock);

	for (size_t i = 0; i < nevs; i++) {
		if (g->opts.on_event)
			g->opts.on_event(g->opts.ctx, &evs[i]);
		kfs_git_key_free(&evs[i].key);
		free((char *)evs[i].reason);
	}
	free(evs);
	return failed;
}

static void *background(void *arg)
{
	struct kfs_git *g = arg;
	unsigned min = g->opts.backoff_min_ms ? g->opts.backoff_min_ms : 200;
	unsigned max = g->opts.backoff_max_ms ? g->opts.backoff_max_ms : 30000;
	unsigned delay = 0; /* 0: no failure pending */

	/* libgit2 and libssh2 write to sockets without MSG_NOSIGNAL: a remote that hangs up in
	 * the middle of a push would kill the whole process with SIGPIPE, silently. Blocked in
	 * this thread, the only one that talks to remotes, the write fails with EPIPE instead
	 * and the push is retried; the signal stays pending in this thread, harmless. */
	sigset_t pipe_signal;
	sigemptyset(&pipe_signal);
	sigaddset(&pipe_signal, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_signal, NULL);

	pthread_mutex_lock(&g->qlock);
	while (!g->stop) {
		if (!g->dirty && !g->force && delay == 0) {
			pthread_cond_wait(&g->qcond, &g->qlock);
			continue;
		}
		if (delay && !g->force) {
			struct timespec ts;
			deadline_after(&ts, delay);
			int w = 0;
			bool soon = false;
			while (!g->stop && !g->force && w != ETIMEDOUT) {
				/* A new commit while pushes fail: try again within RETRY_SOON_MS,
				 * so a remote that is back gets it, not a full backoff later. */
				if (g->dirty && !soon && delay > RETRY_SOON_MS) {
					struct timespec t;
					deadline_after(&t, RETRY_SOON_MS);
					if (t.tv_sec < ts.tv_sec ||
					    (t.tv_sec == ts.tv_sec && t.tv_nsec < ts.tv_nsec))
						ts = t;
					soon = true;
				}
				w = pthread_cond_timedwait(&g->qcond, &g->qlock, &ts);
			}
			if (g->stop)
				break;
		}
		g->dirty = g->force = false;
		pthread_mutex_unlock(&g->qlock);

		bool failed = retry_commits(g);
		char head[41] = "", reason[KFS_ERROR_MAX] = "";
		if (g->remote) {
			struct kfs_error err = {0};
			if (kfs_gitw_push_once(g, head, &err)) {
				failed = true;
				snprintf(reason, sizeof(reason), "%s", err.msg);
			}
			struct kfs_git_event e = {
			    .kind = reason[0] ? KFS_GIT_PUSH_FAILED : KFS_GIT_PUSHED,
			    .reason = reason[0] ? reason : NULL};
			if (!reason[0])
				snprintf(e.commit, sizeof(e.commit), "%s", head);
			if (g->opts.on_event)
				g->opts.on_event(g->opts.ctx, &e);
		}
		pthread_mutex_lock(&g->qlock);
		if (g->remote && !reason[0])
			snprintf(g->pushed, sizeof(g->pushed), "%s", head);
		pthread_cond_broadcast(&g->qcond);
		delay = failed ? (delay ? (delay * 2 > max ? max : delay * 2) : min) : 0;
	}
	pthread_mutex_unlock(&g->qlock);
	return NULL;
}

void kfs_git_push_now(struct kfs_git *g)
{
	pthread_mutex_lock(&g->qlock);
	kfs_gitw_wake_thread(g, true);
	pthread_mutex_unlock(&g->qlock);
}

int kfs_git_push_wait(struct kfs_git *g, unsigned timeout_ms)
{
	struct timespec ts;
	char head[41];
	int rc = 0;

	deadline_after(&ts, timeout_ms);
	pthread_mutex_lock(&g->qlock);
	for (;;) {
		pthread_mutex_unlock(&g->qlock);
		kfs_git_head(g, head);
		pthread_mutex_lock(&g->qlock);
		if (!g->remote || (head[0] && strcmp(head, g->pushed) == 0))
			break;
		if (rc == ETIMEDOUT) {
			rc = -ETIMEDOUT;
			break;
		}
		rc = pthread_cond_timedwait(&g->qcond, &g->qlock, &ts);
	}
	pthread_mutex_unlock(&g->qlock);
	return rc == -ETIMEDOUT ? rc : 0;
}

/* ---- open / close --------------------------------------------------------------------------- */

int kfs_git_open(const struct kfs_git_options *opts, struct kfs_git **out, struct kfs_error *err)
{
	const char *branch = opts->branch && *opts->branch ? opts->branch : "main";
	struct kfs_git *g = kfs_xcalloc(1, sizeof(*g));
	struct kfs_buf b = {0};
	int rc;

	git_libgit2_init();
	g->opts = *opts;
	g->path = kfs_xstrdup(opts->repo);
	g->remote = opts->remote && *opts->remote ? kfs_xstrdup(opts->remote) : NULL;
	g->opts.repo = g->path;
	g->opts.remote = g->remote;
	g->opts.branch = NULL;
	kfs_buf_printf(&b, "refs/heads/%s", branch);
	g->refname = kfs_buf_steal(&b);
	kfs_buf_printf(&b, "refs/remotes/kratixfs/%s", branch);
	g->tracking = kfs_buf_steal(&b);
	kfs_buf_free(&b);
	pthread_mutex_init(&g->rlock, NULL);
	pthread_mutex_init(&g->qlock, NULL);
	pthread_cond_init(&g->qcond, NULL);

	if (!git_reference_is_valid_name(g->refname)) {
		rc = kfs_error_set(err, -EINVAL, "git_branch=%s: not a valid branch name", branch);
		goto fail;
	}
	rc = git_repository_open_bare(&g->repo, g->path);
	if (rc == GIT_ENOTFOUND) {
		/* A repository kratixfs creates holds every request's outputs (secrets among
		 * them): its owner's alone. An existing folder keeps the mode it has. */
		struct stat st;
		if (stat(g->path, &st) < 0 && errno == ENOENT) {
			struct kfs_error merr = {0};
			if (kfs_mkdir_p(g->path, &merr) == 0)
				chmod(g->path, 0700);
		}
		git_repository_init_options io;
		git_repository_init_options_init(&io, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
		io.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
		io.initial_head = branch;
		rc = git_repository_init_ext(&g->repo, g->path, &io);
	}
	if (rc) {
		rc = git_fail(err, "opening or creating the bare repository", g->path);
		goto fail;
	}
	rc = kfs_gitodb_attach(g->repo, &g->odb, err);
	if (rc)
		goto fail;
	if (pthread_create(&g->thread, NULL, background, g) != 0) {
		rc = kfs_error_set(err, -EAGAIN, "git %s: cannot start the push thread", g->path);
		goto fail;
	}
	g->thread_started = true;
	if (g->remote)
		kfs_git_push_now(g);
	*out = g;
	return 0;
fail:
	kfs_git_close(g);
	return rc;
}

void kfs_git_close(struct kfs_git *g)
{
	if (!g)
		return;
	if (g->thread_started) {
		pthread_mutex_lock(&g->qlock);
		g->stop = true;
		pthread_cond_broadcast(&g->qcond);
		pthread_mutex_unlock(&g->qlock);
		pthread_join(g->thread, NULL);
	}
	for (size_t i = 0; i < g->nretry; i++)
		kfs_git_work_free(&g->retry[i]);
	free(g->retry);
	kfs_gitodb_free(g->odb);
	git_repository_free(g->repo);
	pthread_cond_destroy(&g->qcond);
	pthread_mutex_destroy(&g->qlock);
	pthread_mutex_destroy(&g->rlock);
	free(g->path);
	free(g->remote);
	free(g->refname);
	free(g->tracking);
	free(g);
	git_libgit2_shutdown();
}

