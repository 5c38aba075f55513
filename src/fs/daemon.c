/* The daemon: options, the store, the mount, and two helper threads that serve no request:
 * cache invalidation after a publish, and reloads (SIGHUP, or the promises folder changing). */
#include "fs.h"
#include "usage.h" /* first: it sets FUSE_USE_VERSION */

#include <dirent.h>
#include <errno.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kratixfs/buf.h"

#ifndef KFS_DEFAULT_PROMISES
#define KFS_DEFAULT_PROMISES "/usr/share/kratixfs/promises"
#endif

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
	int help;
	int version;
};

enum { KEY_HELP, KEY_VERSION };

#define KFS_OPT(t, p)                                                                              \
	{                                                                                          \
		t, offsetof(struct daemon_conf, p), 1                                              \
	}
static const struct fuse_opt kfs_opts[] = {
    KFS_OPT("promises=%s", promises),	    KFS_OPT("state=%s", state),
    KFS_OPT("max_input=%s", max_input),	    KFS_OPT("git=%s", git),
    KFS_OPT("git_branch=%s", git_branch),   KFS_OPT("git_push=%s", git_push),
    KFS_OPT("destinations=%s", destinations), FUSE_OPT_KEY("-h", KEY_HELP),
    FUSE_OPT_KEY("--help", KEY_HELP),	    FUSE_OPT_KEY("-V", KEY_VERSION),
    FUSE_OPT_KEY("--version", KEY_VERSION), FUSE_OPT_END,
};

void kfs_daemon_usage(FILE *out)
{
	fputs(KFS_DAEMON_USAGE, out);
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	(void)arg;
	(void)outargs;
	struct daemon_conf *c = data;
	if (key == KEY_HELP) {
		c->help = 1;
		return 0;
	}
	if (key == KEY_VERSION) {
		c->version = 1;
		return 0;
	}
	return 1;
}

static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
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

/* True when dir is the mount point or lies below it: the daemon would then read its own mount
 * and deadlock. */
/* fuse_daemonize moves to "/": a relative -o path must be made absolute first. A remote that
 * is not a local path (a URL) is kept as it is. */
static void make_absolute(char **path)
{
	if (!*path || (*path)[0] == '/' || strstr(*path, "://") || strchr(*path, '@'))
		return;
	char cwd[4096];
	if (!getcwd(cwd, sizeof(cwd)))
		return;
	struct kfs_buf b = {0};
	kfs_buf_printf(&b, "%s/%s", cwd, *path);
	free(*path);
	*path = kfs_buf_steal(&b);
}

static bool inside(const char *dir, const char *mnt)
{
	size_t n = strlen(mnt);
	return strncmp(dir, mnt, n) == 0 && (dir[n] == '\0' || dir[n] == '/' || n == 1);
}

