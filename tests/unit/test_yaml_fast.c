#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/doc.h"
#include "kratixfs/files.h"

#include "yaml_fast.h"
#include "yaml_libyaml.h"

/* ---------- differential helpers ---------- */

/* Like kfs_node_equal, and the source lines too; describes the first difference in why. */
static bool same_tree(const struct kfs_node *a, const struct kfs_node *b, char *why, size_t wlen)
{
	if (a->type != b->type || a->len != b->len || a->line != b->line) {
		snprintf(why, wlen, "type %d/%d len %zu/%zu line %d/%d", a->type, b->type, a->len,
			 b->len, a->line, b->line);
		return false;
	}
	switch (a->type) {
	case KFS_MAP:
		for (size_t i = 0; i < a->len; i++) {
			if (strcmp(a->pairs[i].key, b->pairs[i].key) != 0) {
				snprintf(why, wlen, "key '%s'/'%s'", a->pairs[i].key,
					 b->pairs[i].key);
				return false;
			}
			if (!same_tree(a->pairs[i].value, b->pairs[i].value, why, wlen))
				return false;
		}
		return true;
	case KFS_SEQ:
		for (size_t i = 0; i < a->len; i++)
			if (!same_tree(a->items[i], b->items[i], why, wlen))
				return false;
		return true;
	default:
		if (memcmp(a->text, b->text, a->len) != 0 || a->text[a->len] != '\0') {
			snprintf(why, wlen, "text '%s'/'%s'", a->text, b->text);
			return false;
		}
		return true;
	}
}

struct stats {
	size_t cases, fast;
};

/* Parses text both ways; whenever the fast path answers, libyaml must agree exactly. Returns
 * whether the fast path took it. */
static bool differential(const char *text, size_t len, struct stats *st)
{
	struct kfs_node **fd = NULL, **sd = NULL;
	size_t fn = 0, sn = 0;
	struct kfs_error err = {0};
	int fast = kfs_yaml_fast_parse(text, len, &fd, &fn);
	int check = kfs_yaml_fast_check(text, len);
	int slow = kfs_yaml_libyaml_parse(text, len, "t.yaml", &sd, &sn, &err);
	if (st) {
		st->cases++;
		st->fast += fast;
	}
	if (fast) {
		if (slow != 0)
			fail_msg("fast path accepted what libyaml rejects (%s):\n%.*s", err.msg,
				 (int)len, text);
		if (fn != sn)
			fail_msg("%zu documents, libyaml %zu:\n%.*s", fn, sn, (int)len, text);
		for (size_t i = 0; i < fn; i++) {
			char why[256];
			if (!same_tree(fd[i], sd[i], why, sizeof(why)))
				fail_msg("document %zu differs from libyaml's (%s):\n%.*s", i, why,
					 (int)len, text);
			assert_true(kfs_node_equal(fd[i], sd[i]));
		}
		/* The check-only variant accepts at least what the parser does. */
		if (!check)
			fail_msg("fast check declined what fast parse took:\n%.*s", (int)len, text);
	} else {
		assert_null(fd);
		assert_int_equal(fn, 0);
	}
	if (check && kfs_yaml_libyaml_check(text, len, "t.yaml", &err) != 0)
		fail_msg("fast check accepted what libyaml rejects (%s):\n%.*s", err.msg, (int)len,
			 text);
	kfs_doc_free_stream(fd, fn);
	kfs_doc_free_stream(sd, sn);
	return fast;
}

static void assert_fast(const char *text)
{
	if (!differential(text, strlen(text), NULL))
		fail_msg("expected the fast path to take:\n%s", text);
}

static void assert_fallback(const char *text)
{
	if (differential(text, strlen(text), NULL))
		fail_msg("expected a fallback to libyaml for:\n%s", text);
}

/* ---------- the subset ---------- */

