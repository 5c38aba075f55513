/* The store's side of the Git sink: each published render is handed to the Git layer
 * (kfs_git_sink) before the writer's close() returns, and its outcome recorded in the request.
 * What the Git thread does later (a retried commit, a push) comes back as typed events that a
 * worker applies: a retried commit to its owner's status, a push to the one store-wide push
 * state, which each status reads when it is built (Pushed). So the Git thread never waits on a
 * request, and a push touches no request. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/doc.h"
#include "store_internal.h"

static void enqueue(struct kfs_store *s, struct git_event *e)
{
	pthread_mutex_lock(&s->git_lock);
	struct git_event **tail = &s->events;
	while (*tail)
		tail = &(*tail)->next;
	*tail = e;
	pthread_cond_signal(&s->events_cond);
	pthread_mutex_unlock(&s->git_lock);
}

void kfs_gitsync_on_event(void *ctx, const struct kfs_git_event *ev)
{
	struct git_event *e = kfs_xcalloc(1, sizeof(*e));
	e->ev = *ev;
	kfs_git_key_copy(&e->ev.key, &ev->key);
	e->ev.reason = kfs_xstrdup(ev->reason ? ev->reason : "");
	enqueue(ctx, e);
}

static void event_free(struct git_event *e)
{
	kfs_git_key_free(&e->ev.key);
	free((char *)e->ev.reason);
	free(e);
}

void kfs_gitsync_push_state(struct kfs_store *s, struct kfs_push_state *out)
{
	memset(out, 0, sizeof(*out));
	out->pushing = s->git && s->pushing;
	if (!s->git) {
		out->stamp = __atomic_load_n(&s->push_stamp, __ATOMIC_ACQUIRE);
		return;
	}
	pthread_mutex_lock(&s->git_lock);
	out->commit_seq = s->commit_seq;
	out->pushed_seq = s->pushed_seq;
	snprintf(out->pushed_head, sizeof(out->pushed_head), "%s", s->pushed_head);
	out->failed = s->push_error != NULL;
	snprintf(out->error, sizeof(out->error), "%s", s->push_error ? s->push_error : "");
	memcpy(out->time, s->push_time, sizeof(out->time));
	out->stamp = s->push_stamp;
	pthread_mutex_unlock(&s->git_lock);
}

/* Records a new commit's place in the order of commits (git_lock not held). One number per
 * commit: a group commit is recorded once per request, and other commits may be numbered between
 * those records, so a commit already in recent[] keeps its number. */
static unsigned long long note_commit(struct kfs_store *s, const char *hex, bool changed)
{
	const size_t n = sizeof(s->recent) / sizeof(s->recent[0]);
	pthread_mutex_lock(&s->git_lock);
	unsigned long long seq = 0;
	for (size_t i = 0; i < n; i++)
		if (s->recent[i].seq > seq && strcmp(s->recent[i].hex, hex) == 0)
			seq = s->recent[i].seq;
	if (!seq && changed) {
		seq = ++s->commit_seq;
		snprintf(s->recent[seq % n].hex, sizeof(s->recent[seq % n].hex), "%s", hex);
		s->recent[seq % n].seq = seq;
	} else if (!seq) {
		seq = s->commit_seq; /* too old to be known: pushed once the newest commit is */
	}
	pthread_mutex_unlock(&s->git_lock);
	return seq;
}

/* Whether r's commit is on the remote: numbered at or below the last pushed one, or the very
 * head a push left there (a push may land before its commit is numbered). */
static bool is_pushed(const struct request *r, const struct kfs_push_state *ps)
{
	return r->commit_seq <= ps->pushed_seq || strcmp(r->commit, ps->pushed_head) == 0;
}

