/* Files and folders: reading, atomic writing, listing and removing trees. */
#ifndef KRATIXFS_FILES_H
#define KRATIXFS_FILES_H

#include <stdbool.h>
#include <stddef.h>

#include "kratixfs/buf.h"
#include "kratixfs/error.h"

/* Reads a whole file into out (appending; out->data is never NULL after); errors name the path. */
int kfs_read_file(const char *path, struct kfs_buf *out, struct kfs_error *err);
/* Writes data to dir/rel, creating parent folders, through a temporary file and rename so a
 * reader never sees half a file. */
int kfs_write_file(const char *dir, const char *rel, const char *data, size_t len,
		   struct kfs_error *err);
/* Creates dir/rel, which must not exist yet (-EEXIST), writing it in place: cheaper than
 * kfs_write_file (no rename, which on ext4 also flushes), for a reader that looks only once the
 * writer is done, as Kratix reads a pipeline's output after its container exits. */
int kfs_write_new_file(const char *dir, const char *rel, const char *data, size_t len,
		       struct kfs_error *err);
/* Makes dir and its missing parents (mode 0755); an existing one is fine. */
int kfs_mkdir_p(const char *dir, struct kfs_error *err);
/* Removes dir and everything under it; a missing dir is fine. */
int kfs_remove_tree(const char *dir, struct kfs_error *err);
/* Lists the files under dir (skipping names that start with '.'), relative, '/'-separated and
 * sorted; a missing dir gives none. -EPERM for anything but regular files, folders and symbolic
 * links to regular files inside dir: a promise folder must not publish what lies outside it. */
int kfs_list_files(const char *dir, char ***files, size_t *n, struct kfs_error *err);
void kfs_free_list(char **files, size_t n);
/* Whether path is (or links to) a folder; a regular file. */
bool kfs_is_dir(const char *path);
bool kfs_is_file(const char *path);
/* "a/b" in a new allocation. */
char *kfs_path_join(const char *a, const char *b);
/* The local path a Git remote names (a path, or the path of a file:// URL), or NULL for a
 * remote reached over the network (a URL, or git's scp-like [user@]host:path). */
const char *kfs_url_local_path(const char *remote);

#endif
