/* `kratixfs test`: golden cases. Each test-input/<case>.yaml is rendered and compared with
 * test-output/<case>/{output,metadata} (or test-output/<case>/error for a case that must
 * fail), printing a unified diff per mismatch. */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "kratixfs/diff.h"
#include "kratixfs/doc.h"
#include "kratixfs/files.h"
#include "kratixfs/promise.h"
#include "kratixfs/render.h"

static const char help[] =
	"Usage: kratixfs test [--update] [--run PATTERN] [--junit FILE] [--output text|json]\n"
	"                     PROMISE_DIR...\n"
	"\n"
	"Renders each PROMISE_DIR/test-input/<case>.yaml (a request; a kind: Promise document runs\n"
	"the promise workflow) and compares the result with PROMISE_DIR/test-output/<case>/:\n"
	"output/** for the files, metadata/status.yaml, metadata/destination-selectors.yaml and\n"
	"metadata/workflow-control.yaml, or a file named error holding the message of a case\n"
	"that must be rejected. Each pipeline makes its own Work: where two pipelines write one\n"
	"path, output/ holds the later pipeline's file and pipelines/<pipeline>/<path> each\n"
	"pipeline's. A case's status: is the object's status (input/object.yaml holds it).\n"
	"Prints a unified diff for every mismatch (a render that fails when the case expects\n"
	"files is printed as its error) and, last, \"N passed, N failed\".\n"
	"A case is named after its file without .yaml or .yml (v1.2.yaml is case v1.2); with\n"
	"several folders, as PROMISE/CASE.\n"
	"\n"
	"  --update          write the rendered results into test-output/ instead of comparing\n"
	"  --run PATTERN     only the cases whose name matches the glob PATTERN (a PATTERN with\n"
	"                    a / matches PROMISE/CASE); may be repeated\n"
	"  --junit FILE      also write a JUnit XML report: one testsuite per folder, one\n"
	"                    testcase per case, the diff in each failure\n"
	"  --output json     print one JSON object instead of text: passed, failed, errors\n"
	"                    (folders that could not be tested) and cases (name, promise, dir,\n"
	"                    status, message)\n"
	"\n"
	"A folder with no case (or no case matching --run) is an error, never a silent pass.\n"
	"\n"
	"Exit status: 0 all passed, 1 some case failed, 2 usage error or promise error (a promise\n"
	"folder that does not load or holds no case, a --junit FILE that cannot be written).\n";

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

/* The files of a render: output/<path> as output/ shows it (the later pipeline's file where
 * two wrote a path), and such a path again as pipelines/<pipeline>/<path> for every pipeline
 * that wrote it, so that a golden holds each Work's file. */
static void add_outputs(struct result *r, const struct kfs_render_result *out)
{
	struct kfs_buf path = {0};
	for (size_t i = 0; i < out->noutputs; i++) {
		const struct kfs_output *o = &out->outputs[i];
		bool dup_next = i + 1 < out->noutputs && strcmp(out->outputs[i + 1].path, o->path) == 0;
		bool dup_prev = i > 0 && strcmp(out->outputs[i - 1].path, o->path) == 0;
		if (dup_next || dup_prev) {
			kfs_buf_reset(&path);
			kfs_buf_printf(&path, "pipelines/%s/%s", o->pipeline, o->path);
			add_file(r, path.data, o->data, o->len);
		}
		if (dup_next)
			continue;
		kfs_buf_reset(&path);
		kfs_buf_printf(&path, "output/%s", o->path);
		add_file(r, path.data, o->data, o->len);
	}
	kfs_buf_free(&path);
}

static void add_result(struct result *r, const struct kfs_render_result *out)
{
	add_outputs(r, out);
	if (out->status)
		add_node(r, "metadata/status.yaml", out->status);
	if (out->selectors)
		add_node(r, "metadata/destination-selectors.yaml", out->selectors);
	if (out->control.pipeline) {
		struct kfs_buf text = {0};
		kfs_workflow_control_emit(&out->control, &text);
		add_file(r, "metadata/workflow-control.yaml", text.data, text.len);
		kfs_buf_free(&text);
	}
}

