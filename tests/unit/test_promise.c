#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kratixfs/promise.h"
#include "testutil.h"

#define PROMISE_HEAD                                                                               \
	"apiVersion: platform.kratix.io/v1alpha1\n"                                                \
	"kind: Promise\n"                                                                          \
	"metadata:\n"                                                                              \
	"  name: cache\n"                                                                          \
	"  labels: {kratix.io/promise-version: v1.2.3}\n"                                          \
	"spec:\n"                                                                                  \
	"  dependencies:\n"                                                                        \
	"    - {apiVersion: v1, kind: Namespace, metadata: {name: cache-system}}\n"                \
	"  api:\n"                                                                                 \
	"    apiVersion: apiextensions.k8s.io/v1\n"                                                \
	"    kind: CustomResourceDefinition\n"                                                     \
	"    spec:\n"                                                                              \
	"      group: example.org\n"                                                               \
	"      names: {kind: cache, plural: caches}\n"                                             \
	"      scope: Namespaced\n"                                                                \
	"      versions:\n"                                                                        \
	"        - name: v1\n"                                                                     \
	"          served: true\n"                                                                 \
	"          schema:\n"                                                                      \
	"            openAPIV3Schema:\n"                                                           \
	"              type: object\n"                                                             \
	"              properties:\n"                                                              \
	"                spec:\n"                                                                  \
	"                  type: object\n"                                                         \
	"                  properties:\n"                                                          \
	"                    size: {type: string, enum: [s, m], default: s}\n"                     \
	"        - name: v0\n"                                                                     \
	"          served: false\n"

#define WORKFLOWS                                                                                  \
	"  workflows:\n"                                                                           \
	"    resource:\n"                                                                          \
	"      configure:\n"                                                                       \
	"        - apiVersion: platform.kratix.io/v1alpha1\n"                                      \
	"          kind: Pipeline\n"                                                               \
	"          metadata: {name: instance}\n"                                                   \
	"          spec: {containers: [{name: render, image: x}]}\n"

static void test_load_dir(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	tu_write(dir, "cache/promise.yaml", PROMISE_HEAD WORKFLOWS);
	tu_write(dir, "cache/workflows/resource/configure/instance/render/templates/output/b/x.yaml",
		 "size: {{ .spec.size }}\n");
	tu_write(dir, "cache/workflows/resource/configure/instance/render/templates/output/a.yaml",
		 "name: {{ .metadata.name }}\n");
	tu_write(dir,
		 "cache/workflows/resource/configure/instance/render/templates/metadata/status.yaml",
		 "message: ok\n");
	struct kfs_promise *p;
	struct kfs_error err = {0};
	char path[512];
	snprintf(path, sizeof(path), "%s/cache", dir);
	if (kfs_promise_load_dir(path, &p, &err) != 0)
		fail_msg("%s", err.msg);
	assert_string_equal(p->name, "cache");
	assert_string_equal(p->version, "v1.2.3");
	assert_string_equal(p->kind, "cache");
	assert_string_equal(p->group, "example.org");
	assert_int_equal(p->nversions, 2);
	const struct kfs_workflow *wf = &p->workflows[KFS_WF_RESOURCE][KFS_WF_CONFIGURE];
	assert_int_equal(wf->npipelines, 1);
	assert_string_equal(wf->pipelines[0].name, "instance");
	const struct kfs_container *c = &wf->pipelines[0].containers[0];
	assert_int_equal(c->noutputs, 2);
	assert_string_equal(c->outputs[0].path, "a.yaml");
	assert_string_equal(c->outputs[1].path, "b/x.yaml");
	assert_non_null(c->status);
	assert_null(c->selectors);
	assert_contains(p->dependencies, "kind: Namespace");
	assert_contains(p->dependencies, "name: cache-system");
	kfs_promise_free(p);
	tu_rmdir(dir);
}

