/* kfs_recipe_load: a container folder's Dockerfile, read to run offline on its FROM image.
 *
 * Read: FROM (the last stage; a stage FROM an earlier stage starts from it), COPY and ADD of
 * local files (--chown, --chmod), ENV (both forms), WORKDIR, USER, ENTRYPOINT and CMD (exec
 * form, or shell form run by SHELL, default /bin/sh -c), ARG with its default. RUN cannot run
 * offline: each is listed in skipped. LABEL, EXPOSE, VOLUME, STOPSIGNAL, HEALTHCHECK, ONBUILD
 * and MAINTAINER change nothing a pipeline sees and are passed over. Refused, with the file
 * and line: ADD of a URL (no network), COPY --from (needs a stage built), an inline heredoc
 * file, an unknown instruction. */
#include "kratixfs/exec.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dockerfile_internal.h"
#include "kratixfs/files.h"

struct stage {
	char *name; /* after AS, or NULL */
	struct kfs_recipe r;
	struct df_vars vars; /* ARG and ENV values for expansion */
	char **shell;        /* SHELL, or NULL for /bin/sh -c */
};

struct parse {
	const char *file;
	const char *dir;
	char esc;
	int line;
	struct df_vars global; /* ARGs before the first FROM */
	struct stage *stages;
	size_t n;
	struct kfs_error *err;
};

static int perr(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int perr(struct parse *p, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return kfs_error_set(p->err, -EINVAL, "%s:%d: %s", p->file, p->line, msg);
}

static char **strv_copy(char *const *v)
{
	if (!v)
		return NULL;
	size_t n = 0;
	while (v[n])
		n++;
	char **c = kfs_xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		c[i] = kfs_xstrdup(v[i]);
	return c;
}

static void strv_push(char ***v, const char *s)
{
	size_t n = 0;
	while (*v && (*v)[n])
		n++;
	*v = kfs_xrealloc(*v, (n + 2) * sizeof(char *));
	(*v)[n] = kfs_xstrdup(s);
	(*v)[n + 1] = NULL;
}

static char *join_words(char **w)
{
	struct kfs_buf b = {0};
	for (size_t i = 0; w[i]; i++)
		kfs_buf_printf(&b, "%s%s", i ? " " : "", w[i]);
	return kfs_buf_steal(&b);
}

static void free_copies(struct kfs_copy *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].src);
		free(c[i].dest);
		free(c[i].chown);
	}
	free(c);
}

void kfs_recipe_free(struct kfs_recipe *r)
{
	if (!r)
		return;
	free(r->from);
	free_copies(r->copies, r->ncopies);
	kfs_strv_free(r->env);
	free(r->workdir);
	kfs_strv_free(r->entrypoint);
	kfs_strv_free(r->cmd);
	free(r->user);
	kfs_strv_free(r->skipped);
	free(r->file);
	free(r);
}

static void stage_free(struct stage *s)
{
	free(s->name);
	struct kfs_recipe *r = kfs_xmalloc(sizeof(*r));
	*r = s->r;
	kfs_recipe_free(r);
	df_vars_free(&s->vars);
	kfs_strv_free(s->shell);
}

/* A new stage starting where stage from left off (a "FROM <stage>"). */
static void stage_copy(struct stage *to, const struct stage *from)
{
	struct kfs_recipe *r = &to->r;
	const struct kfs_recipe *f = &from->r;
	r->from = kfs_xstrdup(f->from);
	r->copies = kfs_xcalloc(f->ncopies + 1, sizeof(*r->copies));
	for (size_t i = 0; i < f->ncopies; i++) {
		r->copies[i] = f->copies[i];
		r->copies[i].src = kfs_xstrdup(f->copies[i].src);
		r->copies[i].dest = kfs_xstrdup(f->copies[i].dest);
		r->copies[i].chown = f->copies[i].chown ? kfs_xstrdup(f->copies[i].chown) : NULL;
	}
	r->ncopies = f->ncopies;
	r->env = strv_copy(f->env);
	r->workdir = f->workdir ? kfs_xstrdup(f->workdir) : NULL;
	r->entrypoint = strv_copy(f->entrypoint);
	r->cmd = strv_copy(f->cmd);
	r->user = f->user ? kfs_xstrdup(f->user) : NULL;
	r->skipped = strv_copy(f->skipped);
	df_vars_copy(&to->vars, &from->vars);
	to->shell = strv_copy(from->shell);
}

