/* The notifier: one thread that tells the kernel what a publish changed. The store calls
 * kfs_fs_on_publish from whatever thread published, often a FUSE worker in the middle of a
 * request, which must not write a notification itself (the kernel may be holding the very folder
 * lock the notification needs, waiting for that request's reply). So publishes are queued here,
 * and the notifier compares the inodes the kernel holds in the folder with the new view. */
#ifndef KRATIXFS_FS_NOTIFY_H
#define KRATIXFS_FS_NOTIFY_H

#include "fs.h"

/* The sequence number of the last publish this thread queued (0: none yet). */
extern __thread uint64_t kfs_notify_last;

struct kfs_notifier *kfs_notifier_start(struct kfs_fs *fs);
/* Handles what is queued, then ends the thread; later publishes are not queued. */
void kfs_notifier_stop(struct kfs_notifier *n);
/* Frees it (stopped first), once nothing can publish any more (the store is closed). */
void kfs_notifier_free(struct kfs_notifier *n);
/* Queues folder; returns the sequence number that kfs_notifier_wait waits for. */
uint64_t kfs_notifier_queue(struct kfs_notifier *n, const char *folder);
/* Waits until the publish seq has been told to the kernel, at most timeout_ms: the bound keeps a
 * wait from becoming a deadlock when the notifier needs a folder lock held by a process whose
 * request waits for a free worker thread (-s, or every worker busy). */
void kfs_notifier_wait(struct kfs_notifier *n, uint64_t seq, int timeout_ms);

/* A lookup in flight: a reply built from a view may reach the kernel after the notifier handled
 * a newer publish of that folder. kfs_lookup_begin returns a ticket; kfs_lookup_end (after the
 * reply is sent) queues the folder again when it was published meanwhile, and the notifier
 * waits for lookups begun before a round before it ends that round. */
uint64_t kfs_lookup_begin(struct kfs_notifier *n);
void kfs_lookup_end(struct kfs_notifier *n, uint64_t ticket);

#endif
