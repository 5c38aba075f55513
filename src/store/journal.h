/* The state folder's record store: one append per change instead of a file per request.
 *
 * <state>/journal holds framed records appended as requests change; <state>/snapshot holds the
 * latest record of every live key as of the last compaction. A record is one write(), with its
 * length and a checksum, so a crash mid-append leaves a torn tail that replay stops at; opening
 * compacts (snapshot rewritten through a temporary file and rename, journal emptied), so nothing
 * is ever appended after a torn tail. No inode is created per change, which on ext4 is what an
 * atomic file-per-request write costs most. */
#ifndef KRATIXFS_JOURNAL_H
#define KRATIXFS_JOURNAL_H

#include <stddef.h>

#include "kratixfs/error.h"

struct kfs_journal;

/* Opens (creating) the journal in dir, replays snapshot + journal calling each(ctx, key,
 * payload, len) once per live key with its latest payload, in key order, then compacts. */
int kfs_journal_open(const char *dir, void (*each)(void *ctx, const char *key, const char *payload,
						   size_t len),
		     void *ctx, struct kfs_journal **out, struct kfs_error *err);
/* Appends key's new payload (NULL: key removed). Thread-safe. Compacts when the journal has grown
 * past its limit. */
int kfs_journal_put(struct kfs_journal *j, const char *key, const char *payload, size_t len,
		    struct kfs_error *err);
void kfs_journal_close(struct kfs_journal *j);

#endif
