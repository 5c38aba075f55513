/* `kratixfs test`: golden cases. Each test-input/<case>.yaml is rendered and compared with
 * test-output/<case>/{output,metadata} (or test-output/<case>/error for a case that must
 * fail), printing a unified diff per mismatch. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kratixfs/diff.h"
#include "kratixfs/doc.h"
#include "kratixfs/files.h"
#include "kratixfs/promise.h"
#include "kratixfs/render.h"

static const char help[] =
	"Usage: kratixfs test [--update] PROMISE_DIR\n"
	"\n"
	"Renders each PROMISE_DIR/test-input/<case>.yaml (a request; a kind: Promise document runs\n"
	"the promise workflow) and compares the result with PROMISE_DIR/test-output/<case>/:\n"
	"output/** for the files, metadata/status.yaml and metadata/destination-selectors.yaml,\n"
	"or a file named error holding the message of a case that must be rejected.\n"
	"Prints a unified diff for every mismatch and, last, \"N passed, N failed\".\n"
	"\n"
	"  --update   write the rendered results into test-output/ instead of comparing\n"
	"\n"
	"Exit status: 0 all passed, 1 some case failed, 2 the promise could not be loaded.\n";

/* One file of a case's result: its path under test-output/<case>/ and its bytes. */
struct file {
	char *path;
	struct kfs_buf data;
};

struct result {
	struct file *files;
	size_t n;
};

static void add_file(struct result *r, const char *path, const char *data, size_t len)
{
	r->files = kfs_xrealloc(r->files, (r->n + 1) * sizeof(*r->files));
	struct file *f = &r->files[r->n++];
	f->path = kfs_xstrdup(path);
	memset(&f->data, 0, sizeof(f->data));
	kfs_buf_add(&f->data, data, len);
}

static void free_result(struct result *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->files[i].path);
		kfs_buf_free(&r->files[i].data);
	}
	free(r->files);
}

static const struct file *find_file(const struct result *r, const char *path)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->files[i].path, path) == 0)
			return &r->files[i];
	return NULL;
}

static void add_node(struct result *r, const char *path, const struct kfs_node *n)
{
	struct kfs_buf text = {0};
	kfs_doc_emit(n, &text);
	add_file(r, path, text.data, text.len);
	kfs_buf_free(&text);
}

/* Renders one case into r: its files, or a single file "error" with the message. */
static void render_case(const struct kfs_promise *p, const char *input_path, struct result *r)
{
	struct kfs_error err = {0};
	struct kfs_buf input = {0};
	struct kfs_render_result out = {0};
	int rc = kfs_read_file(input_path, &input, &err);
	if (rc == 0) {
		struct kfs_node *doc = NULL;
		struct kfs_error ignored = {0};
		kfs_doc_parse(input.data, input.len, "object.yaml", &doc, &ignored);
		const char *kind = kfs_node_text_at(doc, "kind");
		struct kfs_render_input in = {
			.promise = p,
			.type = kind && strcmp(kind, "Promise") == 0 ? KFS_WF_PROMISE
								      : KFS_WF_RESOURCE,
			.action = KFS_WF_CONFIGURE,
			.data = input.data,
			.len = input.len,
			.doc = doc, /* NULL when it does not parse: render reports why */
		};
		rc = kfs_render(&in, &out, &err);
	}
	if (rc < 0) {
		struct kfs_buf msg = {0};
		kfs_buf_printf(&msg, "%s\n", err.msg);
		add_file(r, "error", msg.data, msg.len);
		kfs_buf_free(&msg);
	} else {
		for (size_t i = 0; i < out.noutputs; i++) {
			struct kfs_buf path = {0};
			kfs_buf_printf(&path, "output/%s", out.outputs[i].path);
			add_file(r, path.data, out.outputs[i].data, out.outputs[i].len);
			kfs_buf_free(&path);
		}
		if (out.status)
			add_node(r, "metadata/status.yaml", out.status);
		if (out.selectors)
			add_node(r, "metadata/destination-selectors.yaml", out.selectors);
	}
	kfs_render_result_free(&out);
	kfs_buf_free(&input);
}

