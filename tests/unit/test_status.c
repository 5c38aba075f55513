#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/doc.h"
#include "kratixfs/status.h"

static struct kfs_node *parse_ok(const char *text)
{
	struct kfs_node *n = NULL;
	struct kfs_error err = {0};
	int rc = kfs_doc_parse(text, strlen(text), "t.yaml", &n, &err);
	if (rc != 0)
		fail_msg("parse failed: %s", err.msg);
	return n;
}

/* Asserts that node emits exactly as expected (order and types included). */
static void assert_yaml(const struct kfs_node *n, const char *expected)
{
	struct kfs_node *want = parse_ok(expected);
	struct kfs_buf got = {0}, exp = {0};
	kfs_doc_emit(n, &got);
	kfs_doc_emit(want, &exp);
	assert_string_equal(got.data, exp.data);
	kfs_buf_free(&got);
	kfs_buf_free(&exp);
	kfs_node_free(want);
}

static void merge_ok(struct kfs_node *status, const char *fragment)
{
	struct kfs_node *frag = parse_ok(fragment);
	struct kfs_error err = {0};
	int rc = kfs_status_merge(status, frag, "metadata/status.yaml", &err);
	if (rc != 0)
		fail_msg("merge failed: %s", err.msg);
	kfs_node_free(frag);
}

/* Merges a fragment that must be refused, checks status did not move, returns the message. */
static void merge_refused(const char *status_text, const char *fragment, const char *expect_msg)
{
	struct kfs_node *status = parse_ok(status_text);
	struct kfs_node *before = kfs_node_copy(status);
	struct kfs_node *frag = parse_ok(fragment);
	struct kfs_error err = {0};

	int rc = kfs_status_merge(status, frag, "pipeline/metadata/status.yaml", &err);
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(err.code, -EINVAL);
	if (!strstr(err.msg, expect_msg))
		fail_msg("message \"%s\" does not contain \"%s\"", err.msg, expect_msg);
	assert_non_null(strstr(err.msg, "pipeline/metadata/status.yaml"));
	assert_true(kfs_node_equal(status, before));
	kfs_node_free(before);
	kfs_node_free(frag);
	kfs_node_free(status);
}

static void test_top_level_replaces(void **state)
{
	(void)state;
	struct kfs_node *st = parse_ok("phase: Rendered\nmessage: Resource requested\n"
				       "outputs:\n  - {path: a.yaml}\n  - {path: b.yaml}\n");
	merge_ok(st, "message: Database ready\noutputs: [{path: c.yaml}]\nurl: https://db\n");
	/* Replaced keys keep their place, new keys are appended, nested values are not merged. */
	assert_yaml(st, "phase: Rendered\nmessage: Database ready\noutputs: [{path: c.yaml}]\n"
			"url: https://db\n");
	kfs_node_free(st);
}

static void test_nested_map_replaced_whole(void **state)
{
	(void)state;
	struct kfs_node *st = parse_ok("connection: {host: a, port: 5432}\n");
	merge_ok(st, "connection: {host: b}\n");
	assert_yaml(st, "connection: {host: b}\n");
	kfs_node_free(st);
}

static void test_conditions_merge_by_type(void **state)
{
	(void)state;
	struct kfs_node *st = parse_ok("phase: Ready\n"
				       "conditions:\n"
				       "  - {type: A, status: \"True\", reason: R1}\n"
				       "  - {type: B, status: \"False\", reason: R2}\n"
				       "  - {type: C, status: \"True\", reason: R3}\n");
	merge_ok(st, "conditions:\n"
		     "  - {type: D, status: \"True\", reason: New1}\n"
		     "  - {type: B, status: \"True\", reason: Fixed}\n"
		     "  - {type: E, status: \"False\", reason: New2}\n");
	/* B replaced in place (whole condition), D then E appended in fragment order. */
	assert_yaml(st, "phase: Ready\n"
			"conditions:\n"
			"  - {type: A, status: \"True\", reason: R1}\n"
			"  - {type: B, status: \"True\", reason: Fixed}\n"
			"  - {type: C, status: \"True\", reason: R3}\n"
			"  - {type: D, status: \"True\", reason: New1}\n"
			"  - {type: E, status: \"False\", reason: New2}\n");
	kfs_node_free(st);
}

static void test_conditions_created_when_missing(void **state)
{
	(void)state;
	struct kfs_node *st = parse_ok("phase: Ready\n");
	merge_ok(st, "conditions: [{type: A, status: \"True\"}]\nmessage: hi\n");
	assert_yaml(st, "phase: Ready\nconditions: [{type: A, status: \"True\"}]\nmessage: hi\n");
	kfs_node_free(st);
}

static void test_same_type_twice_in_fragment(void **state)
{
	(void)state;
	struct kfs_node *st = parse_ok("phase: Ready\n");
	merge_ok(st, "conditions: [{type: A, status: \"False\"}, {type: A, status: \"True\"}]\n");
	assert_yaml(st, "phase: Ready\nconditions: [{type: A, status: \"True\"}]\n");
	kfs_node_free(st);
}

