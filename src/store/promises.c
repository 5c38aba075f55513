/* The promises folder: loading, reloading (re-rendering the requests of a changed promise), and
 * each promise's folder (promise.yaml, status.yaml, the promise workflow's outputs). */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/doc.h"
#include "kratixfs/files.h"
#include "kratixfs/promise.h"
#include "kratixfs/hash.h"
#include "kratixfs/status.h"
#include "store_internal.h"

/* ---------- promises ---------- */

static void digest_folder(const char *dir, char out[KFS_DIGEST_LEN])
{
	char **files;
	size_t n;
	struct kfs_buf all = {0};
	if (kfs_list_files(dir, &files, &n, NULL) == 0) {
		for (size_t i = 0; i < n; i++) {
			struct kfs_buf path = {0};
			kfs_buf_printf(&path, "%s/%s", dir, files[i]);
			kfs_buf_printf(&all, "%s%c", files[i], '\0');
			kfs_read_file(path.data, &all, NULL);
			kfs_buf_addc(&all, '\0');
			kfs_buf_free(&path);
		}
		kfs_free_list(files, n);
	}
	kfs_sha256_digest(all.data ? all.data : "", all.len, out);
	kfs_buf_free(&all);
}

/* kfs_promise_requests for each of the n entries, in a new array. */
size_t *kfs_count_requests(struct kfs_store *s, const struct promise_entry *list, size_t n)
{
	size_t *counts = kfs_xcalloc(n ? n : 1, sizeof(*counts));
	for (size_t i = 0; i < n; i++)
		/* Requests name the promise (metadata.name), not its folder. */
		counts[i] = kfs_promise_requests(s, list[i].p ? list[i].p->name : list[i].name);
	return counts;
}

const char *kfs_promise_phase(const struct promise_entry *e)
{
	if (!e->p)
		return "Unavailable";
	if (e->unmet)
		return "Unavailable"; /* Kratix's status while a requirement is not installed */
	return e->error ? "Degraded" : "Available";
}

/* The status keys kratixfs sets itself: the promise workflow's status.yaml cannot replace them. */
static const char *const promise_keys[] = {"name", "version", "apiVersion", "kind", "phase",
					   "workflow", "commitError", "unscheduled", "requests",
					   "warnings", "requiredPromises", NULL};

/* The promise workflow's metadata/status.yaml merged onto st, as Kratix merges it onto the
 * Promise's status: its keys but kratixfs's own; its message only while nothing is wrong. */
static void merge_workflow_status(const struct promise_entry *e, struct kfs_node *st,
				  bool quiet)
{
	struct kfs_node *frag = NULL;
	if (!e->wf_status ||
	    kfs_doc_parse(e->wf_status, strlen(e->wf_status), "status", &frag, NULL) < 0)
		return;
	for (const char *const *k = promise_keys; *k; k++)
		kfs_node_free(kfs_map_take(frag, *k));
	if (!quiet)
		kfs_node_free(kfs_map_take(frag, "message"));
	struct kfs_node *conds = kfs_map_get(frag, "conditions");
	for (size_t i = 0; conds && conds->type == KFS_SEQ && i < conds->len; i++) {
		const char *type = kfs_node_text_at(conds->items[i], "type");
		if (type && strcmp(type, "RequirementsFulfilled") == 0) {
			kfs_node_free(conds->items[i]);
			memmove(&conds->items[i], &conds->items[i + 1],
				(conds->len - i - 1) * sizeof(*conds->items));
			conds->len--, i--;
		}
	}
	kfs_status_merge(st, frag, "promise workflow status", NULL);
	kfs_node_free(frag);
}

/* Kratix's RequirementsFulfilled condition and status.requiredPromises, for a promise that
 * requires others. */
static void requirements_status(const struct promise_entry *e, struct kfs_node *st)
{
	if (!e->required)
		return;
	kfs_map_set(st, "requiredPromises", kfs_node_copy(e->required));
	char now[32];
	kfs_now_rfc3339(now);
	bool ok = !e->unmet;
	const char *reason = "RequirementsInstalled";
	for (size_t i = 0; i < e->required->len && !ok; i++) {
		const char *state = kfs_node_text_at(e->required->items[i], "state");
		if (strcmp(state, "Requirement not available") == 0)
			reason = "RequirementsNotAvailable";
		else if (strcmp(state, "Requirement installed") != 0)
			reason = "RequirementsNotInstalled";
	}
	kfs_status_set_condition(st, "RequirementsFulfilled", ok ? "True" : "False", reason,
				 ok ? "Requirements fulfilled" : "Requirements not fulfilled", now);
}

