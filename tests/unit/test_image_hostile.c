/* Images (src/exec/image*.c, oci*.c) from hostile or unusual layers: whiteouts that name no
 * file of their folder, and an image listing the same big layer twice. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>

#include "imgtest.h"

static const struct it_ent base_layer[] = {
	{'d', "bin", NULL, 0755, 0},
	{'f', "bin/tool", "#!/bin/sh\necho tool\n", 04755, 0},
	{'d', "etc", NULL, 0755, 0},
	{'f', "etc/os-release", "NAME=tiny\n", 0644, 0},
};

/* A whiteout whose target is not a name in its folder ("..", "." or empty) is refused: it
 * would remove the folder above the image's root (the unpack's own files) or the root's
 * contents. An image already in the cache is untouched. */
static void test_hostile_whiteouts(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	struct kfs_buf good = {0};
	assert_true(it_tar(&good, base_layer, 4, IT_PLAIN));
	it_layout(f.layout, "localhost/good:1", &good, 1, NULL, NULL);
	struct kfs_image *img = get_ok(&f.o, "localhost/good:1");
	static const struct {
		const char *entry, *want;
	} bad[] = {
		{".wh...", "whiteout names '..'"},
		{"etc/.wh...", "whiteout names '..'"},
		{".wh..", "whiteout names '.'"},
		{"etc/.wh.", "whiteout names ''"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kfs_buf layers[2] = {{0}};
		const struct it_ent e[] = {{'f', bad[i].entry, "", 0, 0}};
		assert_true(it_tar(&layers[0], base_layer, 4, IT_PLAIN));
		assert_true(it_tar(&layers[1], e, 1, IT_PLAIN));
		kfs_remove_tree(f.layout, &(struct kfs_error){0});
		it_layout(f.layout, "localhost/evil:1", layers, 2, NULL, NULL);
		struct kfs_image *no = NULL;
		struct kfs_error err = {0};
		assert_int_equal(kfs_image_get(&f.o, "localhost/evil:1", &no, &err), -EPERM);
		assert_null(no);
		assert_contains(err.msg, bad[i].want);
		assert_contains(err.msg, bad[i].entry);
		kfs_buf_free(&layers[0]);
		kfs_buf_free(&layers[1]);
	}
	assert_true(exists_in(img, "bin/tool"));
	assert_true(exists_in(img, "etc/os-release"));
	char *left = tu_sh("ls -A '%s' | grep -vx refs | wc -l", f.cache);
	assert_string_equal(left, "1\n"); /* the good image only: no unpack folder is left */
	free(left);
	kfs_image_free(img);
	kfs_buf_free(&good);
	fx_free(&f);
}

/* An image may list the same layer twice (identical layers share their digest): big enough
 * to be copied out of an archive (over 1 MiB), the copy serves both. */
static void test_repeated_layer(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	size_t big = (3 << 20) / 2;
	char *data = malloc(big);
	for (size_t i = 0; i < big; i++)
		data[i] = (char)('a' + (i * 7919 % 26));
	const struct it_ent e[] = {{'f', "big.bin", data, 0644, big}};
	struct kfs_buf layers[2] = {{0}};
	assert_true(it_tar(&layers[0], e, 1, IT_PLAIN));
	kfs_buf_add(&layers[1], layers[0].data, layers[0].len);
	assert_true(layers[0].len > (1 << 20));

	it_layout(f.layout, "twice:1", layers, 2, NULL, NULL);
	char *oa = kfs_path_join(f.dir, "oci.tar.gz");
	free(tu_sh("cd '%s' && tar czf '%s' index.json oci-layout blobs", f.layout, oa));
	f.srcs[0] = oa;
	struct kfs_image *img = get_ok(&f.o, "twice:1");
	char *p = in_root(img, "big.bin");
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal((size_t)st.st_size, big);
	free(p);
	kfs_image_free(img);

	/* a docker archive whose manifest names one layer.tar member twice */
	char *da = kfs_path_join(f.dir, "docker.tar");
	it_docker_archive(da, "localhost/twice:2", layers, 2, false, NULL);
	free(tu_sh("cd '%s' && mkdir x && cd x && tar xf ../docker.tar && rm blob1.tar && "
		   "sed -i 's/blob1.tar/blob0.tar/' manifest.json && tar cf ../docker.tar *", f.dir));
	char *man = tu_sh("cd '%s/x' && cat manifest.json", f.dir);
	assert_contains(man, "\"blob0.tar\",\"blob0.tar\"");
	free(man);
	f.srcs[0] = da;
	kfs_remove_tree(f.cache, &(struct kfs_error){0});
	img = get_ok(&f.o, "twice:2");
	assert_true(exists_in(img, "big.bin"));
	kfs_image_free(img);
	free(da);
	free(oa);
	free(data);
	kfs_buf_free(&layers[0]);
	kfs_buf_free(&layers[1]);
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hostile_whiteouts),
		cmocka_unit_test(test_repeated_layer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
