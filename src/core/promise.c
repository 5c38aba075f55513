/* Loading promises (a promise folder in the kratix CLI layout, or a bare promise.yaml) and
 * admitting the requests they serve. */
#include "kratixfs/promise.h"

#include "kratixfs/files.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const kfs_wtype_names[2] = {"promise", "resource"};
const char *const kfs_waction_names[2] = {"configure", "delete"};

/* ---------- small helpers ---------- */

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static char *path_join(const char *a, const char *b)
{
	struct kfs_buf p = {0};
	kfs_buf_printf(&p, "%s/%s", a, b);
	return kfs_buf_steal(&p);
}

/* The form of a DNS-1123 label (dots not allowed) or subdomain (dot-separated labels), without
 * the length bound: Kubernetes reports the two separately. */
static bool dns_form(const char *s, bool label)
{
	size_t n = strlen(s);
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		bool edge = i == 0 || i == n - 1 || s[i - 1] == '.' || s[i + 1] == '.';
		if (!alnum && !((c == '-' || (c == '.' && !label)) && !edge))
			return false;
	}
	return true;
}

bool kfs_is_dns_label(const char *s)
{
	return strlen(s) <= 63 && dns_form(s, true);
}

bool kfs_is_dns_subdomain(const char *s)
{
	return strlen(s) <= 253 && dns_form(s, false);
}

/* ---------- the Promise document ---------- */

/* at is how messages name the CRD's place: "spec.api." in a promise.yaml, "" in an api.yaml. */
static int load_crd(struct kfs_promise *p, const struct kfs_node *api, const char *file,
		    const char *at, struct kfs_error *err)
{
	const struct kfs_node *spec = kfs_map_get(api, "spec");
	const char *group = kfs_node_text_at(spec, "group");
	const char *kind = kfs_node_text_at(spec, "names.kind");
	const char *plural = kfs_node_text_at(spec, "names.plural");
	if (!group || !kind)
		return kfs_error_set(err, -EINVAL,
				     "%s: %sspec.group and %sspec.names.kind are required (the "
				     "CRD of the requests this promise serves)",
				     file, at, at);
	p->group = kfs_xstrdup(group);
	p->kind = kfs_xstrdup(kind);
	p->plural = kfs_xstrdup(plural ? plural : "");
	const char *scope = kfs_node_text_at(spec, "scope");
	p->cluster_scoped = scope && strcmp(scope, "Cluster") == 0;
	const struct kfs_node *versions = kfs_map_get(spec, "versions");
	if (!versions || versions->type != KFS_SEQ || versions->len == 0)
		return kfs_error_set(err, -EINVAL,
				     "%s: %sspec.versions must list at least one version", file,
				     at);
	p->versions = kfs_xcalloc(versions->len, sizeof(*p->versions));
	for (size_t i = 0; i < versions->len; i++) {
		const struct kfs_node *v = versions->items[i];
		struct kfs_crd_version *cv = &p->versions[p->nversions];
		const char *name = kfs_node_text_at(v, "name");
		if (!name)
			return kfs_error_set(err, -EINVAL,
					     "%s:%d: %sspec.versions[%zu].name is required", file,
					     v->line, at, i);
		cv->name = kfs_xstrdup(name);
		const struct kfs_node *served = kfs_map_get(v, "served");
		cv->served = !served || kfs_node_truthy(served);
		p->nversions++;
		const struct kfs_node *schema = kfs_node_at(v, "schema.openAPIV3Schema");
		if (!schema)
			continue;
		int rc = kfs_schema_compile(schema, &p->warnings, &cv->schema, err);
		if (rc < 0) {
			kfs_error_prefix(err, "%s: version %s", file, name);
			return rc;
		}
	}
	return 0;
}

/* Appends the Pipelines of list to wf, or only checks them when wf is NULL. file and where
 * place the list for messages: "promise.yaml" and "spec.workflows.resource.configure", or a
 * split layout's workflow file and "" (the file holds nothing else). */
static int add_pipelines(struct kfs_workflow *wf, const struct kfs_node *list, const char *file,
			 const char *where, struct kfs_error *err)
{
	if (list->type != KFS_SEQ)
		return kfs_error_set(err, -EINVAL, "%s:%d: %s must be a list of Pipelines", file,
				     list->line, *where ? where : "the file");
	if (wf)
		wf->pipelines = kfs_xrealloc(wf->pipelines, (wf->npipelines + list->len) *
								    sizeof(*wf->pipelines));
	for (size_t i = 0; i < list->len; i++) {
		const struct kfs_node *pl = list->items[i];
		const char *name = kfs_node_text_at(pl, "metadata.name");
		const struct kfs_node *cs = kfs_node_at(pl, "spec.containers");
		if (!name || !cs || cs->type != KFS_SEQ)
			return kfs_error_set(err, -EINVAL,
					     "%s:%d: %s%s[%zu] needs metadata.name and "
					     "spec.containers",
					     file, pl->line, where, *where ? "" : "pipeline", i);
		for (size_t c = 0; c < cs->len; c++)
			if (!kfs_node_text_at(cs->items[c], "name"))
				return kfs_error_set(err, -EINVAL,
						     "%s:%d: pipeline %s: container %zu has "
						     "no name",
						     file, cs->items[c]->line, name, c);
		if (!wf)
			continue;
		struct kfs_pipeline *pipe = &wf->pipelines[wf->npipelines++];
		memset(pipe, 0, sizeof(*pipe));
		pipe->name = kfs_xstrdup(name);
		pipe->containers = kfs_xcalloc(cs->len, sizeof(*pipe->containers));
		for (size_t c = 0; c < cs->len; c++)
			pipe->containers[pipe->ncontainers++].name =
				kfs_xstrdup(kfs_node_text_at(cs->items[c], "name"));
	}
	return 0;
}