static struct stage *cur(struct parse *p)
{
	return &p->stages[p->n - 1];
}

static int do_from(struct parse *p, const char *rest)
{
	char **w;
	if (df_words(rest, p->esc, &p->global, &w) < 0)
		return perr(p, "FROM: a quote is not closed");
	size_t i = 0;
	while (w[i] && strncmp(w[i], "--", 2) == 0)
		i++; /* --platform: the host's own is what runs */
	size_t left = 0;
	while (w[i + left])
		left++;
	if (!(left == 1 || (left == 3 && strcasecmp(w[i + 1], "AS") == 0)) || strchr(w[i], '$')) {
		kfs_strv_free(w);
		return perr(p, "FROM: expected `FROM IMAGE [AS NAME]`, with every ${ARG} set");
	}
	p->stages = kfs_xrealloc(p->stages, (p->n + 1) * sizeof(*p->stages));
	struct stage *s = &p->stages[p->n++];
	memset(s, 0, sizeof(*s));
	s->name = left == 3 ? kfs_xstrdup(w[i + 2]) : NULL;
	for (size_t k = 0; k + 1 < p->n; k++)
		if (p->stages[k].name && strcasecmp(p->stages[k].name, w[i]) == 0) {
			stage_copy(s, &p->stages[k]);
			break;
		}
	if (!s->r.from)
		s->r.from = kfs_xstrdup(w[i]);
	kfs_strv_free(w);
	return 0;
}

/* ARG NAME[=default] ...: before FROM for FROM lines, in a stage for the lines after it. */
static int do_arg(struct parse *p, const char *rest)
{
	struct df_vars *vars = p->n ? &cur(p)->vars : &p->global;
	char **w;
	if (df_words(rest, p->esc, vars, &w) < 0)
		return perr(p, "ARG: a quote is not closed");
	int rc = w[0] ? 0 : perr(p, "ARG: expected `ARG NAME[=default]`");
	for (size_t i = 0; rc == 0 && w[i]; i++) {
		char *eq = strchr(w[i], '=');
		size_t n = eq ? (size_t)(eq - w[i]) : strlen(w[i]);
		if (!df_is_name(w[i], n)) {
			rc = perr(p, "ARG: '%.*s' is not a variable name", (int)n, w[i]);
			break;
		}
		const char *global = df_vars_get(&p->global, w[i], n);
		df_vars_set(vars, w[i], n, eq ? eq + 1 : (p->n && global ? global : ""));
	}
	kfs_strv_free(w);
	return rc;
}

static void set_env(char ***env, const char *name, size_t n, const char *value)
{
	struct kfs_buf b = {0};
	kfs_buf_printf(&b, "%.*s=%s", (int)n, name, value);
	for (size_t i = 0; *env && (*env)[i]; i++)
		if (strncmp((*env)[i], name, n) == 0 && (*env)[i][n] == '=') {
			free((*env)[i]);
			(*env)[i] = kfs_buf_steal(&b);
			return;
		}
	strv_push(env, b.data);
	kfs_buf_free(&b);
}

/* ENV NAME=value ... or the older ENV NAME value with spaces. */
static int do_env(struct parse *p, const char *rest)
{
	struct stage *s = cur(p);
	char **w;
	if (df_words(rest, p->esc, &s->vars, &w) < 0)
		return perr(p, "ENV: a quote is not closed");
	int rc = 0;
	if (!w[0] || (!strchr(w[0], '=') && !w[1]))
		rc = perr(p, "ENV: expected `ENV NAME=value`");
	for (size_t i = 0; rc == 0 && w[i]; i++) {
		char *eq = strchr(w[i], '=');
		size_t n = eq ? (size_t)(eq - w[i]) : strlen(w[i]);
		char *value = eq ? kfs_xstrdup(eq + 1) : join_words(w + 1);
		if (!df_is_name(w[i], n))
			rc = perr(p, "ENV: '%.*s' is not a variable name", (int)n, w[i]);
		else if (!eq && i > 0)
			rc = perr(p, "ENV: '%s' has no '=' (use NAME=value for every variable)", w[i]);
		if (rc == 0) {
			df_vars_set(&s->vars, w[i], n, value);
			set_env(&s->r.env, w[i], n, value);
		}
		free(value);
		if (!eq)
			break;
	}
	kfs_strv_free(w);
	return rc;
}

