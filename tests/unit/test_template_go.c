/* The template language's Go syntax beyond paths and if/range (test_template.c): variables,
 * with, define/template/include and partials, verbatim files, and every function, each with
 * its errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/doc.h"
#include "kratixfs/template.h"

static const char request[] = "metadata:\n"
			      "  name: my-db\n"
			      "  namespace: default\n"
			      "spec:\n"
			      "  size: medium\n"
			      "  env: dev\n"
			      "  replicas: 3\n"
			      "  ratio: 0.5\n"
			      "  backup: true\n"
			      "  off: false\n"
			      "  zero: 0\n"
			      "  empty: \"\"\n"
			      "  nothing: null\n"
			      "  text: \"  Hello World  \"\n"
			      "  csv: a,b,c\n"
			      "  evil: \"a\\nkind: Secret\"\n"
			      "  html: \"<a&b>\"\n"
			      "  b64: aGVsbG8=\n"
			      "  config:\n"
			      "    zeta: 1\n"
			      "    alpha: two\n"
			      "    nested: {x: 1}\n"
			      "  tags: [web, db]\n"
			      "  ports: [80, 443]\n";

#define TMPLTEST_PIPELINE "p"
#include "tmpltest.h"

static const char helpers[] = "{{/* partials */}}\n"
			      "{{- define \"labels\" -}}\n"
			      "app: {{ .metadata.name }}\n"
			      "env: {{ .spec.env }}\n"
			      "{{- end }}\n"
			      "{{ define \"fullname\" }}{{ .metadata.name }}-{{ .spec.env }}{{ end }}\n"
			      "{{ define \"loop\" }}{{ include \"loop\" . }}{{ end }}\n";

/* Renders tpl (with the partials above); on an error, returns the message prefixed "ERR ". */
static char *run(struct fix *f, const char *tpl)
{
	struct kfs_template *t = NULL;
	struct kfs_error err = {0};
	struct kfs_buf out = {0};
	struct kfs_template_source h = {"templates/_helpers.tpl", helpers, strlen(helpers)};
	if (kfs_template_compile_with(tpl, strlen(tpl), "t.yaml", NULL, &h, &t, &err)) {
		kfs_buf_printf(&out, "ERR %s", err.msg);
		return kfs_buf_steal(&out);
	}
	if (kfs_template_render(t, &f->ctx, &out, &err)) {
		kfs_buf_reset(&out);
		kfs_buf_printf(&out, "ERR %s", err.msg);
	}
	kfs_template_free(t);
	return kfs_buf_steal(&out);
}

struct tcase {
	const char *tpl, *want;
};

/* want is the exact output, or for an error "ERR " and a part of the message. */
static void check(struct fix *f, const struct tcase *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *got = run(f, cases[i].tpl);
		bool ok = strncmp(cases[i].want, "ERR ", 4) == 0
			      ? strncmp(got, "ERR ", 4) == 0 && strstr(got, cases[i].want + 4)
			      : strcmp(got, cases[i].want) == 0;
		if (!ok)
			fail_msg("%s\n  gave: %s\n  want: %s", cases[i].tpl, got, cases[i].want);
		free(got);
	}
}

#define CHECK(f, cases) check(f, cases, sizeof(cases) / sizeof(*cases))

