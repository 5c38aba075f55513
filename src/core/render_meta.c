/* The metadata files Kratix reads after a pipeline: workflow-control.yaml
 * (work-creator/lib/workflow_control.go) and destination-selectors.yaml
 * (work-creator/lib/work_creator.go, ParseDestinationSelectors), checked as Kratix checks them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "render_internal.h"

/* The nanoseconds of one Go duration unit at s (its length in *n), or 0 when none. */
static double duration_unit(const char *s, size_t *n)
{
	static const struct {
		const char *name;
		double ns;
	} units[] = {
		{"ns", 1}, {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3}, {"ms", 1e6},
		{"s", 1e9}, {"m", 60e9}, {"h", 3600e9},
	};
	/* The longest unit that matches: "ms" before "m". */
	size_t best = 0;
	double ns = 0;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t len = strlen(units[i].name);
		if (len > best && strncmp(s, units[i].name, len) == 0)
			best = len, ns = units[i].ns;
	}
	*n = best;
	return ns;
}

/* Go's time.ParseDuration: an optional sign, then one or more decimal numbers each with a unit
 * ("1h30m", "1.5s", "300ms"); "0" alone needs none. Sets *seconds, rounded up. */
static bool parse_go_duration(const char *s, long long *seconds)
{
	bool neg = false;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (strcmp(s, "0") == 0) {
		*seconds = 0;
		return true;
	}
	if (!*s)
		return false;
	double total = 0;
	while (*s) {
		const char *start = s;
		double v = 0, scale = 1;
		while (*s >= '0' && *s <= '9')
			v = v * 10 + (*s++ - '0');
		bool digits = s > start;
		if (*s == '.') {
			s++;
			for (; *s >= '0' && *s <= '9'; s++, digits = true)
				v += (*s - '0') * (scale /= 10);
		}
		size_t ulen;
		double unit = duration_unit(s, &ulen);
		if (!digits || ulen == 0)
			return false;
		s += ulen;
		total += v * unit;
	}
	/* Go refuses a duration over about 292 years. */
	if (total > 9.2e18)
		return false;
	double secs = total / 1e9;
	long long whole = (long long)secs;
	*seconds = neg ? 0 : whole + (secs > (double)whole);
	return true;
}

static int control_field(const struct kfs_node *v, const char *source, const char *key,
			 enum kfs_type want, const char *what, struct kfs_error *err)
{
	if (v->type == want || v->type == KFS_NULL)
		return 0;
	return kfs_error_set(err, -EIO, "%s:%d: %s must be %s, not %s", source, v->line, key, what,
			     kfs_type_name(v->type));
}

int render_parse_control(const struct kfs_node *doc, const char *source,
			 struct kfs_workflow_control *out, struct kfs_error *err)
{
	memset(out, 0, sizeof(*out));
	out->retry_after = -1;
	if (!doc || doc->type == KFS_NULL)
		return 0;
	if (doc->type != KFS_MAP)
		return kfs_error_set(err, -EIO,
				     "%s:%d: must be a map of suspend, retryAfter and message, not %s",
				     source, doc->line, kfs_type_name(doc->type));
	const struct kfs_node *v;
	if ((v = kfs_map_get(doc, "suspend"))) {
		if (control_field(v, source, "suspend", KFS_BOOL, "true or false", err) < 0)
			return -EIO;
		out->suspend = v->type == KFS_BOOL && strcmp(v->text, "true") == 0;
	}
	if ((v = kfs_map_get(doc, "message"))) {
		if (control_field(v, source, "message", KFS_STR, "a string", err) < 0)
			return -EIO;
		if (v->type == KFS_STR && v->len)
			out->message = kfs_xstrdup(v->text);
	}
	if ((v = kfs_map_get(doc, "retryAfter"))) {
		if (control_field(v, source, "retryAfter", KFS_STR,
				  "a duration in quotes (\"30s\", \"5m\", \"1h30m\")", err) < 0)
			goto bad;
		/* An empty retryAfter asks for no retry, as in Kratix. */
		if (v->type == KFS_STR && v->len && !parse_go_duration(v->text, &out->retry_after)) {
			kfs_error_set(err, -EIO,
				      "%s:%d: retryAfter \"%s\" is not a duration: write a number and "
				      "a unit (h, m, s, ms), as \"30s\", \"5m\" or \"1h30m\"",
				      source, v->line, v->text);
			goto bad;
		}
	}
	out->stopped = out->suspend || out->retry_after >= 0;
	return 0;
bad:
	free(out->message);
	out->message = NULL;
	return -EIO;
}

/* Cleans a directory as Go's filepath.Clean does ("" and "./" are ".", "a/" is "a", "a/../b"
 * is "b", "/../a" is "/a"); returns a new string. */
