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

/* ---------- requests ---------- */

const char *const kfs_phase_names[] = {"Pending", "Rendered", "Committed", "Applied",
				       "Ready",	  "Error",    "Suspended"};

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
	kfs_conds_free(&r->conds);
	free(r->render_status);
	free(r->status_base);
	kfs_node_free(r->selectors);
	kfs_slot_files_free(r->edits);
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

struct request *kfs_request_new(const char *name)
{
	struct request *r = kfs_xcalloc(1, sizeof(*r));
	r->refs = 1;
	r->name = kfs_xstrdup(name);
	pthread_mutex_init(&r->write_lock, NULL);
	pthread_mutex_init(&r->view_lock, NULL);
	r->message = kfs_xstrdup("Waiting for object.yaml");
	r->owner = kfs_default_owner();
	return r;
}

void kfs_set_text(char **field, const char *text)
{
	free(*field);
	*field = text ? kfs_xstrdup(text) : NULL;
}

void kfs_set_bytes(char **field, size_t *len, const char *data, size_t n)
{
	free(*field);
	*field = data ? kfs_xstrndup(data, n) : NULL;
	*len = data ? n : 0;
}

/* Finds a request in the sorted table; *pos is where it is or would go. */
struct request *kfs_table_find(struct kfs_store *s, const char *name, size_t *pos)
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
	struct request *r = kfs_table_find(s, name, NULL);
	if (r)
		__atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
	pthread_rwlock_unlock(&s->table_lock);
	return r;
}

void kfs_table_insert(struct kfs_store *s, struct request *r, size_t pos)
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

int kfs_store_open(const struct kfs_store_options *opts, struct kfs_store **out,
		   struct kfs_error *err)
{
	struct kfs_store *s = kfs_xcalloc(1, sizeof(*s));
	s->promises_dir = kfs_xstrdup(opts->promises_dir);
	s->state_dir = kfs_xstrdup(opts->state_dir);
	s->max_input = opts->max_input;
	s->exec = opts->exec;
	s->on_publish = opts->on_publish;
	s->on_publish_ctx = opts->on_publish_ctx;
	s->log = opts->log;
	s->log_ctx = opts->log_ctx;
	pthread_rwlock_init(&s->promises_lock, NULL);
	pthread_rwlock_init(&s->table_lock, NULL);
	pthread_mutex_init(&s->root_lock, NULL);
	kfs_promise_state_init(s);
	pthread_mutex_init(&s->retry_lock, NULL);
	pthread_cond_init(&s->retry_cond, NULL);
	s->slot = kfs_request_new("");
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
		rc = kfs_scan_promises(s, NULL, 0, &s->promises, &s->npromises, &changed, err);
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
		kfs_build_promise_view(s, &s->promises[i], 0); /* no request is read back yet */
	if (rc == 0)
		rc = kfs_store_recover(s, err);
	if (rc < 0) {
		kfs_store_close(s);
		*out = NULL;
		return rc;
	}
	/* The Git worker runs from the end of the recovery: it may retry a promise's commit. */
	size_t *counts = kfs_count_requests(s, s->promises, s->npromises);
	pthread_rwlock_wrlock(&s->promises_lock);
	for (size_t i = 0; i < s->npromises; i++)
		kfs_build_promise_view(s, &s->promises[i], counts[i]);
	pthread_rwlock_unlock(&s->promises_lock);
	free(counts);
	*out = s;
	return 0;
}

void kfs_store_close(struct kfs_store *s)
{
	if (!s)
		return;
	kfs_retry_stop(s);
	kfs_gitsync_close(s);
	kfs_journal_close(s->journal);
	for (size_t i = 0; i < s->nrequests; i++)
		kfs_store_request_put(s->requests[i]);
	free(s->requests);
	kfs_store_request_put(s->slot);
	kfs_free_entries(s->promises, s->npromises);
	kfs_promise_state_free(s);
	kfs_view_put(s->root);
	pthread_rwlock_destroy(&s->promises_lock);
	pthread_rwlock_destroy(&s->table_lock);
	pthread_mutex_destroy(&s->root_lock);
	pthread_mutex_destroy(&s->retry_lock);
	pthread_cond_destroy(&s->retry_cond);
	free(s->promises_dir);
	free(s->state_dir);
	free(s);
}
