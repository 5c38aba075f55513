/* A request folder's life outside object.yaml writes: mkdir, chmod and chown, unlink of
 * object.yaml, and the GitOps agent's feedback. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/doc.h"
#include "store_internal.h"

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
	if (kfs_table_find(s, name, &pos)) {
		pthread_rwlock_unlock(&s->table_lock);
		return kfs_error_set(err, -EEXIST, "requests/%s: exists", name);
	}
	struct request *r = kfs_request_new(name);
	if (o)
		r->owner = *o;
	/* Stored before anyone can see it: a mkdir the state folder cannot record fails. */
	int rc = kfs_store_persist(s, r, err);
	if (rc < 0) {
		pthread_rwlock_unlock(&s->table_lock);
		kfs_store_request_put(r);
		return rc;
	}
	kfs_table_insert(s, r, pos);
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
		kfs_save_request(r, &sv);
		kfs_set_bytes(&r->draft, &r->draft_len, NULL, 0);
		r->unlinked = r->object != NULL;
		rc = kfs_persist_or_restore(s, r, &sv, err);
		kfs_saved_free(&sv);
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

/* The feedback's one line of text, in line (size bytes), trailing blanks cut. A second line, a
 * control character or a cut would reach the status as something the agent did not say. */
static int feedback_line(const char *data, size_t len, char *line, size_t size,
			 struct kfs_error *err)
{
	size_t end = len, lines = 1;
	while (end > 0 && (data[end - 1] == '\n' || data[end - 1] == '\r' || data[end - 1] == ' '))
		end--;
	for (size_t i = 0; i < end; i++) {
		unsigned char c = (unsigned char)data[i];
		lines += c == '\n';
		if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
			return kfs_error_set(err, -EINVAL,
					     "feedback: holds a control character 0x%02x; write one "
					     "line of text",
					     c);
	}
	if (lines > 1 || end >= size) {
		return kfs_error_set(err, -EINVAL,
				     lines > 1 ? "feedback: holds %zu lines; write one line: Applied, "
						 "Ready, Ready @<generation> or Error <message>"
					       : "feedback: longer than %zu bytes; write one shorter "
						 "line",
				     lines > 1 ? lines : size - 1);
	}
	memcpy(line, data, end);
	line[end] = '\0';
	return 0;
}

int kfs_store_feedback(struct kfs_store *s, const char *name, const char *data, size_t len,
		       struct kfs_error *err)
{
	char line[512];
	struct request *r = kfs_store_request_get(s, name);
	if (!r)
		return kfs_error_set(err, -ENOENT, "requests/%s: no such request", name);
	int rc = feedback_line(data, len, line, sizeof(line), err);
	if (rc < 0) {
		kfs_store_request_put(r);
		return rc;
	}
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
	kfs_save_request(r, &sv);
	r->phase = next;
	if (next == ERROR) {
		kfs_set_text(&r->message, message);
		kfs_store_set_condition(r, "WorksSucceeded", "False", "ApplyFailed", message);
	} else {
		kfs_set_text(&r->message, next == READY ? "Ready" : "Applied by the GitOps agent");
		kfs_store_set_condition(r, "WorksSucceeded", "True", next == READY ? "Ready" : "Applied",
			      "");
	}
	rc = kfs_persist_or_restore(s, r, &sv, err);
	kfs_saved_free(&sv);
	if (rc == 0)
		kfs_store_publish(s, r, NULL);
out:
	pthread_mutex_unlock(&r->write_lock);
	kfs_store_request_put(r);
	return rc;
}