static void test_missing_container_folder(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	/* Without an image: (a container with one and no folder runs from the image). */
	tu_write(dir, "promise.yaml",
		 PROMISE_HEAD "  workflows:\n    resource:\n      configure:\n"
			      "        - apiVersion: platform.kratix.io/v1alpha1\n"
			      "          kind: Pipeline\n          metadata: {name: instance}\n"
			      "          spec: {containers: [{name: render}]}\n");
	struct kfs_promise *p;
	struct kfs_error err = {0};
	assert_int_equal(kfs_promise_load_dir(dir, &p, &err), -EINVAL);
	assert_null(p);
	assert_contains(err.msg, "workflows/resource/configure/instance/render");
	assert_contains(err.msg, "neither templates/ nor scripts/pipeline.sh");
	tu_rmdir(dir);
}

static void test_not_a_promise(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	tu_write(dir, "promise.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n");
	struct kfs_promise *p;
	struct kfs_error err = {0};
	assert_int_equal(kfs_promise_load_dir(dir, &p, &err), -EINVAL);
	assert_contains(err.msg, "promise.yaml: not a Kratix Promise");
	tu_rmdir(dir);
}

static struct kfs_node *parse(const char *text)
{
	struct kfs_node *n;
	struct kfs_error err = {0};
	if (kfs_doc_parse(text, strlen(text), "r.yaml", &n, &err) != 0)
		fail_msg("%s", err.msg);
	return n;
}

static void test_admit(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	tu_write(dir, "promise.yaml", PROMISE_HEAD);
	char path[512];
	snprintf(path, sizeof(path), "%s/promise.yaml", dir);
	struct kfs_promise *p;
	struct kfs_error err = {0};
	assert_int_equal(kfs_promise_load_file(path, &p, &err), 0);

	/* Defaults and namespace are filled. */
	struct kfs_node *r =
		parse("apiVersion: example.org/v1\nkind: cache\nmetadata: {name: c1}\nspec: {}\n");
	assert_true(kfs_promise_serves(p, r));
	assert_int_equal(kfs_promise_admit(p, r, NULL, &err), 0);
	assert_string_equal(kfs_node_text_at(r, "spec.size"), "s");
	assert_string_equal(kfs_node_text_at(r, "metadata.namespace"), "default");
	kfs_node_free(r);

	/* An unserved version names the served ones. */
	r = parse("apiVersion: example.org/v0\nkind: cache\nmetadata: {name: c1}\n");
	assert_int_equal(kfs_promise_admit(p, r, NULL, &err), -EINVAL);
	assert_contains(err.msg, "served: example.org/v1");
	kfs_node_free(r);

	/* Every problem is listed: bad name and bad enum together. */
	kfs_error_clear(&err);
	r = parse("apiVersion: example.org/v1\nkind: cache\nmetadata: {name: Bad_Name}\n"
		  "spec: {size: xl}\n");
	assert_int_equal(kfs_promise_admit(p, r, NULL, &err), -EINVAL);
	assert_contains(err.msg, "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 "
				 "subdomain must consist of lower case alphanumeric characters");
	assert_contains(err.msg, "spec.size");
	kfs_node_free(r);

	kfs_error_clear(&err);
	r = parse("apiVersion: other.org/v1\nkind: cache\nmetadata: {name: c}\n");
	assert_false(kfs_promise_serves(p, r));
	assert_int_equal(kfs_promise_admit(p, r, NULL, &err), -EINVAL);
	assert_contains(err.msg, "is not served by promise cache");
	kfs_node_free(r);

	/* Kinds are case-sensitive, as in the API server. */
	kfs_error_clear(&err);
	r = parse("apiVersion: example.org/v1\nkind: Cache\nmetadata: {name: c}\n");
	assert_false(kfs_promise_serves(p, r));
	assert_int_equal(kfs_promise_admit(p, r, NULL, &err), -EINVAL);
	assert_string_equal(err.msg, "kind: Invalid value: \"Cache\": kinds are case-sensitive; "
				     "promise cache serves cache");
	kfs_node_free(r);
	kfs_promise_free(p);
	tu_rmdir(dir);
}

