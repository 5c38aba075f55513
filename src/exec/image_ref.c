/* Image references as users write them ("busybox", "localhost/x:1", "ghcr.io/org/app:v1",
 * "app@sha256:...") and the names images are stored under, compared the way docker and podman
 * do: a short name is docker.io/library/NAME, and also localhost/NAME, where podman and buildah
 * keep the images they build. */
#include "image_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool img_is_digest(const char *s)
{
	if (!s || strncmp(s, "sha256:", 7) != 0 || strlen(s) != 71)
		return false;
	for (const char *p = s + 7; *p; p++)
		if (!isxdigit((unsigned char)*p) || isupper((unsigned char)*p))
			return false;
	return true;
}

void img_ref_free(struct img_ref *r)
{
	free(r->domain);
	free(r->path);
	free(r->tag);
	free(r->digest);
	memset(r, 0, sizeof(*r));
}

/* Whether the first component of a name is a registry: it has a '.' or a ':' (a port), or is
 * "localhost" (docker's rule). */
static bool is_domain(const char *s, size_t n)
{
	if (n == 9 && strncmp(s, "localhost", 9) == 0)
		return true;
	return memchr(s, '.', n) || memchr(s, ':', n);
}

static bool name_chars_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-/:@", *s))
			return false;
	return true;
}

int img_ref_parse(const char *text, struct img_ref *out, struct kfs_error *err)
{
	memset(out, 0, sizeof(*out));
	if (!text || !name_chars_ok(text))
		return kfs_error_set(err, -EINVAL,
				     "image '%s': not an image reference (like busybox, "
				     "localhost/app:1 or ghcr.io/org/app@sha256:...)",
				     text ? text : "");
	char *s = kfs_xstrdup(text);
	char *at = strchr(s, '@');
	if (at) {
		*at = '\0';
		if (!img_is_digest(at + 1)) {
			free(s);
			return kfs_error_set(err, -EINVAL,
					     "image '%s': the digest after '@' must be sha256: and "
					     "64 lower-case hex digits", text);
		}
		out->digest = kfs_xstrdup(at + 1);
	}
	char *slash = strchr(s, '/');
	char *rest = s;
	if (slash && is_domain(s, (size_t)(slash - s))) {
		out->domain = kfs_xstrndup(s, (size_t)(slash - s));
		rest = slash + 1;
	} else {
		out->domain = kfs_xstrdup("docker.io");
		out->short_name = true;
	}
	char *last = strrchr(rest, '/');
	char *colon = strchr(last ? last : rest, ':');
	if (colon) {
		*colon = '\0';
		out->tag = kfs_xstrdup(colon + 1);
	} else if (!out->digest) {
		out->tag = kfs_xstrdup("latest");
	}
	if (!*rest || (out->tag && !*out->tag) || strstr(rest, "//") || rest[strlen(rest) - 1] == '/') {
		free(s);
		img_ref_free(out);
		return kfs_error_set(err, -EINVAL, "image '%s': not an image reference", text);
	}
	if (strcmp(out->domain, "docker.io") == 0 && !strchr(rest, '/')) {
		out->path = kfs_xmalloc(strlen(rest) + 9);
		strcpy(out->path, "library/");
		strcat(out->path, rest);
	} else {
		out->path = kfs_xstrdup(rest);
	}
	free(s);
	return 0;
}

/* The path as written before docker.io's "library/" was added: "busybox" for docker.io's
 * library/busybox, so that localhost/busybox is looked for too. */
static const char *short_path(const struct img_ref *r)
{
	if (strcmp(r->domain, "docker.io") == 0 && strncmp(r->path, "library/", 8) == 0)
		return r->path + 8;
	return r->path;
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Same repository: the same domain and path, or a short name against localhost/ on either
 * side (buildah bud -t app keeps localhost/app; a docker save of "app" says "app"). */
static bool same_repo(const struct img_ref *a, const struct img_ref *b)
{
	if (strcmp(a->domain, b->domain) == 0 && strcmp(a->path, b->path) == 0)
		return true;
	if (a->short_name && strcmp(b->domain, "localhost") == 0)
		return strcmp(short_path(a), b->path) == 0;
	if (b->short_name && strcmp(a->domain, "localhost") == 0)
		return strcmp(short_path(b), a->path) == 0;
	return false;
}

bool img_ref_matches(const struct img_ref *want, const char *stored_name)
{
	struct img_ref have;
	if (img_ref_parse(stored_name, &have, NULL) < 0)
		return false;
	bool ok = same_repo(want, &have);
	if (ok && want->digest)
		ok = same_str(want->digest, have.digest);
	else if (ok)
		ok = same_str(want->tag, have.tag);
	img_ref_free(&have);
	return ok;
}
