/* The daemon: options, the store, the mount, and a helper thread that serves no request:
 * reloads (SIGHUP, or the promises folder changing). */
#include "fs.h"
#include "kratixfs/usage.h" /* first: it sets FUSE_USE_VERSION */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "kratixfs/buf.h"
#include "kratixfs/files.h"

#define DEFAULT_MAX_INPUT (1024 * 1024)
/* Quiet time after the last change of a template before reloading, and the longest wait while
 * changes keep coming: "within a second" is the contract. */
#define DEBOUNCE_MS	100
#define DEBOUNCE_MAX_MS 500

struct daemon_conf {
	char *promises;
	char *state;
	char *max_input;
	char *git;
	char *git_branch;
	char *git_push;
	char *destinations;
	char *log_level;
	char *exec_timeout;
	/* The free arguments: [SOURCE] MOUNTPOINT, as mount(8) and fstab pass them. */
	char *nonopt[2];
	int nnonopt;
	bool fsname;
	bool others;	  /* allow_other or allow_root: other users reach the mount */
	bool permissions; /* default_permissions was given */
	int help;
	int version;
};

enum { KEY_HELP, KEY_VERSION };

/* Options mount(8) and fstab add for themselves: dropped, so that an fstab line works whether
 * mount(8) runs mount.kratixfs or mount.fuse3 runs kratixfs. */
static const char *const mount_only_opts[] = {
    "nofail", "_netdev", "noauto", "auto", "user", "nouser", "users", "owner", "defaults", NULL,
};

#define KFS_OPT(t, p)                                                                              \
	{                                                                                          \
		t, offsetof(struct daemon_conf, p), 1                                              \
	}
static const struct fuse_opt kfs_opts[] = {
    KFS_OPT("promises=%s", promises),	      KFS_OPT("state=%s", state),
    KFS_OPT("max_input=%s", max_input),	      KFS_OPT("git=%s", git),
    KFS_OPT("git_branch=%s", git_branch),     KFS_OPT("git_push=%s", git_push),
    KFS_OPT("destinations=%s", destinations), KFS_OPT("log_level=%s", log_level),
    KFS_OPT("exec_timeout=%s", exec_timeout), FUSE_OPT_KEY("-h", KEY_HELP),
    FUSE_OPT_KEY("--help", KEY_HELP),	      FUSE_OPT_KEY("-V", KEY_VERSION),
    FUSE_OPT_KEY("--version", KEY_VERSION),   FUSE_OPT_END,
};

void kfs_daemon_usage(FILE *out)
{
	char buf[PATH_MAX];
	fprintf(out, KFS_DAEMON_USAGE, kfs_bundled_promises(buf));
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	(void)outargs;
	struct daemon_conf *c = data;
	switch (key) {
	case KEY_HELP:
		c->help = 1;
		return 0;
	case KEY_VERSION:
		c->version = 1;
		return 0;
	case FUSE_OPT_KEY_NONOPT:
		/* Kept aside: fuse_parse_cmdline takes the mount point alone. */
		if (c->nnonopt == 2) {
			fprintf(stderr, "kratixfs: %s: unexpected argument (try kratixfs --help)\n",
				arg);
			return -1;
		}
		c->nonopt[c->nnonopt++] = kfs_xstrdup(arg);
		return 0;
	case FUSE_OPT_KEY_OPT:
		for (const char *const *m = mount_only_opts; *m; m++)
			if (strcmp(arg, *m) == 0)
				return 0;
		if (strncmp(arg, "x-", 2) == 0 || strncmp(arg, "comment=", 8) == 0)
			return 0;
		if (strncmp(arg, "fsname=", 7) == 0)
			c->fsname = true;
		if (strcmp(arg, "allow_other") == 0 || strcmp(arg, "allow_root") == 0)
			c->others = true;
		if (strcmp(arg, "default_permissions") == 0)
			c->permissions = true;
		return 1;
	}
	return 1;
}

/* ---------- the log: one line per event ---------- */

/* Where the store's and the daemon's event lines go: stderr in the foreground (with the
 * journal's priority prefix when stderr is the journal), syslog once daemonized. */
struct logger {
	enum kfs_log_level max;
	bool syslog;
	bool journal;
};

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const int level_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

static int parse_level(const char *s, enum kfs_log_level *out)
{
	for (int i = KFS_LOG_ERROR; i <= KFS_LOG_DEBUG; i++)
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum kfs_log_level)i;
			return 0;
		}
	return -EINVAL;
}