/* Renders one case into r: its files, or a single file "error" with the message. A case's
 * input is input/object.yaml as Kratix's reader writes it: its status is the object's. */
static void render_case(const struct kfs_promise *p, const char *input_path, struct result *r)
{
	struct kfs_error err = {0};
	struct kfs_buf input = {0};
	struct kfs_render_result out = {0};
	struct kfs_node *status = NULL;
	int rc = kfs_read_file(input_path, &input, &err);
	if (rc == 0) {
		struct kfs_node *doc = NULL;
		struct kfs_error ignored = {0};
		kfs_doc_parse(input.data, input.len, "object.yaml", &doc, &ignored);
		const char *kind = kfs_node_text_at(doc, "kind");
		if (doc && doc->type == KFS_MAP)
			status = kfs_map_take(doc, "status");
		struct kfs_render_input in = {
			.promise = p,
			.type = kind && strcmp(kind, "Promise") == 0 ? KFS_WF_PROMISE
								      : KFS_WF_RESOURCE,
			.action = KFS_WF_CONFIGURE,
			.data = input.data,
			.len = input.len,
			.doc = doc, /* NULL when it does not parse: render reports why */
			.status = status,
			.exec = cli_exec_new(),
		};
		rc = kfs_render(&in, &out, &err);
		kfs_exec_free((struct kfs_exec *)in.exec);
	}
	if (rc < 0) {
		struct kfs_buf msg = {0};
		kfs_buf_printf(&msg, "%s\n", err.msg);
		add_file(r, "error", msg.data, msg.len);
		kfs_buf_free(&msg);
	} else {
		add_result(r, &out);
	}
	kfs_render_result_free(&out);
	kfs_node_free(status);
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

int cli_write_golden(const struct kfs_promise *p, const char *dir, const char *name,
		     struct kfs_error *err)
{
	struct kfs_buf input = {0}, expected = {0};
	struct result got = {0};
	kfs_buf_printf(&input, "%s/test-input/%s.yaml", dir, name);
	kfs_buf_printf(&expected, "%s/test-output/%s", dir, name);
	render_case(p, input.data, &got);
	const struct file *e = find_file(&got, "error");
	int rc = e ? kfs_error_set(err, -EIO, "%s: %.*s", input.data, (int)e->data.len - 1,
				   e->data.data)
		   : update_case(expected.data, &got, err);
	free_result(&got);
	kfs_buf_free(&input);
	kfs_buf_free(&expected);
	return rc;
}

/* The case named by a test-input file: its name without .yaml or .yml, or NULL when the file is
 * not a case (another extension, or in a sub-folder). Only the extension goes: cutting at the
 * first dot made v1.2.yaml and v1.3.yaml both case "v1", sharing (and overwriting) one golden. */
static char *case_name(const char *file)
{
	size_t n = strlen(file);
	if (strchr(file, '/'))
		return NULL;
	if (n > 5 && strcmp(file + n - 5, ".yaml") == 0)
		return kfs_xstrndup(file, n - 5);
	if (n > 4 && strcmp(file + n - 4, ".yml") == 0)
		return kfs_xstrndup(file, n - 4);
	return NULL;
}

enum outcome { CASE_PASSED, CASE_FAILED, CASE_UPDATED };
static const char *const outcome_names[] = {"passed", "failed", "updated"};

struct case_report {
	char *name;
	enum outcome outcome;
	const char *summary; /* one line for a failure: what kind of mismatch */
	struct kfs_buf message; /* the diff, the render's error or the missing golden */
};

/* One PROMISE_DIR: its cases, or why it could not be tested. */
struct suite {
	const char *dir;
	char *promise; /* NULL when the folder did not load */
	char *error;   /* why the folder could not be tested, or NULL */
	struct case_report *cases;
	size_t n;
};

struct options {
	bool update, json, several;
	const char *junit;
	const char **run;
	size_t nrun;
};

static bool selected(const struct options *o, const char *promise, const char *name)
{
	if (o->nrun == 0)
		return true;
	struct kfs_buf full = {0};
	kfs_buf_printf(&full, "%s/%s", promise, name);
	bool hit = false;
	for (size_t i = 0; i < o->nrun && !hit; i++)
		hit = fnmatch(o->run[i], strchr(o->run[i], '/') ? full.data : name, 0) == 0;
	kfs_buf_free(&full);
	return hit;
}

static void run_case(const struct kfs_promise *p, const char *dir, const char *file,
		     const struct options *o, struct case_report *c)
{
	struct kfs_buf input = {0}, expected = {0};
	struct result got = {0}, want = {0};
	struct kfs_error err = {0};
	struct stat st;
	kfs_buf_printf(&input, "%s/test-input/%s", dir, file);
	kfs_buf_printf(&expected, "%s/test-output/%s", dir, c->name);
	render_case(p, input.data, &got);
	c->outcome = CASE_FAILED;
	if (o->update) {
		if (update_case(expected.data, &got, &err) < 0) {
			c->summary = "could not write the golden result";
			kfs_buf_printf(&c->message, "%s\n", err.msg);
		} else {
			c->outcome = CASE_UPDATED;
		}
	} else if (stat(expected.data, &st) != 0 || !S_ISDIR(st.st_mode)) {
		c->summary = "no golden result";
		kfs_buf_printf(&c->message,
			       "%s: no golden result (kratixfs test --update writes it)\n",
			       expected.data);
	} else if (load_expected(expected.data, &want, &err) < 0) {
		c->summary = "could not read the golden result";
		kfs_buf_printf(&c->message, "%s\n", err.msg);
	} else if (compare(c->name, &want, &got, &c->message)) {
		c->outcome = CASE_PASSED;
	} else if (find_file(&got, "error") && !find_file(&want, "error")) {
		/* The render failed where files were expected: its error says what to fix, which
		 * a diff of every golden file against nothing would bury. */
		const struct file *e = find_file(&got, "error");
		c->summary = "render error";
		kfs_buf_reset(&c->message);
		/* The golden keeps paths relative to the promise folder; the message names them
		 * from the current folder, so that an editor jumps to the line. */
		kfs_buf_adds(&c->message, "render error: ");
		cli_promise_paths(dir, e->data.data ? e->data.data : "", &c->message);
	} else {
		c->summary = "differs from the golden result";
	}
	free_result(&got);
	free_result(&want);
	kfs_buf_free(&input);
	kfs_buf_free(&expected);
}

static void print_case(const struct options *o, const struct suite *s,
		       const struct case_report *c)
{
	if (o->json)
		return;
	static const char *const words[] = {"ok", "FAIL", "updated"};
	printf("%s: ", words[c->outcome]);
	if (o->several)
		printf("%s/", s->promise);
	printf("%s\n", c->name);
	if (c->outcome == CASE_FAILED)
		fputs(c->message.data ? c->message.data : "", stdout);
	fflush(stdout);
}

/* The suite's error, its paths taken from the folder as the user named it. */
static void suite_error(struct suite *s, const struct kfs_error *err, const char *fallback)
{
	struct kfs_buf text = {0};
	cli_promise_paths(s->dir, err && err->msg[0] ? err->msg : fallback, &text);
	s->error = kfs_buf_steal(&text);
	cli_print_lines("test", s->error);
}

/* Runs the selected cases of one folder. A folder that holds no case at all is an error: a
 * wrong path or a renamed folder must not turn a CI job green. */
static void run_suite(struct suite *s, const struct options *o)
{
	struct kfs_error err = {0};
	struct kfs_promise *p;
	if (kfs_promise_load_dir(s->dir, &p, &err) < 0) {
		suite_error(s, &err, "the promise could not be loaded");
		return;
	}
	s->promise = kfs_xstrdup(p->name);
	struct kfs_buf inputs = {0}, why = {0};
	kfs_buf_printf(&inputs, "%s/test-input", s->dir);
	char **files = NULL;
	size_t n = 0;
	if (kfs_list_files(inputs.data, &files, &n, &err) < 0) {
		suite_error(s, &err, inputs.data);
		goto out;
	}
	char **names = kfs_xcalloc(n ? n : 1, sizeof(*names));
	size_t ncases = 0;
	for (size_t i = 0; i < n && !s->error; i++) {
		names[i] = case_name(files[i]);
		if (!names[i])
			continue;
		ncases++;
		for (size_t j = 0; j < i; j++) {
			if (names[j] && strcmp(names[i], names[j]) == 0) {
				kfs_buf_printf(&why, "%s/%s and %s/%s are both case %s: rename one",
					       inputs.data, files[j], inputs.data, files[i],
					       names[i]);
				suite_error(s, NULL, why.data);
				break;
			}
		}
	}
	struct stat st;
	if (!s->error && ncases == 0) {
		kfs_buf_printf(&why, "no test cases: %s %s (a case is test-input/<case>.yaml, "
			       "its golden result test-output/<case>/)",
			       inputs.data,
			       stat(inputs.data, &st) == 0 ? "holds no .yaml file" : "does not exist");
		suite_error(s, NULL, why.data);
	}
	for (size_t i = 0; i < n && !s->error; i++) {
		if (!names[i] || !selected(o, s->promise, names[i]))
			continue;
		s->cases = kfs_xrealloc(s->cases, (s->n + 1) * sizeof(*s->cases));
		struct case_report *c = &s->cases[s->n++];
		memset(c, 0, sizeof(*c));
		c->name = names[i];
		names[i] = NULL;
		run_case(p, s->dir, files[i], o, c);
		print_case(o, s, c);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
out:
	kfs_free_list(files, n);
	kfs_buf_free(&inputs);
	kfs_buf_free(&why);
	kfs_promise_free(p);
}

static void free_suite(struct suite *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->cases[i].name);
		kfs_buf_free(&s->cases[i].message);
	}
	free(s->cases);
	free(s->promise);
	free(s->error);
}

