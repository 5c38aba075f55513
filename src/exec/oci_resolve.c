/* Opening a folder of an image's root as the container would see it: symbolic links followed
 * with the root as "/", ".." stopping at the root. openat2(RESOLVE_IN_ROOT) does it in the kernel
 * (Linux 5.6); where it is missing (an older kernel, or valgrind, which does not know the call)
 * the same walk is done here, one component at a time, each opened with O_NOFOLLOW from the one
 * before, so a link swapped in meanwhile makes the open fail instead of leading out. */
#include "image_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_LINKS 40

/* Pushes the components of path in front of the ones still to walk (todo, '/'-joined). */
static void push_front(struct kfs_buf *todo, const char *path, size_t len)
{
	struct kfs_buf b = {0};
	kfs_buf_add(&b, path, len);
	kfs_buf_addc(&b, '/');
	kfs_buf_add(&b, todo->data ? todo->data : "", todo->len);
	kfs_buf_free(todo);
	*todo = b;
}

/* The folders reached so far, as open fds: the root first, never a link among them. */
struct stack {
	int *fd;
	size_t n;
};

static void push(struct stack *s, int fd)
{
	s->fd = kfs_xrealloc(s->fd, (s->n + 1) * sizeof(int));
	s->fd[s->n++] = fd;
}

static void pop_to(struct stack *s, size_t n)
{
	while (s->n > n)
		close(s->fd[--s->n]);
}

/* Follows the link name in the top folder: its target's components go before the rest. */
static int follow(struct stack *s, const char *name, struct kfs_buf *todo, size_t *at)
{
	char target[PATH_MAX];
	ssize_t tl = readlinkat(s->fd[s->n - 1], name, target, sizeof(target) - 1);
	if (tl < 0)
		return -1;
	if (target[0] == '/') /* absolute: from the root */
		pop_to(s, 1);
	struct kfs_buf rest = {0};
	kfs_buf_add(&rest, todo->data + *at, todo->len - *at);
	kfs_buf_free(todo);
	*todo = rest;
	push_front(todo, target, (size_t)tl);
	*at = 0;
	return 0;
}

/* One step of the walk: the component name. -1 with errno on failure. */
static int step(struct stack *s, const char *name, struct kfs_buf *todo, size_t *at, int *links)
{
	int top = s->fd[s->n - 1];
	struct stat st;
	if (fstatat(top, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	if (S_ISLNK(st.st_mode)) {
		if (++*links > MAX_LINKS) {
			errno = ELOOP;
			return -1;
		}
		return follow(s, name, todo, at);
	}
	int fd = openat(top, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	push(s, fd);
	return 0;
}

static int walk(int rootfd, const char *rel)
{
	struct stack s = {0};
	int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	push(&s, fd);
	struct kfs_buf todo = {0};
	kfs_buf_adds(&todo, rel);
	size_t at = 0;
	int links = 0, rc = 0;
	while (rc == 0 && at < todo.len) {
		const char *c = todo.data + at;
		size_t n = strcspn(c, "/");
		at += n + (c[n] == '/');
		if (n == 0 || (n == 1 && c[0] == '.'))
			continue;
		if (n == 2 && c[0] == '.' && c[1] == '.') {
			pop_to(&s, s.n > 1 ? s.n - 1 : 1);
			continue;
		}
		char *name = kfs_xstrndup(c, n);
		rc = step(&s, name, &todo, &at, &links);
		free(name);
	}
	int e = errno;
	fd = -1;
	if (rc == 0)
		fd = s.fd[--s.n];
	pop_to(&s, 0);
	free(s.fd);
	kfs_buf_free(&todo);
	errno = e;
	return fd;
}

int img_open_in_root_walk(int rootfd, const char *rel)
{
	return walk(rootfd, rel);
}

int img_open_in_root(int rootfd, const char *rel)
{
	if (!*rel)
		return fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd;
	do
		fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN);
	if (fd < 0 && errno == ENOSYS)
		return walk(rootfd, rel);
	return fd;
}
