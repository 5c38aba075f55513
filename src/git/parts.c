/* aggregatedYAML files: the parts of many owners joined as Kratix joins them, and the parts
 * index beside them that says whose each part is (gitstore.h, kfs_git_parts). */
#include "kratixfs/gitstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/buf.h"

#define PART_SEP "\n---\n"
#define SEP_LEN	 (sizeof(PART_SEP) - 1)

char *kfs_git_parts_index_path(const char *path)
{
	struct kfs_buf b = {0};
	kfs_buf_printf(&b, ".kratixfs/aggregated/%s.parts", path);
	return kfs_buf_steal(&b);
}

/* One line of an index: "<bytes> <owner> <key>". */
struct entry {
	size_t len;
	char *owner, *key;
};

static size_t read_index(const char *idx, size_t n, struct entry **out)
{
	size_t m = 0, cap = 0;
	*out = NULL;
	for (const char *p = idx, *end = idx ? idx + n : NULL; p && p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *le = eol ? eol : end;
		char *line = kfs_xstrndup(p, (size_t)(le - p));
		char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL, *num_end;
		unsigned long long len = strtoull(line, &num_end, 10);
		if (line[0] != '#' && sp2 && num_end == sp1 && sp1 != line) {
			if (m == cap) {
				cap = cap ? cap * 2 : 8;
				*out = kfs_xrealloc(*out, cap * sizeof(**out));
			}
			(*out)[m++] = (struct entry){(size_t)len, kfs_xstrndup(sp1 + 1, (size_t)(sp2 - sp1 - 1)),
						     kfs_xstrdup(sp2 + 1)};
		}
		free(line);
		p = le + 1;
	}
	return m;
}

static bool sep_at(const char *text, size_t len, size_t at)
{
	return at + SEP_LEN <= len && memcmp(text + at, PART_SEP, SEP_LEN) == 0;
}

static bool only_newlines(const char *text, size_t at, size_t len)
{
	while (at < len && text[at] == '\n')
		at++;
	return at == len;
}

/* Parts from the front that fit (length, then a separator or the end): how many, with *pos
 * where the next one would start. */
static size_t match_front(const char *text, size_t len, const struct entry *e, size_t m,
			  size_t *starts, size_t *pos)
{
	size_t at = 0;
	for (size_t i = 0; i < m; i++) {
		if (e[i].len > len - at)
			return *pos = at, i;
		bool last = i + 1 == m;
		if (last ? !only_newlines(text, at + e[i].len, len)
			 : !sep_at(text, len, at + e[i].len))
			return *pos = at, i;
		starts[i] = at;
		at += e[i].len + (last ? 0 : SEP_LEN);
	}
	*pos = at;
	return m;
}

/* Parts from the back, down to (not including) part lo, that fit, the text ending at end: the
 * first of them, with *stop where the text before them ends (before their separator). */
static size_t back_from(const char *text, size_t end, const struct entry *e, size_t m,
			size_t lo, size_t *starts, size_t *stop)
{
	size_t j = m;
	while (j > lo + 1) {
		const struct entry *x = &e[j - 1];
		if (x->len > end || end - x->len < SEP_LEN ||
		    !sep_at(text, end, end - x->len - SEP_LEN))
			break;
		starts[j - 1] = end - x->len;
		end = end - x->len - SEP_LEN;
		j--;
	}
	*stop = end;
	return j;
}

static size_t match_back(const char *text, size_t len, const struct entry *e, size_t m,
			 size_t lo, size_t *starts, size_t *stop)
{
	size_t j = back_from(text, len, e, m, lo, starts, stop), stop2;
	if (j == m && len && text[len - 1] == '\n') { /* an editor's final newline */
		size_t j2 = back_from(text, len - 1, e, m, lo, starts, &stop2);
		if (j2 < m) {
			j = j2;
			*stop = stop2;
		}
	}
	return j;
}

