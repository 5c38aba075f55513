/* A promise's life beside its folder: what it requires (spec.requiredPromises), what happens when
 * its folder goes (its delete workflow, its Works out of Git, its requests held), and how many
 * requests it serves.
 *
 * Kratix deletes every resource of a Promise's CRD when the Promise is deleted. kratixfs does not:
 * a promise folder can vanish by accident (a checkout, a mistyped rm), and the requests behind it
 * are real databases. Its requests stay, with their outputs and their Works in Git; each says that
 * its promise is gone, and writes of it are refused naming the promise; `rm -rf requests/<name>`
 * deletes one deliberately, and the promise coming back serves them again (docs/kratix.md). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/doc.h"
#include "kratixfs/promise.h"
#include "kratixfs/render.h"
#include "store_internal.h"

/* ---------- request counts ---------- */

void kfs_promise_state_init(struct kfs_store *s)
{
	pthread_mutex_init(&s->count_lock, NULL);
	pthread_mutex_init(&s->pview_lock, NULL);
}

void kfs_promise_state_free(struct kfs_store *s)
{
	for (size_t i = 0; i < s->ncounts; i++)
		free(s->counts[i].name);
	free(s->counts);
	s->counts = NULL;
	s->ncounts = 0;
	pthread_mutex_destroy(&s->count_lock);
	pthread_mutex_destroy(&s->pview_lock);
}

/* The count entry of name, made if missing (count_lock held). */
static struct promise_count *count_of(struct kfs_store *s, const char *name, bool make)
{
	for (size_t i = 0; i < s->ncounts; i++)
		if (strcmp(s->counts[i].name, name) == 0)
			return &s->counts[i];
	if (!make)
		return NULL;
	s->counts = kfs_xrealloc(s->counts, (s->ncounts + 1) * sizeof(*s->counts));
	s->counts[s->ncounts] = (struct promise_count){.name = kfs_xstrdup(name)};
	return &s->counts[s->ncounts++];
}

void kfs_promise_count(struct kfs_store *s, struct request *r)
{
	const char *want = r->name[0] && r->object && r->promise ? r->promise : NULL;
	if (want == r->counted || (want && r->counted && strcmp(want, r->counted) == 0))
		return;
	pthread_mutex_lock(&s->count_lock);
	if (r->counted)
		count_of(s, r->counted, false)->n--;
	r->counted = NULL;
	if (want) {
		struct promise_count *c = count_of(s, want, true);
		c->n++;
		r->counted = c->name;
	}
	pthread_mutex_unlock(&s->count_lock);
}

size_t kfs_promise_requests(struct kfs_store *s, const char *name)
{
	pthread_mutex_lock(&s->count_lock);
	const struct promise_count *c = count_of(s, name, false);
	size_t n = c ? c->n : 0;
	pthread_mutex_unlock(&s->count_lock);
	return n;
}

/* ---------- requiredPromises ---------- */

/* Kratix's words for a requirement's state and the reason it gives (promise_controller.go). */
#define REQ_INSTALLED     "Requirement installed"
#define REQ_NOT_INSTALLED "Requirement not installed"
#define REQ_WRONG_VERSION "Requirement not installed at the specified version"
#define REQ_NOT_AVAILABLE "Requirement not available"

static long find_loaded(const struct promise_entry *list, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (list[i].p && strcmp(list[i].name, name) == 0)
			return (long)i;
	return -1;
}

/* The state of one requirement, given which promises are available so far. */
static const char *requirement_state(const struct promise_entry *list, size_t n,
				     const bool *available, const struct kfs_node *req)
{
	const char *name = kfs_node_text_at(req, "name");
	const char *version = kfs_node_text_at(req, "version");
	long j = name ? find_loaded(list, n, name) : -1;
	if (j < 0)
		return REQ_NOT_INSTALLED;
	if (version && *version && strcmp(list[j].p->version, version) != 0)
		return REQ_WRONG_VERSION;
	return available[j] ? REQ_INSTALLED : REQ_NOT_AVAILABLE;
}

static const struct kfs_node *required_of(const struct kfs_promise *p)
{
	const struct kfs_node *reqs = p ? kfs_node_at(p->doc, "spec.requiredPromises") : NULL;
	return reqs && reqs->type == KFS_SEQ && reqs->len ? reqs : NULL;
}

static bool all_met(const struct promise_entry *list, size_t n, const bool *available,
		    const struct kfs_node *reqs)
{
	for (size_t k = 0; reqs && k < reqs->len; k++)
		if (strcmp(requirement_state(list, n, available, reqs->items[k]), REQ_INSTALLED))
			return false;
	return true;
}

