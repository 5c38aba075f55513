/* The template language (docs/templates.md): Go template syntax with sprig's functions, strict
 * paths and refusal of YAML injection. A template is compiled once (at promise load) into the
 * tree of tmpl.h (template_parse.c) and rendered many times (template_eval.c). This file is
 * the entry point: verbatim files, the partials file, placeholders, freeing. */
#include "kratixfs/template.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tmpl.h"

/* The first line that makes a file verbatim: copied as is, `{{` and all. */
static const char verbatim_mark[] = "{{/* kratixfs:verbatim */}}";
/* The first line that makes a template emit one file per document. */
static const char split_mark[] = "{{/* kratixfs:split */}}";

static int cmp_tokens(const void *a, const void *b)
{
	const struct kfs_placeholder *x = a, *y = b;
	size_t lx = strlen(x->token), ly = strlen(y->token);
	if (lx != ly)
		return lx > ly ? -1 : 1;
	return strcmp(x->token, y->token);
}

/* Copies and compiles the placeholders, sorted longest first whatever the caller's order. */
static int compile_placeholders(struct kfs_template *t, const struct kfs_placeholders *ph,
				struct kfs_error *err)
{
	size_t n = 0;
	for (size_t i = 0; ph && i < ph->n; i++)
		n += ph->items[i].token[0] != '\0';
	if (n == 0)
		return 0;
	struct kfs_placeholder *sorted = kfs_xcalloc(n, sizeof(*sorted));
	n = 0;
	for (size_t i = 0; i < ph->n; i++)
		if (ph->items[i].token[0] != '\0')
			sorted[n++] = ph->items[i];
	qsort(sorted, n, sizeof(*sorted), cmp_tokens);
	t->tokens = tarena_alloc(&t->arena, n * sizeof(*t->tokens));
	t->toklens = tarena_alloc(&t->arena, n * sizeof(*t->toklens));
	t->tokpipes = tarena_alloc(&t->arena, n * sizeof(*t->tokpipes));
	t->ntokens = n;
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		const char *p = sorted[i].path;
		t->tokens[i] = tarena_strndup(&t->arena, sorted[i].token, strlen(sorted[i].token));
		t->toklens[i] = strlen(sorted[i].token);
		if (p[0] != '.' && p[0] != '$') {
			rc = kfs_error_set(err, -EINVAL,
					   "%s: placeholder \"%s\": path '%s' must start with a dot",
					   t->src.name, sorted[i].token, p);
			break;
		}
		struct tsrc *src = tarena_alloc(&t->arena, sizeof(*src));
		src->name = t->src.name;
		src->text = tarena_strndup(&t->arena, p, strlen(p));
		src->len = strlen(p);
		struct tpipe *pl = tarena_alloc(&t->arena, sizeof(*pl));
		pl->cmds = tarena_alloc(&t->arena, sizeof(*pl->cmds));
		pl->cmds[0].args = tarena_alloc(&t->arena, sizeof(*pl->cmds[0].args));
		pl->cmds[0].n = 1;
		pl->ncmds = 1;
		t->tokpipes[i] = pl;
		rc = tmpl_parse_operand(t, src, &pl->cmds[0].args[0], err);
	}
	free(sorted);
	return rc;
}