static void test_variables_and_with(void **state)
{
	static const struct tcase cases[] = {
	    {"{{ $n := .metadata.name }}{{ $n }}/{{ $n | upper }}", "my-db/MY-DB"},
	    {"{{ $x := 1 }}{{ if .spec.backup }}{{ $x = 2 }}{{ end }}{{ $x }}", "2"},
	    {"{{ if .spec.backup }}{{ $y := 1 }}{{ end }}{{ $y }}", "ERR $y is not declared"},
	    {"{{ $z = 1 }}", "ERR $z is not declared; write $z := … to declare it"},
	    {"{{ with .spec.config }}{{ .alpha }} {{ $.metadata.name }}{{ end }}", "two my-db"},
	    {"{{ with .spec.missing }}x{{ else }}none{{ end }}", "none"},
	    {"{{ with .spec.empty }}x{{ else with .spec.env }}{{ . }}{{ end }}", "dev"},
	    {"{{ with $c := .spec.config }}{{ $c.zeta }}{{ end }}", "1"},
	    {"{{ $.spec.size }} {{ $ | len }}", "medium 2"},
	    {"{{ (index .spec.tags 1) | upper }} {{ index .spec.config \"alpha\" }}", "DB two"},
	    {"{{ index .spec.tags 5 }}", "ERR index 5 out of range (the list has 2)"},
	    {"{{ index .spec.config \"nope\" }}", "ERR index: no key \"nope\""},
	    {"{{ .spec.replicas }}{{/* note */}}{{ 1 }}{{ -2 }}{{ 1.5 }}{{ true }}", "31-21.5true"},
	    {"{{ \"a\\tb\\u00e9\" }}{{ `raw\\n` }}", "a\tb\xc3\xa9raw\\n"},
	    {"{{ nil }}", "ERR is null (no default)"},
	};
	CHECK(*state, cases);
}

static void test_define_include(void **state)
{
	static const struct tcase cases[] = {
	    {"labels:\n  {{- include \"labels\" . | nindent 2 }}\n",
	     "labels:\n  app: my-db\n  env: dev\n"},
	    {"{{ template \"fullname\" . }}", "my-db-dev"},
	    {"{{ define \"local\" }}[{{ . }}]{{ end }}{{ template \"local\" .spec.size }}",
	     "[medium]"},
	    {"{{ block \"b\" .spec.env }}<{{ . }}>{{ end }}", "<dev>"},
	    {"{{ include \"fullname\" . | upper | quote }}", "\"MY-DB-DEV\""},
	    {"{{ template \"nope\" . }}", "ERR no template \"nope\" (define it with"},
	    {"{{ include \"loop\" . }}", "ERR templates call each other deeper than 64"},
	    {"{{ define \"labels\" }}{{ end }}",
	     "ERR template \"labels\" is defined twice (also in templates/_helpers.tpl)"},
	    /* Inside a define, $ is what was passed in. */
	    {"{{ define \"d\" }}{{ $.env }}{{ end }}{{ include \"d\" .spec }}", "dev"},
	    /* Errors inside a partial name the partial's file and line. */
	    {"{{ define \"bad\" }}\n{{ .nope }}{{ end }}{{ include \"bad\" . }}",
	     "ERR t.yaml:2:4: .nope is not defined"},
	};
	CHECK(*state, cases);
}

static void test_logic(void **state)
{
	static const struct tcase cases[] = {
	    {"{{ if eq .spec.env \"dev\" }}d{{ else }}p{{ end }}", "d"},
	    {"{{ eq .spec.size \"small\" \"medium\" }} {{ ne .spec.env \"dev\" }}", "true false"},
	    {"{{ eq .spec.replicas 3 }} {{ eq .spec.ratio 0.5 }} {{ eq .spec.backup true }}",
	     "true true true"},
	    {"{{ eq .spec.replicas \"3\" }}", "ERR eq cannot compare integer with string"},
	    {"{{ lt 1 2 }} {{ le 2 2 }} {{ gt .spec.replicas 5 }} {{ ge \"b\" \"a\" }}",
	     "true true false true"},
	    {"{{ and .spec.backup .spec.env }} {{ and .spec.off .spec.missing }}", "dev false"},
	    {"{{ or .spec.missing .spec.empty .spec.env }} {{ or .spec.off 0 }}", "dev 0"},
	    {"{{ not .spec.missing }} {{ not .spec.backup }}", "true false"},
	    {"{{ if and (eq .spec.env \"dev\") (gt .spec.replicas 1) }}yes{{ end }}", "yes"},
	    {"{{ .spec.missing | default \"d\" }} {{ .spec.zero | default 7 }} "
	     "{{ .spec.off | default \"f\" }} {{ default \"x\" .spec.env }}",
	     "d 7 f dev"},
	    {"{{ empty .spec.missing }} {{ empty .spec.tags }} {{ empty .spec.empty }}",
	     "true false true"},
	    {"{{ coalesce .spec.missing .spec.empty .spec.size }}", "medium"},
	    {"{{ coalesce .spec.missing .spec.empty }}", "ERR is null (no default)"},
	    {"{{ ternary \"on\" \"off\" .spec.backup }} {{ .spec.off | ternary 1 2 }}", "on 2"},
	    {"{{ required \"spec.env is needed\" .spec.env }}", "dev"},
	    {"{{ required \"spec.team is needed\" .spec.team }}", "ERR spec.team is needed"},
	    {"{{ required \"spec.empty must be set\" .spec.empty }}", "ERR spec.empty must be set"},
	    {"{{ fail \"no way\" }}", "ERR t.yaml:1:4: no way"},
	    {"{{ hasKey .spec \"env\" }} {{ hasKey .spec.config \"nope\" }}", "true false"},
	    {"{{ if hasKey .spec \"team\" }}{{ .spec.team }}{{ else }}none{{ end }}", "none"},
	    {"{{ upper .spec.missing }}", "ERR t.yaml:1:10: .spec.missing is not defined"},
	};
	CHECK(*state, cases);
}

