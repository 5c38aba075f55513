/* Inside the Dockerfile reader: lines, words, variables. */
#ifndef KFS_EXEC_DOCKERFILE_INTERNAL_H
#define KFS_EXEC_DOCKERFILE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "kratixfs/buf.h"
#include "kratixfs/error.h"

/* One instruction: its continuation lines joined, comments dropped, heredoc bodies appended
 * after a '\n'; line is where it starts. */
struct df_line {
	char *text;
	int line;
};

/* Splits a Dockerfile's text into instructions, honouring a "# escape=`" directive (*esc is
 * the escape character: '\\' or '`'). Errors name file and line. */
int df_split_lines(const char *text, size_t len, const char *file, struct df_line **out,
		   size_t *n, char *esc, struct kfs_error *err);
void df_lines_free(struct df_line *lines, size_t n);

/* Variables a Dockerfile set (ARG, ENV): "NAME=value", later ones win. */
struct df_vars {
	char **v;
	size_t n;
};

void df_vars_set(struct df_vars *vars, const char *name, size_t nlen, const char *value);
/* The value of name, or NULL when the Dockerfile did not set it. */
const char *df_vars_get(const struct df_vars *vars, const char *name, size_t nlen);
void df_vars_free(struct df_vars *vars);
void df_vars_copy(struct df_vars *to, const struct df_vars *from);

/* Splits s into words as docker build does: quotes removed, the escape character escaping,
 * $NAME, ${NAME}, ${NAME:-word} and ${NAME:+word} expanded from vars (unless vars is NULL); a
 * variable vars does not hold is kept as ${NAME}. NULL-ended words; -EINVAL on an unclosed
 * quote. */
int df_words(const char *s, char esc, const struct df_vars *vars, char ***out);
/* Expands variables in s as df_words does, but keeps quotes and spaces. */
char *df_expand(const char *s, char esc, const struct df_vars *vars);
/* Parses a JSON array of strings (the exec form of CMD, ENTRYPOINT, SHELL, COPY); 1 when s is
 * one (words in *out), 0 when it is not. */
int df_json_array(const char *s, char ***out);

/* Whether name is a variable name: [A-Za-z_][A-Za-z0-9_]*. */
bool df_is_name(const char *name, size_t n);

#endif
