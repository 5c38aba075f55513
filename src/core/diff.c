#include "kratixfs/diff.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CONTEXT 3

struct line {
	const char *text;
	size_t len; /* with the '\n', when there is one */
};

struct side {
	struct line *lines;
	size_t *eq;    /* equivalence class of each line: equal lines, equal numbers */
	char *changed; /* changed[-1] and changed[n] are 0 sentinels */
	size_t n;
};

/* Working state of one comparison: the two sides and Myers' diagonal vectors. */
struct ctx {
	struct side a, b;
	ptrdiff_t *fd; /* furthest x reached forward, per diagonal x - y */
	ptrdiff_t *bd; /* smallest x reached backward, per diagonal */
};

static size_t split_lines(const char *text, size_t len, struct line **out)
{
	size_t n = 0, cap = 16;
	struct line *lines = kfs_xmalloc(cap * sizeof(*lines));
	size_t start = 0;

	while (start < len) {
		const char *nl = memchr(text + start, '\n', len - start);
		size_t end = nl ? (size_t)(nl - text) + 1 : len;
		if (n == cap) {
			cap *= 2;
			lines = kfs_xrealloc(lines, cap * sizeof(*lines));
		}
		lines[n].text = text + start;
		lines[n].len = end - start;
		n++;
		start = end;
	}
	*out = lines;
	return n;
}

static uint64_t hash_line(const struct line *l)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < l->len; i++)
		h = (h ^ (unsigned char)l->text[i]) * 1099511628211ULL;
	return h;
}

/* Numbers the lines of both sides so that the comparison works on integers; a last line
 * without '\n' differs from the same text with one, as diff treats it. */
static void classify(struct side *a, struct side *b)
{
	size_t total = a->n + b->n, cap = 16;
	while (cap < total * 2)
		cap *= 2;
	const struct line **slot = kfs_xcalloc(cap, sizeof(*slot));
	size_t *slot_class = kfs_xmalloc(cap * sizeof(*slot_class));
	size_t next = 0;
	struct side *sides[2] = {a, b};

	for (int s = 0; s < 2; s++) {
		struct side *sd = sides[s];
		sd->eq = kfs_xmalloc((sd->n ? sd->n : 1) * sizeof(*sd->eq));
		for (size_t i = 0; i < sd->n; i++) {
			const struct line *l = &sd->lines[i];
			size_t h = (size_t)hash_line(l) & (cap - 1);
			while (slot[h] && (slot[h]->len != l->len ||
					   memcmp(slot[h]->text, l->text, l->len) != 0))
				h = (h + 1) & (cap - 1);
			if (!slot[h]) {
				slot[h] = l;
				slot_class[h] = next++;
			}
			sd->eq[i] = slot_class[h];
		}
	}
	free(slot);
	free(slot_class);
}

/* The box of a middle-snake search: a[xoff,xlim) against b[yoff,ylim), its diagonals
 * (k = x - y, absolute) from kmin to kmax, the diagonals the two searches start on, and whether
 * their distance is odd (then the forward search finds the meeting point, else the backward). */
struct box {
	ptrdiff_t xoff, xlim, yoff, ylim;
	ptrdiff_t kmin, kmax, fmid, bmid;
	bool odd;
};

#define UNREACHED_F ((ptrdiff_t)-1)
#define UNREACHED_B PTRDIFF_MAX

/* Round d of the forward search: the furthest x on each diagonal after d edits. True when it
 * meets the backward search, at (*xm, *ym). */
