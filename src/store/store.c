/* The store: requests, their lifecycle and published views, persisted in the state folder.
 *
 * Persistence: every change of a request appends one record to the state folder's journal
 * (journal.h): the accepted input, the input of the last good render, the generations and the
 * conditions. Outputs are not stored: render() is a pure function, so a restart re-renders the
 * last good input and gets the same bytes. One checksummed append per change is what makes a
 * crash at any point leave either the old or the new state. */
#include "kratixfs/store.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kratixfs/doc.h"
#include "kratixfs/files.h"
#include "kratixfs/promise.h"
#include "kratixfs/render.h"
#include "kratixfs/hash.h"
#include "kratixfs/status.h"
#include "journal.h"
#include "store_internal.h"

/* ---------- blobs and views ---------- */

/* File bytes shared by successive views: a status-only publish reuses the outputs. */
struct blob {
	int refs;
	size_t len;
	char data[];
};

static struct blob *blob_new(const char *data, size_t len)
{
	struct blob *b = kfs_xmalloc(sizeof(*b) + len + 1);
	b->refs = 1;
	b->len = len;
	memcpy(b->data, data, len);
	b->data[len] = '\0';
	return b;
}

static struct blob *blob_of(const struct kfs_view_file *f)
{
	return (struct blob *)(f->data - offsetof(struct blob, data));
}

static void blob_put(struct blob *b)
{
	if (b && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(b);
}

/* A view under construction. */
struct view_builder {
	struct kfs_view_file *files;
	size_t n, cap;
};

static void vb_add_blob(struct view_builder *vb, const char *path, struct blob *b, bool writable)
{
	if (vb->n == vb->cap) {
		vb->cap = vb->cap ? vb->cap * 2 : 16;
		vb->files = kfs_xrealloc(vb->files, vb->cap * sizeof(*vb->files));
	}
	vb->files[vb->n++] = (struct kfs_view_file){
		.path = kfs_xstrdup(path), .data = b->data, .len = b->len, .writable = writable};
}

static void vb_add(struct view_builder *vb, const char *path, const char *data, size_t len,
		   bool writable)
{
	vb_add_blob(vb, path, blob_new(data, len), writable);
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct kfs_view_file *)a)->path,
		      ((const struct kfs_view_file *)b)->path);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_dir(char ***dirs, size_t *n, size_t *cap, const char *path, size_t len)
{
	for (size_t i = 0; i < *n; i++)
		if (strlen((*dirs)[i]) == len && strncmp((*dirs)[i], path, len) == 0)
			return;
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		*dirs = kfs_xrealloc(*dirs, *cap * sizeof(**dirs));
	}
	(*dirs)[(*n)++] = kfs_xstrndup(path, len);
}

/* The daemon's user owns what no mkdir made: the root, promises, and requests of old states. */
static struct kfs_owner default_owner(void)
{
	return (struct kfs_owner){.uid = geteuid(), .gid = getegid(), .dir_mode = 0755,
				  .obj_mode = 0644};
}

static struct kfs_view *vb_finish(struct kfs_store *s, struct view_builder *vb,
				  const char *const *fixed_dirs)
{
	struct kfs_view *v = kfs_xcalloc(1, sizeof(*v));
	v->refs = 1;
	v->serial = __atomic_add_fetch(&s->next_serial, 1, __ATOMIC_RELAXED);
	v->owner = default_owner();
	clock_gettime(CLOCK_REALTIME, &v->mtime);
	v->files = vb->files;
	v->nfiles = vb->n;
	if (v->nfiles > 1)
		qsort(v->files, v->nfiles, sizeof(*v->files), cmp_file);
	for (size_t i = 0; i < v->nfiles; i++) {
		/* Until files carry their own digests, every publish names new bytes. */
		v->files[i].id = v->serial;
		const char *base = strrchr(v->files[i].path, '/');
		base = base ? base + 1 : v->files[i].path;
		v->files[i].live = !strchr(v->files[i].path, '/') &&
				   (!strcmp(base, "status.yaml") || !strcmp(base, "phase") ||
				    !strcmp(base, "log"));
	}
	size_t cap = 0;
	for (const char *const *d = fixed_dirs; d && *d; d++)
		add_dir(&v->dirs, &v->ndirs, &cap, *d, strlen(*d));
	for (size_t i = 0; i < v->nfiles; i++) {
		const char *p = v->files[i].path;
		for (const char *slash = strchr(p, '/'); slash; slash = strchr(slash + 1, '/'))
			add_dir(&v->dirs, &v->ndirs, &cap, p, (size_t)(slash - p));
	}
	if (v->ndirs > 1)
		qsort(v->dirs, v->ndirs, sizeof(*v->dirs), cmp_str);
	vb->files = NULL;
	vb->n = vb->cap = 0;
	return v;
}