static void test_block_structures(void **state)
{
	(void)state;
	assert_fast("");
	assert_fast("# only a comment\n\n");
	assert_fast("a: 1\nb: two\nc:\n  d: [x]\n");
	assert_fast("a:\n  b:\n    c: deep\n  e: f\ng: h\n");
	assert_fast("list:\n- a\n- b\nnext: 1\n");
	assert_fast("list:\n  - a\n  - b\nnext: 1\n");
	assert_fast("- a: 1\n  b: 2\n- c: 3\n");
	assert_fast("- - x\n  - y\n- z\n");
	assert_fast("- - - deep\n");
	assert_fast("-   a: 1\n    b: 2\n");
	assert_fast("- a:\n  - x\n  b: 1\n");
	assert_fast("- a:\n    b: 1\n  c: 2\n");
	assert_fast("a:\n-\n- x\n-\n");
	assert_fast("-\n  - x\n-\n  k: v\n");
	assert_fast("  indented: root\n  second: 2\n");
	assert_fast("key : spaced\n\"quoted key\": 1\n'single': 2\n");
	assert_fast("a:\n  b\n");
	assert_fast("a:\n  [x, y]\n");
	assert_fast("-\n  scalar below\n");
	assert_fast("a: b # trailing comment\n# full line\n  # indented comment\nc: d #\n");
	assert_fast("a: \"q\"# comment right after a quote\n");
	assert_fast("a: 1"); /* no final newline */
	assert_fast("a:\n\n\n  b: 1\n\n");
}

static void test_scalars(void **state)
{
	(void)state;
	assert_fast("a: 1\nb: -7\nc: 0x1F\nd: 1.5\ne: .inf\nf: yes\ng: ~\nh: null\ni: 10Gi\n");
	assert_fast("a: plain text with spaces   \nb: x:y\nc: a#b\nd: -x\ne: :x\nf: ?x\n");
	assert_fast("a: b[0],c{d}\nurl: http://example.com/a?b=c\n---x: 1\n");
	assert_fast("a: \"esc \\\" \\\\ \\n \\t \\r \\0 \\x41 \\u00e9 \\U0001F600 \\/ \\ \"\n");
	assert_fast("a: \"\\a\\b\\v\\f\\e\\N\\_\"\nb: ''\nc: \"\"\nd: 'it''s'\ne: '  pad  '\n");
	assert_fast("a: \"1\"\nb: 'true'\nc: \"null\"\n");
	assert_fast("\"k\\u0000ey\": nul in key\n");
	assert_fast("a: héllo wörld ✓ 😀\n");
	assert_fast("k: 'a # not a comment'\nl: \"x: y\"\n");

	struct kfs_node **docs;
	size_t n;
	const char *text = "a: \"x\\ty\"\nb: 'it''s'\nc: '1'\nd:\n";
	assert_int_equal(kfs_yaml_fast_parse(text, strlen(text), &docs, &n), 1);
	assert_int_equal(n, 1);
	assert_string_equal(kfs_node_text_at(docs[0], "a"), "x\ty");
	assert_string_equal(kfs_node_text_at(docs[0], "b"), "it's");
	assert_int_equal(kfs_map_get(docs[0], "c")->type, KFS_STR);
	assert_int_equal(kfs_map_get(docs[0], "d")->type, KFS_NULL);
	assert_string_equal(kfs_map_get(docs[0], "d")->text, "null");
	kfs_doc_free_stream(docs, n);
}

static void test_flow(void **state)
{
	(void)state;
	assert_fast("a: []\nb: {}\nc: [ ]\nd: { }\n");
	assert_fast("a: {x: 1, y: [p, q], z: \"s\"}\nb: [a b, 'c', \"d\", {e: f}, [g]]\n");
	assert_fast("- [1, 2]\n- {k: v}\n");
	assert_fast("[a, b]\n");
	assert_fast("{a: 1}\n---\n[]\n");
	assert_fast("a: [x:y, -z, a#b]\n");
	assert_fast("a: [x]# comment\n");
}

static void test_documents(void **state)
{
	(void)state;
	assert_fast("---\na: 1\n---\nb: 2\n...\n");
	assert_fast("a: 1\n---\n---\n...\n...\n--- # c\nb: 2\n");
	assert_fast("---\n");
	assert_fast("a: 1\n...\n---\nb: 1\n");
	struct kfs_node **docs;
	size_t n;
	const char *text = "---\n---\na: 1\n---\n";
	assert_int_equal(kfs_yaml_fast_parse(text, strlen(text), &docs, &n), 1);
	assert_int_equal(n, 1);
	assert_int_equal(docs[0]->line, 3);
	kfs_doc_free_stream(docs, n);
	assert_int_equal(kfs_yaml_fast_parse("# c\n", 4, &docs, &n), 1);
	assert_int_equal(n, 0);
	assert_null(docs);
}