/* The warnings of a promise's load, and the delete pipelines that never run. */
static void warnings_status(const struct kfs_promise *p, struct kfs_node *st)
{
	struct kfs_buf all = {0};
	kfs_buf_adds(&all, p->warnings.data ? p->warnings.data : "");
	for (int t = 0; t < 2; t++) {
		const struct kfs_workflow *wf = &p->workflows[t][KFS_WF_DELETE];
		for (size_t i = 1; i < wf->npipelines; i++)
			kfs_buf_printf(&all,
				       "warning: spec.workflows.%s.delete: pipeline %s never runs: "
				       "Kratix runs only the first delete pipeline (%s), and so does "
				       "kratixfs\n",
				       kfs_wtype_names[t], wf->pipelines[i].name, wf->pipelines[0].name);
	}
	if (!all.len) {
		kfs_buf_free(&all);
		return;
	}
	struct kfs_node *w = kfs_node_new(KFS_SEQ);
	for (const char *line = all.data; *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		kfs_seq_append(w, kfs_node_new_scalar(KFS_STR, line, len));
		line += len + (nl ? 1 : 0);
	}
	kfs_map_set(st, "warnings", w);
	kfs_buf_free(&all);
}

/* A promise's status.yaml, from its entry and its number of requests. */
static void promise_status(const struct promise_entry *e, size_t nrequests, struct kfs_buf *out)
{
	const struct kfs_promise *p = e->p;
	struct kfs_node *st = kfs_node_new(KFS_MAP);
	kfs_map_set(st, "name", kfs_node_new_str(e->name));
	if (p) {
		kfs_map_set(st, "version", kfs_node_new_str(p->version));
		if (p->kind) {
			struct kfs_buf api = {0};
			kfs_buf_printf(&api, "%s/%s", p->group,
				       p->nversions ? p->versions[0].name : "");
			kfs_map_set(st, "apiVersion", kfs_node_new_str(api.data));
			kfs_map_set(st, "kind", kfs_node_new_str(p->kind));
			kfs_buf_free(&api);
		}
	}
	kfs_map_set(st, "phase", kfs_node_new_str(kfs_promise_phase(e)));
	struct kfs_buf msg = {0};
	if (e->error)
		kfs_buf_printf(&msg, "%s%s", p ? "the last good version is in use: " : "",
			       e->error);
	if (p && e->unmet)
		kfs_buf_printf(&msg, "%sCannot fulfil resource requests: required promises are not "
			       "available: %s", msg.len ? "; " : "", e->unmet);
	kfs_map_set(st, "message", kfs_node_new_str(msg.len ? msg.data : "Promise loaded"));
	if (e->workflow_failure)
		kfs_map_set(st, "workflow", kfs_node_new_str(e->workflow_failure));
	if (e->commit_error)
		kfs_map_set(st, "commitError", kfs_node_new_str(e->commit_error));
	if (e->unscheduled)
		kfs_map_set(st, "unscheduled", kfs_node_new_str(e->unscheduled));
	kfs_map_set(st, "requests", kfs_node_new_int((long long)nrequests));
	if (p)
		warnings_status(p, st);
	requirements_status(e, st);
	merge_workflow_status(e, st, !msg.len && !e->workflow_failure);
	kfs_buf_free(&msg);
	kfs_doc_emit(st, out);
	kfs_node_free(st);
}

/* Adds status.yaml to the promise's files and makes them its view. */
static void finish_promise_view(struct kfs_store *s, struct promise_entry *e, size_t nrequests,
				struct view_builder *vb)
{
	static const char *const dirs[] = {"output", NULL};
	struct kfs_buf status = {0};
	promise_status(e, nrequests, &status);
	kfs_vb_add_kept(vb, e->view, "status.yaml", status.data, status.len, false);
	kfs_buf_free(&status);
	kfs_view_put(e->view);
	e->view = kfs_vb_finish(s, vb, dirs);
	e->view_requests = nrequests;
}

/* The same files as e's view, but status.yaml (the workflow does not run again). */
static void copy_but_status(const struct promise_entry *e, struct view_builder *vb)
{
	for (size_t k = 0; k < e->view->nfiles; k++) {
		const struct kfs_view_file *f = &e->view->files[k];
		if (strcmp(f->path, "status.yaml") != 0)
			kfs_vb_add_blob(vb, kfs_blob_get(kfs_blob_of(f)), f->writable);
	}
}

