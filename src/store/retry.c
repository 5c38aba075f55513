/* workflow-control.yaml's retryAfter: a suspended request's workflow runs again when its time
 * comes. One timer thread, started by the first retry, waits on retry_cond until the earliest
 * time of its queue; it pops a due entry under retry_lock and then, holding no lock, runs the
 * request's workflow as a write does (write_lock, then promises read-locked). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kratixfs/doc.h"
#include "store_internal.h"

struct retry_item {
	struct retry_item *next;
	long long at_ms;
	char name[];
};

long long kfs_retry_now_ms(void)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Runs name's workflow again if it is still the suspension that asked for this retry. */
static void fire(struct kfs_store *s, const char *name, long long at_ms)
{
	struct request *r = name[0] ? kfs_store_request_get(s, name) : NULL;
	if (!r)
		return;
	pthread_mutex_lock(&r->write_lock);
	if (r->phase == SUSPENDED && r->retry_at == at_ms && r->object) {
		/* A copy: the write replaces r->object. */
		size_t len = r->object_len;
		char *data = kfs_xstrndup(r->object, len);
		struct kfs_error err = {0};
		kfs_store_log(s, KFS_LOG_INFO, "retry request=%s reason=retryAfter", name);
		kfs_submit_locked(s, r, data, len, true, &err);
		free(data);
	}
	pthread_mutex_unlock(&r->write_lock);
	kfs_store_request_put(r);
}

static void *timer(void *arg)
{
	struct kfs_store *s = arg;
	pthread_mutex_lock(&s->retry_lock);
	while (!s->retry_stopping) {
		struct retry_item *first = s->retries;
		if (!first) {
			pthread_cond_wait(&s->retry_cond, &s->retry_lock);
			continue;
		}
		long long now = kfs_retry_now_ms();
		if (first->at_ms > now) {
			struct timespec until = {.tv_sec = first->at_ms / 1000,
						 .tv_nsec = (first->at_ms % 1000) * 1000000};
			pthread_cond_timedwait(&s->retry_cond, &s->retry_lock, &until);
			continue;
		}
		s->retries = first->next;
		pthread_mutex_unlock(&s->retry_lock);
		fire(s, first->name, first->at_ms);
		free(first);
		pthread_mutex_lock(&s->retry_lock);
	}
	pthread_mutex_unlock(&s->retry_lock);
	return NULL;
}

void kfs_retry_schedule(struct kfs_store *s, const char *name, long long at_ms)
{
	size_t n = strlen(name) + 1;
	struct retry_item *it = kfs_xmalloc(sizeof(*it) + n);
	it->at_ms = at_ms;
	memcpy(it->name, name, n);
	pthread_mutex_lock(&s->retry_lock);
	if (s->retry_stopping) {
		pthread_mutex_unlock(&s->retry_lock);
		free(it);
		return;
	}
	struct retry_item **at = &s->retries;
	while (*at && (*at)->at_ms <= at_ms)
		at = &(*at)->next;
	it->next = *at;
	*at = it;
	if (!s->retry_started && pthread_create(&s->retry_thread, NULL, timer, s) == 0)
		s->retry_started = true;
	pthread_cond_signal(&s->retry_cond);
	pthread_mutex_unlock(&s->retry_lock);
}

void kfs_retry_stop(struct kfs_store *s)
{
	pthread_mutex_lock(&s->retry_lock);
	s->retry_stopping = true;
	pthread_cond_signal(&s->retry_cond);
	bool started = s->retry_started;
	pthread_mutex_unlock(&s->retry_lock);
	if (started)
		pthread_join(s->retry_thread, NULL);
	while (s->retries) {
		struct retry_item *next = s->retries->next;
		free(s->retries);
		s->retries = next;
	}
}