/* a joined onto base as a path (absolute a as it is), "." components dropped; a trailing '/'
 * is kept (COPY's "into this folder"). Relative when both are. */
static char *path_from(const char *base, const char *a)
{
	struct kfs_buf b = {0};
	if (a[0] != '/' && base)
		kfs_buf_printf(&b, "%s/", base);
	kfs_buf_adds(&b, a);
	struct kfs_buf out = {0};
	kfs_buf_add(&out, "", 0);
	if (b.data[0] == '/')
		kfs_buf_addc(&out, '/');
	for (const char *c = b.data; *c;) {
		size_t n = strcspn(c, "/");
		if (n && !(n == 1 && *c == '.')) {
			if (out.len && out.data[out.len - 1] != '/')
				kfs_buf_addc(&out, '/');
			kfs_buf_add(&out, c, n);
		}
		c += n + (c[n] == '/');
	}
	size_t al = strlen(a);
	if (al && a[al - 1] == '/' && out.len && out.data[out.len - 1] != '/')
		kfs_buf_addc(&out, '/');
	if (!out.len)
		kfs_buf_addc(&out, '.');
	kfs_buf_free(&b);
	return kfs_buf_steal(&out);
}

/* WORKDIR and USER: one value, variables expanded. */
static int do_value(struct parse *p, const char *rest, bool workdir)
{
	struct stage *s = cur(p);
	char **w;
	if (df_words(rest, p->esc, &s->vars, &w) < 0)
		return perr(p, "%s: a quote is not closed", workdir ? "WORKDIR" : "USER");
	if (!w[0]) {
		kfs_strv_free(w);
		return perr(p, "%s: needs a value", workdir ? "WORKDIR" : "USER");
	}
	char *v = join_words(w);
	kfs_strv_free(w);
	if (workdir) {
		char *abs = path_from(s->r.workdir, v);
		free(s->r.workdir);
		s->r.workdir = abs;
		free(v);
	} else {
		free(s->r.user);
		s->r.user = v;
	}
	return 0;
}

/* CMD, ENTRYPOINT: the JSON exec form, or the shell form run by SHELL (/bin/sh -c). */
static int do_command(struct parse *p, const char *rest, bool entrypoint)
{
	struct stage *s = cur(p);
	char **argv;
	if (!df_json_array(rest, &argv)) {
		if (!*rest)
			return perr(p, "%s: needs a command", entrypoint ? "ENTRYPOINT" : "CMD");
		argv = s->shell ? strv_copy(s->shell) : NULL;
		if (!argv) {
			strv_push(&argv, "/bin/sh");
			strv_push(&argv, "-c");
		}
		strv_push(&argv, rest);
	}
	char ***slot = entrypoint ? &s->r.entrypoint : &s->r.cmd;
	kfs_strv_free(*slot);
	*slot = argv;
	return 0;
}

static int do_shell(struct parse *p, const char *rest)
{
	char **argv = NULL;
	if (!df_json_array(rest, &argv) || !argv[0]) {
		kfs_strv_free(argv);
		return perr(p, "SHELL: expected the JSON form, like SHELL [\"/bin/bash\", \"-c\"]");
	}
	kfs_strv_free(cur(p)->shell);
	cur(p)->shell = argv;
	return 0;
}

/* RUN: listed, not run, as "Dockerfile:LINE: RUN ..." (the file's name in its folder). */
static void do_run(struct parse *p, const char *text)
{
	size_t n = strcspn(text, "\n");
	struct kfs_buf b = {0};
	const char *base = strrchr(p->file, '/');
	kfs_buf_printf(&b, "%s:%d: %.*s%s", base ? base + 1 : p->file, p->line,
		       (int)(n > 200 ? 200 : n), text,
		       n > 200 || text[n] ? " ..." : "");
	strv_push(&cur(p)->r.skipped, b.data);
	kfs_buf_free(&b);
}

