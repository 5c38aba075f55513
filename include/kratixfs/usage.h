/* The daemon's usage text and the bundled promises folder: shared by `kratixfs --help` (src/cli)
 * and by the daemon itself, so the two can never disagree. */
#ifndef KRATIXFS_DAEMON_USAGE_H
#define KRATIXFS_DAEMON_USAGE_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The source tree's templates/: the default of a binary run from its build tree. */
#ifndef KFS_DEFAULT_PROMISES
#define KFS_DEFAULT_PROMISES "/usr/share/kratixfs/promises"
#endif
/* <datadir>/kratixfs/promises seen from the folder the binary is installed in. Relative, so that
 * a DESTDIR or relocated install finds its own copy. */
#ifndef KFS_PROMISES_REL
#define KFS_PROMISES_REL "../share/kratixfs/promises"
#endif

/* The folder this binary is in, into dir (PATH_MAX bytes); false when /proc says nothing. */
static inline bool kfs_self_dir(char *dir)
{
	ssize_t n = readlink("/proc/self/exe", dir, PATH_MAX - 1);
	if (n <= 0)
		return false;
	dir[n] = '\0';
	char *slash = strrchr(dir, '/');
	if (!slash)
		return false;
	*slash = '\0';
	return true;
}

/* The installed promises when they exist beside this binary, else the source tree's. Fills buf
 * (PATH_MAX bytes) and returns it, or returns KFS_DEFAULT_PROMISES. */
static inline const char *kfs_bundled_promises(char *buf)
{
	char self[PATH_MAX], path[PATH_MAX + sizeof(KFS_PROMISES_REL) + 2];
	if (!kfs_self_dir(self))
		return KFS_DEFAULT_PROMISES;
	snprintf(path, sizeof(path), "%s/%s", self, KFS_PROMISES_REL);
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode) || !realpath(path, buf))
		return KFS_DEFAULT_PROMISES;
	return buf;
}

/* A printf format: its one %s is the default promises folder. */
#define KFS_DAEMON_USAGE \
	"Usage: kratixfs [-f] [-d] [-s] [-o OPTION[,OPTION...]] [SOURCE] MOUNTPOINT\n" \
	"\n" \
	"Mounts the promises as files: write requests/<name>/object.yaml, read output/.\n" \
	"SOURCE, as mount(8) and /etc/fstab pass it, is the promises folder (-o promises=).\n" \
	"\n" \
	"  -f                   stay in the foreground; log to stderr\n" \
	"  -d                   debug: print every FUSE request (implies -f)\n" \
	"  -s                   single-threaded\n" \
	"  -o promises=DIR      the promises folder, one sub-folder per promise\n" \
	"                       (default %s)\n" \
	"  -o state=DIR         where requests and outputs are kept (default\n" \
	"                       $XDG_STATE_HOME/kratixfs, ~/.local/state/kratixfs,\n" \
	"                       /var/lib/kratixfs for root)\n" \
	"  -o max_input=BYTES   refuse larger object.yaml writes with EFBIG (default 1048576)\n" \
	"  -o git=REPO          commit every render to this bare Git repository (created if\n" \
	"                       missing), laid out as Kratix lays out its state store\n" \
	"  -o git_branch=NAME   the branch to move (default main)\n" \
	"  -o git_push=REMOTE   push each commit in the background to a URL or path\n" \
	"  -o destinations=FILE Kratix Destination documents, with their GitStateStores\n" \
	"                       (default: one destination \"default\" at path default/\n" \
	"                       that takes every work)\n" \
	"  -o exec_timeout=SECS time limit of an image or folder container, run under\n" \
	"                       bwrap (default 60): past it the sandbox is killed\n" \
	"  -o images=PATH       an OCI layout folder or a docker/podman save archive to\n" \
	"                       find images in (repeat it for more); the local container\n" \
	"                       storage (podman, buildah) is always read\n" \
	"  -o log_level=LEVEL   error, warn, info or debug (default info): one line per\n" \
	"                       render, rejection, commit and push, to stderr with -f,\n" \
	"                       else to syslog (the journal) as kratixfs\n" \
	"  -h, --help           this help\n" \
	"  -V, --version        the version\n" \
	"\n" \
	"Standard FUSE mount options (allow_other, ro, fsname=..., ...) pass through to FUSE;\n" \
	"allow_other and allow_root imply default_permissions (owners and modes are checked);\n" \
	"mount(8)'s own (nofail, _netdev, noauto, auto, user, users, nouser, owner, defaults,\n" \
	"x-*, comment=*) are ignored.\n" \
	"SIGHUP re-reads the promises; SIGTERM and SIGINT unmount cleanly.\n" \
	"Exit status: 0 unmounted cleanly, 1 could not mount or failed while mounted.\n"

#endif
