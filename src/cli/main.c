/* kratixfs: the daemon (a FUSE mount) and its sub-commands, which share one engine. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "../fs/usage.h"

static const char usage[] =
	"Usage: kratixfs [-f] [-d] [-s] [-o OPTIONS] [SOURCE] MOUNTPOINT   (the daemon)\n"
	"       kratixfs COMMAND [ARGS]\n"
	"\n"
	"Kratix Promises as files: write a resource request, read the rendered manifests.\n"
	"\n"
	"Commands:\n"
	"  render [--promises DIR] [--kratix DIR]   one render of DIR/input/object.yaml into\n"
	"                                           DIR/output and DIR/metadata (a pipeline image)\n"
	"  test [--update] PROMISE_DIR              render every test-input/ case and diff it\n"
	"                                           against test-output/\n"
	"  validate PROMISE_YAML REQUEST_YAML...    check requests against the promise's CRD and\n"
	"                                           print them defaulted and pruned\n"
	"\n"
	"Each command has --help. Options of every command: -h/--help, -V/--version.\n"
	"See kratixfs(8) and mount.kratixfs(8).\n"
	"\n";

/* Runs the daemon binary: beside this one in a build tree, else in <libexecdir>/kratixfs seen
 * from this binary (a DESTDIR or relocated install), else where it was meant to be installed. */
static int exec_daemon(char **argv)
{
	char self[PATH_MAX], path[PATH_MAX + sizeof(KFS_DAEMON_REL) + 32];
	if (kfs_self_dir(self)) {
		snprintf(path, sizeof(path), "%s/kratixfs-daemon", self);
		if (access(path, X_OK) == 0)
			execv(path, argv);
		snprintf(path, sizeof(path), "%s/%s/kratixfs-daemon", self, KFS_DAEMON_REL);
		if (access(path, X_OK) == 0)
			execv(path, argv);
	}
	snprintf(path, sizeof(path), "%s/kratixfs-daemon", KFS_DAEMON_DIR);
	execv(path, argv);
	cli_errorf("%s: %s (the daemon is not installed)", path, strerror(errno));
	return EXIT_FAILED;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return EXIT_FAILED;
	}
	const char *cmd = argv[1];
	char bundled[PATH_MAX];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
		fputs(usage, stdout);
		printf(KFS_DAEMON_USAGE, kfs_bundled_promises(bundled));
		return EXIT_OK;
	}
	if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
		printf("kratixfs %s\n", KFS_VERSION);
		return EXIT_OK;
	}
	if (strcmp(cmd, "render") == 0)
		return cmd_render(argc - 1, argv + 1);
	if (strcmp(cmd, "test") == 0)
		return cmd_test(argc - 1, argv + 1);
	if (strcmp(cmd, "validate") == 0)
		return cmd_validate(argc - 1, argv + 1);
	/* Anything else is the daemon's command line: options and a mount point. */
	return exec_daemon(argv);
}