/* Literal and folded block scalars: libyaml's chomping, indentation and line rules. */
static void test_block_scalars(void **state)
{
	(void)state;
	const char *cases[] = {
	    "a: |\n  one\n  two\nb: 1\n",      /* clip */
	    "a: |-\n  one\n  two\nb: 1\n",     /* strip */
	    "a: |+\n  one\n  two\n\n\nb: 1\n", /* keep */
	    "a: |\n  one\n\n\nb: 1\n",
	    "a: |-\n  one\n\n\nb: 1\n",
	    "a: |\nb: 1\n", /* empty */
	    "a: |-\nb: 1\n",
	    "a: |+\nb: 1\n",
	    "a: |+\n\n  \nb: 1\n",
	    "a: |\n\n\n",
	    "a: |", /* "|" right before the end */
	    "a: |+",
	    "a: |\n",
	    "a: |\n  last\n", /* at the end of the document */
	    "a: |\n  last",
	    "a: |+\n  last\n\n  ",
	    "a: |+\n  last\n\n     ",
	    "a: |\n  x\n  ",
	    "a:\n  b: |\n    text\n  c: less indented key\nd: 1\n",
	    "a: |\n  top\n    more indented\n      deeper\n  back\n", /* inner lines */
	    "a: |\n  trailing spaces   \n  x  \n",
	    "a: |\n  x\n     \n  y\n",		   /* a spaces-only line past the indent */
	    "a: |\n  one\n\n  two\n\n\n  three\n", /* blank lines inside */
	    "a: |\n\n\n  after leading empty lines\n",
	    "a: |\n    \n  \n    deepest empty line first\n",
	    "- |\n  one\n- |-\n  two\n- |+\n  three\n\n- >\n  four\n  five\n", /* sequences */
	    "a:\n- |\n  x\n- |\n  y\nb: 1\n",
	    "- - |\n    x\n  - |\n   y\n",
	    "- a: |\n    x\n  b: |\n    y\n",
	    "- |\n     \n- x\n",
	    "a: | # comment\n  x\n", /* comments */
	    "a: |- #c\n  x\n",
	    "a: |#c\n  x\n",
	    "a: >-#c\n  x\n",
	    "a: |\n  # not a comment\n  x\n # a comment\nb: 1\n",
	    "a: |\n  x\n# comment\n\nb: 1\n",
	    "a: |+\n  x\n\n# comment\n\nb: 1\n",
	    "a: |2\n    two more\n  x\n", /* indentation indicators */
	    "a: |1\n  x\n",
	    "a: |-2\n  x\n\n",
	    "a: |2-\n  x\n",
	    "a: |+1\n  x\n\n",
	    "a:\n  b: |2\n     x\n    y\n",
	    "a: |2\n     \n  x\n",
	    "a:\n  |\n   below the key\nb: 1\n", /* on the line below */
	    "-\n  |\n  x\n",
	    "a: |\n  x\n---\nb: |\n  y\n...\n",
	    "a: |\n  é ✓ 😀 \"q\" 'q' # [x] {y} : - |\n",
	    "a: >\n  folded\n  lines\n\n  para\n    more\n  back\n", /* folded */
	    "a: >-\n  x\n  y\n",
	    "a: >+\n  x\n\n",
	    "a: >\n\n  x\n   y\n  z\n\n\n  w\n",
	    "a: >\n  x\n   \n  y\n",
	    "a: >2\n    x\n  y\n",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_fast(cases[i]);

	/* The values themselves, not only libyaml's agreement. */
	struct kfs_node **docs;
	size_t n;
	const char *text = "clip: |\n  a\n   b\n\n\nstrip: |-\n  a\n\nkeep: |+\n  a\n\n\n"
			   "empty: |\nind: |1\n  x\nfold: >\n  a\n  b\n\n  c\nlast: |";
	assert_int_equal(kfs_yaml_fast_parse(text, strlen(text), &docs, &n), 1);
	assert_int_equal(n, 1);
	assert_string_equal(kfs_node_text_at(docs[0], "clip"), "a\n b\n");
	assert_string_equal(kfs_node_text_at(docs[0], "strip"), "a");
	assert_string_equal(kfs_node_text_at(docs[0], "keep"), "a\n\n\n");
	assert_string_equal(kfs_node_text_at(docs[0], "empty"), "");
	assert_string_equal(kfs_node_text_at(docs[0], "ind"), " x\n");
	assert_string_equal(kfs_node_text_at(docs[0], "fold"), "a b\nc\n");
	assert_string_equal(kfs_node_text_at(docs[0], "last"), "");
	/* Always a string, marked at the indicator's line. */
	const struct kfs_node *e = kfs_map_get(docs[0], "empty");
	assert_int_equal(e->type, KFS_STR);
	assert_int_equal(e->line, 13);
	assert_int_equal(kfs_map_get(docs[0], "keep")->line, 9);
	assert_int_equal(kfs_map_get(docs[0], "ind")->line, 14);
	kfs_doc_free_stream(docs, n);
	text = "a: |\n  1\nb: |-\n  true\nc: >-\n  null\n";
	assert_int_equal(kfs_yaml_fast_parse(text, strlen(text), &docs, &n), 1);
	assert_int_equal(kfs_map_get(docs[0], "a")->type, KFS_STR);
	assert_int_equal(kfs_map_get(docs[0], "b")->type, KFS_STR);
	assert_int_equal(kfs_map_get(docs[0], "c")->type, KFS_STR);
	assert_string_equal(kfs_node_text_at(docs[0], "c"), "null");
	kfs_doc_free_stream(docs, n);
}

/* Promises describe their fields in block scalars; they must not cost a libyaml parse. */
static void test_promises_take_fast_path(void **state)
{
	(void)state;
	glob_t g;
	assert_int_equal(
	    glob(KFS_SOURCE_ROOT "/tests/fixtures/real-promises/*/promise.yaml", 0, NULL, &g), 0);
	assert_true(
	    glob(KFS_SOURCE_ROOT "/templates/postgresql/promise.yaml", GLOB_APPEND, NULL, &g) == 0);
	assert_true(g.gl_pathc >= 5);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		struct kfs_buf text = {0};
		struct kfs_error err = {0};
		if (kfs_read_file(g.gl_pathv[i], &text, &err) != 0)
			fail_msg("%s", err.msg);
		if (!differential(text.data, text.len, NULL))
			fail_msg("fast path declined %s", g.gl_pathv[i]);
		assert_int_equal(kfs_yaml_fast_check(text.data, text.len), 1);
		kfs_buf_free(&text);
	}
	globfree(&g);
}

