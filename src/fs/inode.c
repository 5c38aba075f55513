/* The inode table (inode.h): three hash indexes over one set of nodes, by number (every request),
 * by path and identity (LOOKUP), and by view folder (the notifier). One mutex guards it all; it
 * is a leaf: nothing else is locked under it. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inode.h"
#include "kratixfs/buf.h"

struct node {
	fuse_ino_t ino, parent;
	char *path;
	struct kfs_ident id;
	uint64_t nlookup;
	/* Its folder was removed: only its number finds it now (until FORGET), so that a folder
	 * made again under the name is a new inode (inode.h, kfs_itable_gone). */
	bool gone;
	size_t hkey, hfolder; /* hashes of (path, id) and of the folder */
	struct node *next_ino, *next_key, *next_folder;
};

struct kfs_itable {
	pthread_mutex_t lock;
	struct node **by_ino, **by_key, **by_folder;
	size_t nbuckets, count;
	fuse_ino_t next_ino;
	uint64_t generation;
};

static size_t hash_bytes(const char *s, size_t n, size_t h)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

static size_t hash_key(const char *path, const struct kfs_ident *id)
{
	size_t h = hash_bytes(path, strlen(path), 14695981039346656037ULL);
	return (h ^ id->id ^ ((size_t)id->kind << 60)) * 1099511628211ULL;
}

size_t kfs_folder_of(const char *path, char *folder, size_t size)
{
	const char *p = path[0] == '/' ? path + 1 : path;
	size_t n = 0;
	if (strncmp(p, "requests", 8) == 0 || strncmp(p, "promises", 8) == 0) {
		if (p[8] == '\0') {
			n = 8;
		} else if (p[8] == '/') {
			const char *slash = strchr(p + 9, '/');
			n = slash ? (size_t)(slash - p) : strlen(p);
		}
	}
	if (n >= size)
		n = 0;
	memcpy(folder, p, n);
	folder[n] = '\0';
	return n;
}

static size_t hash_folder_of(const char *path)
{
	char f[PATH_MAX];
	size_t n = kfs_folder_of(path, f, sizeof(f));
	return hash_bytes(f, n, 14695981039346656037ULL);
}

static bool same_key(const struct node *n, const char *path, const struct kfs_ident *id)
{
	return n->id.kind == id->kind && n->id.id == id->id && strcmp(n->path, path) == 0;
}

static void link_node(struct kfs_itable *t, struct node *n)
{
	size_t m = t->nbuckets - 1;
	n->next_ino = t->by_ino[n->ino & m];
	t->by_ino[n->ino & m] = n;
	if (n->gone)
		return;
	n->next_key = t->by_key[n->hkey & m];
	t->by_key[n->hkey & m] = n;
	n->next_folder = t->by_folder[n->hfolder & m];
	t->by_folder[n->hfolder & m] = n;
}

/* Takes n out of the indexes by path and by folder. */
static void unlink_names(struct kfs_itable *t, struct node *n)
{
	size_t m = t->nbuckets - 1;
	struct node **p;
	for (p = &t->by_key[n->hkey & m]; *p != n; p = &(*p)->next_key)
		;
	*p = n->next_key;
	for (p = &t->by_folder[n->hfolder & m]; *p != n; p = &(*p)->next_folder)
		;
	*p = n->next_folder;
}

static void unlink_node(struct kfs_itable *t, struct node *n)
{
	size_t m = t->nbuckets - 1;
	struct node **p;
	for (p = &t->by_ino[n->ino & m]; *p != n; p = &(*p)->next_ino)
		;
	*p = n->next_ino;
	if (!n->gone)
		unlink_names(t, n);
}

static bool under(const char *path, const char *dir, size_t dl)
{
	return strncmp(path, dir, dl) == 0 && (path[dl] == '\0' || path[dl] == '/');
}

static void alloc_buckets(struct kfs_itable *t, size_t n)
{
	t->nbuckets = n;
	t->by_ino = kfs_xcalloc(n, sizeof(*t->by_ino));
	t->by_key = kfs_xcalloc(n, sizeof(*t->by_key));
	t->by_folder = kfs_xcalloc(n, sizeof(*t->by_folder));
}

/* Doubles the buckets: every node is linked again (by its number's chain, which holds all). */
static void grow(struct kfs_itable *t)
{
	struct node **old = t->by_ino;
	size_t oldn = t->nbuckets;
	free(t->by_key);
	free(t->by_folder);
	alloc_buckets(t, oldn * 2);
	for (size_t i = 0; i < oldn; i++) {
		struct node *n = old[i], *next;
		for (; n; n = next) {
			next = n->next_ino;
			link_node(t, n);
		}
	}
	free(old);
}

static struct node *find_ino(struct kfs_itable *t, fuse_ino_t ino)
{
	struct node *n = t->by_ino[ino & (t->nbuckets - 1)];
	while (n && n->ino != ino)
		n = n->next_ino;
	return n;
}

static struct node *node_new(struct kfs_itable *t, fuse_ino_t ino, const char *path,
			     const struct kfs_ident *id, fuse_ino_t parent)
{
	struct node *n = kfs_xcalloc(1, sizeof(*n));
	n->ino = ino;
	n->parent = parent;
	n->path = kfs_xstrdup(path);
	n->id = *id;
	n->hkey = hash_key(path, id);
	n->hfolder = hash_folder_of(path);
	if (t->count >= t->nbuckets)
		grow(t);
	link_node(t, n);
	t->count++;
	return n;
}