/* True when systemd connected stderr to the journal: it then timestamps each line itself and
 * reads a "<N>" prefix as the priority. */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static void log_line(void *ctx, enum kfs_log_level level, const char *text)
{
	const struct logger *lg = ctx;
	if (level > lg->max)
		return;
	char line[2048];
	kfs_mask_userinfo(text, line, sizeof(line));
	if (lg->syslog) {
		syslog(level_prio[level], "%s %s", level_names[level], line);
		return;
	}
	if (lg->journal) {
		fprintf(stderr, "<%d>%s %s\n", level_prio[level], level_names[level], line);
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
	fprintf(stderr, "%s.%03ld%s %s %s\n", ts, now.tv_nsec / 1000000, zone, level_names[level],
		line);
}

static void logf_(const struct logger *lg, enum kfs_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void logf_(const struct logger *lg, enum kfs_log_level level, const char *fmt, ...)
{
	if (level > lg->max)
		return;
	char line[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_line((void *)lg, level, line);
}

static char *default_state_dir(void)
{
	struct kfs_buf b = {0};
	const char *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	if (xdg && xdg[0] == '/')
		kfs_buf_printf(&b, "%s/kratixfs", xdg);
	else if (geteuid() == 0 || !home || !*home)
		kfs_buf_adds(&b, "/var/lib/kratixfs");
	else
		kfs_buf_printf(&b, "%s/.local/state/kratixfs", home);
	return kfs_buf_steal(&b);
}

/* The daemon moves to "/": a relative -o path must be made absolute first. */
static void make_absolute(char **path)
{
	if (!*path || (*path)[0] == '/')
		return;
	char cwd[4096];
	if (!getcwd(cwd, sizeof(cwd)))
		return;
	struct kfs_buf b = {0};
	kfs_buf_printf(&b, "%s/%s", cwd, *path);
	free(*path);
	*path = kfs_buf_steal(&b);
}

/* True when dir is the mount point or lies below it: the daemon would then read its own mount
 * and deadlock. */
static bool inside(const char *dir, const char *mnt)
{
	size_t n = strlen(mnt);
	return strncmp(dir, mnt, n) == 0 && (dir[n] == '\0' || dir[n] == '/' || n == 1);
}

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape_mountinfo(char *s)
{
	char *out = s;
	for (char *in = s; *in; in++) {
		if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' &&
		    in[3] >= '0' && in[3] <= '7') {
			*out++ = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
			in += 3;
		} else {
			*out++ = *in;
		}
	}
	*out = '\0';
}

/* Whether /proc/<pid> is a kratixfs daemon whose mount point argument is mnt (libfuse made that
 * absolute and canonical; the argument may be relative to the daemon's folder). */
static bool serves(const char *pid, const char *mnt)
{
	char path[300], buf[4096];
	snprintf(path, sizeof(path), "/proc/%s/comm", pid);
	FILE *f = fopen(path, "re");
	/* kratixfs execs kratixfs-daemon: either name. */
	bool named = f && fgets(buf, sizeof(buf), f) &&
		     (strcmp(buf, "kratixfs\n") == 0 || strcmp(buf, "kratixfs-daemon\n") == 0);
	if (f)
		fclose(f);
	if (!named)
		return false;
	snprintf(path, sizeof(path), "/proc/%s/cmdline", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	char cwd[PATH_MAX] = "";
	snprintf(path, sizeof(path), "/proc/%s/cwd", pid);
	ssize_t c = readlink(path, cwd, sizeof(cwd) - 1);
	cwd[c > 0 ? c : 0] = '\0';
	for (char *arg = buf; arg < buf + n; arg += strlen(arg) + 1) {
		char abs[PATH_MAX * 2];
		if (arg[0] == '-' || strchr(arg, '='))
			continue; /* an option, not a mount point */
		if (arg[0] != '/' && cwd[0])
			snprintf(abs, sizeof(abs), "%s/%s", cwd, arg);
		else
			snprintf(abs, sizeof(abs), "%s", arg);
		if (strcmp(abs, mnt) == 0)
			return true;
		/* Only an argument not already the mount point is resolved: resolving the mount
		 * point itself would ask its daemon, which may hang. */
		char *real = realpath(abs, NULL);
		bool same = real && strcmp(real, mnt) == 0;
		free(real);
		if (same)
			return true;
	}
	return false;
}

/* Refuses a mount on top of a kratixfs mount: two daemons would serve one path, and the one
 * below would be hidden but alive. Names the daemon's pid when it can be found. */
static int check_not_mounted(const char *mnt)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return 0;
	char line[8192], source[PATH_MAX] = "";
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		/* id parent dev root MOUNTPOINT options [optional...] - FSTYPE SOURCE super */
		char *tok[64], *save = NULL, *p = line;
		int n = 0, dash = -1;
		while (n < 64 && (tok[n] = strtok_r(p, " \n", &save))) {
			if (dash < 0 && n > 5 && strcmp(tok[n], "-") == 0)
				dash = n;
			p = NULL;
			n++;
		}
		if (dash < 0 || dash + 2 >= n || strcmp(tok[dash + 1], "fuse.kratixfs") != 0)
			continue;
		unescape_mountinfo(tok[4]);
		if (strcmp(tok[4], mnt) == 0) {
			found = true;
			unescape_mountinfo(tok[dash + 2]);
			snprintf(source, sizeof(source), "%s", tok[dash + 2]);
		}
	}
	fclose(f);
	if (!found)
		return 0;
	long pid = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && !pid && (e = readdir(d)))
		if (e->d_name[0] >= '1' && e->d_name[0] <= '9' &&
		    atol(e->d_name) != (long)getpid() && serves(e->d_name, mnt))
			pid = atol(e->d_name);
	if (d)
		closedir(d);
	if (pid)
		fprintf(stderr,
			"kratixfs: %s: a kratixfs is already mounted there (pid %ld, promises %s): "
			"unmount it first (fusermount3 -u %s)\n",
			mnt, pid, source, mnt);
	else
		fprintf(stderr,
			"kratixfs: %s: a kratixfs is already mounted there (promises %s) and no "
			"daemon serving it was found: unmount it first (fusermount3 -u %s)\n",
			mnt, source, mnt);
	return -EBUSY;
}