static bool forward_round(struct ctx *c, const struct box *bx, ptrdiff_t d, ptrdiff_t *xm,
			  ptrdiff_t *ym)
{
	const size_t *ea = c->a.eq, *eb = c->b.eq;
	ptrdiff_t lo = bx->fmid - d < bx->kmin ? bx->kmin : bx->fmid - d;
	ptrdiff_t hi = bx->fmid + d > bx->kmax ? bx->kmax : bx->fmid + d;
	for (ptrdiff_t k = hi; k >= lo; k--) {
		if (((k - bx->fmid - d) & 1) != 0)
			continue;
		ptrdiff_t x = UNREACHED_F;
		if (d == 0) {
			x = bx->xoff;
		} else {
			ptrdiff_t left = c->fd[k - 1], up = c->fd[k + 1];
			/* A step right from k-1 or down from k+1, only inside the box. */
			if (left != UNREACHED_F && left < bx->xlim)
				x = left + 1;
			if (up != UNREACHED_F && up - (k + 1) < bx->ylim && up > x)
				x = up;
		}
		c->fd[k] = x;
		if (x == UNREACHED_F)
			continue;
		ptrdiff_t y = x - k;
		while (x < bx->xlim && y < bx->ylim && ea[x] == eb[y]) {
			x++;
			y++;
		}
		c->fd[k] = x;
		if (bx->odd && c->bd[k] != UNREACHED_B && c->bd[k] <= x) {
			*xm = x;
			*ym = y;
			return true;
		}
	}
	return false;
}

/* Round d of the backward search: the smallest x on each diagonal after d edits from the end.
 * True when it meets the forward search, at (*xm, *ym). */
static bool backward_round(struct ctx *c, const struct box *bx, ptrdiff_t d, ptrdiff_t *xm,
			   ptrdiff_t *ym)
{
	const size_t *ea = c->a.eq, *eb = c->b.eq;
	ptrdiff_t lo = bx->bmid - d < bx->kmin ? bx->kmin : bx->bmid - d;
	ptrdiff_t hi = bx->bmid + d > bx->kmax ? bx->kmax : bx->bmid + d;
	for (ptrdiff_t k = hi; k >= lo; k--) {
		if (((k - bx->bmid - d) & 1) != 0)
			continue;
		ptrdiff_t x = UNREACHED_B;
		if (d == 0) {
			x = bx->xlim;
		} else {
			ptrdiff_t right = c->bd[k + 1], down = c->bd[k - 1];
			/* A step left from k+1 or up from k-1, only inside the box. */
			if (right != UNREACHED_B && right > bx->xoff)
				x = right - 1;
			if (down != UNREACHED_B && down - (k - 1) > bx->yoff && down < x)
				x = down;
		}
		c->bd[k] = x;
		if (x == UNREACHED_B)
			continue;
		ptrdiff_t y = x - k;
		while (x > bx->xoff && y > bx->yoff && ea[x - 1] == eb[y - 1]) {
			x--;
			y--;
		}
		c->bd[k] = x;
		if (!bx->odd && c->fd[k] != UNREACHED_F && x <= c->fd[k]) {
			*xm = x;
			*ym = y;
			return true;
		}
	}
	return false;
}

/* Finds a point (*xm, *ym) on a shortest edit path of a[xoff,xlim) against b[yoff,ylim),
 * meeting a forward and a backward search in the middle (Myers 1986, section 4b), so the
 * whole comparison needs linear memory. Both ranges are non-empty and differ at both ends. */
static void middle_snake(struct ctx *c, ptrdiff_t xoff, ptrdiff_t xlim, ptrdiff_t yoff,
			 ptrdiff_t ylim, ptrdiff_t *xm, ptrdiff_t *ym)
{
	/* The vectors fd and bd are offset so that a diagonal k may be negative. */
	struct box bx = {
	    .xoff = xoff,
	    .xlim = xlim,
	    .yoff = yoff,
	    .ylim = ylim,
	    .kmin = xoff - ylim,
	    .kmax = xlim - yoff,
	    .fmid = xoff - yoff,
	    .bmid = xlim - ylim,
	};
	bx.odd = ((bx.fmid - bx.bmid) & 1) != 0;
	for (ptrdiff_t k = bx.kmin - 1; k <= bx.kmax + 1; k++) {
		c->fd[k] = UNREACHED_F;
		c->bd[k] = UNREACHED_B;
	}
	c->fd[bx.fmid] = xoff;
	c->bd[bx.bmid] = xlim;
	for (ptrdiff_t d = 0;; d++)
		if (forward_round(c, &bx, d, xm, ym) || backward_round(c, &bx, d, xm, ym))
			return;
}

