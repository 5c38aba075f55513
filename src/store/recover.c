/* Persistence and recovery: each change of a request is one typed record in the state folder's
 * journal (journal.h, record.c); a start reads them back and renders every request again from its
 * last good input (render() is a pure function: the same bytes come out). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/doc.h"
#include "kratixfs/render.h"
#include "journal.h"
#include "store_internal.h"

/* ---------- persistence ---------- */

int kfs_store_persist(struct kfs_store *s, const struct request *r, struct kfs_error *err)
{
	struct kfs_buf rec = {0};
	/* One allocation for the record: its inputs and log, and room for the rest. */
	kfs_buf_reserve(&rec, r->object_len + r->good_len + r->draft_len +
				  (r->log ? strlen(r->log) : 0) +
				  (r->render_status ? strlen(r->render_status) : 0) +
				  (r->status_base ? strlen(r->status_base) : 0) + 1024);
	kfs_record_encode(r, &rec);
	int rc = kfs_journal_put(s->journal, r->name, rec.data, rec.len, err);
	kfs_buf_free(&rec);
	return rc;
}

/* Moves a record's fields into r (the record keeps what r does not take). */
static void take_record(struct kfs_store *s, struct request *r, struct record *rec)
{
	r->generation = rec->generation;
	r->observed = rec->observed;
	r->phase = rec->phase;
	kfs_set_text(&r->message, rec->message ? rec->message : "");
	kfs_set_text(&r->rejection, rec->rejection);
	kfs_set_text(&r->log, rec->log);
	memcpy(r->commit, rec->commit, sizeof(r->commit));
	kfs_set_text(&r->promise, rec->promise);
	/* A commit from before this run: pushed only once a push of this run says so, even if
	 * the request is not rendered (and so not committed) again. */
	r->commit_seq = r->commit[0] ? s->commit_seq : 0;
	kfs_conds_free(&r->conds);
	r->conds = rec->conds;
	rec->conds = (struct conditions){0};
	free(r->object);
	r->object = rec->object, r->object_len = rec->object_len;
	rec->object = NULL;
	free(r->draft);
	r->draft = rec->draft, r->draft_len = rec->draft_len;
	rec->draft = NULL;
	r->unlinked = r->object && rec->unlinked;
	kfs_slot_files_free(r->edits);
	r->edits = rec->edits;
	rec->edits = NULL;
	if (rec->has_owner & 1)
		r->owner.uid = rec->owner.uid;
	if (rec->has_owner & 2)
		r->owner.gid = rec->owner.gid;
	if (rec->has_owner & 4)
		r->owner.dir_mode = rec->owner.dir_mode;
	if (rec->has_owner & 8)
		r->owner.obj_mode = rec->owner.obj_mode;
	/* "" is a recorded empty status; NULL (an older record) leaves it to the render. */
	free(r->render_status);
	r->render_status = rec->status && rec->status[0] ? rec->status : NULL;
	if (r->render_status)
		rec->status = NULL;
	free(r->status_base);
	r->status_base = rec->status_base, rec->status_base = NULL;
	r->retry_at = rec->retry_at;
}

/* What a recovered render leaves in r (rc 0): its status only when the record has none (an
 * older record), its commit, unless the workflow suspended (a first write that suspended:
 * nothing of it was in force). Returns whether the outputs are r's. */
static bool take_render(struct kfs_store *s, struct request *r, const struct record *rec,
			const struct kfs_promise *p, struct kfs_render_result *res, const char *good,
			size_t good_len)
{
	if (kfs_render_suspended(res))
		return false;
	kfs_set_bytes(&r->good, &r->good_len, good, good_len);
	kfs_set_text(&r->warnings, res->warnings.len ? res->warnings.data : NULL);
	if (!rec->status)
		kfs_keep_status(s, r, res->status, NULL, false);
	else
		kfs_node_free(res->status);
	res->status = NULL;
	kfs_gitsync_request(s, r, p, res);
	r->selectors = res->selectors, res->selectors = NULL;
	return true;
}

