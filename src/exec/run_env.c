/* A container's environment and command line, as Kratix's pipeline pod gives them
 * (api/v1alpha1/pipeline_factory.go: the KRATIX_* variables, then the container's env) and as
 * Kubernetes runs a container (command replaces ENTRYPOINT, args replace CMD, $(VAR) expanded). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/files.h"
#include "run_internal.h"

/* Sets name=value in env, replacing an earlier value of name (later sources win). */
static void env_set(struct strv *env, const char *name, size_t nlen, const char *value)
{
	struct kfs_buf pair = {0};
	kfs_buf_printf(&pair, "%.*s=%s", (int)nlen, name, value);
	for (size_t i = 0; i < env->n; i++) {
		if (strncmp(env->v[i], name, nlen) == 0 && env->v[i][nlen] == '=') {
			free(env->v[i]);
			env->v[i] = kfs_buf_steal(&pair);
			return;
		}
	}
	strv_take(env, kfs_buf_steal(&pair));
}

static void env_put(struct strv *env, const char *pair)
{
	const char *eq = strchr(pair, '=');
	if (eq && eq > pair)
		env_set(env, pair, (size_t)(eq - pair), eq + 1);
}

static const char *env_get(const struct strv *env, const char *name, size_t nlen)
{
	for (size_t i = 0; i < env->n; i++)
		if (strncmp(env->v[i], name, nlen) == 0 && env->v[i][nlen] == '=')
			return env->v[i] + nlen + 1;
	return NULL;
}

/* Kubernetes' expansion: $(NAME) becomes NAME's value when it is defined, and stays as written
 * when it is not; $$ is a literal $. */
static char *expand(const char *s, const struct strv *env)
{
	struct kfs_buf b = {0};
	kfs_buf_adds(&b, "");
	while (*s) {
		if (s[0] == '$' && s[1] == '$') {
			kfs_buf_addc(&b, '$');
			s += 2;
			continue;
		}
		const char *close = s[0] == '$' && s[1] == '(' ? strchr(s + 2, ')') : NULL;
		const char *value = close ? env_get(env, s + 2, (size_t)(close - s - 2)) : NULL;
		if (value) {
			kfs_buf_adds(&b, value);
			s = close + 1;
		} else {
			kfs_buf_addc(&b, *s++);
		}
	}
	return kfs_buf_steal(&b);
}

/* The object's group and version from its apiVersion ("group/version" or "version"). */
static void split_api_version(const char *av, char **group, char **version)
{
	const char *slash = av ? strchr(av, '/') : NULL;
	*group = slash ? kfs_xstrndup(av, (size_t)(slash - av)) : kfs_xstrdup("");
	*version = kfs_xstrdup(slash ? slash + 1 : av ? av : "");
}

static void kratix_vars(struct strv *env, const struct kfs_exec_call *call)
{
	const struct kfs_promise *p = call->promise;
	bool resource = call->type == KFS_WF_RESOURCE;
	const struct kfs_node *o = call->object;
	char *group, *version;
	split_api_version(kfs_node_text_at(o, "apiVersion"), &group, &version);
	const char *kind = kfs_node_text_at(o, "kind");
	const char *name = kfs_node_text_at(o, "metadata.name");
	const char *ns = kfs_node_text_at(o, "metadata.namespace");
	if (resource && !p->cluster_scoped && (!ns || !*ns))
		ns = "default"; /* where the API server puts a namespaced object without one */
	const struct kfs_node *dry =
		kfs_map_get(kfs_node_at(o, "metadata.labels"), "kratix.io/dry-run");
	const char *pairs[][2] = {
		{"KRATIX_WORKFLOW_ACTION", kfs_waction_names[call->action]},
		{"KRATIX_WORKFLOW_TYPE", kfs_wtype_names[call->type]},
		{"KRATIX_PROMISE_NAME", p->name},
		{"KRATIX_PIPELINE_NAME", call->pipeline->name},
		{"KRATIX_OBJECT_KIND", kind ? kind : ""},
		{"KRATIX_OBJECT_GROUP", group},
		{"KRATIX_OBJECT_VERSION", version},
		{"KRATIX_OBJECT_NAME", name ? name : ""},
		{"KRATIX_OBJECT_NAMESPACE", resource && ns ? ns : ""},
		{"KRATIX_CRD_PLURAL", resource ? p->plural : "promises"},
		{"KRATIX_CLUSTER_SCOPED", !resource || p->cluster_scoped ? "true" : "false"},
	};
	for (size_t i = 0; i < sizeof(pairs) / sizeof(*pairs); i++)
		env_set(env, pairs[i][0], strlen(pairs[i][0]), pairs[i][1]);
	/* Kratix sets it only for a resource labelled kratix.io/dry-run: "true". */
	if (resource && dry && dry->type == KFS_STR && strcmp(dry->text, "true") == 0)
		env_set(env, "KRATIX_DRY_RUN", 14, "true");
	free(group);
	free(version);
}

