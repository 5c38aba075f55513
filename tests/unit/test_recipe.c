/* Dockerfile recipes (src/exec/dockerfile*.c): every instruction form a container folder's
 * Dockerfile may hold, its errors with file and line, and a recipe laid over its image. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>

#include "kratixfs/exec.h"
#include "testutil.h"

/* Loads text as dir/Dockerfile; the recipe, or NULL with the error in err. */
static struct kfs_recipe *load(const char *text, char **dir, struct kfs_error *err)
{
	*dir = tu_mkdtemp();
	tu_write(*dir, "Dockerfile", text);
	struct kfs_recipe *r = NULL;
	int rc = kfs_recipe_load(*dir, &r, err);
	assert_true(rc == 0 ? r != NULL : r == NULL);
	return r;
}

static struct kfs_recipe *load_ok(const char *text, char **dir)
{
	struct kfs_error err = {0};
	struct kfs_recipe *r = load(text, dir, &err);
	if (!r)
		fail_msg("%s", err.msg);
	return r;
}

/* The Dockerfile fails to load with a message holding want (and the file's line). */
static void load_fails(const char *text, const char *line, const char *want)
{
	char *dir;
	struct kfs_error err = {0};
	struct kfs_recipe *r = load(text, &dir, &err);
	assert_null(r);
	assert_int_equal(err.code, -EINVAL);
	char where[64];
	snprintf(where, sizeof(where), "Dockerfile:%s: ", line);
	assert_contains(err.msg, where);
	assert_contains(err.msg, dir);
	assert_contains(err.msg, want);
	tu_rmdir(dir);
}

static void assert_argv(char **v, const char *const *want)
{
	assert_non_null(v);
	size_t i = 0;
	for (; want[i]; i++) {
		if (!v[i])
			fail_msg("argv ends at %zu, expected '%s'", i, want[i]);
		assert_string_equal(v[i], want[i]);
	}
	assert_null(v[i]);
}

static void test_every_form(void **state)
{
	(void)state;
	char *dir;
	struct kfs_recipe *r = load_ok(
		"# a comment\n"
		"ARG BASE=busybox\n"
		"ARG TAG=1.36\n"
		"FROM ${BASE}:$TAG\n"
		"ARG DIR=/opt/app\n"
		"ENV A=1 B=\"two words\" \\\n"
		"    # a comment inside a continuation\n"
		"    C=${DIR}/x D='single $A'\n"
		"ENV LEGACY some value\n"
		"env lower=case\n"
		"ENV E=${A:-none}-${UNSET:-dflt}-${A:+set}-${UNSET:+no} F=\\$A\n"
		"WORKDIR $DIR\n"
		"WORKDIR sub\n"
		"COPY --chown=1000:1000 --chmod=0755 scripts/ ./scripts/\n"
		"COPY a.txt b.txt /etc/conf/\n"
		"ADD [\"with space.txt\", \"/tmp/\"]\n"
		"RUN apk add --no-cache yq \\\n"
		"    && echo done\n"
		"USER 1000:1000\n"
		"ENTRYPOINT [\"/bin/sh\", \"-c\"]\n"
		"CMD exec ./scripts/pipeline.sh \"$A\"\n",
		&dir);
	assert_string_equal(r->from, "busybox:1.36");
	assert_argv(r->env, (const char *const[]){"A=1", "B=two words", "C=/opt/app/x",
		"D=single $A", "LEGACY=some value", "lower=case", "E=1-dflt-set-", "F=$A", NULL});
	assert_string_equal(r->workdir, "/opt/app/sub");
	assert_int_equal(r->ncopies, 4);
	assert_string_equal(r->copies[0].src, "scripts/");
	assert_string_equal(r->copies[0].dest, "/opt/app/sub/scripts/");
	assert_string_equal(r->copies[0].chown, "1000:1000");
	assert_int_equal(r->copies[0].chmod, 0755);
	assert_false(r->copies[0].add);
	assert_int_equal(r->copies[0].line, 14);
	assert_string_equal(r->copies[1].src, "a.txt");
	assert_string_equal(r->copies[2].src, "b.txt");
	assert_string_equal(r->copies[2].dest, "/etc/conf/");
	assert_null(r->copies[2].chown);
	assert_int_equal(r->copies[2].chmod, -1);
	assert_string_equal(r->copies[3].src, "with space.txt");
	assert_string_equal(r->copies[3].dest, "/tmp/");
	assert_true(r->copies[3].add);
	assert_string_equal(r->user, "1000:1000");
	assert_argv(r->entrypoint, (const char *const[]){"/bin/sh", "-c", NULL});
	assert_argv(r->cmd, (const char *const[]){"/bin/sh", "-c",
		"exec ./scripts/pipeline.sh \"$A\"", NULL});
	assert_non_null(r->skipped);
	assert_true(strncmp(r->skipped[0], "Dockerfile:17: RUN apk add --no-cache yq", 40) == 0);
	assert_contains(r->skipped[0], "&& echo done");
	assert_null(r->skipped[1]);
	assert_contains(r->file, "/Dockerfile");
	kfs_recipe_free(r);
	tu_rmdir(dir);
}

