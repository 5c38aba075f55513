/* `kratixfs init promise`: a new promise folder in the layout kratixfs loads, whose one test
 * case passes from the start: its golden is rendered by the engine, never written by hand. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "kratixfs/files.h"
#include "kratixfs/promise.h"

static const char help[] =
	"Usage: kratixfs init promise NAME --group GROUP --kind KIND [--version VERSION]\n"
	"                             [--dir DIR]\n"
	"\n"
	"Writes a new promise folder (DIR, default ./NAME) in the kratix CLI layout that kratixfs\n"
	"loads: promise.yaml (a CRD for GROUP/VERSION, kind KIND, with one example field),\n"
	"example-resource.yaml, one pipeline container with one template under\n"
	"workflows/resource/configure/, and one test case, test-input/example.yaml, with its\n"
	"golden test-output/example/ rendered by kratixfs. Right after it, `kratixfs test DIR`\n"
	"passes.\n"
	"\n"
	"  NAME       the promise's name: a DNS-1123 label (lower-case letters, digits, '-')\n"
	"  --group    the API group of its requests: a DNS-1123 subdomain with a dot\n"
	"             (example.com)\n"
	"  --kind     the kind of its requests: UpperCamelCase letters and digits (Database)\n"
	"  --version  the API version (default v1alpha1, as the kratix CLI): v1, v1beta2...\n"
	"  --dir      where to write it (default ./NAME); must be missing or empty\n"
	"\n"
	"Exit status: 0 written, 2 usage error or promise error: an invalid name, group, kind or\n"
	"version, a DIR that exists and is not empty, or a folder that could not be written or\n"
	"rendered (then nothing is left behind).\n";

/* A CRD's group: a DNS-1123 subdomain with at least one dot, as the API server demands of a
 * CustomResourceDefinition ("should be a domain with at least one dot"). */
static bool valid_group(const char *g)
{
	return kfs_is_dns_subdomain(g) && strchr(g, '.');
}

/* A kind as Kubernetes writes them, a Go type name: UpperCamelCase, letters and digits only,
 * at most 63 (its lower-case plural names a resource, a DNS-1035 label). */
static bool valid_kind(const char *k)
{
	size_t n = strlen(k);
	if (n == 0 || n > 62 || k[0] < 'A' || k[0] > 'Z')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') ||
		      (k[i] >= '0' && k[i] <= '9')))
			return false;
	return true;
}

/* A version name: a DNS-1035 label (v1, v1alpha1), as the API server requires. */
static bool valid_version(const char *v)
{
	return v[0] >= 'a' && v[0] <= 'z' && kfs_is_dns_label(v);
}

/* True when dir is missing, or an empty folder; false with a message otherwise. */
static bool usable_dir(const char *dir, bool *existed)
{
	struct stat st;
	*existed = false;
	if (stat(dir, &st) != 0) {
		if (errno == ENOENT)
			return true;
		cli_errorf("init: %s: %s", dir, strerror(errno));
		return false;
	}
	if (!S_ISDIR(st.st_mode)) {
		cli_errorf("init: %s exists and is not a folder: choose another NAME or --dir",
			   dir);
		return false;
	}
	DIR *d = opendir(dir);
	if (!d) {
		cli_errorf("init: %s: %s", dir, strerror(errno));
		return false;
	}
	struct dirent *e;
	bool empty = true;
	while (empty && (e = readdir(d)))
		empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
	closedir(d);
	if (!empty) {
		/* Never write into someone's work: a file of theirs could be overwritten. */
		cli_errorf("init: %s exists and is not empty: choose another NAME or --dir", dir);
		return false;
	}
	*existed = true;
	return true;
}

struct names {
	const char *name, *group, *kind, *version;
	char *lower; /* the kind in lower case: singular, and plural with an s */
};

