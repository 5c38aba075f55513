/* `kratixfs render`: one render of /kratix/input/object.yaml, for a pipeline image where FUSE
 * is not allowed. Honours the KRATIX_* variables a Kratix pipeline pod gets. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/usage.h"
#include "cli.h"
#include "kratixfs/doc.h"
#include "kratixfs/files.h"
#include "kratixfs/promise.h"
#include "kratixfs/render.h"
#include "kratixfs/status.h"

static const char help[] =
	"Usage: kratixfs render -f REQUEST_YAML [--promises DIR] [--max-input BYTES]\n"
	"       kratixfs render [--kratix DIR] [--promises DIR | --promise DIR]\n"
	"                       [--container NAME] [--max-input BYTES]\n"
	"\n"
	"With -f, renders one request (a file, or - for stdin) and prints every output file to\n"
	"stdout as one YAML stream, as helm template does: each document starts with --- and a\n"
	"\"# Source: PIPELINE/PATH\" line. Each pipeline makes its own Work, so a path two\n"
	"pipelines write is printed twice, in workflow order. Nothing is written to disk.\n"
	"Without -f, renders DIR/input/object.yaml (a resource request, or a Promise for the\n"
	"promise workflow; the whole object, its status included, as Kratix's reader writes it)\n"
	"and adds the files to DIR/output/ (a path two pipelines write: the later one's file) and\n"
	"DIR/metadata/{status.yaml,destination-selectors.yaml,workflow-control.yaml}, on top of\n"
	"what earlier containers left there, as a Kratix pipeline container does (the entrypoint\n"
	"of `make image`).\n"
	"\n"
	"  -f, --file FILE    the request to render, - for stdin (not with --kratix)\n"
	"  --promises DIR     the promises folder, one sub-folder per promise (default: the\n"
	"                     bundled promises, or $KRATIXFS_PROMISES)\n"
	"  --promise DIR      one promise folder instead (without -f)\n"
	"  --kratix DIR       the Kratix volume (default /kratix)\n"
	"  --container NAME   render only this container of the pipeline, as one container of\n"
	"                     a Kratix pod (without -f; `kratixfs promise` sets it)\n"
	"  --max-input BYTES  refuse larger inputs (default 1048576)\n"
	"\n"
	"Environment, as Kratix sets it in a pipeline pod:\n"
	"  KRATIX_WORKFLOW_TYPE    promise | resource (default: promise for a kind: Promise input)\n"
	"  KRATIX_WORKFLOW_ACTION  configure | delete (default configure)\n"
	"  KRATIX_PROMISE_NAME     the promise to use (default: the one serving the input's kind)\n"
	"  KRATIX_PIPELINE_NAME    run only this pipeline (default: all, in order)\n"
	"\n"
	"Exit status: 0 rendered, 1 input rejected (unreadable, not YAML, no promise serves its\n"
	"kind, invalid against the CRD), 2 usage error or promise error (a promise folder that\n"
	"does not load, a template that fails, a container or pipeline not in the promise).\n";

int cli_parse_workflow(const char *type_env, const char *action_env, const struct kfs_node *in,
		       enum kfs_wtype *type, enum kfs_waction *action)
{
	const char *kind = kfs_node_text_at(in, "kind");
	if (!type_env || !*type_env)
		*type = kind && strcmp(kind, "Promise") == 0 ? KFS_WF_PROMISE : KFS_WF_RESOURCE;
	else if (strcmp(type_env, "promise") == 0)
		*type = KFS_WF_PROMISE;
	else if (strcmp(type_env, "resource") == 0)
		*type = KFS_WF_RESOURCE;
	else {
		cli_errorf("KRATIX_WORKFLOW_TYPE: \"%s\" is not promise or resource", type_env);
		return -1;
	}
	if (!action_env || !*action_env || strcmp(action_env, "configure") == 0)
		*action = KFS_WF_CONFIGURE;
	else if (strcmp(action_env, "delete") == 0)
		*action = KFS_WF_DELETE;
	else {
		cli_errorf("KRATIX_WORKFLOW_ACTION: \"%s\" is not configure or delete", action_env);
		return -1;
	}
	return 0;
}

static const struct kfs_promise *choose_promise(const struct kfs_promise_set *set,
						 const struct kfs_node *in, enum kfs_wtype type,
						 struct kfs_error *err)
{
	const char *wanted = getenv("KRATIX_PROMISE_NAME");
	if (!wanted || !*wanted)
		wanted = type == KFS_WF_PROMISE ? kfs_node_text_at(in, "metadata.name") : NULL;
	if (!wanted)
		return kfs_promise_set_match(set, in, err);
	const struct kfs_promise *p = kfs_promise_set_find(set, wanted);
	if (!p)
		kfs_error_set(err, -EINVAL, "no promise named %s in the promises folder", wanted);
	return p;
}

/* Prints the outputs as `helm template` does, so that the stream can be piped to kubectl or
 * diffed against Helm's: "---", a "# Source:" line naming where the file came from, the file. */