static int load_workflow_names(struct kfs_promise *p, const char *file, struct kfs_error *err)
{
	const struct kfs_node *wfs = kfs_node_at(p->doc, "spec.workflows");
	for (int t = 0; t < 2; t++) {
		for (int a = 0; a < 2; a++) {
			const struct kfs_node *list =
				kfs_map_get(kfs_map_get(wfs, kfs_wtype_names[t]), kfs_waction_names[a]);
			if (!list)
				continue;
			struct kfs_buf where = {0};
			kfs_buf_printf(&where, "spec.workflows.%s.%s", kfs_wtype_names[t],
				       kfs_waction_names[a]);
			int rc = add_pipelines(&p->workflows[t][a], list, file, where.data, err);
			kfs_buf_free(&where);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static void load_dependencies(struct kfs_promise *p)
{
	const struct kfs_node *deps = kfs_node_at(p->doc, "spec.dependencies");
	if (!deps || deps->type != KFS_SEQ || deps->len == 0)
		return;
	struct kfs_buf b = {0};
	for (size_t i = 0; i < deps->len; i++) {
		if (i > 0)
			kfs_buf_adds(&b, "---\n");
		kfs_doc_emit(deps->items[i], &b);
	}
	p->dependencies = kfs_buf_steal(&b);
}

/* Builds a promise from its Promise document doc (taken over). file names the document in
 * messages; api_file and at name where its CRD came from: file and "spec.api." for a
 * promise.yaml, the api.yaml and "" for the split layout. */
static int promise_from_doc(struct kfs_node *doc, const char *file, const char *api_file,
			    const char *at, struct kfs_promise **out, struct kfs_error *err)
{
	struct kfs_promise *p = kfs_xcalloc(1, sizeof(*p));
	p->doc = doc;
	int rc;
	const char *kind = kfs_node_text_at(p->doc, "kind");
	const char *api_version = kfs_node_text_at(p->doc, "apiVersion");
	if (!kind || strcmp(kind, "Promise") != 0 || !api_version ||
	    strncmp(api_version, "platform.kratix.io/", 19) != 0) {
		rc = kfs_error_set(err, -EINVAL,
				   "%s: not a Kratix Promise (expected apiVersion "
				   "platform.kratix.io/v1alpha1 and kind Promise)",
				   file);
		goto fail;
	}
	const char *name = kfs_node_text_at(p->doc, "metadata.name");
	if (!name || !kfs_is_dns_label(name)) {
		rc = kfs_error_set(err, -EINVAL,
				   "%s: metadata.name must be a DNS-1123 label (lower-case letters, "
				   "digits and '-')",
				   file);
		goto fail;
	}
	p->name = kfs_xstrdup(name);
	const struct kfs_node *label =
		kfs_map_get(kfs_node_at(p->doc, "metadata.labels"), "kratix.io/promise-version");
	p->version = kfs_xstrdup(label && label->type != KFS_MAP && label->type != KFS_SEQ
					 ? label->text
					 : "");
	const struct kfs_node *api = kfs_node_at(p->doc, "spec.api");
	if (api && (rc = load_crd(p, api, api_file, at, err)) < 0)
		goto fail;
	if ((rc = load_workflow_names(p, file, err)) < 0)
		goto fail;
	load_dependencies(p);
	p->tcontext_promise = kfs_node_new(KFS_MAP);
	kfs_map_set(p->tcontext_promise, "name", kfs_node_new_str(p->name));
	kfs_map_set(p->tcontext_promise, "version", kfs_node_new_str(p->version));
	*out = p;
	return 0;
fail:
	kfs_promise_free(p);
	*out = NULL;
	return rc;
}

static int load_promise_doc(const char *file, struct kfs_promise **out, struct kfs_error *err)
{
	struct kfs_node *doc;
	int rc = kfs_doc_parse_file(file, &doc, err);
	if (rc < 0) {
		*out = NULL;
		return rc;
	}
	return promise_from_doc(doc, file, file, "spec.api.", out, err);
}

/* ---------- the kratix CLI's --split layout ---------- */

/* Reads a split layout file as a stream of documents (an empty file holds none). */
static int read_stream(const char *path, struct kfs_node ***docs, size_t *n,
		       struct kfs_error *err)
{
	struct kfs_buf text = {0};
	int rc = kfs_read_file(path, &text, err);
	if (rc == 0)
		rc = kfs_doc_parse_stream(text.data, text.len, path, docs, n, err);
	kfs_buf_free(&text);
	return rc;
}

/* Appends to seq the items of a list file: one document holding a sequence (what the kratix
 * CLI writes), or a stream of single objects (one Pipeline or dependency per document, as
 * people write them by hand). */
static int add_list_file(struct kfs_node *seq, const char *path, bool pipelines,
			 struct kfs_error *err)
{
	struct kfs_node **docs = NULL;
	size_t n = 0;
	int rc = read_stream(path, &docs, &n, err);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct kfs_node *d = docs[i];
		if (d->type == KFS_NULL)
			continue;
		if (d->type == KFS_MAP) {
			struct kfs_node *one = kfs_node_new(KFS_SEQ);
			one->line = d->line;
			kfs_seq_append(one, d);
			docs[i] = one;
			d = one;
		}
		if (d->type != KFS_SEQ) {
			rc = kfs_error_set(err, -EINVAL, "%s:%d: must be a list of %s, not %s",
					   path, d->line, pipelines ? "Pipelines" : "objects",
					   kfs_type_name(d->type));
			break;
		}
		if (pipelines && (rc = add_pipelines(NULL, d, path, "", err)) < 0)
			break;
		for (size_t j = 0; j < d->len; j++)
			kfs_seq_append(seq, kfs_node_copy(d->items[j]));
	}
	kfs_doc_free_stream(docs, n);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.yaml and *.yml files directly in dir (not its sub-folders, which are container
 * folders), sorted so that their pipelines run in a stable order. */
static void yaml_files(const char *dir, char ***files, size_t *n)
{
	*files = NULL;
	*n = 0;
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		bool yaml = (len > 5 && strcmp(e->d_name + len - 5, ".yaml") == 0) ||
			    (len > 4 && strcmp(e->d_name + len - 4, ".yml") == 0);
		char *full = path_join(dir, e->d_name);
		if (e->d_name[0] != '.' && yaml && is_file(full)) {
			*files = kfs_xrealloc(*files, (*n + 1) * sizeof(**files));
			(*files)[(*n)++] = full;
		} else {
			free(full);
		}
	}
	closedir(d);
	if (*n > 1)
		qsort(*files, *n, sizeof(**files), cmp_str);
}

/* workflows/<file>.yaml holds the spec.workflows map itself (promise/resource, then
 * configure/delete, then a Pipeline list): the one way a file outside a <type>/<action>
 * folder can say which workflow a pipeline belongs to. */
static int add_workflow_map(struct kfs_node *lists[2][2], const char *path, struct kfs_error *err)
{
	struct kfs_node *doc = NULL;
	int rc = kfs_doc_parse_file(path, &doc, err);
	if (rc == 0 && doc->type != KFS_MAP)
		rc = kfs_error_set(err, -EINVAL,
				   "%s: must be a map of workflows (resource: {configure: [...]}), "
				   "not %s; a Pipeline list goes in workflows/<type>/<action>/",
				   path, kfs_type_name(doc->type));
	for (size_t i = 0; rc == 0 && i < doc->len; i++) {
		const char *tkey = doc->pairs[i].key;
		const struct kfs_node *tmap = doc->pairs[i].value;
		int t = strcmp(tkey, "promise") == 0 ? 0 : strcmp(tkey, "resource") == 0 ? 1 : -1;
		if (t < 0 || tmap->type != KFS_MAP) {
			rc = kfs_error_set(err, -EINVAL,
					   "%s:%d: %s: expected promise or resource, each a map of "
					   "configure and delete",
					   path, tmap->line, tkey);
			break;
		}
		for (size_t j = 0; rc == 0 && j < tmap->len; j++) {
			const char *akey = tmap->pairs[j].key;
			const struct kfs_node *list = tmap->pairs[j].value;
			int a = strcmp(akey, "configure") == 0 ? 0
				: strcmp(akey, "delete") == 0  ? 1
							       : -1;
			struct kfs_buf where = {0};
			kfs_buf_printf(&where, "%s.%s", tkey, akey);
			if (a < 0)
				rc = kfs_error_set(err, -EINVAL,
						   "%s:%d: %s: expected configure or delete", path,
						   list->line, where.data);
			else
				rc = add_pipelines(NULL, list, path, where.data, err);
			for (size_t k = 0; rc == 0 && k < list->len; k++)
				kfs_seq_append(lists[t][a], kfs_node_copy(list->items[k]));
			kfs_buf_free(&where);
		}
	}
	kfs_node_free(doc);
	return rc;
}

/* Assembles the Promise document of a folder in the kratix CLI's --split layout (`kratix init
 * promise --split`, read back by `kratix build promise NAME`): api.yaml holds the CRD,
 * dependencies.yaml the list of dependencies, workflows/<type>/<action>/workflow.yaml each
 * workflow's Pipeline list. The files name no promise (`kratix build promise` takes it on its
 * command line), so the folder's name is the promise's. Built into the document a promise.yaml
 * would hold, so that everything after loading (admission, the promise workflow's input, the
 * mount's promises/<name>/promise.yaml) sees one kind of promise. */
static int assemble_split(const char *dir, struct kfs_node **out, struct kfs_error *err)
{
	*out = NULL;
	char *real = realpath(dir, NULL);
	const char *slash = real ? strrchr(real, '/') : NULL;
	const char *name = slash ? slash + 1 : dir;
	char *api = path_join(dir, "api.yaml");
	struct kfs_node *doc = kfs_node_new(KFS_MAP), *spec = kfs_node_new(KFS_MAP);
	struct kfs_node *meta = kfs_node_new(KFS_MAP), *deps = kfs_node_new(KFS_SEQ);
	struct kfs_node *lists[2][2];
	for (int t = 0; t < 2; t++)
		for (int a = 0; a < 2; a++)
			lists[t][a] = kfs_node_new(KFS_SEQ);
	struct kfs_node **docs = NULL;
	size_t n = 0;
	int rc = 0;
	kfs_map_set(doc, "apiVersion", kfs_node_new_str("platform.kratix.io/v1alpha1"));
	kfs_map_set(doc, "kind", kfs_node_new_str("Promise"));
	kfs_map_set(meta, "name", kfs_node_new_str(name));
	kfs_map_set(doc, "metadata", meta);
	kfs_map_set(doc, "spec", spec);
	if (!kfs_is_dns_label(name)) {
		rc = kfs_error_set(err, -EINVAL,
				   "%s: a promise in the split layout (api.yaml) is named after "
				   "its folder, and \"%s\" is not a DNS-1123 label (lower-case "
				   "letters, digits and '-')",
				   dir, name);
		goto out;
	}
	/* An empty api.yaml is a promise without an API, as for `kratix build promise`. */
	if ((rc = read_stream(api, &docs, &n, err)) < 0)
		goto out;
	if (n > 1 || (n == 1 && docs[0]->type != KFS_MAP)) {
		rc = kfs_error_set(err, -EINVAL,
				   "%s: must hold one CustomResourceDefinition (a map), not %s",
				   api, n > 1 ? "several documents" : kfs_type_name(docs[0]->type));
		goto out;
	}
	if (n == 1) {
		kfs_map_set(spec, "api", docs[0]);
		docs[0] = NULL;
	}
	char *file = path_join(dir, "dependencies.yaml");
	if (is_file(file))
		rc = add_list_file(deps, file, false, err);
	free(file);
	char **files;
	size_t nfiles;
	for (int t = 0; t < 2 && rc == 0; t++) {
		for (int a = 0; a < 2 && rc == 0; a++) {
			struct kfs_buf wdir = {0};
			kfs_buf_printf(&wdir, "%s/workflows/%s/%s", dir, kfs_wtype_names[t],
				       kfs_waction_names[a]);
			yaml_files(wdir.data, &files, &nfiles);
			for (size_t i = 0; i < nfiles; i++) {
				if (rc == 0)
					rc = add_list_file(lists[t][a], files[i], true, err);
				free(files[i]);
			}
			free(files);
			kfs_buf_free(&wdir);
		}
	}
	file = path_join(dir, "workflows");
	yaml_files(file, &files, &nfiles);
	free(file);
	for (size_t i = 0; i < nfiles; i++) {
		if (rc == 0)
			rc = add_workflow_map(lists, files[i], err);
		free(files[i]);
	}
	free(files);
	if (rc < 0)
		goto out;
	if (deps->len)
		kfs_map_set(spec, "dependencies", deps), deps = NULL;
	struct kfs_node *wfs = NULL;
	for (int t = 0; t < 2; t++) {
		struct kfs_node *tmap = NULL;
		for (int a = 0; a < 2; a++) {
			if (!lists[t][a]->len)
				continue;
			if (!tmap)
				tmap = kfs_node_new(KFS_MAP);
			kfs_map_set(tmap, kfs_waction_names[a], lists[t][a]);
			lists[t][a] = NULL;
		}
		if (!tmap)
			continue;
		if (!wfs)
			wfs = kfs_node_new(KFS_MAP);
		kfs_map_set(wfs, kfs_wtype_names[t], tmap);
	}
	if (wfs)
		kfs_map_set(spec, "workflows", wfs);
	*out = doc, doc = NULL;
out:
	kfs_doc_free_stream(docs, n);
	for (int t = 0; t < 2; t++)
		for (int a = 0; a < 2; a++)
			kfs_node_free(lists[t][a]);
	kfs_node_free(deps);
	kfs_node_free(doc);
	free(api);
	free(real);
	return rc;
}

/* Loads the Promise document of a promise folder, from either layout. */
static int load_folder_doc(const char *dir, struct kfs_promise **out, struct kfs_error *err)
{
	char *whole = path_join(dir, "promise.yaml");
	char *api = path_join(dir, "api.yaml");
	int rc;
	*out = NULL;
	if (is_file(whole) && is_file(api)) {
		/* Either could be stale: guessing would render from a CRD nobody edits. */
		rc = kfs_error_set(err, -EINVAL,
				   "%s: holds both promise.yaml and api.yaml; keep one: "
				   "promise.yaml (the whole Promise) or api.yaml with "
				   "dependencies.yaml and workflows/ (the kratix CLI's --split "
				   "layout)",
				   dir);
	} else if (is_file(api)) {
		struct kfs_node *doc;
		rc = assemble_split(dir, &doc, err);
		if (rc == 0)
			rc = promise_from_doc(doc, dir, api, "", out, err);
	} else {
		rc = load_promise_doc(whole, out, err);
	}
	free(whole);
	free(api);
	return rc;
}

bool kfs_promise_dir_holds_promise(const char *dir)
{
	char *whole = path_join(dir, "promise.yaml");
	char *api = path_join(dir, "api.yaml");
	bool yes = is_file(whole) || is_file(api);
	free(whole);
	free(api);
	return yes;
}

int kfs_promise_load_file(const char *path, struct kfs_promise **out, struct kfs_error *err)
{
	if (is_dir(path))
		return load_folder_doc(path, out, err);
	/* A promise.yaml or api.yaml stands for its folder, so that the split layout's api.yaml
	 * gets its folder's name and dependencies, and a folder with both is refused here too. */
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	if (strcmp(base, "promise.yaml") == 0 || strcmp(base, "api.yaml") == 0) {
		char *dir = slash ? kfs_xstrndup(path, (size_t)(slash - path)) : kfs_xstrdup(".");
		if (!*dir) {
			free(dir);
			dir = kfs_xstrdup("/");
		}
		int rc = load_folder_doc(dir, out, err);
		free(dir);
		return rc;
	}
	return load_promise_doc(path, out, err);
}

/* ---------- container folders ---------- */

static int compile_file(const char *path, const char *name, const struct kfs_placeholders *ph,
			const struct kfs_template_source *helpers, struct kfs_template **out,
			struct kfs_error *err)
{
	struct kfs_buf text = {0};
	int rc = kfs_read_file(path, &text, err);
	if (rc == 0)
		rc = kfs_template_compile_with(text.data, text.len, name, ph, helpers, out, err);
	kfs_buf_free(&text);
	return rc;
}

static int load_outputs(struct kfs_container *c, const char *outdir, const char *label,
			const struct kfs_placeholders *ph, const struct kfs_template_source *helpers,
			struct kfs_error *err)
{
	char **files;
	size_t n;
	int rc = kfs_list_files(outdir, &files, &n, err);
	c->outputs = kfs_xcalloc(n, sizeof(*c->outputs));
	for (size_t i = 0; i < n; i++) {
		if (rc == 0) {
			char *full = path_join(outdir, files[i]);
			struct kfs_buf name = {0};
			kfs_buf_printf(&name, "%s/templates/output/%s", label, files[i]);
			struct kfs_template_file *tf = &c->outputs[c->noutputs];
			rc = compile_file(full, name.data, ph, helpers, &tf->tmpl, err);
			if (rc == 0) {
				tf->path = files[i];
				files[i] = NULL;
				c->noutputs++;
			}
			kfs_buf_free(&name);
			free(full);
		}
		free(files[i]);
	}
	free(files);
	return rc;
}

static int load_container(struct kfs_container *c, const char *root, const char *label,
			  struct kfs_error *err)
{
	char *dir = path_join(root, label);
	c->dir = dir;
	char *tdir = path_join(dir, "templates");
	char *script = path_join(dir, "scripts/pipeline.sh");
	char *exe = path_join(dir, "execute-pipeline");
	int rc = 0;
	if (is_file(script)) {
		c->exec = script, script = NULL;
	} else if (access(exe, X_OK) == 0 && is_file(exe)) {
		c->exec = exe, exe = NULL;
	} else if (!is_dir(tdir)) {
		rc = kfs_error_set(err, -EINVAL,
				   "%s: container %s has neither templates/ nor scripts/pipeline.sh: "
				   "create %s/templates/output/",
				   label, c->name, dir);
		goto out;
	}
	char *values = path_join(dir, "values.yaml");
	if (is_file(values)) {
		struct kfs_node *doc = NULL;
		struct kfs_buf name = {0};
		kfs_buf_printf(&name, "%s/values.yaml", label);
		struct kfs_buf text = {0};
		rc = kfs_read_file(values, &text, err);
		if (rc == 0)
			rc = kfs_doc_parse(text.data, text.len, name.data, &doc, err);
		if (rc == 0)
			rc = kfs_values_compile(doc, name.data, &c->values, err);
		kfs_node_free(doc);
		kfs_buf_free(&text);
		kfs_buf_free(&name);
	}
	free(values);
	if (rc < 0 || c->exec)
		goto out;
	const struct kfs_placeholders *ph = c->values ? kfs_values_placeholders(c->values) : NULL;
	/* templates/_helpers.tpl: the defines every template of the container can use. */
	char *hpath = path_join(tdir, "_helpers.tpl");
	struct kfs_buf htext = {0}, hname = {0};
	kfs_buf_printf(&hname, "%s/templates/_helpers.tpl", label);
	struct kfs_template_source hsrc = {hname.data, NULL, 0}, *helpers = NULL;
	if (is_file(hpath) && (rc = kfs_read_file(hpath, &htext, err)) == 0) {
		hsrc.text = htext.data ? htext.data : "";
		hsrc.len = htext.len;
		helpers = &hsrc;
	}
	free(hpath);
	char *outdir = path_join(tdir, "output");
	if (rc == 0 && is_dir(outdir))
		rc = load_outputs(c, outdir, label, ph, helpers, err);
	free(outdir);
	static const char *const meta[] = {"status.yaml", "destination-selectors.yaml"};
	for (int i = 0; i < 2 && rc == 0; i++) {
		struct kfs_buf rel = {0};
		kfs_buf_printf(&rel, "templates/metadata/%s", meta[i]);
		char *full = path_join(dir, rel.data);
		if (is_file(full)) {
			struct kfs_buf name = {0};
			kfs_buf_printf(&name, "%s/%s", label, rel.data);
			rc = compile_file(full, name.data, ph, helpers,
					  i == 0 ? &c->status : &c->selectors, err);
			kfs_buf_free(&name);
		}
		free(full);
		kfs_buf_free(&rel);
	}
	kfs_buf_free(&htext);
	kfs_buf_free(&hname);
out:
	free(tdir);
	free(script);
	free(exe);
	return rc;
}

int kfs_promise_load_dir(const char *dir, struct kfs_promise **out, struct kfs_error *err)
{
	int rc = load_folder_doc(dir, out, err);
	if (rc < 0)
		return rc;
	struct kfs_promise *p = *out;
	p->dir = kfs_xstrdup(dir);
	for (int t = 0; t < 2 && rc == 0; t++) {
		for (int a = 0; a < 2 && rc == 0; a++) {
			struct kfs_workflow *wf = &p->workflows[t][a];
			for (size_t i = 0; i < wf->npipelines && rc == 0; i++) {
				struct kfs_pipeline *pl = &wf->pipelines[i];
				for (size_t c = 0; c < pl->ncontainers && rc == 0; c++) {
					struct kfs_buf label = {0};
					kfs_buf_printf(&label, "workflows/%s/%s/%s/%s",
						       kfs_wtype_names[t], kfs_waction_names[a], pl->name,
						       pl->containers[c].name);
					rc = load_container(&pl->containers[c], dir, label.data,
							    err);
					kfs_buf_free(&label);
				}
			}
		}
	}
	if (rc < 0) {
		kfs_error_prefix(err, "promise %s", p->name);
		kfs_promise_free(p);
		*out = NULL;
	}
	return rc;
}

static void free_workflow(struct kfs_workflow *wf)
{
	for (size_t i = 0; i < wf->npipelines; i++) {
		struct kfs_pipeline *pl = &wf->pipelines[i];
		for (size_t c = 0; c < pl->ncontainers; c++) {
			struct kfs_container *ct = &pl->containers[c];
			free(ct->name);
			free(ct->dir);
			free(ct->exec);
			kfs_values_free(ct->values);
			for (size_t o = 0; o < ct->noutputs; o++) {
				free(ct->outputs[o].path);
				kfs_template_free(ct->outputs[o].tmpl);
			}
			free(ct->outputs);
			kfs_template_free(ct->status);
			kfs_template_free(ct->selectors);
		}
		free(pl->containers);
		free(pl->name);
	}
	free(wf->pipelines);
}

void kfs_promise_free(struct kfs_promise *p)
{
	if (!p)
		return;
	for (int t = 0; t < 2; t++)
		for (int a = 0; a < 2; a++)
			free_workflow(&p->workflows[t][a]);
	for (size_t i = 0; i < p->nversions; i++) {
		free(p->versions[i].name);
		kfs_schema_free(p->versions[i].schema);
	}
	free(p->versions);
	free(p->name);
	free(p->version);
	free(p->dir);
	free(p->group);
	free(p->kind);
	free(p->plural);
	free(p->dependencies);
	kfs_node_free(p->doc);
	kfs_node_free(p->tcontext_promise);
	kfs_buf_free(&p->warnings);
	free(p);
}

/* ---------- requests ---------- */

/* Splits "group/version" (a core "v1" has no group). */
static void split_api_version(const char *av, const char **group, size_t *glen,
			      const char **version)
{
	const char *slash = strchr(av, '/');
	if (!slash) {
		*group = "";
		*glen = 0;
		*version = av;
		return;
	}
	*group = av;
	*glen = (size_t)(slash - av);
	*version = slash + 1;
}

bool kfs_promise_serves(const struct kfs_promise *p, const struct kfs_node *request)
{
	const char *av = kfs_node_text_at(request, "apiVersion");
	const char *kind = kfs_node_text_at(request, "kind");
	if (!p->kind || !av || !kind)
		return false;
	const char *group, *version;
	size_t glen;
	split_api_version(av, &group, &glen, &version);
	/* Kinds are case-sensitive, as in the API server's REST mapping. */
	return strlen(p->group) == glen && strncmp(p->group, group, glen) == 0 &&
	       strcmp(p->kind, kind) == 0;
}

/* The promise's kind when request names it in another case, for a hint; else NULL. */
static const char *kind_in_other_case(const struct kfs_promise *p, const struct kfs_node *request)
{
	const char *kind = kfs_node_text_at(request, "kind");
	if (!p->kind || !kind || strcmp(p->kind, kind) == 0 || strcasecmp(p->kind, kind) != 0)
		return NULL;
	return p->kind;
}

/* Kubernetes' own words (apimachinery's IsDNS1123Label and IsDNS1123Subdomain), so that a
 * message reads as kubectl's would. */
#define DNS1123_LABEL_ERROR                                                                        \
	"a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "   \
	"and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc', "    \
	"regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
#define DNS1123_SUBDOMAIN_ERROR                                                                    \
	"a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "  \
	"or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "      \
	"regex used for validation is "                                                            \
	"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"

/* Appends value to b as a message shows it: double-quoted, controls escaped (a message is one
 * line per problem), cut after 80 bytes. */
static void add_quoted(struct kfs_buf *b, const char *value)
{
	size_t n = strlen(value);
	kfs_buf_addc(b, '"');
	for (size_t i = 0; i < n && i < 80; i++) {
		unsigned char c = (unsigned char)value[i];
		if (c == '"' || c == '\\')
			kfs_buf_printf(b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			kfs_buf_printf(b, "\\x%02x", c);
		else
			kfs_buf_addc(b, (char)c);
	}
	kfs_buf_adds(b, n > 80 ? "\"..." : "\"");
}

/* Checks metadata.<field> as the API server does: a string that is a DNS-1123 label (max 63)
 * or subdomain (max 253). Appends each problem to err; returns 0 or -EINVAL. */
static int check_meta_name(const struct kfs_node *meta, const char *field, bool label,
			   struct kfs_error *err)
{
	const struct kfs_node *v = kfs_map_get(meta, field);
	size_t max = label ? 63 : 253;
	struct kfs_buf shown = {0};
	int rc = 0;
	if (v->type != KFS_STR) {
		rc = kfs_error_add(err, -EINVAL,
				   "metadata.%s: Invalid value: %s: must be a string (quote it)",
				   field, v->type == KFS_MAP || v->type == KFS_SEQ
					      ? kfs_type_name(v->type)
					      : v->text);
		goto out;
	}
	add_quoted(&shown, v->text);
	if (!dns_form(v->text, label) || strlen(v->text) != v->len)
		rc = kfs_error_add(err, -EINVAL, "metadata.%s: Invalid value: %s: %s", field,
				   shown.data, label ? DNS1123_LABEL_ERROR : DNS1123_SUBDOMAIN_ERROR);
	if (v->len > max)
		rc = kfs_error_add(err, -EINVAL,
				   "metadata.%s: Invalid value: %s: must be no more than %zu "
				   "characters",
				   field, shown.data, max);
out:
	kfs_buf_free(&shown);
	return rc;
}

static void list_served(const struct kfs_promise *p, struct kfs_buf *b)
{
	bool first = true;
	for (size_t i = 0; i < p->nversions; i++) {
		if (!p->versions[i].served)
			continue;
		kfs_buf_printf(b, "%s%s/%s", first ? "" : ", ", p->group, p->versions[i].name);
		first = false;
	}
}

/* The name part of a label or annotation key, and a label value (empty allowed there):
 * ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]. */
static bool qualified_part(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || i == n - 1 || !(c == '-' || c == '_' || c == '.')))
			return false;
	}
	return true;
}

