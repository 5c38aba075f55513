/* The template language: paths, functions as filters, if/range, strictness, injection,
 * placeholders. test_template_go.c covers the rest of the Go syntax and the functions. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kratixfs/doc.h"
#include "kratixfs/template.h"

static const char request[] = "apiVersion: marketplace.kratix.io/v1alpha1\n"
			      "kind: Postgresql\n"
			      "metadata:\n"
			      "  name: my-db\n"
			      "  namespace: default\n"
			      "  labels:\n"
			      "    app.kubernetes.io/name: pg\n"
			      "spec:\n"
			      "  size: medium\n"
			      "  teamId: acid\n"
			      "  backup: true\n"
			      "  restore: false\n"
			      "  replicas: 3\n"
			      "  ratio: 0.5\n"
			      "  empty: \"\"\n"
			      "  nothing: null\n"
			      "  yes: True\n"
			      "  database: app\n"
			      "  evil: \"a\\nkind: Secret\"\n"
			      "  bell: \"ding\\a\"\n"
			      "  tricky: 'say \"hi\": x\\y'\n"
			      "  config:\n"
			      "    max_connections: 100\n"
			      "    shared_buffers: 1GB\n"
			      "    tags: [a, b]\n"
			      "  users:\n"
			      "    - name: alice\n"
			      "      roles: [admin, dev]\n"
			      "    - name: bob\n"
			      "      roles: []\n"
			      "  noUsers: []\n";

#define TMPLTEST_PIPELINE "instance-configure"
#include "tmpltest.h"

static char *render_ph(struct fix *f, const char *tpl, const struct kfs_placeholders *ph)
{
	struct kfs_template *t = NULL;
	struct kfs_error err = {0};
	struct kfs_buf out = {0};
	if (kfs_template_compile(tpl, strlen(tpl), "t.yaml", ph, &t, &err))
		fail_msg("compile: %s", err.msg);
	if (kfs_template_render(t, &f->ctx, &out, &err))
		fail_msg("render: %s", err.msg);
	kfs_template_free(t);
	return kfs_buf_steal(&out);
}

static char *render(struct fix *f, const char *tpl)
{
	return render_ph(f, tpl, NULL);
}

static void expect(struct fix *f, const char *tpl, const char *want)
{
	char *got = render(f, tpl);
	assert_string_equal(got, want);
	free(got);
}

/* Compiles fine, fails to render with -EIO and a message containing want. */
static void expect_render_error_ph(struct fix *f, const char *tpl,
				   const struct kfs_placeholders *ph, const char *want)
{
	struct kfs_template *t = NULL;
	struct kfs_error err = {0};
	struct kfs_buf out = {0};
	if (kfs_template_compile(tpl, strlen(tpl), "templates/output/db.yaml", ph, &t, &err))
		fail_msg("compile: %s", err.msg);
	assert_int_equal(kfs_template_render(t, &f->ctx, &out, &err), -EIO);
	if (!strstr(err.msg, want))
		fail_msg("error '%s' does not contain '%s'", err.msg, want);
	kfs_template_free(t);
	kfs_buf_free(&out);
}

static void expect_render_error(struct fix *f, const char *tpl, const char *want)
{
	expect_render_error_ph(f, tpl, NULL, want);
}

static void expect_compile_error(const char *tpl, const char *want)
{
	struct kfs_template *t = (struct kfs_template *)1;
	struct kfs_error err = {0};
	if (kfs_template_compile(tpl, strlen(tpl), "templates/output/db.yaml", NULL, &t, &err) !=
	    -EINVAL)
		fail_msg("'%s' compiled; expected '%s'", tpl, want);
	assert_null(t);
	if (!strstr(err.msg, want))
		fail_msg("error '%s' does not contain '%s'", err.msg, want);
}

static void test_plain_text(void **state)
{
	expect(*state, "", "");
	expect(*state, "kind: Service\n", "kind: Service\n");
	expect(*state, "a } b }} c {", "a } b }} c {");
}