uint64_t kfs_gitsync_pushed(struct kfs_store *s, struct request *r)
{
	struct kfs_push_state ps;
	kfs_gitsync_push_state(s, &ps);
	if (!ps.pushing || !r->commit[0]) {
		/* No commit (none yet, or a damaged state folder lost it): nothing to say pushed. */
		kfs_conds_remove(&r->conds, "Pushed");
		return ps.stamp;
	}
	/* Pushed or failed: it changed when that push ended; pending: at its commit, now. */
	char now[32];
	kfs_now_rfc3339(now);
	const char *when = ps.time[0] ? ps.time : now;
	if (is_pushed(r, &ps))
		kfs_conds_set(&r->conds, "Pushed", "True", "Pushed", "", when);
	else if (ps.failed)
		kfs_conds_set(&r->conds, "Pushed", "False", "PushFailed", ps.error, when);
	else
		kfs_conds_set(&r->conds, "Pushed", "False", "PushPending",
			      "waiting for the next push", now);
	return ps.stamp;
}

static void handle_push(struct kfs_store *s, const struct git_event *e)
{
	unsigned long long before;
	pthread_mutex_lock(&s->git_lock);
	before = s->commit_seq;
	pthread_mutex_unlock(&s->git_lock);
	char head[41];
	kfs_git_head(s->git, head);
	const struct kfs_git_event *ev = &e->ev;
	bool ok = ev->kind == KFS_GIT_PUSHED;
	pthread_mutex_lock(&s->git_lock);
	if (ok) {
		unsigned long long seq = 0;
		for (size_t i = 0; i < sizeof(s->recent) / sizeof(s->recent[0]); i++)
			if (strcmp(s->recent[i].hex, ev->commit) == 0 && s->recent[i].seq > seq)
				seq = s->recent[i].seq;
		/* A pushed head that is the local head holds every commit made before we looked;
		 * one rebuilt on a diverged remote is not in recent[] but is that head. */
		if (!seq && strcmp(head, ev->commit) == 0)
			seq = before;
		if (seq > s->pushed_seq)
			s->pushed_seq = seq;
		snprintf(s->pushed_head, sizeof(s->pushed_head), "%s", ev->commit);
		free(s->push_error);
		s->push_error = NULL;
	} else {
		free(s->push_error);
		s->push_error = kfs_xstrdup(ev->reason[0] ? ev->reason : "push failed");
	}
	/* One store-wide value: each request's status reads it when it is next built. */
	kfs_now_rfc3339(s->push_time);
	__atomic_add_fetch(&s->push_stamp, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&s->git_lock);
	if (ok)
		kfs_store_log(s, KFS_LOG_INFO, "push head=%.12s result=ok", ev->commit);
	else
		kfs_store_log_error(s, KFS_LOG_WARN, ev->reason, "push result=failed");
}

/* Records the outcome of r's last render in r (write_lock held): its commit, Committed
 * condition and phase. A request none of whose files has a destination (!o->placed) is not
 * committed, whatever the commit did (it may have removed the files of an earlier render). */
static void record(struct kfs_store *s, struct request *r, const struct kfs_git_outcome *o)
{
	if (o->kind == KFS_GIT_FAILED) {
		kfs_store_set_condition(r, "Committed", "False", "CommitFailed", o->err.msg);
		if (r->phase == COMMITTED) /* recovered from the state folder as it was */
			r->phase = RENDERED;
		return;
	}
	if (!o->placed) {
		r->commit[0] = '\0';
		r->commit_seq = 0;
		kfs_store_set_condition(r, "Committed", "False", "NoMatchingDestination",
					"no destination takes any of its files: nothing is committed");
		if (s->pushing)
			kfs_store_set_condition(r, "Pushed", "False", "NoMatchingDestination",
						"nothing to push");
		if (r->phase == COMMITTED)
			r->phase = RENDERED;
		return;
	}
	bool changed = o->kind == KFS_GIT_COMMITTED;
	bool renew = changed || !r->commit[0] || !o->commit[0];
	if (renew)
		snprintf(r->commit, sizeof(r->commit), "%s", o->commit);
	/* A commit recovered from the state folder has no place in this run's order yet. */
	if (renew || !r->commit_seq)
		r->commit_seq = note_commit(s, o->commit, changed);
	kfs_store_set_condition(r, "Committed", "True", "Committed", "");
	if (r->phase == RENDERED)
		r->phase = COMMITTED;
	/* The Pushed condition is set when the status is built (kfs_gitsync_pushed). */
}

