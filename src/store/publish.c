/* Publishing: a request's status.yaml and phase built from its typed state, its view swapped for
 * readers, and the root folder's status built when read. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/doc.h"
#include "kratixfs/hash.h"
#include "kratixfs/promise.h"
#include "kratixfs/status.h"
#include "store_internal.h"

/* Secrets are never shown: any key naming a password or token has its value masked. */
static void mask_secrets(struct kfs_node *n)
{
	if (n->type == KFS_SEQ) {
		for (size_t i = 0; i < n->len; i++)
			mask_secrets(n->items[i]);
		return;
	}
	if (n->type != KFS_MAP)
		return;
	for (size_t i = 0; i < n->len; i++) {
		struct kfs_node *v = n->pairs[i].value;
		const char *k = n->pairs[i].key;
		if ((strcasestr(k, "password") || strcasestr(k, "token")) && v->type != KFS_MAP &&
		    v->type != KFS_SEQ) {
			kfs_node_free(v);
			n->pairs[i].value = kfs_node_new_str("<masked>");
		} else {
			mask_secrets(v);
		}
	}
}

/* ---------- status ---------- */

static const char *const lifecycle_keys[] = {"draft", "unlinked", "phase",	"generation", "observedGeneration",
					     "inputDigest", "outputs",	  "commit",
					     "pushed",	    "warnings",	  NULL};

/* The condition types kratixfs sets itself (kfs_store_set_condition here and in gitsync.c). A
 * pipeline's condition of one of these types would replace the daemon's in the merge and hide
 * the request's real state (a forged Committed or Rejected), so it is dropped: the daemon's
 * stands. Any other type is the pipeline's own. */
static const char *const daemon_conditions[] = {
    "Rejected", "ConfigureWorkflowCompleted", "Reconciled", "Scheduled", "Committed", "Pushed",
    "WorksSucceeded", "PromiseAvailable", NULL};

static bool is_daemon_condition(const char *type)
{
	for (const char *const *t = daemon_conditions; *t && type; t++)
		if (strcmp(type, *t) == 0)
			return true;
	return false;
}

/* Whether two nodes are the same YAML (NULL is none). */
static bool same_node(const struct kfs_node *a, const struct kfs_node *b)
{
	if (!a || !b)
		return a == b;
	struct kfs_buf x = {0}, y = {0};
	kfs_doc_emit(a, &x);
	kfs_doc_emit(b, &y);
	bool same = x.len == y.len && (x.len == 0 || memcmp(x.data, y.data, x.len) == 0);
	kfs_buf_free(&x);
	kfs_buf_free(&y);
	return same;
}

/* base's condition of that type, or NULL. */
static const struct kfs_node *base_condition(const struct kfs_node *base, const char *type)
{
	const struct kfs_node *conds = base ? kfs_map_get(base, "conditions") : NULL;
	for (size_t i = 0; conds && conds->type == KFS_SEQ && i < conds->len; i++) {
		const char *t = kfs_node_text_at(conds->items[i], "type");
		if (t && type && strcmp(t, type) == 0)
			return conds->items[i];
	}
	return NULL;
}

/* Drops the daemon's condition types from status (the pipelines' merged metadata/status.yaml
 * of r's render, on the base it started from), saying so in the daemon's log and, with to_log,
 * in r's (a recovered request's log already says it) when a pipeline wrote one: a condition
 * that is still base's, as the render was given it, is the daemon's and goes silently.
 * write_lock held. */
void kfs_drop_daemon_conditions(struct kfs_store *s, struct request *r, struct kfs_node *status,
				const struct kfs_node *base, bool to_log)
{
	struct kfs_node *conds = status ? kfs_map_get(status, "conditions") : NULL;
	if (!conds || conds->type != KFS_SEQ)
		return;
	size_t keep = 0;
	for (size_t i = 0; i < conds->len; i++) {
		struct kfs_node *c = conds->items[i];
		const char *type = kfs_node_text_at(c, "type");
		if (!is_daemon_condition(type)) {
			conds->items[keep++] = c;
			continue;
		}
		if (same_node(c, base_condition(base, type))) {
			kfs_node_free(c);
			continue;
		}
		if (to_log) {
			struct kfs_buf line = {0};
			kfs_buf_printf(&line,
				       "%swarning: metadata/status.yaml: condition %s is kratixfs's "
				       "own; the pipeline's is dropped (give it another type)\n",
				       r->log ? r->log : "", type);
			free(r->log);
			r->log = kfs_buf_steal(&line);
		}
		kfs_store_log(s, KFS_LOG_WARN, "status-condition-dropped request=%s type=%s",
			      r->name[0] ? r->name : "(input/object.yaml)", type);
		kfs_node_free(c);
	}
	conds->len = keep;
	if (!keep)
		kfs_node_free(kfs_map_take(status, "conditions"));
}