/* The watcher: inotify on every folder of the promises tree, plus SIGHUP through a signalfd. */
struct watcher {
	struct kfs_fs *fs;
	const struct logger *log;
	const char *dir;
	int ino, sig, stop;
};

static void add_watches(int ino, const char *dir, int depth)
{
	const uint32_t mask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM |
			      IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;
	if (depth > 32 || inotify_add_watch(ino, dir, mask) < 0)
		return;
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char p[PATH_MAX];
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) >= (int)sizeof(p))
			continue;
		struct stat st;
		if (e->d_type == DT_DIR ||
		    (e->d_type == DT_UNKNOWN && stat(p, &st) == 0 && S_ISDIR(st.st_mode)))
			add_watches(ino, p, depth + 1);
	}
	closedir(d);
}

static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void reload(const struct watcher *w, const char *trigger)
{
	struct kfs_error err = {0};
	long long start = now_ms();
	int rc = kfs_store_reload(w->fs->store, &err);
	if (rc < 0)
		logf_(w->log, KFS_LOG_ERROR, "reload trigger=%s promises=%s error=\"%s\"", trigger,
		      w->dir, err.msg);
	else
		logf_(w->log, KFS_LOG_INFO, "reload trigger=%s promises=%s duration=%lldms",
		      trigger, w->dir, now_ms() - start);
}

static void *watch_thread(void *arg)
{
	struct watcher *w = arg;
	long long first = 0, deadline = 0;
	bool pending = false;
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		struct pollfd p[3] = {
		    {w->stop, POLLIN, 0}, {w->sig, POLLIN, 0}, {w->ino, POLLIN, 0}};
		int timeout = -1;
		if (pending) {
			long long left = deadline - now_ms();
			timeout = left < 0 ? 0 : (int)left;
		}
		int n = poll(p, w->ino >= 0 ? 3 : 2, timeout);
		if (n < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(w->sig, &si, sizeof(si)) == (ssize_t)sizeof(si))
				reload(w, "SIGHUP");
		}
		if (w->ino >= 0 && (p[2].revents & POLLIN)) {
			while (read(w->ino, buf, sizeof(buf)) > 0)
				;
			long long t = now_ms();
			if (!pending)
				first = t;
			pending = true;
			deadline = t + DEBOUNCE_MS;
			if (deadline > first + DEBOUNCE_MAX_MS)
				deadline = first + DEBOUNCE_MAX_MS;
		}
		if (pending && now_ms() >= deadline) {
			pending = false;
			add_watches(w->ino, w->dir, 0); /* folders created since the last scan */
			reload(w, "inotify");
		}
	}
	return NULL;
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v == 0 || s[0] == '-')
		return -EINVAL;
	*out = (size_t)v;
	return 0;
}