int kfs_template_compile_with(const char *text, size_t len, const char *name,
			      const struct kfs_placeholders *placeholders,
			      const struct kfs_template_source *helpers, struct kfs_template **out,
			      struct kfs_error *err)
{
	struct kfs_template *t = kfs_xcalloc(1, sizeof(*t));
	*out = NULL;
	text = text ? text : "";
	t->src.name = tarena_strndup(&t->arena, name ? name : "template",
				     strlen(name ? name : "template"));
	size_t mark = sizeof(verbatim_mark) - 1;
	if (len >= mark && !memcmp(text, verbatim_mark, mark)) {
		size_t skip = mark + (len > mark && text[mark] == '\n');
		t->verbatim = true;
		t->src.text = tarena_strndup(&t->arena, text + skip, len - skip);
		t->src.len = len - skip;
		t->body.items = tarena_alloc(&t->arena, sizeof(*t->body.items));
		t->body.items[0] = (struct tnode){.kind = N_TEXT, .src = &t->src,
						  .text = t->src.text, .len = t->src.len};
		t->body.n = t->body.cap = 1;
		*out = t;
		return 0;
	}
	t->src.text = tarena_strndup(&t->arena, text, len);
	t->src.len = len;
	t->split = len >= sizeof(split_mark) - 1 && !memcmp(text, split_mark, sizeof(split_mark) - 1);
	int rc = compile_placeholders(t, placeholders, err);
	if (!rc && helpers && helpers->text) {
		struct tlist ignored = {0}; /* text outside defines in a partials file is dropped */
		t->helpers.name = tarena_strndup(&t->arena, helpers->name, strlen(helpers->name));
		t->helpers.text = tarena_strndup(&t->arena, helpers->text, helpers->len);
		t->helpers.len = helpers->len;
		rc = tmpl_parse(t, &t->helpers, &ignored, err);
	}
	if (!rc)
		rc = tmpl_parse(t, &t->src, &t->body, err);
	if (rc) {
		kfs_template_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

int kfs_template_compile(const char *text, size_t len, const char *name,
			 const struct kfs_placeholders *placeholders, struct kfs_template **out,
			 struct kfs_error *err)
{
	return kfs_template_compile_with(text, len, name, placeholders, NULL, out, err);
}

void kfs_template_free(struct kfs_template *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nconsts; i++)
		kfs_node_free(t->consts[i]);
	free(t->consts);
	free(t->defines);
	tarena_free(&t->arena);
	free(t);
}

bool kfs_template_blank(const char *text, size_t len)
{
	size_t i = 0;
	while (i < len) {
		while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r'))
			i++;
		size_t eol = i;
		while (eol < len && text[eol] != '\n')
			eol++;
		bool marker = eol - i >= 3 && (!memcmp(text + i, "---", 3) || !memcmp(text + i, "...", 3));
		for (size_t k = i + 3; marker && k < eol; k++)
			marker = text[k] == ' ' || text[k] == '\t' || text[k] == '\r';
		if (i < eol && text[i] != '#' && !marker)
			return false;
		i = eol + 1;
	}
	return true;
}

bool kfs_template_splits(const struct kfs_template *t)
{
	return t->split;
}

static bool name_ok(const char *s)
{
	if (!*s || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *s))
			return false;
	return true;
}

/* One document of a split template: its file is named after its metadata.name. */
static int split_one(const char *path, const char *doc, size_t len, size_t index,
		     struct kfs_buf *names,
		     int (*put)(void *arg, const char *path, struct kfs_buf *data), void *arg,
		     struct kfs_error *err)
{
	struct kfs_node *n = NULL;
	struct kfs_buf label = {0}, file = {0}, data = {0};
	kfs_buf_printf(&label, "output/%s (document %zu)", path, index);
	int rc = kfs_doc_parse(doc, len, label.data, &n, err) < 0 ? -EIO : 0;
	const char *name = rc ? NULL : kfs_node_text_at(n, "metadata.name");
	if (!rc && (!name || !name_ok(name)))
		rc = kfs_error_set(err, -EIO,
				   "%s: %s; a split template names each file after its document's "
				   "metadata.name (letters, digits, '.', '_', '-')",
				   label.data, name ? "metadata.name is not a file name" : "no metadata.name");
	if (!rc) {
		const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
		size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - path) : strlen(path);
		kfs_buf_printf(&file, "%.*s-%s%s", (int)stem, path, name, path + stem);
		kfs_buf_printf(&data, "%.*s", (int)len, doc);
		struct kfs_buf key = {0}; /* names holds "\nfile\n" per file so far */
		kfs_buf_printf(&key, "\n%s\n", file.data);
		if (names->data && strstr(names->data, key.data))
			rc = kfs_error_set(err, -EIO, "%s: a second document named %s", label.data,
					   name);
		kfs_buf_free(&key);
	}
	if (!rc) {
		kfs_buf_printf(names, "\n%s\n", file.data);
		rc = put(arg, file.data, &data);
	}
	kfs_node_free(n);
	kfs_buf_free(&label);
	kfs_buf_free(&file);
	kfs_buf_free(&data);
	return rc;
}

int kfs_template_split(const char *path, const char *text, size_t len,
		       int (*put)(void *arg, const char *path, struct kfs_buf *data), void *arg,
		       struct kfs_error *err)
{
	struct kfs_buf names = {0};
	size_t start = 0, index = 0;
	int rc = 0;
	for (size_t i = 0; i <= len && !rc;) {
		size_t eol = i;
		while (eol < len && text[eol] != '\n')
			eol++;
		size_t e = eol;
		while (e > i && (text[e - 1] == ' ' || text[e - 1] == '\r'))
			e--;
		bool sep = e - i == 3 && !memcmp(text + i, "---", 3);
		if (sep || eol >= len) {
			size_t end = sep ? i : len;
			for (size_t k = start; k < end; k++) { /* drop leading blank lines */
				if (text[k] == '\n')
					start = k + 1;
				else if (text[k] != ' ' && text[k] != '\r' && text[k] != '\t')
					break;
			}
			if (!kfs_template_blank(text + start, end - start))
				rc = split_one(path, text + start, end - start, ++index, &names, put,
					       arg, err);
			start = eol + 1;
		}
		i = eol + 1;
	}
	kfs_buf_free(&names);
	return rc;
}
