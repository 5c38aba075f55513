/* Writes of object.yaml: the render, the outcome applied to the request, stored in the state folder
 * before anything shows it, then published and committed; and the deletion of a request. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/doc.h"
#include "kratixfs/files.h"
#include "kratixfs/promise.h"
#include "journal.h"
#include "store_internal.h"

/* ---------- rendering a request ---------- */

bool kfs_store_set_condition(struct request *r, const char *type, const char *status,
			     const char *reason, const char *message)
{
	char now[32];
	kfs_now_rfc3339(now);
	return kfs_conds_set(&r->conds, type, status, reason, message, now);
}

bool kfs_has_condition(const struct request *r, const char *type)
{
	return kfs_conds_find(&r->conds, type) != NULL;
}

static char *dup_or_null(const char *p, size_t n)
{
	return p ? kfs_xstrndup(p, n) : NULL;
}

void kfs_save_request(const struct request *r, struct saved *sv)
{
	*sv = (struct saved){
	    .object = dup_or_null(r->object, r->object_len),
	    .object_len = r->object_len,
	    .good = dup_or_null(r->good, r->good_len),
	    .good_len = r->good_len,
	    .draft = dup_or_null(r->draft, r->draft_len),
	    .draft_len = r->draft_len,
	    .promise = r->promise ? kfs_xstrdup(r->promise) : NULL,
	    .ns = r->ns ? kfs_xstrdup(r->ns) : NULL,
	    .message = r->message ? kfs_xstrdup(r->message) : NULL,
	    .rejection = r->rejection ? kfs_xstrdup(r->rejection) : NULL,
	    .log = r->log ? kfs_xstrdup(r->log) : NULL,
	    .render_status = r->render_status ? kfs_xstrdup(r->render_status) : NULL,
	    .status_base = r->status_base ? kfs_xstrdup(r->status_base) : NULL,
	    .retry_at = r->retry_at,
	    .warnings = r->warnings ? kfs_xstrdup(r->warnings) : NULL,
	    .unlinked = r->unlinked,
	    .generation = r->generation,
	    .observed = r->observed,
	    .phase = r->phase,
	    .selectors = r->selectors ? kfs_node_copy(r->selectors) : NULL,
	    .edits = kfs_slot_files_copy(r->edits),
	};
	kfs_conds_copy(&sv->conds, &r->conds);
}

void kfs_saved_free(struct saved *sv)
{
	free(sv->object);
	free(sv->good);
	free(sv->draft);
	free(sv->promise);
	free(sv->ns);
	free(sv->message);
	free(sv->rejection);
	free(sv->log);
	kfs_conds_free(&sv->conds);
	free(sv->render_status);
	free(sv->status_base);
	free(sv->warnings);
	kfs_node_free(sv->selectors);
	kfs_slot_files_free(sv->edits);
	memset(sv, 0, sizeof(*sv));
}

/* Puts sv back into r (and frees what r held instead); sv is emptied. */
static void restore_request(struct request *r, struct saved *sv)
{
#define SWAP(f)                                                                                    \
	do {                                                                                       \
		__typeof__(r->f) t_ = r->f;                                                        \
		r->f = sv->f;                                                                      \
		sv->f = t_;                                                                        \
	} while (0)
	SWAP(object);
	SWAP(object_len);
	SWAP(good);
	SWAP(good_len);
	SWAP(draft);
	SWAP(draft_len);
	SWAP(promise);
	SWAP(ns);
	SWAP(message);
	SWAP(rejection);
	SWAP(log);
	SWAP(conds);
	SWAP(render_status);
	SWAP(status_base);
	SWAP(retry_at);
	SWAP(warnings);
	SWAP(unlinked);
	SWAP(generation);
	SWAP(observed);
	SWAP(phase);
	SWAP(selectors);
	SWAP(edits);
#undef SWAP
	kfs_saved_free(sv);
}

int kfs_persist_or_restore(struct kfs_store *s, struct request *r, struct saved *sv,
			      struct kfs_error *err)
{
	struct kfs_error perr = {0};
	int rc = kfs_store_persist(s, r, &perr);
	if (rc == 0)
		return 0;
	restore_request(r, sv);
	rc = rc == -ENOSPC || rc == -EDQUOT ? -ENOSPC : -EIO;
	kfs_error_set(err, rc, "state folder %s: %s: the write is not stored (nothing changed)",
		      s->state_dir, perr.msg[0] ? perr.msg : strerror(-rc));
	kfs_store_log_error(s, KFS_LOG_ERROR, err->msg, "persist-failed request=%s",
			    r->name[0] ? r->name : "(input/object.yaml)");
	return rc;
}

