/* `kratixfs validate`: requests checked against a promise's CRD as the API server would, and
 * printed defaulted and pruned. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kratixfs/doc.h"
#include "kratixfs/files.h"
#include "kratixfs/promise.h"

static const char help[] =
	"Usage: kratixfs validate [--max-input BYTES] PROMISE_YAML REQUEST_YAML...\n"
	"\n"
	"Checks each request (a file may hold several documents) against the CRD in the\n"
	"promise's spec.api as the Kubernetes API server would: kind, served version, name,\n"
	"types, required fields, enums, patterns, bounds. PROMISE_YAML is a promise.yaml, the\n"
	"api.yaml of a promise in the kratix CLI's split layout, or a promise folder (either\n"
	"layout; a folder holding both files is an error). Prints every request with its\n"
	"defaults applied and unknown fields pruned; each pruned field (\"Warning: unknown\n"
	"field\", as kubectl says) and each schema keyword kratixfs does not enforce is reported\n"
	"on stderr.\n"
	"\n"
	"A request file larger than --max-input (default 1048576, as for kratixfs render and the\n"
	"mount) is refused unread.\n"
	"\n"
	"Exit status: 0 all valid, 1 some request invalid or unreadable (every error is listed),\n"
	"2 usage error or promise error (the promise could not be read).\n";

static int validate_file(const struct kfs_promise *p, const char *path, size_t max_input,
			 bool *first)
{
	struct kfs_error err = {0};
	struct kfs_buf text = {0};
	struct kfs_node **docs = NULL;
	size_t n = 0;
	int bad = 0;
	if (cli_read_limited(path, max_input, &text, &err) < 0 ||
	    kfs_doc_parse_stream(text.data, text.len, path, &docs, &n, &err) < 0) {
		cli_report("validate", &err);
		kfs_buf_free(&text);
		return 1;
	}
	if (n == 0) {
		cli_errorf("%s: holds no YAML document", path);
		bad = 1;
	}
	for (size_t i = 0; i < n; i++) {
		kfs_error_clear(&err);
		struct kfs_buf what = {0};
		if (n > 1)
			kfs_buf_printf(&what, "%s (document %zu)", path, i + 1);
		else
			kfs_buf_adds(&what, path);
		struct kfs_buf warnings = {0};
		int rc = kfs_promise_admit(p, docs[i], &warnings, &err);
		/* Pruned fields are warned of, as kubectl does; they do not change the status. */
		cli_print_warnings(what.data, warnings.data);
		kfs_buf_free(&warnings);
		if (rc < 0) {
			cli_report(what.data, &err);
			bad = 1;
		} else {
			struct kfs_buf out = {0};
			kfs_buf_printf(&out, "%s# %s: valid\n", *first ? "" : "---\n", what.data);
			kfs_doc_emit(docs[i], &out);
			fputs(out.data, stdout);
			kfs_buf_free(&out);
			*first = false;
		}
		kfs_buf_free(&what);
	}
	kfs_doc_free_stream(docs, n);
	kfs_buf_free(&text);
	return bad;
}

int cmd_validate(int argc, char **argv)
{
	size_t max_input = KFS_DEFAULT_MAX_INPUT;
	int n = 1; /* argv is compacted to the command and its files */
	for (int i = 1; i < argc; i++) {
		int rc = cli_common_option(argv[i], help);
		if (rc >= 0)
			return rc;
		const char *limit = NULL;
		if (strcmp(argv[i], "--max-input") == 0 && i + 1 < argc)
			limit = argv[++i];
		else if (strncmp(argv[i], "--max-input=", 12) == 0)
			limit = argv[i] + 12;
		if (limit) {
			if (cli_parse_max_input(limit, &max_input) < 0)
				return EXIT_FAILED;
			continue;
		}
		if (argv[i][0] == '-' && argv[i][1]) {
			cli_errorf("validate: unknown option %s (try kratixfs validate --help)",
				   argv[i]);
			return EXIT_FAILED;
		}
		argv[n++] = argv[i];
	}
	argc = n;
	if (argc < 3) {
		fputs(help, stderr);
		return EXIT_FAILED;
	}
	struct kfs_error err = {0};
	struct kfs_promise *p;
	if (kfs_promise_load_file(argv[1], &p, &err) < 0) {
		cli_report("validate", &err);
		return EXIT_FAILED;
	}
	if (p->warnings.len)
		cli_print_lines(argv[1], p->warnings.data);
	int bad = 0;
	bool first = true;
	for (int i = 2; i < argc; i++)
		bad |= validate_file(p, argv[i], max_input, &first);
	kfs_promise_free(p);
	return bad ? EXIT_REJECTED : EXIT_OK;
}
