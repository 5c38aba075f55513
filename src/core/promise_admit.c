/* Requests against promises: which promise serves a request, and whether its metadata is fit
 * to admit (names, labels and annotations as Kubernetes checks them). */
#include "promise_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

const char *kfs_promise_kind_in_other_case(const struct kfs_promise *p,
					   const struct kfs_node *request)
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
	/* The status is a subresource: Kubernetes keeps the object's own and ignores one written
	 * in the request. kratixfs passes the object's status to the render separately. */
	struct kfs_node *status = kfs_map_take(request, "status");
	if (status && warnings)
		kfs_buf_adds(warnings, "ignored field \"status\": an object's status is its own "
				       "(a subresource), not part of the request\n");
	kfs_node_free(status);
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
	if (kfs_promise_kind_in_other_case(p, request))
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