static void test_strings(void **state)
{
	static const struct tcase cases[] = {
	    {"{{ printf \"%s-%d-%v-%05.2f-%x-%t-%%\" .spec.env .spec.replicas .spec.size 3.14159 "
	     "255 .spec.backup }}",
	     "dev-3-medium-03.14-ff-true-%"},
	    {"{{ printf \"%q\" .spec.size }} {{ printf \"%5s|%-4s|\" \"a\" \"b\" }}",
	     "\"medium\"     a|b   |"},
	    {"{{ printf \"%s\" }}", "ERR printf: %s has no argument"},
	    {"{{ printf \"x\" 1 }}", "ERR printf: 1 argument left over"},
	    {"{{ printf \"%y\" 1 }}", "ERR printf: unknown verb %y"},
	    {"{{ quote .spec.size .spec.env }} {{ squote .spec.size }}", "\"medium\" \"dev\" 'medium'"},
	    {"{{ .spec.size | upper }} {{ \"ABC\" | lower }} {{ \"hello wide-world\" | title }}",
	     "MEDIUM abc Hello Wide-World"},
	    {"[{{ .spec.text | trim }}] {{ trimPrefix \"my-\" .metadata.name }} "
	     "{{ trimSuffix \"-db\" .metadata.name }}",
	     "[Hello World] db my"},
	    {"{{ replace \"-\" \"_\" .metadata.name }} {{ trunc 2 .spec.size }} "
	     "{{ trunc -3 .spec.size }} {{ trunc 99 .spec.env }}",
	     "my_db me ium dev"},
	    {"{{ contains \"ed\" .spec.size }} {{ hasPrefix \"med\" .spec.size }} "
	     "{{ hasSuffix \"x\" .spec.size }}",
	     "true true false"},
	    {"{{ $p := split \",\" .spec.csv }}{{ $p._0 }}{{ $p._2 }}", "ac"},
	    {"{{ splitList \",\" .spec.csv | join \"+\" }} {{ join \"-\" .spec.ports }}",
	     "a+b+c 80-443"},
	    {"{{ .spec.config | upper }}", "ERR upper needs a string, not a mapping"},
	    {"{{ toString .spec.replicas | quote }} {{ .spec.ports | toString }}", "\"3\" [80,443]"},
	    {"{{ print \"a\" 1 2 \"b\" }}", "a1 2b"},
	};
	CHECK(*state, cases);
}