#define QUALIFIED_NAME_ERROR                                                                       \
	"name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "  \
	"end with an alphanumeric character (e.g. 'MyName', or 'my.name', or '123-abc', regex "    \
	"used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
#define LABEL_VALUE_ERROR                                                                          \
	"a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "   \
	"or '.', and must start and end with an alphanumeric character (e.g. 'MyValue', or "       \
	"'my_value', or '12345', regex used for validation is "                                    \
	"'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"

/* A label or annotation key: [prefix/]name, the prefix a DNS-1123 subdomain, the name at most
 * 63 characters. Appends the problem to err. */
static int check_key(const char *field, const char *key, struct kfs_error *err)
{
	struct kfs_buf shown = {0};
	add_quoted(&shown, key);
	const char *slash = strchr(key, '/');
	const char *name = slash ? slash + 1 : key;
	size_t n = strlen(name);
	const char *why = NULL;
	char *prefix = slash ? kfs_xstrndup(key, (size_t)(slash - key)) : NULL;
	if (strchr(name, '/'))
		why = "a qualified name must consist of a name part and an optional prefix part "
		      "separated by '/'";
	else if (prefix && !kfs_is_dns_subdomain(prefix))
		why = "prefix part " DNS1123_SUBDOMAIN_ERROR;
	else if (n == 0)
		why = "name part must be non-empty";
	else if (n > 63)
		why = "name part must be no more than 63 characters";
	else if (!qualified_part(name, n))
		why = QUALIFIED_NAME_ERROR;
	int rc = why ? kfs_error_add(err, -EINVAL, "metadata.%s: Invalid value: %s: %s", field,
				     shown.data, why)
		     : 0;
	free(prefix);
	kfs_buf_free(&shown);
	return rc;
}