/* The watcher: inotify on every folder of the promises tree, plus SIGHUP through a signalfd. */
struct watcher {
	struct kfs_fs *fs;
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

static void reload(struct kfs_fs *fs, const char *why)
{
	struct kfs_error err = {0};
	int rc = kfs_store_reload(fs->store, &err);
	if (rc < 0)
		fprintf(stderr, "kratixfs: reload (%s): %s\n", why, err.msg);
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
				reload(w->fs, "SIGHUP");
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
			reload(w->fs, w->dir);
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
static int serve(struct kfs_fs *fs, struct fuse_cmdline_opts *o, const char *promises)
{
	struct fuse_session *se = fuse_get_session(fs->fuse);
	/* A shell starts background jobs with SIGINT ignored, and libfuse only handles signals
	 * left at their default: SIGINT must unmount cleanly all the same. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (fuse_set_signal_handlers(se) != 0)
		return 1;
	pthread_t inval, watch;
	struct watcher w = {.fs = fs, .dir = promises};
	sigset_t hup;
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	w.sig = signalfd(-1, &hup, SFD_CLOEXEC | SFD_NONBLOCK);
	w.stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w.ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (w.ino < 0)
		fprintf(stderr, "kratixfs: inotify: %s (templates reload on SIGHUP only)\n",
			strerror(errno));
	else
		add_watches(w.ino, promises, 0);
	pthread_create(&inval, NULL, kfs_fs_inval_thread, fs);
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
		fprintf(stderr, "kratixfs: eventfd: %s\n", strerror(errno));
	pthread_mutex_lock(&fs->qlock);
	fs->stopping = true;
	pthread_cond_broadcast(&fs->qcond);
	pthread_mutex_unlock(&fs->qlock);
	pthread_join(watch, NULL);
	pthread_join(inval, NULL);
	close(w.stop);
	close(w.sig);
	if (w.ino >= 0)
		close(w.ino);
	fuse_remove_signal_handlers(se);
	/* The loop returns the signal that ended it: SIGTERM/SIGINT are a clean stop. */
	return rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP ? 0 : 1;
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
	char *state = NULL, *promises = NULL, *scratch = NULL;
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
	if (fuse_parse_cmdline(&args, &o) != 0)
		goto out;
	if (!o.mountpoint) {
		fprintf(stderr, "kratixfs: no mount point (try kratixfs --help)\n");
		goto out;
	}
	fs.max_input = DEFAULT_MAX_INPUT;
	if (conf.max_input && parse_size(conf.max_input, &fs.max_input) != 0) {
		fprintf(stderr, "kratixfs: -o max_input=%s: not a positive number of bytes\n",
			conf.max_input);
		goto out;
	}
	char *state_arg = conf.state ? kfs_xstrdup(conf.state) : default_state_dir();
	int e = mkdir_p(state_arg);
	state = e == 0 ? realpath(state_arg, NULL) : NULL;
	if (!state) {
		fprintf(stderr, "kratixfs: -o state=%s: %s\n", state_arg, strerror(e ? -e : errno));
		free(state_arg);
		goto out;
	}
	free(state_arg);
	const char *promises_arg = conf.promises ? conf.promises : KFS_DEFAULT_PROMISES;
	promises = realpath(promises_arg, NULL);
	if (!promises) {
		fprintf(stderr, "kratixfs: -o promises=%s: %s\n", promises_arg, strerror(errno));
		goto out;
	}
	make_absolute(&conf.git);
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
	struct kfs_buf sb = {0};
	kfs_buf_printf(&sb, "%s/scratch", state);
	scratch = kfs_buf_steal(&sb);
	if (mkdir(scratch, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "kratixfs: %s: %s\n", scratch, strerror(errno));
		goto out;
	}

	fs.scratch_dir = scratch;
	fs.uid = getuid();
	fs.gid = getgid();
	pthread_mutex_init(&fs.qlock, NULL);
	pthread_mutex_init(&fs.wlock, NULL);
	pthread_cond_init(&fs.qcond, NULL);
	fs.qtail = &fs.qhead;

	struct kfs_store_options so = {
	    .promises_dir = promises,
	    .state_dir = state,
	    .max_input = fs.max_input,
	    .on_publish = kfs_fs_on_publish,
	    .on_publish_ctx = &fs,
	    .git_repo = conf.git,
	    .git_branch = conf.git_branch,
	    .git_push = conf.git_push,
	    .destinations = conf.destinations,
	};
	struct kfs_error err = {0};
	/* The store starts no thread, so it opens before the fork of fuse_daemonize and its
	 * errors reach the terminal. */
	if (kfs_store_open(&so, &fs.store, &err) != 0) {
		fprintf(stderr, "kratixfs: %s\n", err.msg);
		goto out_q;
	}
	fs.fuse = fuse_new(&args, kfs_fs_operations(), sizeof(struct fuse_operations), &fs);
	if (!fs.fuse)
		goto out_store;
	if (fuse_mount(fs.fuse, o.mountpoint) != 0)
		goto out_fuse;
	if (fuse_daemonize(o.foreground) != 0) {
		fuse_unmount(fs.fuse);
		goto out_fuse;
	}
	rc = serve(&fs, &o, promises);
	fuse_unmount(fs.fuse);
out_fuse:
	fuse_destroy(fs.fuse);
out_store:
	pthread_mutex_lock(&fs.qlock);
	fs.stopping = true; /* the store's last publishes need no invalidation */
	pthread_mutex_unlock(&fs.qlock);
	kfs_store_close(fs.store);
out_q:
	while (fs.qhead) {
		struct kfs_inval *q = fs.qhead;
		fs.qhead = q->next;
		free(q->folder);
		free(q);
	}
	pthread_cond_destroy(&fs.qcond);
	pthread_mutex_destroy(&fs.qlock);
	pthread_mutex_destroy(&fs.wlock);
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
	fuse_opt_free_args(&args);
	return rc;
}
