/* The notifier (notify.h). Its lock is a leaf: held only for the queue and the counters, never
 * while telling the kernel or reading the store. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inode.h"
#include "kratixfs/buf.h"
#include "notify.h"

__thread uint64_t kfs_notify_last;

struct item {
	char *folder;
	uint64_t seq;
	struct item *next;
};

struct kfs_notifier {
	struct kfs_fs *fs;
	pthread_mutex_t lock;
	pthread_cond_t wake;	/* something queued, or stop */
	pthread_cond_t done_cv; /* done grew, or a lookup ended */
	struct item *head, *tail;
	uint64_t queued, done;
	/* Lookups in flight by the round they began in (two rounds suffice: a round waits for the
	 * lookups of the one before). */
	uint64_t epoch;
	unsigned inflight[2];
	bool stop;
	pthread_t thread;
};

/* The name's inode changed or went: the kernel forgets the name (and looks it up again). A
 * folder's listing and attributes, and a rendered file's attributes (owner, mtime), are
 * invalidated; its pages stay, as its bytes cannot change. */
static void tell(struct kfs_fs *fs, const struct kfs_inode_ref *r)
{
	/* object.yaml, feedback, status.yaml, phase, log and scratch files: their attributes are
	 * never cached, and a publish neither makes nor removes them (mkdir, unlink and rename
	 * do, and the kernel sees those). Never invalidating their names also means that the
	 * notifier never needs the lock of a request folder, which a rename holds while it
	 * waits for the notifier. The root slot's files under output/ and metadata/ are the
	 * exception: a new run removes what other processes wrote there, so a name that went is
	 * dropped (a rename in the slot moves names, and drops none), once: its inode then leaves
	 * the name index, as a removed folder's does, so that a later publish never waits for the
	 * lock of a slot folder that a rename there holds while it waits for the notifier. */
	bool slot_file =
	    strncmp(r->path, "/output/", 8) == 0 || strncmp(r->path, "/metadata/", 10) == 0;
	if (r->id.kind == KFS_K_VOL && !slot_file)
		return;
	struct stat st;
	struct kfs_ident now;
	int rc = kfs_p_stat(r->path, &st, &now);
	if (rc != 0 || now.kind != r->id.kind || now.id != r->id.id) {
		const char *name = strrchr(r->path, '/') + 1;
		fuse_lowlevel_notify_inval_entry(fs->se, r->parent, name, strlen(name));
		if (rc != 0 && slot_file)
			kfs_itable_gone(fs->inodes, r->path);
	} else if (r->id.kind == KFS_K_DIR) {
		fuse_lowlevel_notify_inval_inode(fs->se, r->ino, 0, 0);
	} else if (r->id.kind == KFS_K_IMM) {
		fuse_lowlevel_notify_inval_inode(fs->se, r->ino, -1, 0);
	}
}

static void check_folder(struct kfs_fs *fs, const char *folder)
{
	struct kfs_inode_ref *refs;
	size_t n = kfs_itable_in_folder(fs->inodes, folder, &refs);
	for (size_t i = 0; i < n; i++)
		tell(fs, &refs[i]);
	kfs_itable_refs_free(refs, n);
}

/* One publish of folder: its inodes, and the folder that lists it. */
static void check_publish(struct kfs_fs *fs, const char *folder)
{
	check_folder(fs, folder);
	if (strncmp(folder, "requests/", 9) == 0)
		check_folder(fs, "requests");
	else if (strncmp(folder, "promises/", 9) == 0)
		check_folder(fs, "promises");
	else if (folder[0] == '\0')
		fuse_lowlevel_notify_inval_inode(fs->se, FUSE_ROOT_ID, 0, 0);
}

/* A round: the folder is checked; if lookups begun before the round were still in flight, their
 * replies may name an inode of the previous view: once they are sent (the kernel then installs the
 * name before it lets the notifier take the folder's lock), the folder is checked again. */
static void run_round(struct kfs_notifier *n, const char *folder)
{
	pthread_mutex_lock(&n->lock);
	uint64_t old = n->epoch++;
	pthread_mutex_unlock(&n->lock);
	check_publish(n->fs, folder);
	pthread_mutex_lock(&n->lock);
	bool raced = n->inflight[old & 1] > 0;
	while (n->inflight[old & 1] > 0)
		pthread_cond_wait(&n->done_cv, &n->lock);
	pthread_mutex_unlock(&n->lock);
	if (raced)
		check_publish(n->fs, folder);
}