struct kfs_node *kfs_status_input(const struct request *r)
{
	struct kfs_node *st = kfs_node_new(KFS_MAP);
	kfs_map_set(st, "message", kfs_node_new_str(r->message ? r->message : ""));
	if (r->conds.n)
		kfs_map_set(st, "conditions", kfs_conds_node(&r->conds));
	struct kfs_node *frag = NULL;
	if (r->render_status &&
	    kfs_doc_parse(r->render_status, strlen(r->render_status), "status", &frag, NULL) == 0 &&
	    frag->type == KFS_MAP)
		kfs_status_merge(st, frag, "status", NULL);
	kfs_node_free(frag);
	return st;
}

void kfs_keep_status(struct kfs_store *s, struct request *r, struct kfs_node *res_status,
		     const struct kfs_node *base, bool to_log)
{
	if (!res_status)
		return;
	kfs_drop_daemon_conditions(s, r, res_status, base, to_log);
	struct kfs_node *old = NULL;
	if (r->render_status &&
	    (kfs_doc_parse(r->render_status, strlen(r->render_status), "status", &old, NULL) < 0 ||
	     old->type != KFS_MAP)) {
		kfs_node_free(old);
		old = NULL;
	}
	/* The message the render was given is the pipelines' only if they wrote it, now or in
	 * an earlier render: otherwise it is the daemon's ("Resource requested"). */
	const struct kfs_node *msg = kfs_map_get(res_status, "message");
	if (!(old && kfs_map_get(old, "message")) && msg && base &&
	    same_node(msg, kfs_map_get(base, "message")))
		kfs_node_free(kfs_map_take(res_status, "message"));
	/* Merged onto the kept status, as Kratix merges each status.yaml onto the object's: the
	 * render started from it, so this only changes what the pipelines changed. */
	if (old && res_status->type == KFS_MAP &&
	    kfs_status_merge(old, res_status, "status", NULL) == 0) {
		kfs_node_free(res_status);
		res_status = old;
		old = NULL;
	}
	kfs_node_free(old);
	kfs_set_render_status(&r->render_status, res_status);
}

/* The position of pipeline name in p's configure workflows (resource, then promise), so that
 * of two outputs at one path the later pipeline's wins; 0 when p does not name it. */
static size_t pipeline_rank(const struct kfs_promise *p, const char *name)
{
	for (int t = 0; p && name && t < 2; t++) {
		const struct kfs_workflow *wf = &p->workflows[t][KFS_WF_CONFIGURE];
		for (size_t i = 0; i < wf->npipelines; i++)
			if (strcmp(wf->pipelines[i].name, name) == 0)
				return i;
	}
	return 0;
}

/* For each output of res, whether output/ shows it: of the outputs at one path, the one of the
 * latest pipeline (res's order breaks a tie). A new array of res->noutputs flags. */
static bool *shown_outputs(const struct kfs_promise *p, const struct kfs_render_result *res)
{
	bool *shown = kfs_xcalloc(res->noutputs ? res->noutputs : 1, sizeof(*shown));
	for (size_t i = 0; i < res->noutputs; i++) {
		size_t best = i;
		bool first = true;
		for (size_t j = 0; j < res->noutputs; j++) {
			if (strcmp(res->outputs[j].path, res->outputs[i].path) != 0)
				continue;
			if (first && j < i)
				first = false;
			if (pipeline_rank(p, res->outputs[j].pipeline) >=
			    pipeline_rank(p, res->outputs[best].pipeline))
				best = j;
		}
		if (first)
			shown[best] = true;
	}
	return shown;
}