struct kfs_view *kfs_promise_view(struct kfs_store *s, const char *name)
{
	/* A request's publish counts it (kfs_promise_count): status.yaml follows when read. */
	struct kfs_view *v = NULL;
	pthread_rwlock_rdlock(&s->promises_lock);
	for (size_t i = 0; i < s->npromises && !v; i++) {
		struct promise_entry *e = &s->promises[i];
		if (strcmp(e->name, name) != 0)
			continue;
		/* count_lock is a leaf: taken under promises_lock (read), it takes no other. */
		size_t nrequests = kfs_promise_requests(s, e->p ? e->p->name : e->name);
		pthread_mutex_lock(&s->pview_lock);
		if (e->view && e->view_requests != nrequests) {
			struct kfs_view *old = e->view;
			struct view_builder vb = {0};
			copy_but_status(e, &vb);
			e->view = kfs_view_get(old);
			finish_promise_view(s, e, nrequests, &vb);
			e->view->serial = old->serial;
			e->view->mtime = old->mtime;
			kfs_view_put(old);
		}
		v = kfs_view_get(e->view);
		pthread_mutex_unlock(&s->pview_lock);
	}
	pthread_rwlock_unlock(&s->promises_lock);
	return v;
}

/* Runs the promise workflow (committing its outputs with Git on) and publishes the folder, which
 * says it has nrequests requests (counted before promises_lock was taken). */
void kfs_build_promise_view(struct kfs_store *s, struct promise_entry *e, size_t nrequests)
{
	struct view_builder vb = {0};
	struct kfs_buf log = {0};
	const struct kfs_promise *p = e->p;
	if (p) {
		struct kfs_buf text = {0};
		kfs_doc_emit(p->doc, &text);
		kfs_vb_add_kept(&vb, e->view, "promise.yaml", text.data, text.len, false);
		/* The promise workflow's input is the Promise document itself. */
		struct kfs_render_input in = {.promise = p, .type = KFS_WF_PROMISE,
					      .action = KFS_WF_CONFIGURE, .data = text.data,
					      .len = text.len, .exec = s->exec};
		struct kfs_render_result res;
		struct kfs_error err = {0};
		if (kfs_render(&in, &res, &err) == 0) {
			kfs_node_free(e->wf_selectors);
			e->wf_selectors = kfs_node_copy(res.selectors);
			/* Shown in status.yaml, as Kratix merges it onto the Promise's status. */
			kfs_set_render_status(&e->wf_status, res.status);
			res.status = NULL;
			kfs_gitsync_promise(s, e, &res);
			for (size_t i = 0; i < res.noutputs; i++) {
				struct kfs_buf path = {0};
				kfs_buf_printf(&path, "output/%s", res.outputs[i].path);
				kfs_vb_add_kept(&vb, e->view, path.data, res.outputs[i].data, res.outputs[i].len,
				       false);
				kfs_buf_free(&path);
			}
		} else {
			kfs_buf_printf(&log, "promise workflow failed: %s", err.msg);
		}
		kfs_buf_adds(&log, res.log.data ? res.log.data : "");
		kfs_render_result_free(&res);
		kfs_buf_free(&text);
		if (p->dependencies) {
			struct kfs_buf path = {0};
			kfs_buf_printf(&path, "output/static/%s-dependencies.yaml", p->name);
			kfs_vb_add_kept(&vb, e->view, path.data, p->dependencies, strlen(p->dependencies), false);
			kfs_buf_free(&path);
		}
	}
	free(e->workflow_failure);
	e->workflow_failure = log.len && strstr(log.data, "failed") ? kfs_xstrdup(log.data) : NULL;
	kfs_buf_free(&log);
	finish_promise_view(s, e, nrequests, &vb);
}

