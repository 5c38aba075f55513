/* Private to the template language (template*.c): the syntax tree the parser builds and the
 * evaluator walks, the values the evaluator passes around, and the function table. */
#ifndef KRATIXFS_TMPL_H
#define KRATIXFS_TMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "kratixfs/buf.h"
#include "kratixfs/doc.h"
#include "kratixfs/error.h"
#include "kratixfs/template.h"

/* Everything a compiled template holds lives in one arena, freed at once. */
struct tchunk;
struct tarena {
	struct tchunk *head;
};
void *tarena_alloc(struct tarena *a, size_t n);
char *tarena_strndup(struct tarena *a, const char *s, size_t n);
void tarena_free(struct tarena *a);

/* A source file: the template itself, or the partials file its defines come from. */
struct tsrc {
	const char *name;
	const char *text;
	size_t len;
};

struct tstep {
	const char *key; /* NULL for an `[N]` index step */
	size_t len;
	size_t index;
	size_t at; /* where the step starts in the operand's text, for "did you mean" */
};

enum targ_kind {
	A_FIELD, /* `.a.b`, `.`: from dot */
	A_VAR,   /* `$x.a`, `$`, `$.a` */
	A_CONST, /* a string, number, true/false or nil */
	A_PIPE,  /* `( pipeline )` */
	A_FUNC,  /* a function name */
};

struct tfunc;
struct tpipe;

struct targ {
	enum targ_kind kind;
	size_t pos;	  /* offset in the source, for file:line:column */
	const char *text; /* as written, for messages */
	const char *var;  /* A_VAR: "$x" or "$" */
	struct tstep *steps;
	size_t nsteps;
	const struct kfs_node *lit; /* A_CONST */
	struct tpipe *pipe;	    /* A_PIPE */
	const struct tfunc *fn;	    /* A_FUNC */
};

struct tcmd {
	struct targ *args; /* args[0] is the function, or the only operand */
	size_t n;
	size_t pos;
};

struct tpipe {
	const char *vars[2]; /* `$i, $x :=` */
	size_t nvars;
	bool assign; /* `=` rather than `:=` */
	struct tcmd *cmds;
	size_t ncmds;
	size_t pos;
};

enum tnode_kind { N_TEXT, N_ACTION, N_IF, N_RANGE, N_WITH, N_TEMPLATE, N_BREAK, N_CONTINUE };

struct tnode;
struct tlist {
	struct tnode *items;
	size_t n, cap;
};

struct tnode {
	enum tnode_kind kind;
	const struct tsrc *src;
	size_t pos;	  /* offset of the tag's `{{` */
	size_t tag_len;	  /* the tag, for messages */
	const char *text; /* N_TEXT */
	size_t len;
	struct tpipe *pipe;	 /* N_ACTION, N_IF, N_RANGE, N_WITH, N_TEMPLATE (may be NULL) */
	const char *tname;	 /* N_TEMPLATE */
	const char *placeholder; /* N_ACTION made from a placeholder token */
	struct tlist body, alt;
};

struct tdefine {
	const char *name;
	struct tlist body;
	const struct tsrc *src;
};

struct kfs_template {
	struct tarena arena;
	struct tsrc src;
	struct tsrc helpers; /* the partials file, when there is one */
	struct tlist body;
	bool verbatim;
	bool split; /* one output file per document (kfs_template_split) */
	struct tdefine *defines;
	size_t ndefines, capdefines;
	struct kfs_node **consts;
	size_t nconsts, capconsts;
	/* Placeholder tokens, longest first, with the operand each stands for. */
	const char **tokens;
	size_t *toklens;
	struct tpipe **tokpipes;
	size_t ntokens;
};

/* Parses src into list (and t's defines). Sets err as "name:line:col: …". */
int tmpl_parse(struct kfs_template *t, const struct tsrc *src, struct tlist *list,
	       struct kfs_error *err);
/* Parses one operand (a placeholder's path) at text; *end is where it stopped. */
int tmpl_parse_operand(struct kfs_template *t, const struct tsrc *src, struct targ *out,
		       struct kfs_error *err);
/* "name:line:col" of pos in src. */
void tmpl_where(const struct tsrc *src, size_t pos, char *out, size_t size);
struct kfs_node *tmpl_keep(struct kfs_template *t, struct kfs_node *n);

/* A value during a render. n is NULL when a path found nothing (miss says which). */
struct tval {
	const struct kfs_node *n;
	bool safe; /* text that goes to the output unchecked: quote, toYaml, literals, include */
	bool yaml; /* the `yaml` function's result: emitted at the tag's column */
	const struct targ *miss;       /* the path it came from, if any */
	const struct kfs_node *parent; /* where the missing step was looked for */
	size_t failed;		       /* its index */
};

struct teval;

/* Functions: argument counts, and whether a missing value may be passed (default, empty…). */
typedef int (*tfunc_fn)(struct teval *e, const struct tcmd *c, struct tval *args, size_t n,
			struct tval *out);
struct tfunc {
	const char *name;
	int min, max; /* max -1: any */
	bool missing_ok;
	tfunc_fn fn;
	const char *refusal; /* for now, randAlphaNum…: why not and what instead */
};
const struct tfunc *tmpl_func(const char *name, size_t len);
/* The nearest known function name, or NULL. */
const char *tmpl_func_suggest(const char *name, size_t len);

/* For the functions: */
int tmpl_fail(struct teval *e, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const struct kfs_node *tmpl_temp(struct teval *e, struct kfs_node *n); /* freed after render */
/* A scalar node in the render's scratch arena (no free; text may be NULL to fill in later). */
struct kfs_node *tmpl_scalar(struct teval *e, enum kfs_type type, const char *text, size_t len);
int tmpl_need(struct teval *e, const struct tcmd *c, const struct tval *v, const char *what);
bool tmpl_text(const struct kfs_node *n, const char **text, size_t *len);
int tmpl_include(struct teval *e, const struct tcmd *c, const char *name,
		 const struct tval *dot, struct kfs_buf *out);
bool tmpl_empty(const struct tval *v);
const char *tmpl_kind(const struct kfs_node *n);
void tmpl_json(const struct kfs_node *n, struct kfs_buf *out);

#define SPAN(p, n) (int)(n), (p)

#endif