/* Runs the mounted file system until it is unmounted or signalled. */
static int serve(struct kfs_fs *fs, struct fuse_cmdline_opts *o, const char *promises,
		 const struct logger *lg, const char **why)
{
	struct fuse_session *se = fuse_get_session(fs->fuse);
	/* A shell starts background jobs with SIGINT ignored, and libfuse only handles signals
	 * left at their default: SIGINT must unmount cleanly all the same. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (fuse_set_signal_handlers(se) != 0)
		return 1;
	pthread_t watch;
	struct watcher w = {.fs = fs, .log = lg, .dir = promises};
	sigset_t hup;
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	w.sig = signalfd(-1, &hup, SFD_CLOEXEC | SFD_NONBLOCK);
	w.stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w.ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (w.ino < 0)
		logf_(lg, KFS_LOG_WARN, "inotify error=\"%s\" (templates reload on SIGHUP only)",
		      strerror(errno));
	else
		add_watches(w.ino, promises, 0);
	pthread_create(&watch, NULL, watch_thread, &w);

	int rc;
	if (o->singlethread) {
		rc = fuse_loop(fs->fuse);
	} else {
		/* libfuse's "unlimited" default (UINT_MAX) is refused by its own v1 conversion. */
		struct fuse_loop_config lc = {
		    .clone_fd = o->clone_fd,
		    .max_idle_threads = o->max_idle_threads > 1000 ? 10 : o->max_idle_threads};
		rc = fuse_loop_mt(fs->fuse, &lc);
	}

	uint64_t one = 1;
	if (write(w.stop, &one, sizeof(one)) < 0)
		logf_(lg, KFS_LOG_ERROR, "eventfd error=\"%s\"", strerror(errno));
	pthread_join(watch, NULL);
	/* A file closed just before a signal ended the loop gets no RELEASE (it is sent after
	 * close(2) returns): its handle, and the view it holds, are freed here. */
	kfs_fs_drop_handles(fs);
	close(w.stop);
	close(w.sig);
	if (w.ino >= 0)
		close(w.ino);
	fuse_remove_signal_handlers(se);
	/* The loop returns the signal that ended it: SIGTERM/SIGINT are a clean stop. */
	if (rc == 0)
		*why = "unmounted";
	else if (rc == SIGTERM || rc == SIGINT)
		*why = rc == SIGTERM ? "SIGTERM" : "SIGINT";
	return rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP ? 0 : 1;
}

/* Moves to the background before the store starts its Git threads (a fork keeps only the
 * calling thread). The parent waits until the child reports: it exits 0 once the mount is up,
 * or 1 after the child has printed why not on the stderr they share. */
static int go_background(int *ready_fd)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int e = -errno;
		close(p[0]);
		close(p[1]);
		return e;
	}
	if (pid > 0) {
		char c = 0;
		close(p[1]);
		ssize_t n;
		do
			n = read(p[0], &c, 1);
		while (n < 0 && errno == EINTR);
		_exit(n == 1 && c == '0' ? 0 : 1);
	}
	close(p[0]);
	setsid();
	*ready_fd = p[1];
	return 0;
}

/* The mount is up: detach from the terminal and release the waiting parent. */
static void background_ready(int ready_fd)
{
	if (chdir("/") < 0)
		return;
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	if (write(ready_fd, "0", 1) < 0)
		return; /* the parent is gone: nobody to tell */
	close(ready_fd);
}

/* Takes [SOURCE] MOUNTPOINT from the free arguments: SOURCE names the promises folder, as an
 * fstab line's first field does, unless it is a placeholder ("kratixfs", "none"). */
static int take_positionals(struct daemon_conf *c, struct fuse_args *args)
{
	if (c->nnonopt == 0)
		return 0; /* fuse_parse_cmdline reports the missing mount point */
	char *mnt = c->nonopt[c->nnonopt - 1];
	char *src = c->nnonopt == 2 ? c->nonopt[0] : NULL;
	if (src && *src && strcmp(src, "kratixfs") != 0 && strcmp(src, "none") != 0) {
		if (c->promises && strcmp(c->promises, src) != 0) {
			fprintf(stderr,
				"kratixfs: %s: the source and -o promises=%s name different "
				"folders: give one\n",
				src, c->promises);
			return -1;
		}
		if (!c->promises)
			c->promises = kfs_xstrdup(src);
	}
	return fuse_opt_add_arg(args, mnt);
}