/* The length of the valid UTF-8 sequence at s, or 0: JSON and XML reports must stay well-formed
 * whatever bytes a golden file holds, so anything else is written as U+FFFD. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n = s[0] < 0x80 ? 1 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
				   : s[0] >= 0xe0 && s[0] <= 0xef ? 3
				   : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

static void json_string(struct kfs_buf *b, const char *text)
{
	const unsigned char *s = (const unsigned char *)(text ? text : "");
	kfs_buf_addc(b, '"');
	while (*s) {
		size_t n = utf8_len(s);
		if (*s == '"' || *s == '\\')
			kfs_buf_printf(b, "\\%c", *s);
		else if (*s == '\n')
			kfs_buf_adds(b, "\\n");
		else if (*s == '\t')
			kfs_buf_adds(b, "\\t");
		else if (*s < 0x20 || *s == 0x7f)
			kfs_buf_printf(b, "\\u%04x", *s);
		else if (n == 0)
			kfs_buf_adds(b, "\\ufffd");
		else
			kfs_buf_add(b, (const char *)s, n);
		s += n ? n : 1;
	}
	kfs_buf_addc(b, '"');
}

static void xml_text(struct kfs_buf *b, const char *text)
{
	const unsigned char *s = (const unsigned char *)(text ? text : "");
	while (*s) {
		size_t n = utf8_len(s);
		if (*s == '&')
			kfs_buf_adds(b, "&amp;");
		else if (*s == '<')
			kfs_buf_adds(b, "&lt;");
		else if (*s == '>')
			kfs_buf_adds(b, "&gt;");
		else if (*s == '"')
			kfs_buf_adds(b, "&quot;");
		else if (*s == '\n' || *s == '\t')
			kfs_buf_addc(b, (char)*s);
		else if (n == 0 || *s < 0x20) /* XML 1.0 has no other control characters */
			kfs_buf_adds(b, "\xef\xbf\xbd");
		else
			kfs_buf_add(b, (const char *)s, n);
		s += n ? n : 1;
	}
}

