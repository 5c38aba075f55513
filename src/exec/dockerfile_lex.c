/* A Dockerfile's lexical rules, as docker build reads them: parser directives, comments, line
 * continuations, heredocs, words with quotes, variables, and the JSON exec form. */
#include "dockerfile_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool df_is_name(const char *name, size_t n)
{
	if (!n || !(isalpha((unsigned char)name[0]) || name[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_')
			return false;
	return true;
}

void df_lines_free(struct df_line *lines, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(lines[i].text);
	free(lines);
}

/* A "# key=value" parser directive; only escape is acted on. 1 when line is one. */
static int directive(const char *line, size_t len, char *esc)
{
	const char *p = line, *end = line + len;
	if (p == end || *p != '#')
		return 0;
	for (p++; p < end && isspace((unsigned char)*p); p++)
		;
	const char *key = p;
	while (p < end && isalpha((unsigned char)*p))
		p++;
	size_t klen = (size_t)(p - key);
	while (p < end && isspace((unsigned char)*p))
		p++;
	if (!klen || p == end || *p != '=')
		return 0;
	for (p++; p < end && isspace((unsigned char)*p); p++)
		;
	if (klen == 6 && strncasecmp(key, "escape", 6) == 0 && p < end)
		*esc = *p;
	return 1;
}

/* The heredoc words an instruction opens ("<<EOF", "<<-'EOF'"), each with its '-' flag. */
static size_t heredoc_words(const char *text, char words[][64], bool dash[], size_t max)
{
	size_t n = 0;
	for (const char *p = strstr(text, "<<"); p && n < max; p = strstr(p + 2, "<<")) {
		const char *q = p + 2;
		bool d = *q == '-';
		if (d)
			q++;
		char quote = (*q == '"' || *q == '\'') ? *q++ : 0;
		size_t len = 0;
		while (isalnum((unsigned char)q[len]) || q[len] == '_')
			len++;
		if (!len || len >= 64 || (quote && q[len] != quote))
			continue;
		memcpy(words[n], q, len);
		words[n][len] = '\0';
		dash[n++] = d;
	}
	return n;
}

/* Whether instruction text starts with RUN, COPY or ADD (the ones that take heredocs). */
static bool takes_heredoc(const char *text)
{
	size_t n = strcspn(text, " \t");
	return (n == 3 && (!strncasecmp(text, "RUN", 3) || !strncasecmp(text, "ADD", 3))) ||
	       (n == 4 && !strncasecmp(text, "COPY", 4));
}

struct splitter {
	struct df_line *out;
	size_t n, cap;
	struct kfs_buf cur;
	bool open;        /* an instruction is being continued */
	int start;
	char words[8][64]; /* heredocs still to read */
	bool dash[8];
	size_t nwords, at;
};

static void finish(struct splitter *s)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->out = kfs_xrealloc(s->out, s->cap * sizeof(*s->out));
	}
	s->out[s->n].text = kfs_buf_steal(&s->cur);
	s->out[s->n++].line = s->start;
	s->open = false;
}

/* One physical line of a heredoc body: appended, the heredoc closed at its word. */
static void heredoc_line(struct splitter *s, const char *line, size_t len)
{
	const char *t = line;
	size_t tl = len;
	while (s->dash[s->at] && tl && *t == '\t') {
		t++;
		tl--;
	}
	kfs_buf_addc(&s->cur, '\n');
	if (tl == strlen(s->words[s->at]) && strncmp(t, s->words[s->at], tl) == 0) {
		kfs_buf_add(&s->cur, t, tl);
		if (++s->at == s->nwords)
			finish(s);
		return;
	}
	kfs_buf_add(&s->cur, line, len);
}

/* One physical line outside heredocs. */
static void plain_line(struct splitter *s, const char *line, size_t len, int lineno, char esc)
{
	const char *t = line;
	while (t < line + len && isspace((unsigned char)*t))
		t++;
	if (t == line + len || *t == '#')
		return; /* blank lines and comments, also inside a continued instruction */
	if (!s->open) {
		s->open = true;
		s->start = lineno;
	}
	size_t end = len;
	while (end && isspace((unsigned char)line[end - 1]))
		end--;
	bool more = end && line[end - 1] == esc;
	kfs_buf_add(&s->cur, t, (size_t)(line + (more ? end - 1 : end) - t));
	if (more)
		return;
	if (takes_heredoc(s->cur.data)) {
		s->nwords = heredoc_words(s->cur.data, s->words, s->dash, 8);
		s->at = 0;
		if (s->nwords)
			return;
	}
	finish(s);
}

int df_split_lines(const char *text, size_t len, const char *file, struct df_line **out,
		   size_t *n, char *esc, struct kfs_error *err)
{
	struct splitter s = {0};
	*esc = '\\';
	bool top = true;
	int lineno = 0;
	for (const char *p = text, *end = text + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		lineno++;
		size_t ll = l && p[l - 1] == '\r' ? l - 1 : l;
		if (top && !directive(p, ll, esc))
			top = false;
		if (!top && s.nwords && s.at < s.nwords && s.open)
			heredoc_line(&s, p, ll);
		else if (!top)
			plain_line(&s, p, ll, lineno, *esc);
		p += l + 1;
	}
	if (s.open && s.nwords && s.at < s.nwords) {
		kfs_buf_free(&s.cur);
		df_lines_free(s.out, s.n);
		return kfs_error_set(err, -EINVAL, "%s:%d: the heredoc <<%s is never closed", file,
				     s.start, s.words[s.at]);
	}
	if (s.open)
		finish(&s);
	if (*esc != '\\' && *esc != '`') {
		df_lines_free(s.out, s.n);
		return kfs_error_set(err, -EINVAL, "%s:1: escape must be \\ or `", file);
	}
	*out = s.out;
	*n = s.n;
	return 0;
}