void kfs_store_promise_committed(struct kfs_store *s, const char *name, unsigned long long serial,
				 const char *error)
{
	bool found = false;
	size_t nrequests = kfs_promise_requests(s, name);
	pthread_rwlock_wrlock(&s->promises_lock);
	for (size_t i = 0; i < s->npromises && !found; i++) {
		struct promise_entry *e = &s->promises[i];
		/* A newer work of the promise has its own outcome: this one's is stale. */
		if (strcmp(e->name, name) != 0 || !e->view || e->work_serial != serial)
			continue;
		found = true;
		free(e->commit_error);
		e->commit_error = error ? kfs_xstrdup(error) : NULL;
		struct view_builder vb = {0};
		copy_but_status(e, &vb);
		finish_promise_view(s, e, nrequests, &vb);
	}
	pthread_rwlock_unlock(&s->promises_lock);
	if (found) {
		struct kfs_buf folder = {0};
		kfs_buf_printf(&folder, "promises/%s", name);
		kfs_store_notify(s, folder.data);
		kfs_buf_free(&folder);
	}
}

const struct kfs_promise *kfs_store_find_promise(struct kfs_store *s, const char *name)
{
	for (size_t i = 0; i < s->npromises; i++)
		if (s->promises[i].p && strcmp(s->promises[i].name, name) == 0)
			return s->promises[i].p;
	return NULL;
}

const struct kfs_promise *kfs_match_promise(struct kfs_store *s, const struct kfs_node *doc,
					       struct kfs_error *err)
{
	struct kfs_promise_set set = {0};
	struct kfs_promise *items[64];
	struct kfs_promise **list = s->npromises <= 64 ? items
						       : kfs_xcalloc(s->npromises, sizeof(*list));
	for (size_t i = 0; i < s->npromises; i++)
		if (s->promises[i].p)
			list[set.n++] = s->promises[i].p;
	set.items = list;
	const struct kfs_promise *p = kfs_promise_set_match(&set, doc, err);
	if (list != items)
		free(list);
	return p;
}

/* ---------- loading, reloading, recovery ---------- */

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct promise_entry *)a)->name,
		      ((const struct promise_entry *)b)->name);
}

/* Evaluates the entries' requiredPromises; an entry whose availability changed is changed: its
 * requests are rendered again (or held back), and its status.yaml says so. */
static void requirements(struct promise_entry *list, size_t n, bool *changed)
{
	char **before = kfs_xcalloc(n ? n : 1, sizeof(*before));
	for (size_t i = 0; i < n; i++)
		before[i] = list[i].unmet, list[i].unmet = NULL;
	kfs_promise_requirements(list, n);
	for (size_t i = 0; i < n; i++) {
		if (!before[i] != !list[i].unmet ||
		    (before[i] && strcmp(before[i], list[i].unmet) != 0))
			changed[i] = true;
		free(before[i]);
	}
	free(before);
}

/* Two folders holding the same promise (metadata.name) would both own its Works and its
 * requests: one keeps it, the folder it was loaded from before (or else the first by name), and
 * every other is refused with an error naming both folders. */
static void refuse_duplicates(struct promise_entry *list, size_t n, bool *changed)
{
	for (size_t i = 0; i < n; i++) {
		if (!list[i].p)
			continue;
		size_t keep = i;
		for (size_t j = 0; j < n; j++)
			if (list[j].p && strcmp(list[j].p->name, list[i].p->name) == 0 &&
			    (list[j].kept > list[keep].kept ||
			     (list[j].kept == list[keep].kept && j < keep)))
				keep = j;
		if (keep == i)
			continue;
		struct promise_entry *e = &list[i];
		free(e->error);
		struct kfs_buf why = {0};
		kfs_buf_printf(&why,
			       "promises/%s: promise %s is already loaded from promises/%s: two "
			       "folders may not hold the same promise (metadata.name); remove one "
			       "folder, or give its promise another name",
			       e->name, e->p->name, list[keep].name);
		e->error = kfs_buf_steal(&why);
		kfs_promise_free(e->p);
		e->p = NULL;
		e->duplicate = true;
		changed[i] = true;
	}
}

/* Reads the promises folder into a new entry list, reusing unchanged promises of old (which
 * are moved out of it). changed[i] tells whether entry i differs from before. */
