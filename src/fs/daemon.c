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
#include "kratixfs/exec.h"
#include "kratixfs/files.h"
#include "daemon.h"

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
	char **images; /* -o images=PATH, repeatable: OCI layouts and save archives */
	size_t nimages;
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
		if (strncmp(arg, "images=", 7) == 0) {
			c->images = kfs_xrealloc(c->images, (c->nimages + 1) * sizeof(*c->images));
			c->images[c->nimages++] = kfs_xstrdup(arg + 7);
			return 0;
		}
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
		kfs_logf(w->log, KFS_LOG_ERROR, "reload trigger=%s promises=%s error=\"%s\"",
			 trigger, w->dir, err.msg);
	else
		kfs_logf(w->log, KFS_LOG_INFO, "reload trigger=%s promises=%s duration=%lldms",
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
	struct fuse_session *se = fs->se;
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
		kfs_logf(lg, KFS_LOG_WARN, "inotify error=\"%s\" (templates reload on SIGHUP only)",
			 strerror(errno));
	else
		add_watches(w.ino, promises, 0);
	pthread_create(&watch, NULL, watch_thread, &w);

	int rc;
	if (o->singlethread) {
		rc = fuse_session_loop(se);
	} else {
		/* libfuse's "unlimited" default (UINT_MAX) is refused by its own v1 conversion. */
		struct fuse_loop_config lc = {
		    .clone_fd = o->clone_fd,
		    .max_idle_threads = o->max_idle_threads > 1000 ? 10 : o->max_idle_threads};
		rc = fuse_session_loop_mt(se, &lc);
	}
	/* No notification after the loop: the kernel connection is going. */
	kfs_fs_stop(fs);

	uint64_t one = 1;
	if (write(w.stop, &one, sizeof(one)) < 0)
		kfs_logf(lg, KFS_LOG_ERROR, "eventfd error=\"%s\"", strerror(errno));
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
/* Everything one run of the daemon holds. */
struct daemon {
	struct fuse_args args;
	struct daemon_conf conf;
	struct fuse_cmdline_opts o;
	struct kfs_fs fs;
	struct logger lg;
	char *state, *promises, *scratch;
	double exec_timeout;     /* seconds, -o exec_timeout */
	struct kfs_exec *exec;   /* runs image and folder containers (src/exec) */
	const char *why;
	int ready_fd;
};

/* The options: -1 when they are wrong (said on stderr), 1 when done (--help, --version). */
static int parse_args(struct daemon *d)
{
	struct daemon_conf *c = &d->conf;
	if (fuse_opt_parse(&d->args, c, kfs_opts, opt_proc) != 0)
		return -1;
	if (c->help) {
		kfs_daemon_usage(stdout);
		return 1;
	}
	if (c->version) {
		printf("kratixfs %s (libfuse %s)\n", KFS_VERSION, fuse_pkgversion());
		return 1;
	}
	if (c->log_level && kfs_parse_level(c->log_level, &d->lg.max) != 0) {
		fprintf(stderr,
			"kratixfs: -o log_level=%s: must be one of error, warn, info, debug\n",
			c->log_level);
		return -1;
	}
	/* Other users must meet the owners and modes of what they touch: the kernel checks them
	 * only with default_permissions, so allow_other implies it. */
	if (c->others && !c->permissions && fuse_opt_add_arg(&d->args, "-odefault_permissions"))
		return -1;
	if (take_positionals(c, &d->args) != 0 || fuse_parse_cmdline(&d->args, &d->o) != 0)
		return -1;
	if (!d->o.mountpoint) {
		fprintf(stderr, "kratixfs: no mount point (try kratixfs --help)\n");
		return -1;
	}
	char *end = NULL;
	d->exec_timeout = c->exec_timeout ? strtod(c->exec_timeout, &end) : 60;
	if (c->exec_timeout && (end == c->exec_timeout || *end || !(d->exec_timeout > 0))) {
		fprintf(stderr, "kratixfs: -o exec_timeout=%s: not a positive number of seconds\n",
			c->exec_timeout);
		return -1;
	}
	for (size_t i = 0; i < c->nimages; i++) {
		if (access(c->images[i], R_OK) != 0) {
			fprintf(stderr, "kratixfs: -o images=%s: %s (an OCI layout folder or a "
				"docker/podman save archive)\n", c->images[i], strerror(errno));
			return -1;
		}
	}
	d->fs.max_input = DEFAULT_MAX_INPUT;
	if (c->max_input && parse_size(c->max_input, &d->fs.max_input) != 0) {
		fprintf(stderr, "kratixfs: -o max_input=%s: not a positive number of bytes\n",
			c->max_input);
		return -1;
	}
	return 0;
}

/* The state folder, made if missing (the daemon's user's alone) and absolute. */
static int state_folder(struct daemon *d)
{
	char *arg = d->conf.state ? kfs_xstrdup(d->conf.state) : default_state_dir();
	struct kfs_error merr = {0};
	int e = 0;
	if (mkdir(arg, 0700) < 0 && errno == ENOENT && (e = kfs_mkdir_p(arg, &merr)) == 0)
		chmod(arg, 0700);
	d->state = e == 0 ? realpath(arg, NULL) : NULL;
	if (!d->state)
		fprintf(stderr, "kratixfs: -o state=%s: %s\n", arg, e ? merr.msg : strerror(errno));
	free(arg);
	return d->state ? 0 : -1;
}

/* The folders the daemon uses, absolute, outside the mount point; -1 (said why) if not. */
static int resolve_folders(struct daemon *d)
{
	struct daemon_conf *c = &d->conf;
	const char *mnt = d->o.mountpoint;
	if (state_folder(d) != 0)
		return -1;
	char bundled[PATH_MAX];
	const char *promises_arg = c->promises ? c->promises : kfs_bundled_promises(bundled);
	d->promises = realpath(promises_arg, NULL);
	if (!d->promises) {
		fprintf(stderr, "kratixfs: -o promises=%s: %s\n", promises_arg, strerror(errno));
		return -1;
	}
	make_absolute(&c->git);
	/* A remote reached over the network (a URL, host:path) is kept as it is. */
	if (c->git_push && kfs_url_local_path(c->git_push) == c->git_push)
		make_absolute(&c->git_push);
	make_absolute(&c->destinations);
	if (kfs_inside(d->state, mnt) || kfs_inside(d->promises, mnt) ||
	    (c->git && kfs_inside(c->git, mnt))) {
		fprintf(stderr,
			"kratixfs: %s: the state, promises and git folders must be outside "
			"the mount point\n",
			mnt);
		return -1;
	}
	if (kfs_check_not_mounted(mnt) != 0)
		return -1;
	if (!c->fsname && add_fsname(&d->args, d->promises) != 0)
		return -1;
	struct kfs_buf sb = {0};
	kfs_buf_printf(&sb, "%s/scratch", d->state);
	d->scratch = kfs_buf_steal(&sb);
	if (mkdir(d->scratch, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "kratixfs: %s: %s\n", d->scratch, strerror(errno));
		return -1;
	}
	return 0;
}

/* Daemonized, every event line goes to syslog from the start (recovery renders too); the errors
 * that stop the mount still reach the terminal on stderr. */
static int start_logging(struct daemon *d)
{
	if (!d->o.foreground) {
		int e = go_background(&d->ready_fd);
		if (e < 0) {
			fprintf(stderr, "kratixfs: cannot go to the background: %s\n",
				strerror(-e));
			return -1;
		}
		openlog("kratixfs", LOG_PID, LOG_DAEMON);
		d->lg.syslog = true;
	} else {
		d->lg.journal = kfs_stderr_is_journal();
	}
	const struct daemon_conf *c = &d->conf;
	kfs_logf(&d->lg, KFS_LOG_INFO,
		 "start version=%s mountpoint=%s promises=%s state=%s git=%s git_branch=%s "
		 "git_push=%s log_level=%s",
		 KFS_VERSION, d->o.mountpoint, d->promises, d->state, c->git ? c->git : "-",
		 c->git_branch ? c->git_branch : "main", c->git_push ? c->git_push : "-",
		 kfs_level_names[d->lg.max]);
	return 0;
}

/* The store, opened before the mount: its errors reach the terminal (a background child keeps
 * stderr until it is mounted). */
static int open_store(struct daemon *d)
{
	struct kfs_fs *fs = &d->fs;
	const struct daemon_conf *c = &d->conf;
	/* Images are unpacked, and containers' roots and /kratix folders made, under the state
	 * folder's cache/ (docs/exec.md). */
	char *cache = kfs_path_join(d->state, "cache");
	struct kfs_exec_opts eo = {
	    .images = {.cache_dir = cache,
		       .archives = (const char *const *)c->images,
		       .narchives = c->nimages,
		       .use_storage = true},
	    .timeout = d->exec_timeout,
	};
	d->exec = kfs_exec_new(&eo);
	free(cache);
	struct kfs_store_options so = {
	    .promises_dir = d->promises,
	    .state_dir = d->state,
	    .max_input = fs->max_input,
	    .git_repo = c->git,
	    .git_branch = c->git_branch,
	    .git_push = c->git_push,
	    .destinations = c->destinations,
	    .log = kfs_log_line,
	    .log_ctx = &d->lg,
	    .on_publish = kfs_fs_on_publish,
	    .on_publish_ctx = fs,
	    .exec = d->exec,
	};
	struct kfs_error err = {0};
	if (kfs_store_open(&so, &fs->store, &err) == 0)
		return 0;
	fprintf(stderr, "kratixfs: %s\n", err.msg);
	kfs_logf(&d->lg, KFS_LOG_ERROR, "start-failed mountpoint=%s error=\"%s\"", d->o.mountpoint,
		 err.msg);
	return -1;
}

/* Mounts, serves and unmounts: the exit code. */
static int mount_and_serve(struct daemon *d)
{
	struct kfs_fs *fs = &d->fs;
	int rc = 1;
	fs->se =
	    fuse_session_new(&d->args, kfs_fs_operations(), sizeof(struct fuse_lowlevel_ops), fs);
	if (!fs->se)
		return 1;
	if (kfs_fs_start(fs) != 0 || fuse_session_mount(fs->se, d->o.mountpoint) != 0)
		goto out;
	if (d->ready_fd >= 0) {
		background_ready(d->ready_fd);
		d->ready_fd = -1;
	} else if (fuse_daemonize(1) != 0) {
		kfs_fs_stop(fs);
		fuse_session_unmount(fs->se);
		goto out;
	}
	kfs_logf(&d->lg, KFS_LOG_INFO, "mounted mountpoint=%s pid=%ld", d->o.mountpoint,
		 (long)getpid());
	rc = serve(fs, &d->o, d->promises, &d->lg, &d->why);
	fuse_session_unmount(fs->se);
out:
	kfs_fs_stop(fs);
	fuse_session_destroy(fs->se);
	return rc;
}

static int run(struct daemon *d)
{
	struct kfs_fs *fs = &d->fs;
	if (start_logging(d) != 0)
		return 1;
	fs->scratch_dir = d->scratch;
	fs->uid = getuid();
	fs->gid = getgid();
	fs->shared = d->conf.others;
	fs->single = d->o.singlethread;
	fs->log = kfs_log_line;
	fs->log_ctx = &d->lg;
	pthread_mutex_init(&fs->wlock, NULL);
	int rc = 1;
	if (open_store(d) == 0) {
		rc = mount_and_serve(d);
		kfs_store_close(fs->store);
		kfs_fs_free(fs);
		kfs_logf(&d->lg, rc == 0 ? KFS_LOG_INFO : KFS_LOG_ERROR,
			 "stop mountpoint=%s reason=%s", d->o.mountpoint, d->why);
	}
	pthread_mutex_destroy(&fs->wlock);
	if (d->lg.syslog)
		closelog();
	return rc;
}

static void daemon_free(struct daemon *d)
{
	struct daemon_conf *c = &d->conf;
	if (d->ready_fd >= 0)
		close(d->ready_fd); /* the parent reads EOF: not mounted */
	free(d->o.mountpoint);
	free(d->state);
	free(d->promises);
	free(d->scratch);
	char *opts[] = {c->promises,	 c->state,     c->git,	     c->git_branch,  c->git_push,
			c->destinations, c->max_input, c->log_level, c->exec_timeout};
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		free(opts[i]);
	for (int i = 0; i < c->nnonopt; i++)
		free(c->nonopt[i]);
	for (size_t i = 0; i < c->nimages; i++)
		free(c->images[i]);
	free(c->images);
	kfs_exec_free(d->exec);
	fuse_opt_free_args(&d->args);
}

int kfs_daemon_main(int argc, char **argv)
{
	/* SIGHUP is read through a signalfd by the watcher: block it before any thread exists
	 * so that no thread runs libfuse's exit handler for it. */
	sigset_t hup;
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &hup, NULL);

	struct daemon d = {.args = FUSE_ARGS_INIT(argc, argv),
			   .lg = {.max = KFS_LOG_INFO},
			   .why = "error",
			   .ready_fd = -1};
	int rc = parse_args(&d);
	if (rc == 0)
		rc = resolve_folders(&d) == 0 ? run(&d) : 1;
	else
		rc = rc > 0 ? 0 : 1;
	daemon_free(&d);
	return rc;
}