static void test_set_match(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	tu_write(dir, "cache/promise.yaml", PROMISE_HEAD);
	tu_write(dir, "broken/promise.yaml", "kind: [\n");
	tu_write(dir, "notes/README", "not a promise folder\n");
	struct kfs_promise_set set;
	struct kfs_error err = {0};
	assert_int_equal(kfs_promise_set_load(dir, &set, &err), 0);
	assert_int_equal(set.n, 1);
	assert_contains(err.msg, "broken/promise.yaml");
	struct kfs_node *r = parse("apiVersion: example.org/v1\nkind: cache\nmetadata: {name: c}\n");
	assert_ptr_equal(kfs_promise_set_match(&set, r, &err), set.items[0]);
	kfs_node_free(r);
	r = parse("apiVersion: example.org/v1\nkind: CACHE\nmetadata: {name: c}\n");
	assert_null(kfs_promise_set_match(&set, r, &err));
	assert_contains(err.msg, "(kinds are case-sensitive: did you mean cache?)");
	kfs_node_free(r);
	r = parse("apiVersion: example.org/v1\nkind: Queue\nmetadata: {name: c}\n");
	assert_null(kfs_promise_set_match(&set, r, &err));
	assert_contains(err.msg, "kinds served: cache (example.org)");
	kfs_node_free(r);
	assert_ptr_equal(kfs_promise_set_find(&set, "cache"), set.items[0]);
	assert_null(kfs_promise_set_find(&set, "nope"));
	kfs_promise_set_free(&set);
	tu_rmdir(dir);
}