static void test_merge_twice_is_stable(void **state)
{
	(void)state;
	const char *frag = "message: done\nconditions: [{type: A, status: \"True\"}]\n";
	struct kfs_node *st = parse_ok("phase: Ready\n");
	merge_ok(st, frag);
	struct kfs_node *once = kfs_node_copy(st);
	merge_ok(st, frag);
	assert_true(kfs_node_equal(st, once));
	kfs_node_free(once);
	kfs_node_free(st);
}

static void test_kratix_key_refused(void **state)
{
	(void)state;
	merge_refused("phase: Ready\n", "message: hi\nkratix: {workflows: x}\n",
		      "pipeline/metadata/status.yaml: the key 'kratix' is reserved for Kratix; "
		      "remove it");
}

static void test_fragment_not_a_map(void **state)
{
	(void)state;
	merge_refused("phase: Ready\n", "- a\n- b\n", "status must be a map of keys, not array");
	merge_refused("phase: Ready\n", "just text\n", "status must be a map of keys, not string");

	struct kfs_node *st = parse_ok("phase: Ready\n");
	struct kfs_error err = {0};
	assert_int_equal(kfs_status_merge(st, NULL, "s.yaml", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "s.yaml: status must be a map"));
	kfs_node_free(st);
}

static void test_conditions_not_a_sequence(void **state)
{
	(void)state;
	merge_refused("phase: Ready\n", "message: x\nconditions: {type: A}\n",
		      "status.yaml:2: conditions must be a list of maps");
	merge_refused("phase: Ready\n", "conditions: Ready\n", "conditions must be a list");
}

static void test_condition_not_a_map_names_index(void **state)
{
	(void)state;
	merge_refused("conditions: [{type: A, status: \"True\"}]\n",
		      "conditions:\n  - {type: B}\n  - just-a-string\n",
		      "status.yaml:3: conditions[1] must be a map, not string");
}

static void test_condition_without_type_names_index(void **state)
{
	(void)state;
	merge_refused("conditions: [{type: A, status: \"True\"}]\n",
		      "message: changed\nconditions:\n  - {type: B}\n  - {type: C}\n"
		      "  - {status: \"True\"}\n",
		      "status.yaml:5: conditions[2] has no 'type'");
	merge_refused("phase: Ready\n", "conditions:\n  - {type: 3}\n",
		      "conditions[0].type must be a non-empty string, not integer");
	merge_refused("phase: Ready\n", "conditions:\n  - {type: \"\"}\n",
		      "conditions[0].type must be a non-empty string, not empty");
}

static void test_all_problems_reported_status_unchanged(void **state)
{
	(void)state;
	/* Valid keys before the bad ones must not have been applied either. */
	struct kfs_node *st = parse_ok("phase: Ready\nmessage: old\n");
	struct kfs_node *frag = parse_ok("message: new\nkratix: x\nconditions: [{status: a}, 7]\n");
	struct kfs_error err = {0};
	assert_int_equal(kfs_status_merge(st, frag, "s.yaml", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "s.yaml: the key 'kratix' is reserved"));
	assert_non_null(strstr(err.msg, "\ns.yaml:3: conditions[0] has no 'type'"));
	assert_non_null(strstr(err.msg, "\ns.yaml:3: conditions[1] must be a map, not integer"));
	assert_string_equal(kfs_node_text_at(st, "message"), "old");
	assert_int_equal(st->len, 2);
	kfs_node_free(frag);
	kfs_node_free(st);
}

static void test_set_condition_new(void **state)
{
	(void)state;
	struct kfs_node *st = parse_ok("phase: Ready\n");
	assert_true(kfs_status_set_condition(st, "Reconciled", "True", "Done", "all good",
					     "2024-01-01T00:00:00Z"));
	assert_yaml(st, "phase: Ready\n"
			"conditions:\n"
			"  - type: Reconciled\n"
			"    status: \"True\"\n"
			"    reason: Done\n"
			"    message: all good\n"
			"    lastTransitionTime: \"2024-01-01T00:00:00Z\"\n");
	/* status is a string, so it is emitted quoted and is not read back as a boolean. */
	const struct kfs_node *c = kfs_node_at(st, "conditions")->items[0];
	assert_int_equal(kfs_map_get(c, "status")->type, KFS_STR);
	kfs_node_free(st);
}

static void test_set_condition_same_twice_no_change(void **state)
{
	(void)state;
	struct kfs_node *st = parse_ok("phase: Ready\n");
	assert_true(kfs_status_set_condition(st, "Reconciled", "True", "Done", "ok", "T1"));
	struct kfs_node *once = kfs_node_copy(st);
	assert_false(kfs_status_set_condition(st, "Reconciled", "True", "Done", "ok", "T2"));
	assert_true(kfs_node_equal(st, once));
	kfs_node_free(once);
	kfs_node_free(st);
}