void kfs_view_put(struct kfs_view *v)
{
	if (!v || __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (size_t i = 0; i < v->nfiles; i++) {
		free(v->files[i].path);
		blob_put(blob_of(&v->files[i]));
	}
	free(v->files);
	for (size_t i = 0; i < v->ndirs; i++)
		free(v->dirs[i]);
	free(v->dirs);
	free(v);
}

static struct kfs_view *view_get(struct kfs_view *v)
{
	if (v)
		__atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
	return v;
}

const struct kfs_view_file *kfs_view_file(const struct kfs_view *v, const char *path)
{
	size_t lo = 0, hi = v->nfiles;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(v->files[mid].path, path);
		if (c == 0)
			return &v->files[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

bool kfs_view_is_dir(const struct kfs_view *v, const char *path)
{
	if (!*path)
		return true;
	for (size_t i = 0; i < v->ndirs; i++)
		if (strcmp(v->dirs[i], path) == 0)
			return true;
	return false;
}

/* ---------- requests ---------- */

const char *const kfs_phase_names[] = {"Pending", "Rendered", "Committed",
				     "Applied", "Ready",    "Error"};

static void request_free(struct request *r)
{
	free(r->name);
	free(r->object);
	free(r->draft);
	free(r->good);
	free(r->promise);
	free(r->ns);
	free(r->message);
	free(r->rejection);
	free(r->log);
	free(r->warnings);
	free(r->conditions);
	free(r->render_status);
	kfs_node_free(r->selectors);
	kfs_view_put(r->view);
	pthread_mutex_destroy(&r->write_lock);
	pthread_mutex_destroy(&r->view_lock);
	free(r);
}

void kfs_store_request_put(struct request *r)
{
	if (r && __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) == 0)
		request_free(r);
}

static struct request *request_new(const char *name)
{
	struct request *r = kfs_xcalloc(1, sizeof(*r));
	r->refs = 1;
	r->name = kfs_xstrdup(name);
	pthread_mutex_init(&r->write_lock, NULL);
	pthread_mutex_init(&r->view_lock, NULL);
	r->message = kfs_xstrdup("Waiting for object.yaml");
	r->owner = default_owner();
	return r;
}

static void set_text(char **field, const char *text)
{
	free(*field);
	*field = text ? kfs_xstrdup(text) : NULL;
}

static void set_bytes(char **field, size_t *len, const char *data, size_t n)
{
	free(*field);
	*field = data ? kfs_xstrndup(data, n) : NULL;
	*len = data ? n : 0;
}

/* Parses YAML text the store wrote itself; NULL text gives empty_type's empty node. */
static struct kfs_node *load_yaml(const char *text, enum kfs_type empty_type)
{
	struct kfs_node *n = NULL;
	if (!text || kfs_doc_parse(text, strlen(text), "state", &n, NULL) < 0)
		return kfs_node_new(empty_type);
	return n;
}

/* Stores n (freed) as YAML text in *field; NULL or an empty collection clears it. */
static void store_yaml(char **field, struct kfs_node *n)
{
	free(*field);
	*field = NULL;
	if (n && !((n->type == KFS_SEQ || n->type == KFS_MAP) && n->len == 0)) {
		struct kfs_buf b = {0};
		kfs_doc_emit(n, &b);
		*field = kfs_buf_steal(&b);
	}
	kfs_node_free(n);
}

/* Finds a request in the sorted table; *pos is where it is or would go. */
static struct request *table_find(struct kfs_store *s, const char *name, size_t *pos)
{
	size_t lo = 0, hi = s->nrequests;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(s->requests[mid]->name, name);
		if (c == 0) {
			if (pos)
				*pos = mid;
			return s->requests[mid];
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (pos)
		*pos = lo;
	return NULL;
}

struct request *kfs_store_request_get(struct kfs_store *s, const char *name)
{
	pthread_rwlock_rdlock(&s->table_lock);
	struct request *r = table_find(s, name, NULL);
	if (r)
		__atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
	pthread_rwlock_unlock(&s->table_lock);
	return r;
}

static void table_insert(struct kfs_store *s, struct request *r, size_t pos)
{
	if (s->nrequests == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->requests = kfs_xrealloc(s->requests, s->cap * sizeof(*s->requests));
	}
	memmove(&s->requests[pos + 1], &s->requests[pos],
		(s->nrequests - pos) * sizeof(*s->requests));
	s->requests[pos] = r;
	s->nrequests++;
}

/* ---------- time, masking, logging ---------- */

double kfs_store_elapsed_ms(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) * 1e3 +
	       (double)(now.tv_nsec - start->tv_nsec) / 1e6;
}

static void log_v(struct kfs_store *s, enum kfs_log_level level, const char *error,
		  const char *fmt, va_list ap)
{
	if (!s->log)
		return;
	struct kfs_buf line = {0};
	char head[1024];
	vsnprintf(head, sizeof(head), fmt, ap);
	kfs_buf_adds(&line, head);
	if (error) {
		/* Quoted as a YAML double-quoted scalar: one line, quotes escaped, secrets masked. */
		char *masked = kfs_store_mask(error);
		kfs_buf_adds(&line, " error=");
		kfs_yaml_quote(masked, strlen(masked), &line);
		free(masked);
	}
	for (char *c = line.data; *c; c++)
		if (*c == '\n')
			*c = ' '; /* one event, one line */
	s->log(s->log_ctx, level, line.data);
	kfs_buf_free(&line);
}

void kfs_store_log(struct kfs_store *s, enum kfs_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_v(s, level, NULL, fmt, ap);
	va_end(ap);
}

void kfs_store_log_error(struct kfs_store *s, enum kfs_log_level level, const char *error,
			 const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_v(s, level, error, fmt, ap);
	va_end(ap);
}

char *kfs_store_mask(const char *msg)
{
	struct kfs_buf out = {0};
	while (*msg) {
		const char *nl = strchr(msg, '\n');
		size_t len = nl ? (size_t)(nl - msg) + 1 : strlen(msg);
		char *line = kfs_xstrndup(msg, len);
		bool secret = strcasestr(line, "password") || strcasestr(line, "token");
		for (const char *c = line; *c; c++) {
			if (secret && *c == '"') {
				const char *end = strchr(c + 1, '"');
				while (end && end[-1] == '\\')
					end = strchr(end + 1, '"');
				if (end) {
					kfs_buf_adds(&out, "\"***\"");
					c = end;
					continue;
				}
			}
			if (secret && strncmp(c, "got ", 4) == 0) {
				kfs_buf_adds(&out, "got ***");
				while (*c && *c != ')' && *c != '\n')
					c++;
				if (!*c)
					break;
			}
			kfs_buf_addc(&out, *c);
		}
		free(line);
		msg += len;
	}
	return kfs_buf_steal(&out);
}

static void now_rfc3339(char out[32])
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

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
    "WorksSucceeded", NULL};

/* Drops the daemon's condition types from status (the pipelines' merged metadata/status.yaml
 * of r's render), saying so in the daemon's log and, with to_log, in r's (a recovered request's
 * log already says it). write_lock held. */
static void drop_daemon_conditions(struct kfs_store *s, struct request *r, struct kfs_node *status,
				   bool to_log)
{
	struct kfs_node *conds = status ? kfs_map_get(status, "conditions") : NULL;
	if (!conds || conds->type != KFS_SEQ)
		return;
	size_t keep = 0;
	for (size_t i = 0; i < conds->len; i++) {
		struct kfs_node *c = conds->items[i];
		const char *type = kfs_node_text_at(c, "type");
		bool owned = false;
		for (const char *const *t = daemon_conditions; *t && type && !owned; t++)
			owned = strcmp(type, *t) == 0;
		if (!owned) {
			conds->items[keep++] = c;
			continue;
		}
		if (to_log) {
			struct kfs_buf line = {0};
			kfs_buf_printf(&line,
				       "%swarning: metadata/status.yaml: condition %s is kratixfs's "
				       "own; the pipeline's is dropped\n",
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

static struct kfs_node *build_status(struct kfs_store *s, const struct request *r,
				     const struct view_builder *outputs)
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
	for (size_t i = 0; i < outputs->n; i++) {
		const struct kfs_view_file *f = &outputs->files[i];
		struct kfs_node *o = kfs_node_new(KFS_MAP);
		char digest[KFS_DIGEST_LEN];
		kfs_sha256_digest(f->data, f->len, digest);
		kfs_map_set(o, "path", kfs_node_new_str(f->path + strlen("output/")));
		kfs_map_set(o, "size", kfs_node_new_int((long long)f->len));
		kfs_map_set(o, "digest", kfs_node_new_str(digest));
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
	kfs_map_set(st, "conditions", load_yaml(r->conditions, KFS_SEQ));
	/* The pipelines' own keys follow Kratix's merge; the lifecycle keys stay kratixfs's, and
	 * the pipelines' message only speaks while there is no error to report. */
	if (r->render_status) {
		struct kfs_node *frag = load_yaml(r->render_status, KFS_MAP);
		for (const char *const *k = lifecycle_keys; *k; k++)
			kfs_node_free(kfs_map_take(frag, *k));
		if (r->phase == ERROR || r->rejection)
			kfs_node_free(kfs_map_take(frag, "message"));
		kfs_status_merge(st, frag, "status", NULL);
		kfs_node_free(frag);
	}
	mask_secrets(st);
	return st;
}

/* ---------- publishing ---------- */

static void notify(struct kfs_store *s, const char *folder)
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

/* Builds and swaps r's view. new_outputs (a sequence of render outputs) replaces the outputs;
 * NULL keeps the ones published now. */
void kfs_store_publish(struct kfs_store *s, struct request *r, const struct kfs_render_result *res)
{
	bool slot = r->name[0] == '\0';
	struct view_builder outs = {0};
	if (res) {
		for (size_t i = 0; i < res->noutputs; i++) {
			struct kfs_buf path = {0};
			kfs_buf_printf(&path, "output/%s", res->outputs[i].path);
			vb_add(&outs, path.data, res->outputs[i].data, res->outputs[i].len, false);
			kfs_buf_free(&path);
		}
	} else if (r->view) {
		for (size_t i = 0; i < r->view->nfiles; i++) {
			const struct kfs_view_file *f = &r->view->files[i];
			if (strncmp(f->path, "output/", 7) != 0)
				continue;
			struct blob *b = blob_of(f);
			__atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
			vb_add_blob(&outs, f->path, b, false);
		}
	}
	struct kfs_node *status = build_status(s, r, &outs);
	struct kfs_buf text = {0};
	kfs_doc_emit(status, &text);
	kfs_node_free(status);

	struct view_builder vb = outs;
	if (slot) {
		vb_add(&vb, "metadata/status.yaml", text.data, text.len, false);
	} else {
		vb_add(&vb, "status.yaml", text.data, text.len, false);
		if (r->render_status) {
			struct kfs_buf frag = {0};
			struct kfs_node *masked = load_yaml(r->render_status, KFS_MAP);
			mask_secrets(masked);
			kfs_doc_emit(masked, &frag);
			kfs_node_free(masked);
			vb_add(&vb, "metadata/status.yaml", frag.data, frag.len, false);
			kfs_buf_free(&frag);
		}
		struct kfs_buf phase = {0};
		kfs_buf_printf(&phase, "%s\n", kfs_phase_names[r->phase]);
		vb_add(&vb, "phase", phase.data, phase.len, false);
		kfs_buf_free(&phase);
		vb_add(&vb, "feedback", "", 0, true);
		vb_add(&vb, "log", r->log ? r->log : "", r->log ? strlen(r->log) : 0, false);
	}
	if (r->selectors) {
		struct kfs_buf sel = {0};
		kfs_doc_emit(r->selectors, &sel);
		vb_add(&vb, "metadata/destination-selectors.yaml", sel.data, sel.len, false);
		kfs_buf_free(&sel);
	}
	if (r->draft)
		vb_add(&vb, slot ? "input/object.yaml" : "object.yaml", r->draft, r->draft_len,
		       true);
	else if (r->object && !r->unlinked)
		vb_add(&vb, slot ? "input/object.yaml" : "object.yaml", r->object, r->object_len,
		       true);
	kfs_buf_free(&text);
	static const char *const slot_dirs[] = {"input", "output", "metadata", NULL};
	struct kfs_view *v = vb_finish(s, &vb, slot ? slot_dirs : request_dirs);
	v->owner = r->owner;
	pthread_mutex_lock(&r->view_lock);
	struct kfs_view *old = r->view;
	r->view = v;
	pthread_mutex_unlock(&r->view_lock);
	/* r->phase changes under write_lock; the root view reads this copy without it. */
	__atomic_store_n(&r->published_phase, r->phase, __ATOMIC_RELAXED);
	kfs_view_put(old);
	struct kfs_buf folder = {0};
	if (!slot)
		kfs_buf_printf(&folder, "requests/%s", r->name);
	notify(s, folder.data ? folder.data : "");
	kfs_buf_free(&folder);
}

/* ---------- persistence ---------- */

int kfs_store_persist(struct kfs_store *s, const struct request *r, struct kfs_error *err)
{
	struct kfs_node *doc = kfs_node_new(KFS_MAP);
	kfs_map_set(doc, "name", kfs_node_new_str(r->name));
	kfs_map_set(doc, "generation", kfs_node_new_int((long long)r->generation));
	kfs_map_set(doc, "observedGeneration", kfs_node_new_int((long long)r->observed));
	kfs_map_set(doc, "phase", kfs_node_new_str(kfs_phase_names[r->phase]));
	kfs_map_set(doc, "message", kfs_node_new_str(r->message));
	if (r->rejection)
		kfs_map_set(doc, "rejection", kfs_node_new_str(r->rejection));
	if (r->unlinked)
		kfs_map_set(doc, "unlinked", kfs_node_new_scalar(KFS_BOOL, "true", 4));
	if (r->draft) {
		/* Refused bytes may be anything (invalid UTF-8, NULs): base64 keeps the record
		 * YAML that reads back. */
		struct kfs_buf b64 = {0};
		kfs_buf_base64(&b64, r->draft, r->draft_len);
		kfs_map_set(doc, "draftBase64", kfs_node_new_scalar(KFS_STR, b64.data ? b64.data : "",
								     b64.len));
		kfs_buf_free(&b64);
	}
	kfs_map_set(doc, "uid", kfs_node_new_int((long long)r->owner.uid));
	kfs_map_set(doc, "gid", kfs_node_new_int((long long)r->owner.gid));
	kfs_map_set(doc, "mode", kfs_node_new_int((long long)r->owner.dir_mode));
	kfs_map_set(doc, "objectMode", kfs_node_new_int((long long)r->owner.obj_mode));
	if (r->object)
		kfs_map_set(doc, "object", kfs_node_new_scalar(KFS_STR, r->object, r->object_len));
	if (r->good && !(r->object && r->good_len == r->object_len &&
			 memcmp(r->good, r->object, r->good_len) == 0))
		kfs_map_set(doc, "good", kfs_node_new_scalar(KFS_STR, r->good, r->good_len));
	if (r->log)
		kfs_map_set(doc, "log", kfs_node_new_str(r->log));
	if (r->commit[0])
		kfs_map_set(doc, "commit", kfs_node_new_str(r->commit));
	kfs_map_set(doc, "conditions", load_yaml(r->conditions, KFS_SEQ));
	struct kfs_buf text = {0};
	kfs_doc_emit(doc, &text);
	kfs_node_free(doc);
	int rc = kfs_journal_put(s->journal, r->name, text.data, text.len, err);
	kfs_buf_free(&text);
	return rc;
}

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

/* How many requests the promise rendered. Takes table_lock, then each request's write_lock
 * (a write changes r->promise under it), so it runs before promises_lock, never under it: a
 * writer holds its request's lock while it waits for promises_lock (store_internal.h). */
static size_t count_requests_of(struct kfs_store *s, const char *promise)
{
	size_t n = 0;
	pthread_rwlock_rdlock(&s->table_lock);
	for (size_t i = 0; i < s->nrequests; i++) {
		struct request *r = s->requests[i];
		pthread_mutex_lock(&r->write_lock);
		if (r->promise && strcmp(r->promise, promise) == 0)
			n++;
		pthread_mutex_unlock(&r->write_lock);
	}
	pthread_rwlock_unlock(&s->table_lock);
	return n;
}

/* count_requests_of for each of the n entries, in a new array (promises_lock not held). */
static size_t *count_requests(struct kfs_store *s, const struct promise_entry *list, size_t n)
{
	size_t *counts = kfs_xcalloc(n ? n : 1, sizeof(*counts));
	for (size_t i = 0; i < n; i++)
		counts[i] = count_requests_of(s, list[i].name);
	return counts;
}

/* promises/<name>/: the promise as loaded, its status, and its promise workflow's outputs. */
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
	const char *phase = e->error ? (p ? "Degraded" : "Unavailable") : "Available";
	kfs_map_set(st, "phase", kfs_node_new_str(phase));
	if (e->error) {
		struct kfs_buf msg = {0};
		kfs_buf_printf(&msg, "%s%s", p ? "the last good version is in use: " : "",
			       e->error);
		kfs_map_set(st, "message", kfs_node_new_str(msg.data));
		kfs_buf_free(&msg);
	} else {
		kfs_map_set(st, "message", kfs_node_new_str("Promise loaded"));
	}
	if (e->workflow_failure)
		kfs_map_set(st, "workflow", kfs_node_new_str(e->workflow_failure));
	if (e->commit_error)
		kfs_map_set(st, "commitError", kfs_node_new_str(e->commit_error));
	if (e->unscheduled)
		kfs_map_set(st, "unscheduled", kfs_node_new_str(e->unscheduled));
	kfs_map_set(st, "requests", kfs_node_new_int((long long)nrequests));
	if (p && p->warnings.len) {
		struct kfs_node *w = kfs_node_new(KFS_SEQ);
		const char *line = p->warnings.data;
		while (*line) {
			const char *nl = strchr(line, '\n');
			size_t len = nl ? (size_t)(nl - line) : strlen(line);
			kfs_seq_append(w, kfs_node_new_scalar(KFS_STR, line, len));
			line += len + (nl ? 1 : 0);
		}
		kfs_map_set(st, "warnings", w);
	}
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
	vb_add(vb, "status.yaml", status.data, status.len, false);
	kfs_buf_free(&status);
	kfs_view_put(e->view);
	e->view = vb_finish(s, vb, dirs);
}

/* Runs the promise workflow (committing its outputs with Git on) and publishes the folder, which
 * says it has nrequests requests (counted before promises_lock was taken). */
static void build_promise_view(struct kfs_store *s, struct promise_entry *e, size_t nrequests)
{
	struct view_builder vb = {0};
	struct kfs_buf log = {0};
	const struct kfs_promise *p = e->p;
	if (p) {
		struct kfs_buf text = {0};
		kfs_doc_emit(p->doc, &text);
		vb_add(&vb, "promise.yaml", text.data, text.len, false);
		/* The promise workflow's input is the Promise document itself. */
		struct kfs_render_input in = {.promise = p, .type = KFS_WF_PROMISE,
					      .action = KFS_WF_CONFIGURE, .data = text.data,
					      .len = text.len};
		struct kfs_render_result res;
		struct kfs_error err = {0};
		if (kfs_render(&in, &res, &err) == 0) {
			kfs_node_free(e->wf_selectors);
			e->wf_selectors = kfs_node_copy(res.selectors);
			kfs_gitsync_promise(s, e, &res);
			for (size_t i = 0; i < res.noutputs; i++) {
				struct kfs_buf path = {0};
				kfs_buf_printf(&path, "output/%s", res.outputs[i].path);
				vb_add(&vb, path.data, res.outputs[i].data, res.outputs[i].len,
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
			vb_add(&vb, path.data, p->dependencies, strlen(p->dependencies), false);
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
	/* Counted before promises_lock: see count_requests_of. */
	size_t nrequests = count_requests_of(s, name);
	pthread_rwlock_wrlock(&s->promises_lock);
	for (size_t i = 0; i < s->npromises && !found; i++) {
		struct promise_entry *e = &s->promises[i];
		/* A newer work of the promise has its own outcome: this one's is stale. */
		if (strcmp(e->name, name) != 0 || !e->view || e->work_serial != serial)
			continue;
		found = true;
		free(e->commit_error);
		e->commit_error = error ? kfs_xstrdup(error) : NULL;
		/* The same files, but status.yaml: the workflow does not run again. */
		struct view_builder vb = {0};
		for (size_t k = 0; k < e->view->nfiles; k++) {
			const struct kfs_view_file *f = &e->view->files[k];
			if (strcmp(f->path, "status.yaml") == 0)
				continue;
			struct blob *b = blob_of(f);
			__atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
			vb_add_blob(&vb, f->path, b, f->writable);
		}
		finish_promise_view(s, e, nrequests, &vb);
	}
	pthread_rwlock_unlock(&s->promises_lock);
	if (found) {
		struct kfs_buf folder = {0};
		kfs_buf_printf(&folder, "promises/%s", name);
		notify(s, folder.data);
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

static const struct kfs_promise *match_promise(struct kfs_store *s, const struct kfs_node *doc,
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

/* ---------- rendering a request ---------- */

bool kfs_store_set_condition(struct request *r, const char *type, const char *status,
			     const char *reason, const char *message)
{
	char now[32];
	now_rfc3339(now);
	struct kfs_node *holder = kfs_node_new(KFS_MAP);
	kfs_map_set(holder, "conditions", load_yaml(r->conditions, KFS_SEQ));
	bool changed = kfs_status_set_condition(holder, type, status, reason, message, now);
	if (changed)
		store_yaml(&r->conditions, kfs_map_take(holder, "conditions"));
	kfs_node_free(holder);
	return changed;
}

static bool has_condition(const struct request *r, const char *type)
{
	struct kfs_node *conds = load_yaml(r->conditions, KFS_SEQ);
	bool found = false;
	for (size_t i = 0; i < conds->len && !found; i++) {
		const char *t = kfs_node_text_at(conds->items[i], "type");
		found = t && strcmp(t, type) == 0;
	}
	kfs_node_free(conds);
	return found;
}

/* What a submit may change in a request, kept until the state folder has stored the new record:
 * a write the state folder cannot store (a full disk) changes nothing, neither the views nor
 * Git. The commit fields are not here: nothing is committed before the record is stored. */
struct saved {
	char *object, *good, *draft, *promise, *ns, *message, *rejection, *log, *conditions,
		*render_status, *warnings;
	size_t object_len, good_len, draft_len;
	bool unlinked;
	unsigned long long generation, observed;
	enum phase phase;
	struct kfs_node *selectors;
};

static char *dup_or_null(const char *p, size_t n)
{
	return p ? kfs_xstrndup(p, n) : NULL;
}

static void save_request(const struct request *r, struct saved *sv)
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
	    .conditions = r->conditions ? kfs_xstrdup(r->conditions) : NULL,
	    .render_status = r->render_status ? kfs_xstrdup(r->render_status) : NULL,
	    .warnings = r->warnings ? kfs_xstrdup(r->warnings) : NULL,
	    .unlinked = r->unlinked,
	    .generation = r->generation,
	    .observed = r->observed,
	    .phase = r->phase,
	    .selectors = r->selectors ? kfs_node_copy(r->selectors) : NULL,
	};
}

static void saved_free(struct saved *sv)
{
	free(sv->object);
	free(sv->good);
	free(sv->draft);
	free(sv->promise);
	free(sv->ns);
	free(sv->message);
	free(sv->rejection);
	free(sv->log);
	free(sv->conditions);
	free(sv->render_status);
	free(sv->warnings);
	kfs_node_free(sv->selectors);
	memset(sv, 0, sizeof(*sv));
}

/* Puts sv back into r (and frees what r held instead); sv is emptied. */
static void restore_request(struct request *r, struct saved *sv)
{
#define SWAP(f)                                                                                    	do {                                                                                       		__typeof__(r->f) t_ = r->f;                                                        		r->f = sv->f;                                                                      		sv->f = t_;                                                                        	} while (0)
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
	SWAP(conditions);
	SWAP(render_status);
	SWAP(warnings);
	SWAP(unlinked);
	SWAP(generation);
	SWAP(observed);
	SWAP(phase);
	SWAP(selectors);
#undef SWAP
	saved_free(sv);
}

/* Stores r's new record before anything shows it; on failure r goes back to sv and err says
 * why (-ENOSPC for a full disk). */
static int persist_or_restore(struct kfs_store *s, struct request *r, struct saved *sv,
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
static int render_request(struct kfs_store *s, struct request *r, const char *data, size_t len,
			  const struct kfs_promise **used, struct kfs_render_result *res,
			  struct kfs_error *err)
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
		p = match_promise(s, doc, err);
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
	};
	rc = kfs_render(&in, res, err);
	if (rc == 0 || rc == -EIO) {
		set_text(&r->promise, p->name);
		*used = p;
	}
	if (rc == 0 && !promise_wf)
		set_text(&r->ns, kfs_node_text_at(res->object, "metadata.namespace"));
	return rc;
}

/* Applies a render's outcome to r, stores it in the state folder and only then publishes and
 * commits it. sv holds r as it was before the render: a record that cannot be stored puts it
 * back, and the write fails with -ENOSPC or -EIO. */
static int apply_outcome(struct kfs_store *s, struct request *r, const struct kfs_promise *p,
			 const char *data, size_t len, int rc, struct kfs_render_result *res,
			 struct kfs_error *err, struct saved *sv, bool rerender)
{
	int prc;
	if (rc == -EINVAL || rc == -EFBIG) {
		char *masked = kfs_store_mask(err->msg);
		set_text(&r->rejection, masked);
		set_text(&r->message, masked);
		kfs_store_set_condition(r, "Rejected", "True",
					rc == -EFBIG ? "TooLarge" : "InvalidRequest", masked);
		/* With no object.yaml in the folder, the refused bytes stay there to be fixed in
		 * place (too large ones are not kept: they are not held whole). */
		if (rc == -EINVAL && !rerender && (!r->object || r->unlinked))
			set_bytes(&r->draft, &r->draft_len, data, len);
		free(masked);
		prc = persist_or_restore(s, r, sv, err);
		if (prc < 0)
			return prc;
		kfs_store_publish(s, r, NULL);
		return rc;
	}
	bool changed_input = !r->object || r->object_len != len || memcmp(r->object, data, len);
	set_bytes(&r->object, &r->object_len, data, len);
	/* A re-render (a promise reload) is not a write of object.yaml: an unlinked file stays
	 * unlinked, a draft stays. */
	if (!rerender) {
		set_bytes(&r->draft, &r->draft_len, NULL, 0);
		r->unlinked = false;
	}
	if (changed_input)
		r->generation++;
	set_text(&r->rejection, NULL);
	if (has_condition(r, "Rejected"))
		kfs_store_set_condition(r, "Rejected", "False", "Accepted", "");
	set_text(&r->log, res->log.data ? res->log.data : "");
	if (rc < 0) {
		char *masked = kfs_store_mask(err->msg);
		r->phase = ERROR;
		set_text(&r->message, masked);
		kfs_store_set_condition(r, "ConfigureWorkflowCompleted", "False",
					"ConfigureWorkflowFailed", masked);
		kfs_store_set_condition(r, "Reconciled", "False", "ConfigureWorkflowFailed", masked);
		free(masked);
		prc = persist_or_restore(s, r, sv, err);
		if (prc < 0)
			return prc;
		kfs_store_publish(s, r, NULL);
		return rc;
	}
	set_bytes(&r->good, &r->good_len, data, len);
	set_text(&r->warnings, res->warnings.len ? res->warnings.data : NULL);
	r->observed = r->generation;
	r->phase = RENDERED;
	set_text(&r->message, "Resource requested");
	kfs_store_set_condition(r, "ConfigureWorkflowCompleted", "True", "PipelinesExecutedSuccessfully",
		      "Pipelines completed");
	kfs_store_set_condition(r, "Reconciled", "True", "Reconciled", "Reconciled");
	drop_daemon_conditions(s, r, res->status, true);
	store_yaml(&r->render_status, res->status);
	res->status = NULL;
	kfs_node_free(r->selectors);
	r->selectors = res->selectors;
	res->selectors = NULL;
	prc = persist_or_restore(s, r, sv, err);
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
static int submit_locked(struct kfs_store *s, struct request *r, const char *data, size_t len,
			 bool force, struct kfs_error *err)
{
	int rc;
	struct saved sv;
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	if (len > s->max_input) {
		kfs_error_set(err, -EFBIG,
			      "object.yaml: %zu bytes is larger than max_input (%zu bytes)", len,
			      s->max_input);
		struct kfs_render_result none = {0};
		save_request(r, &sv);
		rc = apply_outcome(s, r, NULL, data, len, -EFBIG, &none, err, &sv, force);
		saved_free(&sv);
		log_outcome(s, r, rc, &none, err, &start);
		return rc;
	}
	/* The same bytes again change nothing, and report what they reported; written back after
	 * an unlink (vim restoring its backup), they show object.yaml again. */
	if (!force && r->object && r->object_len == len && memcmp(r->object, data, len) == 0) {
		rc = 0;
		if (r->unlinked || r->draft) {
			save_request(r, &sv);
			r->unlinked = false;
			set_bytes(&r->draft, &r->draft_len, NULL, 0);
			rc = persist_or_restore(s, r, &sv, err);
			saved_free(&sv);
			if (rc == 0)
				kfs_store_publish(s, r, NULL);
		}
		if (rc == 0 && r->phase == ERROR && r->observed != r->generation)
			rc = kfs_error_set(err, -EIO, "%s", r->message);
		return rc;
	}
	struct kfs_render_result res;
	const struct kfs_promise *p;
	save_request(r, &sv);
	pthread_rwlock_rdlock(&s->promises_lock);
	rc = render_request(s, r, data, len, &p, &res, err);
	rc = apply_outcome(s, r, p, data, len, rc, &res, err, &sv, force);
	pthread_rwlock_unlock(&s->promises_lock);
	saved_free(&sv);
	log_outcome(s, r, rc, &res, err, &start);
	kfs_render_result_free(&res);
	return rc;
}

static int submit(struct kfs_store *s, struct request *r, const char *data, size_t len, bool force,
		  struct kfs_error *err)
{
	pthread_mutex_lock(&r->write_lock);
	int rc = submit_locked(s, r, data, len, force, err);
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
		return kfs_error_set(err, -EFBIG,
				     "object.yaml: %zu bytes is larger than max_input (%zu bytes)",
				     len, s->max_input);
	struct kfs_node *doc = NULL;
	if (kfs_doc_parse(data, len, "object.yaml", &doc, err) < 0)
		return -EINVAL;
	pthread_rwlock_rdlock(&s->promises_lock);
	const struct kfs_promise *p = match_promise(s, doc, err);
	int rc = -EINVAL;
	if (p) {
		struct kfs_render_input in = {.promise = p, .type = KFS_WF_RESOURCE,
					      .action = KFS_WF_CONFIGURE, .name = name,
					      .data = data, .len = len, .doc = doc};
		struct kfs_render_result res;
		rc = kfs_render(&in, &res, err);
		kfs_render_result_free(&res);
	} else {
		kfs_node_free(doc);
	}
	pthread_rwlock_unlock(&s->promises_lock);
	return rc == -EIO ? 0 : rc; /* an accepted request that fails to render is accepted */
}

int kfs_store_submit_slot(struct kfs_store *s, const char *data, size_t len,
			  struct kfs_error *err)
{
	return submit(s, s->slot, data, len, false, err);
}

int kfs_store_create(struct kfs_store *s, const char *name, struct kfs_error *err)
{
	return kfs_store_create_as(s, name, NULL, err);
}

int kfs_store_create_as(struct kfs_store *s, const char *name, const struct kfs_owner *o,
			struct kfs_error *err)
{
	if (!kfs_is_dns_label(name))
		return kfs_error_set(err, -EINVAL,
				     "requests/%s: a request name must be a DNS-1123 label "
				     "(lower-case letters, digits and '-', at most 63)",
				     name);
	pthread_rwlock_wrlock(&s->table_lock);
	size_t pos;
	if (table_find(s, name, &pos)) {
		pthread_rwlock_unlock(&s->table_lock);
		return kfs_error_set(err, -EEXIST, "requests/%s: exists", name);
	}
	struct request *r = request_new(name);
	if (o)
		r->owner = *o;
	/* Stored before anyone can see it: a mkdir the state folder cannot record fails. */
	int rc = kfs_store_persist(s, r, err);
	if (rc < 0) {
		pthread_rwlock_unlock(&s->table_lock);
		kfs_store_request_put(r);
		return rc;
	}
	table_insert(s, r, pos);
	__atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
	pthread_rwlock_unlock(&s->table_lock);
	pthread_mutex_lock(&r->write_lock);
	kfs_store_publish(s, r, NULL);
	pthread_mutex_unlock(&r->write_lock);
	kfs_store_request_put(r);
	return 0;
}

/* Applies change to r's owner under its write_lock, as chmod(2) and chown(2) check it, and stores
 * it before anyone sees it. */
static int change_owner(struct kfs_store *s, const char *name,
			int (*change)(struct kfs_owner *o, const void *arg), const void *arg,
			struct kfs_error *err)
{
	struct request *r = kfs_store_request_get(s, name);
	if (!r)
		return kfs_error_set(err, -ENOENT, "requests/%s: no such request", name);
	pthread_mutex_lock(&r->write_lock);
	struct kfs_owner old = r->owner;
	int rc = change(&r->owner, arg);
	if (rc < 0)
		kfs_error_set(err, rc, "requests/%s: only its owner or root may do that", name);
	else if ((rc = kfs_store_persist(s, r, err)) < 0)
		r->owner = old;
	else
		kfs_store_publish(s, r, NULL);
	pthread_mutex_unlock(&r->write_lock);
	kfs_store_request_put(r);
	return rc;
}

struct chmod_arg {
	bool object;
	mode_t mode;
	uid_t caller;
};

static int do_chmod(struct kfs_owner *o, const void *arg)
{
	const struct chmod_arg *a = arg;
	if (a->caller != 0 && a->caller != o->uid)
		return -EPERM;
	if (a->object)
		o->obj_mode = a->mode & 0777;
	else
		o->dir_mode = a->mode & 01777;
	return 0;
}

int kfs_store_chmod(struct kfs_store *s, const char *name, bool object, mode_t mode, uid_t caller,
		    struct kfs_error *err)
{
	struct chmod_arg a = {.object = object, .mode = mode, .caller = caller};
	return change_owner(s, name, do_chmod, &a, err);
}

struct chown_arg {
	uid_t uid, caller;
	gid_t gid, caller_gid;
};

static int do_chown(struct kfs_owner *o, const void *arg)
{
	const struct chown_arg *a = arg;
	bool new_uid = a->uid != (uid_t)-1 && a->uid != o->uid;
	bool new_gid = a->gid != (gid_t)-1 && a->gid != o->gid;
	if (a->caller != 0 &&
	    (new_uid || (new_gid && (a->caller != o->uid || a->gid != a->caller_gid))))
		return -EPERM;
	if (a->uid != (uid_t)-1)
		o->uid = a->uid;
	if (a->gid != (gid_t)-1)
		o->gid = a->gid;
	return 0;
}

int kfs_store_chown(struct kfs_store *s, const char *name, uid_t uid, gid_t gid, uid_t caller,
		    gid_t caller_gid, struct kfs_error *err)
{
	struct chown_arg a = {.uid = uid, .gid = gid, .caller = caller, .caller_gid = caller_gid};
	return change_owner(s, name, do_chown, &a, err);
}

int kfs_store_unlink_object(struct kfs_store *s, const char *name, struct kfs_error *err)
{
	struct request *r = kfs_store_request_get(s, name);
	if (!r)
		return kfs_error_set(err, -ENOENT, "requests/%s: no such request", name);
	pthread_mutex_lock(&r->write_lock);
	int rc = 0;
	if (!r->draft && (!r->object || r->unlinked)) {
		rc = kfs_error_set(err, -ENOENT, "requests/%s: has no object.yaml", name);
	} else {
		struct saved sv;
		save_request(r, &sv);
		set_bytes(&r->draft, &r->draft_len, NULL, 0);
		r->unlinked = r->object != NULL;
		rc = persist_or_restore(s, r, &sv, err);
		saved_free(&sv);
		if (rc == 0) {
			kfs_store_publish(s, r, NULL);
			kfs_store_log(s, KFS_LOG_INFO, "unlink request=%s in-force=%s", name,
				      r->object ? "yes" : "no");
		}
	}
	pthread_mutex_unlock(&r->write_lock);
	kfs_store_request_put(r);
	return rc;
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
	save_request(r, &sv);
	if (p && p->workflows[KFS_WF_RESOURCE][KFS_WF_DELETE].npipelines && r->good) {
		struct kfs_render_input in = {.promise = p, .type = KFS_WF_RESOURCE,
					      .action = KFS_WF_DELETE, .name = r->name,
					      .data = r->good, .len = r->good_len};
		struct kfs_render_result res;
		rc = kfs_render(&in, &res, err);
		set_text(&r->log, res.log.data ? res.log.data : "");
		kfs_render_result_free(&res);
	}
	if (rc < 0) {
		kfs_error_prefix(err, "delete workflow");
		kfs_store_log_error(s, KFS_LOG_ERROR, err->msg, "delete-failed request=%s", r->name);
		r->phase = ERROR;
		set_text(&r->message, err->msg);
		struct kfs_error perr = {0};
		if (persist_or_restore(s, r, &sv, &perr) == 0)
			kfs_store_publish(s, r, NULL);
		pthread_rwlock_unlock(&s->promises_lock);
		saved_free(&sv);
		return -EIO;
	}
	set_bytes(&r->object, &r->object_len, NULL, 0);
	set_bytes(&r->good, &r->good_len, NULL, 0);
	set_bytes(&r->draft, &r->draft_len, NULL, 0);
	r->unlinked = false;
	set_text(&r->rejection, NULL);
	free(r->render_status);
	r->render_status = NULL;
	kfs_node_free(r->selectors);
	r->selectors = NULL;
	free(r->conditions);
	r->conditions = NULL;
	r->phase = PENDING;
	set_text(&r->message, "Deleted: write object.yaml to request it again, or rmdir");
	rc = persist_or_restore(s, r, &sv, err);
	saved_free(&sv);
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
	struct request *r = table_find(s, name, &pos);
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
	notify(s, "requests");
	kfs_store_log(s, KFS_LOG_INFO, "remove request=%s", name);
	kfs_store_request_put(r);
	return rc;
}

int kfs_store_feedback(struct kfs_store *s, const char *name, const char *data, size_t len,
		       struct kfs_error *err)
{
	struct request *r = kfs_store_request_get(s, name);
	if (!r)
		return kfs_error_set(err, -ENOENT, "requests/%s: no such request", name);
	char line[512];
	/* One line of text (a final newline is fine): a second line, a control character or a
	 * cut would reach the status as something the agent did not say. */
	size_t end = len, lines = 1;
	while (end > 0 && (data[end - 1] == '\n' || data[end - 1] == '\r' || data[end - 1] == ' '))
		end--;
	for (size_t i = 0; i < end; i++) {
		unsigned char c = (unsigned char)data[i];
		lines += c == '\n';
		if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
			kfs_store_request_put(r);
			return kfs_error_set(err, -EINVAL,
					     "feedback: holds a control character 0x%02x; write one "
					     "line of text",
					     c);
		}
	}
	if (lines > 1 || end >= sizeof(line)) {
		kfs_store_request_put(r);
		return kfs_error_set(err, -EINVAL,
				     lines > 1 ? "feedback: holds %zu lines; write one line: Applied, "
						 "Ready, Ready @<generation> or Error <message>"
					       : "feedback: longer than %zu bytes; write one shorter "
						 "line",
				     lines > 1 ? lines : sizeof(line) - 1);
	}
	size_t n = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
	memcpy(line, data, n);
	line[n] = '\0';
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
		line[--n] = '\0';
	int rc = 0;
	pthread_mutex_lock(&r->write_lock);
	char *at = strstr(line, " @");
	unsigned long long gen = r->generation;
	if (at && strncmp(line, "Error ", 6) != 0) {
		char *end;
		gen = strtoull(at + 2, &end, 10);
		if (*end || end == at + 2) {
			rc = kfs_error_set(err, -EINVAL,
					   "feedback: \"%s\": the generation after @ must be a "
					   "number",
					   line);
			goto out;
		}
		*at = '\0';
	}
	enum phase next;
	const char *message = NULL;
	if (strcmp(line, "Applied") == 0)
		next = APPLIED;
	else if (strcmp(line, "Ready") == 0)
		next = READY;
	else if (strncmp(line, "Error ", 6) == 0 && line[6])
		next = ERROR, message = line + 6;
	else {
		rc = kfs_error_set(err, -EINVAL,
				   "feedback: \"%s\" is not understood; write Applied, Ready, "
				   "Ready @<generation> or Error <message>",
				   line);
		goto out;
	}
	if (!r->object || r->observed != r->generation || gen != r->generation) {
		rc = kfs_error_set(err, -EINVAL,
				   "feedback: generation %llu is not current (generation %llu, "
				   "published %llu)",
				   gen, r->generation, r->observed);
		goto out;
	}
	if (r->phase == next && !message)
		goto out;
	struct saved sv;
	save_request(r, &sv);
	r->phase = next;
	if (next == ERROR) {
		set_text(&r->message, message);
		kfs_store_set_condition(r, "WorksSucceeded", "False", "ApplyFailed", message);
	} else {
		set_text(&r->message, next == READY ? "Ready" : "Applied by the GitOps agent");
		kfs_store_set_condition(r, "WorksSucceeded", "True", next == READY ? "Ready" : "Applied",
			      "");
	}
	rc = persist_or_restore(s, r, &sv, err);
	saved_free(&sv);
	if (rc == 0)
		kfs_store_publish(s, r, NULL);
out:
	pthread_mutex_unlock(&r->write_lock);
	kfs_store_request_put(r);
	return rc;
}

/* ---------- views and listings ---------- */

static void recovery_status(struct kfs_store *s, struct kfs_node *status);

static struct kfs_view *root_view(struct kfs_store *s)
{
	pthread_mutex_lock(&s->root_lock);
	uint64_t stamp = __atomic_load_n(&s->stamp, __ATOMIC_RELAXED);
	if (s->root && s->root_stamp == stamp) {
		struct kfs_view *v = view_get(s->root);
		pthread_mutex_unlock(&s->root_lock);
		return v;
	}
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
			    kfs_node_new_str(s->promises[i].error
						     ? (s->promises[i].p ? "Degraded" : "Unavailable")
						     : "Available"));
	pthread_rwlock_unlock(&s->promises_lock);
	kfs_map_set(st, "promises", proms);
	struct kfs_node *reqs = kfs_node_new(KFS_MAP);
	kfs_map_set(reqs, "total", kfs_node_new_int((long long)total));
	for (int i = 0; i < NPHASES; i++)
		kfs_map_set(reqs, kfs_phase_names[i], kfs_node_new_int((long long)counts[i]));
	kfs_map_set(st, "requests", reqs);
	kfs_gitsync_root_status(s, st);
	recovery_status(s, st);
	struct kfs_buf text = {0};
	kfs_doc_emit(st, &text);
	kfs_node_free(st);

	struct view_builder vb = {0};
	vb_add(&vb, "status.yaml", text.data, text.len, false);
	kfs_buf_free(&text);
	pthread_mutex_lock(&s->slot->view_lock);
	struct kfs_view *slot = view_get(s->slot->view);
	pthread_mutex_unlock(&s->slot->view_lock);
	for (size_t i = 0; slot && i < slot->nfiles; i++) {
		struct blob *b = blob_of(&slot->files[i]);
		__atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
		vb_add_blob(&vb, slot->files[i].path, b, slot->files[i].writable);
	}
	kfs_view_put(slot);
	static const char *const dirs[] = {"input", "output", "metadata", NULL};
	kfs_view_put(s->root);
	s->root = vb_finish(s, &vb, dirs);
	s->root_stamp = stamp;
	struct kfs_view *v = view_get(s->root);
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
		struct kfs_view *v = view_get(r->view);
		pthread_mutex_unlock(&r->view_lock);
		kfs_store_request_put(r);
		return v;
	}
	if (strncmp(folder, "promises/", 9) == 0) {
		struct kfs_view *v = NULL;
		pthread_rwlock_rdlock(&s->promises_lock);
		for (size_t i = 0; i < s->npromises; i++)
			if (strcmp(s->promises[i].name, folder + 9) == 0)
				v = view_get(s->promises[i].view);
		pthread_rwlock_unlock(&s->promises_lock);
		return v;
	}
	return NULL;
}

int kfs_store_list(struct kfs_store *s, const char *kind, char ***names, size_t *n)
{
	*names = NULL;
	*n = 0;
	if (strcmp(kind, "requests") == 0) {
		pthread_rwlock_rdlock(&s->table_lock);
		*names = kfs_xcalloc(s->nrequests, sizeof(**names));
		for (size_t i = 0; i < s->nrequests; i++)
			(*names)[i] = kfs_xstrdup(s->requests[i]->name);
		*n = s->nrequests;
		pthread_rwlock_unlock(&s->table_lock);
		return 0;
	}
	if (strcmp(kind, "promises") == 0) {
		pthread_rwlock_rdlock(&s->promises_lock);
		*names = kfs_xcalloc(s->npromises, sizeof(**names));
		for (size_t i = 0; i < s->npromises; i++)
			(*names)[i] = kfs_xstrdup(s->promises[i].name);
		*n = s->npromises;
		pthread_rwlock_unlock(&s->promises_lock);
		return 0;
	}
	return -ENOENT;
}

struct timespec kfs_store_mtime(struct kfs_store *s)
{
	int64_t ns = __atomic_load_n(&s->changed_ns, __ATOMIC_RELAXED);
	return (struct timespec){.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
}

void kfs_store_free_names(char **names, size_t n)
{
	kfs_free_list(names, n);
}

/* ---------- loading, reloading, recovery ---------- */

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct promise_entry *)a)->name,
		      ((const struct promise_entry *)b)->name);
}

/* Reads the promises folder into a new entry list, reusing unchanged promises of old (which
 * are moved out of it). changed[i] tells whether entry i differs from before. */
static int scan_promises(struct kfs_store *s, struct promise_entry *old, size_t nold,
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
			if (prev && strcmp(prev->digest, e->digest) == 0) {
				e->p = prev->p, prev->p = NULL;
				e->error = prev->error, prev->error = NULL;
				e->view = prev->view, prev->view = NULL;
				e->wf_selectors = prev->wf_selectors, prev->wf_selectors = NULL;
				e->commit_error = prev->commit_error, prev->commit_error = NULL;
				e->unscheduled = prev->unscheduled, prev->unscheduled = NULL;
				e->work_serial = prev->work_serial;
				e->workflow_failure = prev->workflow_failure,
				prev->workflow_failure = NULL;
				ch[n] = false;
			} else {
				struct kfs_error lerr = {0};
				if (kfs_promise_load_dir(dir.data, &e->p, &lerr) < 0) {
					e->error = kfs_xstrdup(lerr.msg);
					if (prev)
						e->p = prev->p, prev->p = NULL;
				}
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
	*out = list;
	*nout = n;
	*changed = ch;
	return 0;
}

static void free_entries(struct promise_entry *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		kfs_promise_free(list[i].p);
		free(list[i].name);
		free(list[i].error);
		free(list[i].commit_error);
		free(list[i].unscheduled);
		free(list[i].workflow_failure);
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
		if (hit && r->object) {
			char *object = kfs_xstrndup(r->object, r->object_len);
			struct kfs_error err = {0};
			submit_locked(s, r, object, r->object_len, true, &err);
			free(object);
		}
		pthread_mutex_unlock(&r->write_lock);
		kfs_store_request_put(r);
	}
	free(list);
}

int kfs_store_reload(struct kfs_store *s, struct kfs_error *err)
{
	struct promise_entry *list;
	size_t n;
	bool *changed;
	/* Scanning moves unchanged promises out of the old list, so it runs under the write lock:
	 * renders wait for it, readers of published views do not. */
	pthread_rwlock_wrlock(&s->promises_lock);
	int rc = scan_promises(s, s->promises, s->npromises, &list, &n, &changed, err);
	if (rc < 0) {
		pthread_rwlock_unlock(&s->promises_lock);
		return rc;
	}
	char **names = kfs_xcalloc(n + s->npromises + 1, sizeof(*names));
	size_t nn = 0;
	for (size_t i = 0; i < n; i++)
		if (changed[i])
			names[nn++] = kfs_xstrdup(list[i].name);
	for (size_t i = 0; i < s->npromises; i++)
		if (s->promises[i].p) /* gone from the folder */
			names[nn++] = kfs_xstrdup(s->promises[i].name);
	free_entries(s->promises, s->npromises);
	s->promises = list;
	s->npromises = n;
	pthread_rwlock_unlock(&s->promises_lock);
	rerender(s, names, nn);
	/* list is s->promises: only a reload replaces it, and reloads come from one thread. */
	size_t *counts = count_requests(s, list, n);
	pthread_rwlock_wrlock(&s->promises_lock);
	for (size_t i = 0; i < s->npromises; i++)
		if (changed[i] || !s->promises[i].view)
			build_promise_view(s, &s->promises[i], counts[i]);
	pthread_rwlock_unlock(&s->promises_lock);
	free(counts);
	for (size_t i = 0; i < n; i++) {
		struct kfs_buf folder = {0};
		kfs_buf_printf(&folder, "promises/%s", list[i].name);
		if (changed[i])
			notify(s, folder.data);
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

static enum phase phase_of(const char *name)
{
	for (int i = 0; i < NPHASES; i++)
		if (name && strcmp(kfs_phase_names[i], name) == 0)
			return (enum phase)i;
	return PENDING;
}

/* Rebuilds a request from its journal record: the last good input is rendered again. */
static void recover_request(struct kfs_store *s, struct request *r, const struct kfs_node *doc)
{
	const struct kfs_node *object = kfs_map_get(doc, "object");
	const struct kfs_node *good = kfs_map_get(doc, "good");
	if (!good)
		good = object;
	long long v;
	if (kfs_node_int(kfs_map_get(doc, "generation"), &v))
		r->generation = (unsigned long long)v;
	if (kfs_node_int(kfs_map_get(doc, "observedGeneration"), &v))
		r->observed = (unsigned long long)v;
	r->phase = phase_of(kfs_node_text_at(doc, "phase"));
	set_text(&r->message, kfs_node_text_at(doc, "message") ? kfs_node_text_at(doc, "message")
							       : "");
	set_text(&r->rejection, kfs_node_text_at(doc, "rejection"));
	set_text(&r->log, kfs_node_text_at(doc, "log"));
	const char *commit = kfs_node_text_at(doc, "commit");
	snprintf(r->commit, sizeof(r->commit), "%s", commit ? commit : "");
	/* A commit from before this run: pushed only once a push of this run says so, even if
	 * the request is not rendered (and so not committed) again. */
	r->commit_seq = r->commit[0] ? s->commit_seq : 0;
	const struct kfs_node *conds = kfs_map_get(doc, "conditions");
	if (conds && conds->type == KFS_SEQ) {
		store_yaml(&r->conditions, kfs_node_copy(conds));
	}
	if (object && object->type == KFS_STR)
		set_bytes(&r->object, &r->object_len, object->text, object->len);
	const struct kfs_node *draft = kfs_map_get(doc, "draftBase64");
	struct kfs_buf raw = {0};
	if (draft && draft->type == KFS_STR && kfs_buf_unbase64(&raw, draft->text, draft->len) == 0)
		set_bytes(&r->draft, &r->draft_len, raw.data, raw.len);
	kfs_buf_free(&raw);
	const char *unlinked = kfs_node_text_at(doc, "unlinked");
	r->unlinked = r->object && unlinked && strcmp(unlinked, "true") == 0;
	if (kfs_node_int(kfs_map_get(doc, "uid"), &v))
		r->owner.uid = (uid_t)v;
	if (kfs_node_int(kfs_map_get(doc, "gid"), &v))
		r->owner.gid = (gid_t)v;
	if (kfs_node_int(kfs_map_get(doc, "mode"), &v))
		r->owner.dir_mode = (mode_t)v & 07777;
	if (kfs_node_int(kfs_map_get(doc, "objectMode"), &v))
		r->owner.obj_mode = (mode_t)v & 07777;
	struct kfs_render_result res = {0};
	int rc = -1;
	if (good && good->type == KFS_STR && r->object) {
		struct kfs_error err = {0};
		const struct kfs_promise *p;
		rc = render_request(s, r, good->text, good->len, &p, &res, &err);
		if (rc == 0) {
			set_bytes(&r->good, &r->good_len, good->text, good->len);
			drop_daemon_conditions(s, r, res.status, false);
			set_text(&r->warnings, res.warnings.len ? res.warnings.data : NULL);
			store_yaml(&r->render_status, res.status);
			res.status = NULL;
			kfs_gitsync_request(s, r, p, &res);
			r->selectors = res.selectors, res.selectors = NULL;
		} else {
			/* The promise changed while the daemon was down and no longer renders it. */
			r->phase = ERROR;
			set_text(&r->message, err.msg);
		}
	}
	kfs_store_publish(s, r, rc == 0 ? &res : NULL);
	kfs_render_result_free(&res);
}

/* Called by the journal for each request it holds, in name order. */
static void recover_one(void *ctx, const char *name, const char *payload, size_t len)
{
	struct kfs_store *s = ctx;
	struct kfs_node *doc = NULL;
	struct kfs_error err = {0};
	if (kfs_doc_parse(payload, len, "journal record", &doc, &err) < 0) {
		kfs_store_log_error(s, KFS_LOG_ERROR, err.msg, "recover request=%s result=failed",
				    name);
		return;
	}
	struct request *r = s->slot;
	if (name[0]) {
		size_t pos;
		r = table_find(s, name, &pos);
		if (!r) {
			r = request_new(name);
			table_insert(s, r, pos);
		}
	}
	recover_request(s, r, doc);
	kfs_node_free(doc);
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
		struct request *r = name[0] ? table_find(s, name, NULL) : s->slot;
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
	struct kfs_node *conds = load_yaml(r->conditions, KFS_SEQ);
	bool held = false;
	for (size_t i = 0; i < conds->len && !held; i++) {
		const char *t = kfs_node_text_at(conds->items[i], "type");
		const char *why = kfs_node_text_at(conds->items[i], "reason");
		held = t && why && strcmp(t, "Committed") == 0 && strcmp(why, "StateDamaged") == 0;
	}
	kfs_node_free(conds);
	return held;
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
static void recovery_status(struct kfs_store *s, struct kfs_node *status)
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
static int recover(struct kfs_store *s, struct kfs_error *err)
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
	return rc;
}

int kfs_store_open(const struct kfs_store_options *opts, struct kfs_store **out,
		   struct kfs_error *err)
{
	struct kfs_store *s = kfs_xcalloc(1, sizeof(*s));
	s->promises_dir = kfs_xstrdup(opts->promises_dir);
	s->state_dir = kfs_xstrdup(opts->state_dir);
	s->max_input = opts->max_input;
	s->on_publish = opts->on_publish;
	s->on_publish_ctx = opts->on_publish_ctx;
	s->log = opts->log;
	s->log_ctx = opts->log_ctx;
	pthread_rwlock_init(&s->promises_lock, NULL);
	pthread_rwlock_init(&s->table_lock, NULL);
	pthread_mutex_init(&s->root_lock, NULL);
	s->slot = request_new("");
	struct kfs_buf dir = {0};
	kfs_buf_printf(&dir, "%s/scratch", s->state_dir);
	int rc = kfs_mkdir_p(dir.data, err);
	/* Scratch files are request inputs too (an editor's copy of object.yaml). */
	if (rc == 0 && chmod(dir.data, 0700) < 0)
		rc = kfs_error_set(err, -errno, "%s: %s", dir.data, strerror(errno));
	kfs_buf_free(&dir);
	bool *changed = NULL;
	if (rc == 0)
		rc = kfs_gitsync_open(s, opts, err);
	if (rc == 0)
		rc = scan_promises(s, NULL, 0, &s->promises, &s->npromises, &changed, err);
	free(changed);
	if (rc < 0) {
		kfs_store_close(s);
		*out = NULL;
		return rc;
	}
	/* The promise workflows run first, so that the requests are scheduled with their
	 * destination-selectors; their works join the recovery's single commit. The views are
	 * built again after it, with the request counts. */
	s->recovering = true;
	for (size_t i = 0; i < s->npromises; i++)
		build_promise_view(s, &s->promises[i], 0); /* no request is read back yet */
	if (rc == 0)
		rc = recover(s, err);
	if (rc < 0) {
		kfs_store_close(s);
		*out = NULL;
		return rc;
	}
	/* The Git worker runs from the end of the recovery: it may retry a promise's commit. */
	size_t *counts = count_requests(s, s->promises, s->npromises);
	pthread_rwlock_wrlock(&s->promises_lock);
	for (size_t i = 0; i < s->npromises; i++)
		build_promise_view(s, &s->promises[i], counts[i]);
	pthread_rwlock_unlock(&s->promises_lock);
	free(counts);
	*out = s;
	return 0;
}

void kfs_store_close(struct kfs_store *s)
{
	if (!s)
		return;
	kfs_gitsync_close(s);
	kfs_journal_close(s->journal);
	for (size_t i = 0; i < s->nrequests; i++)
		kfs_store_request_put(s->requests[i]);
	free(s->requests);
	kfs_store_request_put(s->slot);
	free_entries(s->promises, s->npromises);
	kfs_view_put(s->root);
	pthread_rwlock_destroy(&s->promises_lock);
	pthread_rwlock_destroy(&s->table_lock);
	pthread_mutex_destroy(&s->root_lock);
	free(s->promises_dir);
	free(s->state_dir);
	free(s);
}
