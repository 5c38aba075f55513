/* A recipe laid over its FROM image's config, as docker build would have made the image's:
 * ENV on the image's Env (a ${NAME} the Dockerfile left for the image filled from it), WORKDIR
 * from the image's WorkingDir, ENTRYPOINT and CMD with docker's rule that an ENTRYPOINT drops
 * the CMD the image had. */
#include "kratixfs/exec.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static char **strv_dup(char *const *v)
{
	if (!v)
		return NULL;
	size_t n = 0;
	while (v[n])
		n++;
	char **c = kfs_xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		c[i] = kfs_xstrdup(v[i]);
	return c;
}

static const char *env_get(char *const *env, const char *name, size_t n)
{
	for (size_t i = 0; env && env[i]; i++)
		if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
			return env[i] + n + 1;
	return NULL;
}

/* Fills every ${NAME} of s from env (empty when env has none). */
static char *fill(const char *s, char *const *env)
{
	struct kfs_buf b = {0};
	kfs_buf_add(&b, "", 0);
	for (const char *p = s; *p;) {
		size_t n = 0;
		if (p[0] == '$' && p[1] == '{') {
			while (isalnum((unsigned char)p[2 + n]) || p[2 + n] == '_')
				n++;
		}
		if (n && p[2 + n] == '}' && !isdigit((unsigned char)p[2])) {
			const char *v = env_get(env, p + 2, n);
			kfs_buf_adds(&b, v ? v : "");
			p += n + 3;
		} else {
			kfs_buf_addc(&b, *p++);
		}
	}
	return kfs_buf_steal(&b);
}

static void env_put(char ***env, const char *entry)
{
	size_t n = strcspn(entry, "=");
	size_t k = 0;
	for (; *env && (*env)[k]; k++)
		if (strncmp((*env)[k], entry, n) == 0 && (*env)[k][n] == '=') {
			free((*env)[k]);
			(*env)[k] = kfs_xstrdup(entry);
			return;
		}
	*env = kfs_xrealloc(*env, (k + 2) * sizeof(char *));
	(*env)[k] = kfs_xstrdup(entry);
	(*env)[k + 1] = NULL;
}

/* a taken from base (a folder) when relative. */
static char *absolute(const char *base, const char *a)
{
	if (a[0] == '/')
		return kfs_xstrdup(a);
	struct kfs_buf b = {0};
	if (!base || base[0] != '/')
		base = "/";
	size_t bl = strlen(base);
	kfs_buf_printf(&b, "%s%s%s", base, base[bl - 1] == '/' ? "" : "/", a);
	return kfs_buf_steal(&b);
}

int kfs_recipe_apply(const struct kfs_recipe *r, const struct kfs_image *base,
		     struct kfs_image **out, struct kfs_error *err)
{
	(void)err;
	struct kfs_image *img = kfs_xcalloc(1, sizeof(*img));
	img->ref = kfs_xstrdup(base->ref);
	img->digest = base->digest ? kfs_xstrdup(base->digest) : NULL;
	img->rootfs = base->rootfs ? kfs_xstrdup(base->rootfs) : NULL;
	img->env = strv_dup(base->env);
	for (size_t i = 0; r->env && r->env[i]; i++) {
		char *v = fill(r->env[i], img->env);
		env_put(&img->env, v);
		free(v);
	}
	if (r->workdir) {
		char *w = fill(r->workdir, img->env);
		img->workdir = absolute(base->workdir, w);
		free(w);
	} else if (base->workdir) {
		img->workdir = kfs_xstrdup(base->workdir);
	}
	const char *user = r->user ? r->user : base->user;
	img->user = user ? fill(user, img->env) : NULL;
	img->entrypoint = strv_dup(r->entrypoint ? r->entrypoint : base->entrypoint);
	if (r->cmd)
		img->cmd = strv_dup(r->cmd);
	else if (!r->entrypoint)
		img->cmd = strv_dup(base->cmd);
	*out = img;
	return 0;
}

char *kfs_recipe_dest(const struct kfs_copy *c, const struct kfs_image *base)
{
	return absolute(base ? base->workdir : NULL, c->dest);
}