static void test_set_condition_time_moves_only_on_status_change(void **state)
{
	(void)state;
	struct kfs_node *st = parse_ok("conditions:\n"
				       "  - {type: A, status: \"True\", reason: X, message: m, "
				       "lastTransitionTime: T0}\n"
				       "  - {type: B, status: \"False\", reason: Y, message: n, "
				       "lastTransitionTime: T0}\n");
	/* reason/message change: reported as a change, but no transition. */
	assert_true(kfs_status_set_condition(st, "B", "False", "Other", "new message", "T1"));
	const struct kfs_node *b = kfs_node_at(st, "conditions")->items[1];
	assert_string_equal(kfs_node_text_at(b, "reason"), "Other");
	assert_string_equal(kfs_node_text_at(b, "message"), "new message");
	assert_string_equal(kfs_node_text_at(b, "lastTransitionTime"), "T0");

	/* status change: the time moves, the condition keeps its place and key order. */
	assert_true(kfs_status_set_condition(st, "B", "True", "Other", "new message", "T2"));
	assert_yaml(st, "conditions:\n"
			"  - {type: A, status: \"True\", reason: X, message: m, "
			"lastTransitionTime: T0}\n"
			"  - {type: B, status: \"True\", reason: Other, message: new message, "
			"lastTransitionTime: T2}\n");
	kfs_node_free(st);
}

static void test_set_condition_bool_status_is_not_a_transition(void **state)
{
	(void)state;
	/* A hand-written `status: True` (a YAML boolean) is the same status as "True". */
	struct kfs_node *st =
	    parse_ok("conditions: [{type: A, status: True, reason: R, message: m, "
		     "lastTransitionTime: T0}]\n");
	assert_true(kfs_status_set_condition(st, "A", "True", "R", "m", "T1"));
	const struct kfs_node *a = kfs_node_at(st, "conditions")->items[0];
	assert_int_equal(kfs_map_get(a, "status")->type, KFS_STR);
	assert_string_equal(kfs_node_text_at(a, "lastTransitionTime"), "T0");
	assert_false(kfs_status_set_condition(st, "A", "True", "R", "m", "T2"));
	kfs_node_free(st);
}

static void test_set_condition_appends_after_existing(void **state)
{
	(void)state;
	struct kfs_node *st = parse_ok("conditions: [{type: A, status: \"True\"}]\nphase: Ready\n");
	assert_true(kfs_status_set_condition(st, "B", "False", "Failed", "boom", "T1"));
	const struct kfs_node *conds = kfs_node_at(st, "conditions");
	assert_int_equal(conds->len, 2);
	assert_string_equal(kfs_node_text_at(conds->items[0], "type"), "A");
	assert_string_equal(kfs_node_text_at(conds->items[1], "type"), "B");
	assert_string_equal(kfs_node_text_at(conds->items[1], "lastTransitionTime"), "T1");
	/* The key order of status itself does not move. */
	assert_string_equal(st->pairs[0].key, "conditions");
	assert_string_equal(st->pairs[1].key, "phase");
	kfs_node_free(st);
}

static void test_set_condition_fills_missing_time(void **state)
{
	(void)state;
	/* A condition merged from a pipeline may lack a time; setting it gives it one. */
	struct kfs_node *st = parse_ok("conditions: [{type: A, status: \"True\", reason: R, "
				       "message: m}]\n");
	assert_true(kfs_status_set_condition(st, "A", "True", "R", "m", "T1"));
	const struct kfs_node *a = kfs_node_at(st, "conditions")->items[0];
	assert_string_equal(kfs_node_text_at(a, "lastTransitionTime"), "T1");
	assert_false(kfs_status_set_condition(st, "A", "True", "R", "m", "T2"));
	kfs_node_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_top_level_replaces),
	    cmocka_unit_test(test_nested_map_replaced_whole),
	    cmocka_unit_test(test_conditions_merge_by_type),
	    cmocka_unit_test(test_conditions_created_when_missing),
	    cmocka_unit_test(test_same_type_twice_in_fragment),
	    cmocka_unit_test(test_merge_twice_is_stable),
	    cmocka_unit_test(test_kratix_key_refused),
	    cmocka_unit_test(test_fragment_not_a_map),
	    cmocka_unit_test(test_conditions_not_a_sequence),
	    cmocka_unit_test(test_condition_not_a_map_names_index),
	    cmocka_unit_test(test_condition_without_type_names_index),
	    cmocka_unit_test(test_all_problems_reported_status_unchanged),
	    cmocka_unit_test(test_set_condition_new),
	    cmocka_unit_test(test_set_condition_same_twice_no_change),
	    cmocka_unit_test(test_set_condition_time_moves_only_on_status_change),
	    cmocka_unit_test(test_set_condition_bool_status_is_not_a_transition),
	    cmocka_unit_test(test_set_condition_appends_after_existing),
	    cmocka_unit_test(test_set_condition_fills_missing_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