/* CRLF line ends, the escape directive, SHELL, heredocs, Containerfile, exec-form escapes. */
static void test_lexical_forms(void **state)
{
	(void)state;
	char *dir;
	struct kfs_recipe *r = load_ok(
		"# escape=`\r\n"
		"FROM scratch\r\n"
		"ENV WIN=C:\\dir `\r\n"
		"    NEXT=2\r\n"
		"SHELL [\"/bin/bash\", \"-eu\", \"-c\"]\r\n"
		"RUN <<EOF\r\n"
		"echo inside heredoc\r\n"
		"FROM not-an-instruction\r\n"
		"EOF\r\n"
		"CMD echo $WIN\r\n",
		&dir);
	assert_string_equal(r->from, "scratch");
	assert_argv(r->env, (const char *const[]){"WIN=C:\\dir", "NEXT=2", NULL});
	assert_argv(r->cmd, (const char *const[]){"/bin/bash", "-eu", "-c", "echo $WIN", NULL});
	assert_contains(r->skipped[0], "Dockerfile:6: RUN <<EOF ...");
	assert_null(r->skipped[1]);
	assert_null(r->entrypoint);
	kfs_recipe_free(r);
	tu_rmdir(dir);

	dir = tu_mkdtemp();
	tu_write(dir, "Containerfile",
		 "FROM alpine\nENTRYPOINT [\"/x\", \"a \\\"quoted\\\" \\u00e9\\n\"]\nCMD []\n");
	struct kfs_error err = {0};
	assert_int_equal(kfs_recipe_load(dir, &r, &err), 0);
	assert_argv(r->entrypoint, (const char *const[]){"/x", "a \"quoted\" \xc3\xa9\n", NULL});
	assert_argv(r->cmd, (const char *const[]){NULL});
	assert_contains(r->file, "Containerfile");
	kfs_recipe_free(r);
	tu_rmdir(dir);
	dir = tu_mkdtemp();
	assert_int_equal(kfs_recipe_load(dir, &r, &err), -ENOENT);
	assert_contains(err.msg, "no Dockerfile or Containerfile");
	tu_rmdir(dir);
}

/* The last stage is the recipe; a stage FROM an earlier one starts from it. */
static void test_multi_stage(void **state)
{
	(void)state;
	char *dir;
	struct kfs_recipe *r = load_ok(
		"FROM golang:1.22 AS build\n"
		"RUN go build -o /out/app .\n"
		"FROM alpine:3.19 AS base\n"
		"ENV STAGE=base\n"
		"WORKDIR /w\n"
		"COPY base.sh ./\n"
		"RUN apk add jq\n"
		"FROM base\n"
		"ENV STAGE=final\n"
		"COPY final.sh /bin/\n"
		"CMD [\"/bin/final.sh\"]\n",
		&dir);
	assert_string_equal(r->from, "alpine:3.19");
	assert_argv(r->env, (const char *const[]){"STAGE=final", NULL});
	assert_string_equal(r->workdir, "/w");
	assert_int_equal(r->ncopies, 2);
	assert_string_equal(r->copies[0].dest, "/w/");
	assert_string_equal(r->copies[1].src, "final.sh");
	assert_contains(r->skipped[0], ":7: RUN apk add jq");
	assert_null(r->skipped[1]); /* the build stage's RUN is not the final image's */
	kfs_recipe_free(r);
	tu_rmdir(dir);
	load_fails("FROM golang AS build\nRUN go build\nFROM alpine\nCOPY --from=build /out/app "
		   "/bin/\n", "4", "COPY --from=build");
}

