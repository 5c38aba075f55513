/* The daemon's helpers, private to src/fs: its log (log.c) and the checks of its mount point
 * (mounted.c). */
#ifndef KRATIXFS_FS_DAEMON_H
#define KRATIXFS_FS_DAEMON_H

#include <stdbool.h>

#include "fs.h"

/* Where the store's and the daemon's event lines go: stderr in the foreground (with the
 * journal's priority prefix when stderr is the journal), syslog once daemonized. */
struct logger {
	enum kfs_log_level max;
	bool syslog;
	bool journal;
};

extern const char *const kfs_level_names[];
int kfs_parse_level(const char *s, enum kfs_log_level *out);
/* True when systemd connected stderr to the journal. */
bool kfs_stderr_is_journal(void);
/* The store's log callback; ctx is a struct logger. */
void kfs_log_line(void *ctx, enum kfs_log_level level, const char *text);
void kfs_logf(const struct logger *lg, enum kfs_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* True when dir is the mount point or lies below it. */
bool kfs_inside(const char *dir, const char *mnt);
/* -EBUSY (after saying why on stderr) when a kratixfs is mounted at mnt already. */
int kfs_check_not_mounted(const char *mnt);

#endif