/* Rebuilds a request from its journal record: the last good input is rendered again, from the
 * status that render started from, so that the same outputs come out. */
static void recover_request(struct kfs_store *s, struct request *r, struct record *rec)
{
	take_record(s, r, rec);
	const char *good = rec->good ? rec->good : r->object;
	size_t good_len = rec->good ? rec->good_len : r->object_len;
	struct kfs_render_result res = {0};
	bool shown = false;
	if (good && r->object) {
		struct kfs_error err = {0};
		const struct kfs_promise *p;
		struct kfs_node *base = NULL;
		if (r->status_base)
			kfs_doc_parse(r->status_base, strlen(r->status_base), "status", &base, NULL);
		int rc = kfs_render_request(s, r, good, good_len, base, &p, &res, &err);
		kfs_node_free(base);
		if (rc == 0) {
			shown = take_render(s, r, rec, p, &res, good, good_len);
		} else if (!kfs_promise_held(s, r)) {
			/* The promise changed while the daemon was down and no longer renders it. */
			r->phase = ERROR;
			kfs_set_text(&r->message, err.msg);
		}
	}
	kfs_store_publish(s, r, shown ? &res : NULL);
	kfs_render_result_free(&res);
}

/* Called by the journal for each request it holds, in name order. */
static void recover_one(void *ctx, const char *name, const char *payload, size_t len)
{
	struct kfs_store *s = ctx;
	struct record rec;
	struct kfs_error err = {0};
	if (kfs_record_decode(payload, len, &rec, &err) < 0) {
		kfs_store_log_error(s, KFS_LOG_ERROR, err.msg, "recover request=%s result=failed",
				    name);
		return;
	}
	struct request *r = s->slot;
	if (name[0]) {
		size_t pos;
		r = kfs_table_find(s, name, &pos);
		if (!r) {
			r = kfs_request_new(name);
			kfs_table_insert(s, r, pos);
		}
	}
	recover_request(s, r, &rec);
	kfs_record_free(&rec);
}

/* Says what reading the state folder back had to do (the root status.yaml says it too), and
 * keeps the Git store's copy of every request whose last change was lost: the start's commit
 * would replace it with the older render the state folder still had. A lost request the state
 * folder no longer holds at all is not committed either, so Git keeps its files. */
static void report_recovery(struct kfs_store *s)
{
	const struct kfs_journal_report *rep = kfs_journal_report(s->journal);
	if (rep->torn_bytes)
		kfs_store_log(
		    s, KFS_LOG_INFO,
		    "recover state=%s torn-tail=%zu (a change cut short by a crash, never "
		    "acknowledged: dropped)",
		    s->state_dir, rep->torn_bytes);
	const struct kfs_journal_damage *files[] = {&rep->snapshot, &rep->journal};
	for (size_t i = 0; i < 2; i++)
		if (files[i]->file)
			kfs_store_log(s, KFS_LOG_ERROR,
				      "state-damaged file=%s kept-as=%s records-kept=%zu "
				      "records-lost=%zu bytes-lost=%zu",
				      files[i]->file, files[i]->kept_as, files[i]->kept,
				      files[i]->lost, files[i]->lost_bytes);
	if (!rep->snapshot.file && !rep->journal.file)
		return;
	struct kfs_buf names = {0};
	for (size_t i = 0; i < rep->nlost_keys; i++) {
		const char *name = rep->lost_keys[i];
		kfs_buf_printf(&names, "%s%s", i ? "," : "", name[0] ? name : "(root slot)");
		struct request *r = name[0] ? kfs_table_find(s, name, NULL) : s->slot;
		if (r && s->git) {
			/* Recorded, so that the next start holds it back too (hold_back). */
			kfs_gitsync_keep(s, r);
			kfs_store_persist(s, r, NULL);
		}
	}
	kfs_store_log(s, KFS_LOG_ERROR, "state-damaged lost-requests=%s unnamed-records=%zu git=%s",
		      names.data ? names.data : "-", rep->unnamed, s->git ? "kept" : "-");
	kfs_buf_free(&names);
}