int kfs_scan_promises(struct kfs_store *s, struct promise_entry *old, size_t nold,
			 struct promise_entry **out, size_t *nout, bool **changed,
			 struct kfs_error *err)
{
	DIR *d = opendir(s->promises_dir);
	if (!d)
		return kfs_error_set(err, -errno, "%s: %s", s->promises_dir, strerror(errno));
	struct promise_entry *list = NULL;
	bool *ch = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		struct kfs_buf dir = {0};
		kfs_buf_printf(&dir, "%s/%s", s->promises_dir, de->d_name);
		if (kfs_promise_dir_holds_promise(dir.data)) {
			list = kfs_xrealloc(list, (n + 1) * sizeof(*list));
			ch = kfs_xrealloc(ch, (n + 1) * sizeof(*ch));
			struct promise_entry *e = &list[n];
			memset(e, 0, sizeof(*e));
			e->name = kfs_xstrdup(de->d_name);
			digest_folder(dir.data, e->digest);
			struct promise_entry *prev = NULL;
			for (size_t i = 0; i < nold; i++)
				if (old[i].name && strcmp(old[i].name, e->name) == 0)
					prev = &old[i];
			if (prev && !prev->duplicate && strcmp(prev->digest, e->digest) == 0) {
				e->kept = prev->p != NULL;
				e->p = prev->p, prev->p = NULL;
				e->error = prev->error, prev->error = NULL;
				e->view = prev->view, prev->view = NULL;
				e->wf_selectors = prev->wf_selectors, prev->wf_selectors = NULL;
				e->commit_error = prev->commit_error, prev->commit_error = NULL;
				e->unscheduled = prev->unscheduled, prev->unscheduled = NULL;
				e->work_serial = prev->work_serial;
				e->workflow_failure = prev->workflow_failure,
				prev->workflow_failure = NULL;
				e->wf_status = prev->wf_status, prev->wf_status = NULL;
				/* Evaluated again by the reload, which compares. */
				e->unmet = prev->unmet, prev->unmet = NULL;
				ch[n] = false;
			} else {
				struct kfs_error lerr = {0};
				/* The promise this folder loaded before: it keeps the name. */
				const struct kfs_promise *had =
				    prev && !prev->duplicate ? prev->p : NULL;
				if (kfs_promise_load_dir(dir.data, &e->p, &lerr) < 0) {
					e->error = kfs_xstrdup(lerr.msg);
					if (prev && !prev->duplicate)
						e->p = prev->p, prev->p = NULL;
				}
				e->kept = had && e->p &&
					  (had == e->p || strcmp(had->name, e->p->name) == 0);
				/* Its folder shows the last view until the reload builds the new
				 * one, after re-rendering its requests: never no folder at all. */
				if (prev)
					e->view = prev->view, prev->view = NULL;
				ch[n] = true;
			}
			n++;
		}
		kfs_buf_free(&dir);
	}
	closedir(d);
	/* Sorting must keep changed[] in step: sort indices, then permute both. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && cmp_entry(&list[j - 1], &list[j]) > 0; j--) {
			struct promise_entry t = list[j];
			list[j] = list[j - 1];
			list[j - 1] = t;
			bool c = ch[j];
			ch[j] = ch[j - 1];
			ch[j - 1] = c;
		}
	refuse_duplicates(list, n, ch);
	requirements(list, n, ch);
	*out = list;
	*nout = n;
	*changed = ch;
	return 0;
}

void kfs_free_entries(struct promise_entry *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		kfs_promise_free(list[i].p);
		free(list[i].name);
		free(list[i].error);
		free(list[i].commit_error);
		free(list[i].unscheduled);
		free(list[i].workflow_failure);
		free(list[i].wf_status);
		free(list[i].unmet);
		kfs_node_free(list[i].required);
		kfs_node_free(list[i].wf_selectors);
		kfs_view_put(list[i].view);
	}
	free(list);
}

/* Re-renders every request rendered by one of the named promises. */
static void rerender(struct kfs_store *s, char **promises, size_t np)
{
	pthread_rwlock_rdlock(&s->table_lock);
	size_t n = s->nrequests;
	struct request **list = kfs_xcalloc(n + 1, sizeof(*list));
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		list[m++] = s->requests[i];
		__atomic_add_fetch(&s->requests[i]->refs, 1, __ATOMIC_RELAXED);
	}
	pthread_rwlock_unlock(&s->table_lock);
	list[m++] = s->slot;
	__atomic_add_fetch(&s->slot->refs, 1, __ATOMIC_RELAXED);
	for (size_t i = 0; i < m; i++) {
		struct request *r = list[i];
		bool hit = false;
		/* Read and rendered again in one hold of the request's lock: a write landing in
		 * between would otherwise be overwritten by the object read before it. */
		pthread_mutex_lock(&r->write_lock);
		for (size_t j = 0; r->promise && j < np; j++)
			hit |= strcmp(r->promise, promises[j]) == 0;
		if (hit && r->object && kfs_promise_held(s, r)) {
			/* Its promise is gone or does not serve: kept as it is, and says why. */
			kfs_store_persist(s, r, NULL);
			kfs_store_publish(s, r, NULL);
			kfs_store_log(s, KFS_LOG_WARN, "hold request=%s promise=%s", r->name,
				      r->promise);
		} else if (hit && r->object) {
			char *object = kfs_xstrndup(r->object, r->object_len);
			struct kfs_error err = {0};
			kfs_submit_locked(s, r, object, r->object_len, true, &err);
			free(object);
		}
		pthread_mutex_unlock(&r->write_lock);
		kfs_store_request_put(r);
	}
	free(list);
}