static void test_paths(void **state)
{
	struct fix *f = *state;
	expect(f, "name: {{ .metadata.name }}\n", "name: my-db\n");
	expect(f, "{{.spec.size}}/{{ $.spec.size }}", "medium/medium");
	expect(f, "{{ .metadata.labels[\"app.kubernetes.io/name\"] }}", "pg");
	expect(f, "{{ .[\"spec\"].size }}", "medium");
	expect(f, "{{ .spec.users[1].name }} {{ .spec.users[0].roles[1] }}", "bob dev");
	expect(f, "{{ .spec.config.tags[0] }}", "a");
}

static void test_reserved_roots(void **state)
{
	struct fix *f = *state;
	expect(f, "{{ .values.storage }} {{ .promise.name }} {{ .promise.version }}",
	       "10Gi postgresql v1.2.0");
	expect(f, "{{ .workflow.type }}/{{ .workflow.action }}/{{ $.workflow.pipeline }}",
	       "resource/configure/instance-configure");
	f->ctx.values = NULL;
	expect_render_error(f, "x: {{ .values.storage }}", ".values.storage is not defined");
}

static void test_scalars(void **state)
{
	struct fix *f = *state;
	expect(f, "{{ .spec.replicas }} {{ .spec.ratio }} {{ .spec.backup }} {{ .spec.yes }}",
	       "3 0.5 true true");
	expect(f, "[{{ .spec.empty }}]", "[]");
	expect(f, "{{ \"{{\" }} literal", "{{ literal");
}

static void test_default(void **state)
{
	struct fix *f = *state;
	expect(f, "{{ .spec.missing | default \"acid\" }}", "acid");
	expect(f, "{{ .spec.teamId | default \"other\" }}", "acid");
	expect(f, "{{ .spec.nothing | default \"was null\" }}", "was null");
	expect(f, "{{ .spec.missing | default 5 }} {{ .nope | default 1.5 }}", "5 1.5");
	expect(f, "{{ .spec.missing | default false }}", "false");
	/* sprig's default: an empty string, 0 and false are empty too. */
	expect(f, "[{{ .spec.empty | default \"x\" }}]", "[x]");
	expect(f, "{{ .spec.restore | default \"x\" }}", "x");
	expect(f, "{{ .spec.missing | default \"say \\\"hi\\\"\" }}", "say \"hi\"");
	expect(f, "{{ .spec.missing | default 3 | yaml }}", "3");
}

static void test_upper_lower(void **state)
{
	struct fix *f = *state;
	expect(f, "{{ .metadata.name | upper }} {{ .spec.size | upper | lower }}", "MY-DB medium");
	/* Only default, empty, coalesce, required, and, or, not and if/with/range take a missing
	 * value: upper does not pass it on. */
	expect_render_error(f, "{{ .spec.missing | upper | default \"Dflt\" }}",
			    "templates/output/db.yaml:1:4: .spec.missing is not defined (no default)");
	expect(f, "{{ .spec.missing | default \"Dflt\" | upper }}", "DFLT");
	expect(f, "{{ .spec.backup | upper }}", "TRUE");
	expect(f, "{{ .spec.size | upper | quote }}", "\"MEDIUM\"");
	expect_render_error(f, "{{ .spec.config | upper }}",
			    "templates/output/db.yaml:1:19: upper needs a string, not a mapping (in "
			    "{{ .spec.config | upper }})");
}

static void check_quoted(struct fix *f, const char *path, const char *want_text)
{
	char tpl[128];
	snprintf(tpl, sizeof(tpl), "v: {{ %s | quote }}\n", path);
	char *out = render(f, tpl);
	struct kfs_node *doc = parse(out);
	const struct kfs_node *v = kfs_map_get(doc, "v");
	assert_non_null(v);
	assert_int_equal(v->type, KFS_STR);
	assert_string_equal(v->text, want_text);
	kfs_node_free(doc);
	free(out);
}

static void test_quote(void **state)
{
	struct fix *f = *state;
	expect(f, "{{ .metadata.name | quote }}", "\"my-db\"");
	expect(f, "{{ .spec.replicas | quote }}", "\"3\"");
	/* Quoting is what makes a hostile value safe: each one reads back as one string. */
	check_quoted(f, ".spec.evil", "a\nkind: Secret");
	check_quoted(f, ".spec.tricky", "say \"hi\": x\\y");
	check_quoted(f, ".spec.bell", "ding\a");
	check_quoted(f, ".spec.backup", "true");
	expect_render_error(f, "{{ .spec.users | quote }}",
			    "db.yaml:1:18: quote needs a string, not a list");
	expect_render_error(f, "{{ .spec.nothing | quote }}", ".spec.nothing is null (no default)");
}