static void test_collections_and_math(void **state)
{
	static const struct tcase cases[] = {
	    {"{{ len .spec.tags }} {{ len .spec.config }} {{ len .spec.size }}", "2 3 6"},
	    {"{{ len .spec.nothing }}", "ERR len of null"},
	    {"{{ list 1 \"a\" .spec.env | toJson }}", "[1,\"a\",\"dev\"]"},
	    {"{{ dict \"b\" 1 \"a\" .spec.tags | toJson }}", "{\"a\":[\"web\",\"db\"],\"b\":1}"},
	    {"{{ dict \"a\" }}", "ERR dict takes key value pairs"},
	    {"{{ get .spec.config \"alpha\" }}[{{ get .spec.config \"nope\" }}]", "two[]"},
	    {"{{ keys .spec.config | join \",\" }} {{ values .spec.config | toJson }}",
	     "alpha,nested,zeta [\"two\",{\"x\":1},1]"},
	    {"{{ $d := dict \"alpha\" \"mine\" \"nested\" (dict \"y\" 2) }}"
	     "{{ merge $d .spec.config | toJson }}",
	     "{\"alpha\":\"mine\",\"nested\":{\"x\":1,\"y\":2},\"zeta\":1}"},
	    {"{{ get .spec.tags \"x\" }}", "ERR get needs a mapping, not array"},
	    {"{{ add 1 2 3 }} {{ sub 10 4 }} {{ mul 2 3 4 }} {{ div 7 2 }} {{ mod 7 3 }}",
	     "6 6 24 3 1"},
	    {"{{ max 3 9 4 }} {{ min 3 9 -4 }} {{ add .spec.replicas \"2\" }} {{ int \"42\" }} "
	     "{{ int .spec.ratio }}",
	     "9 -4 5 42 0"},
	    {"{{ div 1 0 }}", "ERR div by zero"},
	    {"{{ add .spec.tags 1 }}", "ERR add needs a number, not a list"},
	};
	CHECK(*state, cases);
}

static void test_yaml_json_encodings(void **state)
{
	static const struct tcase cases[] = {
	    {"c:\n  {{- toYaml .spec.config | nindent 2 }}\n",
	     "c:\n  zeta: 1\n  alpha: two\n  nested:\n    x: 1\n"},
	    {"{{ toYaml .spec.tags | indent 4 }}", "    - web\n    - db"},
	    {"{{ .spec.config | toJson }}", "{\"alpha\":\"two\",\"nested\":{\"x\":1},\"zeta\":1}"},
	    {"{{ .spec.html | toJson }}", "\"\\u003ca\\u0026b\\u003e\""},
	    {"{{ $m := fromYaml \"a: [1, 2]\" }}{{ index $m.a 1 }}", "2"},
	    {"{{ fromYaml \"a: [\" }}", "ERR fromYaml"},
	    {"{{ .spec.size | b64enc }} {{ .spec.b64 | b64dec }}", "bWVkaXVt hello"},
	    {"{{ \"%%%\" | b64dec }}", "ERR b64dec: the value is not base64"},
	    {"{{ \"abc\" | sha256sum }}",
	     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	    {"{{ .spec.evil | b64enc | b64dec }}", "ERR holds a newline; use | quote"},
	    {"{{ regexMatch \"^[a-z]+-\\\\d+$\" \"db-42\" }} {{ regexMatch \"^x\" .spec.size }}",
	     "true false"},
	    {"{{ regexReplaceAll \"([a-z]+)-(\\\\w+)\" .metadata.name \"${2}_$1\" }}", "db_my"},
	    {"{{ regexReplaceAll \"a*\" \"baaac\" \"-\" }}", "-b-c-"},
	    {"{{ regexMatch \"(\" \"x\" }}", "ERR regexMatch: bad regular expression ("},
	};
	CHECK(*state, cases);
}

static void test_refused_functions(void **state)
{
	static const struct tcase cases[] = {
	    {"{{ now }}", "ERR t.yaml:1:4: now reads the clock: a render must give the same bytes "
			  "for the same request"},
	    {"{{ randAlphaNum 8 }}", "ERR randAlphaNum is random"},
	    {"{{ uuidv4 }}", "ERR uuidv4 is random"},
	    {"{{ lookup \"v1\" \"Secret\" \"ns\" \"x\" }}", "ERR lookup reads the cluster"},
	    {"{{ env \"HOME\" }}", "ERR env reads the environment"},
	};
	CHECK(*state, cases);
}

static void test_verbatim(void **state)
{
	static const struct tcase cases[] = {
	    {"{{/* kratixfs:verbatim */}}\nvalue: {{ .Values.x }} {{#if}}\n",
	     "value: {{ .Values.x }} {{#if}}\n"},
	    /* Anywhere but the first line, it is a comment like any other. */
	    {"a\n{{/* kratixfs:verbatim */}}{{ .spec.env }}", "a\ndev"},
	};
	CHECK(*state, cases);
}

static void test_blank(void **state)
{
	(void)state;
	assert_true(kfs_template_blank("", 0));
	const char *yes[] = {"\n  \n", "# only a comment\n  # another\n", "---\n# x\n---  \n",
			     "\t\r\n..."};
	const char *no[] = {"a: 1", "# c\nkind: X\n", "--- a", "----\n"};
	for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++)
		assert_true(kfs_template_blank(yes[i], strlen(yes[i])));
	for (size_t i = 0; i < sizeof(no) / sizeof(*no); i++)
		assert_false(kfs_template_blank(no[i], strlen(no[i])));
}