/* metadata.labels and metadata.annotations, as the API server checks them: string maps with
 * qualified keys; label values short and plain, annotations at most 256 KiB in all. */
static int check_string_map(const struct kfs_node *meta, const char *field, struct kfs_error *err)
{
	const struct kfs_node *m = kfs_map_get(meta, field);
	if (!m || m->type == KFS_NULL)
		return 0;
	if (m->type != KFS_MAP)
		return kfs_error_add(err, -EINVAL, "metadata.%s: must be an object, got %s", field,
				     kfs_type_name(m->type));
	bool labels = strcmp(field, "labels") == 0;
	size_t total = 0;
	int rc = 0;
	for (size_t i = 0; i < m->len; i++) {
		const char *key = m->pairs[i].key;
		const struct kfs_node *v = m->pairs[i].value;
		if (check_key(field, key, err) < 0)
			rc = -EINVAL;
		if (v->type != KFS_STR) {
			rc = kfs_error_add(err, -EINVAL,
					   "metadata.%s.%s: Invalid value: %s: must be a string "
					   "(quote it)",
					   field, key,
					   v->type == KFS_MAP || v->type == KFS_SEQ
					       ? kfs_type_name(v->type)
					       : v->text);
			continue;
		}
		total += strlen(key) + v->len;
		if (!labels)
			continue;
		struct kfs_buf shown = {0};
		add_quoted(&shown, v->text);
		if (v->len > 63)
			rc = kfs_error_add(err, -EINVAL,
					   "metadata.labels: Invalid value: %s: must be no more than "
					   "63 characters",
					   shown.data);
		if (!qualified_part(v->text, v->len) || strlen(v->text) != v->len)
			rc = kfs_error_add(err, -EINVAL, "metadata.labels: Invalid value: %s: %s",
					   shown.data, LABEL_VALUE_ERROR);
		kfs_buf_free(&shown);
	}
	if (!labels && total > 256 * 1024)
		rc = kfs_error_add(err, -EINVAL,
				   "metadata.annotations: Too long: must have at most 262144 bytes");
	return rc;
}