static void write_json(const struct suite *suites, size_t n, int passed, int failed,
		       int updated)
{
	struct kfs_buf b = {0};
	kfs_buf_printf(&b, "{\n  \"passed\": %d,\n  \"failed\": %d,\n  \"updated\": %d,\n"
		       "  \"errors\": [", passed, failed, updated);
	const char *sep = "\n    ";
	for (size_t i = 0; i < n; i++) {
		if (!suites[i].error)
			continue;
		kfs_buf_printf(&b, "%s{\"dir\": ", sep);
		json_string(&b, suites[i].dir);
		kfs_buf_adds(&b, ", \"message\": ");
		json_string(&b, suites[i].error);
		kfs_buf_addc(&b, '}');
		sep = ",\n    ";
	}
	kfs_buf_adds(&b, sep[0] == ',' ? "\n  ],\n  \"cases\": [" : "],\n  \"cases\": [");
	sep = "\n    ";
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < suites[i].n; j++) {
			const struct case_report *c = &suites[i].cases[j];
			kfs_buf_printf(&b, "%s{\"name\": ", sep);
			json_string(&b, c->name);
			kfs_buf_adds(&b, ", \"promise\": ");
			json_string(&b, suites[i].promise);
			kfs_buf_adds(&b, ", \"dir\": ");
			json_string(&b, suites[i].dir);
			kfs_buf_printf(&b, ", \"status\": \"%s\", \"message\": ",
				       outcome_names[c->outcome]);
			json_string(&b, c->message.data);
			kfs_buf_addc(&b, '}');
			sep = ",\n    ";
		}
	}
	kfs_buf_adds(&b, sep[0] == ',' ? "\n  ]\n}\n" : "]\n}\n");
	fputs(b.data, stdout);
	kfs_buf_free(&b);
}

