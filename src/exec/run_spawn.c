/* Runs a container under bubblewrap: its root read-only, a private /tmp, /kratix/input
 * read-only, /kratix/output and /kratix/metadata writable, no network, new user, PID, IPC and
 * UTS namespaces, no capabilities; a time limit that kills the whole sandbox, and limits on
 * address space and processes (docs/exec.md). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run_internal.h"

/* What the process printed is kept up to this many bytes each (its end: the last lines say
 * why it failed). */
#define KEEP_BYTES (64 * 1024)

void strv_take(struct strv *s, char *text)
{
	if (s->n + 2 > s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = kfs_xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = text;
	s->v[s->n] = NULL;
}

void strv_add(struct strv *s, const char *text)
{
	strv_take(s, kfs_xstrdup(text));
}

void strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static void add_pair(struct strv *a, const char *opt, const char *x, const char *y)
{
	strv_add(a, opt);
	strv_add(a, x);
	if (y)
		strv_add(a, y);
}

static void bwrap_args(const struct runner *r, const struct sandbox *sb, struct strv *a)
{
	char num[32];
	strv_add(a, r->opts.bwrap ? r->opts.bwrap : "bwrap");
	/* --unshare-all: user (try), IPC, PID, network, UTS, cgroup. The user namespace is asked
	 * for outright: it is what makes the process limit count this sandbox alone. */
	static const char *const fixed[] = {"--unshare-all", "--unshare-user", "--die-with-parent",
					    "--new-session", "--cap-drop", "ALL", "--hostname",
					    "kratix-pipeline"};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(*fixed); i++)
		strv_add(a, fixed[i]);
	snprintf(num, sizeof(num), "%u", sb->uid);
	add_pair(a, "--uid", num, NULL);
	snprintf(num, sizeof(num), "%u", sb->gid);
	add_pair(a, "--gid", num, NULL);
	add_pair(a, "--ro-bind", sb->root, "/");
	add_pair(a, "--proc", "/proc", NULL);
	add_pair(a, "--dev", "/dev", NULL);
	/* /tmp: the call's own copy of the image's /tmp (a Dockerfile may COPY files there, as
	 * the marketplace's do), writable, removed after the call. */
	struct kfs_buf tmp = {0};
	kfs_buf_printf(&tmp, "%s/tmp", sb->kratix);
	add_pair(a, "--bind", tmp.data, "/tmp");
	kfs_buf_free(&tmp);
	for (size_t i = 0; i + 1 < sb->binds.n; i += 2)
		add_pair(a, "--ro-bind", sb->binds.v[i], sb->binds.v[i + 1]);
	struct kfs_buf p = {0};
	static const char *const parts[] = {"input", "output", "metadata"};
	for (int i = 0; i < 3; i++) {
		kfs_buf_reset(&p);
		kfs_buf_printf(&p, "%s/%s", sb->kratix, parts[i]);
		char dest[32];
		snprintf(dest, sizeof(dest), "/kratix/%s", parts[i]);
		add_pair(a, i == 0 ? "--ro-bind" : "--bind", p.data, dest);
	}
	kfs_buf_free(&p);
	add_pair(a, "--chdir", sb->workdir ? sb->workdir : "/", NULL);
	strv_add(a, "--");
	for (size_t i = 0; i < sb->argv.n; i++)
		strv_add(a, sb->argv.v[i]);
}

struct child_args {
	int out, errs;
	const struct runner *r;
	char **argv, **envp;
};

/* The child, on its own stack in the parent's memory (CLONE_VM | CLONE_VFORK, as posix_spawn
 * does: no copy of a large daemon's page tables) until it execs bwrap: system calls only, no
 * allocation, nothing written outside its stack. */
static int child(void *arg)
{
	const struct child_args *c = arg;
	/* Without CLONE_SIGHAND the handlers are the child's own copy: reset them, so that no
	 * handler of the daemon runs here before the exec. */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0 || dup2(null, 0) < 0 || dup2(c->out, 1) < 0 || dup2(c->errs, 2) < 0)
		_exit(126);
	/* No descriptor of the daemon (its /dev/fuse, its state folder) reaches the sandbox. */
	if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0)
		for (int fd = 3; fd < 65536; fd++)
			close(fd);
	setpgid(0, 0);
	struct rlimit as = {c->r->opts.memory_limit, c->r->opts.memory_limit};
	struct rlimit np = {c->r->opts.max_procs, c->r->opts.max_procs};
	if (setrlimit(RLIMIT_AS, &as) < 0 || setrlimit(RLIMIT_NPROC, &np) < 0)
		_exit(126);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execvpe(c->argv[0], c->argv, c->envp);
	static const char msg[] = "kratixfs: cannot run bwrap (install bubblewrap)\n";
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(127);
	_exit(127);
}