/* Renders data for r (write_lock held, promises read-locked). Returns the render's code and
 * leaves r updated for publishing; *res holds the outputs on success. */
int kfs_render_request(struct kfs_store *s, struct request *r, const char *data, size_t len,
		       const struct kfs_node *status, const struct kfs_promise **used,
		       struct kfs_render_result *res, struct kfs_error *err)
{
	bool slot = r->name[0] == '\0';
	*used = NULL;
	struct kfs_node *doc = NULL;
	memset(res, 0, sizeof(*res));
	int rc = kfs_doc_parse(data, len, "object.yaml", &doc, err);
	if (rc < 0)
		return -EINVAL;
	const char *kind = kfs_node_text_at(doc, "kind");
	bool promise_wf = slot && kind && strcmp(kind, "Promise") == 0;
	const struct kfs_promise *p;
	if (promise_wf) {
		const char *name = kfs_node_text_at(doc, "metadata.name");
		p = name ? kfs_store_find_promise(s, name) : NULL;
		if (!p)
			kfs_error_set(err, -EINVAL,
				      "metadata.name: no promise named %s in the promises folder",
				      name ? name : "(none)");
	} else {
		p = kfs_match_promise(s, doc, err);
		if (kfs_promise_refuse(s, r, p, err) < 0) /* its promise gone, or not serving */
			p = NULL;
	}
	if (!p) {
		kfs_node_free(doc);
		return -EINVAL;
	}
	struct kfs_render_input in = {
		.promise = p,
		.type = promise_wf ? KFS_WF_PROMISE : KFS_WF_RESOURCE,
		.action = KFS_WF_CONFIGURE,
		.name = slot ? NULL : r->name,
		.data = data,
		.len = len,
		.doc = doc,
		.status = status,
		.exec = s->exec,
	};
	rc = kfs_render(&in, res, err);
	if (rc == 0 || rc == -EIO) {
		kfs_set_text(&r->promise, p->name);
		*used = p;
	}
	if (rc == 0 && !promise_wf)
		kfs_set_text(&r->ns, kfs_node_text_at(res->object, "metadata.namespace"));
	return rc;
}

/* Stores r's record, then publishes it with the outputs it shows; a record that cannot be stored
 * puts r back as sv held it. */
static int persist_publish(struct kfs_store *s, struct request *r, struct saved *sv,
			   struct kfs_error *err)
{
	kfs_reconcile_conditions(s, r); /* the record holds what status.yaml will show */
	int rc = kfs_persist_or_restore(s, r, sv, err);
	if (rc == 0)
		kfs_store_publish(s, r, NULL);
	return rc;
}

bool kfs_render_suspended(const struct kfs_render_result *res)
{
	return res->control.stopped || res->control.suspend || res->control.retry_after >= 0;
}

/* The status text a render started from, kept for a restart (NULL for none). */
static char *status_text(const struct kfs_node *base)
{
	if (!base)
		return NULL;
	struct kfs_buf text = {0};
	kfs_doc_emit(base, &text);
	return kfs_buf_steal(&text);
}

/* A refused write: r says why; with no object.yaml in the folder the refused bytes stay there
 * to be fixed in place (too large ones are not kept: they are not held whole). */
static int apply_rejection(struct kfs_store *s, struct request *r, const char *data, size_t len,
			   int rc, struct kfs_error *err, struct saved *sv, bool rerender)
{
	char *masked = kfs_store_mask(err->msg);
	kfs_set_text(&r->rejection, masked);
	kfs_set_text(&r->message, masked);
	kfs_store_set_condition(r, "Rejected", "True", rc == -EFBIG ? "TooLarge" : "InvalidRequest",
				masked);
	if (rc == -EINVAL && !rerender && (!r->object || r->unlinked))
		kfs_set_bytes(&r->draft, &r->draft_len, data, len);
	free(masked);
	int prc = persist_publish(s, r, sv, err);
	return prc < 0 ? prc : rc;
}

/* A render that failed: Kratix's ConfigureWorkflowCompleted False names the failed pipeline;
 * the last good outputs and the status stay (the failed pipeline's status is not merged). */