static void compare(struct ctx *c, ptrdiff_t xoff, ptrdiff_t xlim, ptrdiff_t yoff, ptrdiff_t ylim)
{
	const size_t *ea = c->a.eq, *eb = c->b.eq;

	while (xoff < xlim && yoff < ylim && ea[xoff] == eb[yoff]) {
		xoff++;
		yoff++;
	}
	while (xoff < xlim && yoff < ylim && ea[xlim - 1] == eb[ylim - 1]) {
		xlim--;
		ylim--;
	}
	if (xoff == xlim) {
		for (ptrdiff_t y = yoff; y < ylim; y++)
			c->b.changed[y] = 1;
	} else if (yoff == ylim) {
		for (ptrdiff_t x = xoff; x < xlim; x++)
			c->a.changed[x] = 1;
	} else {
		ptrdiff_t xm, ym;
		middle_snake(c, xoff, xlim, yoff, ylim, &xm, &ym);
		compare(c, xoff, xm, yoff, ym);
		compare(c, xm, xlim, ym, ylim);
	}
}

/* Slides each run of changed lines in s, where equal lines allow it, first up to merge with
 * earlier runs, then down as far as possible, then back up to line up with a change in the
 * other side: the placement GNU diff chooses, so ambiguous hunks read the same as diff -u. */
static void shift_runs(struct side *s, const struct side *other)
{
	char *chg = s->changed;
	const char *oth = other->changed;
	const size_t *eq = s->eq;
	ptrdiff_t n = (ptrdiff_t)s->n;
	ptrdiff_t i = 0, j = 0; /* j: the line of other aligned with line i of s */

	for (;;) {
		while (i < n && !chg[i]) {
			while (oth[j])
				j++;
			j++;
			i++;
		}
		if (i == n)
			break;
		ptrdiff_t start = i, runlen, aligned;
		while (chg[i])
			i++;
		while (oth[j])
			j++;
		do {
			runlen = i - start;
			while (start > 0 && eq[start - 1] == eq[i - 1]) {
				chg[--start] = 1;
				chg[--i] = 0;
				while (chg[start - 1])
					start--;
				while (oth[--j])
					continue;
			}
			/* aligned: the furthest end of the run that meets a change in other. */
			aligned = oth[j - 1] ? i : n;
			while (i != n && eq[start] == eq[i]) {
				chg[start++] = 0;
				chg[i++] = 1;
				while (chg[i])
					i++;
				while (oth[++j])
					aligned = i;
			}
		} while (runlen != i - start);
		while (aligned < i) {
			chg[--start] = 1;
			chg[--i] = 0;
			while (oth[--j])
				continue;
		}
	}
}

struct change {
	size_t a, alen, b, blen;
};

static void add_line(struct kfs_buf *out, char mark, const struct line *l)
{
	kfs_buf_addc(out, mark);
	kfs_buf_add(out, l->text, l->len);
	if (l->len == 0 || l->text[l->len - 1] != '\n')
		kfs_buf_adds(out, "\n\\ No newline at end of file\n");
}

/* diff's range notation: "start,count", "line" when count is 1, the line before when 0. */
static void add_range(struct kfs_buf *out, size_t start, size_t count)
{
	if (count == 1)
		kfs_buf_printf(out, "%zu", start + 1);
	else
		kfs_buf_printf(out, "%zu,%zu", count ? start + 1 : start, count);
}