void kfs_note_shadowed(const struct kfs_promise *p, const struct kfs_render_result *res,
		       char **log)
{
	bool *shown = shown_outputs(p, res);
	struct kfs_buf line = {0};
	for (size_t i = 0; i < res->noutputs; i++) {
		if (shown[i])
			continue;
		const struct kfs_output *o = &res->outputs[i];
		const struct kfs_output *w = NULL;
		for (size_t j = 0; j < res->noutputs && !w; j++)
			if (shown[j] && strcmp(res->outputs[j].path, o->path) == 0)
				w = &res->outputs[j];
		kfs_buf_printf(&line,
			       "output/%s: written by pipelines %s and %s; output/ shows %s's (each "
			       "pipeline's Work in Git keeps its own)\n",
			       o->path, o->pipeline ? o->pipeline : "-",
			       w && w->pipeline ? w->pipeline : "-",
			       w && w->pipeline ? w->pipeline : "-");
	}
	if (line.len) {
		struct kfs_buf all = {0};
		kfs_buf_printf(&all, "%s%s", *log ? *log : "", line.data);
		free(*log);
		*log = kfs_buf_steal(&all);
	}
	kfs_buf_free(&line);
	free(shown);
}

void kfs_set_render_status(char **field, struct kfs_node *status)
{
	free(*field);
	*field = NULL;
	if (status && !(status->type == KFS_MAP && status->len == 0)) {
		struct kfs_buf text = {0};
		mask_secrets(status);
		kfs_doc_emit(status, &text);
		*field = kfs_buf_steal(&text);
	}
	kfs_node_free(status);
}

/* status.yaml of r from its typed state (write_lock held); outputs: the view's first noutputs
 * files. */
static struct kfs_node *build_status(struct kfs_store *s, const struct request *r,
				     const struct kfs_view_file *outputs, size_t noutputs)
{
	struct kfs_node *st = kfs_node_new(KFS_MAP);
	kfs_map_set(st, "phase", kfs_node_new_str(kfs_phase_names[r->phase]));
	kfs_map_set(st, "message", kfs_node_new_str(r->message));
	kfs_map_set(st, "generation", kfs_node_new_int((long long)r->generation));
	kfs_map_set(st, "observedGeneration", kfs_node_new_int((long long)r->observed));
	if (r->good) {
		char digest[KFS_DIGEST_LEN];
		kfs_sha256_digest(r->good, r->good_len, digest);
		kfs_map_set(st, "inputDigest", kfs_node_new_str(digest));
	}
	struct kfs_node *outs = kfs_node_new(KFS_SEQ);
	for (size_t i = 0; i < noutputs; i++) {
		const struct kfs_view_file *f = &outputs[i];
		struct kfs_node *o = kfs_node_new(KFS_MAP);
		kfs_map_set(o, "path", kfs_node_new_str(f->path + strlen("output/")));
		kfs_map_set(o, "size", kfs_node_new_int((long long)f->len));
		kfs_map_set(o, "digest", kfs_node_new_str(kfs_blob_digest(kfs_blob_of(f))));
		kfs_seq_append(outs, o);
	}
	kfs_map_set(st, "outputs", outs);
	if (r->draft)
		kfs_map_set(st, "draft",
			    kfs_node_new_str("object.yaml holds a refused write, not in force: fix "
					     "it and write it again"));
	else if (r->unlinked)
		kfs_map_set(st, "unlinked",
			    kfs_node_new_str("object.yaml was removed; the request stays in force "
					     "until its folder is removed (rmdir, rm -rf), and the "
					     "next write of object.yaml edits it"));
	/* Fields the schema pruned, as kubectl warns of them: a typo must not pass unseen. */
	if (r->warnings) {
		struct kfs_node *w = kfs_node_new(KFS_SEQ);
		for (const char *l = r->warnings, *nl; *l; l = nl + 1) {
			nl = strchr(l, '\n');
			kfs_seq_append(w, kfs_node_new_scalar(KFS_STR, l, (size_t)(nl - l)));
		}
		kfs_map_set(st, "warnings", w);
	}
	kfs_gitsync_status(s, r, st);
	kfs_map_set(st, "conditions", kfs_conds_node(&r->conds));
	/* The pipelines' own keys follow Kratix's merge; the lifecycle keys stay kratixfs's, and
	 * the pipelines' message only speaks while there is no error or suspension to report. */
	struct kfs_node *frag = NULL;
	/* Text the store emitted itself: the fast path parses it in a microsecond or two. */
	const char *text = kfs_slot_status_text(r);
	if (text && kfs_doc_parse(text, strlen(text), "status", &frag, NULL) == 0) {
		for (const char *const *k = lifecycle_keys; *k; k++)
			kfs_node_free(kfs_map_take(frag, *k));
		if (r->phase == ERROR || r->phase == SUSPENDED || r->rejection)
			kfs_node_free(kfs_map_take(frag, "message"));
		kfs_status_merge(st, frag, "status", NULL);
		kfs_node_free(frag);
	}
	mask_secrets(st);
	return st;
}