static int apply_failure(struct kfs_store *s, struct request *r,
			 const struct kfs_render_result *res, int rc, struct kfs_error *err,
			 struct saved *sv)
{
	char *masked = kfs_store_mask(err->msg);
	r->phase = ERROR;
	kfs_set_text(&r->message, masked);
	struct kfs_buf why = {0};
	if (res->failed_pipeline)
		kfs_buf_printf(&why, "A Configure Pipeline has failed: %s", res->failed_pipeline);
	kfs_store_set_condition(r, "ConfigureWorkflowCompleted", "False", "ConfigureWorkflowFailed",
				why.data ? why.data : masked);
	kfs_buf_free(&why);
	free(masked);
	int prc = persist_publish(s, r, sv, err);
	return prc < 0 ? prc : rc;
}

/* workflow-control.yaml suspended the workflow: Kratix's Suspended state, the status the
 * pipelines wrote, and nothing committed: the outputs in force (Git's and output/) stay those
 * of the last render that completed. A retryAfter runs the workflow again at its time. */
static int apply_suspension(struct kfs_store *s, struct request *r, struct kfs_render_result *res,
			    const struct kfs_node *base, struct kfs_error *err, struct saved *sv)
{
	const struct kfs_workflow_control *c = &res->control;
	r->phase = SUSPENDED;
	r->retry_at = c->retry_after >= 0 ? kfs_retry_now_ms() + c->retry_after * 1000 : 0;
	struct kfs_buf msg = {0};
	kfs_buf_printf(&msg, "Suspended by metadata/workflow-control.yaml%s%s", c->message ? ": " : "",
		       c->message ? c->message : "");
	if (c->retry_after >= 0)
		kfs_buf_printf(&msg, " (runs again in %llds)", c->retry_after);
	char *masked = kfs_store_mask(msg.data);
	kfs_set_text(&r->message, masked);
	free(masked);
	kfs_buf_free(&msg);
	kfs_store_set_condition(r, "ConfigureWorkflowCompleted", "False", "PipelinesInProgress",
				"Pipelines are still in progress");
	kfs_keep_status(s, r, res->status, base, true);
	res->status = NULL;
	int rc = persist_publish(s, r, sv, err);
	if (rc == 0 && r->retry_at && r->name[0])
		kfs_retry_schedule(s, r->name, r->retry_at);
	kfs_store_log(s, KFS_LOG_INFO, "suspend request=%s retry-after=%lld",
		      r->name[0] ? r->name : "(input/object.yaml)", c->retry_after);
	return rc;
}

/* Applies a render's outcome to r, stores it in the state folder and only then publishes and
 * commits it. sv holds r as it was before the render: a record that cannot be stored puts it
 * back, and the write fails with -ENOSPC or -EIO. base: the status the render started from. */
static int apply_outcome(struct kfs_store *s, struct request *r, const struct kfs_promise *p,
			 const char *data, size_t len, int rc, struct kfs_render_result *res,
			 const struct kfs_node *base, struct kfs_error *err, struct saved *sv,
			 bool rerender)
{
	if (rc == -EINVAL || rc == -EFBIG)
		return apply_rejection(s, r, data, len, rc, err, sv, rerender);
	bool changed_input = !r->object || r->object_len != len || memcmp(r->object, data, len);
	kfs_set_bytes(&r->object, &r->object_len, data, len);
	/* A re-render (a promise reload) is not a write of object.yaml: an unlinked file stays
	 * unlinked, a draft stays. */
	if (!rerender) {
		kfs_set_bytes(&r->draft, &r->draft_len, NULL, 0);
		r->unlinked = false;
	}
	if (changed_input)
		r->generation++;
	r->retry_at = 0;
	kfs_set_text(&r->rejection, NULL);
	if (kfs_has_condition(r, "Rejected"))
		kfs_store_set_condition(r, "Rejected", "False", "Accepted", "");
	kfs_set_text(&r->log, res->log.data ? res->log.data : "");
	if (rc < 0)
		return apply_failure(s, r, res, rc, err, sv);
	if (kfs_render_suspended(res))
		return apply_suspension(s, r, res, base, err, sv);
	kfs_set_bytes(&r->good, &r->good_len, data, len);
	free(r->status_base);
	r->status_base = status_text(base);
	kfs_set_text(&r->warnings, res->warnings.len ? res->warnings.data : NULL);
	r->observed = r->generation;
	r->phase = RENDERED;
	kfs_set_text(&r->message, "Resource requested");
	kfs_store_set_condition(r, "ConfigureWorkflowCompleted", "True", "PipelinesExecutedSuccessfully",
		      "Pipelines completed");
	kfs_note_shadowed(p, res, &r->log);
	kfs_keep_status(s, r, res->status, base, true);
	res->status = NULL;
	kfs_node_free(r->selectors);
	r->selectors = res->selectors;
	res->selectors = NULL;
	/* A new run of the root slot: output/ and metadata/ are this render's again (slot.c). */
	kfs_slot_files_free(r->edits);
	r->edits = NULL;
	__atomic_add_fetch(&r->slot_run, 1, __ATOMIC_RELEASE);
	kfs_reconcile_conditions(s, r);
	int prc = kfs_persist_or_restore(s, r, sv, err);
	if (prc < 0)
		return prc;
	/* Committing reads the selectors from the result: lend them back for the call. */
	res->selectors = r->selectors;
	kfs_gitsync_request(s, r, p, res);
	res->selectors = NULL;
	kfs_store_publish(s, r, res);
	/* Again, for the commit's outcome (with Git only: without it nothing changed since); the
	 * render itself is stored already, and a restart commits it again, so a failure here
	 * loses nothing. */
	if (s->git && r->name[0])
		kfs_store_persist(s, r, NULL);
	return 0;
}