static char *clean_dir(const char *dir)
{
	bool abs = *dir == '/';
	size_t max = strlen(dir) / 2 + 1, n = 0;
	const char **comp = kfs_xcalloc(max, sizeof(*comp));
	size_t *clen = kfs_xcalloc(max, sizeof(*clen));
	for (const char *s = dir; *s;) {
		const char *e = strchr(s, '/');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		bool up = len == 2 && strncmp(s, "..", 2) == 0;
		if (len == 0 || (len == 1 && *s == '.')) {
		} else if (up && n > 0 && !(clen[n - 1] == 2 && strncmp(comp[n - 1], "..", 2) == 0)) {
			n--;
		} else if (!(up && abs)) {
			comp[n] = s, clen[n++] = len;
		}
		s += len + (e != NULL);
	}
	struct kfs_buf out = {0};
	if (abs)
		kfs_buf_addc(&out, '/');
	for (size_t i = 0; i < n; i++) {
		if (i)
			kfs_buf_addc(&out, '/');
		kfs_buf_add(&out, comp[i], clen[i]);
	}
	if (out.len == 0)
		kfs_buf_addc(&out, '.');
	free(comp);
	free(clen);
	return kfs_buf_steal(&out);
}

static int check_labels(const struct kfs_node *ml, const char *source, size_t i,
			struct kfs_error *err)
{
	if (ml && ml->type != KFS_MAP && ml->type != KFS_NULL)
		return kfs_error_set(err, -EIO,
				     "%s:%d: entry with index %zu: matchLabels must be a map of "
				     "label: value, not %s",
				     source, ml->line, i, kfs_type_name(ml->type));
	if (!ml || ml->type != KFS_MAP || ml->len == 0)
		return kfs_error_set(err, -EIO, "%s: entry with index %zu has no selectors: add "
				     "matchLabels",
				     source, i);
	for (size_t k = 0; k < ml->len; k++) {
		const struct kfs_node *v = ml->pairs[k].value;
		if (v->type != KFS_STR && v->type != KFS_NULL)
			return kfs_error_set(err, -EIO,
					     "%s:%d: entry with index %zu: matchLabels.%s must be a "
					     "string, not %s: quote it",
					     source, v->line, i, ml->pairs[k].key,
					     kfs_type_name(v->type));
	}
	return 0;
}

/* Checks entry i and returns its cleaned directory in *dir (NULL on error). */
static int check_entry(const struct kfs_node *e, const char *source, size_t i, char **dir,
		       struct kfs_error *err)
{
	*dir = NULL;
	if (e->type != KFS_MAP && e->type != KFS_NULL)
		return kfs_error_set(err, -EIO,
				     "%s:%d: entry with index %zu must be a map of matchLabels and "
				     "directory, not %s",
				     source, e->line, i, kfs_type_name(e->type));
	const struct kfs_node *d = e->type == KFS_MAP ? kfs_map_get(e, "directory") : NULL;
	if (d && d->type != KFS_STR && d->type != KFS_NULL)
		return kfs_error_set(err, -EIO,
				     "%s:%d: entry with index %zu: directory must be a string, not %s",
				     source, d->line, i, kfs_type_name(d->type));
	if (check_labels(e->type == KFS_MAP ? kfs_map_get(e, "matchLabels") : NULL, source, i,
			 err) < 0)
		return -EIO;
	*dir = clean_dir(d && d->type == KFS_STR ? d->text : "");
	if (strchr(*dir, '/') || strcmp(*dir, "..") == 0) {
		kfs_error_set(err, -EIO,
			      "%s: invalid directory %s in entry with index %zu: sub-directories are "
			      "not allowed; name a top-level folder of output/",
			      source, *dir, i);
		free(*dir);
		*dir = NULL;
		return -EIO;
	}
	return 0;
}

int render_check_selectors(const struct kfs_node *doc, const char *source, struct kfs_error *err)
{
	if (!doc || doc->type == KFS_NULL)
		return 0;
	if (doc->type != KFS_SEQ)
		return kfs_error_set(err, -EIO,
				     "%s:%d: must be a list of {matchLabels, directory} entries, not %s",
				     source, doc->line, kfs_type_name(doc->type));
	char **dirs = kfs_xcalloc(doc->len + 1, sizeof(*dirs));
	int rc = 0;
	for (size_t i = 0; i < doc->len && rc == 0; i++) {
		rc = check_entry(doc->items[i], source, i, &dirs[i], err);
		for (size_t j = 0; rc == 0 && j < i; j++)
			if (strcmp(dirs[j], dirs[i]) == 0)
				rc = kfs_error_set(err, -EIO,
						   "%s: duplicate entries: directory %s is listed by "
						   "entries %zu and %zu",
						   source, dirs[i], j, i);
	}
	kfs_strv_free(dirs);
	return rc;
}
