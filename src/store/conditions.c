/* A request's conditions, typed: set, looked up and shown without any YAML. A condition's
 * lastTransitionTime changes only when its status does (Kratix's rule, as in status.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kratixfs/buf.h"
#include "kratixfs/doc.h"
#include "store_internal.h"

void kfs_now_rfc3339(char out[32])
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Now, for kfs_conds_set, in a buffer of this thread. */
static const char *now_text(void)
{
	static __thread char now[32];
	kfs_now_rfc3339(now);
	return now;
}

const struct condition *kfs_conds_find(const struct conditions *c, const char *type)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->items[i].type, type) == 0)
			return &c->items[i];
	return NULL;
}

/* Makes x hold these texts, in one allocation: type first (it owns the block). */
static void cond_fill(struct condition *x, const char *type, const char *status, const char *reason,
		      const char *message)
{
	size_t lt = strlen(type) + 1, ls = strlen(status) + 1, lr = strlen(reason) + 1;
	char *block = kfs_xmalloc(lt + ls + lr + strlen(message) + 1);
	memcpy(block, type, lt);
	memcpy(block + lt, status, ls);
	memcpy(block + lt + ls, reason, lr);
	strcpy(block + lt + ls + lr, message);
	char *old = x->type;
	x->type = block;
	x->status = block + lt;
	x->reason = block + lt + ls;
	x->message = block + lt + ls + lr;
	free(old);
}

bool kfs_conds_set(struct conditions *c, const char *type, const char *status, const char *reason,
		   const char *message, const char *now)
{
	status = status ? status : "Unknown";
	reason = reason ? reason : "";
	message = message ? message : "";
	struct condition *at = (struct condition *)kfs_conds_find(c, type);
	if (!at) {
		c->items = kfs_xrealloc(c->items, (c->n + 1) * sizeof(*c->items));
		at = &c->items[c->n++];
		*at = (struct condition){0};
		cond_fill(at, type, status, reason, message);
		snprintf(at->time, sizeof(at->time), "%s", now);
		return true;
	}
	bool transition = strcmp(at->status, status) != 0;
	bool changed =
	    transition || strcmp(at->reason, reason) != 0 || strcmp(at->message, message) != 0;
	if (changed)
		cond_fill(at, at->type, status, reason, message);
	if (transition && strcmp(at->time, now) != 0)
		snprintf(at->time, sizeof(at->time), "%s", now);
	return changed;
}

void kfs_conds_remove(struct conditions *c, const char *type)
{
	struct condition *at = (struct condition *)kfs_conds_find(c, type);
	if (!at)
		return;
	free(at->type);
	size_t i = (size_t)(at - c->items);
	memmove(at, at + 1, (c->n - i - 1) * sizeof(*at));
	c->n--;
}

void kfs_conds_free(struct conditions *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->items[i].type); /* the block of all four texts */
	}
	free(c->items);
	c->items = NULL;
	c->n = 0;
}

void kfs_conds_copy(struct conditions *dst, const struct conditions *src)
{
	*dst = (struct conditions){0};
	if (!src->n)
		return;
	dst->items = kfs_xcalloc(src->n, sizeof(*dst->items));
	for (size_t i = 0; i < src->n; i++) {
		const struct condition *s = &src->items[i];
		cond_fill(&dst->items[i], s->type, s->status, s->reason, s->message);
		memcpy(dst->items[i].time, s->time, sizeof(s->time));
	}
	dst->n = src->n;
}

struct kfs_node *kfs_conds_node(const struct conditions *c)
{
	struct kfs_node *seq = kfs_node_new(KFS_SEQ);
	for (size_t i = 0; i < c->n; i++) {
		const struct condition *x = &c->items[i];
		struct kfs_node *m = kfs_node_new(KFS_MAP);
		kfs_map_set(m, "type", kfs_node_new_str(x->type));
		kfs_map_set(m, "status", kfs_node_new_str(x->status));
		kfs_map_set(m, "reason", kfs_node_new_str(x->reason));
		kfs_map_set(m, "message", kfs_node_new_str(x->message));
		kfs_map_set(m, "lastTransitionTime", kfs_node_new_str(x->time));
		kfs_seq_append(seq, m);
	}
	return seq;
}

