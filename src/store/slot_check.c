/* What a file of the root slot's output/ and metadata/ must be when another process writes it
 * (slot.c): the checks a render makes of its own files, and the ones Kratix makes of a
 * pipeline's metadata after the pipeline (work-creator/lib/work_creator.go,
 * work-creator/lib/workflow_control.go, work-creator/cmd/update_status.go), made at close. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/doc.h"
#include "kratixfs/status.h"
#include "store_internal.h"

static bool is_yaml_path(const char *path)
{
	size_t n = strlen(path);
	return (n > 5 && strcmp(path + n - 5, ".yaml") == 0) ||
	       (n > 4 && strcmp(path + n - 4, ".yml") == 0);
}

/* Only blanks and comments: an empty YAML stream, which Kratix reads as nothing written. */
static bool blank_yaml(const char *data, size_t len)
{
	bool comment = false;
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\n')
			comment = false;
		else if (data[i] == '#')
			comment = true;
		else if (!comment && !isspace((unsigned char)data[i]))
			return false;
	}
	return true;
}

static bool is_scalar(const struct kfs_node *n)
{
	return n && n->type != KFS_MAP && n->type != KFS_SEQ && n->type != KFS_NULL;
}

/* Whether any key naming a password or token holds a scalar: status.yaml shows it masked. */
static bool has_secret(const struct kfs_node *n)
{
	if (n->type == KFS_SEQ) {
		for (size_t i = 0; i < n->len; i++)
			if (has_secret(n->items[i]))
				return true;
		return false;
	}
	if (n->type != KFS_MAP)
		return false;
	for (size_t i = 0; i < n->len; i++) {
		const char *k = n->pairs[i].key;
		const struct kfs_node *v = n->pairs[i].value;
		if ((strcasestr(k, "password") || strcasestr(k, "token")) && v->type != KFS_MAP &&
		    v->type != KFS_SEQ)
			return true;
		if (has_secret(v))
			return true;
	}
	return false;
}

/* metadata/status.yaml: a map that Kratix's merge takes (no `kratix` key, each condition with
 * a type). The daemon's own condition types are dropped and secrets masked, as a render's
 * status is kept; *keep then gets the text to keep instead of the bytes written. */
static int check_status(struct kfs_store *s, const char *path, const char *data, size_t len,
			char **keep, struct kfs_error *err)
{
	struct kfs_node *doc = NULL;
	if (kfs_doc_parse(data, len, path, &doc, err) < 0)
		return -EIO;
	if (doc->type != KFS_MAP) {
		enum kfs_type type = doc->type;
		kfs_node_free(doc);
		return kfs_error_set(err, -EIO,
				     "%s: must be a map of status keys (Kratix merges it onto the "
				     "object's status), not a %s",
				     path, kfs_type_name(type));
	}
	struct kfs_node *probe = kfs_node_new(KFS_MAP);
	int rc = kfs_status_merge(probe, doc, path, err);
	kfs_node_free(probe);
	if (rc < 0) {
		kfs_node_free(doc);
		return -EIO;
	}
	struct kfs_node *conds = kfs_map_get(doc, "conditions");
	size_t before = conds && conds->type == KFS_SEQ ? conds->len : 0;
	kfs_drop_daemon_conditions(s, s->slot, doc, NULL, false);
	conds = kfs_map_get(doc, "conditions");
	size_t after = conds && conds->type == KFS_SEQ ? conds->len : 0;
	if (after != before || has_secret(doc))
		kfs_set_render_status(keep, doc); /* takes doc */
	else
		kfs_node_free(doc);
	return 0;
}

/* A directory as Go's filepath.Clean gives it, for the few forms a selector uses (a new
 * string, whole: a long name is never cut). */
static char *clean_dir(const char *in)
{
	while (in[0] == '.' && in[1] == '/')
		in += 2;
	char *out = kfs_xstrdup(in[0] ? in : ".");
	size_t n = strlen(out);
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
	return out;
}

/* One entry of destination-selectors.yaml; *dir gets its cleaned directory (free it). */
static int check_selector(const char *path, const struct kfs_node *e, size_t i, char **dir,
			  struct kfs_error *err)
{
	const struct kfs_node *labels = e->type == KFS_MAP ? kfs_map_get(e, "matchLabels") : NULL;
	if (!labels || labels->type != KFS_MAP || labels->len == 0)
		return kfs_error_set(err, -EIO,
				     "%s: entry with index %zu has no selectors (write matchLabels: "
				     "{label: value})",
				     path, i);
	for (size_t k = 0; k < labels->len; k++)
		if (!is_scalar(labels->pairs[k].value))
			return kfs_error_set(err, -EIO,
					     "%s: entry with index %zu: matchLabels.%s must be a "
					     "string",
					     path, i, labels->pairs[k].key);
	const struct kfs_node *d = kfs_map_get(e, "directory");
	if (d && d->type != KFS_NULL && !is_scalar(d))
		return kfs_error_set(err, -EIO,
				     "%s: entry with index %zu: directory must be a string", path, i);
	*dir = clean_dir(d && is_scalar(d) ? d->text : "");
	if (strchr(*dir, '/') && strcmp(*dir, "/") != 0)
		return kfs_error_set(err, -EIO,
				     "%s: invalid directory %s, sub-directories are not allowed",
				     path, *dir);
	return 0;
}

