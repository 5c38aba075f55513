/* A test driver for the image half of the exec layer (tests/exec/image-sources.sh):
 *
 *   kfs-image-get CACHE REF [--storage] [SOURCE...]   kfs_image_get, then one line per field
 *   kfs-image-get --recipe DIR [CACHE REF ...]         kfs_recipe_load, and kfs_recipe_apply
 *                                                     on the image REF when it is given
 *
 * Errors go to stderr with the exit status 1 (2 for -ENOENT). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kratixfs/exec.h"

static void print_v(const char *key, char **v)
{
	printf("%s=", key);
	for (size_t i = 0; v && v[i]; i++)
		printf("%s[%s]", i ? " " : "", v[i]);
	printf("\n");
}

static void print_image(const struct kfs_image *img)
{
	printf("digest=%s\nrootfs=%s\n", img->digest, img->rootfs);
	print_v("entrypoint", img->entrypoint);
	print_v("cmd", img->cmd);
	print_v("env", img->env);
	printf("workdir=%s\nuser=%s\n", img->workdir ? img->workdir : "",
	       img->user ? img->user : "");
}

static int get(int argc, char **argv, struct kfs_image **img)
{
	struct kfs_image_opts o = {.cache_dir = argv[0]};
	const char *srcs[16];
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--storage") == 0)
			o.use_storage = true;
		else if (o.narchives < 16)
			srcs[o.narchives++] = argv[i];
	}
	o.archives = srcs;
	struct kfs_error err = {0};
	int rc = kfs_image_get(&o, argv[1], img, &err);
	if (rc < 0)
		fprintf(stderr, "%s\n", err.msg);
	return rc;
}

static int recipe(int argc, char **argv)
{
	struct kfs_recipe *r = NULL;
	struct kfs_error err = {0};
	if (kfs_recipe_load(argv[0], &r, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	printf("from=%s\n", r->from);
	for (size_t i = 0; i < r->ncopies; i++)
		printf("copy=%s -> %s\n", r->copies[i].src, r->copies[i].dest);
	for (size_t i = 0; r->skipped && r->skipped[i]; i++)
		printf("skipped=%s\n", r->skipped[i]);
	int rc = 0;
	struct kfs_image *base = NULL, *img = NULL;
	if (argc >= 3 && (rc = get(argc - 1, argv + 1, &base)) == 0) {
		kfs_recipe_apply(r, base, &img, &err);
		print_image(img);
	}
	kfs_image_free(img);
	kfs_image_free(base);
	kfs_recipe_free(r);
	return rc == -ENOENT ? 2 : rc < 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "--recipe") == 0)
		return recipe(argc - 2, argv + 2);
	if (argc < 3) {
		fprintf(stderr, "usage: kfs-image-get CACHE REF [--storage] [SOURCE...]\n"
				"       kfs-image-get --recipe DIR [CACHE REF [--storage] [SOURCE...]]\n");
		return 1;
	}
	struct kfs_image *img = NULL;
	int rc = get(argc - 1, argv + 1, &img);
	if (rc == 0)
		print_image(img);
	kfs_image_free(img);
	return rc == -ENOENT ? 2 : rc < 0;
}