static void print_stream(const struct kfs_render_result *r)
{
	struct kfs_buf out = {0};
	for (size_t i = 0; i < r->noutputs; i++) {
		const struct kfs_output *o = &r->outputs[i];
		const char *data = o->data;
		size_t len = o->len;
		/* A file's own leading "---" would make the comment above it a document of its
		 * own, an empty one. */
		if (len >= 4 && memcmp(data, "---\n", 4) == 0) {
			data += 4;
			len -= 4;
		}
		kfs_buf_printf(&out, "---\n# Source: %s/%s\n", o->pipeline ? o->pipeline : "-",
			       o->path);
		kfs_buf_add(&out, data, len);
		if (len && data[len - 1] != '\n')
			kfs_buf_addc(&out, '\n');
	}
	fwrite(out.data ? out.data : "", 1, out.len, stdout);
	kfs_buf_free(&out);
}

/* The command line of `kratixfs render`. */
struct render_args {
	const char *promises; /* the promises folder */
	const char *kratix;   /* the Kratix volume, when not -f */
	const char *file;     /* -f: the request, "-" for stdin */
	size_t max_input;
	char bundled[PATH_MAX];
};

/* Fills a from argv; returns -1 to go on, or the exit status (--help, --version, an error). */
static int parse_args(int argc, char **argv, struct render_args *a)
{
	static const struct option opts[] = {
		{"file", required_argument, NULL, 'f'},
		{"promises", required_argument, NULL, 'p'},
		{"kratix", required_argument, NULL, 'k'},
		{"max-input", required_argument, NULL, 'm'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	a->promises = getenv("KRATIXFS_PROMISES");
	a->max_input = KFS_DEFAULT_MAX_INPUT;
	if (!a->promises || !*a->promises)
		a->promises = kfs_bundled_promises(a->bundled);
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			a->file = optarg;
			break;
		case 'p':
			a->promises = optarg;
			break;
		case 'k':
			a->kratix = optarg;
			break;
		case 'm':
			if (cli_parse_max_input(optarg, &a->max_input) < 0)
				return EXIT_FAILED;
			break;
		case 'h':
			return cli_common_option("--help", help);
		case 'V':
			return cli_common_option("--version", help);
		default:
			fputs(help, stderr);
			return EXIT_FAILED;
		}
	}
	if (optind != argc) {
		cli_errorf("render: unexpected argument %s (try kratixfs render --help)", argv[optind]);
		return EXIT_FAILED;
	}
	if (a->file && a->kratix) {
		cli_errorf("render: -f prints to stdout, --kratix writes DIR/output: give one of them");
		return EXIT_FAILED;
	}
	return -1;
}

/* Reads and parses the request (-f FILE, stdin for -f -) into
 * input and *doc; path names it in messages. Returns 0, or reports and returns -1. */