static void handle_commit(struct kfs_store *s, const struct kfs_git_event *ev)
{
	/* Every retry that ends is logged, even one a newer work made moot: it is what happened
	 * to the Git store. */
	bool ok = ev->kind == KFS_GIT_RETRY_COMMITTED;
	bool promise = ev->key.kind == KFS_GIT_PROMISE;
	const char *what = promise ? "promise" : "request";
	if (ok)
		kfs_store_log(s, KFS_LOG_INFO, "commit-retry %s=%s commit=%.12s result=committed",
			      what, ev->key.name, ev->commit[0] ? ev->commit : "-");
	else
		kfs_store_log_error(s, KFS_LOG_WARN, ev->reason, "commit-retry %s=%s result=failed",
				    what, ev->key.name);
	if (promise) {
		kfs_store_promise_committed(s, ev->key.name, ev->serial, ok ? NULL : ev->reason);
		return;
	}
	struct request *r = kfs_store_request_get(s, ev->key.name);
	if (!r)
		return;
	pthread_mutex_lock(&r->write_lock);
	/* The outcome of an older render than r's last is stale: the last one's stands. */
	if (ev->serial == r->work_serial) {
		struct kfs_git_outcome o = {.kind = ok ? KFS_GIT_COMMITTED : KFS_GIT_FAILED,
					    .placed = r->placed};
		snprintf(o.commit, sizeof(o.commit), "%s", ev->commit);
		snprintf(o.err.msg, sizeof(o.err.msg), "%s", ev->reason);
		record(s, r, &o);
		kfs_store_publish(s, r, NULL);
		kfs_store_persist(s, r, NULL);
	}
	pthread_mutex_unlock(&r->write_lock);
	kfs_store_request_put(r);
}

static void *worker(void *arg)
{
	struct kfs_store *s = arg;
	pthread_mutex_lock(&s->git_lock);
	while (!s->stopping) {
		/* Not before the state folder is read back: the requests it brings are being
		 * rendered, and their records cannot be written yet. */
		if (!s->events || !s->recovered) {
			pthread_cond_wait(&s->events_cond, &s->git_lock);
			continue;
		}
		struct git_event *e = s->events;
		s->events = e->next;
		pthread_mutex_unlock(&s->git_lock);
		if (e->ev.kind == KFS_GIT_PUSHED || e->ev.kind == KFS_GIT_PUSH_FAILED)
			handle_push(s, e);
		else
			handle_commit(s, &e->ev);
		event_free(e);
		pthread_mutex_lock(&s->git_lock);
	}
	pthread_mutex_unlock(&s->git_lock);
	return NULL;
}

int kfs_gitsync_open(struct kfs_store *s, const struct kfs_store_options *o, struct kfs_error *err)
{
	pthread_mutex_init(&s->git_lock, NULL);
	pthread_cond_init(&s->events_cond, NULL);
	if (!o->git_repo)
		return 0;
	int rc = kfs_destinations_load(o->destinations, &s->dests, err);
	if (rc == 0)
		rc = kfs_destinations_check_branch(&s->dests, o->git_branch, o->destinations, err);
	if (rc < 0)
		return rc;
	struct kfs_git_options go = {
		.repo = o->git_repo,
		.branch = o->git_branch,
		.remote = o->git_push,
		.destinations = &s->dests,
		.on_event = kfs_gitsync_on_event,
		.ctx = s,
	};
	rc = kfs_git_open(&go, &s->git, err);
	if (rc < 0)
		return rc;
	s->pushing = o->git_push != NULL;
	/* The branch's history from before this run counts as commit 1: a request recovered with
	 * its commit says pushed only once a push shows that the remote has this head. */
	char head[41];
	kfs_git_head(s->git, head);
	if (head[0]) {
		s->commit_seq = 1;
		snprintf(s->recent[1].hex, sizeof(s->recent[1].hex), "%s", head);
		s->recent[1].seq = 1;
	}
	if (pthread_create(&s->worker, NULL, worker, s) != 0)
		return kfs_error_set(err, -EAGAIN, "cannot start the Git status thread");
	s->worker_started = true;
	return 0;
}