static void test_yaml_filter(void **state)
{
	struct fix *f = *state;
	char *out = render(f, "spec:\n  postgresql:\n    parameters:\n"
			      "      {{ .spec.config | yaml }}\n  users:\n"
			      "  {{ .spec.users | yaml }}\n  size: {{ .spec.size | yaml }}\n");
	struct kfs_node *doc = parse(out);
	assert_true(kfs_node_equal(kfs_node_at(doc, "spec.postgresql.parameters"),
				   kfs_node_at(f->req, "spec.config")));
	assert_true(
	    kfs_node_equal(kfs_node_at(doc, "spec.users"), kfs_node_at(f->req, "spec.users")));
	assert_string_equal(kfs_node_text_at(doc, "spec.size"), "medium");
	/* The continuation lines are indented to the tag's column in the output. */
	assert_non_null(strstr(out, "\n      max_connections: 100\n      shared_buffers: 1GB\n"));
	kfs_node_free(doc);
	free(out);

	/* The column counts what earlier tags wrote on the same line. */
	out = render(f, "{{ .spec.teamId }}: {{ .spec.config | yaml }}\n");
	assert_string_equal(out, "acid: max_connections: 100\n"
				 "      shared_buffers: 1GB\n"
				 "      tags:\n"
				 "        - a\n"
				 "        - b\n");
	free(out);

	/* A multi-line string stays one value. */
	out = render(f, "v: {{ .spec.evil | yaml }}\n");
	doc = parse(out);
	assert_string_equal(kfs_node_text_at(doc, "v"), "a\nkind: Secret");
	kfs_node_free(doc);
	free(out);
	expect(f, "{{ .metadata.name | upper | yaml }}", "MY-DB");
	expect(f, "{{ .spec.backup | yaml }}", "true");
}

static void test_if(void **state)
{
	struct fix *f = *state;
	expect(f, "{{ if .spec.backup }}yes{{ else }}no{{ end }}", "yes");
	expect(f, "{{ if .spec.restore }}yes{{ else }}no{{ end }}", "no");
	expect(f, "{{ if .spec.missing }}yes{{ else }}no{{ end }}", "no");
	expect(f, "{{ if .spec.nothing }}yes{{ end }}.", ".");
	expect(f, "{{ if .spec.empty }}yes{{ end }}{{ if .spec.noUsers }}x{{ end }}.", ".");
	expect(f, "{{ if .values.storage }}{{ .values.storage }}{{ end }}", "10Gi");
	expect(f, "{{if .spec.backup}}{{if .spec.restore}}a{{else}}b{{ end }}{{end}}", "b");
	expect(f, "{{ if .spec.restore }}a{{ else if .spec.missing }}b{{ else if .spec.backup }}c"
		  "{{ else }}d{{ end }}",
	       "c");
	expect(f, "{{ if .spec.restore }}a{{ else if .spec.empty }}b{{ else }}d{{ end }}", "d");
}

/* Go's trim markers replace the earlier "standalone line" rule: {{- and -}} eat the blanks
 * and newlines beside them; a tag alone on its line otherwise leaves the line. */
static void test_trim(void **state)
{
	struct fix *f = *state;
	expect(f,
	       "spec:\n"
	       "  {{- if .spec.backup }}\n"
	       "  backup: enabled\n"
	       "  {{- else }}\n"
	       "  backup: disabled\n"
	       "  {{- end }}\n"
	       "  size: {{ .spec.size }}\n",
	       "spec:\n  backup: enabled\n  size: medium\n");
	expect(f, "a\n{{ if .spec.backup }}\nb\n{{ end }}\nc", "a\n\nb\n\nc");
	expect(f, "a  {{- .spec.size -}} \n\t b", "amediumb");
	expect(f, "a {{- /* gone */ -}} b", "ab");
	expect(f, "x{{/* a comment\nover lines */}}y", "xy");
	/* Without a blank after it, a minus is a number's sign. */
	expect(f, "{{-3}}", "-3");
}

