/* kratixfs: the daemon (a FUSE mount) and its sub-commands, which share one engine. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "kratixfs/usage.h"

static const char usage[] =
	"Usage: kratixfs [-f] [-d] [-s] [-o OPTIONS] [SOURCE] MOUNTPOINT   (the daemon)\n"
	"       kratixfs COMMAND [ARGS]\n"
	"\n"
	"Kratix Promises as files: write a resource request, read the rendered manifests.\n"
	"\n"
	"Commands:\n"
	"  init promise NAME --group G --kind K [--version V] [--dir DIR]\n"
	"                                           write a new promise folder (default ./NAME)\n"
	"                                           whose one test case passes\n"
	"  render -f REQUEST_YAML [--promises DIR]  render one request (- for stdin) and print\n"
	"                                           the outputs as a YAML stream, as helm template\n"
	"  render [--promises DIR] [--kratix DIR]   one render of DIR/input/object.yaml into\n"
	"                                           DIR/output and DIR/metadata (a pipeline image)\n"
	"  promise --image IMAGE PROMISE_DIR        print the promise.yaml whose template\n"
	"                                           containers run that image (make image)\n"
	"  test [--update] [--run PATTERN] [--junit FILE] [--output json] PROMISE_DIR...\n"
	"                                           render every test-input/ case and diff it\n"
	"                                           against test-output/\n"
	"  validate PROMISE_YAML REQUEST_YAML...    check requests against the promise's CRD (a\n"
	"                                           promise.yaml, api.yaml or promise folder) and\n"
	"                                           print them defaulted and pruned\n"
	"\n"
	"Each command has --help. Options of every command: -h/--help, -V/--version.\n"
	"Exit status of the commands: 0 ok, 1 input rejected (or a test case failed), 2 usage\n"
	"error or promise error. An unknown command is a usage error, never a mount point: to\n"
	"mount on a folder named like a command, write ./NAME.\n"
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

/* typos: the edit distance up to which a word is taken for a typo of the command. 1 for init:
 * "mnt", the usual mount point, is two edits from it and must still mount. 0 for promise:
 * "promises", the usual promises folder (the SOURCE of `kratixfs promises MOUNTPOINT`), is one
 * edit from it and must still mount. */
static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	size_t typos;
} commands[] = {
	{"init", cmd_init, 1},
	{"promise", cmd_promise, 0},
	{"render", cmd_render, 2},
	{"test", cmd_test, 2},
	{"validate", cmd_validate, 2},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* Decides whether argv[1], neither an option nor a command, goes to the daemon as its SOURCE
 * or MOUNTPOINT. A typo of a command must not mount (`kratixfs rendr` used to mount on ./rendr
 * when that folder existed, and fail with a FUSE message when not), so a bare word is handed
 * over only when it is an existing folder that is not a near miss of a command, or the SOURCE
 * placeholder of mount(8) ("kratixfs", "none") followed by a mount point. A word with a slash
 * is always a path: ./render mounts on a folder named render. Returns 0 to hand over, or the
 * exit code after saying why not. */
static int check_mount_argument(int argc, char **argv)
{
	const char *arg = argv[1];
	if (arg[0] == '-' || strchr(arg, '/'))
		return 0;
	if (argc > 2 && (strcmp(arg, "kratixfs") == 0 || strcmp(arg, "none") == 0))
		return 0;
	const char *near = NULL;
	size_t best = 3;
	for (size_t i = 0; i < NCOMMANDS; i++) {
		size_t d = kfs_edit_distance(arg, strlen(arg), commands[i].name,
					     strlen(commands[i].name));
		if (d <= commands[i].typos && d < best) {
			best = d;
			near = commands[i].name;
		}
	}
	struct stat st;
	bool dir = stat(arg, &st) == 0 && S_ISDIR(st.st_mode);
	if (dir && !near)
		return 0;
	if (near)
		cli_errorf("unknown command \"%s\"; did you mean \"%s\"?", arg, near);
	else
		cli_errorf("unknown command \"%s\" (commands: init, promise, render, test, validate; a "
			   "mount point must be an existing folder)",
			   arg);
	if (dir)
		cli_errorf("to mount on the folder %s, write ./%s", arg, arg);
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
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(cmd, commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	/* Anything else is the daemon's command line: options and a mount point. */
	int rc = check_mount_argument(argc, argv);
	return rc ? rc : exec_daemon(argv);
}