void kfs_gitsync_close(struct kfs_store *s)
{
	/* The worker calls libgit2 too: it must be gone before libgit2 shuts down, or its
	 * thread-local error state is never freed. Events the Git thread sends meanwhile are
	 * dropped below. */
	if (s->worker_started) {
		pthread_mutex_lock(&s->git_lock);
		s->stopping = true;
		pthread_cond_signal(&s->events_cond);
		pthread_mutex_unlock(&s->git_lock);
		pthread_join(s->worker, NULL);
	}
	if (s->git)
		kfs_git_close(s->git);
	s->git = NULL;
	while (s->events) {
		struct git_event *e = s->events;
		s->events = e->next;
		event_free(e);
	}
	for (size_t i = 0; i < s->nbatch; i++)
		kfs_git_work_free(&s->batch[i]);
	free(s->batch);
	free(s->batch_owners);
	free(s->batch_placed);
	free(s->push_error);
	kfs_destinations_free(&s->dests);
	pthread_mutex_destroy(&s->git_lock);
	pthread_cond_destroy(&s->events_cond);
}

/* While recovering, works wait for kfs_gitsync_flush; owner NULL is a promise's work. */
static void queue(struct kfs_store *s, struct kfs_git_work *work, struct request *owner,
		  bool placed)
{
	s->batch = kfs_xrealloc(s->batch, (s->nbatch + 1) * sizeof(*s->batch));
	s->batch_owners = kfs_xrealloc(s->batch_owners, (s->nbatch + 1) * sizeof(*s->batch_owners));
	s->batch_placed = kfs_xrealloc(s->batch_placed, (s->nbatch + 1) * sizeof(*s->batch_placed));
	s->batch[s->nbatch] = *work;
	s->batch_placed[s->nbatch] = placed;
	s->batch_owners[s->nbatch++] = owner;
}

/* Hands r's render to the Git layer: committed now, or queued for the start's one commit while
 * recovering (then o->kind is left UNCHANGED, and nothing is to be recorded yet). Returns
 * whether o holds an outcome to record. */