static int load_expected(const char *dir, struct result *r, struct kfs_error *err)
{
	char **names;
	size_t n;
	int rc = kfs_list_files(dir, &names, &n, err);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct kfs_buf path = {0}, data = {0};
		kfs_buf_printf(&path, "%s/%s", dir, names[i]);
		rc = kfs_read_file(path.data, &data, err);
		if (rc == 0)
			add_file(r, names[i], data.data, data.len);
		kfs_buf_free(&path);
		kfs_buf_free(&data);
	}
	kfs_free_list(names, n);
	return rc;
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Compares, appending diffs to out; returns true when equal. */
static bool compare(const char *name, const struct result *want, const struct result *got,
		    struct kfs_buf *out)
{
	const char **all = kfs_xcalloc(want->n + got->n, sizeof(*all));
	size_t n = 0;
	for (size_t i = 0; i < want->n; i++)
		all[n++] = want->files[i].path;
	for (size_t i = 0; i < got->n; i++)
		if (!find_file(want, got->files[i].path))
			all[n++] = got->files[i].path;
	qsort(all, n, sizeof(*all), cmp_path);
	bool same = true;
	for (size_t i = 0; i < n; i++) {
		const struct file *w = find_file(want, all[i]);
		const struct file *g = find_file(got, all[i]);
		struct kfs_buf a = {0}, b = {0};
		if (w)
			kfs_buf_printf(&a, "test-output/%s/%s", name, all[i]);
		else
			kfs_buf_adds(&a, "/dev/null");
		if (g)
			kfs_buf_printf(&b, "rendered/%s/%s", name, all[i]);
		else
			kfs_buf_adds(&b, "/dev/null");
		if (kfs_diff_unified(a.data, w ? w->data.data : "", w ? w->data.len : 0, b.data,
				     g ? g->data.data : "", g ? g->data.len : 0, out))
			same = false;
		kfs_buf_free(&a);
		kfs_buf_free(&b);
	}
	free(all);
	return same;
}

static int update_case(const char *dir, const struct result *got, struct kfs_error *err)
{
	int rc = kfs_remove_tree(dir, err);
	for (size_t i = 0; i < got->n && rc == 0; i++)
		rc = kfs_write_file(dir, got->files[i].path, got->files[i].data.data,
				    got->files[i].data.len, err);
	return rc;
}

static bool is_case_file(const char *name)
{
	size_t n = strlen(name);
	return !strchr(name, '/') && ((n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
				      (n > 4 && strcmp(name + n - 4, ".yml") == 0));
}

int cmd_test(int argc, char **argv)
{
	static const struct option opts[] = {
		{"update", no_argument, NULL, 'u'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	bool update = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "uhV", opts, NULL)) != -1) {
		if (c == 'u')
			update = true;
		else if (c == 'h')
			return cli_common_option("--help", help);
		else if (c == 'V')
			return cli_common_option("--version", help);
		else {
			fputs(help, stderr);
			return EXIT_FAILED;
		}
	}
	if (optind != argc - 1) {
		fputs(help, stderr);
		return EXIT_FAILED;
	}
	const char *dir = argv[optind];
	struct kfs_error err = {0};
	struct kfs_promise *p;
	if (kfs_promise_load_dir(dir, &p, &err) < 0) {
		cli_report("test", &err);
		return EXIT_FAILED;
	}
	struct kfs_buf inputs = {0};
	kfs_buf_printf(&inputs, "%s/test-input", dir);
	char **names;
	size_t n;
	if (kfs_list_files(inputs.data, &names, &n, &err) < 0) {
		cli_report("test", &err);
		kfs_buf_free(&inputs);
		kfs_promise_free(p);
		return EXIT_FAILED;
	}
	int passed = 0, failed = 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_case_file(names[i]))
			continue;
		struct kfs_buf input = {0}, expected = {0}, diff = {0};
		char *name = kfs_xstrndup(names[i], strcspn(names[i], "."));
		kfs_buf_printf(&input, "%s/%s", inputs.data, names[i]);
		kfs_buf_printf(&expected, "%s/test-output/%s", dir, name);
		struct result got = {0}, want = {0};
		render_case(p, input.data, &got);
		kfs_error_clear(&err);
		if (update) {
			if (update_case(expected.data, &got, &err) < 0) {
				cli_report("test", &err);
				failed++;
			} else {
				printf("updated: %s\n", name);
				passed++;
			}
		} else if (load_expected(expected.data, &want, &err) < 0) {
			cli_report("test", &err);
			failed++;
		} else if (compare(name, &want, &got, &diff)) {
			printf("ok: %s\n", name);
			passed++;
		} else {
			printf("FAIL: %s\n%s", name, diff.data);
			failed++;
		}
		free_result(&got);
		free_result(&want);
		free(name);
		kfs_buf_free(&input);
		kfs_buf_free(&expected);
		kfs_buf_free(&diff);
	}
	printf("%d passed, %d failed\n", passed, failed);
	kfs_free_list(names, n);
	kfs_buf_free(&inputs);
	kfs_promise_free(p);
	return failed ? EXIT_REJECTED : EXIT_OK;
}