static void test_range(void **state)
{
	struct fix *f = *state;
	expect(f,
	       "users:\n"
	       "{{- range $i, $u := .spec.users }}\n"
	       "  - name: {{ $u.name }}\n"
	       "    index: {{ $i }}\n"
	       "    db: {{ $.spec.database }}-{{ $.values.storage }}\n"
	       "    {{- range $j, $r := .roles }}\n"
	       "    role: {{ . | upper }} of {{ $.metadata.name }} at {{ $j }}\n"
	       "    {{- else }}\n"
	       "    role: none\n"
	       "    {{- end }}\n"
	       "{{- end }}\n",
	       "users:\n"
	       "  - name: alice\n    index: 0\n    db: app-10Gi\n"
	       "    role: ADMIN of my-db at 0\n    role: DEV of my-db at 1\n"
	       "  - name: bob\n    index: 1\n    db: app-10Gi\n    role: none\n");
	expect(f, "[{{ range .spec.missing }}x{{ end }}{{ range .spec.nothing }}x{{ end }}]", "[]");
	expect(f, "{{ range .spec.noUsers }}x{{ else }}empty{{ end }}", "empty");
	/* Inside range, `.values` is a field of the item; the reserved maps are under `$`. */
	expect(f, "{{ range .spec.users }}{{ if .values }}bad{{ end }}{{ end }}ok", "ok");
	expect(f, "{{ range .spec.users }}{{ if .name }}{{ .name }}{{ end }},{{ end }}",
	       "alice,bob,");
	/* A map: sorted keys, whatever the request's order. */
	expect(f, "{{ range $k, $v := .spec.config }}{{ $k }}={{ $v | toJson }};{{ end }}",
	       "max_connections=100;shared_buffers=\"1GB\";tags=[\"a\",\"b\"];");
	expect(f, "{{ range $x := .spec.config.tags }}{{ $x }}{{ end }}", "ab");
	expect(f, "{{ range .spec.users }}{{ if eq .name \"alice\" }}{{ continue }}{{ end }}"
		  "{{ .name }}{{ end }}",
	       "bob");
	expect(f, "{{ range .spec.users }}{{ .name }}{{ break }}{{ end }}", "alice");
	expect_render_error(f, "a\n{{ range .spec.size }}x{{ end }}",
			    "templates/output/db.yaml:2:9: range over .spec.size, which is a "
			    "scalar, not a list or a map");
}

static void test_undefined(void **state)
{
	struct fix *f = *state;
	expect_render_error(f, "a\nb\nc\nd\ne\nf\nsize: {{ .spec.sise }}\n",
			    "templates/output/db.yaml:7:10: .spec.sise is not defined (no default); "
			    "did you mean .spec.size?");
	expect_render_error(f, "{{ .spec.zzzzzzzz }}",
			    "templates/output/db.yaml:1:4: .spec.zzzzzzzz is not defined (no "
			    "default)");
	expect_render_error(f, "{{ $.metadata.nmae }}", "did you mean $.metadata.name?");
	expect_render_error(f, "{{ .metadata.labels[\"app.kubernetes.io/nam\"] }}",
			    "did you mean .metadata.labels[\"app.kubernetes.io/name\"]?");
	expect_render_error(f, "{{ .spec.users[5].name }}", ".spec.users[5].name is not defined");
	expect_render_error(f, "{{ .spec.size.x }}", ".spec.size.x is not defined");
	expect_render_error(f, "{{ .spec.nothing }}",
			    "templates/output/db.yaml:1:1: .spec.nothing is null (no default)");
	expect_render_error(f, "{{ range .spec.users }}{{ .nmae }}{{ end }}",
			    ".nmae is not defined (no default); did you mean .name?");
	expect_render_error(f, "{{ .spec.missing | upper }}", ".spec.missing is not defined");
}