static void promise_yaml(const struct names *n, struct kfs_buf *b)
{
	kfs_buf_printf(
		b,
		"# The %s promise, written by kratixfs init promise, in the kratix CLI layout.\n"
		"# Apply it to a Kratix platform as is; render, test, validate it with kratixfs.\n"
		"apiVersion: platform.kratix.io/v1alpha1\n"
		"kind: Promise\n"
		"metadata:\n"
		"  name: %s\n"
		"  labels:\n"
		"    kratix.io/promise-version: v0.0.1\n"
		"spec:\n"
		"  api:\n"
		"    apiVersion: apiextensions.k8s.io/v1\n"
		"    kind: CustomResourceDefinition\n"
		"    metadata:\n"
		"      name: %ss.%s\n"
		"    spec:\n"
		"      group: %s\n"
		"      names:\n"
		"        kind: %s\n"
		"        plural: %ss\n"
		"        singular: %s\n"
		"      scope: Namespaced\n"
		"      versions:\n"
		"        - name: %s\n"
		"          served: true\n"
		"          storage: true\n"
		"          schema:\n"
		"            openAPIV3Schema:\n"
		"              type: object\n"
		"              properties:\n"
		"                spec:\n"
		"                  type: object\n"
		"                  default: {}\n"
		"                  properties:\n"
		"                    # The example field: rename it, add yours, then run\n"
		"                    # kratixfs test --update on this folder and review the diff.\n"
		"                    message:\n"
		"                      type: string\n"
		"                      description: Written into the rendered ConfigMap.\n"
		"                      maxLength: 256\n"
		"                      default: Hello from %s\n"
		"  workflows:\n"
		"    resource:\n"
		"      configure:\n"
		"        - apiVersion: platform.kratix.io/v1alpha1\n"
		"          kind: Pipeline\n"
		"          metadata:\n"
		"            name: instance-configure\n"
		"          spec:\n"
		"            containers:\n"
		"              # The templates are in workflows/resource/configure/\n"
		"              # instance-configure/configure/; the image holds that folder\n"
		"              # and runs kratixfs render on Kratix's /kratix volume.\n"
		"              - name: configure\n"
		"                image: registry.example.com/%s-configure:v0.0.1\n",
		n->name, n->name, n->lower, n->group, n->group, n->kind, n->lower, n->lower,
		n->version, n->name, n->name);
}

static void request_yaml(const struct names *n, struct kfs_buf *b)
{
	kfs_buf_printf(b,
		       "apiVersion: %s/%s\n"
		       "kind: %s\n"
		       "metadata:\n"
		       "  name: example\n"
		       "  namespace: default\n"
		       "spec:\n"
		       "  message: Hello from example\n",
		       n->group, n->version, n->kind);
}

/* Paths and values only: the part of the language every version of it keeps
 * (docs/templates.md). */
static void template_yaml(const struct names *n, struct kfs_buf *b)
{
	kfs_buf_printf(b,
		       "# Rendered for each %s request (docs/templates.md has the language).\n"
		       "apiVersion: v1\n"
		       "kind: ConfigMap\n"
		       "metadata:\n"
		       "  name: {{ .metadata.name }}\n"
		       "  namespace: {{ .metadata.namespace | quote }}\n"
		       "  labels:\n"
		       "    app.kubernetes.io/name: %s\n"
		       "    app.kubernetes.io/instance: {{ .metadata.name }}\n"
		       "    app.kubernetes.io/managed-by: kratix\n"
		       "data:\n"
		       "  message: {{ .spec.message | quote }}\n",
		       n->kind, n->name);
}

/* The files init writes, relative to the folder; removed again when init fails. */
static const char *const written[] = {"promise.yaml", "example-resource.yaml", "workflows",
				      "test-input", "test-output"};

static int write_promise(const char *dir, const struct names *n, struct kfs_error *err)
{
	struct kfs_buf promise = {0}, request = {0}, tmpl = {0}, rel = {0};
	promise_yaml(n, &promise);
	request_yaml(n, &request);
	template_yaml(n, &tmpl);
	kfs_buf_adds(&rel, "workflows/resource/configure/instance-configure/configure/templates/"
			   "output/configmap.yaml");
	int rc = kfs_write_file(dir, "promise.yaml", promise.data, promise.len, err);
	if (rc == 0)
		rc = kfs_write_file(dir, "example-resource.yaml", request.data, request.len, err);
	if (rc == 0)
		rc = kfs_write_file(dir, rel.data, tmpl.data, tmpl.len, err);
	if (rc == 0)
		rc = kfs_write_file(dir, "test-input/example.yaml", request.data, request.len,
				    err);
	/* The golden comes from the engine, through what `kratixfs test --update` runs: loading
	 * the folder also proves that what was just written is a promise kratixfs reads. */
	struct kfs_promise *p = NULL;
	if (rc == 0)
		rc = kfs_promise_load_dir(dir, &p, err);
	if (rc == 0)
		rc = cli_write_golden(p, dir, "example", err);
	kfs_promise_free(p);
	kfs_buf_free(&promise);
	kfs_buf_free(&request);
	kfs_buf_free(&tmpl);
	kfs_buf_free(&rel);
	return rc;
}

/* Fills n and *dir from init promise's arguments; returns -1 to go on, or the exit status
 * (--help, --version, an error). */