/* ObjectMeta's fields: the API server drops any other, which kubectl warns of. */
static const char *const object_meta_fields[] = {
	"name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
	"creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
	"annotations", "ownerReferences", "finalizers", "managedFields", NULL,
};

static void warn_unknown_meta(const struct kfs_node *meta, struct kfs_buf *warnings)
{
	for (size_t i = 0; warnings && meta && i < meta->len; i++) {
		const char *const *f = object_meta_fields;
		while (*f && strcmp(*f, meta->pairs[i].key) != 0)
			f++;
		if (!*f)
			kfs_buf_printf(warnings, "unknown field \"metadata.%s\"\n",
				       meta->pairs[i].key);
	}
}

int kfs_promise_admit(const struct kfs_promise *p, struct kfs_node *request,
		      struct kfs_buf *warnings, struct kfs_error *err)
{
	if (request->type != KFS_MAP)
		return kfs_error_set(err, -EINVAL, "the request must be a YAML mapping, not %s",
				     kfs_type_name(request->type));
	if (!p->kind)
		return kfs_error_set(err, -EINVAL,
				     "promise %s has no spec.api: it serves no requests", p->name);
	const char *av = kfs_node_text_at(request, "apiVersion");
	const char *kind = kfs_node_text_at(request, "kind");
	if (!av || !kind)
		return kfs_error_set(err, -EINVAL,
				     "apiVersion and kind are required (this promise serves "
				     "apiVersion %s/%s, kind %s)",
				     p->group, p->nversions ? p->versions[0].name : "?", p->kind);
	if (kind_in_other_case(p, request))
		return kfs_error_set(err, -EINVAL,
				     "kind: Invalid value: \"%s\": kinds are case-sensitive; promise "
				     "%s serves %s",
				     kind, p->name, p->kind);
	if (!kfs_promise_serves(p, request))
		return kfs_error_set(err, -EINVAL,
				     "kind: %s %s is not served by promise %s (it serves %s %s/…)",
				     av, kind, p->name, p->kind, p->group);
	const char *group, *version;
	size_t glen;
	split_api_version(av, &group, &glen, &version);
	const struct kfs_crd_version *cv = NULL;
	for (size_t i = 0; i < p->nversions; i++)
		if (p->versions[i].served && strcmp(p->versions[i].name, version) == 0)
			cv = &p->versions[i];
	if (!cv) {
		struct kfs_buf served = {0};
		list_served(p, &served);
		int rc = kfs_error_set(err, -EINVAL,
				       "apiVersion: %s is not a served version of %s (served: %s)", av,
				       p->kind, served.data ? served.data : "none");
		kfs_buf_free(&served);
		return rc;
	}
	struct kfs_node *meta = kfs_map_get(request, "metadata");
	int rc = 0;
	if (meta && meta->type != KFS_MAP)
		return kfs_error_set(err, -EINVAL, "metadata: must be an object, got %s",
				     kfs_type_name(meta->type));
	const struct kfs_node *name = kfs_map_get(meta, "name");
	if (!name || name->type == KFS_NULL)
		rc = kfs_error_add(err, -EINVAL, "metadata.name: required field is missing");
	else
		rc = check_meta_name(meta, "name", false, err);
	/* kubectl puts a namespaced request in "default" when it names none (or null). The
	 * namespace ends up in paths of the Git store, so it is checked even where the API
	 * server would drop it (a cluster-scoped kind). */
	const struct kfs_node *ns = kfs_map_get(meta, "namespace");
	if (meta && !p->cluster_scoped && (!ns || ns->type == KFS_NULL))
		kfs_map_set(meta, "namespace", kfs_node_new_str("default"));
	else if (ns && ns->type != KFS_NULL && check_meta_name(meta, "namespace", true, err) < 0)
		rc = -EINVAL;
	if (meta && check_string_map(meta, "labels", err) < 0)
		rc = -EINVAL;
	if (meta && check_string_map(meta, "annotations", err) < 0)
		rc = -EINVAL;
	warn_unknown_meta(meta, warnings);
	if (cv->schema && kfs_schema_apply(cv->schema, request, warnings, err) < 0)
		rc = -EINVAL;
	return rc < 0 ? -EINVAL : 0;
}