static void test_errors(void **state)
{
	(void)state;
	load_fails("FROM alpine\nADD https://example.com/tool.tgz /opt/\n", "2",
		   "ADD of a URL needs the network");
	load_fails("FROM alpine\nADD git@github.com:org/repo.git /src\n", "2", "offline");
	load_fails("ENV A=1\nFROM alpine\n", "1", "ENV before FROM");
	load_fails("FROM alpine\nFROBNICATE x\n", "2", "unknown instruction 'FROBNICATE'");
	load_fails("FROM alpine\nENV A=\"open\n", "2", "quote is not closed");
	load_fails("FROM alpine\n\n# c\nCOPY ../secret /x\n", "4", "leaves the container folder");
	load_fails("FROM alpine\nCOPY a b c\n", "2", "ending in '/'");
	load_fails("FROM alpine\nCOPY onlyone\n", "2", "COPY SOURCE... DEST");
	load_fails("FROM alpine\nCOPY --chmod=9z a /b\n", "2", "octal");
	load_fails("FROM alpine\nCOPY --exclude=x a /b\n", "2", "unknown flag --exclude=x");
	load_fails("FROM alpine\nCOPY <<EOF /x\nhello\nEOF\n", "2", "heredoc");
	load_fails("FROM alpine\nENV 1A=x\n", "2", "not a variable name");
	load_fails("FROM alpine\nSHELL /bin/bash -c\n", "2", "JSON form");
	load_fails("FROM alpine\nWORKDIR\n", "2", "needs a value");
	load_fails("FROM $NOPE\n", "1", "every ${ARG} set");
	load_fails("FROM alpine\nRUN <<EOF\nnever closed\n", "2", "never closed");
	char *dir;
	struct kfs_error err = {0};
	assert_null(load("# only a comment\nARG X=1\n", &dir, &err));
	assert_contains(err.msg, "no FROM line");
	tu_rmdir(dir);
}

/* The value of NAME in the recipe's env, or NULL. */
static const char *env_of(const struct kfs_recipe *r, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; r->env && r->env[i]; i++)
		if (strncmp(r->env[i], name, n) == 0 && r->env[i][n] == '=')
			return r->env[i] + n + 1;
	return NULL;
}

/* ${A-word}, ${A+word} and their ':' forms as BuildKit reads them, with empty words and a
 * variable nested in the word; a modifier that is not one of these is kept as written. */
static void test_variable_modifiers(void **state)
{
	(void)state;
	char *dir;
	struct kfs_recipe *r = load_ok(
		"FROM alpine\n"
		"ENV SET=v EMPTY=\n"
		"ENV A=[${SET-}][${UNSET-}][${EMPTY-d}][${EMPTY:-d}][${UNSET-d}]\n"
		"ENV B=[${SET+}][${SET+w}][${EMPTY+w}][${EMPTY:+w}][${UNSET+w}][${UNSET:+}]\n"
		"ENV C=[${SET:}][${UNSET:-${SET}x}][${SET:-}][${UNSET:-}][${SET?}]\n",
		&dir);
	assert_string_equal(env_of(r, "EMPTY"), "");
	assert_string_equal(env_of(r, "A"), "[v][][][d][d]");
	assert_string_equal(env_of(r, "B"), "[][w][w][][][]");
	assert_string_equal(env_of(r, "C"), "[${SET:}][vx][v][][${SET?}]");
	kfs_recipe_free(r);
	tu_rmdir(dir);
}

/* A COPY whose destination is an empty string. */
static void test_empty_destination(void **state)
{
	(void)state;
	load_fails("FROM alpine\nCOPY [\"a\", \"b\", \"\"]\n", "2", "COPY: the destination is empty");
	load_fails("FROM alpine\nADD [\"a\", \"\"]\n", "2", "ADD: the destination is empty");
	load_fails("FROM alpine\nCOPY a \"\"\n", "2", "COPY: the destination is empty");
}

