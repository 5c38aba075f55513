/* Shared plumbing of the command-line front ends: messages, file I/O, exit codes. */
#ifndef KRATIXFS_CLI_H
#define KRATIXFS_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "kratixfs/buf.h"
#include "kratixfs/error.h"
#include "kratixfs/promise.h"
#include "kratixfs/exec.h"

/* Exit codes of `kratixfs render` (0 rendered, 1 request rejected, 2 failed), used by every
 * sub-command. */
enum { EXIT_OK = 0, EXIT_REJECTED = 1, EXIT_FAILED = 2 };

/* The default request size limit (-o max_input, --max-input). */
#define KFS_DEFAULT_MAX_INPUT (1024 * 1024)

/* Prints "kratixfs: <what>: <line>" to stderr for every line of text. */
void cli_print_lines(const char *what, const char *text);
/* Prints each line of warnings as "kratixfs: WHAT: Warning: LINE" on stderr, kubectl's word. */
void cli_print_warnings(const char *what, const char *warnings);
/* The same for every line of err's message. */
void cli_report(const char *what, const struct kfs_error *err);
/* Appends msg to out with every path relative to a promise folder (workflows/..., internal/...,
 * promise.yaml, api.yaml, dependencies.yaml) prefixed with dir, the folder as the user named it,
 * so that an editor opens it from the current folder; dir "." or NULL: msg as it is. */
void cli_promise_paths(const char *dir, const char *msg, struct kfs_buf *out);
/* cli_report, with err's promise-relative paths taken from dir (cli_promise_paths). */
void cli_report_in(const char *what, const char *dir, const struct kfs_error *err);
/* Prints "kratixfs: <formatted>" to stderr. */
void cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Maps a core error code to the exit code: rejected input 1, anything else 2. */
int cli_exit_code(int rc);

/* Reads a file of at most max bytes: -EFBIG (naming the limit) when larger. */
int cli_read_limited(const char *path, size_t max, struct kfs_buf *out, struct kfs_error *err);
/* Reads stdin to its end (render -f -): -EFBIG once more than max bytes came. */
int cli_read_stdin(size_t max, struct kfs_buf *out, struct kfs_error *err);
/* Handles -h/--help (printing help) and -V/--version; returns the exit code, or -1 when arg is
 * neither. */
int cli_common_option(const char *arg, const char *help);
/* Reads a --max-input value (a positive number of bytes) into *out; -1 after saying what to
 * write instead. */
int cli_parse_max_input(const char *arg, size_t *out);

struct kfs_promise;
/* Renders DIR/test-input/NAME.yaml with p and writes test-output/NAME/ as `kratixfs test
 * --update` does (the same code, so the golden is what test compares); a render that fails is
 * an error, never written as the golden. */
int cli_write_golden(const struct kfs_promise *p, const char *dir, const char *name,
		     struct kfs_error *err);

/* The workflow from KRATIX_WORKFLOW_TYPE and KRATIX_WORKFLOW_ACTION (their values: NULL or ""
 * when unset; a kind: Promise input then runs the promise workflow). -1 after saying why a value
 * is wrong. */
int cli_parse_workflow(const char *type_env, const char *action_env, const struct kfs_node *in,
		       enum kfs_wtype *type, enum kfs_waction *action);
/* The runner of image and folder containers for one command (src/exec): cache under
 * $XDG_CACHE_HOME/kratixfs (or ~/.cache/kratixfs), images also from $KRATIXFS_IMAGES (paths
 * separated by ':'), time limit $KRATIXFS_EXEC_TIMEOUT seconds (default 60). */
struct kfs_exec *cli_exec_new(void);

int cmd_init(int argc, char **argv);
int cmd_render(int argc, char **argv);
/* kratix_cmd.c: true when render's argv has no -f (the --kratix mode, which that file runs with
 * render's help text), and `kratixfs promise --image`. */
bool cli_render_is_kratix(int argc, char **argv);
int cmd_render_kratix(int argc, char **argv, const char *help);
int cmd_promise(int argc, char **argv);
int cmd_test(int argc, char **argv);
int cmd_validate(int argc, char **argv);

#endif