/* JUnit XML as CI servers read it: a testsuite per folder, a testcase per case, the diff in the
 * body of its failure; a folder that could not be tested is one testcase in error. */
static int write_junit(const char *path, const struct suite *suites, size_t n,
		       struct kfs_error *err)
{
	struct kfs_buf b = {0};
	int tests = 0, failures = 0, errors = 0;
	for (size_t i = 0; i < n; i++) {
		tests += suites[i].error ? 1 : (int)suites[i].n;
		errors += suites[i].error ? 1 : 0;
		for (size_t j = 0; j < suites[i].n; j++)
			failures += suites[i].cases[j].outcome == CASE_FAILED;
	}
	kfs_buf_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		       "<testsuites name=\"kratixfs test\" tests=\"%d\" failures=\"%d\" "
		       "errors=\"%d\">\n", tests, failures, errors);
	for (size_t i = 0; i < n; i++) {
		const struct suite *s = &suites[i];
		const char *name = s->promise ? s->promise : s->dir;
		int f = 0;
		for (size_t j = 0; j < s->n; j++)
			f += s->cases[j].outcome == CASE_FAILED;
		kfs_buf_adds(&b, "  <testsuite name=\"");
		xml_text(&b, name);
		kfs_buf_printf(&b, "\" tests=\"%d\" failures=\"%d\" errors=\"%d\">\n",
			       s->error ? 1 : (int)s->n, f, s->error ? 1 : 0);
		if (s->error) {
			kfs_buf_adds(&b, "    <testcase classname=\"");
			xml_text(&b, name);
			kfs_buf_adds(&b, "\" name=\"(promise folder)\">\n      <error message=\"");
			xml_text(&b, s->error);
			kfs_buf_adds(&b, "\"/>\n    </testcase>\n");
		}
		for (size_t j = 0; j < s->n; j++) {
			const struct case_report *c = &s->cases[j];
			kfs_buf_adds(&b, "    <testcase classname=\"");
			xml_text(&b, name);
			kfs_buf_adds(&b, "\" name=\"");
			xml_text(&b, c->name);
			if (c->outcome != CASE_FAILED) {
				kfs_buf_adds(&b, "\"/>\n");
				continue;
			}
			kfs_buf_adds(&b, "\">\n      <failure message=\"");
			xml_text(&b, c->summary);
			kfs_buf_adds(&b, "\">");
			xml_text(&b, c->message.data);
			kfs_buf_adds(&b, "</failure>\n    </testcase>\n");
		}
		kfs_buf_adds(&b, "  </testsuite>\n");
	}
	kfs_buf_adds(&b, "</testsuites>\n");
	FILE *f = fopen(path, "w");
	int rc = 0;
	if (!f || fwrite(b.data, 1, b.len, f) != b.len || fflush(f) != 0)
		rc = kfs_error_set(err, -errno, "--junit %s: %s", path, strerror(errno));
	if (f && fclose(f) != 0 && rc == 0)
		rc = kfs_error_set(err, -errno, "--junit %s: %s", path, strerror(errno));
	kfs_buf_free(&b);
	return rc;
}