struct parts {
	struct kfs_buf all;
};

static int put_part(void *arg, const char *path, struct kfs_buf *data)
{
	struct parts *p = arg;
	kfs_buf_printf(&p->all, "[%s]%s", path, data->data);
	return 0;
}

/* kfs_template_split's result as "[file]text…", or "ERR message". */
static char *split(const char *text)
{
	struct parts p = {0};
	struct kfs_error err = {0};
	if (kfs_template_split("sa/users.yaml", text, strlen(text), put_part, &p, &err)) {
		kfs_buf_reset(&p.all);
		kfs_buf_printf(&p.all, "ERR %s", err.msg);
	}
	return kfs_buf_steal(&p.all);
}

static void test_split(void **state)
{
	(void)state;
	static const struct tcase cases[] = {
	    {"\n---\nmetadata: {name: a}\n---  \n# only a comment\n---\nmetadata:\n  name: b.c\n",
	     "[sa/users-a.yaml]metadata: {name: a}\n[sa/users-b.c.yaml]metadata:\n  name: b.c\n"},
	    {"", ""},
	    {"kind: X\n", "ERR output/sa/users.yaml (document 1): no metadata.name"},
	    {"metadata: {name: a/b}\n", "ERR metadata.name is not a file name"},
	    {"metadata: {name: a}\n---\nmetadata: {name: a}\n",
	     "ERR output/sa/users.yaml (document 2): a second document named a"},
	    {"a: [\n", "ERR output/sa/users.yaml (document 1)"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char *got = split(cases[i].tpl);
		bool ok = strncmp(cases[i].want, "ERR ", 4) == 0 ? strstr(got, cases[i].want + 4) != NULL
								  : strcmp(got, cases[i].want) == 0;
		if (!ok)
			fail_msg("%s\n  gave: %s\n  want: %s", cases[i].tpl, got, cases[i].want);
		free(got);
	}
	struct kfs_template *t = NULL;
	struct kfs_error err = {0};
	const char *src = "{{/* kratixfs:split */}}\nx";
	assert_int_equal(kfs_template_compile(src, strlen(src), "t", NULL, &t, &err), 0);
	assert_true(kfs_template_splits(t));
	kfs_template_free(t);
	assert_int_equal(kfs_template_compile("x", 1, "t", NULL, &t, &err), 0);
	assert_false(kfs_template_splits(t));
	kfs_template_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_variables_and_with, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_define_include, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_logic, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_strings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_collections_and_math, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_yaml_json_encodings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused_functions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verbatim, setup, teardown),
	    cmocka_unit_test(test_blank),
	    cmocka_unit_test(test_split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
