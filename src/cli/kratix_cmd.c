/* A template promise in Kratix on Kubernetes, unchanged (docs/kratix.md, "The same promise in a
 * cluster"). Two commands:
 * - `kratixfs render` without -f (the --kratix mode): the entrypoint of the image `make image`
 *   builds. It renders the /kratix volume of a Kratix pipeline pod as one container of the
 *   pipeline: it reads input/object.yaml (the whole object, status included, as Kratix's reader
 *   writes it) and adds its files to output/ and metadata/, on top of what the pipeline's earlier
 *   containers left there.
 * - `kratixfs promise --image IMAGE DIR`: prints the promise's Promise document with every
 *   template container naming that image, ready for kubectl apply. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
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

/* The command line of the --kratix mode. */
struct kratix_args {
	const char *kratix;    /* the volume: DIR/input, DIR/output, DIR/metadata */
	const char *promises;  /* --promises: a folder of promise folders */
	const char *promise;   /* --promise: one promise folder */
	const char *container; /* --container: render only this container of the pipeline */
	size_t max_input;
	char bundled[PATH_MAX];
};

static const struct option kratix_opts[] = {
	{"file", required_argument, NULL, 'f'},
	{"promises", required_argument, NULL, 'p'},
	{"promise", required_argument, NULL, 'P'},
	{"kratix", required_argument, NULL, 'k'},
	{"container", required_argument, NULL, 'c'},
	{"max-input", required_argument, NULL, 'm'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{0},
};

bool cli_render_is_kratix(int argc, char **argv)
{
	int c, saved = opterr;
	bool file = false;
	opterr = 0;
	optind = 0; /* 0, not 1: GNU getopt starts afresh */
	while ((c = getopt_long(argc, argv, "f:hV", kratix_opts, NULL)) != -1)
		if (c == 'f' || (c == '?' && optopt == 'f'))
			file = true;
	opterr = saved;
	optind = 0;
	return !file;
}

/* Fills a from argv; returns -1 to go on, or the exit status (--help, --version, an error). */
static int parse_kratix_args(int argc, char **argv, const char *help, struct kratix_args *a)
{
	a->kratix = "/kratix";
	a->max_input = KFS_DEFAULT_MAX_INPUT;
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "hV", kratix_opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			a->promises = optarg;
			break;
		case 'P':
			a->promise = optarg;
			break;
		case 'k':
			a->kratix = optarg;
			break;
		case 'c':
			a->container = optarg;
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
	if (a->promise && a->promises) {
		cli_errorf("render: --promise names one promise folder, --promises a folder of "
			   "them: give one of them");
		return EXIT_FAILED;
	}
	if (!a->promise && !a->promises) {
		a->promises = getenv("KRATIXFS_PROMISES");
		if (!a->promises || !*a->promises)
			a->promises = kfs_bundled_promises(a->bundled);
	}
	return -1;
}

/* Reads DIR/input/object.yaml into input and *doc, and takes the object's status out of it
 * into *status (NULL when it has none): Kratix's reader writes the whole object, and the
 * status is the render's kfs_render_input.status, not a field to admit. */
static int read_object(const struct kratix_args *a, struct kfs_buf *input, struct kfs_buf *path,
		       struct kfs_node **doc, struct kfs_node **status)
{
	struct kfs_error err = {0};
	kfs_buf_printf(path, "%s/input/object.yaml", a->kratix);
	int rc = cli_read_limited(path->data, a->max_input, input, &err);
	if (rc == 0)
		rc = kfs_doc_parse(input->data, input->len, path->data, doc, &err);
	if (rc < 0) {
		cli_report("render", &err);
		return -1;
	}
	*status = (*doc)->type == KFS_MAP ? kfs_map_take(*doc, "status") : NULL;
	if (*status && (*status)->type == KFS_NULL) {
		kfs_node_free(*status);
		*status = NULL;
	}
	if (*status && (*status)->type != KFS_MAP) {
		cli_errorf("%s: status: must be a map, not %s", path->data,
			   kfs_type_name((*status)->type));
		return -1;
	}
	return 0;
}

/* Loads --promise's folder, or the promises folder, into set and chooses the promise: the one
 * KRATIX_PROMISE_NAME names (a promise workflow's input names its own), else the one serving the
 * input's kind. Returns the exit status on failure, -1 with *out set on success. */
static int choose_promise(const struct kratix_args *a, const struct kfs_node *doc,
			  enum kfs_wtype type, struct kfs_promise_set *set,
			  const struct kfs_promise **out)
{
	struct kfs_error err = {0};
	const char *wanted = getenv("KRATIX_PROMISE_NAME");
	if (!wanted || !*wanted)
		wanted = type == KFS_WF_PROMISE ? kfs_node_text_at(doc, "metadata.name") : NULL;
	if (a->promise) {
		struct kfs_promise *p;
		if (kfs_promise_load_dir(a->promise, &p, &err) < 0) {
			cli_report("render", &err);
			return EXIT_FAILED;
		}
		set->items = malloc(sizeof(*set->items));
		if (!set->items)
			abort();
		set->items[0] = p;
		set->n = 1;
		if (wanted && strcmp(wanted, p->name) != 0) {
			cli_errorf("render: KRATIX_PROMISE_NAME is %s, but --promise %s holds "
				   "promise %s", wanted, a->promise, p->name);
			return EXIT_FAILED;
		}
		*out = p;
		return -1;
	}
	int rc = kfs_promise_set_load(a->promises, set, &err);
	if (err.code) { /* a broken promise must not stop the others, but is never silent */
		cli_report(rc < 0 ? "render" : "warning", &err);
		kfs_error_clear(&err);
	}
	if (set->n == 0) {
		cli_errorf("%s: no promise could be loaded", a->promises);
		return EXIT_FAILED;
	}
	*out = wanted ? kfs_promise_set_find(set, wanted) : kfs_promise_set_match(set, doc, &err);
	if (*out)
		return -1;
	if (wanted)
		cli_errorf("render: no promise named %s in %s", wanted, a->promises);
	else
		cli_report("render", &err);
	return EXIT_REJECTED;
}

/* A template container: its folder holds templates/ and it runs no program of its own. Only
 * these run in kratixfs's image; the others keep their own image. */
static bool is_template_container(const struct kfs_container *c)
{
	if (c->exec || !c->dir)
		return false;
	char *t = kfs_path_join(c->dir, "templates");
	bool yes = kfs_is_dir(t);
	free(t);
	return yes;
}

/* The pipeline named name (or the workflow's only one when name is NULL), or NULL. */
static const struct kfs_pipeline *find_pipeline(const struct kfs_workflow *wf, const char *name)
{
	if (!name)
		return wf->npipelines == 1 ? &wf->pipelines[0] : NULL;
	for (size_t i = 0; i < wf->npipelines; i++)
		if (strcmp(wf->pipelines[i].name, name) == 0)
			return &wf->pipelines[i];
	return NULL;
}

/* Narrows in->promise to the one container --container names: *sub becomes a shallow copy of
 * the promise whose workflow holds one pipeline (*pl) with that container alone, so kfs_render
 * runs it and nothing else, as Kubernetes runs one container of the pod. sub is never freed. */
static int narrow_to_container(struct kfs_render_input *in, const char *container,
			       struct kfs_promise *sub, struct kfs_pipeline *pl)
{
	const struct kfs_promise *p = in->promise;
	const struct kfs_workflow *wf = &p->workflows[in->type][in->action];
	const char *wname = kfs_wtype_names[in->type], *aname = kfs_waction_names[in->action];
	const struct kfs_pipeline *found = find_pipeline(wf, in->pipeline);
	if (!found) {
		if (in->pipeline)
			cli_errorf("render: pipeline %s is not in the %s %s workflow of promise %s",
				   in->pipeline, wname, aname, p->name);
		else
			cli_errorf("render: --container needs KRATIX_PIPELINE_NAME: the %s %s "
				   "workflow of promise %s has %zu pipelines", wname, aname, p->name,
				   wf->npipelines);
		return -1;
	}
	for (size_t i = 0; i < found->ncontainers; i++) {
		const struct kfs_container *c = &found->containers[i];
		if (strcmp(c->name, container) != 0)
			continue;
		if (!is_template_container(c)) {
			cli_errorf("render: container %s of pipeline %s is not a template container "
				   "(no templates/ folder): it runs its own image, not kratixfs's",
				   container, found->name);
			return -1;
		}
		*sub = *p;
		*pl = (struct kfs_pipeline){.name = found->name,
					    .containers = (struct kfs_container *)c,
					    .ncontainers = 1};
		sub->workflows[in->type][in->action] = (struct kfs_workflow){pl, 1};
		in->promise = sub;
		in->pipeline = found->name;
		return 0;
	}
	cli_errorf("render: pipeline %s of promise %s has no container named %s", found->name,
		   p->name, container);
	return -1;
}

/* Writes data to dir/rel: in place when the file is new, else replacing it atomically (an
 * earlier container of the pipeline wrote it, as on Kratix's shared volume). */
static int write_file(const char *dir, const char *rel, const char *data, size_t len,
		      struct kfs_error *err)
{
	int rc = kfs_write_new_file(dir, rel, data, len, err);
	if (rc == -EEXIST) {
		kfs_error_clear(err);
		rc = kfs_write_file(dir, rel, data, len, err);
	}
	return rc;
}

/* Reads metadata/NAME as an earlier container left it: *out is NULL when there is none (or it
 * is empty), else its document, which must be of type want. */
static int read_metadata(const char *meta, const char *name, enum kfs_type want,
			 struct kfs_node **out, struct kfs_error *err)
{
	*out = NULL;
	char *path = kfs_path_join(meta, name);
	int rc = 0;
	if (kfs_is_file(path) && (rc = kfs_doc_parse_file(path, out, err)) == 0 && *out &&
	    (*out)->type == KFS_NULL) {
		kfs_node_free(*out);
		*out = NULL;
	}
	if (rc == 0 && *out && (*out)->type != want)
		rc = kfs_error_set(err, -EIO, "%s: an earlier container left a %s, not a %s", path,
				   kfs_type_name((*out)->type), want == KFS_MAP ? "map" : "list");
	free(path);
	return rc;
}

static int emit_metadata(const char *meta, const char *name, const struct kfs_node *doc,
			 struct kfs_error *err)
{
	struct kfs_buf text = {0};
	kfs_doc_emit(doc, &text);
	int rc = write_file(meta, name, text.data ? text.data : "", text.len, err);
	kfs_buf_free(&text);
	return rc;
}

/* metadata/status.yaml: the render's status merged onto the one earlier containers left, by
 * Kratix's rules (top-level keys replace, conditions merge by type). */
static int write_status(const char *meta, const struct kfs_node *status, struct kfs_error *err)
{
	struct kfs_node *have;
	int rc = read_metadata(meta, "status.yaml", KFS_MAP, &have, err);
	if (rc == 0 && have && kfs_status_merge(have, status, "status.yaml", err) < 0)
		rc = -EIO;
	if (rc == 0)
		rc = emit_metadata(meta, "status.yaml", have ? have : status, err);
	kfs_node_free(have);
	return rc;
}

/* metadata/destination-selectors.yaml: the render's selectors replace the file an earlier
 * container left, as a container writing the file on Kratix's shared volume does (its entries
 * are not appended: Kratix's work-creator refuses a directory listed twice). */
static int write_selectors(const char *meta, const struct kfs_node *sel, struct kfs_error *err)
{
	return emit_metadata(meta, "destination-selectors.yaml", sel, err);
}

/* metadata/workflow-control.yaml as the pipeline that wrote one left it (Kratix's fields:
 * suspend, retryAfter, message). */
static int write_control(const char *meta, const struct kfs_workflow_control *wc,
			 struct kfs_error *err)
{
	if (!wc->pipeline)
		return 0;
	struct kfs_buf text = {0};
	kfs_workflow_control_emit(wc, &text);
	int rc = write_file(meta, "workflow-control.yaml", text.data ? text.data : "", text.len,
			    err);
	kfs_buf_free(&text);
	return rc;
}

/* What the pipelines wrote to metadata/status.yaml, merged in workflow order, or NULL. Not the
 * render's whole status: that holds the object's own status, which Kratix's reader put in
 * input/object.yaml and its update-status merges this file onto. */
static struct kfs_node *pipelines_status(const struct kfs_render_result *r)
{
	struct kfs_node *status = NULL;
	for (size_t i = 0; i < r->npipelines; i++) {
		if (!r->pipelines[i].status)
			continue;
		if (!status)
			status = kfs_node_new(KFS_MAP);
		/* Each was checked when the render merged it onto the object's status. */
		kfs_status_merge(status, r->pipelines[i].status, "status.yaml", NULL);
	}
	return status;
}

/* Adds the render's files to the volume's output/ and metadata/. */
static int write_volume(const char *kratix, const struct kfs_render_result *r,
			struct kfs_error *err)
{
	char *out = kfs_path_join(kratix, "output"), *meta = kfs_path_join(kratix, "metadata");
	int rc = 0;
	for (size_t i = 0; i < r->noutputs && rc == 0; i++)
		rc = write_file(out, r->outputs[i].path, r->outputs[i].data, r->outputs[i].len, err);
	struct kfs_node *status = pipelines_status(r);
	if (rc == 0 && status)
		rc = write_status(meta, status, err);
	kfs_node_free(status);
	if (rc == 0 && r->selectors)
		rc = write_selectors(meta, r->selectors, err);
	if (rc == 0)
		rc = write_control(meta, &r->control, err);
	free(out);
	free(meta);
	return rc;
}

/* Renders in (doc taken over) and writes the volume. Returns the exit status. */
static int render_volume(const struct kratix_args *a, struct kfs_render_input *in,
			 const char *path, struct kfs_node *doc)
{
	struct kfs_error err = {0};
	struct kfs_promise_set set = {0};
	struct kfs_render_result result = {0};
	struct kfs_promise sub;
	struct kfs_pipeline pl;
	int status = EXIT_FAILED;
	if (cli_parse_workflow(getenv("KRATIX_WORKFLOW_TYPE"), getenv("KRATIX_WORKFLOW_ACTION"), doc,
			       &in->type, &in->action) < 0)
		goto out;
	if ((status = choose_promise(a, doc, in->type, &set, &in->promise)) >= 0)
		goto out;
	status = EXIT_FAILED;
	if (in->promise->warnings.len)
		cli_print_lines(in->promise->dir, in->promise->warnings.data);
	if (a->container && narrow_to_container(in, a->container, &sub, &pl) < 0)
		goto out;
	in->doc = doc;
	doc = NULL; /* kfs_render takes it over */
	int rc = kfs_render(in, &result, &err);
	cli_print_warnings(path, result.warnings.data);
	if (rc < 0) {
		cli_report(path, &err);
		status = cli_exit_code(rc);
		goto out;
	}
	if (write_volume(a->kratix, &result, &err) < 0) {
		cli_report("render", &err);
		goto out;
	}
	fputs(result.log.data ? result.log.data : "", stdout);
	status = EXIT_OK;
out:
	kfs_render_result_free(&result);
	kfs_node_free(doc);
	kfs_promise_set_free(&set);
	return status;
}

int cmd_render_kratix(int argc, char **argv, const char *help)
{
	struct kratix_args a = {0};
	int status = parse_kratix_args(argc, argv, help, &a);
	if (status >= 0)
		return status;
	struct kfs_buf input = {0}, path = {0};
	struct kfs_node *doc = NULL, *obj_status = NULL;
	if (read_object(&a, &input, &path, &doc, &obj_status) < 0) {
		kfs_node_free(doc);
		status = EXIT_REJECTED;
	} else {
		struct kfs_render_input in = {
			.pipeline = getenv("KRATIX_PIPELINE_NAME"),
			.data = input.data,
			.len = input.len,
			.status = obj_status,
			.exec = cli_exec_new(),
		};
		if (in.pipeline && !*in.pipeline)
			in.pipeline = NULL;
		status = render_volume(&a, &in, path.data, doc);
		kfs_exec_free((struct kfs_exec *)in.exec);
	}
	kfs_node_free(obj_status);
	kfs_buf_free(&input);
	kfs_buf_free(&path);
	return status;
}

static const char promise_help[] =
	"Usage: kratixfs promise --image IMAGE PROMISE_DIR\n"
	"\n"
	"Prints the Promise of PROMISE_DIR (its promise.yaml, or the split layout's parts put\n"
	"together) for Kratix on Kubernetes: every template container (a container folder with\n"
	"templates/) gets image: IMAGE and args naming the container, and loses its command, so\n"
	"that the image's entrypoint (kratixfs render, as `make image` builds it) renders that\n"
	"container on the /kratix volume. Containers that run their own image keep it. Pipe it\n"
	"to kubectl apply -f -.\n"
	"\n"
	"  --image IMAGE  the pipeline image as the cluster pulls it (REGISTRY/NAME:TAG)\n"
	"\n"
	"Exit status: 0 printed, 2 usage error or promise error (a folder that does not load).\n";

/* The container named name, or NULL. */
static const struct kfs_container *find_container(const struct kfs_pipeline *pl, const char *name)
{
	for (size_t i = 0; pl && name && i < pl->ncontainers; i++)
		if (strcmp(pl->containers[i].name, name) == 0)
			return &pl->containers[i];
	return NULL;
}

/* Points one container document (an item of a Pipeline's spec.containers) at image, when the
 * loaded container c is a template container; returns 1 when it did. */
static int point_container(struct kfs_node *doc, const struct kfs_container *c, const char *image)
{
	if (!c || !is_template_container(c) || doc->type != KFS_MAP)
		return 0;
	kfs_map_set(doc, "image", kfs_node_new_str(image));
	kfs_node_free(kfs_map_take(doc, "command"));
	struct kfs_node *args = kfs_node_new(KFS_SEQ);
	kfs_seq_append(args, kfs_node_new_str("--container"));
	kfs_seq_append(args, kfs_node_new_str(c->name));
	kfs_map_set(doc, "args", args);
	return 1;
}

/* Walks spec.workflows.<type>.<action>[].spec.containers[] of p's document, pointing every
 * template container at image. Returns how many it changed. */
static size_t point_promise(struct kfs_promise *p, const char *image)
{
	size_t n = 0;
	for (int t = 0; t < 2; t++)
		for (int ac = 0; ac < 2; ac++) {
			char key[64];
			snprintf(key, sizeof(key), "spec.workflows.%s.%s", kfs_wtype_names[t],
				 kfs_waction_names[ac]);
			struct kfs_node *seq = kfs_node_at(p->doc, key);
			for (size_t i = 0; seq && seq->type == KFS_SEQ && i < seq->len; i++) {
				const struct kfs_pipeline *pl = find_pipeline(
					&p->workflows[t][ac],
					kfs_node_text_at(seq->items[i], "metadata.name"));
				struct kfs_node *cs = kfs_node_at(seq->items[i], "spec.containers");
				for (size_t j = 0; cs && cs->type == KFS_SEQ && j < cs->len; j++) {
					const char *name = kfs_node_text_at(cs->items[j], "name");
					n += point_container(cs->items[j], find_container(pl, name),
							     image);
				}
			}
		}
	return n;
}

/* An image reference the cluster can pull: not empty, no spaces or control characters. */
static bool image_ok(const char *image)
{
	if (!*image)
		return false;
	for (const char *s = image; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

int cmd_promise(int argc, char **argv)
{
	static const struct option opts[] = {
		{"image", required_argument, NULL, 'i'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	const char *image = NULL;
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		if (c == 'i')
			image = optarg;
		else if (c == 'h')
			return cli_common_option("--help", promise_help);
		else if (c == 'V')
			return cli_common_option("--version", promise_help);
		else {
			fputs(promise_help, stderr);
			return EXIT_FAILED;
		}
	}
	if (!image || optind + 1 != argc) {
		cli_errorf("promise: give --image IMAGE and one promise folder (try kratixfs "
			   "promise --help)");
		return EXIT_FAILED;
	}
	if (!image_ok(image)) {
		cli_errorf("promise: --image \"%s\" is not an image reference (REGISTRY/NAME:TAG, "
			   "no spaces)", image);
		return EXIT_FAILED;
	}
	struct kfs_error err = {0};
	struct kfs_promise *p;
	if (kfs_promise_load_dir(argv[optind], &p, &err) < 0) {
		cli_report("promise", &err);
		return EXIT_FAILED;
	}
	if (point_promise(p, image) == 0)
		cli_errorf("warning: %s has no template container: nothing names %s", argv[optind],
			   image);
	struct kfs_buf out = {0};
	kfs_doc_emit(p->doc, &out);
	fwrite(out.data ? out.data : "", 1, out.len, stdout);
	kfs_buf_free(&out);
	kfs_promise_free(p);
	return EXIT_OK;
}
