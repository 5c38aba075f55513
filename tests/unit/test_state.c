/* A request's typed state: conditions (set, transition times, shown as status.yaml shows them)
 * and its state folder record (written typed, read back; a cut record is refused; a record
 * written as YAML by an older state folder reads back). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/doc.h"
#include "store_internal.h"
#include "testutil.h"

static void test_condition_transition_time(void **state)
{
	(void)state;
	struct conditions c = {0};
	assert_true(kfs_conds_set(&c, "Ready", "False", "Pending", "waiting", "T1"));
	assert_true(kfs_conds_set(&c, "Synced", "True", "Ok", "", "T1"));
	/* A new message, the same status: changed, but no transition. */
	assert_true(kfs_conds_set(&c, "Ready", "False", "Pending", "still waiting", "T2"));
	assert_string_equal(kfs_conds_find(&c, "Ready")->time, "T1");
	assert_string_equal(kfs_conds_find(&c, "Ready")->message, "still waiting");
	/* Nothing new: unchanged. */
	assert_false(kfs_conds_set(&c, "Ready", "False", "Pending", "still waiting", "T3"));
	assert_string_equal(kfs_conds_find(&c, "Ready")->time, "T1");
	/* A new status is a transition. */
	assert_true(kfs_conds_set(&c, "Ready", "True", "Done", NULL, "T4"));
	const struct condition *r = kfs_conds_find(&c, "Ready");
	assert_string_equal(r->time, "T4");
	assert_string_equal(r->reason, "Done");
	assert_string_equal(r->message, "");
	assert_null(kfs_conds_find(&c, "Missing"));
	/* Shown in the order first set, with Kratix's keys. */
	struct kfs_node *n = kfs_conds_node(&c);
	struct kfs_buf out = {0};
	kfs_doc_emit(n, &out);
	assert_string_equal(out.data,
			    "- type: Ready\n  status: \"True\"\n  reason: Done\n  message: \"\"\n"
			    "  lastTransitionTime: T4\n"
			    "- type: Synced\n  status: \"True\"\n  reason: Ok\n  message: \"\"\n"
			    "  lastTransitionTime: T1\n");
	/* Read back from the YAML it shows, the same conditions. */
	struct conditions back = {0};
	kfs_conds_from_node(&back, n);
	assert_int_equal(back.n, 2);
	assert_string_equal(back.items[0].time, "T4");
	assert_string_equal(back.items[1].type, "Synced");
	struct conditions copy;
	kfs_conds_copy(&copy, &back);
	assert_string_equal(copy.items[1].time, "T1");
	kfs_buf_free(&out);
	kfs_node_free(n);
	kfs_conds_free(&c);
	kfs_conds_free(&back);
	kfs_conds_free(&copy);
}

/* A request with every field a record holds. */
static struct request *full_request(void)
{
	struct request *r = kfs_request_new("db1");
	r->generation = 7;
	r->observed = 6;
	r->phase = ERROR;
	kfs_set_text(&r->message, "render failed: \"x\"\nline two");
	kfs_set_text(&r->rejection, "bad field");
	kfs_set_text(&r->log, "step 1\nstep 2\n");
	kfs_set_bytes(&r->object, &r->object_len, "kind: A\n", 8);
	kfs_set_bytes(&r->good, &r->good_len, "kind: B\n", 8);
	kfs_set_bytes(&r->draft, &r->draft_len, "\x00\xff\x01 bytes", 9);
	r->unlinked = true;
	r->owner = (struct kfs_owner){.uid = 1000, .gid = 100, .dir_mode = 01750, .obj_mode = 0640};
	snprintf(r->commit, sizeof(r->commit), "%040d", 5);
	kfs_conds_set(&r->conds, "Rejected", "True", "InvalidRequest", "bad field", "T1");
	kfs_conds_set(&r->conds, "Committed", "False", "StateDamaged", "", "T2");
	kfs_set_text(&r->render_status, "url: http://x\n");
	kfs_set_text(&r->status_base, "message: Pending\n");
	r->retry_at = 1234567890123LL;
	return r;
}