/* ---------- publishing ---------- */

void kfs_store_notify(struct kfs_store *s, const char *folder)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	__atomic_store_n(&s->changed_ns, (int64_t)now.tv_sec * 1000000000 + now.tv_nsec,
			 __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->stamp, 1, __ATOMIC_RELAXED);
	if (s->on_publish)
		s->on_publish(s->on_publish_ctx, folder);
}

static const char *const request_dirs[] = {"output", "metadata", NULL};
static const char *const slot_dirs[] = {"input", "output", "metadata", NULL};

/* r's outputs: res's (each hashed once, here; old's blob is reused for the same bytes), one a
 * path (the later pipeline's: p's order), or with res NULL the ones old shows. */
static void add_outputs(struct view_builder *vb, const struct kfs_view *old,
			const struct kfs_promise *p, const struct kfs_render_result *res)
{
	if (!res) {
		for (size_t i = 0; old && i < old->nfiles; i++) {
			const struct kfs_view_file *f = &old->files[i];
			if (strncmp(f->path, "output/", 7) == 0)
				kfs_vb_add_blob(vb, kfs_blob_get(kfs_blob_of(f)), false);
		}
		return;
	}
	struct kfs_buf path = {0};
	bool *shown = shown_outputs(p, res);
	for (size_t i = 0; i < res->noutputs; i++) {
		if (!shown[i])
			continue;
		path.len = 0;
		kfs_buf_printf(&path, "output/%s", res->outputs[i].path);
		kfs_vb_add_output(vb, old, path.data, res->outputs[i].data, res->outputs[i].len);
	}
	free(shown);
	kfs_buf_free(&path);
}

/* The emitted YAML of n, as the file path of vb (old's blob when the bytes are the same). */
static void add_yaml(struct view_builder *vb, const struct kfs_view *old, const char *path,
		     const struct kfs_node *n)
{
	struct kfs_buf text = {0};
	kfs_buf_reserve(&text, 4096); /* one allocation: a status is 1-3 KiB, not grown by doubling */
	kfs_doc_emit(n, &text);
	kfs_vb_add_kept(vb, old, path, text.data, text.len, false);
	kfs_buf_free(&text);
}

/* The files of r's folder besides its outputs and status.yaml. */
static void add_request_files(struct view_builder *vb, const struct request *r,
			      const struct kfs_view *old)
{
	bool slot = r->name[0] == '\0';
	/* The slot's metadata/ files, once other processes changed them, are their own (slot.c). */
	if (r->render_status && !r->edits)
		kfs_vb_add_kept(vb, old, "metadata/status.yaml", r->render_status,
				strlen(r->render_status), false);
	if (!slot) {
		char phase[32];
		int n = snprintf(phase, sizeof(phase), "%s\n", kfs_phase_names[r->phase]);
		kfs_vb_add_kept(vb, old, "phase", phase, (size_t)n, false);
		kfs_vb_add_kept(vb, old, "feedback", "", 0, true);
		kfs_vb_add_kept(vb, old, "log", r->log ? r->log : "", r->log ? strlen(r->log) : 0,
				false);
	}
	if (r->selectors && !r->edits)
		add_yaml(vb, old, "metadata/destination-selectors.yaml", r->selectors);
	const char *object = slot ? "input/object.yaml" : "object.yaml";
	if (r->draft)
		kfs_vb_add_kept(vb, old, object, r->draft, r->draft_len, true);
	else if (r->object && !r->unlinked)
		kfs_vb_add_kept(vb, old, object, r->object, r->object_len, true);
}

/* Builds r's view (write_lock held): res's outputs (NULL: the published ones), status.yaml
 * from r's typed state and the push state as of *push_stamp, and the other files. */
