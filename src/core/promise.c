/* Loading promises (a promise folder in the kratix CLI layout, or a bare promise.yaml) and
 * admitting the requests they serve. */
#include "kratixfs/promise.h"

#include "kratixfs/files.h"
#include "promise_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const kfs_wtype_names[2] = {"promise", "resource"};
const char *const kfs_waction_names[2] = {"configure", "delete"};

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

int kfs_promise_add_pipelines(struct kfs_workflow *wf, const struct kfs_node *list,
			      const char *file, const char *where, struct kfs_error *err)
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
			int rc = kfs_promise_add_pipelines(&p->workflows[t][a], list, file,
							   where.data, err);
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
	if ((rc = load_workflow_names(p, file, err)) < 0 ||
	    (rc = kfs_promise_container_specs(p, file, err)) < 0)
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

/* Loads the Promise document of a promise folder, from either layout. */
static int load_folder_doc(const char *dir, struct kfs_promise **out, struct kfs_error *err)
{
	char *whole = kfs_path_join(dir, "promise.yaml");
	char *api = kfs_path_join(dir, "api.yaml");
	int rc;
	*out = NULL;
	if (kfs_is_file(whole) && kfs_is_file(api)) {
		/* Either could be stale: guessing would render from a CRD nobody edits. */
		rc = kfs_error_set(err, -EINVAL,
				   "%s: holds both promise.yaml and api.yaml; keep one: "
				   "promise.yaml (the whole Promise) or api.yaml with "
				   "dependencies.yaml and workflows/ (the kratix CLI's --split "
				   "layout)",
				   dir);
	} else if (kfs_is_file(api)) {
		struct kfs_node *doc;
		rc = kfs_promise_assemble_split(dir, &doc, err);
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
	char *whole = kfs_path_join(dir, "promise.yaml");
	char *api = kfs_path_join(dir, "api.yaml");
	bool yes = kfs_is_file(whole) || kfs_is_file(api);
	free(whole);
	free(api);
	return yes;
}

int kfs_promise_load_file(const char *path, struct kfs_promise **out, struct kfs_error *err)
{
	if (kfs_is_dir(path))
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
			char *full = kfs_path_join(outdir, files[i]);
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

/* templates/_helpers.tpl: the defines every template of the container can use. src->name is
 * left NULL when the container has none. */
static int load_helpers(const char *tdir, const char *label, struct kfs_template_source *src,
			struct kfs_buf *text, struct kfs_buf *name, struct kfs_error *err)
{
	char *path = kfs_path_join(tdir, "_helpers.tpl");
	int rc = 0;
	if (kfs_is_file(path) && (rc = kfs_read_file(path, text, err)) == 0) {
		kfs_buf_printf(name, "%s/templates/_helpers.tpl", label);
		*src = (struct kfs_template_source){name->data, text->data ? text->data : "",
						    text->len};
	}
	free(path);
	return rc;
}

/* The script a container folder runs (scripts/pipeline.sh, the kratix CLI's; or an executable
 * execute-pipeline, the marketplace's), or NULL. */
static char *folder_script(const char *dir)
{
	char *script = kfs_path_join(dir, "scripts/pipeline.sh");
	if (kfs_is_file(script))
		return script;
	free(script);
	char *exe = kfs_path_join(dir, "execute-pipeline");
	if (kfs_is_file(exe) && access(exe, X_OK) == 0)
		return exe;
	free(exe);
	return NULL;
}

/* Where the container's files are: workflows/<type>/<action>/<pipeline>/<container>/, else the
 * marketplace's internal/<name>/ found by the image's name; NULL for an image container. */
static char *container_folder(const struct kfs_container *c, const char *root, const char *label,
			      const char *promise)
{
	char *dir = kfs_path_join(root, label);
	if (kfs_is_dir(dir) || !c->image)
		return dir;
	free(dir);
	return kfs_promise_internal_folder(root, promise, c->image);
}

/* Sorts a container folder: templates/ (rendered in process) or a Dockerfile (run under
 * bwrap from its recipe; c->exec names its script, else the Dockerfile). */
static int classify_folder(struct kfs_container *c, const char *label, struct kfs_error *err)
{
	char *tdir = kfs_path_join(c->dir, "templates");
	char *script = folder_script(c->dir);
	char *dockerfile = kfs_path_join(c->dir, "Dockerfile");
	if (!kfs_is_file(dockerfile)) {
		free(dockerfile);
		dockerfile = kfs_path_join(c->dir, "Containerfile");
	}
	int rc = 0;
	bool tmpl = kfs_is_dir(tdir);
	if (tmpl && script)
		rc = kfs_error_set(err, -EINVAL,
				   "%s: container %s has both %s and %s: keep one (templates/ are "
				   "rendered by kratixfs, a script runs from the folder's "
				   "Dockerfile)",
				   label, c->name, tdir, script);
	else if (!tmpl && kfs_is_file(dockerfile) && script)
		c->exec = script, script = NULL;
	else if (!tmpl && kfs_is_file(dockerfile))
		c->exec = dockerfile, dockerfile = NULL;
	else if (!tmpl && script)
		rc = kfs_error_set(err, -EINVAL,
				   "%s: container %s has %s but no Dockerfile: kratixfs runs a script "
				   "from its folder's Dockerfile (FROM an image holding its tools, "
				   "COPY the script, CMD or ENTRYPOINT it); add one, or use "
				   "templates/",
				   label, c->name, script);
	else if (!tmpl)
		rc = kfs_error_set(err, -EINVAL,
				   "%s: container %s has neither templates/ nor scripts/pipeline.sh "
				   "with a Dockerfile: create %s/templates/output/",
				   label, c->name, c->dir);
	free(tdir);
	free(script);
	free(dockerfile);
	return rc;
}

static int load_container(struct kfs_container *c, const char *root, const char *label,
			  const char *promise, struct kfs_error *err)
{
	char *dir = container_folder(c, root, label, promise);
	if (!dir)
		return 0; /* an image container: nothing to read here */
	c->dir = dir;
	if (!kfs_is_dir(dir))
		return kfs_error_set(err, -EINVAL,
				     "%s: container %s has neither templates/ nor scripts/pipeline.sh "
				     "(no folder %s, and no image: in promise.yaml): create "
				     "%s/templates/output/",
				     label, c->name, dir, dir);
	int rc = classify_folder(c, label, err);
	if (rc < 0)
		return rc;
	char *tdir = kfs_path_join(dir, "templates");
	char *values = kfs_path_join(dir, "values.yaml");
	if (kfs_is_file(values)) {
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
	struct kfs_buf htext = {0}, hname = {0};
	struct kfs_template_source hsrc = {0}, *helpers = NULL;
	rc = load_helpers(tdir, label, &hsrc, &htext, &hname, err);
	if (rc == 0 && hsrc.name)
		helpers = &hsrc;
	char *outdir = kfs_path_join(tdir, "output");
	if (rc == 0 && kfs_is_dir(outdir))
		rc = load_outputs(c, outdir, label, ph, helpers, err);
	free(outdir);
	static const char *const meta[] = {"status.yaml", "destination-selectors.yaml",
					   "workflow-control.yaml"};
	struct kfs_template **compiled[] = {&c->status, &c->selectors, &c->control};
	for (int i = 0; i < 3 && rc == 0; i++) {
		struct kfs_buf rel = {0};
		kfs_buf_printf(&rel, "templates/metadata/%s", meta[i]);
		char *full = kfs_path_join(dir, rel.data);
		if (kfs_is_file(full)) {
			struct kfs_buf name = {0};
			kfs_buf_printf(&name, "%s/%s", label, rel.data);
			rc = compile_file(full, name.data, ph, helpers, compiled[i], err);
			kfs_buf_free(&name);
		}
		free(full);
		kfs_buf_free(&rel);
	}
	kfs_buf_free(&htext);
	kfs_buf_free(&hname);
out:
	free(tdir);
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
							    p->name, err);
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
			free(ct->image);
			kfs_strv_free(ct->command);
			kfs_strv_free(ct->args);
			kfs_strv_free(ct->env);
			kfs_values_free(ct->values);
			for (size_t o = 0; o < ct->noutputs; o++) {
				free(ct->outputs[o].path);
				kfs_template_free(ct->outputs[o].tmpl);
			}
			free(ct->outputs);
			kfs_template_free(ct->status);
			kfs_template_free(ct->selectors);
			kfs_template_free(ct->control);
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
		char *sub = kfs_path_join(dir, e->d_name);
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
			other_case = kfs_promise_kind_in_other_case(set->items[i], request);
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