/* A recipe over its FROM image's config, as docker build would make it. */
static void test_apply(void **state)
{
	(void)state;
	char *dir;
	struct kfs_recipe *r = load_ok("FROM base\nENV PATH=/opt/bin:$PATH HOME_DIR=${HOME}/x\n"
				       "WORKDIR sub\nCOPY s.sh rel/\nENTRYPOINT [\"/bin/run\"]\n",
				       &dir);
	assert_string_equal(r->env[0], "PATH=/opt/bin:${PATH}");
	char *env[] = {"PATH=/usr/bin:/bin", "HOME=/root", NULL};
	char *cmd[] = {"default", NULL};
	struct kfs_image base = {.ref = "base", .digest = "sha256:x", .rootfs = "/r", .env = env,
				 .cmd = cmd, .workdir = "/base", .user = "7"};
	struct kfs_image *img = NULL;
	assert_int_equal(kfs_recipe_apply(r, &base, &img, NULL), 0);
	assert_argv(img->env, (const char *const[]){"PATH=/opt/bin:/usr/bin:/bin", "HOME=/root",
		"HOME_DIR=/root/x", NULL});
	assert_string_equal(img->workdir, "/base/sub");
	assert_string_equal(img->user, "7");
	assert_string_equal(img->rootfs, "/r");
	assert_argv(img->entrypoint, (const char *const[]){"/bin/run", NULL});
	assert_null(img->cmd); /* an ENTRYPOINT drops the image's CMD */
	char *dest = kfs_recipe_dest(&r->copies[0], &base);
	assert_string_equal(dest, "/base/sub/rel/"); /* WORKDIR sub came first */
	free(dest);
	kfs_image_free(img);
	kfs_recipe_free(r);
	tu_rmdir(dir);

	r = load_ok("FROM base\nUSER app\n", &dir);
	assert_int_equal(kfs_recipe_apply(r, &base, &img, NULL), 0);
	assert_argv(img->cmd, (const char *const[]){"default", NULL});
	assert_string_equal(img->workdir, "/base");
	assert_string_equal(img->user, "app");
	kfs_image_free(img);
	kfs_recipe_free(r);
	tu_rmdir(dir);
}

/* The marketplace's redis configure-pipeline Dockerfile, as it is (tests/fixtures'
 * real-promises/redis/internal/configure-pipeline/Dockerfile): quoted FROM, LABELs, RUNs in both
 * forms, ADD of local files to a relative destination, CMD and an empty ENTRYPOINT. */
static void test_marketplace_redis(void **state)
{
	(void)state;
	char *dir;
	struct kfs_recipe *r = load_ok(
		"FROM \"alpine\"\n"
		"\n"
		"LABEL org.opencontainers.image.authors=\"kratix@syntasso.io\"\n"
		"LABEL org.opencontainers.image.source=https://github.com/syntasso/kratix-marketplace\n"
		"\n"
		"RUN [ \"mkdir\", \"/tmp/transfer\" ]\n"
		"RUN apk update && apk add --no-cache yq\n"
		"\n"
		"ADD resources/ /tmp/transfer/\n"
		"ADD execute-pipeline execute-pipeline\n"
		"\n"
		"CMD [ \"sh\", \"-c\", \"./execute-pipeline\" ]\n"
		"ENTRYPOINT []\n",
		&dir);
	assert_string_equal(r->from, "alpine");
	assert_int_equal(r->ncopies, 2);
	assert_string_equal(r->copies[0].src, "resources/");
	assert_string_equal(r->copies[0].dest, "/tmp/transfer/");
	assert_true(r->copies[1].add);
	assert_string_equal(r->copies[1].dest, "execute-pipeline");
	char *dest = kfs_recipe_dest(&r->copies[1], &(struct kfs_image){.ref = "alpine"});
	assert_string_equal(dest, "/execute-pipeline");
	free(dest);
	assert_argv(r->cmd, (const char *const[]){"sh", "-c", "./execute-pipeline", NULL});
	assert_argv(r->entrypoint, (const char *const[]){NULL});
	assert_string_equal(r->skipped[0], "Dockerfile:6: RUN [ \"mkdir\", \"/tmp/transfer\" ]");
	assert_string_equal(r->skipped[1], "Dockerfile:7: RUN apk update && apk add --no-cache yq");
	assert_null(r->skipped[2]);
	char *cmd[] = {"/bin/sh", NULL};
	struct kfs_image base = {.ref = "alpine", .cmd = cmd};
	struct kfs_image *img = NULL;
	assert_int_equal(kfs_recipe_apply(r, &base, &img, NULL), 0);
	assert_argv(img->entrypoint, (const char *const[]){NULL});
	assert_argv(img->cmd, (const char *const[]){"sh", "-c", "./execute-pipeline", NULL});
	assert_null(img->workdir);
	kfs_image_free(img);
	kfs_recipe_free(r);
	tu_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_form),
		cmocka_unit_test(test_lexical_forms),
		cmocka_unit_test(test_multi_stage),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_variable_modifiers),
		cmocka_unit_test(test_empty_destination),
		cmocka_unit_test(test_apply),
		cmocka_unit_test(test_marketplace_redis),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