/* ---------- promise sets ---------- */

static int cmp_promise(const void *a, const void *b)
{
	const struct kfs_promise *pa = *(struct kfs_promise *const *)a;
	const struct kfs_promise *pb = *(struct kfs_promise *const *)b;
	return strcmp(pa->name, pb->name);
}

int kfs_promise_set_load(const char *dir, struct kfs_promise_set *set, struct kfs_error *err)
{
	set->items = NULL;
	set->n = 0;
	DIR *d = opendir(dir);
	if (!d)
		return kfs_error_set(err, -errno, "%s: %s", dir, strerror(errno));
	size_t cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char *sub = path_join(dir, e->d_name);
		if (kfs_promise_dir_holds_promise(sub)) {
			struct kfs_promise *p;
			struct kfs_error one = {0};
			if (kfs_promise_load_dir(sub, &p, &one) == 0) {
				if (set->n == cap) {
					cap = cap ? cap * 2 : 4;
					set->items = kfs_xrealloc(set->items,
								  cap * sizeof(*set->items));
				}
				set->items[set->n++] = p;
			} else {
				kfs_error_add(err, one.code, "%s", one.msg);
			}
		}
		free(sub);
	}
	closedir(d);
	if (set->n > 1)
		qsort(set->items, set->n, sizeof(*set->items), cmp_promise);
	return 0;
}