static void test_injection(void **state)
{
	struct fix *f = *state;
	expect_render_error(f, "x: 1\nname: {{ .spec.evil }}\n",
			    "templates/output/db.yaml:2:7: .spec.evil holds a newline; use | quote");
	expect_render_error(f, "{{ .spec.bell }}",
			    ".spec.bell holds a control character 0x07; use | quote");
	expect_render_error(f, "{{ .spec.config }}",
			    "templates/output/db.yaml:1:1: .spec.config is a mapping; use | toYaml");
	expect_render_error(f, "{{ .spec.users }}", ".spec.users is a list; use | toYaml");
	expect_render_error(f, "{{ .spec.missing | default \"a\\\"b\" }}{{ . }}",
			    ". is a mapping; use | toYaml");
	/* Request text stays checked through string functions, and is safe once quoted. */
	expect_render_error(f, "{{ .spec.evil | upper }}",
			    "the result of upper holds a newline; use | quote");
	expect_render_error(f, "{{ printf \"%s!\" .spec.evil }}", "holds a newline");
	expect_render_error(f, "{{ .spec.evil | indent 2 }}", "holds a newline");
	expect(f, "{{ .spec.evil | quote | upper }}", "\"A\\NKIND: SECRET\"");
	expect(f, "{{ .spec.evil | toJson }}", "\"a\\nkind: Secret\"");
}

/* A second document smuggled through a character YAML reads as a line break. */
#define CRB                                                                                        \
	"---%sapiVersion: rbac.authorization.k8s.io/v1%skind: ClusterRoleBinding%smetadata:%s  "   \
	"name: pwned%sroleRef:%s  kind: ClusterRole%s  name: cluster-admin"

