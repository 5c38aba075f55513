/* The daemon's usage text: printed by `kratixfs --help` (src/cli) and by the daemon itself, so
 * the two can never disagree. */
#ifndef KRATIXFS_DAEMON_USAGE_H
#define KRATIXFS_DAEMON_USAGE_H

#define KFS_DAEMON_USAGE \
	"Usage: kratixfs [-f] [-d] [-s] [-o OPTION[,OPTION...]] MOUNTPOINT\n" \
	"\n" \
	"Mounts the promises as files: write requests/<name>/object.yaml, read output/.\n" \
	"\n" \
	"  -f                   stay in the foreground\n" \
	"  -d                   debug: print every FUSE request (implies -f)\n" \
	"  -s                   single-threaded\n" \
	"  -o promises=DIR      the promises folder, one sub-folder per promise\n" \
	"                       (default " KFS_DEFAULT_PROMISES ")\n" \
	"  -o state=DIR         where requests and outputs are kept (default\n" \
	"                       $XDG_STATE_HOME/kratixfs, ~/.local/state/kratixfs,\n" \
	"                       /var/lib/kratixfs for root)\n" \
	"  -o max_input=BYTES   refuse larger object.yaml writes with EFBIG (default 1048576)\n" \
	"  -o git=REPO          commit every render to this bare Git repository (created if\n" \
	"                       missing), laid out as Kratix lays out its state store\n" \
	"  -o git_branch=NAME   the branch to move (default main)\n" \
	"  -o git_push=REMOTE   push each commit in the background to a URL or path\n" \
	"  -o destinations=FILE Kratix Destination documents (default: one destination\n" \
	"                       \"default\" at path default/ that takes every work)\n" \
	"  -h, --help           this help\n" \
	"  -V, --version        the version\n" \
	"\n" \
	"Standard FUSE mount options (allow_other, ro, fsname=..., ...) pass through to FUSE.\n" \
	"SIGHUP reloads the promises; SIGTERM and SIGINT unmount cleanly.\n"

#endif