static void log_outcome(struct kfs_store *s, const struct request *r, int rc,
			const struct kfs_render_result *res, const struct kfs_error *err,
			const struct timespec *start)
{
	const char *name = r->name[0] ? r->name : "(input/object.yaml)";
	double ms = kfs_store_elapsed_ms(start);
	if (rc < 0 && strncmp(err->msg, "state folder ", 13) == 0)
		return; /* persist_or_restore said it */
	if (rc == 0) {
		char warned[40] = "";
		size_t nwarn = 0;
		for (size_t i = 0; i < res->warnings.len; i++)
			nwarn += res->warnings.data[i] == '\n';
		if (nwarn)
			snprintf(warned, sizeof(warned), " warnings=%zu", nwarn);
		kfs_store_log(s, KFS_LOG_INFO,
			      "render request=%s promise=%s generation=%llu outputs=%zu%s phase=%s "
			      "duration=%.3fms",
			      name, r->promise ? r->promise : "-", r->generation, res->noutputs,
			      warned, kfs_phase_names[r->phase], ms);
		return;
	}
	if (rc == -EIO)
		kfs_store_log_error(s, KFS_LOG_ERROR, err->msg,
				    "render-failed request=%s promise=%s generation=%llu "
				    "duration=%.3fms",
				    name, r->promise ? r->promise : "-", r->generation, ms);
	else
		kfs_store_log_error(s, KFS_LOG_WARN, err->msg, "reject request=%s duration=%.3fms",
				    name, ms);
}

/* submit() with r's write_lock held. */
static int too_large(const struct kfs_store *s, size_t len, struct kfs_error *err)
{
	return kfs_error_set(err, -EFBIG,
			     "object.yaml: %zu bytes is larger than max_input (%zu bytes): shorten "
			     "it, or mount with -o max_input=BYTES",
			     len, s->max_input);
}

int kfs_submit_locked(struct kfs_store *s, struct request *r, const char *data, size_t len,
			 bool force, struct kfs_error *err)
{
	int rc;
	struct saved sv;
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	if (len > s->max_input) {
		too_large(s, len, err);
		struct kfs_render_result none = {0};
		kfs_save_request(r, &sv);
		rc = apply_outcome(s, r, NULL, data, len, -EFBIG, &none, NULL, err, &sv, force);
		kfs_saved_free(&sv);
		log_outcome(s, r, rc, &none, err, &start);
		return rc;
	}
	/* The same bytes again change nothing, and report what they reported; written back after
	 * an unlink (vim restoring its backup), they show object.yaml again. A suspended request
	 * is the exception: any write of object.yaml runs its workflow again. */
	if (!force && r->phase != SUSPENDED && r->object && r->object_len == len &&
	    memcmp(r->object, data, len) == 0) {
		rc = 0;
		if (r->unlinked || r->draft) {
			kfs_save_request(r, &sv);
			r->unlinked = false;
			kfs_set_bytes(&r->draft, &r->draft_len, NULL, 0);
			rc = kfs_persist_or_restore(s, r, &sv, err);
			kfs_saved_free(&sv);
			if (rc == 0)
				kfs_store_publish(s, r, NULL);
		}
		if (rc == 0 && r->phase == ERROR && r->observed != r->generation)
			rc = kfs_error_set(err, -EIO, "%s", r->message);
		return rc;
	}
	struct kfs_render_result res;
	const struct kfs_promise *p;
	kfs_save_request(r, &sv);
	struct kfs_node *base = kfs_status_input(r);
	pthread_rwlock_rdlock(&s->promises_lock);
	rc = kfs_render_request(s, r, data, len, base, &p, &res, err);
	rc = apply_outcome(s, r, p, data, len, rc, &res, base, err, &sv, force);
	pthread_rwlock_unlock(&s->promises_lock);
	kfs_node_free(base);
	kfs_saved_free(&sv);
	log_outcome(s, r, rc, &res, err, &start);
	kfs_render_result_free(&res);
	return rc;
}