static void test_unicode_breaks(void **state)
{
	(void)state;
	static const struct {
		const char *brk, *want;
	} cases[] = {
	    {"\xe2\x80\xa8", "U+2028 LINE SEPARATOR, which YAML reads as a line break"},
	    {"\xe2\x80\xa9", "U+2029 PARAGRAPH SEPARATOR, which YAML reads as a line break"},
	    {"\xc2\x85", "U+0085 NEXT LINE (NEL), which YAML reads as a line break"},
	    {"\x85", "byte 0x85, which is not UTF-8"},
	    {"\r", "a control character 0x0d"},
	    {"\f", "a control character 0x0c"},
	    {"\v", "a control character 0x0b"},
	    {"\xc2\x9b", "a control character U+009B"},
	    {"\xef\xbb\xbf", "U+FEFF BYTE ORDER MARK, which YAML parsers drop"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *b = cases[i].brk;
		char value[512];
		snprintf(value, sizeof(value), "x%s" CRB, b, b, b, b, b, b, b, b);
		struct kfs_node *root = kfs_node_new(KFS_MAP);
		struct kfs_node *spec = kfs_node_new(KFS_MAP);
		kfs_map_set(spec, "x", kfs_node_new_str(value));
		kfs_map_set(root, "spec", spec);
		struct fix f = {.ctx = {.root = root}};
		char want[160];
		snprintf(want, sizeof(want), "templates/output/db.yaml:2:7: .spec.x holds %s; use | quote",
			 cases[i].want);
		expect_render_error(&f, "kind: Secret\nname: {{ .spec.x }}\n", want);
		snprintf(want, sizeof(want), ".spec.x) holds %s; a placeholder cannot be quoted",
			 cases[i].want);
		struct kfs_placeholder item = {"placeholder-x", ".spec.x"};
		struct kfs_placeholders ph = {&item, 1};
		expect_render_error_ph(&f, "kind: Secret\nname: placeholder-x\n", &ph, want);
		/* Quoted or as YAML, the value is one escaped scalar of one document. A lone
		 * 0x85 byte cannot be written as YAML text at all. */
		for (int yaml = 0; yaml < 2 && b[0] != '\x85'; yaml++) {
			char *out = render(&f, yaml ? "kind: Secret\nname: {{ .spec.x | yaml }}\n"
						    : "kind: Secret\nname: {{ .spec.x | quote }}\n");
			struct kfs_node **docs = NULL;
			size_t n = 0;
			struct kfs_error err = {0};
			if (kfs_doc_parse_stream(out, strlen(out), "out.yaml", &docs, &n, &err))
				fail_msg("%s does not parse: %s", out, err.msg);
			assert_int_equal(n, 1);
			assert_string_equal(kfs_node_text_at(docs[0], "kind"), "Secret");
			assert_string_equal(kfs_node_text_at(docs[0], "name"), value);
			assert_null(strstr(out, b[0] == '\r' || b[0] == '\f' || b[0] == '\v' ? "\n---"
											       : b));
			kfs_doc_free_stream(docs, n);
			free(out);
		}
		kfs_node_free(root);
	}
}

/* A value that would begin a line with a document marker starts another manifest. */
static void test_document_markers(void **state)
{
	(void)state;
	struct kfs_node *root = kfs_node_new(KFS_MAP);
	struct kfs_node *spec = kfs_node_new(KFS_MAP);
	kfs_map_set(spec, "dashes", kfs_node_new_str("---"));
	kfs_map_set(spec, "dots", kfs_node_new_str("... x"));
	kfs_map_set(spec, "dash", kfs_node_new_str("-"));
	kfs_map_set(spec, "word", kfs_node_new_str("---abc"));
	kfs_map_set(root, "spec", spec);
	struct fix f = {.ctx = {.root = root}};
	expect_render_error(&f, "a: 1\n{{ .spec.dashes }}\nkind: Secret\n",
			    "templates/output/db.yaml:2:1: .spec.dashes would start a line with "
			    "\"---\", which YAML reads as a document marker; use | quote");
	expect_render_error(&f, "{{ .spec.dots }}", "would start a line with \"...\"");
	expect_render_error(&f, "a: 1\n--{{ .spec.dash }}\n", ".spec.dash would start a line");
	/* Not markers: inside a line, followed by text, or quoted. */
	expect(&f, "a: {{ .spec.dashes }}\n", "a: ---\n");
	expect(&f, "{{ .spec.word }}: 1\n", "---abc: 1\n");
	expect(&f, "{{ .spec.dashes | quote }}\n", "\"---\"\n");
	kfs_node_free(root);
}

static void test_failed_render_leaves_buffer(void **state)
{
	struct fix *f = *state;
	struct kfs_template *t = NULL;
	struct kfs_error err = {0};
	struct kfs_buf out = {0};
	const char *tpl = "long text before the error\n{{ .spec.evil }}";
	assert_int_equal(kfs_template_compile(tpl, strlen(tpl), "t", NULL, &t, &err), 0);
	kfs_buf_adds(&out, "kept");
	assert_int_equal(kfs_template_render(t, &f->ctx, &out, &err), -EIO);
	assert_string_equal(out.data, "kept");
	assert_int_equal(out.len, 4);
	kfs_buf_free(&out);
	kfs_template_free(t);
}

static void test_compile_errors(void **state)
{
	(void)state;
	expect_compile_error("a\nb: {{ .spec.size\n", "templates/output/db.yaml:2:4: unclosed {{");
	expect_compile_error("{{ .spec.size", "db.yaml:1:1: unclosed {{ (the tag never ends with }})"
					       " (in {{ .spec.size)");
	expect_compile_error("\n{{ .spec.size | shout }}",
			     "db.yaml:2:17: unknown function shout (a path starts with a dot");
	expect_compile_error("{{ .spec.size | uper }}", "unknown function uper; did you mean upper?");
	expect_compile_error("a\n\n{{end}}", "db.yaml:3:1: end without if, with or range");
	expect_compile_error("{{else}}", "db.yaml:1:1: else without if, with or range");
	expect_compile_error("x\n{{ if .a }}\n{{ range .b }}\n{{ end }}\n",
			     "db.yaml:2:1: {{ if }} is never closed (add {{ end }}) (in {{ if .a }})");
	expect_compile_error("{{ if .a }}1{{ else }}2\n{{ else }}3{{ end }}",
			     "db.yaml:2:1: a second else after the one at templates/output/db.yaml:1:13");
	expect_compile_error("{{ spec.size }}", "db.yaml:1:4: unknown function spec (a path starts "
						"with a dot: .spec.size");
	expect_compile_error("{{ .spec..size }}", "db.yaml:1:4: bad path .spec. (a key after a dot "
						  "is letters, digits, _ and -; write [\"key\"]");
	expect_compile_error("{{ ..spec }}", "bad path ..");
	expect_compile_error("{{ .a[x] }}", "bad path .a[");
	expect_compile_error("{{ .a[\"x }}", "bad path .a[");
	expect_compile_error("{{ \"x }}", "unterminated string");
	expect_compile_error("{{ .a .b }}", "db.yaml:1:7: .a is not a function; a call starts with "
					    "its name");
	expect_compile_error("{{ .a b }}", "db.yaml:1:7: unknown function b");
	expect_compile_error("{{ .a | quote | yaml | upper }}", "| yaml must be the last function");
	expect_compile_error("{{ }}", "db.yaml:1:1: empty tag");
	expect_compile_error("{{ default }}", "default takes 1 to 2 arguments, given 0");
	expect_compile_error("{{ .a | upper .b }}", "upper takes 1 argument, given 2 (a piped value "
						    "counts as the last)");
	expect_compile_error("{{ eq .a }}", "eq takes 2 or more arguments, given 1");
	expect_compile_error("{{ if }}{{ end }}", "missing value before }}");
	/* The syntax of other template languages, with what to write instead. */
	expect_compile_error("{{#if .a}}{{/if}}", "{{#if …}} is not this language's syntax; write "
						  "{{ if .x }} … {{ end }}");
	expect_compile_error("{{#each .a}}", "write {{ range .x }} … {{ end }}");
	expect_compile_error("{{#unless .a}}", "write {{ if … }}");
	expect_compile_error("{{ if .a }}x{{/if}}", "{{/if}} closes nothing here; write {{ end }}");
	expect_compile_error("{{ @index }}", "write {{ range $i, $x := .list }} and use $i");
	expect_compile_error("{{ .Values.size }}", "db.yaml:1:4: .Values is Helm's; write .values "
						   "(values.yaml) or .spec (the request)");
	expect_compile_error("{{ .Release.Name }}", ".Release is Helm's; write .metadata");
	expect_compile_error("{{ break }}", "break outside range");
	expect_compile_error("{{ range $i = .a }}{{ end }}", "range declares its variables with :=");
	expect_compile_error("{{ define \"x\" }}", "{{ define }} is never closed");
	expect_compile_error("{{ if .a }}{{ define \"x\" }}{{ end }}{{ end }}",
			     "define is only allowed at the top level");
	expect_compile_error("{{ define \"x\" }}{{ end }}{{ define \"x\" }}{{ end }}",
			     "template \"x\" is defined twice");
	expect_compile_error("{{ template x }}", "template needs a \"name\"");
	expect_compile_error("{{ \"a\\q\" }}", "bad escape");
	expect_compile_error("{{ /* open", "unclosed comment");
	expect_compile_error("{{ (upper .a }}", "missing ) before }}");
	expect_compile_error("{{ .a | .b }}", ".b after | is not a function");
}

static void test_placeholders(void **state)
{
	struct fix *f = *state;
	/* Given shortest first on purpose: the compiler must still try the longest first. */
	struct kfs_placeholder items[] = {
	    {"placeholder-name", ".metadata.name"},
	    {"placeholder-namespace", ".metadata.namespace"},
	    {"placeholder-database", ".spec.database"},
	};
	struct kfs_placeholders ph = {items, 3};
	char *out = render_ph(f,
			      "metadata:\n  name: placeholder-name\n"
			      "  namespace: placeholder-namespace\n"
			      "spec:\n  db: placeholder-database\n  x: {{ .spec.size }}\n",
			      &ph);
	assert_string_equal(out, "metadata:\n  name: my-db\n  namespace: default\n"
				 "spec:\n  db: app\n  x: medium\n");
	free(out);

	/* A value that holds a token is never scanned again: tokens live only in the template. */
	struct kfs_node *name = kfs_map_take(kfs_map_get(f->req, "metadata"), "name");
	kfs_map_set(kfs_map_get(f->req, "metadata"), "name",
		    kfs_node_new_str("placeholder-namespace"));
	out = render_ph(f, "placeholder-name/placeholder-namespace", &ph);
	assert_string_equal(out, "placeholder-namespace/default");
	free(out);
	kfs_map_set(kfs_map_get(f->req, "metadata"), "name", name);

	/* Tags are not scanned for tokens. */
	out = render_ph(f, "{{ \"placeholder-name\" }}", &ph);
	assert_string_equal(out, "placeholder-name");
	free(out);

	struct kfs_placeholder bad[] = {{"placeholder-team", ".spec.team"},
					{"placeholder-evil", ".spec.evil"}};
	struct kfs_placeholders bph = {bad, 2};
	expect_render_error_ph(f, "a\nteam: placeholder-team\n", &bph,
			       "templates/output/db.yaml:2:7: placeholder placeholder-team "
			       "(.spec.team) is not defined (no default); did you mean "
			       ".spec.teamId?");
	expect_render_error_ph(f, "\n\nx: placeholder-evil", &bph,
			       "templates/output/db.yaml:3:4: placeholder placeholder-evil "
			       "(.spec.evil) holds a newline; a placeholder cannot be quoted: "
			       "write {{ .spec.evil | quote }}");
}

static void test_placeholder_bad_path(void **state)
{
	(void)state;
	struct kfs_placeholder items[] = {{"tok", "metadata.name"}};
	struct kfs_placeholders ph = {items, 1};
	struct kfs_template *t = NULL;
	struct kfs_error err = {0};
	assert_int_equal(kfs_template_compile("tok", 3, "t.yaml", &ph, &t, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "t.yaml: placeholder \"tok\": path 'metadata.name' must "
					"start with a dot"));
}

static void test_lookup(void **state)
{
	struct fix *f = *state;
	struct kfs_template *t = NULL;
	struct kfs_error err = {0};
	const char *tpl = "{{ .spec.config }}";
	assert_int_equal(kfs_template_compile(tpl, strlen(tpl), "t", NULL, &t, &err), 0);
	assert_ptr_equal(kfs_template_lookup(t, &f->ctx), kfs_node_at(f->req, "spec.config"));
	kfs_template_free(t);
	tpl = "{{ .spec.nothing }}";
	assert_int_equal(kfs_template_compile(tpl, strlen(tpl), "t", NULL, &t, &err), 0);
	assert_null(kfs_template_lookup(t, &f->ctx));
	kfs_template_free(t);
	tpl = "x {{ .spec.size }}";
	assert_int_equal(kfs_template_compile(tpl, strlen(tpl), "t", NULL, &t, &err), 0);
	assert_null(kfs_template_lookup(t, &f->ctx));
	kfs_template_free(t);
}

/* A 40-line template renders in microseconds and gives the same bytes every time. */
static void test_speed_and_determinism(void **state)
{
	struct fix *f = *state;
	struct kfs_buf src = {0};
	for (int i = 0; i < 8; i++)
		kfs_buf_adds(&src,
			     "name: {{ .metadata.name }}\n"
			     "size: {{ .spec.size | quote }}\n"
			     "{{- if .spec.backup }}\nbackup: {{ .spec.teamId | upper }}\n{{- end }}\n"
			     "storage: {{ .values.storage }}\n");
	struct kfs_template *t = NULL;
	struct kfs_error err = {0};
	assert_int_equal(kfs_template_compile(src.data, src.len, "t", NULL, &t, &err), 0);
	struct kfs_buf first = {0}, out = {0};
	assert_int_equal(kfs_template_render(t, &f->ctx, &first, &err), 0);
	const int runs = 2000;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < runs; i++) {
		kfs_buf_reset(&out);
		assert_int_equal(kfs_template_render(t, &f->ctx, &out, &err), 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_string_equal(out.data, first.data);
	double us =
	    ((double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3) / runs;
	print_message("40-line template: %.2f us per render\n", us);
	/* Generous: a few microseconds natively, far less than this even under valgrind. */
	assert_true(us < 1000.0);
	kfs_buf_free(&first);
	kfs_buf_free(&out);
	kfs_buf_free(&src);
	kfs_template_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_plain_text, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_paths, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reserved_roots, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scalars, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_default, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_upper_lower, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_quote, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_yaml_filter, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_if, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_trim, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_range, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_undefined, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_injection, setup, teardown),
	    cmocka_unit_test(test_unicode_breaks),
	    cmocka_unit_test(test_document_markers),
	    cmocka_unit_test_setup_teardown(test_failed_render_leaves_buffer, setup, teardown),
	    cmocka_unit_test(test_compile_errors),
	    cmocka_unit_test_setup_teardown(test_placeholders, setup, teardown),
	    cmocka_unit_test(test_placeholder_bad_path),
	    cmocka_unit_test_setup_teardown(test_lookup, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_speed_and_determinism, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
