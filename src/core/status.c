#include "kratixfs/status.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Records one problem line, "<source>:<line>: what" when the node came from a file, so that
 * every mistake in a fragment is reported at once. */
static void add_problem(struct kfs_error *err, int *problems, const char *source,
			const struct kfs_node *node, const char *what)
{
	if (node && node->line > 0) {
		if ((*problems)++ == 0)
			kfs_error_set(err, -EINVAL, "%s:%d: %s", source, node->line, what);
		else
			kfs_error_add(err, -EINVAL, "%s:%d: %s", source, node->line, what);
	} else {
		if ((*problems)++ == 0)
			kfs_error_set(err, -EINVAL, "%s: %s", source, what);
		else
			kfs_error_add(err, -EINVAL, "%s: %s", source, what);
	}
}

static const char *condition_type(const struct kfs_node *cond)
{
	if (!cond || cond->type != KFS_MAP)
		return NULL;
	const struct kfs_node *t = kfs_map_get(cond, "type");
	if (!t || t->type != KFS_STR)
		return NULL;
	return t->text;
}

static void check_conditions(const struct kfs_node *conds, const char *source,
			     struct kfs_error *err, int *problems)
{
	char what[256];

	if (conds->type != KFS_SEQ) {
		snprintf(what, sizeof(what),
			 "conditions must be a list of maps, each with a string 'type', not %s",
			 kfs_type_name(conds->type));
		add_problem(err, problems, source, conds, what);
		return;
	}
	for (size_t i = 0; i < conds->len; i++) {
		const struct kfs_node *c = conds->items[i];
		if (c->type != KFS_MAP) {
			snprintf(what, sizeof(what), "conditions[%zu] must be a map, not %s", i,
				 kfs_type_name(c->type));
			add_problem(err, problems, source, c, what);
			continue;
		}
		const struct kfs_node *t = kfs_map_get(c, "type");
		if (!t) {
			snprintf(what, sizeof(what), "conditions[%zu] has no 'type'; add one", i);
			add_problem(err, problems, source, c, what);
		} else if (t->type != KFS_STR || t->len == 0) {
			snprintf(what, sizeof(what),
				 "conditions[%zu].type must be a non-empty string, not %s", i,
				 t->type == KFS_STR ? "empty" : kfs_type_name(t->type));
			add_problem(err, problems, source, t, what);
		}
	}
}

/* Every check runs before any change so that a refused fragment leaves status untouched. */
static int check_fragment(const struct kfs_node *status, const struct kfs_node *fragment,
			  const char *source, struct kfs_error *err)
{
	int problems = 0;
	char what[256];

	if (!status || status->type != KFS_MAP)
		return kfs_error_set(err, -EINVAL, "%s: the status to merge into is not a map",
				     source);
	if (!fragment || fragment->type != KFS_MAP) {
		snprintf(what, sizeof(what), "status must be a map of keys, not %s",
			 fragment ? kfs_type_name(fragment->type) : "empty");
		add_problem(err, &problems, source, fragment, what);
		return -EINVAL;
	}
	for (size_t i = 0; i < fragment->len; i++) {
		const struct kfs_pair *p = &fragment->pairs[i];
		if (strcmp(p->key, "kratix") == 0)
			add_problem(err, &problems, source, NULL,
				    "the key 'kratix' is reserved for Kratix; remove it");
		else if (strcmp(p->key, "conditions") == 0)
			check_conditions(p->value, source, err, &problems);
	}
	return problems ? -EINVAL : 0;
}

/* status's conditions sequence, created (or replacing a non-sequence) when needed. */
static struct kfs_node *conditions_of(struct kfs_node *status, bool *changed)
{
	struct kfs_node *conds = kfs_map_get(status, "conditions");
	if (conds && conds->type == KFS_SEQ)
		return conds;
	conds = kfs_node_new(KFS_SEQ);
	kfs_map_set(status, "conditions", conds);
	if (changed)
		*changed = true;
	return conds;
}

static size_t find_condition(const struct kfs_node *conds, const char *type)
{
	for (size_t i = 0; i < conds->len; i++) {
		const char *t = condition_type(conds->items[i]);
		if (t && strcmp(t, type) == 0)
			return i;
	}
	return conds->len;
}

static void merge_conditions(struct kfs_node *status, const struct kfs_node *frag)
{
	struct kfs_node *conds = conditions_of(status, NULL);

	for (size_t i = 0; i < frag->len; i++) {
		const struct kfs_node *c = frag->items[i];
		size_t at = find_condition(conds, condition_type(c));
		if (at < conds->len) {
			kfs_node_free(conds->items[at]);
			conds->items[at] = kfs_node_copy(c);
		} else {
			kfs_seq_append(conds, kfs_node_copy(c));
		}
	}
}

int kfs_status_merge(struct kfs_node *status, const struct kfs_node *fragment, const char *source,
		     struct kfs_error *err)
{
	int rc = check_fragment(status, fragment, source, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < fragment->len; i++) {
		const struct kfs_pair *p = &fragment->pairs[i];
		if (strcmp(p->key, "conditions") == 0)
			merge_conditions(status, p->value);
		else
			kfs_map_set(status, p->key, kfs_node_copy(p->value));
	}
	return 0;
}

/* Sets map.key to the string value; returns whether the stored node differed. */
static bool set_str(struct kfs_node *map, const char *key, const char *value)
{
	const struct kfs_node *old = kfs_map_get(map, key);
	if (old && old->type == KFS_STR && strcmp(old->text, value) == 0)
		return false;
	kfs_map_set(map, key, kfs_node_new_str(value));
	return true;
}

bool kfs_status_set_condition(struct kfs_node *status, const char *type, const char *cstatus,
			      const char *reason, const char *message, const char *now)
{
	bool changed = false;

	if (!status || status->type != KFS_MAP || !type)
		return false;
	cstatus = cstatus ? cstatus : "Unknown";
	reason = reason ? reason : "";
	message = message ? message : "";
	now = now ? now : "";

	struct kfs_node *conds = conditions_of(status, &changed);
	size_t at = find_condition(conds, type);
	if (at == conds->len) {
		struct kfs_node *c = kfs_node_new(KFS_MAP);
		kfs_map_set(c, "type", kfs_node_new_str(type));
		kfs_map_set(c, "status", kfs_node_new_str(cstatus));
		kfs_map_set(c, "reason", kfs_node_new_str(reason));
		kfs_map_set(c, "message", kfs_node_new_str(message));
		kfs_map_set(c, "lastTransitionTime", kfs_node_new_str(now));
		kfs_seq_append(conds, c);
		return true;
	}

	struct kfs_node *c = conds->items[at];
	const struct kfs_node *old = kfs_map_get(c, "status");
	/* A transition is a change of status text; retyping "True" from bool to string is not. */
	bool transition =
	    !old || old->type == KFS_MAP || old->type == KFS_SEQ || strcmp(old->text, cstatus) != 0;
	changed |= set_str(c, "status", cstatus);
	changed |= set_str(c, "reason", reason);
	changed |= set_str(c, "message", message);
	if (transition || !kfs_map_get(c, "lastTransitionTime"))
		changed |= set_str(c, "lastTransitionTime", now);
	return changed;
}