struct kfs_itable *kfs_itable_new(void)
{
	struct kfs_itable *t = kfs_xcalloc(1, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	alloc_buckets(t, 1024);
	t->next_ino = FUSE_ROOT_ID + 1;
	t->generation = (uint64_t)time(NULL);
	/* The root: the kernel never forgets it. */
	struct kfs_ident dir = {.kind = KFS_K_DIR};
	node_new(t, FUSE_ROOT_ID, "/", &dir, FUSE_ROOT_ID)->nlookup = 1;
	return t;
}

void kfs_itable_free(struct kfs_itable *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct node *n = t->by_ino[i], *next;
		for (; n; n = next) {
			next = n->next_ino;
			free(n->path);
			free(n);
		}
	}
	free(t->by_ino);
	free(t->by_key);
	free(t->by_folder);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

fuse_ino_t kfs_itable_ref(struct kfs_itable *t, const char *path, const struct kfs_ident *id,
			  fuse_ino_t parent)
{
	if (strcmp(path, "/") == 0)
		return FUSE_ROOT_ID; /* ".." of a top folder: the root counts no lookups */
	size_t h = hash_key(path, id);
	pthread_mutex_lock(&t->lock);
	struct node *n = t->by_key[h & (t->nbuckets - 1)];
	while (n && !(n->hkey == h && same_key(n, path, id)))
		n = n->next_key;
	if (!n)
		n = node_new(t, t->next_ino++, path, id, parent);
	n->nlookup++;
	fuse_ino_t ino = n->ino;
	pthread_mutex_unlock(&t->lock);
	return ino;
}

char *kfs_itable_path(struct kfs_itable *t, fuse_ino_t ino, struct kfs_ident *id)
{
	char *path = NULL;
	pthread_mutex_lock(&t->lock);
	struct node *n = find_ino(t, ino);
	if (n) {
		path = kfs_xstrdup(n->path);
		if (id)
			*id = n->id;
	}
	pthread_mutex_unlock(&t->lock);
	return path;
}

void kfs_itable_forget(struct kfs_itable *t, fuse_ino_t ino, uint64_t count)
{
	if (ino == FUSE_ROOT_ID)
		return;
	pthread_mutex_lock(&t->lock);
	struct node *n = find_ino(t, ino);
	if (n) {
		n->nlookup = count >= n->nlookup ? 0 : n->nlookup - count;
		if (n->nlookup == 0) {
			unlink_node(t, n);
			t->count--;
			free(n->path);
			free(n);
		}
	}
	pthread_mutex_unlock(&t->lock);
}

/* Renames are rare (an editor's save): a scan of the whole table is fine. */
void kfs_itable_rename(struct kfs_itable *t, const char *from, const char *to, fuse_ino_t newparent)
{
	size_t fl = strlen(from);
	pthread_mutex_lock(&t->lock);
	struct node **moved = NULL;
	size_t nmoved = 0;
	for (size_t i = 0; i < t->nbuckets; i++)
		for (struct node *n = t->by_ino[i]; n; n = n->next_ino)
			if (!n->gone && under(n->path, from, fl)) {
				moved = kfs_xrealloc(moved, (nmoved + 1) * sizeof(*moved));
				moved[nmoved++] = n;
			}
	for (size_t i = 0; i < nmoved; i++) {
		struct node *n = moved[i];
		unlink_node(t, n);
		if (n->path[fl] == '\0')
			n->parent = newparent;
		struct kfs_buf b = {0};
		kfs_buf_printf(&b, "%s%s", to, n->path + fl);
		free(n->path);
		n->path = kfs_buf_steal(&b);
		n->hkey = hash_key(n->path, &n->id);
		n->hfolder = hash_folder_of(n->path);
		link_node(t, n);
	}
	free(moved);
	pthread_mutex_unlock(&t->lock);
}

void kfs_itable_gone(struct kfs_itable *t, const char *dir)
{
	size_t dl = strlen(dir);
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->nbuckets; i++)
		for (struct node *n = t->by_ino[i]; n; n = n->next_ino)
			if (!n->gone && n->ino != FUSE_ROOT_ID && under(n->path, dir, dl)) {
				unlink_names(t, n);
				n->gone = true;
			}
	pthread_mutex_unlock(&t->lock);
}

size_t kfs_itable_count(struct kfs_itable *t)
{
	pthread_mutex_lock(&t->lock);
	size_t n = t->count;
	pthread_mutex_unlock(&t->lock);
	return n;
}

uint64_t kfs_itable_generation(struct kfs_itable *t)
{
	return t->generation;
}

size_t kfs_itable_in_folder(struct kfs_itable *t, const char *folder, struct kfs_inode_ref **out)
{
	size_t h = hash_bytes(folder, strlen(folder), 14695981039346656037ULL);
	struct kfs_inode_ref *refs = NULL;
	size_t n = 0, cap = 0;
	char f[PATH_MAX];
	pthread_mutex_lock(&t->lock);
	for (struct node *x = t->by_folder[h & (t->nbuckets - 1)]; x; x = x->next_folder) {
		if (x->hfolder != h || x->ino == FUSE_ROOT_ID)
			continue;
		kfs_folder_of(x->path, f, sizeof(f));
		if (strcmp(f, folder) != 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			refs = kfs_xrealloc(refs, cap * sizeof(*refs));
		}
		refs[n++] = (struct kfs_inode_ref){
		    .ino = x->ino, .parent = x->parent, .path = kfs_xstrdup(x->path), .id = x->id};
	}
	pthread_mutex_unlock(&t->lock);
	*out = refs;
	return n;
}

void kfs_itable_refs_free(struct kfs_inode_ref *refs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(refs[i].path);
	free(refs);
}