static bool sink_request(struct kfs_store *s, struct request *r, const struct kfs_promise *p,
			 const struct kfs_render_result *res, struct kfs_git_outcome *o)
{
	/* Scheduled by the promise's spec.destinationSelectors and the request's own
	 * destination-selectors only: Kratix never hands a promise workflow's selectors to its
	 * resources. */
	const struct kfs_workflow *wf =
		p ? &p->workflows[KFS_WF_RESOURCE][KFS_WF_CONFIGURE] : NULL;
	size_t np = wf ? wf->npipelines : 0;
	const char **pipelines = kfs_xcalloc(np ? np : 1, sizeof(*pipelines));
	for (size_t i = 0; i < np; i++)
		pipelines[i] = wf->pipelines[i].name;
	struct kfs_git_render gr = {
		.type = KFS_WF_RESOURCE,
		.promise = r->promise,
		.request = r->name,
		.ns = r->ns,
		.outputs = res ? res->outputs : NULL,
		.noutputs = res ? res->noutputs : 0,
		.promise_selectors = p ? kfs_node_at(p->doc, "spec.destinationSelectors") : NULL,
		.selectors = res ? res->selectors : NULL,
		.rpipelines = res ? res->pipelines : NULL,
		.nrpipelines = res ? res->npipelines : 0,
		.pipelines = pipelines,
		.npipelines = np,
		.delete = res == NULL,
	};
	/* A new serial even when no work comes of it: a retry of an older work is stale. */
	r->work_serial = __atomic_add_fetch(&s->work_serials, 1, __ATOMIC_RELAXED);
	bool now = true;
	if (s->recovering) {
		struct kfs_git_work work;
		if (kfs_git_prepare(s->git, &gr, r->work_serial, &work, o) == 0) {
			queue(s, &work, r, o->placed);
			now = false;
		}
	} else {
		struct timespec start;
		clock_gettime(CLOCK_MONOTONIC, &start);
		kfs_git_sink(s->git, &gr, r->work_serial, o);
		if (o->kind == KFS_GIT_FAILED)
			kfs_store_log_error(s, KFS_LOG_WARN, o->err.msg,
					    "commit request=%s result=failed duration=%.3fms",
					    r->name, kfs_store_elapsed_ms(&start));
		else if (o->kind != KFS_GIT_INVALID)
			kfs_store_log(s, KFS_LOG_INFO,
				      "commit request=%s commit=%.12s %s duration=%.3fms", r->name,
				      o->commit, o->kind == KFS_GIT_COMMITTED ? "changed" : "unchanged",
				      kfs_store_elapsed_ms(&start));
	}
	free(pipelines);
	return now;
}

void kfs_gitsync_request(struct kfs_store *s, struct request *r, const struct kfs_promise *p,
			 const struct kfs_render_result *res)
{
	if (!s->git || !r->name[0] || !r->promise)
		return;
	struct kfs_git_outcome o;
	bool now = sink_request(s, r, p, res, &o);
	if (o.kind == KFS_GIT_INVALID) {
		kfs_store_set_condition(r, "Committed", "False", "InvalidDestinationSelectors",
					o.err.msg);
		kfs_git_outcome_free(&o);
		return;
	}
	if (res) {
		if (o.unscheduled)
			kfs_store_set_condition(r, "Scheduled", "False", "NoMatchingDestination",
						o.unscheduled);
		else
			kfs_store_set_condition(r, "Scheduled", "True", "Scheduled", "");
	}
	r->placed = o.placed;
	if (now && res)
		record(s, r, &o);
	else if (now && o.kind != KFS_GIT_FAILED)
		r->commit[0] = '\0';
	kfs_git_outcome_free(&o);
}

void kfs_gitsync_keep(struct kfs_store *s, struct request *r)
{
	size_t n = 0;
	for (size_t i = 0; i < s->nbatch; i++) {
		if (s->batch_owners[i] == r) {
			kfs_git_work_free(&s->batch[i]);
			continue;
		}
		s->batch[n] = s->batch[i];
		s->batch_owners[n] = s->batch_owners[i];
		s->batch_placed[n++] = s->batch_placed[i];
	}
	s->nbatch = n;
	r->commit[0] = '\0';
	r->commit_seq = 0;
	kfs_store_set_condition(
	    r, "Committed", "False", "StateDamaged",
	    "its last change was lost from the damaged state folder: this older "
	    "render is not committed, and the Git store keeps the files it had; "
	    "write object.yaml again");
	if (r->phase == COMMITTED)
		r->phase = RENDERED;
}