/* Missing values and items: libyaml marks them right after the ':' or '-'. */
static void test_null_lines(void **state)
{
	(void)state;
	const char *cases[] = {
	    "a:\nb: 1\n",
	    "a:\n\n# c\n\nb: 1\n",
	    "a:\n  b:\nc: 1\n",
	    "a:\n",
	    "a:",
	    "a:\n  ",
	    "a:\n  b:\n    c:",
	    "a:\n  b:\n    c:\n  ",
	    "a:\n  b:\n  # c",
	    "a:\n...\n",
	    "a:\n---\n",
	    "- a:\n- b\n",
	    "-\n- x\n",
	    "- -\n",
	    "a:\n- b:\nc: 1\n",
	    "a: # c\n",
	    "a:\n  b:\n   ",
	    "a:\n  b:\n     ",
	    "x: é\na:\n  # ééé",
	    "a:\n-\nb:\n",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_fast(cases[i]);
}

/* ---------- what the fast path leaves to libyaml ---------- */

static void test_fallbacks(void **state)
{
	(void)state;
	const char *cases[] = {
	    "a: &x 1\nb: *x\n", /* anchors, aliases */
	    "a: !!str 1\n",	/* tags */
	    "a: |0\n  text\n",	/* invalid block scalar headers */
	    "a: |10\n  text\n",
	    "a: |+-\n  text\n",
	    "a: |x\n  text\n",
	    "a: | x\n  text\n",
	    "|\n  text\n", /* a scalar document */
	    "--- |\n  text\n",
	    "a: [|]\n",
	    "|: x\n",
	    "a: |\n    x\n  y\n", /* content below the block's indent */
	    "a: |\n    x\n  y: 1\n",
	    "a:\n  b: |\n   x\n  \tc: 1\n",
	    "a: multi\n  line\n",     /* multi-line plain */
	    "a: \"multi\n  line\"\n", /* multi-line quoted */
	    "a: 'open\n",
	    "? complex\n: key\n",
	    "%YAML 1.1\n---\na: 1\n", /* directives */
	    "\xef\xbb\xbf"
	    "a: 1\n",	    /* BOM */
	    "a:\n\tb: 1\n", /* tabs */
	    "a: b\tc\n",
	    "a: 1\r\nb: 2\r\n", /* CR */
	    "a: \x01\n",	/* control characters */
	    "a: \xff\n",	/* not UTF-8 */
	    "a: \xc3\n",
	    "a: \xc2\x85\n", /* NEL */
	    "a: 1\na: 2\n",  /* duplicate keys */
	    "a: {x: 1, x: 2}\n",
	    "[a]: b\n", /* non-scalar keys */
	    "scalar document\n",
	    "a: b: c\n",
	    "a: - b\n",
	    "- a\nb: 1\n",
	    "a: 1\n- b\n",
	    "a:\n    b: 1\n  c: 2\n",
	    "a: 1\n...\nb: 2\n", /* content after "..." without "---" */
	    "...\na: 1\n",
	    "--- a: 1\n",
	    "a: \"\\q\"\n", /* unknown escape */
	    "a: \"\\L\"\n",
	    "a: \"\\ud800\"\n",
	    "a: [x,]\n", /* trailing comma */
	    "a: [x, ]\n",
	    "a: {x:1}\n",
	    "a: {\"x\":1}\n",
	    "a: [x: 1]\n",
	    "a: [x\n  , y]\n",
	    "a: [x]y\n",
	    "a: \"x\" \"y\"\n",
	    "@a: 1\n",
	    "`a: 1\n",
	    "a: ,b\n",
	    "a: #\n  - x\n  y\n",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_fallback(cases[i]);
}

/* Through the public API: the fallback keeps libyaml's and doc.c's messages. */
static void test_errors_stay_libyaml(void **state)
{
	(void)state;
	struct kfs_node **docs;
	size_t n;
	struct kfs_error err = {0};
	assert_true(kfs_doc_parse_stream("a: 1\nb: 2\na: 3\n", 15, "obj.yaml", &docs, &n, &err) <
		    0);
	assert_non_null(strstr(err.msg, "obj.yaml:3: duplicate key 'a'"));
	assert_true(kfs_doc_parse_stream("a: b: c\n", 8, "obj.yaml", &docs, &n, &err) < 0);
	assert_non_null(strstr(err.msg, "obj.yaml:1: not valid YAML"));
	assert_true(kfs_doc_check("a:\n  - x\n  y: 1\n", 16, "out.yaml", &err) < 0);
	assert_non_null(strstr(err.msg, "out.yaml:3: not valid YAML"));
	assert_int_equal(kfs_doc_check("a: 1\na: 1\n", 10, "out.yaml", &err), 0);
	assert_int_equal(kfs_yaml_fast_check("a: 1\na: 1\n", 10), 1);
	/* A fast-path tree through the public entry point, lines included. */
	struct kfs_node *doc;
	const char *text = "# c\nkind: X\nspec:\n  size: 2\nnone:\n\nlast: 1\n";
	assert_int_equal(kfs_doc_parse(text, strlen(text), "o.yaml", &doc, &err), 0);
	assert_int_equal(doc->line, 2);
	assert_int_equal(kfs_node_at(doc, "spec")->line, 4);
	assert_int_equal(kfs_node_at(doc, "spec.size")->line, 4);
	/* libyaml marks a missing value right after its ':'. */
	assert_int_equal(kfs_node_at(doc, "none")->line, 5);
	kfs_node_free(doc);
}

/* ---------- mutation fuzz ---------- */

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* One random edit of the kinds hand-edited YAML goes wrong with. */
static void mutate(struct kfs_buf *b, uint64_t *rng)
{
	static const char ins[] = " :-#'\"{}[],\n\t&*!|>";
	size_t len = b->len;
	size_t at = len ? rng_next(rng) % (len + 1) : 0;
	struct kfs_buf out = {0};
	switch (rng_next(rng) % 5) {
	case 0: /* delete a byte */
		if (at < len) {
			kfs_buf_add(&out, b->data, at);
			kfs_buf_add(&out, b->data + at + 1, len - at - 1);
			break;
		}
		/* fall through */
	case 1: /* insert an indicator */
		kfs_buf_add(&out, b->data, at);
		kfs_buf_addc(&out, ins[rng_next(rng) % (sizeof(ins) - 1)]);
		kfs_buf_add(&out, b->data + at, len - at);
		break;
	case 2: { /* duplicate the line holding at */
		size_t s = at, e = at;
		while (s > 0 && b->data[s - 1] != '\n')
			s--;
		while (e < len && b->data[e] != '\n')
			e++;
		kfs_buf_add(&out, b->data, e);
		kfs_buf_addc(&out, '\n');
		kfs_buf_add(&out, b->data + s, len - s);
		break;
	}
	default: { /* re-indent the line holding at by -2..+2 spaces */
		size_t s = at;
		while (s > 0 && b->data[s - 1] != '\n')
			s--;
		int d = (int)(rng_next(rng) % 5) - 2;
		size_t ind = 0;
		while (s + ind < len && b->data[s + ind] == ' ')
			ind++;
		size_t keep = d < 0 ? (ind > (size_t)-d ? ind - (size_t)-d : 0) : ind + (size_t)d;
		kfs_buf_add(&out, b->data, s);
		kfs_buf_fill(&out, ' ', keep);
		kfs_buf_add(&out, b->data + s + ind, len - s - ind);
		break;
	}
	}
	kfs_buf_free(b);
	*b = out;
	if (!b->data)
		kfs_buf_add(b, "", 0);
}

static const char *const own_seeds[] = {
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \"cm\"\n  labels: {app: x, "
    "tier: 'db'}\ndata:\n  key: value # comment\n  empty:\n  list:\n  - a\n  - 'b'\n"
    "  - [c, d]\n",
    "- name: a\n  args: [\"--x\", \"-y\"]\n  env:\n    - name: E\n      value: \"\\u00e9\\n\"\n"
    "- - nested\n  - seq\n-\n- last: ~\n",
    "---\na: 1\n...\n---\n# doc two\nb:\n  c:\n    d: true\n  e: []\n---\n",
    "a: |\n  one\n    two\n\n  three\nb: |-\n  x\n\nc: |+\n  y\n\nd: >\n  f\n  g\n\n  h\n"
    "e:\n- |2\n   z\n- |\n\n  w\n  - v\nf: |\n",
    "spec:\n  replicas: 3\n  selector:\n    matchLabels:\n      app: web\n  ports:\n"
    "  - port: 80\n    targetPort: 8080\n  - {port: 443, name: https}\n",
};

static void fuzz_one(const char *seed, size_t len, size_t rounds, uint64_t *rng, struct stats *st)
{
	differential(seed, len, st);
	for (size_t r = 0; r < rounds; r++) {
		struct kfs_buf b = {0};
		kfs_buf_add(&b, seed, len);
		size_t edits = 1 + rng_next(rng) % 3;
		for (size_t e = 0; e < edits; e++)
			mutate(&b, rng);
		differential(b.data, b.len, st);
		kfs_buf_free(&b);
	}
}

/* Random documents of block scalar headers, content lines, spaces-only lines and keys at
 * random indents: the edges of libyaml's indentation and chomping rules. */
static void test_block_scalar_fuzz(void **state)
{
	(void)state;
	static const char *const heads[] = {"|",  "|-",	 "|+",	">",  ">-",   ">+",
					    "|1", "|2-", "|+2", ">1", "| #c", "|-#c"};
	static const char *const lines[] = {"x", "x y", "# h", "x  ", "- x", "k: v", ""};
	const char *env = getenv("KFS_FUZZ_ROUNDS");
	const char *seed_env = getenv("KFS_FUZZ_SEED");
	size_t rounds = (env ? strtoul(env, NULL, 10) : 1200) * 10;
	uint64_t rng = seed_env ? strtoull(seed_env, NULL, 0) * 2 + 1 : 0x2545f4914f6cdd1dULL;
	struct stats st = {0};
	for (size_t r = 0; r < rounds; r++) {
		struct kfs_buf b = {0};
		size_t nlines = 1 + rng_next(&rng) % 8;
		for (size_t l = 0; l < nlines; l++) {
			uint64_t x = rng_next(&rng);
			kfs_buf_fill(&b, ' ', x % 6);
			x /= 6;
			const char *head = heads[(x / 5) % (sizeof(heads) / sizeof(heads[0]))];
			switch (x % 5) {
			case 0:
				kfs_buf_printf(&b, "k%zu: %s", l, head);
				break;
			case 1:
				kfs_buf_printf(&b, "- %s", head);
				break;
			case 2:
				kfs_buf_printf(&b, "- k%zu: %s", l, head);
				break;
			default:
				kfs_buf_adds(&b,
					     lines[(x / 5) % (sizeof(lines) / sizeof(lines[0]))]);
				break;
			}
			if (l + 1 < nlines || rng_next(&rng) % 4)
				kfs_buf_addc(&b, '\n');
		}
		differential(b.data, b.len, &st);
		kfs_buf_free(&b);
	}
	print_message("block scalar fuzz: %zu cases, %zu on the fast path\n", st.cases, st.fast);
	assert_true(st.fast * 8 > st.cases);
}

static void test_mutation_fuzz(void **state)
{
	(void)state;
	const char *env = getenv("KFS_FUZZ_ROUNDS");
	const char *seed_env = getenv("KFS_FUZZ_SEED");
	size_t rounds = env ? strtoul(env, NULL, 10) : 1200;
	uint64_t rng = seed_env ? strtoull(seed_env, NULL, 0) | 1 : 0x9e3779b97f4a7c15ULL;
	struct stats st = {0}, seeds = {0};
	static const char *const patterns[] = {
	    KFS_SOURCE_ROOT "/templates/postgresql/test-output/*/*/*.yaml",
	    KFS_SOURCE_ROOT "/tests/fixtures/real-promises/*/*.yaml",
	    KFS_SOURCE_ROOT "/templates/postgresql/test-input/*.yaml",
	    KFS_SOURCE_ROOT "/templates/postgresql/example-resource.yaml",
	};
	size_t files = 0;
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		glob_t g;
		if (glob(patterns[i], 0, NULL, &g) != 0)
			continue;
		for (size_t j = 0; j < g.gl_pathc; j++) {
			struct kfs_buf text = {0};
			struct kfs_error err = {0};
			if (kfs_read_file(g.gl_pathv[j], &text, &err) != 0)
				fail_msg("%s", err.msg);
			/* Every fixture takes the fast path unmutated. */
			if (!differential(text.data, text.len, &seeds))
				fail_msg("fast path declined %s", g.gl_pathv[j]);
			/* Big files cost libyaml time; mutate them less. */
			size_t n = text.len > 1500 ? rounds / 4 : rounds;
			fuzz_one(text.data, text.len, n, &rng, &st);
			kfs_buf_free(&text);
			files++;
		}
		globfree(&g);
	}
	assert_true(files >= 20);
	for (size_t i = 0; i < sizeof(own_seeds) / sizeof(own_seeds[0]); i++) {
		if (!differential(own_seeds[i], strlen(own_seeds[i]), &seeds))
			fail_msg("fast path declined seed %zu", i);
		fuzz_one(own_seeds[i], strlen(own_seeds[i]), rounds * 4, &rng, &st);
	}
	print_message("fuzz: %zu files + %zu own seeds, %zu mutated cases, %zu on the fast path\n",
		      files, sizeof(own_seeds) / sizeof(own_seeds[0]), st.cases, st.fast);
	/* Most single edits keep a document valid and in the subset. */
	assert_true(st.fast * 4 > st.cases);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_block_structures),
	    cmocka_unit_test(test_scalars),
	    cmocka_unit_test(test_flow),
	    cmocka_unit_test(test_documents),
	    cmocka_unit_test(test_block_scalars),
	    cmocka_unit_test(test_promises_take_fast_path),
	    cmocka_unit_test(test_null_lines),
	    cmocka_unit_test(test_fallbacks),
	    cmocka_unit_test(test_errors_stay_libyaml),
	    cmocka_unit_test(test_block_scalar_fuzz),
	    cmocka_unit_test(test_mutation_fuzz),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