void kfs_conds_from_node(struct conditions *c, const struct kfs_node *seq)
{
	for (size_t i = 0; seq && seq->type == KFS_SEQ && i < seq->len; i++) {
		const struct kfs_node *x = seq->items[i];
		const char *type = kfs_node_text_at(x, "type");
		if (!type)
			continue;
		const char *when = kfs_node_text_at(x, "lastTransitionTime");
		kfs_conds_set(c, type, kfs_node_text_at(x, "status"), kfs_node_text_at(x, "reason"),
			      kfs_node_text_at(x, "message"), when ? when : "");
	}
}

/* ---------- Kratix's Reconciled ---------- */

/* Kratix's WorksSucceeded from what kratixfs knows of r's works (write_lock held): feedback's
 * word while it stands (Applied, Ready, Error); otherwise, with Git, whether the render is
 * committed (a commit retried in the background or a Work no destination takes is pending, as
 * a Work waiting for its destination is in Kratix); without Git, the render is the work. */
static void set_works(struct kfs_store *s, struct request *r)
{
	const struct condition *ws = kfs_conds_find(&r->conds, "WorksSucceeded");
	if (ws && (r->phase == APPLIED || r->phase == READY || r->phase == ERROR))
		return;
	const char *status = "True", *reason = "WorksSucceeded";
	char *message = kfs_xstrdup("All works associated with this resource are ready");
	const struct condition *c = kfs_conds_find(&r->conds, "Committed");
	if (s->git && r->name[0] && !(c && strcmp(c->status, "True") == 0)) {
		bool invalid = c && strcmp(c->reason, "InvalidDestinationSelectors") == 0;
		status = invalid ? "False" : "Unknown";
		reason = invalid ? "WorksFailing" : "WorksPending";
		struct kfs_buf m = {0};
		kfs_buf_printf(&m, "Some works associated with this resource %s: [%s] (%s)",
			       invalid ? "failed" : "are not ready", r->name,
			       c ? (c->message[0] ? c->message : c->reason) : "not committed yet");
		free(message);
		message = kfs_buf_steal(&m);
	}
	kfs_conds_set(&r->conds, "WorksSucceeded", status, reason, message, now_text());
	free(message);
}

void kfs_reconcile_conditions(struct kfs_store *s, struct request *r)
{
	const struct condition *cwc = kfs_conds_find(&r->conds, "ConfigureWorkflowCompleted");
	if (!cwc || !r->object)
		return; /* no workflow ran for what is in force: nothing to reconcile */
	const char *now = now_text();
	if (r->phase == SUSPENDED) {
		kfs_conds_set(&r->conds, "Reconciled", "Unknown", "WorkflowSuspended", "Suspended",
			      now);
		return;
	}
	if (strcmp(cwc->status, "True") != 0) {
		bool running = strcmp(cwc->reason, "PipelinesInProgress") == 0;
		kfs_conds_set(&r->conds, "Reconciled", running ? "Unknown" : "False",
			      running ? "WorkflowPending" : "ConfigureWorkflowFailed",
			      running ? "Pending" : "Failing", now);
		return;
	}
	set_works(s, r);
	const struct condition *ws = kfs_conds_find(&r->conds, "WorksSucceeded");
	if (strcmp(ws->status, "True") == 0)
		kfs_conds_set(&r->conds, "Reconciled", "True", "Reconciled", "Reconciled", now);
	else if (strcmp(ws->status, "False") == 0)
		kfs_conds_set(&r->conds, "Reconciled", "False", "WorksFailing", "Failing", now);
	else
		kfs_conds_set(&r->conds, "Reconciled", "Unknown", "WorksPending", "Pending", now);
}