static int submit(struct kfs_store *s, struct request *r, const char *data, size_t len, bool force,
		  struct kfs_error *err)
{
	pthread_mutex_lock(&r->write_lock);
	int rc = kfs_submit_locked(s, r, data, len, force, err);
	pthread_mutex_unlock(&r->write_lock);
	return rc;
}

int kfs_store_submit(struct kfs_store *s, const char *name, const char *data, size_t len,
		     struct kfs_error *err)
{
	struct request *r = kfs_store_request_get(s, name);
	if (!r)
		return kfs_error_set(err, -ENOENT, "requests/%s: no such request (mkdir it first)",
				     name);
	int rc = submit(s, r, data, len, false, err);
	kfs_store_request_put(r);
	return rc;
}

int kfs_store_check(struct kfs_store *s, const char *name, const char *data, size_t len,
		    struct kfs_error *err)
{
	if (len > s->max_input)
		return too_large(s, len, err);
	struct kfs_node *doc = NULL;
	if (kfs_doc_parse(data, len, "object.yaml", &doc, err) < 0)
		return -EINVAL;
	/* The status a write would render from, copied: the check renders without the lock. */
	struct kfs_node *status = NULL;
	struct request *r = kfs_store_request_get(s, name);
	if (r) {
		pthread_mutex_lock(&r->write_lock);
		status = kfs_status_input(r);
		pthread_mutex_unlock(&r->write_lock);
		kfs_store_request_put(r);
	}
	pthread_rwlock_rdlock(&s->promises_lock);
	const struct kfs_promise *p = kfs_match_promise(s, doc, err);
	if (p && kfs_promise_refuse(s, NULL, p, err) < 0)
		p = NULL;
	int rc = -EINVAL;
	if (p) {
		struct kfs_render_input in = {.promise = p, .type = KFS_WF_RESOURCE,
					      .action = KFS_WF_CONFIGURE, .name = name,
					      .data = data, .len = len, .doc = doc,
					      .status = status, .exec = s->exec};
		struct kfs_render_result res;
		rc = kfs_render(&in, &res, err);
		kfs_render_result_free(&res);
	} else {
		kfs_node_free(doc);
	}
	pthread_rwlock_unlock(&s->promises_lock);
	kfs_node_free(status);
	return rc == -EIO ? 0 : rc; /* an accepted request that fails to render is accepted */
}

/* Runs r's delete workflow, stores the emptied request, and only then commits the Delete and
 * publishes: a Delete that reached Git must not come back at the next start. write_lock held. */