static struct kfs_view *build_request_view(struct kfs_store *s, struct request *r,
					   const struct kfs_render_result *res,
					   uint64_t *push_stamp)
{
	bool slot = r->name[0] == '\0';
	/* r->view changes only under write_lock, which is held. */
	const struct kfs_view *old = r->view;
	struct view_builder vb = {0};
	/* Outputs come with a render, under promises_lock (read) or while recovering. */
	const struct kfs_promise *p =
	    res && res->noutputs && r->promise ? kfs_store_find_promise(s, r->promise) : NULL;
	if (r->edits)
		kfs_slot_add_files(&vb, old, r->edits, "output/");
	else
		add_outputs(&vb, old, p, res);
	size_t noutputs = vb.n;
	*push_stamp = kfs_gitsync_pushed(s, r);
	struct kfs_node *status = build_status(s, r, vb.files, noutputs);
	/* The slot's status.yaml is not a file of the root: it is the root status.yaml's `slot`. */
	add_yaml(&vb, old, "status.yaml", status);
	kfs_node_free(status);
	if (r->edits)
		kfs_slot_add_files(&vb, old, r->edits, "metadata/");
	add_request_files(&vb, r, old);
	struct kfs_view *v = kfs_vb_finish(s, &vb, r->edits ? kfs_slot_dirs(r->edits)
						: slot	   ? slot_dirs
							   : request_dirs);
	if (slot)
		kfs_slot_mark_writable(v);
	v->owner = r->owner;
	return v;
}

static void swap_view(struct kfs_store *s, struct request *r, struct kfs_view *v,
		      uint64_t push_stamp)
{
	pthread_mutex_lock(&r->view_lock);
	struct kfs_view *old = r->view;
	r->view = v;
	r->push_live = s->pushing && r->commit[0];
	r->status_push_stamp = push_stamp;
	pthread_mutex_unlock(&r->view_lock);
	kfs_view_put(old);
}

void kfs_store_publish(struct kfs_store *s, struct request *r, const struct kfs_render_result *res)
{
	uint64_t push_stamp;
	kfs_reconcile_conditions(s, r);
	struct kfs_view *v = build_request_view(s, r, res, &push_stamp);
	swap_view(s, r, v, push_stamp);
	/* r->phase changes under write_lock; the root view reads this copy without it. */
	__atomic_store_n(&r->published_phase, r->phase, __ATOMIC_RELAXED);
	kfs_promise_count(s, r);
	struct kfs_buf folder = {0};
	if (r->name[0])
		kfs_buf_printf(&folder, "requests/%s", r->name);
	kfs_store_notify(s, folder.data ? folder.data : "");
	kfs_buf_free(&folder);
}

/* A reader found r's status.yaml built at an older push state: it is built again, in a view
 * with the same serial and the same other files. Nothing is published or recorded: a push
 * costs the requests nothing until their status is read. */
static void refresh_status(struct kfs_store *s, struct request *r)
{
	pthread_mutex_lock(&r->write_lock);
	if (r->view && r->push_live &&
	    r->status_push_stamp != __atomic_load_n(&s->push_stamp, __ATOMIC_ACQUIRE)) {
		uint64_t push_stamp;
		struct kfs_view *v = build_request_view(s, r, NULL, &push_stamp);
		v->serial = r->view->serial;
		v->mtime = r->view->mtime;
		swap_view(s, r, v, push_stamp);
	}
	pthread_mutex_unlock(&r->write_lock);
}

/* ---------- the root and lookups ---------- */