static int read_request(const struct render_args *a, struct kfs_buf *input, struct kfs_buf *path,
			struct kfs_node **doc)
{
	struct kfs_error err = {0};
	int rc;
	if (a->file && strcmp(a->file, "-") == 0) {
		kfs_buf_adds(path, "stdin");
		rc = cli_read_stdin(a->max_input, input, &err);
	} else {
		kfs_buf_adds(path, a->file);
		rc = cli_read_limited(path->data, a->max_input, input, &err);
	}
	if (rc == 0)
		rc = kfs_doc_parse(input->data, input->len, path->data, doc, &err);
	if (rc < 0)
		cli_report("render", &err);
	return rc < 0 ? -1 : 0;
}

/* Renders the request in (its doc taken over) with the promise that serves it, and prints or
 * writes the result. Returns the exit status. */
static int render_request(const struct render_args *a, struct kfs_render_input *in,
			  const char *path, struct kfs_node *doc)
{
	struct kfs_error err = {0};
	struct kfs_promise_set set = {0};
	struct kfs_render_result result = {0};
	struct kfs_node *status_node = NULL;
	int status = EXIT_FAILED;
	if (cli_parse_workflow(getenv("KRATIX_WORKFLOW_TYPE"), getenv("KRATIX_WORKFLOW_ACTION"), doc,
			       &in->type, &in->action) < 0)
		goto out;
	/* A broken promise must not stop the others, but is never silent. */
	int rc = kfs_promise_set_load(a->promises, &set, &err);
	if (err.code) {
		cli_report(rc < 0 ? "render" : "warning", &err);
		kfs_error_clear(&err);
	}
	if (set.n == 0) {
		cli_errorf("%s: no promise could be loaded", a->promises);
		goto out;
	}
	in->promise = choose_promise(&set, doc, in->type, &err);
	if (!in->promise) {
		cli_report(path, &err);
		status = EXIT_REJECTED;
		goto out;
	}
	if (in->promise->warnings.len)
		cli_print_lines(in->promise->dir, in->promise->warnings.data);
	/* Kratix's reader writes the whole object, its status included: on the Kratix volume
	 * that is the object's status. A -f request is what a person wrote: its status is not
	 * the object's (render drops it with a warning). */
	if (!a->file && doc->type == KFS_MAP)
		status_node = kfs_map_take(doc, "status");
	in->status = status_node;
	in->doc = doc;
	doc = NULL; /* kfs_render takes it over */
	rc = kfs_render(in, &result, &err);
	cli_print_warnings(path, result.warnings.data);
	if (rc < 0) {
		cli_report_in(path, in->promise->dir, &err);
		status = cli_exit_code(rc);
		goto out;
	}
	print_stream(&result);
	status = EXIT_OK;
out:
	kfs_render_result_free(&result);
	kfs_node_free(doc);
	kfs_node_free(status_node);
	kfs_promise_set_free(&set);
	return status;
}

int cmd_render(int argc, char **argv)
{
	if (cli_render_is_kratix(argc, argv))
		return cmd_render_kratix(argc, argv, help); /* kratix_cmd.c */
	struct render_args a = {0};
	int status = parse_args(argc, argv, &a);
	if (status >= 0)
		return status;
	struct kfs_buf input = {0}, path = {0};
	struct kfs_node *doc = NULL;
	if (read_request(&a, &input, &path, &doc) < 0) {
		status = EXIT_REJECTED;
	} else {
		struct kfs_render_input in = {
			.pipeline = getenv("KRATIX_PIPELINE_NAME"),
			.data = input.data,
			.len = input.len,
			.exec = cli_exec_new(),
		};
		if (in.pipeline && !*in.pipeline)
			in.pipeline = NULL;
		status = render_request(&a, &in, path.data, doc);
		kfs_exec_free((struct kfs_exec *)in.exec);
	}
	kfs_buf_free(&input);
	kfs_buf_free(&path);
	return status;
}
