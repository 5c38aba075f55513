/* A pipeline container as the promise names it: its image, command, args and env from the
 * Pipeline's spec.containers, and where its folder is (docs/exec.md). */
#include "kratixfs/files.h"
#include "promise_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A list of strings (command, args) as a NULL-ended array; NULL when missing or empty. */
static int read_strings(const struct kfs_node *list, const char *file, const char *what,
			char ***out, struct kfs_error *err)
{
	*out = NULL;
	if (!list || list->type == KFS_NULL)
		return 0;
	if (list->type != KFS_SEQ)
		return kfs_error_set(err, -EINVAL, "%s:%d: %s must be a list of strings", file,
				     list->line, what);
	char **v = kfs_xcalloc(list->len + 1, sizeof(*v));
	for (size_t i = 0; i < list->len; i++) {
		const struct kfs_node *s = list->items[i];
		if (s->type == KFS_MAP || s->type == KFS_SEQ) {
			kfs_strv_free(v);
			return kfs_error_set(err, -EINVAL, "%s:%d: %s[%zu] must be a string", file,
					     s->line, what, i);
		}
		v[i] = kfs_xstrdup(s->text);
	}
	*out = v;
	return 0;
}

/* env: [{name, value}]; valueFrom needs a cluster (Secrets, ConfigMaps, the downward API), so it
 * is left out with a warning rather than run with a value the author did not mean. */
static int read_env(struct kfs_promise *p, const struct kfs_node *list, const char *file,
		    const char *container, char ***out, struct kfs_error *err)
{
	*out = NULL;
	if (!list || list->type == KFS_NULL)
		return 0;
	if (list->type != KFS_SEQ)
		return kfs_error_set(err, -EINVAL, "%s:%d: container %s: env must be a list of "
				     "{name, value}", file, list->line, container);
	char **v = kfs_xcalloc(list->len + 1, sizeof(*v));
	size_t n = 0;
	for (size_t i = 0; i < list->len; i++) {
		const struct kfs_node *e = list->items[i];
		const char *name = kfs_node_text_at(e, "name");
		if (!name || !*name || strchr(name, '=')) {
			kfs_strv_free(v);
			return kfs_error_set(err, -EINVAL,
					     "%s:%d: container %s: env[%zu] needs a name (without "
					     "'=')", file, e->line, container, i);
		}
		if (kfs_map_get(e, "valueFrom")) {
			kfs_buf_printf(&p->warnings,
				       "warning: %s:%d: container %s: env %s: valueFrom is not "
				       "supported (no cluster to read it from); the variable is not "
				       "set: give it a value\n",
				       file, e->line, container, name);
			continue;
		}
		const char *value = kfs_node_text_at(e, "value");
		struct kfs_buf pair = {0};
		kfs_buf_printf(&pair, "%s=%s", name, value ? value : "");
		v[n++] = kfs_buf_steal(&pair);
	}
	*out = v;
	return 0;
}

static int read_container(struct kfs_promise *p, struct kfs_container *c,
			  const struct kfs_node *spec, const char *file, struct kfs_error *err)
{
	const char *image = kfs_node_text_at(spec, "image");
	if (image && *image)
		c->image = kfs_xstrdup(image);
	struct kfs_buf what = {0};
	kfs_buf_printf(&what, "container %s: command", c->name);
	int rc = read_strings(kfs_map_get(spec, "command"), file, what.data, &c->command, err);
	kfs_buf_reset(&what);
	kfs_buf_printf(&what, "container %s: args", c->name);
	if (rc == 0)
		rc = read_strings(kfs_map_get(spec, "args"), file, what.data, &c->args, err);
	kfs_buf_free(&what);
	if (rc == 0)
		rc = read_env(p, kfs_map_get(spec, "env"), file, c->name, &c->env, err);
	if (rc == 0 && kfs_map_get(spec, "envFrom"))
		kfs_buf_printf(&p->warnings,
			       "warning: %s: container %s: envFrom is not supported (no cluster "
			       "to read it from); list the variables under env\n",
			       file, c->name);
	return rc;
}

int kfs_promise_container_specs(struct kfs_promise *p, const char *file, struct kfs_error *err)
{
	const struct kfs_node *wfs = kfs_node_at(p->doc, "spec.workflows");
	for (int t = 0; t < 2; t++) {
		for (int a = 0; a < 2; a++) {
			const struct kfs_node *list = kfs_map_get(
				kfs_map_get(wfs, kfs_wtype_names[t]), kfs_waction_names[a]);
			struct kfs_workflow *wf = &p->workflows[t][a];
			if (!list || list->type != KFS_SEQ)
				continue;
			for (size_t i = 0; i < list->len && i < wf->npipelines; i++) {
				struct kfs_pipeline *pl = &wf->pipelines[i];
				const struct kfs_node *cs =
					kfs_node_at(list->items[i], "spec.containers");
				if (!cs || cs->type != KFS_SEQ)
					continue;
				for (size_t c = 0; c < pl->ncontainers && c < cs->len; c++) {
					int rc = read_container(p, &pl->containers[c],
								cs->items[c], file, err);
					if (rc < 0)
						return rc;
				}
			}
		}
	}
	return 0;
}

/* The last path part of an image reference, without its tag or digest:
 * "ghcr.io/syntasso/kratix-marketplace/redis-configure-pipeline:v0.1.0" gives
 * "redis-configure-pipeline". */
static char *image_basename(const char *image)
{
	const char *at = strchr(image, '@');
	size_t end = at ? (size_t)(at - image) : strlen(image);
	const char *slash = NULL;
	for (size_t i = 0; i < end; i++)
		if (image[i] == '/')
			slash = image + i;
	const char *start = slash ? slash + 1 : image;
	const char *colon = memchr(start, ':', end - (size_t)(start - image));
	if (colon)
		end = (size_t)(colon - image);
	return kfs_xstrndup(start, end - (size_t)(start - image));
}

char *kfs_promise_internal_folder(const char *promise_dir, const char *promise_name,
				  const char *image)
{
	char *base = image_basename(image);
	size_t pn = strlen(promise_name);
	const char *tries[2] = {base, NULL};
	if (strncmp(base, promise_name, pn) == 0 && base[pn] == '-' && base[pn + 1])
		tries[1] = base + pn + 1;
	char *found = NULL;
	for (int i = 0; i < 2 && !found && tries[i]; i++) {
		struct kfs_buf rel = {0};
		kfs_buf_printf(&rel, "internal/%s", tries[i]);
		char *dir = kfs_path_join(promise_dir, rel.data);
		kfs_buf_free(&rel);
		if (kfs_is_dir(dir))
			found = dir;
		else
			free(dir);
	}
	free(base);
	return found;
}