/* Whether no entry of list is named name: its folder went. */
static bool gone(const struct promise_entry *list, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i].name, name) == 0)
			return false;
	return true;
}

/* Whether some entry of list has the promise named name loaded. */
static bool loaded(const struct promise_entry *list, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (list[i].p && strcmp(list[i].p->name, name) == 0)
			return true;
	return false;
}

int kfs_store_reload(struct kfs_store *s, struct kfs_error *err)
{
	struct promise_entry *list;
	size_t n;
	bool *changed;
	/* Scanning moves unchanged promises out of the old list, so it runs under the write lock:
	 * renders wait for it, readers of published views do not. */
	pthread_rwlock_wrlock(&s->promises_lock);
	int rc = kfs_scan_promises(s, s->promises, s->npromises, &list, &n, &changed, err);
	if (rc < 0) {
		pthread_rwlock_unlock(&s->promises_lock);
		return rc;
	}
	char **names = kfs_xcalloc(n + s->npromises + 1, sizeof(*names));
	size_t nn = 0;
	for (size_t i = 0; i < n; i++)
		if (changed[i])
			names[nn++] = kfs_xstrdup(list[i].name);
	size_t first_gone = nn;
	for (size_t i = 0; i < s->npromises; i++)
		if (gone(list, n, s->promises[i].name))
			names[nn++] = kfs_xstrdup(s->promises[i].name);
	/* A promise no folder loads any more (the old entries keep only what the scan did not
	 * move): removed from the list here, its delete workflow and its Works' commit run after
	 * the lock is released. A folder renamed, or a copy removed, leaves it loaded. */
	struct kfs_promise **removed = kfs_xcalloc(s->npromises + 1, sizeof(*removed));
	size_t nremoved = 0;
	for (size_t i = 0; i < s->npromises; i++)
		if (s->promises[i].p && !loaded(list, n, s->promises[i].p->name))
			removed[nremoved++] = s->promises[i].p, s->promises[i].p = NULL;
	kfs_free_entries(s->promises, s->npromises);
	s->promises = list;
	s->npromises = n;
	pthread_rwlock_unlock(&s->promises_lock);
	for (size_t i = 0; i < nremoved; i++) {
		kfs_promise_removed(s, removed[i]);
		kfs_promise_free(removed[i]);
	}
	free(removed);
	for (size_t i = first_gone; i < nn; i++) {
		struct kfs_buf folder = {0};
		kfs_buf_printf(&folder, "promises/%s", names[i]);
		kfs_store_notify(s, folder.data); /* its folder leaves the mount */
		kfs_buf_free(&folder);
	}
	rerender(s, names, nn);
	/* list is s->promises: only a reload replaces it, and reloads come from one thread. */
	size_t *counts = kfs_count_requests(s, list, n);
	pthread_rwlock_wrlock(&s->promises_lock);
	for (size_t i = 0; i < s->npromises; i++)
		if (changed[i] || !s->promises[i].view)
			kfs_build_promise_view(s, &s->promises[i], counts[i]);
	pthread_rwlock_unlock(&s->promises_lock);
	free(counts);
	for (size_t i = 0; i < n; i++) {
		struct kfs_buf folder = {0};
		kfs_buf_printf(&folder, "promises/%s", list[i].name);
		if (changed[i])
			kfs_store_notify(s, folder.data);
		kfs_buf_free(&folder);
	}
	for (size_t i = 0; i < n; i++)
		if (changed[i])
			kfs_store_log_error(s, list[i].error ? KFS_LOG_WARN : KFS_LOG_INFO,
					    list[i].error, "reload promise=%s result=%s", list[i].name,
					    list[i].error ? "failed" : "loaded");
	free(changed);
	kfs_free_list(names, nn);
	return 0;
}
