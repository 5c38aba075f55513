/* The kratix CLI's --split layout of a promise folder (api.yaml, dependencies.yaml,
 * workflows/), assembled into the document a promise.yaml would hold. */
#include "promise_internal.h"

#include "kratixfs/files.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
		if (pipelines && (rc = kfs_promise_add_pipelines(NULL, d, path, "", err)) < 0)
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
		char *full = kfs_path_join(dir, e->d_name);
		if (e->d_name[0] != '.' && yaml && kfs_is_file(full)) {
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
				rc = kfs_promise_add_pipelines(NULL, list, path, where.data, err);
			for (size_t k = 0; rc == 0 && k < list->len; k++)
				kfs_seq_append(lists[t][a], kfs_node_copy(list->items[k]));
			kfs_buf_free(&where);
		}
	}
	kfs_node_free(doc);
	return rc;
}

/* Reads the workflow files of the split layout in dir into lists[type][action]: each
 * YAML file in workflows/<type>/<action>/, then any map files directly in workflows/. */
static int read_workflows(const char *dir, struct kfs_node *lists[2][2], struct kfs_error *err)
{
	char **files;
	size_t nfiles;
	int rc = 0;
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
	char *wf = kfs_path_join(dir, "workflows");
	yaml_files(wf, &files, &nfiles);
	free(wf);
	for (size_t i = 0; i < nfiles; i++) {
		if (rc == 0)
			rc = add_workflow_map(lists, files[i], err);
		free(files[i]);
	}
	free(files);
	return rc;
}

/* spec.workflows built from lists[type][action] (taken), or NULL when all are empty. */
static struct kfs_node *workflows_node(struct kfs_node *lists[2][2])
{
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
	return wfs;
}

/* Sets spec.api from dir/api.yaml: one CRD, or none when the file is empty (a promise without
 * an API, as for `kratix build promise`). */
static int read_api(const char *dir, struct kfs_node *spec, struct kfs_error *err)
{
	char *api = kfs_path_join(dir, "api.yaml");
	struct kfs_node **docs = NULL;
	size_t n = 0;
	int rc = read_stream(api, &docs, &n, err);
	if (rc == 0 && (n > 1 || (n == 1 && docs[0]->type != KFS_MAP))) {
		rc = kfs_error_set(err, -EINVAL,
				   "%s: must hold one CustomResourceDefinition (a map), not %s",
				   api, n > 1 ? "several documents" : kfs_type_name(docs[0]->type));
	} else if (rc == 0 && n == 1) {
		kfs_map_set(spec, "api", docs[0]);
		docs[0] = NULL;
	}
	kfs_doc_free_stream(docs, n);
	free(api);
	return rc;
}

/* The document's dependencies, api and workflows, read into spec. */
static int read_spec(const char *dir, struct kfs_node *spec, struct kfs_error *err)
{
	struct kfs_node *deps = kfs_node_new(KFS_SEQ);
	struct kfs_node *lists[2][2];
	for (int t = 0; t < 2; t++)
		for (int a = 0; a < 2; a++)
			lists[t][a] = kfs_node_new(KFS_SEQ);
	int rc = read_api(dir, spec, err);
	char *file = kfs_path_join(dir, "dependencies.yaml");
	if (rc == 0 && kfs_is_file(file))
		rc = add_list_file(deps, file, false, err);
	free(file);
	if (rc == 0)
		rc = read_workflows(dir, lists, err);
	if (rc == 0 && deps->len)
		kfs_map_set(spec, "dependencies", deps), deps = NULL;
	struct kfs_node *wfs = rc == 0 ? workflows_node(lists) : NULL;
	if (wfs)
		kfs_map_set(spec, "workflows", wfs);
	for (int t = 0; t < 2; t++)
		for (int a = 0; a < 2; a++)
			kfs_node_free(lists[t][a]);
	kfs_node_free(deps);
	return rc;
}

/* Assembles the Promise document of a folder in the kratix CLI's --split layout (`kratix init
 * promise --split`, read back by `kratix build promise NAME`): api.yaml holds the CRD,
 * dependencies.yaml the list of dependencies, workflows/<type>/<action>/workflow.yaml each
 * workflow's Pipeline list. The files name no promise (`kratix build promise` takes it on its
 * command line), so the folder's name is the promise's. Built into the document a promise.yaml
 * would hold, so that everything after loading (admission, the promise workflow's input, the
 * mount's promises/<name>/promise.yaml) sees one kind of promise. */
int kfs_promise_assemble_split(const char *dir, struct kfs_node **out, struct kfs_error *err)
{
	*out = NULL;
	char *real = realpath(dir, NULL);
	const char *slash = real ? strrchr(real, '/') : NULL;
	const char *name = slash ? slash + 1 : dir;
	int rc;
	if (!kfs_is_dns_label(name)) {
		rc = kfs_error_set(err, -EINVAL,
				   "%s: a promise in the split layout (api.yaml) is named after "
				   "its folder, and \"%s\" is not a DNS-1123 label (lower-case "
				   "letters, digits and '-')",
				   dir, name);
		free(real);
		return rc;
	}
	struct kfs_node *doc = kfs_node_new(KFS_MAP), *spec = kfs_node_new(KFS_MAP);
	struct kfs_node *meta = kfs_node_new(KFS_MAP);
	kfs_map_set(doc, "apiVersion", kfs_node_new_str("platform.kratix.io/v1alpha1"));
	kfs_map_set(doc, "kind", kfs_node_new_str("Promise"));
	kfs_map_set(meta, "name", kfs_node_new_str(name));
	kfs_map_set(doc, "metadata", meta);
	kfs_map_set(doc, "spec", spec);
	free(real);
	rc = read_spec(dir, spec, err);
	if (rc == 0)
		*out = doc;
	else
		kfs_node_free(doc);
	return rc;
}