/* e's status.requiredPromises and, when one is not installed, why it serves no request. */
static void describe(struct promise_entry *e, const struct promise_entry *list, size_t n,
		     const bool *available)
{
	const struct kfs_node *reqs = required_of(e->p);
	kfs_node_free(e->required);
	free(e->unmet);
	e->required = NULL;
	e->unmet = NULL;
	if (!reqs)
		return;
	struct kfs_buf why = {0};
	e->required = kfs_node_new(KFS_SEQ);
	for (size_t k = 0; k < reqs->len; k++) {
		const char *name = kfs_node_text_at(reqs->items[k], "name");
		const char *version = kfs_node_text_at(reqs->items[k], "version");
		const char *state = requirement_state(list, n, available, reqs->items[k]);
		struct kfs_node *st = kfs_node_new(KFS_MAP);
		kfs_map_set(st, "name", kfs_node_new_str(name ? name : ""));
		if (version && *version) /* omitted when empty, as Kratix's omitempty does */
			kfs_map_set(st, "version", kfs_node_new_str(version));
		kfs_map_set(st, "state", kfs_node_new_str(state));
		kfs_seq_append(e->required, st);
		if (strcmp(state, REQ_INSTALLED) != 0)
			kfs_buf_printf(&why, "%spromise %s%s%s: %s", why.len ? "; " : "",
				       name ? name : "(no name)", version && *version ? " " : "",
				       version ? version : "", state);
	}
	e->unmet = why.len ? kfs_buf_steal(&why) : NULL;
	kfs_buf_free(&why);
}

void kfs_promise_requirements(struct promise_entry *list, size_t n)
{
	/* The least fixpoint: a promise is available once every promise it requires is loaded,
	 * at the version asked, and available itself. Promises that require each other never
	 * are, as in Kratix, where each waits for the other to be Available. */
	bool *available = kfs_xcalloc(n ? n : 1, sizeof(*available));
	for (bool moved = true; moved;) {
		moved = false;
		for (size_t i = 0; i < n; i++)
			if (!available[i] && list[i].p &&
			    all_met(list, n, available, required_of(list[i].p)))
				available[i] = moved = true;
	}
	for (size_t i = 0; i < n; i++)
		describe(&list[i], list, n, available);
	free(available);
}

/* ---------- requests of a promise that does not serve ---------- */

/* The loaded promise named name (its metadata.name, which r->promise holds), or NULL. */
static const struct promise_entry *entry_named(struct kfs_store *s, const char *name)
{
	for (size_t i = 0; i < s->npromises; i++)
		if (s->promises[i].p && strcmp(s->promises[i].p->name, name) == 0)
			return &s->promises[i];
	return NULL;
}

/* Why r is held back (promises read-locked): its promise is gone or does not serve; *reason
 * gets the condition's reason. NULL when it is not. Caller frees. */
static char *hold_reason(struct kfs_store *s, const struct request *r, const char **reason)
{
	struct kfs_buf why = {0};
	const struct promise_entry *e = entry_named(s, r->promise);
	if (!e) {
		*reason = "PromiseRemoved";
		kfs_buf_printf(&why,
			       "requests/%s: its promise %s is no longer in the promises folder: the "
			       "request, its outputs and its Works are kept, and writes are refused "
			       "until the promise comes back (rm -rf requests/%s deletes the request)",
			       r->name, r->promise, r->name);
	} else if (e->unmet) {
		*reason = "RequirementsNotFulfilled";
		kfs_buf_printf(&why,
			       "promise %s does not serve requests until the promises it requires "
			       "are available: %s",
			       e->name, e->unmet);
	}
	return why.len ? kfs_buf_steal(&why) : NULL;
}

int kfs_promise_refuse(struct kfs_store *s, struct request *r, const struct kfs_promise *p,
		       struct kfs_error *err)
{
	const char *reason;
	char *why = NULL;
	/* A request in force whose promise went stays with that promise: another promise of the
	 * same kind does not take it over by a write. */
	if (r && r->name[0] && r->object && r->promise && !entry_named(s, r->promise))
		why = hold_reason(s, r, &reason);
	for (size_t i = 0; !why && p && i < s->npromises; i++)
		if (s->promises[i].p == p && s->promises[i].unmet) {
			struct request fake = {.name = r ? r->name : "", .promise = p->name};
			why = hold_reason(s, &fake, &reason);
		}
	if (!why) {
		if (r)
			kfs_conds_remove(&r->conds, "PromiseAvailable");
		return 0;
	}
	kfs_error_set(err, -EINVAL, "%s", why);
	free(why);
	return -EINVAL;
}