struct copy_flags {
	char *chown;
	int chmod;
};

/* The --flags before COPY's or ADD's sources; *rest moves past them. */
static int copy_flags(struct parse *p, const char *what, const char **rest, struct copy_flags *f)
{
	const char *s = *rest;
	while (strncmp(s, "--", 2) == 0) {
		size_t n = strcspn(s, " \t");
		char *flag = kfs_xstrndup(s, n);
		char *v = strchr(flag, '=');
		char *val = v ? df_expand(v + 1, p->esc, &cur(p)->vars) : NULL;
		int rc = 0;
		if (v && strncmp(flag, "--chown=", 8) == 0) {
			free(f->chown);
			f->chown = val;
			val = NULL;
		} else if (v && strncmp(flag, "--chmod=", 8) == 0) {
			char *end;
			long m = strtol(val, &end, 8);
			if (!*val || *end || m < 0 || m > 07777)
				rc = perr(p, "%s --chmod=%s: expected an octal mode like 0755", what, val);
			f->chmod = (int)m;
		} else if (strncmp(flag, "--from=", 7) == 0) {
			rc = perr(p, "%s %s: copying from another stage or image needs it built, "
				  "which runs its RUN lines: not possible offline; build the image "
				  "(podman build) and name it in FROM", what, flag);
		} else if (strcmp(flag, "--link") != 0 && strncmp(flag, "--link=", 7) != 0) {
			rc = perr(p, "%s: unknown flag %s (kratixfs reads --chown, --chmod, --link)",
				  what, flag);
		}
		free(val);
		free(flag);
		if (rc < 0)
			return rc;
		for (s += n; *s == ' ' || *s == '\t'; s++)
			;
	}
	*rest = s;
	return 0;
}

/* A source must stay in the folder: a leading '/' is taken from the folder, as docker does. */
static int check_source(struct parse *p, const char *what, const char *src, bool add)
{
	if (strstr(src, "://") || strncmp(src, "git@", 4) == 0)
		return perr(p, "%s %s: %s", what, src,
			    add ? "ADD of a URL needs the network, and kratixfs runs pipelines "
				  "offline: download the file into the folder and COPY it"
				: "COPY takes files of the folder, not URLs");
	for (const char *c = src; *c; c += strcspn(c, "/"), c += *c == '/') {
		size_t n = strcspn(c, "/");
		if (n == 2 && strncmp(c, "..", 2) == 0)
			return perr(p, "%s %s: the source leaves the container folder %s", what, src,
				    p->dir);
	}
	return 0;
}

static int do_copy(struct parse *p, const char *rest, bool add)
{
	const char *what = add ? "ADD" : "COPY";
	struct stage *s = cur(p);
	struct copy_flags f = {.chmod = -1};
	int rc = copy_flags(p, what, &rest, &f);
	char **w = NULL;
	if (rc == 0 && strchr(rest, '\n'))
		rc = perr(p, "%s <<%s: an inline heredoc file is not read: put the file in the "
			  "folder and %s it", what, rest + strspn(rest, "<-'\""), what);
	if (rc == 0 && df_json_array(rest, &w)) {
		for (size_t i = 0; w[i]; i++) {
			char *e = df_expand(w[i], p->esc, &s->vars);
			free(w[i]);
			w[i] = e;
		}
	} else if (rc == 0 && df_words(rest, p->esc, &s->vars, &w) < 0) {
		rc = perr(p, "%s: a quote is not closed", what);
	}
	size_t n = 0;
	while (w && w[n])
		n++;
	if (rc == 0 && n < 2)
		rc = perr(p, "%s: expected `%s SOURCE... DEST`", what, what);
	const char *dest = n ? w[n - 1] : "";
	if (rc == 0 && !*dest)
		rc = perr(p, "%s: the destination is empty", what);
	if (rc == 0 && n > 2 && dest[strlen(dest) - 1] != '/')
		rc = perr(p, "%s: with several sources the destination must be a folder ending "
			  "in '/': %s", what, dest);
	for (size_t i = 0; rc == 0 && i + 1 < n; i++)
		rc = check_source(p, what, w[i], add);
	for (size_t i = 0; rc == 0 && i + 1 < n; i++) {
		s->r.copies = kfs_xrealloc(s->r.copies, (s->r.ncopies + 1) * sizeof(*s->r.copies));
		struct kfs_copy *c = &s->r.copies[s->r.ncopies++];
		const char *src = w[i];
		while (*src == '/')
			src++;
		c->src = kfs_xstrdup(*src ? src : ".");
		c->dest = path_from(s->r.workdir, dest);
		c->chown = f.chown ? kfs_xstrdup(f.chown) : NULL;
		c->chmod = f.chmod;
		c->add = add;
		c->line = p->line;
	}
	kfs_strv_free(w);
	free(f.chown);
	return rc;
}