const struct kfs_promise *kfs_promise_set_match(const struct kfs_promise_set *set,
						 const struct kfs_node *request, struct kfs_error *err)
{
	for (size_t i = 0; i < set->n; i++)
		if (kfs_promise_serves(set->items[i], request))
			return set->items[i];
	const char *av = kfs_node_text_at(request, "apiVersion");
	const char *kind = kfs_node_text_at(request, "kind");
	struct kfs_buf served = {0};
	const char *other_case = NULL;
	for (size_t i = 0; i < set->n; i++) {
		if (set->items[i]->kind)
			kfs_buf_printf(&served, "%s%s (%s)", served.len ? ", " : "",
				       set->items[i]->kind, set->items[i]->group);
		if (!other_case)
			other_case = kind_in_other_case(set->items[i], request);
	}
	kfs_error_set(err, -EINVAL, "kind: no promise serves %s %s; kinds served: %s%s%s%s",
		      av ? av : "(no apiVersion)", kind ? kind : "(no kind)",
		      served.len ? served.data : "none",
		      other_case ? " (kinds are case-sensitive: did you mean " : "",
		      other_case ? other_case : "", other_case ? "?)" : "");
	kfs_buf_free(&served);
	return NULL;
}

const struct kfs_promise *kfs_promise_set_find(const struct kfs_promise_set *set, const char *name)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->items[i]->name, name) == 0)
			return set->items[i];
	return NULL;
}

void kfs_promise_set_free(struct kfs_promise_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		kfs_promise_free(set->items[i]);
	free(set->items);
	set->items = NULL;
	set->n = 0;
}
