/* The state folder's record store: one append per change instead of a file per request.
 *
 * <state>/journal holds framed records appended as requests change; <state>/snapshot holds the
 * latest record of every live key as of the last compaction. A record is one write(), with its
 * length, a checksum of its header and key, and a checksum of the whole record (SHA-256), so a
 * crash mid-append leaves a torn tail that replay drops, and a damaged record costs only itself:
 * replay resynchronises on the next record it can prove. A damaged file is never rewritten: it is
 * kept aside as <file>.damaged-<UTC time> and the open reports what was kept and lost. Opening
 * compacts (snapshot rewritten through a temporary file and rename, journal emptied), and so does
 * a put once the journal outgrows the live records. <state>/lock is held (flock) for the
 * journal's life and names its process: one daemon per state folder. */
#ifndef KRATIXFS_JOURNAL_H
#define KRATIXFS_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "kratixfs/error.h"

struct kfs_journal;

/* What an open found wrong with one file (snapshot or journal). */
struct kfs_journal_damage {
	const char *file; /* its path; NULL: the file was whole */
	char *kept_as;	  /* where the damaged file was kept */
	size_t kept;	  /* records proven and replayed */
	size_t lost;	  /* damaged records, counting one per unreadable stretch */
	size_t lost_bytes;
};

/* What an open had to do to read the state folder back; all zero when it was whole. */
struct kfs_journal_report {
	struct kfs_journal_damage snapshot, journal;
	size_t torn_bytes; /* the journal's torn tail (a crash mid-append): dropped */
	char **lost_keys;  /* keys whose last change was in a damaged record, sorted */
	size_t nlost_keys;
	size_t unnamed; /* damaged stretches whose key could not be read */
};

/* Locks the state folder dir (-EBUSY naming the holder's pid when another process has it), opens
 * (creating) the journal, replays snapshot + journal calling each(ctx, key, payload, len) once
 * per live key with its latest payload, in key order, then compacts. A damaged file is kept
 * aside and reported (kfs_journal_report); a snapshot of which no record can be proven refuses
 * the open (-EIO), changing nothing. */
int kfs_journal_open(const char *dir, void (*each)(void *ctx, const char *key, const char *payload,
						   size_t len),
		     void *ctx, struct kfs_journal **out, struct kfs_error *err);
/* What the open found; valid until kfs_journal_close. */
const struct kfs_journal_report *kfs_journal_report(const struct kfs_journal *j);
/* Appends key's new payload (NULL: key removed). Thread-safe. A failed append (ENOSPC, EIO)
 * leaves the journal as it was and returns the write's errno. Compacts when the journal has grown
 * past its limit; a compaction that fails keeps the old files and does not fail the put. */
int kfs_journal_put(struct kfs_journal *j, const char *key, const char *payload, size_t len,
		    struct kfs_error *err);
void kfs_journal_close(struct kfs_journal *j);

#endif
