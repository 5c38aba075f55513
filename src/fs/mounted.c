/* Checks of the mount point: not one of the daemon's own folders, and no kratixfs mounted there. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

/* True when dir is the mount point or lies below it: the daemon would then read its own mount
 * and deadlock. */
bool kfs_inside(const char *dir, const char *mnt)
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
int kfs_check_not_mounted(const char *mnt)
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