/* Whether r's Committed condition holds it back from commits since its last change was lost. */
static bool held_back(const struct request *r)
{
	const struct condition *c = kfs_conds_find(&r->conds, "Committed");
	return c && strcmp(c->reason, "StateDamaged") == 0;
}

/* Every request held back by a damaged state folder, at this start or an earlier one, stays out
 * of the start's commit until its object.yaml is written again. */
static void hold_back(struct kfs_store *s)
{
	if (!s->git)
		return;
	for (size_t i = 0; i <= s->nrequests; i++) {
		struct request *r = i < s->nrequests ? s->requests[i] : s->slot;
		if (held_back(r)) {
			kfs_gitsync_keep(s, r);
			kfs_store_publish(s, r, NULL);
		}
	}
}

/* The root status.yaml's `recovery` map, when the state folder was found damaged at start. */
void kfs_recovery_status(struct kfs_store *s, struct kfs_node *status)
{
	const struct kfs_journal_report *rep = s->journal ? kfs_journal_report(s->journal) : NULL;
	if (!rep || (!rep->snapshot.file && !rep->journal.file))
		return;
	struct kfs_node *rec = kfs_node_new(KFS_MAP);
	kfs_map_set(rec, "message",
		    kfs_node_new_str("the state folder was damaged: every record that could be "
				     "proven was kept, the damaged files were kept aside"));
	struct kfs_node *damaged = kfs_node_new(KFS_SEQ);
	const struct kfs_journal_damage *files[] = {&rep->snapshot, &rep->journal};
	for (size_t i = 0; i < 2; i++) {
		if (!files[i]->file)
			continue;
		struct kfs_node *f = kfs_node_new(KFS_MAP);
		kfs_map_set(f, "file", kfs_node_new_str(files[i]->file));
		kfs_map_set(f, "keptAs", kfs_node_new_str(files[i]->kept_as));
		kfs_map_set(f, "recordsKept", kfs_node_new_int((long long)files[i]->kept));
		kfs_map_set(f, "recordsLost", kfs_node_new_int((long long)files[i]->lost));
		kfs_map_set(f, "bytesLost", kfs_node_new_int((long long)files[i]->lost_bytes));
		kfs_seq_append(damaged, f);
	}
	kfs_map_set(rec, "damaged", damaged);
	struct kfs_node *lost = kfs_node_new(KFS_SEQ);
	for (size_t i = 0; i < rep->nlost_keys; i++)
		kfs_seq_append(lost, kfs_node_new_str(rep->lost_keys[i][0] ? rep->lost_keys[i]
									   : "(root slot)"));
	kfs_map_set(rec, "lostRequests", lost);
	if (rep->unnamed)
		kfs_map_set(rec, "unnamedRecordsLost", kfs_node_new_int((long long)rep->unnamed));
	if (s->git)
		kfs_map_set(rec, "git",
			    kfs_node_new_str("the Git store keeps the last committed files of the "
					     "lost requests: the start did not commit over them; "
					     "write their object.yaml again"));
	kfs_map_set(status, "recovery", rec);
}

/* Reads the state folder back: every request is rendered again from its last good input. */
int kfs_store_recover(struct kfs_store *s, struct kfs_error *err)
{
	s->recovering = true;
	int rc = kfs_journal_open(s->state_dir, recover_one, s, &s->journal, err);
	if (rc == 0)
		report_recovery(s);
	if (rc == 0)
		hold_back(s);
	if (!s->slot->view)
		kfs_store_publish(s, s->slot, NULL);
	s->recovering = false;
	kfs_gitsync_flush(s);
	/* Suspended requests wait for their retryAfter again (an overdue one runs at once). */
	for (size_t i = 0; rc == 0 && i < s->nrequests; i++)
		if (s->requests[i]->phase == SUSPENDED && s->requests[i]->retry_at)
			kfs_retry_schedule(s, s->requests[i]->name, s->requests[i]->retry_at);
	return rc;
}