/* Starts the child with every signal blocked in the daemon's thread meanwhile. */
static pid_t start_child(struct child_args *c)
{
	enum { STACK = 64 * 1024 };
	char *stack = kfs_xmalloc(STACK);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid_t pid = clone(child, stack + STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, c);
	int e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	free(stack);
	errno = e;
	return pid;
}

/* Appends what fd has to b, keeping only its last KEEP_BYTES. Returns false at EOF. */
static bool drain(int fd, struct kfs_buf *b, size_t *cut)
{
	char chunk[8192];
	ssize_t n = read(fd, chunk, sizeof(chunk));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;
	kfs_buf_add(b, chunk, (size_t)n);
	if (b->len > 2 * KEEP_BYTES) {
		size_t drop = b->len - KEEP_BYTES;
		memmove(b->data, b->data + drop, b->len - drop);
		b->len -= drop;
		b->data[b->len] = '\0';
		*cut += drop;
	}
	return true;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads both pipes until the process is gone; kills its process group (and so, bwrap being
 * killed, the whole PID namespace) at the deadline. */
static void watch(pid_t pid, int out, int errs, double timeout, struct spawn_result *res)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	double deadline = now() + timeout;
	bool open_out = true, open_err = true, exited = false;
	while (open_out || open_err || !exited) {
		struct pollfd fds[3] = {{open_out ? out : -1, POLLIN, 0},
					{open_err ? errs : -1, POLLIN, 0},
					{exited ? -1 : pidfd, POLLIN, 0}};
		double left = deadline - now();
		if (left <= 0 && !res->timed_out) {
			res->timed_out = true;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			deadline = now() + 2; /* what is left of the sandbox dies with bwrap */
			continue;
		}
		if (left <= 0)
			break;
		int wait_ms = pidfd < 0 && !exited ? 10 : (int)(left * 1000) + 1;
		int n = poll(fds, 3, wait_ms);
		if (n < 0 && errno != EINTR)
			break;
		if (open_out && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
			open_out = drain(out, &res->out, &res->out_cut);
		if (open_err && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)))
			open_err = drain(errs, &res->errs, &res->errs_cut);
		if (!exited && (pidfd < 0 || (fds[2].revents & POLLIN)))
			exited = waitpid(pid, &res->status, WNOHANG) == pid;
	}
	if (!exited) {
		kill(pid, SIGKILL);
		waitpid(pid, &res->status, 0);
	}
	if (pidfd >= 0)
		close(pidfd);
}

int sandbox_run(const struct runner *r, const struct sandbox *sb, struct spawn_result *res,
		struct kfs_error *err)
{
	memset(res, 0, sizeof(*res));
	struct strv a = {0};
	bwrap_args(r, sb, &a);
	int po[2], pe[2];
	if (pipe2(po, O_CLOEXEC) < 0)
		return kfs_error_set(err, -errno, "exec: pipe: %s", strerror(errno));
	if (pipe2(pe, O_CLOEXEC) < 0) {
		int e = errno;
		close(po[0]), close(po[1]);
		return kfs_error_set(err, -e, "exec: pipe: %s", strerror(e));
	}
	struct child_args ca = {po[1], pe[1], r, a.v, sb->env.v};
	pid_t pid = start_child(&ca);
	int e = errno;
	close(po[1]);
	close(pe[1]);
	int rc = 0;
	if (pid < 0) {
		rc = kfs_error_set(err, -e, "exec: clone: %s", strerror(e));
	} else {
		fcntl(po[0], F_SETFL, O_NONBLOCK);
		fcntl(pe[0], F_SETFL, O_NONBLOCK);
		watch(pid, po[0], pe[0], r->opts.timeout, res);
	}
	close(po[0]);
	close(pe[0]);
	strv_free(&a);
	return rc;
}