/* fsname shows in findmnt and /proc/mounts: the promises folder, as for a disk its device. */
static int add_fsname(struct fuse_args *args, const char *promises)
{
	struct kfs_buf b = {0};
	kfs_buf_printf(&b, "fsname=%s", promises);
	char *opts = NULL;
	int rc = fuse_opt_add_opt_escaped(&opts, b.data);
	kfs_buf_free(&b);
	if (rc == 0) {
		struct kfs_buf o = {0};
		kfs_buf_printf(&o, "-o%s", opts);
		rc = fuse_opt_add_arg(args, o.data);
		kfs_buf_free(&o);
	}
	free(opts);
	return rc;
}

int kfs_daemon_main(int argc, char **argv)
{
	/* SIGHUP is read through a signalfd by the watcher: block it before any thread exists
	 * so that no thread runs libfuse's exit handler for it. */
	sigset_t hup;
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &hup, NULL);

	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct daemon_conf conf = {0};
	struct fuse_cmdline_opts o = {0};
	struct kfs_fs fs = {0};
	struct logger lg = {.max = KFS_LOG_INFO};
	char *state = NULL, *promises = NULL, *scratch = NULL;
	const char *why = "error";
	int rc = 1;

	if (fuse_opt_parse(&args, &conf, kfs_opts, opt_proc) != 0)
		goto out;
	if (conf.help) {
		kfs_daemon_usage(stdout);
		rc = 0;
		goto out;
	}
	if (conf.version) {
		printf("kratixfs %s (libfuse %s)\n", KFS_VERSION, fuse_pkgversion());
		rc = 0;
		goto out;
	}
	if (conf.log_level && parse_level(conf.log_level, &lg.max) != 0) {
		fprintf(stderr,
			"kratixfs: -o log_level=%s: must be one of error, warn, info, debug\n",
			conf.log_level);
		goto out;
	}
	/* Other users must meet the owners and modes of what they touch: the kernel checks them
	 * only with default_permissions, so allow_other implies it. */
	if (conf.others && !conf.permissions && fuse_opt_add_arg(&args, "-odefault_permissions"))
		goto out;
	if (take_positionals(&conf, &args) != 0 || fuse_parse_cmdline(&args, &o) != 0)
		goto out;
	if (!o.mountpoint) {
		fprintf(stderr, "kratixfs: no mount point (try kratixfs --help)\n");
		goto out;
	}
	/* Checked now so that an fstab line written for exec mode (pipelines run as processes) is
	 * right when the render engine runs it; this version refuses exec-mode containers at promise load. */
	size_t exec_timeout;
	if (conf.exec_timeout && parse_size(conf.exec_timeout, &exec_timeout) != 0) {
		fprintf(stderr, "kratixfs: -o exec_timeout=%s: not a positive number of seconds\n",
			conf.exec_timeout);
		goto out;
	}
	fs.max_input = DEFAULT_MAX_INPUT;
	if (conf.max_input && parse_size(conf.max_input, &fs.max_input) != 0) {
		fprintf(stderr, "kratixfs: -o max_input=%s: not a positive number of bytes\n",
			conf.max_input);
		goto out;
	}
	char *state_arg = conf.state ? kfs_xstrdup(conf.state) : default_state_dir();
	/* The state holds every request: a new state folder is the daemon's user's alone. */
	struct kfs_error merr = {0};
	int e = 0;
	if (mkdir(state_arg, 0700) < 0 && errno == ENOENT &&
	    (e = kfs_mkdir_p(state_arg, &merr)) == 0)
		chmod(state_arg, 0700);
	state = e == 0 ? realpath(state_arg, NULL) : NULL;
	if (!state) {
		fprintf(stderr, "kratixfs: -o state=%s: %s\n", state_arg,
			e ? merr.msg : strerror(errno));
		free(state_arg);
		goto out;
	}
	free(state_arg);
	char bundled[PATH_MAX];
	const char *promises_arg = conf.promises ? conf.promises : kfs_bundled_promises(bundled);
	promises = realpath(promises_arg, NULL);
	if (!promises) {
		fprintf(stderr, "kratixfs: -o promises=%s: %s\n", promises_arg, strerror(errno));
		goto out;
	}
	make_absolute(&conf.git);
	/* A remote reached over the network (a URL, host:path) is kept as it is. */
	if (conf.git_push && kfs_url_local_path(conf.git_push) == conf.git_push)
		make_absolute(&conf.git_push);
	make_absolute(&conf.destinations);
	if (inside(state, o.mountpoint) || inside(promises, o.mountpoint) ||
	    (conf.git && inside(conf.git, o.mountpoint))) {
		fprintf(stderr,
			"kratixfs: %s: the state, promises and git folders must be outside "
			"the mount point\n",
			o.mountpoint);
		goto out;
	}
	if (check_not_mounted(o.mountpoint) != 0)
		goto out;
	if (!conf.fsname && add_fsname(&args, promises) != 0)
		goto out;
	struct kfs_buf sb = {0};
	kfs_buf_printf(&sb, "%s/scratch", state);
	scratch = kfs_buf_steal(&sb);
	if (mkdir(scratch, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "kratixfs: %s: %s\n", scratch, strerror(errno));
		goto out;
	}

	/* Daemonized, every event line goes to syslog from the start (recovery renders too); the
	 * errors that stop the mount still reach the terminal on stderr. */
	int ready_fd = -1;
	if (!o.foreground) {
		int e2 = go_background(&ready_fd);
		if (e2 < 0) {
			fprintf(stderr, "kratixfs: cannot go to the background: %s\n",
				strerror(-e2));
			goto out;
		}
		openlog("kratixfs", LOG_PID, LOG_DAEMON);
		lg.syslog = true;
	} else {
		lg.journal = stderr_is_journal();
	}
	logf_(&lg, KFS_LOG_INFO,
	      "start version=%s mountpoint=%s promises=%s state=%s git=%s git_branch=%s "
	      "git_push=%s log_level=%s",
	      KFS_VERSION, o.mountpoint, promises, state, conf.git ? conf.git : "-",
	      conf.git_branch ? conf.git_branch : "main", conf.git_push ? conf.git_push : "-",
	      level_names[lg.max]);

	fs.scratch_dir = scratch;
	fs.uid = getuid();
	fs.gid = getgid();
	fs.shared = conf.others;
	pthread_mutex_init(&fs.wlock, NULL);

	struct kfs_store_options so = {
	    .promises_dir = promises,
	    .state_dir = state,
	    .max_input = fs.max_input,
	    .git_repo = conf.git,
	    .git_branch = conf.git_branch,
	    .git_push = conf.git_push,
	    .destinations = conf.destinations,
	    .log = log_line,
	    .log_ctx = &lg,
	};
	struct kfs_error err = {0};
	/* Its errors reach the terminal: a background child keeps stderr until it is mounted. */
	if (kfs_store_open(&so, &fs.store, &err) != 0) {
		fprintf(stderr, "kratixfs: %s\n", err.msg);
		logf_(&lg, KFS_LOG_ERROR, "start-failed mountpoint=%s error=\"%s\"", o.mountpoint,
		      err.msg);
		goto out_q;
	}
	fs.fuse = fuse_new(&args, kfs_fs_operations(), sizeof(struct fuse_operations), &fs);
	if (!fs.fuse)
		goto out_store;
	if (fuse_mount(fs.fuse, o.mountpoint) != 0)
		goto out_fuse;
	if (ready_fd >= 0) {
		background_ready(ready_fd);
		ready_fd = -1;
	} else if (fuse_daemonize(1) != 0) {
		fuse_unmount(fs.fuse);
		goto out_fuse;
	}
	logf_(&lg, KFS_LOG_INFO, "mounted mountpoint=%s pid=%ld", o.mountpoint, (long)getpid());
	rc = serve(&fs, &o, promises, &lg, &why);
	fuse_unmount(fs.fuse);
out_fuse:
	fuse_destroy(fs.fuse);
out_store:
	kfs_store_close(fs.store);
	logf_(&lg, rc == 0 ? KFS_LOG_INFO : KFS_LOG_ERROR, "stop mountpoint=%s reason=%s",
	      o.mountpoint, why);
out_q:
	pthread_mutex_destroy(&fs.wlock);
	if (lg.syslog)
		closelog();
	if (ready_fd >= 0)
		close(ready_fd); /* the parent reads EOF: not mounted */
out:
	free(o.mountpoint);
	free(state);
	free(promises);
	free(scratch);
	free(conf.promises);
	free(conf.state);
	free(conf.git);
	free(conf.git_branch);
	free(conf.git_push);
	free(conf.destinations);
	free(conf.max_input);
	free(conf.log_level);
	free(conf.exec_timeout);
	for (int i = 0; i < conf.nnonopt; i++)
		free(conf.nonopt[i]);
	fuse_opt_free_args(&args);
	return rc;
}