int env_build(struct sandbox *sb, const struct kfs_exec_call *call, const struct kfs_image *img,
	      struct kfs_error *err)
{
	(void)err;
	struct strv *env = &sb->env;
	for (size_t i = 0; img && img->env && img->env[i]; i++)
		env_put(env, img->env[i]);
	/* What a container runtime sets when the image does not. */
	if (!env_get(env, "PATH", 4))
		env_set(env, "PATH", 4, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	if (!env_get(env, "HOME", 4))
		env_set(env, "HOME", 4, sb->uid == 0 ? "/root" : "/");
	env_set(env, "HOSTNAME", 8, "kratix-pipeline");
	kratix_vars(env, call);
	/* The container's env, in order, each able to use the ones before it. */
	for (size_t i = 0; call->container->env && call->container->env[i]; i++) {
		const char *pair = call->container->env[i];
		const char *eq = strchr(pair, '=');
		char *value = expand(eq + 1, env);
		env_set(env, pair, (size_t)(eq - pair), value);
		free(value);
	}
	return 0;
}

static size_t count(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

int argv_build(struct sandbox *sb, const struct kfs_exec_call *call, const struct kfs_image *img,
	       struct kfs_error *err)
{
	const struct kfs_container *c = call->container;
	/* img is the image's config with a folder's Dockerfile applied (kfs_recipe_apply). */
	char **entry = img->entrypoint;
	char **cmd = img->cmd;
	char **head = c->command ? c->command : entry;
	char **tail = c->command || c->args ? c->args : cmd;
	bool expand_vars = c->command || c->args;
	for (size_t i = 0; i < count(head); i++)
		strv_take(&sb->argv, expand_vars && c->command ? expand(head[i], &sb->env)
							       : kfs_xstrdup(head[i]));
	for (size_t i = 0; i < count(tail); i++)
		strv_take(&sb->argv, c->args ? expand(tail[i], &sb->env) : kfs_xstrdup(tail[i]));
	if (sb->argv.n == 0)
		return kfs_error_set(err, -EINVAL,
				     "container %s: nothing to run: the image has no ENTRYPOINT or "
				     "CMD and the promise gives no command",
				     c->name);
	return 0;
}

/* The id of name in root's passwd or group file (field 3), or -1. */
static long lookup_id(const char *root, const char *file, const char *name)
{
	struct kfs_buf path = {0}, text = {0};
	kfs_buf_printf(&path, "%s/%s", root, file);
	long id = -1;
	if (kfs_read_file(path.data, &text, NULL) == 0) {
		size_t nl = strlen(name);
		for (char *line = text.data; line && *line && id < 0;) {
			char *end = strchr(line, '\n');
			if (strncmp(line, name, nl) == 0 && line[nl] == ':') {
				const char *f = strchr(line + nl + 1, ':');
				if (f)
					id = strtol(f + 1, NULL, 10);
			}
			line = end ? end + 1 : NULL;
		}
	}
	kfs_buf_free(&path);
	kfs_buf_free(&text);
	return id;
}

static int one_id(const char *root, const char *file, const char *text, size_t len,
		  unsigned *out, struct kfs_error *err)
{
	char *s = kfs_xstrndup(text, len);
	char *end;
	long id = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0')
		id = lookup_id(root, file, s);
	int rc = 0;
	if (id < 0 || id > 65535)
		rc = kfs_error_set(err, -EINVAL,
				   "USER %s: not a number and not in the image's %s; use a numeric "
				   "uid[:gid]",
				   s, file);
	else
		*out = (unsigned)id;
	free(s);
	return rc;
}

int user_resolve(const char *root, const char *user, unsigned *uid, unsigned *gid,
		 struct kfs_error *err)
{
	*uid = *gid = 0;
	if (!user || !*user)
		return 0;
	const char *colon = strchr(user, ':');
	size_t ulen = colon ? (size_t)(colon - user) : strlen(user);
	int rc = one_id(root, "etc/passwd", user, ulen, uid, err);
	if (rc == 0 && colon)
		rc = one_id(root, "etc/group", colon + 1, strlen(colon + 1), gid, err);
	/* Without a group, group 0, as Docker runs a user that has no primary group. */
	return rc;
}