static int parse_init_args(int argc, char **argv, struct names *n, const char **dir)
{
	for (int i = 1; i < argc; i++) {
		static const char *const flags[] = {"--group", "--kind", "--version", "--dir"};
		const char **dest[] = {&n->group, &n->kind, &n->version, dir};
		bool matched = false;
		for (size_t f = 0; f < 4 && !matched; f++) {
			size_t len = strlen(flags[f]);
			if (strcmp(argv[i], flags[f]) == 0) {
				if (i + 1 >= argc) {
					cli_errorf("init: %s needs a value", flags[f]);
					return EXIT_FAILED;
				}
				*dest[f] = argv[++i];
				matched = true;
			} else if (strncmp(argv[i], flags[f], len) == 0 && argv[i][len] == '=') {
				*dest[f] = argv[i] + len + 1;
				matched = true;
			}
		}
		if (matched)
			continue;
		int rc = cli_common_option(argv[i], help);
		if (rc >= 0)
			return rc;
		if (argv[i][0] == '-' || n->name) {
			cli_errorf("init promise: unexpected %s (try kratixfs init --help)",
				   argv[i]);
			return EXIT_FAILED;
		}
		n->name = argv[i];
	}
	if (!n->name || !n->group || !n->kind) {
		cli_errorf("init promise: NAME, --group and --kind are required "
			   "(kratixfs init promise NAME --group example.com --kind Database)");
		return EXIT_FAILED;
	}
	return -1;
}

/* Whether the names are valid for a CRD; says which is not and why. */
static bool valid_names(const struct names *n)
{
	if (!kfs_is_dns_label(n->name)) {
		cli_errorf("init: promise name \"%s\" is not valid: a DNS-1123 label of at most 63 "
			   "lower-case letters, digits and '-', starting and ending with a letter "
			   "or digit (e.g. postgresql)",
			   n->name);
		return false;
	}
	if (!valid_group(n->group)) {
		cli_errorf("init: --group \"%s\" is not valid: a DNS-1123 subdomain with at least "
			   "one dot (lower-case letters, digits, '-' and '.'; e.g. example.com), "
			   "as a CRD's group must be",
			   n->group);
		return false;
	}
	if (!valid_kind(n->kind)) {
		cli_errorf("init: --kind \"%s\" is not valid: a Kubernetes kind is UpperCamelCase, "
			   "a capital letter then letters and digits, at most 62 (e.g. Database)",
			   n->kind);
		return false;
	}
	if (!valid_version(n->version)) {
		cli_errorf("init: --version \"%s\" is not valid: a DNS-1035 label such as v1 or "
			   "v1alpha1",
			   n->version);
		return false;
	}
	return true;
}

/* Leaves nothing half-written behind after a failed init: a rerun would find a non-empty
 * folder. Only what init writes goes from a folder that existed before. */
static void remove_written(const char *dir, bool existed)
{
	struct kfs_error ignored = {0};
	if (!existed) {
		kfs_remove_tree(dir, &ignored);
		return;
	}
	for (size_t i = 0; i < sizeof(written) / sizeof(written[0]); i++) {
		struct kfs_buf path = {0};
		kfs_buf_printf(&path, "%s/%s", dir, written[i]);
		if (unlink(path.data) != 0)
			kfs_remove_tree(path.data, &ignored);
		kfs_buf_free(&path);
	}
}

static int init_promise(int argc, char **argv)
{
	struct names n = {.version = "v1alpha1"};
	const char *dir = NULL;
	int status = parse_init_args(argc, argv, &n, &dir);
	if (status >= 0)
		return status;
	if (!valid_names(&n))
		return EXIT_FAILED;
	if (!dir)
		dir = n.name;
	bool existed;
	if (!usable_dir(dir, &existed))
		return EXIT_FAILED;
	n.lower = kfs_xstrdup(n.kind);
	for (char *c = n.lower; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	struct kfs_error err = {0};
	status = EXIT_OK;
	if (write_promise(dir, &n, &err) < 0) {
		cli_report("init", &err);
		remove_written(dir, existed);
		status = EXIT_FAILED;
	} else {
		printf("%s: promise %s (%s, %s/%s) written, with test case \"example\"\n"
		       "next: kratixfs test %s\n",
		       dir, n.name, n.kind, n.group, n.version, dir);
	}
	free(n.lower);
	return status;
}

int cmd_init(int argc, char **argv)
{
	if (argc < 2) {
		fputs(help, stderr);
		return EXIT_FAILED;
	}
	if (strcmp(argv[1], "promise") == 0)
		return init_promise(argc - 1, argv + 1);
	int rc = cli_common_option(argv[1], help);
	if (rc >= 0)
		return rc;
	cli_errorf("init: unknown kind of thing to create \"%s\" (kratixfs init promise NAME ...)",
		   argv[1]);
	return EXIT_FAILED;
}