/* One instruction. */
static int instruction(struct parse *p, const char *text)
{
	size_t kl = strcspn(text, " \t\n");
	char key[16] = "";
	for (size_t i = 0; i < kl && i < sizeof(key) - 1; i++)
		key[i] = (char)toupper((unsigned char)text[i]);
	const char *rest = text + kl;
	while (*rest == ' ' || *rest == '\t')
		rest++;
	if (strcmp(key, "FROM") == 0)
		return do_from(p, rest);
	if (strcmp(key, "ARG") == 0)
		return do_arg(p, rest);
	if (!p->n)
		return perr(p, "%s before FROM: a Dockerfile starts with FROM (ARG may come first)",
			    key);
	if (strcmp(key, "ENV") == 0)
		return do_env(p, rest);
	if (strcmp(key, "WORKDIR") == 0 || strcmp(key, "USER") == 0)
		return do_value(p, rest, key[0] == 'W');
	if (strcmp(key, "CMD") == 0 || strcmp(key, "ENTRYPOINT") == 0)
		return do_command(p, rest, key[0] == 'E');
	if (strcmp(key, "COPY") == 0 || strcmp(key, "ADD") == 0)
		return do_copy(p, rest, key[0] == 'A');
	if (strcmp(key, "SHELL") == 0)
		return do_shell(p, rest);
	if (strcmp(key, "RUN") == 0) {
		do_run(p, text);
		return 0;
	}
	static const char *const passed[] = {"LABEL", "EXPOSE", "VOLUME", "STOPSIGNAL",
					     "HEALTHCHECK", "ONBUILD", "MAINTAINER"};
	for (size_t i = 0; i < sizeof(passed) / sizeof(passed[0]); i++)
		if (strcmp(key, passed[i]) == 0)
			return 0;
	return perr(p, "unknown instruction '%.*s'", (int)kl, text);
}

/* Dockerfile, else Containerfile, in dir. */
static char *find_file(const char *dir)
{
	char *f = kfs_path_join(dir, "Dockerfile");
	if (kfs_is_file(f))
		return f;
	free(f);
	f = kfs_path_join(dir, "Containerfile");
	if (kfs_is_file(f))
		return f;
	free(f);
	return NULL;
}

int kfs_recipe_load(const char *dir, struct kfs_recipe **out, struct kfs_error *err)
{
	*out = NULL;
	char *file = find_file(dir);
	if (!file)
		return kfs_error_set(err, -ENOENT, "%s: no Dockerfile or Containerfile", dir);
	struct kfs_buf text = {0};
	struct parse p = {.file = file, .dir = dir, .err = err};
	struct df_line *lines = NULL;
	size_t n = 0;
	int rc = kfs_read_file(file, &text, err);
	if (rc == 0)
		rc = df_split_lines(text.data, text.len, file, &lines, &n, &p.esc, err);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		p.line = lines[i].line;
		rc = instruction(&p, lines[i].text);
	}
	if (rc == 0 && !p.n)
		rc = kfs_error_set(err, -EINVAL, "%s: no FROM line: name the image the container "
				   "runs on", file);
	if (rc == 0) {
		struct stage *last = &p.stages[p.n - 1];
		*out = kfs_xmalloc(sizeof(**out));
		**out = last->r;
		(*out)->file = file;
		file = NULL;
		memset(&last->r, 0, sizeof(last->r));
	}
	for (size_t i = 0; i < p.n; i++)
		stage_free(&p.stages[i]);
	free(p.stages);
	df_vars_free(&p.global);
	df_lines_free(lines, n);
	kfs_buf_free(&text);
	free(file);
	return rc;
}