static void test_dns_label(void **state)
{
	(void)state;
	assert_true(kfs_is_dns_label("my-db"));
	assert_true(kfs_is_dns_label("a"));
	assert_false(kfs_is_dns_label("-a"));
	assert_false(kfs_is_dns_label("a-"));
	assert_false(kfs_is_dns_label("A"));
	assert_false(kfs_is_dns_label("a.b"));
	assert_false(kfs_is_dns_label(""));
	assert_false(kfs_is_dns_label("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	assert_true(kfs_is_dns_subdomain("a.b-c.0"));
	assert_false(kfs_is_dns_subdomain("a..b"));
	assert_false(kfs_is_dns_subdomain("a.-b"));
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* Admits a request whose metadata is the flow map meta; returns admit's code, err filled. */
static int admit_meta(const struct kfs_promise *p, const char *meta, struct kfs_error *err)
{
	size_t len = strlen(meta) + 128;
	char *yaml = malloc(len);
	snprintf(yaml, len, "apiVersion: example.org/v1\nkind: cache\nmetadata: %s\n", meta);
	struct kfs_node *r = parse(yaml);
	kfs_error_clear(err);
	int rc = kfs_promise_admit(p, r, NULL, err);
	kfs_node_free(r);
	free(yaml);
	return rc;
}

/* metadata.namespace is a DNS-1123 label and metadata.name a DNS-1123 subdomain, checked with
 * the API server's rules and words. */
static void test_names(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	tu_write(dir, "promise.yaml", PROMISE_HEAD);
	char path[512], meta[600];
	snprintf(path, sizeof(path), "%s/promise.yaml", dir);
	struct kfs_promise *p;
	struct kfs_error err = {0};
	assert_int_equal(kfs_promise_load_file(path, &p, &err), 0);

	static const char *const bad_ns[] = {"a/b",	    "..",	   ".git",     "",
					     "UPPER_case", "{{ x }}",	   "-a",       "a-",
					     "a.b",	    "a b",	   "ns\\u2028x", "é"};
	for (size_t i = 0; i < sizeof(bad_ns) / sizeof(bad_ns[0]); i++) {
		snprintf(meta, sizeof(meta), "{name: c, namespace: \"%s\"}", bad_ns[i]);
		assert_int_equal(admit_meta(p, meta, &err), -EINVAL);
		assert_contains(err.msg, "metadata.namespace: Invalid value: \"");
		assert_contains(err.msg, "\": a lowercase RFC 1123 label must consist of lower case "
					 "alphanumeric characters or '-', and must start and end "
					 "with an alphanumeric character");
		assert_null(strchr(err.msg, '\n')); /* one problem, one line */
	}
	static const char *const bad_name[] = {"a/b", "..", ".git", "", "UPPER_case", "{{ x }}",
					       "-a", "a.", ".a", "a..b", "a_b", "a%2fb"};
	for (size_t i = 0; i < sizeof(bad_name) / sizeof(bad_name[0]); i++) {
		snprintf(meta, sizeof(meta), "{name: \"%s\", namespace: ok}", bad_name[i]);
		assert_int_equal(admit_meta(p, meta, &err), -EINVAL);
		assert_contains(err.msg, "metadata.name: Invalid value: \"");
		assert_contains(err.msg, "a lowercase RFC 1123 subdomain must consist of");
	}
	/* The bounds: 63 for a namespace, 253 for a name, each reported as Kubernetes does. */
	char *l63 = repeat('n', 63), *l64 = repeat('n', 64);
	char *n253 = repeat('a', 253), *n254 = repeat('a', 254);
	n253[100] = '.';
	snprintf(meta, sizeof(meta), "{name: \"%s\", namespace: %s}", n253, l63);
	assert_int_equal(admit_meta(p, meta, &err), 0);
	snprintf(meta, sizeof(meta), "{name: c, namespace: %s}", l64);
	assert_int_equal(admit_meta(p, meta, &err), -EINVAL);
	assert_contains(err.msg, "metadata.namespace: Invalid value: \"nnnn");
	assert_contains(err.msg, "\": must be no more than 63 characters");
	assert_null(strstr(err.msg, "RFC 1123")); /* the form is right, only the length is not */
	snprintf(meta, sizeof(meta), "{name: %s}", n254);
	assert_int_equal(admit_meta(p, meta, &err), -EINVAL);
	assert_contains(err.msg, "metadata.name: Invalid value: \"aaaa");
	assert_contains(err.msg, "\"...: must be no more than 253 characters");
	/* Good edge cases: digits first, '-' and '.' inside, a part longer than 63. */
	static const char *const good[] = {"{name: 0abc, namespace: 9-9}",
					   "{name: a-b.c-d, namespace: a--b}",
					   "{name: \"123\", namespace: \"123\"}", "{name: x}"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (admit_meta(p, good[i], &err) != 0)
			fail_msg("%s refused: %s", good[i], err.msg);
	}
	snprintf(meta, sizeof(meta), "{name: %s.x}", l64);
	assert_int_equal(admit_meta(p, meta, &err), 0);
	/* Types: a name or namespace that YAML reads as a number or a map is not a string. */
	assert_int_equal(admit_meta(p, "{name: 123}", &err), -EINVAL);
	assert_string_equal(err.msg, "metadata.name: Invalid value: 123: must be a string (quote it)");
	assert_int_equal(admit_meta(p, "{name: c, namespace: [a]}", &err), -EINVAL);
	assert_contains(err.msg, "metadata.namespace: Invalid value: array: must be a string");
	assert_int_equal(admit_meta(p, "x", &err), -EINVAL);
	assert_string_equal(err.msg, "metadata: must be an object, got string");
	assert_int_equal(admit_meta(p, "{name: c, namespace: null}", &err), 0);
	/* Labels and annotations: qualified keys, string values; label values short and plain. */
	assert_int_equal(admit_meta(p, "{name: c, labels: {app.kubernetes.io/name: pg, t: \"\"}, "
				       "annotations: {x/y: \"any\\u2028text: 1\"}}", &err), 0);
	assert_int_equal(admit_meta(p, "{name: c, labels: {team: \"a\\u2028b\"}}", &err), -EINVAL);
	assert_contains(err.msg, "metadata.labels: Invalid value: \"a");
	assert_contains(err.msg, "a valid label must be an empty string or consist of alphanumeric");
	assert_int_equal(admit_meta(p, "{name: c, labels: {Bad/x: y}}", &err), -EINVAL);
	assert_contains(err.msg, "metadata.labels: Invalid value: \"Bad/x\": prefix part a "
				 "lowercase RFC 1123 subdomain");
	assert_int_equal(admit_meta(p, "{name: c, labels: {a: 1}}", &err), -EINVAL);
	assert_string_equal(err.msg, "metadata.labels.a: Invalid value: 1: must be a string (quote it)");
	assert_int_equal(admit_meta(p, "{name: c, annotations: {\"-x\": y}}", &err), -EINVAL);
	assert_contains(err.msg, "metadata.annotations: Invalid value: \"-x\": name part must");
	snprintf(meta, sizeof(meta), "{name: c, labels: {a: %s}}", l64);
	assert_int_equal(admit_meta(p, meta, &err), -EINVAL);
	assert_contains(err.msg, "must be no more than 63 characters");
	/* A metadata field ObjectMeta does not have is warned of, with the schema's pruned ones. */
	struct kfs_node *r = parse("apiVersion: example.org/v1\nkind: cache\n"
				   "metadata: {name: c, namepsace: x, labels: {a: b}}\n"
				   "spec: {sise: m}\n");
	struct kfs_buf w = {0};
	assert_int_equal(kfs_promise_admit(p, r, &w, &err), 0);
	assert_string_equal(w.data, "unknown field \"metadata.namepsace\"\n"
				    "unknown field \"spec.sise\"\n");
	assert_string_equal(kfs_node_text_at(r, "metadata.namespace"), "default");
	kfs_buf_free(&w);
	kfs_node_free(r);
	free(l63);
	free(l64);
	free(n253);
	free(n254);
	kfs_promise_free(p);
	tu_rmdir(dir);
}

/* A promise folder publishes only what is in it: a template that links out of its folder (to a
 * file the daemon can read, as root: /etc/passwd) or a FIFO (which would hang the load) fails the
 * load, naming the file; a link to a file inside the folder is read. */
static void test_links_out_refused(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	const char *out = "cache/workflows/resource/configure/instance/render/templates/output";
	tu_write(dir, "cache/promise.yaml", PROMISE_HEAD WORKFLOWS);
	char t[512], l[600], path[512];
	snprintf(t, sizeof(t), "%s/%s", dir, out);
	tu_write(dir, "cache/workflows/resource/configure/instance/render/templates/output/a.yaml",
		 "name: {{ .metadata.name }}\n");
	snprintf(l, sizeof(l), "%s/b.yaml", t);
	assert_int_equal(symlink("a.yaml", l), 0);
	snprintf(path, sizeof(path), "%s/cache", dir);
	struct kfs_promise *p;
	struct kfs_error err = {0};
	if (kfs_promise_load_dir(path, &p, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(p->workflows[KFS_WF_RESOURCE][KFS_WF_CONFIGURE].pipelines[0]
			     .containers[0]
			     .noutputs,
			 2);
	kfs_promise_free(p);
	snprintf(l, sizeof(l), "%s/passwd.yaml", t);
	assert_int_equal(symlink("/etc/passwd", l), 0);
	assert_int_equal(kfs_promise_load_dir(path, &p, &err), -EPERM);
	assert_contains(err.msg, "passwd.yaml: a symbolic link out of its folder");
	unlink(l);
	snprintf(l, sizeof(l), "%s/fifo.yaml", t);
	assert_int_equal(mkfifo(l, 0600), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(kfs_promise_load_dir(path, &p, &err), -EPERM);
	assert_contains(err.msg, "fifo.yaml: not a regular file");
	tu_rmdir(dir);
}

/* The kratix CLI's --split layout, as `kratix init promise --split` and `kratix add container`
 * write it: the CRD alone, the dependency list, one Pipeline list per workflow. */
#define SPLIT_API                                                                                  \
	"apiVersion: apiextensions.k8s.io/v1\n"                                                    \
	"kind: CustomResourceDefinition\n"                                                         \
	"spec:\n"                                                                                  \
	"  group: example.org\n"                                                                   \
	"  names: {kind: cache, plural: caches}\n"                                                 \
	"  scope: Namespaced\n"                                                                    \
	"  versions:\n"                                                                            \
	"    - name: v1\n"                                                                         \
	"      served: true\n"                                                                     \
	"      schema:\n"                                                                          \
	"        openAPIV3Schema:\n"                                                               \
	"          type: object\n"                                                                 \
	"          properties:\n"                                                                  \
	"            spec:\n"                                                                      \
	"              type: object\n"                                                             \
	"              properties:\n"                                                              \
	"                size: {type: string, enum: [s, m], default: s}\n"
#define SPLIT_PIPELINE(name)                                                                       \
	"- apiVersion: platform.kratix.io/v1alpha1\n"                                              \
	"  kind: Pipeline\n"                                                                       \
	"  metadata: {name: " name "}\n"                                                           \
	"  spec: {containers: [{name: render, image: x}]}\n"

#define SPLIT_DELETE                                                                               \
	"resource:\n"                                                                              \
	"  delete:\n"                                                                              \
	"    - {apiVersion: platform.kratix.io/v1alpha1, kind: Pipeline,\n"                        \
	"       metadata: {name: del}, spec: {containers: [{name: render, image: x}]}}\n"

static void write_split(const char *dir)
{
	tu_write(dir, "cache/api.yaml", SPLIT_API);
	tu_write(dir, "cache/dependencies.yaml",
		 "- {apiVersion: v1, kind: Namespace, metadata: {name: cache-system}}\n");
	tu_write(dir, "cache/workflows/resource/configure/workflow.yaml",
		 SPLIT_PIPELINE("instance"));
	/* A second file of the same workflow runs after it (sorted by name). */
	tu_write(dir, "cache/workflows/resource/configure/zz-more.yaml", SPLIT_PIPELINE("more"));
	/* A file directly in workflows/ holds the workflows map itself. */
	tu_write(dir, "cache/workflows/delete.yaml", SPLIT_DELETE);
	const char *pl[] = {"instance", "more", "del"};
	const char *wf[] = {"configure", "configure", "delete"};
	for (int i = 0; i < 3; i++) {
		char rel[256];
		snprintf(rel, sizeof(rel),
			 "cache/workflows/resource/%s/%s/render/templates/output/a.yaml", wf[i],
			 pl[i]);
		tu_write(dir, rel, "name: {{ .metadata.name }}\n");
	}
}

/* A split folder loads as the promise.yaml holding the same parts would: same document, so
 * the same name, CRD, dependencies and workflows. */
static void test_split_layout(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	write_split(dir);
	struct kfs_promise *p;
	struct kfs_error err = {0};
	char path[512];
	snprintf(path, sizeof(path), "%s/cache", dir);
	if (kfs_promise_load_dir(path, &p, &err) != 0)
		fail_msg("%s", err.msg);
	assert_string_equal(p->name, "cache");
	assert_string_equal(p->version, "");
	assert_string_equal(p->kind, "cache");
	assert_string_equal(p->group, "example.org");
	assert_contains(p->dependencies, "name: cache-system");
	const struct kfs_workflow *wf = &p->workflows[KFS_WF_RESOURCE][KFS_WF_CONFIGURE];
	assert_int_equal(wf->npipelines, 2);
	assert_string_equal(wf->pipelines[0].name, "instance");
	assert_string_equal(wf->pipelines[1].name, "more");
	assert_int_equal(wf->pipelines[0].containers[0].noutputs, 1);
	wf = &p->workflows[KFS_WF_RESOURCE][KFS_WF_DELETE];
	assert_int_equal(wf->npipelines, 1);
	assert_string_equal(wf->pipelines[0].name, "del");

	/* The promise.yaml of the same parts, in another folder of the same name. */
	tu_write(dir, "whole/cache/promise.yaml",
		 "apiVersion: platform.kratix.io/v1alpha1\nkind: Promise\nmetadata: {name: cache}\n"
		 "spec:\n"
		 "  api: {apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition,\n"
		 "    spec: {group: example.org, names: {kind: cache, plural: caches},\n"
		 "      scope: Namespaced, versions: [{name: v1, served: true, schema:\n"
		 "        {openAPIV3Schema: {type: object, properties: {spec: {type: object,\n"
		 "          properties: {size: {type: string, enum: [s, m], default: s}}}}}}}]}}\n"
		 "  dependencies:\n"
		 "    - {apiVersion: v1, kind: Namespace, metadata: {name: cache-system}}\n"
		 "  workflows:\n"
		 "    resource:\n"
		 "      configure:\n"
		 "        - {apiVersion: platform.kratix.io/v1alpha1, kind: Pipeline,\n"
		 "           metadata: {name: instance},\n"
		 "           spec: {containers: [{name: render, image: x}]}}\n"
		 "        - {apiVersion: platform.kratix.io/v1alpha1, kind: Pipeline,\n"
		 "           metadata: {name: more},\n"
		 "           spec: {containers: [{name: render, image: x}]}}\n"
		 "      delete:\n"
		 "        - {apiVersion: platform.kratix.io/v1alpha1, kind: Pipeline,\n"
		 "           metadata: {name: del},\n"
		 "           spec: {containers: [{name: render, image: x}]}}\n");
	struct kfs_promise *whole;
	snprintf(path, sizeof(path), "%s/whole/cache/promise.yaml", dir);
	if (kfs_promise_load_file(path, &whole, &err) != 0)
		fail_msg("%s", err.msg);
	struct kfs_buf a = {0}, b = {0};
	kfs_doc_emit(p->doc, &a);
	kfs_doc_emit(whole->doc, &b);
	assert_string_equal(a.data, b.data);
	kfs_buf_free(&a);
	kfs_buf_free(&b);
	kfs_promise_free(whole);
	kfs_promise_free(p);

	/* validate's loader reads api.yaml as its folder; the promises folder finds it too. */
	snprintf(path, sizeof(path), "%s/cache/api.yaml", dir);
	if (kfs_promise_load_file(path, &p, &err) != 0)
		fail_msg("%s", err.msg);
	assert_string_equal(p->name, "cache");
	assert_int_equal(p->nversions, 1);
	kfs_promise_free(p);
	struct kfs_promise_set set;
	assert_int_equal(kfs_promise_set_load(dir, &set, &err), 0);
	assert_int_equal(set.n, 1);
	assert_string_equal(set.items[0]->name, "cache");
	assert_non_null(set.items[0]->dir);
	kfs_promise_set_free(&set);
	tu_rmdir(dir);
}

static void expect_load_error(const char *dir, const char *sub, const char *msg)
{
	struct kfs_promise *p;
	struct kfs_error err = {0};
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	assert_int_equal(kfs_promise_load_dir(path, &p, &err), -EINVAL);
	assert_null(p);
	assert_contains(err.msg, msg);
}

static void test_split_errors(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	write_split(dir);
	/* Both layouts in one folder: either file could be the stale one. */
	tu_write(dir, "cache/promise.yaml", PROMISE_HEAD WORKFLOWS);
	expect_load_error(dir, "cache", "holds both promise.yaml and api.yaml");
	struct kfs_promise *p;
	struct kfs_error err = {0};
	char path[512];
	snprintf(path, sizeof(path), "%s/cache/promise.yaml", dir);
	assert_int_equal(kfs_promise_load_file(path, &p, &err), -EINVAL);
	assert_contains(err.msg, "holds both promise.yaml and api.yaml");
	unlink(path);

	tu_write(dir, "cache/workflows/resource/configure/workflow.yaml", "not-a-list\n");
	expect_load_error(dir, "cache", "workflows/resource/configure/workflow.yaml:1: must be a "
					"list of Pipelines, not string");
	tu_write(dir, "cache/workflows/resource/configure/workflow.yaml",
		 "- {metadata: {name: x}}\n");
	expect_load_error(dir, "cache", "workflow.yaml:1: pipeline[0] needs metadata.name and "
					"spec.containers");
	tu_write(dir, "cache/workflows/resource/configure/workflow.yaml",
		 SPLIT_PIPELINE("instance"));
	tu_write(dir, "cache/workflows/delete.yaml", "resources: {}\n");
	expect_load_error(dir, "cache", "delete.yaml:1: resources: expected promise or resource");
	tu_write(dir, "cache/workflows/delete.yaml", SPLIT_DELETE);
	tu_write(dir, "cache/api.yaml", SPLIT_API "---\n" SPLIT_API);
	expect_load_error(dir, "cache", "api.yaml: must hold one CustomResourceDefinition");
	tu_write(dir, "cache/api.yaml", "kind: CustomResourceDefinition\nspec: {group: a.b}\n");
	expect_load_error(dir, "cache", "api.yaml: spec.group and spec.names.kind are required");
	/* The folder names the promise, so it must be a valid promise name. */
	tu_write(dir, "Bad_Name/api.yaml", SPLIT_API);
	expect_load_error(dir, "Bad_Name", "\"Bad_Name\" is not a DNS-1123 label");
	tu_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_dir),   cmocka_unit_test(test_missing_container_folder),
		cmocka_unit_test(test_not_a_promise), cmocka_unit_test(test_admit),
		cmocka_unit_test(test_set_match),  cmocka_unit_test(test_dns_label),
		cmocka_unit_test(test_names),      cmocka_unit_test(test_links_out_refused),
		cmocka_unit_test(test_split_layout), cmocka_unit_test(test_split_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