bool kfs_promise_held(struct kfs_store *s, struct request *r)
{
	if (!r->name[0] || !r->object || !r->promise)
		return false;
	const char *reason;
	pthread_rwlock_rdlock(&s->promises_lock);
	char *why = hold_reason(s, r, &reason);
	pthread_rwlock_unlock(&s->promises_lock);
	if (!why)
		return false;
	kfs_set_text(&r->message, why);
	kfs_store_set_condition(r, "PromiseAvailable", "False", reason, why);
	free(why);
	/* Recovered without a render, it has no namespace yet: its Works are under the one its
	 * object names (a deletion finds them there). */
	struct kfs_node *doc = NULL;
	if (!r->ns && kfs_doc_parse(r->object, r->object_len, "object.yaml", &doc, NULL) == 0)
		kfs_set_text(&r->ns, kfs_node_text_at(doc, "metadata.namespace"));
	kfs_node_free(doc);
	return true;
}

/* ---------- a promise folder that went ---------- */

const char *kfs_promise_delete_pipeline(const struct kfs_promise *p, enum kfs_wtype t)
{
	const struct kfs_workflow *wf = &p->workflows[t][KFS_WF_DELETE];
	return wf->npipelines ? wf->pipelines[0].name : NULL;
}

/* Runs p's promise delete workflow (its first pipeline): 0, or -EIO with err set. */
static int run_delete_workflow(struct kfs_store *s, const struct kfs_promise *p,
			       struct kfs_error *err)
{
	const char *pipeline = kfs_promise_delete_pipeline(p, KFS_WF_PROMISE);
	if (!pipeline)
		return 0;
	struct kfs_buf text = {0};
	kfs_doc_emit(p->doc, &text);
	struct kfs_render_input in = {.promise = p, .type = KFS_WF_PROMISE,
				      .action = KFS_WF_DELETE, .pipeline = pipeline,
				      .data = text.data, .len = text.len, .exec = s->exec};
	struct kfs_render_result res;
	int rc = kfs_render(&in, &res, err);
	kfs_render_result_free(&res);
	kfs_buf_free(&text);
	if (rc < 0)
		kfs_error_prefix(err, "promise delete workflow (pipeline %s)", pipeline);
	return rc < 0 ? -EIO : 0;
}

/* Removes p's Works (its promise workflow's outputs and static dependencies) from Git: one
 * Delete commit. */
static void delete_works(struct kfs_store *s, const struct kfs_promise *p)
{
	const struct kfs_workflow *wf = &p->workflows[KFS_WF_PROMISE][KFS_WF_CONFIGURE];
	const char **pipelines = kfs_xcalloc(wf->npipelines ? wf->npipelines : 1,
					     sizeof(*pipelines));
	for (size_t i = 0; i < wf->npipelines; i++)
		pipelines[i] = wf->pipelines[i].name;
	struct kfs_git_render gr = {
		.type = KFS_WF_PROMISE,
		.promise = p->name,
		.static_deps = p->dependencies,
		.promise_selectors = kfs_node_at(p->doc, "spec.destinationSelectors"),
		.pipelines = pipelines,
		.npipelines = wf->npipelines,
		.delete = true,
	};
	struct kfs_git_outcome o;
	unsigned long long serial = __atomic_add_fetch(&s->work_serials, 1, __ATOMIC_RELAXED);
	kfs_git_sink(s->git, &gr, serial, &o);
	if (o.kind == KFS_GIT_FAILED || o.kind == KFS_GIT_INVALID)
		kfs_store_log_error(s, KFS_LOG_WARN, o.err.msg, "commit promise=%s delete=failed",
				    p->name);
	else
		kfs_store_log(s, KFS_LOG_INFO, "commit promise=%s commit=%.12s delete=%s", p->name,
			      o.commit[0] ? o.commit : "-",
			      o.kind == KFS_GIT_COMMITTED ? "changed" : "unchanged");
	kfs_git_outcome_free(&o);
	free(pipelines);
}

void kfs_promise_removed(struct kfs_store *s, const struct kfs_promise *p)
{
	struct kfs_error err = {0};
	/* As Kratix keeps a Promise whose delete pipeline failed (its finalizer stays), the Works
	 * stay when the delete workflow fails: the log says so, and the folder coming back and
	 * going again retries it. */
	if (run_delete_workflow(s, p, &err) < 0) {
		kfs_store_log_error(s, KFS_LOG_ERROR, err.msg,
				    "remove promise=%s result=failed works=kept", p->name);
		return;
	}
	if (s->git)
		delete_works(s, p);
	kfs_store_log(s, KFS_LOG_INFO, "remove promise=%s delete-workflow=%s requests=%zu",
		      p->name, kfs_promise_delete_pipeline(p, KFS_WF_PROMISE) ? "ran" : "none",
		      kfs_promise_requests(s, p->name));
}
