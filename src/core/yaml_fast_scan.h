/* The scanner of the fast YAML path (private to yaml_fast.c and yaml_fast_scan.c): the input
 * checked once for bytes outside the subset, then read line by line and scalar by scalar, with
 * libyaml 0.2.5's rules for lines, indentation, plain and quoted scalars and escapes. */
#ifndef KRATIXFS_YAML_FAST_SCAN_H
#define KRATIXFS_YAML_FAST_SCAN_H

#include <stdbool.h>
#include <stddef.h>

/* Well below yaml_libyaml.c's limits (256 levels, 1000000 nodes) so that its errors stay
 * libyaml's. */
#define FAST_MAX_DEPTH 100
#define FAST_MAX_NODES 900000
/* libyaml forgets a simple key 1024 characters after its start; stay clear of that edge. */
#define FAST_MAX_KEY 1000

/* What kfs_fast_next_line found at pos, besides a column >= 0 of content. */
#define COL_EOF	  (-1)
#define COL_START (-2) /* a "---" line */
#define COL_END	  (-3) /* a "..." line */

struct fp {
	const char *b;
	size_t n;
	size_t pos; /* next byte to read */
	size_t ls;  /* offset of the first byte of pos's line */
	long col;   /* what the last kfs_fast_next_line found: content column or COL_* */
	int line;   /* 1-based line of pos */
	size_t nodes;
	bool build; /* false: only check, allocate nothing */
};

/* A scanned scalar: its bytes between the quotes (or the plain text), before unescaping. */
struct tok {
	size_t s, e;
	char kind; /* 'p', '\'' or '"' */
	bool esc;  /* quoted text that needs unescaping */
	int line;
};

/* Whether the whole input is within the subset's bytes (valid printable UTF-8, no tab, CR, NEL,
 * LS, PS or BOM); the rest of the scanner relies on it. */
bool kfs_fast_validate(struct fp *p);
/* Moves from the start of a line past blank and comment lines; sets col (and pos to the
 * content). */
void kfs_fast_next_line(struct fp *p);
/* Ends the current line: only spaces and a comment may follow. */
bool kfs_fast_end_line(struct fp *p);
/* Scans the scalar at pos (plain, or quoted on one line) into t; false outside the subset. */
bool kfs_fast_scan_scalar(struct fp *p, bool flow, struct tok *t);
/* The scalar's value, NUL-terminated, in a new allocation (escapes never make it longer); *len
 * its length. */
char *kfs_fast_tok_text(const struct fp *p, const struct tok *t, size_t *len);

static inline bool blankz(const struct fp *p, size_t i)
{
	return i >= p->n || p->b[i] == ' ' || p->b[i] == '\n';
}

static inline bool at(const struct fp *p, char c)
{
	return p->pos < p->n && p->b[p->pos] == c;
}

static inline void skip_spaces(struct fp *p)
{
	while (p->pos < p->n && p->b[p->pos] == ' ')
		p->pos++;
}

static inline bool rest_is_empty(const struct fp *p)
{
	return p->pos >= p->n || p->b[p->pos] == '\n' || p->b[p->pos] == '#';
}

static inline bool is_dash(const struct fp *p)
{
	return p->col >= 0 && p->b[p->pos] == '-' && blankz(p, p->pos + 1);
}

#endif