static int delete_locked(struct kfs_store *s, struct request *r, struct kfs_error *err)
{
	int rc = 0;
	/* Kratix runs the delete workflow before the request goes; its outputs are not kept. */
	pthread_rwlock_rdlock(&s->promises_lock);
	const struct kfs_promise *p = r->promise ? kfs_store_find_promise(s, r->promise) : NULL;
	struct saved sv;
	kfs_save_request(r, &sv);
	if (p && p->workflows[KFS_WF_RESOURCE][KFS_WF_DELETE].npipelines && r->good) {
		/* Only the first delete pipeline runs, as in Kratix (promise_lifecycle.c). */
		const char *first = kfs_promise_delete_pipeline(p, KFS_WF_RESOURCE);
		struct kfs_node *status = kfs_status_input(r);
		struct kfs_render_input in = {.promise = p, .type = KFS_WF_RESOURCE,
					      .action = KFS_WF_DELETE, .name = r->name,
					      .pipeline = first, .data = r->good, .len = r->good_len,
					      .status = status, .exec = s->exec};
		struct kfs_render_result res;
		rc = kfs_render(&in, &res, err);
		kfs_node_free(status);
		kfs_set_text(&r->log, res.log.data ? res.log.data : "");
		kfs_render_result_free(&res);
	}
	if (rc < 0) {
		kfs_error_prefix(err, "delete workflow");
		kfs_store_log_error(s, KFS_LOG_ERROR, err->msg, "delete-failed request=%s", r->name);
		r->phase = ERROR;
		kfs_set_text(&r->message, err->msg);
		struct kfs_error perr = {0};
		if (kfs_persist_or_restore(s, r, &sv, &perr) == 0)
			kfs_store_publish(s, r, NULL);
		pthread_rwlock_unlock(&s->promises_lock);
		kfs_saved_free(&sv);
		return -EIO;
	}
	kfs_set_bytes(&r->object, &r->object_len, NULL, 0);
	kfs_set_bytes(&r->good, &r->good_len, NULL, 0);
	kfs_set_bytes(&r->draft, &r->draft_len, NULL, 0);
	r->unlinked = false;
	kfs_set_text(&r->rejection, NULL);
	free(r->render_status);
	r->render_status = NULL;
	free(r->status_base);
	r->status_base = NULL;
	r->retry_at = 0;
	kfs_node_free(r->selectors);
	r->selectors = NULL;
	kfs_conds_free(&r->conds);
	r->phase = PENDING;
	kfs_set_text(&r->message, "Deleted: write object.yaml to request it again, or rmdir");
	rc = kfs_persist_or_restore(s, r, &sv, err);
	kfs_saved_free(&sv);
	if (rc == 0) {
		kfs_gitsync_request(s, r, p, NULL);
		kfs_store_log(s, KFS_LOG_INFO, "delete request=%s promise=%s", r->name,
			      r->promise ? r->promise : "-");
		struct kfs_render_result none = {0};
		kfs_store_publish(s, r, &none);
	}
	pthread_rwlock_unlock(&s->promises_lock);
	return rc;
}

int kfs_store_delete_object(struct kfs_store *s, const char *name, struct kfs_error *err)
{
	struct request *r = kfs_store_request_get(s, name);
	if (!r)
		return kfs_error_set(err, -ENOENT, "requests/%s: no such request", name);
	pthread_mutex_lock(&r->write_lock);
	int rc = r->object ? delete_locked(s, r, err)
			   : kfs_error_set(err, -ENOENT, "requests/%s: has no object.yaml", name);
	pthread_mutex_unlock(&r->write_lock);
	kfs_store_request_put(r);
	return rc;
}

int kfs_store_remove(struct kfs_store *s, const char *name, struct kfs_error *err)
{
	/* A folder whose object.yaml was unlinked (rm -rf's first step) is deleted now: only
	 * the folder's removal deletes a request. */
	struct request *u = kfs_store_request_get(s, name);
	if (u) {
		/* Decided and done in one hold: a write landing in between is not deleted. */
		pthread_mutex_lock(&u->write_lock);
		int rc = u->object && u->unlinked && !u->draft ? delete_locked(s, u, err) : 0;
		pthread_mutex_unlock(&u->write_lock);
		kfs_store_request_put(u);
		if (rc < 0)
			return rc;
	}
	pthread_rwlock_wrlock(&s->table_lock);
	size_t pos;
	struct request *r = kfs_table_find(s, name, &pos);
	if (!r) {
		pthread_rwlock_unlock(&s->table_lock);
		return kfs_error_set(err, -ENOENT, "requests/%s: no such request", name);
	}
	pthread_mutex_lock(&r->write_lock);
	if (r->object || r->draft) {
		pthread_mutex_unlock(&r->write_lock);
		pthread_rwlock_unlock(&s->table_lock);
		return kfs_error_set(err, -ENOTEMPTY,
				     "requests/%s: remove object.yaml first (rm -rf does)", name);
	}
	/* Stored first: a removal the state folder cannot record fails and changes nothing. */
	int rc = kfs_journal_put(s->journal, name, NULL, 0, err);
	if (rc < 0) {
		pthread_mutex_unlock(&r->write_lock);
		pthread_rwlock_unlock(&s->table_lock);
		return rc;
	}
	memmove(&s->requests[pos], &s->requests[pos + 1],
		(s->nrequests - pos - 1) * sizeof(*s->requests));
	s->nrequests--;
	r->removed = true;
	pthread_mutex_unlock(&r->write_lock);
	pthread_rwlock_unlock(&s->table_lock);
	struct kfs_buf scratch = {0};
	kfs_buf_printf(&scratch, "%s/scratch/%s", s->state_dir, name);
	rc = kfs_remove_tree(scratch.data, err);
	kfs_buf_free(&scratch);
	kfs_store_notify(s, "requests");
	kfs_store_log(s, KFS_LOG_INFO, "remove request=%s", name);
	kfs_store_request_put(r);
	return rc;
}