static void test_record_round_trip(void **state)
{
	(void)state;
	struct request *r = full_request();
	struct kfs_buf b = {0};
	kfs_record_encode(r, &b);
	struct record rec;
	struct kfs_error err = {0};
	assert_int_equal(kfs_record_decode(b.data, b.len, &rec, &err), 0);
	assert_int_equal(rec.generation, 7);
	assert_int_equal(rec.observed, 6);
	assert_int_equal(rec.phase, ERROR);
	assert_string_equal(rec.message, r->message);
	assert_string_equal(rec.rejection, "bad field");
	assert_string_equal(rec.log, r->log);
	assert_string_equal(rec.commit, r->commit);
	assert_true(rec.unlinked);
	assert_int_equal(rec.object_len, 8);
	assert_memory_equal(rec.object, "kind: A\n", 8);
	assert_int_equal(rec.good_len, 8);
	assert_memory_equal(rec.good, "kind: B\n", 8);
	assert_int_equal(rec.draft_len, 9);
	assert_memory_equal(rec.draft, "\x00\xff\x01 bytes", 9);
	assert_int_equal(rec.has_owner, 15);
	assert_int_equal(rec.owner.uid, 1000);
	assert_int_equal(rec.owner.dir_mode, 01750);
	assert_int_equal(rec.owner.obj_mode, 0640);
	assert_int_equal(rec.conds.n, 2);
	assert_string_equal(rec.conds.items[1].reason, "StateDamaged");
	assert_string_equal(rec.conds.items[1].time, "T2");
	assert_string_equal(rec.status, "url: http://x\n");
	assert_string_equal(rec.status_base, "message: Pending\n");
	assert_int_equal(rec.retry_at, 1234567890123LL);
	kfs_record_free(&rec);
	/* The same good input as the object is not stored twice. */
	kfs_set_bytes(&r->good, &r->good_len, "kind: A\n", 8);
	struct kfs_buf b2 = {0};
	kfs_record_encode(r, &b2);
	assert_true(b2.len < b.len);
	assert_int_equal(kfs_record_decode(b2.data, b2.len, &rec, &err), 0);
	assert_null(rec.good);
	kfs_record_free(&rec);
	/* Cut anywhere inside its last field, a record is refused, not half read. */
	for (size_t cut = 1; cut < 12; cut++) {
		err.msg[0] = '\0';
		assert_int_equal(kfs_record_decode(b.data, b.len - cut, &rec, &err), -EINVAL);
		assert_contains(err.msg, "journal record: field at byte");
	}
	kfs_buf_free(&b);
	kfs_buf_free(&b2);
	kfs_store_request_put(r);
}

/* A record from a state folder written before records were typed. */
static void test_record_from_yaml(void **state)
{
	(void)state;
	static const char yaml[] =
	    "name: db1\ngeneration: 3\nobservedGeneration: 2\nphase: Committed\n"
	    "message: Resource requested\nunlinked: true\ndraftBase64: AP8B\n"
	    "uid: 1000\ngid: 100\nmode: 493\nobjectMode: 420\n"
	    "object: |\n  kind: A\ngood: |\n  kind: B\nlog: ''\ncommit: abc\n"
	    "conditions:\n- type: Committed\n  status: 'True'\n  reason: Committed\n"
	    "  message: ''\n  lastTransitionTime: '2026-01-01T00:00:00Z'\n";
	struct record rec;
	struct kfs_error err = {0};
	assert_int_equal(kfs_record_decode(yaml, strlen(yaml), &rec, &err), 0);
	assert_int_equal(rec.generation, 3);
	assert_int_equal(rec.observed, 2);
	assert_int_equal(rec.phase, COMMITTED);
	assert_string_equal(rec.message, "Resource requested");
	assert_true(rec.unlinked);
	assert_int_equal(rec.draft_len, 3);
	assert_memory_equal(rec.draft, "\x00\xff\x01", 3);
	assert_int_equal(rec.owner.dir_mode, 0755);
	assert_int_equal(rec.has_owner, 15);
	assert_string_equal(rec.object, "kind: A\n");
	assert_string_equal(rec.good, "kind: B\n");
	assert_string_equal(rec.commit, "abc");
	assert_int_equal(rec.conds.n, 1);
	assert_string_equal(rec.conds.items[0].time, "2026-01-01T00:00:00Z");
	kfs_record_free(&rec);
	assert_int_equal(kfs_record_decode("a: [", 4, &rec, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_condition_transition_time),
	    cmocka_unit_test(test_record_round_trip),
	    cmocka_unit_test(test_record_from_yaml),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