/* metadata/destination-selectors.yaml: Kratix's ParseDestinationSelectors rules. */
static int check_selectors(const char *path, const char *data, size_t len, struct kfs_error *err)
{
	struct kfs_node *doc = NULL;
	if (kfs_doc_parse(data, len, path, &doc, err) < 0)
		return -EIO;
	int rc = 0;
	if (doc->type != KFS_SEQ)
		rc = kfs_error_set(err, -EIO,
				   "%s: must be a list of {matchLabels, directory} entries", path);
	size_t n = rc == 0 ? doc->len : 0;
	char **dirs = kfs_xcalloc(n + 1, sizeof(*dirs));
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = check_selector(path, doc->items[i], i, &dirs[i], err);
		for (size_t j = 0; rc == 0 && j < i; j++)
			if (strcmp(dirs[j], dirs[i]) == 0)
				rc = kfs_error_set(err, -EIO,
						   "%s: duplicate entries for directory %s", path,
						   dirs[i]);
	}
	for (size_t i = 0; i < n; i++)
		free(dirs[i]);
	free(dirs);
	kfs_node_free(doc);
	return rc;
}

/* A Go duration ("30s", "1h30m", "1.5h", "0"), as time.ParseDuration reads it. */
static bool go_duration(const char *s)
{
	static const char *const units[] = {"ns", "us", "µs", "μs", "ms", "s", "m", "h", NULL};
	if (*s == '+' || *s == '-')
		s++;
	if (strcmp(s, "0") == 0)
		return true;
	if (!*s)
		return false;
	while (*s) {
		bool digits = false;
		while (isdigit((unsigned char)*s))
			s++, digits = true;
		if (*s == '.')
			for (s++; isdigit((unsigned char)*s); s++)
				digits = true;
		if (!digits)
			return false;
		size_t best = 0;
		for (const char *const *u = units; *u; u++) {
			size_t n = strlen(*u);
			if (strncmp(s, *u, n) == 0 && n > best)
				best = n;
		}
		if (!best)
			return false;
		s += best;
	}
	return true;
}

/* metadata/workflow-control.yaml: suspend (a boolean), retryAfter (a Go duration), message. */
static int check_control(const char *path, const char *data, size_t len, struct kfs_error *err)
{
	struct kfs_node *doc = NULL;
	if (kfs_doc_parse(data, len, path, &doc, err) < 0)
		return -EIO;
	int rc = 0;
	const struct kfs_node *n;
	if (doc->type != KFS_MAP)
		rc = kfs_error_set(err, -EIO, "%s: must be a map (suspend, retryAfter, message)",
				   path);
	else if ((n = kfs_map_get(doc, "suspend")) && n->type != KFS_BOOL && n->type != KFS_NULL)
		rc = kfs_error_set(err, -EIO, "%s: suspend must be true or false", path);
	else if ((n = kfs_map_get(doc, "retryAfter")) && n->type != KFS_NULL &&
		 (n->type != KFS_STR || !go_duration(n->text)))
		rc = kfs_error_set(err, -EIO,
				   "%s: retryAfter must be a duration such as \"30s\" or \"5m\" "
				   "(got %s)",
				   path, is_scalar(n) ? n->text : kfs_type_name(n->type));
	else if ((n = kfs_map_get(doc, "message")) && n->type != KFS_NULL && n->type != KFS_STR)
		rc = kfs_error_set(err, -EIO, "%s: message must be a string", path);
	kfs_node_free(doc);
	return rc;
}

int kfs_slot_check_file(struct kfs_store *s, const char *path, const char *data, size_t len,
			char **keep, struct kfs_error *err)
{
	*keep = NULL;
	if (len > s->max_input)
		return kfs_error_set(err, -EFBIG, "%s: %zu bytes is larger than max_input (%zu bytes)",
				     path, len, s->max_input);
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	bool meta = slash == path + 8 && strncmp(path, "metadata/", 9) == 0;
	if (meta && (!strcmp(base, "status.yaml") || !strcmp(base, "destination-selectors.yaml") ||
		     !strcmp(base, "workflow-control.yaml"))) {
		if (blank_yaml(data, len))
			return 0; /* nothing written: Kratix reads no status, selectors, control */
		if (!strcmp(base, "status.yaml"))
			return check_status(s, path, data, len, keep, err);
		if (!strcmp(base, "destination-selectors.yaml"))
			return check_selectors(path, data, len, err);
		return check_control(path, data, len, err);
	}
	if (strncmp(path, "output/", 7) == 0 && is_yaml_path(path) &&
	    kfs_doc_check(data, len, path, err) < 0)
		return -EIO;
	return 0;
}