void kfs_git_parts_parse(const char *text, size_t len, const char *index, size_t index_len,
			 struct kfs_git_parts *out)
{
	struct entry *e;
	memset(out, 0, sizeof(*out));
	size_t m = read_index(index, index_len, &e);
	if (!text || m == 0)
		goto out;
	size_t *starts = kfs_xcalloc(m, sizeof(*starts)), pos, stop;
	size_t fwd = match_front(text, len, e, m, starts, &pos);
	size_t bwd = fwd == m ? m : match_back(text, len, e, m, fwd, starts, &stop);
	for (size_t i = 0; i < fwd; i++)
		kfs_git_parts_add(out, e[i].owner, e[i].key, text + starts[i], e[i].len);
	if (fwd < m && pos <= stop) {
		/* Parts fwd .. bwd-1 no longer fit (edited by hand): they share what lies between
		 * the parts that do, split at separators when the count is right; otherwise the
		 * first of them takes it all. */
		size_t nmid = bwd - fwd, k = 0, at = pos;
		size_t nseps = 0;
		for (size_t i = pos; i + SEP_LEN <= stop; i++)
			nseps += sep_at(text, stop, i) ? (i += SEP_LEN - 1, 1) : 0;
		for (size_t i = fwd; i < bwd; i++, k++) {
			if (nseps + 1 != nmid) {
				if (k == 0)
					kfs_git_parts_add(out, e[i].owner, e[i].key, text + pos,
							  stop - pos);
				continue;
			}
			const char *s = k + 1 < nmid ? memmem(text + at, stop - at, PART_SEP, SEP_LEN)
						     : NULL;
			size_t end = s ? (size_t)(s - text) : stop;
			kfs_git_parts_add(out, e[i].owner, e[i].key, text + at, end - at);
			at = end + SEP_LEN;
		}
	}
	for (size_t i = bwd; i < m && fwd < m && pos <= stop; i++)
		kfs_git_parts_add(out, e[i].owner, e[i].key, text + starts[i], e[i].len);
	free(starts);
out:
	for (size_t i = 0; i < m; i++) {
		free(e[i].owner);
		free(e[i].key);
	}
	free(e);
}

void kfs_git_parts_add(struct kfs_git_parts *p, const char *owner, const char *key,
		       const char *data, size_t len)
{
	p->items = kfs_xrealloc(p->items, (p->n + 1) * sizeof(*p->items));
	p->items[p->n++] = (struct kfs_git_part){kfs_xstrdup(owner), kfs_xstrdup(key),
						 kfs_xstrndup(data, len), len, p->seq++};
}

static void part_free(struct kfs_git_part *x)
{
	free(x->owner);
	free(x->key);
	free(x->data);
}

void kfs_git_parts_take(struct kfs_git_parts *p, const char *owner, struct kfs_git_parts *out)
{
	size_t n = 0;
	for (size_t i = 0; i < p->n; i++) {
		struct kfs_git_part *x = &p->items[i];
		if (strcmp(x->owner, owner) != 0) {
			p->items[n++] = *x;
		} else if (out) {
			out->items = kfs_xrealloc(out->items, (out->n + 1) * sizeof(*out->items));
			out->items[out->n] = *x;
			out->items[out->n++].seq = out->seq++;
		} else {
			part_free(x);
		}
	}
	p->n = n;
}

static int cmp_part(const void *a, const void *b)
{
	const struct kfs_git_part *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Owner's parts of p (of key only, if not NULL), in the order a file has them. */
static const struct kfs_git_part **parts_of(const struct kfs_git_parts *p, const char *owner,
					    const char *key, size_t *n)
{
	const struct kfs_git_part **out = kfs_xcalloc(p->n ? p->n : 1, sizeof(*out));
	*n = 0;
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->items[i].owner, owner) == 0 &&
		    (!key || strcmp(p->items[i].key, key) == 0))
			out[(*n)++] = &p->items[i];
	for (size_t i = 1; i < *n; i++) /* insertion sort: an owner has a handful */
		for (size_t j = i; j > 0 && cmp_part(out[j - 1], out[j]) > 0; j--) {
			const struct kfs_git_part *t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return out;
}

bool kfs_git_parts_same(const struct kfs_git_parts *a, const struct kfs_git_parts *b,
			const char *owner, const char *key)
{
	size_t na, nb;
	const struct kfs_git_part **x = parts_of(a, owner, key, &na);
	const struct kfs_git_part **y = parts_of(b, owner, key, &nb);
	bool same = na == nb;
	for (size_t i = 0; same && i < na; i++)
		same = strcmp(x[i]->key, y[i]->key) == 0 && x[i]->len == y[i]->len &&
		       memcmp(x[i]->data, y[i]->data, x[i]->len) == 0;
	free(x);
	free(y);
	return same;
}

void kfs_git_parts_render(struct kfs_git_parts *p, struct kfs_buf *out, struct kfs_buf *index)
{
	if (p->n > 1)
		qsort(p->items, p->n, sizeof(*p->items), cmp_part);
	if (index && p->n)
		kfs_buf_adds(index, "# kratixfs: whose each part of the aggregatedYAML file is, in "
				    "file order: <bytes> <owner> <WorkPlacement>\n");
	for (size_t i = 0; i < p->n; i++) {
		const struct kfs_git_part *x = &p->items[i];
		if (i)
			kfs_buf_adds(out, PART_SEP);
		kfs_buf_add(out, x->data, x->len);
		if (index)
			kfs_buf_printf(index, "%zu %s %s\n", x->len, x->owner, x->key);
	}
}

void kfs_git_parts_free(struct kfs_git_parts *p)
{
	for (size_t i = 0; i < p->n; i++)
		part_free(&p->items[i]);
	free(p->items);
	memset(p, 0, sizeof(*p));
}