static void *notifier_main(void *arg)
{
	struct kfs_notifier *n = arg;
	kfs_cur = (struct kfs_call){.fs = n->fs, .uid = n->fs->uid, .gid = n->fs->gid};
	pthread_mutex_lock(&n->lock);
	for (;;) {
		while (!n->head && !n->stop)
			pthread_cond_wait(&n->wake, &n->lock);
		if (!n->head)
			break;
		struct item *it = n->head;
		n->head = it->next;
		if (!n->head)
			n->tail = NULL;
		pthread_mutex_unlock(&n->lock);
		run_round(n, it->folder);
		pthread_mutex_lock(&n->lock);
		n->done = it->seq;
		pthread_cond_broadcast(&n->done_cv);
		free(it->folder);
		free(it);
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

struct kfs_notifier *kfs_notifier_start(struct kfs_fs *fs)
{
	struct kfs_notifier *n = kfs_xcalloc(1, sizeof(*n));
	n->fs = fs;
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->wake, NULL);
	pthread_cond_init(&n->done_cv, NULL);
	if (pthread_create(&n->thread, NULL, notifier_main, n) != 0) {
		pthread_cond_destroy(&n->done_cv);
		pthread_cond_destroy(&n->wake);
		pthread_mutex_destroy(&n->lock);
		free(n);
		return NULL;
	}
	return n;
}

void kfs_notifier_stop(struct kfs_notifier *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	bool running = !n->stop;
	n->stop = true;
	pthread_cond_broadcast(&n->wake);
	pthread_cond_broadcast(&n->done_cv);
	pthread_mutex_unlock(&n->lock);
	if (running)
		pthread_join(n->thread, NULL);
}

void kfs_notifier_free(struct kfs_notifier *n)
{
	if (!n)
		return;
	kfs_notifier_stop(n);
	pthread_cond_destroy(&n->done_cv);
	pthread_cond_destroy(&n->wake);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

uint64_t kfs_notifier_queue(struct kfs_notifier *n, const char *folder)
{
	pthread_mutex_lock(&n->lock);
	if (n->stop) {
		pthread_mutex_unlock(&n->lock);
		return 0; /* unmounting: the kernel is told nothing more */
	}
	/* A folder already waiting is checked against the view of its turn: one entry is enough.
	 * Only the last one is compared (a write publishes its folder once or twice in a row), so
	 * that a reload queueing every request costs no quadratic scan. */
	if (n->tail && strcmp(n->tail->folder, folder) == 0) {
		uint64_t seq = n->tail->seq;
		pthread_mutex_unlock(&n->lock);
		return seq;
	}
	struct item *it = kfs_xcalloc(1, sizeof(*it));
	it->folder = kfs_xstrdup(folder);
	it->seq = ++n->queued;
	if (n->tail)
		n->tail->next = it;
	else
		n->head = it;
	n->tail = it;
	pthread_cond_signal(&n->wake);
	uint64_t seq = it->seq;
	pthread_mutex_unlock(&n->lock);
	return seq;
}

void kfs_notifier_wait(struct kfs_notifier *n, uint64_t seq, int timeout_ms)
{
	struct timespec end;
	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += timeout_ms / 1000;
	end.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (end.tv_nsec >= 1000000000) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&n->lock);
	while (n->done < seq && !n->stop)
		if (pthread_cond_timedwait(&n->done_cv, &n->lock, &end) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&n->lock);
}

uint64_t kfs_lookup_begin(struct kfs_notifier *n)
{
	pthread_mutex_lock(&n->lock);
	uint64_t e = n->epoch;
	n->inflight[e & 1]++;
	pthread_mutex_unlock(&n->lock);
	return e;
}

void kfs_lookup_end(struct kfs_notifier *n, uint64_t ticket)
{
	pthread_mutex_lock(&n->lock);
	if (--n->inflight[ticket & 1] == 0)
		pthread_cond_broadcast(&n->done_cv);
	pthread_mutex_unlock(&n->lock);
}