static void add_hunk(struct kfs_buf *out, const struct ctx *c, const struct change *ch, size_t nch)
{
	const struct change *first = &ch[0], *last = &ch[nch - 1];
	size_t before = first->a < CONTEXT ? first->a : CONTEXT;
	size_t a_end = last->a + last->alen, b_end = last->b + last->blen;
	size_t after = c->a.n - a_end < CONTEXT ? c->a.n - a_end : CONTEXT;
	size_t as = first->a - before, bs = first->b - before;

	kfs_buf_adds(out, "@@ -");
	add_range(out, as, a_end + after - as);
	kfs_buf_adds(out, " +");
	add_range(out, bs, b_end + after - bs);
	kfs_buf_adds(out, " @@\n");

	size_t x = as;
	for (size_t k = 0; k < nch; k++) {
		for (; x < ch[k].a; x++)
			add_line(out, ' ', &c->a.lines[x]);
		for (size_t i = 0; i < ch[k].alen; i++)
			add_line(out, '-', &c->a.lines[ch[k].a + i]);
		for (size_t i = 0; i < ch[k].blen; i++)
			add_line(out, '+', &c->b.lines[ch[k].b + i]);
		x = ch[k].a + ch[k].alen;
	}
	for (; x < a_end + after; x++)
		add_line(out, ' ', &c->a.lines[x]);
}

/* Groups the changed lines into changes, then changes whose contexts touch into hunks. */
static void emit_hunks(const struct ctx *c, struct kfs_buf *out)
{
	size_t cap = 16, n = 0;
	struct change *ch = kfs_xmalloc(cap * sizeof(*ch));
	size_t i = 0, j = 0;

	while (i < c->a.n || j < c->b.n) {
		if ((i < c->a.n && c->a.changed[i]) || (j < c->b.n && c->b.changed[j])) {
			struct change x = {.a = i, .b = j};
			while (i < c->a.n && c->a.changed[i])
				i++;
			while (j < c->b.n && c->b.changed[j])
				j++;
			x.alen = i - x.a;
			x.blen = j - x.b;
			if (n == cap) {
				cap *= 2;
				ch = kfs_xrealloc(ch, cap * sizeof(*ch));
			}
			ch[n++] = x;
		} else {
			i++;
			j++;
		}
	}

	size_t first = 0;
	for (size_t k = 1; k <= n; k++) {
		if (k < n && ch[k].a - (ch[k - 1].a + ch[k - 1].alen) <= 2 * CONTEXT)
			continue;
		add_hunk(out, c, ch + first, k - first);
		first = k;
	}
	free(ch);
}

static void side_init(struct side *s, const char *text, size_t len)
{
	s->n = split_lines(text, len, &s->lines);
	s->changed = (char *)kfs_xcalloc(s->n + 2, 1) + 1;
}

static void side_free(struct side *s)
{
	free(s->lines);
	free(s->eq);
	free(s->changed - 1);
}

bool kfs_diff_unified(const char *a_name, const char *a, size_t alen, const char *b_name,
		      const char *b, size_t blen, struct kfs_buf *out)
{
	if (alen == blen && (alen == 0 || memcmp(a, b, alen) == 0))
		return false;

	struct ctx c = {0};
	side_init(&c.a, a, alen);
	side_init(&c.b, b, blen);
	classify(&c.a, &c.b);

	size_t diags = c.a.n + c.b.n + 3;
	ptrdiff_t *fbase = kfs_xmalloc(diags * sizeof(*fbase));
	ptrdiff_t *bbase = kfs_xmalloc(diags * sizeof(*bbase));
	/* Index by x - y, which runs from -(b.n) - 1 to a.n + 1. */
	c.fd = fbase + c.b.n + 1;
	c.bd = bbase + c.b.n + 1;

	compare(&c, 0, (ptrdiff_t)c.a.n, 0, (ptrdiff_t)c.b.n);
	shift_runs(&c.a, &c.b);
	shift_runs(&c.b, &c.a);

	kfs_buf_printf(out, "--- %s\n+++ %s\n", a_name, b_name);
	emit_hunks(&c, out);

	free(fbase);
	free(bbase);
	side_free(&c.a);
	side_free(&c.b);
	return true;
}