/* The root status.yaml: daemon-wide, built when read. */
static struct kfs_node *root_status(struct kfs_store *s)
{
	size_t counts[NPHASES] = {0};
	pthread_rwlock_rdlock(&s->table_lock);
	for (size_t i = 0; i < s->nrequests; i++)
		counts[__atomic_load_n(&s->requests[i]->published_phase, __ATOMIC_RELAXED)]++;
	size_t total = s->nrequests;
	pthread_rwlock_unlock(&s->table_lock);
	struct kfs_node *st = kfs_node_new(KFS_MAP);
	kfs_map_set(st, "version", kfs_node_new_str(KFS_VERSION));
	struct kfs_node *proms = kfs_node_new(KFS_MAP);
	pthread_rwlock_rdlock(&s->promises_lock);
	for (size_t i = 0; i < s->npromises; i++)
		kfs_map_set(proms, s->promises[i].name,
			    kfs_node_new_str(kfs_promise_phase(&s->promises[i])));
	pthread_rwlock_unlock(&s->promises_lock);
	kfs_map_set(st, "promises", proms);
	struct kfs_node *reqs = kfs_node_new(KFS_MAP);
	kfs_map_set(reqs, "total", kfs_node_new_int((long long)total));
	for (int i = 0; i < NPHASES; i++)
		kfs_map_set(reqs, kfs_phase_names[i], kfs_node_new_int((long long)counts[i]));
	kfs_map_set(st, "requests", reqs);
	kfs_gitsync_root_status(s, st);
	kfs_recovery_status(s, st);
	return st;
}

/* The root view, cached until the next publish or push outcome. */
static struct kfs_view *root_view(struct kfs_store *s)
{
	pthread_mutex_lock(&s->root_lock);
	uint64_t stamp = __atomic_load_n(&s->stamp, __ATOMIC_RELAXED);
	uint64_t push_stamp = __atomic_load_n(&s->push_stamp, __ATOMIC_ACQUIRE);
	if (s->root && s->root_stamp == stamp && s->root_push_stamp == push_stamp) {
		struct kfs_view *v = kfs_view_get(s->root);
		pthread_mutex_unlock(&s->root_lock);
		return v;
	}
	struct view_builder vb = {0};
	pthread_mutex_lock(&s->slot->view_lock);
	struct kfs_view *slot = kfs_view_get(s->slot->view);
	pthread_mutex_unlock(&s->slot->view_lock);
	struct kfs_node *st = root_status(s);
	/* The slot's own status (its lifecycle and its pipelines' merged status.yaml). */
	const struct kfs_view_file *ss = slot ? kfs_view_file(slot, "status.yaml") : NULL;
	struct kfs_node *slot_st = NULL;
	if (ss && kfs_doc_parse(ss->data, ss->len, "status", &slot_st, NULL) == 0)
		kfs_map_set(st, "slot", slot_st);
	add_yaml(&vb, s->root, "status.yaml", st);
	kfs_node_free(st);
	for (size_t i = 0; slot && i < slot->nfiles; i++)
		if (&slot->files[i] != ss)
			kfs_vb_add_blob(&vb, kfs_blob_get(kfs_blob_of(&slot->files[i])),
					slot->files[i].writable);
	/* The slot's folders, the empty ones made by mkdir too. */
	const char **dirs = kfs_xcalloc(slot ? slot->ndirs + 4 : 4, sizeof(*dirs));
	size_t nd = 0;
	for (const char *const *d = slot_dirs; *d; d++)
		dirs[nd++] = *d;
	for (size_t i = 0; slot && i < slot->ndirs; i++)
		dirs[nd++] = slot->dirs[i];
	kfs_view_put(s->root);
	s->root = kfs_vb_finish(s, &vb, dirs);
	free(dirs);
	kfs_view_put(slot);
	s->root_stamp = stamp;
	s->root_push_stamp = push_stamp;
	struct kfs_view *v = kfs_view_get(s->root);
	pthread_mutex_unlock(&s->root_lock);
	return v;
}

struct kfs_view *kfs_store_view(struct kfs_store *s, const char *folder)
{
	if (!*folder)
		return root_view(s);
	if (strncmp(folder, "requests/", 9) == 0) {
		struct request *r = kfs_store_request_get(s, folder + 9);
		if (!r)
			return NULL;
		pthread_mutex_lock(&r->view_lock);
		bool stale = r->push_live && r->status_push_stamp !=
						 __atomic_load_n(&s->push_stamp, __ATOMIC_ACQUIRE);
		pthread_mutex_unlock(&r->view_lock);
		if (stale)
			refresh_status(s, r);
		pthread_mutex_lock(&r->view_lock);
		struct kfs_view *v = kfs_view_get(r->view);
		pthread_mutex_unlock(&r->view_lock);
		kfs_store_request_put(r);
		return v;
	}
	if (strncmp(folder, "promises/", 9) == 0)
		return kfs_promise_view(s, folder + 9);
	return NULL;
}
