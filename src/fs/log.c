/* The daemon's log: one line per event (render, rejection, commit, push, reload, ...), masked of
 * credentials, to stderr or syslog. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "kratixfs/files.h"

/* Where the store's and the daemon's event lines go: stderr in the foreground (with the
 * journal's priority prefix when stderr is the journal), syslog once daemonized. */

const char *const kfs_level_names[] = {"error", "warn", "info", "debug"};
static const int level_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

int kfs_parse_level(const char *s, enum kfs_log_level *out)
{
	for (int i = KFS_LOG_ERROR; i <= KFS_LOG_DEBUG; i++)
		if (strcmp(s, kfs_level_names[i]) == 0) {
			*out = (enum kfs_log_level)i;
			return 0;
		}
	return -EINVAL;
}

/* True when systemd connected stderr to the journal: it then timestamps each line itself and
 * reads a "<N>" prefix as the priority. */
bool kfs_stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void kfs_log_line(void *ctx, enum kfs_log_level level, const char *text)
{
	const struct logger *lg = ctx;
	if (level > lg->max)
		return;
	char line[2048];
	kfs_mask_userinfo(text, line, sizeof(line));
	if (lg->syslog) {
		syslog(level_prio[level], "%s %s", kfs_level_names[level], line);
		return;
	}
	if (lg->journal) {
		fprintf(stderr, "<%d>%s %s\n", level_prio[level], kfs_level_names[level], line);
		return;
	}
	struct timespec now;
	struct tm tm;
	char ts[40], zone[8];
	clock_gettime(CLOCK_REALTIME, &now);
	localtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	strftime(zone, sizeof(zone), "%z", &tm);
	/* One fprintf per line: stdio locks the stream, so lines of two threads never mix. */
	fprintf(stderr, "%s.%03ld%s %s %s\n", ts, now.tv_nsec / 1000000, zone,
		kfs_level_names[level], line);
}

void kfs_logf(const struct logger *lg, enum kfs_log_level level, const char *fmt, ...)
{
	if (level > lg->max)
		return;
	char line[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	kfs_log_line((void *)lg, level, line);
}