/* Fills o from argv (o->run has room for argc names); returns -1 to go on with the folders
 * from optind, or the exit status (--help, --version, an error). */
static int parse_test_args(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
		{"update", no_argument, NULL, 'u'},
		{"run", required_argument, NULL, 'r'},
		{"junit", required_argument, NULL, 'j'},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "uhV", opts, NULL)) != -1) {
		if (c == 'u') {
			o->update = true;
		} else if (c == 'r') {
			o->run[o->nrun++] = optarg;
		} else if (c == 'j') {
			o->junit = optarg;
		} else if (c == 'o' && (strcmp(optarg, "json") == 0 || strcmp(optarg, "text") == 0)) {
			o->json = strcmp(optarg, "json") == 0;
		} else if (c == 'o') {
			cli_errorf("test: --output %s: not text or json", optarg);
			return EXIT_FAILED;
		} else if (c == 'h' || c == 'V') {
			return cli_common_option(c == 'h' ? "--help" : "--version", help);
		} else {
			fputs(help, stderr);
			return EXIT_FAILED;
		}
	}
	if (optind >= argc) {
		cli_errorf("test: which promise folder? (try kratixfs test --help)");
		return EXIT_FAILED;
	}
	return -1;
}

int cmd_test(int argc, char **argv)
{
	struct options o = {0};
	o.run = kfs_xcalloc(argc, sizeof(*o.run));
	int status = parse_test_args(argc, argv, &o);
	if (status >= 0)
		goto out;
	size_t n = (size_t)(argc - optind);
	struct suite *suites = kfs_xcalloc(n, sizeof(*suites));
	o.several = n > 1;
	int passed = 0, failed = 0, updated = 0, errors = 0, cases = 0;
	for (size_t i = 0; i < n; i++) {
		suites[i].dir = argv[optind + i];
		run_suite(&suites[i], &o);
		cases += (int)suites[i].n;
	}
	for (size_t i = 0; i < n; i++) {
		/* A filter that matches nothing is a typo, as much as an empty folder is. */
		if (cases == 0 && !suites[i].error) {
			struct kfs_buf why = {0};
			kfs_buf_printf(&why, "no case of %s/test-input matches --run", suites[i].dir);
			for (size_t j = 0; j < o.nrun; j++)
				kfs_buf_printf(&why, " %s", o.run[j]);
			suite_error(&suites[i], NULL, why.data);
			kfs_buf_free(&why);
		}
		errors += suites[i].error != NULL;
		for (size_t j = 0; j < suites[i].n; j++) {
			enum outcome oc = suites[i].cases[j].outcome;
			failed += oc == CASE_FAILED;
			passed += oc != CASE_FAILED;
			updated += oc == CASE_UPDATED;
		}
	}
	if (o.json) {
		write_json(suites, n, passed, failed, updated);
	} else {
		printf("%d passed, %d failed", passed, failed);
		if (errors)
			printf(", %d promise folder%s not tested", errors, errors > 1 ? "s" : "");
		putchar('\n');
	}
	status = errors ? EXIT_FAILED : failed ? EXIT_REJECTED : EXIT_OK;
	struct kfs_error err = {0};
	if (o.junit && write_junit(o.junit, suites, n, &err) < 0) {
		cli_report("test", &err);
		status = EXIT_FAILED;
	}
	for (size_t i = 0; i < n; i++)
		free_suite(&suites[i]);
	free(suites);
out:
	free(o.run);
	return status;
}