void kfs_gitsync_flush(struct kfs_store *s)
{
	if (!s->git)
		return;
	struct kfs_git_outcome o = {.kind = KFS_GIT_UNCHANGED};
	if (s->nbatch)
		kfs_git_commit_outcome(s->git, s->batch, s->nbatch, &o);
	for (size_t i = 0; i < s->nbatch; i++) {
		struct request *r = s->batch_owners[i];
		if (r) {
			o.placed = s->batch_placed[i];
			record(s, r, &o);
			kfs_store_publish(s, r, NULL);
		}
		kfs_git_work_free(&s->batch[i]);
	}
	free(s->batch);
	free(s->batch_owners);
	free(s->batch_placed);
	s->batch = NULL;
	s->batch_owners = NULL;
	s->batch_placed = NULL;
	s->nbatch = 0;
	/* Only now: the records above are written without the requests' locks. */
	pthread_mutex_lock(&s->git_lock);
	s->recovered = true;
	pthread_cond_signal(&s->events_cond);
	pthread_mutex_unlock(&s->git_lock);
}

void kfs_gitsync_promise(struct kfs_store *s, struct promise_entry *e,
			 const struct kfs_render_result *res)
{
	if (!s->git || !e->p)
		return;
	const struct kfs_workflow *wf = &e->p->workflows[KFS_WF_PROMISE][KFS_WF_CONFIGURE];
	const char **pipelines = kfs_xcalloc(wf->npipelines ? wf->npipelines : 1, sizeof(*pipelines));
	for (size_t i = 0; i < wf->npipelines; i++)
		pipelines[i] = wf->pipelines[i].name;
	struct kfs_git_render gr = {
		.type = KFS_WF_PROMISE,
		.promise = e->p->name,
		.outputs = res->outputs,
		.noutputs = res->noutputs,
		.static_deps = e->p->dependencies,
		.promise_selectors = kfs_node_at(e->p->doc, "spec.destinationSelectors"),
		.selectors = res->selectors,
		.rpipelines = res->pipelines,
		.nrpipelines = res->npipelines,
		.pipelines = pipelines,
		.npipelines = wf->npipelines,
	};
	struct kfs_git_outcome o;
	e->work_serial = __atomic_add_fetch(&s->work_serials, 1, __ATOMIC_RELAXED);
	if (s->recovering) {
		/* Committed with the recovered requests, in the start's one commit. */
		struct kfs_git_work work;
		if (kfs_git_prepare(s->git, &gr, e->work_serial, &work, &o) == 0)
			queue(s, &work, NULL, true);
	} else {
		kfs_git_sink(s->git, &gr, e->work_serial, &o);
	}
	free(pipelines);
	free(e->unscheduled);
	e->unscheduled = o.unscheduled; /* taken from o */
	free(e->commit_error);
	bool failed = o.kind == KFS_GIT_FAILED || o.kind == KFS_GIT_INVALID;
	e->commit_error = failed ? kfs_xstrdup(o.err.msg) : NULL;
}

void kfs_gitsync_status(struct kfs_store *s, const struct request *r, struct kfs_node *status)
{
	if (!s->git || !r->commit[0])
		return;
	kfs_map_set(status, "commit", kfs_node_new_str(r->commit));
	if (s->pushing) {
		/* As the Pushed condition says: both come from one reading of the push state. */
		const struct condition *c = kfs_conds_find(&r->conds, "Pushed");
		kfs_map_set(status, "pushed",
			    kfs_node_new_bool(c && strcmp(c->status, "True") == 0));
	}
}

void kfs_gitsync_root_status(struct kfs_store *s, struct kfs_node *status)
{
	if (!s->git)
		return;
	char head[41];
	kfs_git_head(s->git, head);
	struct kfs_node *git = kfs_node_new(KFS_MAP);
	kfs_map_set(git, "head", kfs_node_new_str(head));
	if (s->pushing) {
		struct kfs_push_state ps;
		kfs_gitsync_push_state(s, &ps);
		kfs_map_set(git, "pushed", kfs_node_new_bool(ps.pushed_seq == ps.commit_seq ||
							    strcmp(head, ps.pushed_head) == 0));
		if (ps.failed)
			kfs_map_set(git, "pushError", kfs_node_new_str(ps.error));
	}
	kfs_map_set(status, "git", git);
}
