/* bench-render: the median time of one in-process render (kfs_render + kfs_render_result_free)
 * of a request, with the promise already loaded, as a running mount or `kratixfs render` pays it
 * after start-up. bench/engine runs it; see docs/performance.md.
 *
 * Usage: bench-render PROMISES_DIR REQUEST_FILE [ITERATIONS]
 * Prints "key value" lines (times in microseconds) that bench/engine reads. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "samples.h"
#include "kratixfs/doc.h"
#include "kratixfs/error.h"
#include "kratixfs/files.h"
#include "kratixfs/promise.h"
#include "kratixfs/render.h"

#define DEFAULT_ITERATIONS 20000
#define MAX_ITERATIONS	   10000000
#define LOAD_ITERATIONS	   200

/* The median time of loading the promises folder, which `kratixfs render` pays once per process:
 * it tells how much of the whole-process time is start-up rather than rendering. */
static int time_loads(const char *promises, size_t n, double *median_us)
{
	uint64_t *samples = kfs_xcalloc(n, sizeof(*samples));
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct kfs_promise_set set = {0};
		struct kfs_error err = {0};
		uint64_t t0 = now_ns();
		rc = kfs_promise_set_load(promises, &set, &err);
		kfs_promise_set_free(&set);
		samples[i] = now_ns() - t0;
		if (rc < 0)
			fprintf(stderr, "bench-render: %s: %s\n", promises, err.msg);
	}
	qsort(samples, n, sizeof(*samples), cmp_u64);
	*median_us = percentile_us(samples, n, 50);
	free(samples);
	return rc;
}

/* One render, checked: a benchmark of a failing render would measure the error path. */
static int render_once(const struct kfs_render_input *in, size_t *noutputs, size_t *bytes)
{
	struct kfs_render_result r = {0};
	struct kfs_error err = {0};
	int rc = kfs_render(in, &r, &err);
	if (rc < 0)
		fprintf(stderr, "bench-render: render failed: %s\n", err.msg);
	*noutputs = r.noutputs;
	*bytes = 0;
	for (size_t i = 0; i < r.noutputs; i++)
		*bytes += r.outputs[i].len;
	kfs_render_result_free(&r);
	return rc;
}

static int run(const char *promises, const char *request, size_t iterations)
{
	struct kfs_error err = {0};
	struct kfs_buf input = {0};
	struct kfs_promise_set set = {0};
	struct kfs_node *doc = NULL;
	uint64_t *samples = NULL;
	int status = EXIT_FAILURE;

	if (kfs_read_file(request, &input, &err) < 0 ||
	    kfs_doc_parse(input.data, input.len, request, &doc, &err) < 0) {
		fprintf(stderr, "bench-render: %s\n", err.msg);
		goto out;
	}
	if (kfs_promise_set_load(promises, &set, &err) < 0 || set.n == 0) {
		fprintf(stderr, "bench-render: %s: %s\n", promises,
			err.code ? err.msg : "no promise loaded");
		goto out;
	}
	kfs_error_clear(&err);
	struct kfs_render_input in = {
		.promise = kfs_promise_set_match(&set, doc, &err),
		.type = KFS_WF_RESOURCE,
		.action = KFS_WF_CONFIGURE,
		.data = input.data,
		.len = input.len,
	};
	if (!in.promise) {
		fprintf(stderr, "bench-render: %s: %s\n", request, err.msg);
		goto out;
	}

	/* Warm-up: caches, branch predictors and malloc's free lists reach their steady state. */
	size_t noutputs = 0, bytes = 0;
	size_t warmup = iterations / 10 + 1;
	for (size_t i = 0; i < warmup; i++)
		if (render_once(&in, &noutputs, &bytes) < 0)
			goto out;

	samples = kfs_xcalloc(iterations, sizeof(*samples));
	uint64_t total_start = now_ns();
	for (size_t i = 0; i < iterations; i++) {
		struct kfs_render_result r = {0};
		uint64_t t0 = now_ns();
		int rc = kfs_render(&in, &r, &err);
		kfs_render_result_free(&r);
		samples[i] = now_ns() - t0;
		if (rc < 0) {
			fprintf(stderr, "bench-render: render failed: %s\n", err.msg);
			goto out;
		}
	}
	uint64_t total_ns = now_ns() - total_start;

	double load_us;
	if (time_loads(promises, LOAD_ITERATIONS, &load_us) < 0)
		goto out;

	qsort(samples, iterations, sizeof(*samples), cmp_u64);
	double sum = 0;
	for (size_t i = 0; i < iterations; i++)
		sum += (double)samples[i];
	printf("promise %s\n", in.promise->name);
	printf("outputs %zu\n", noutputs);
	printf("output_bytes %zu\n", bytes);
	printf("iterations %zu\n", iterations);
	printf("warmup %zu\n", warmup);
	printf("median_us %.2f\n", percentile_us(samples, iterations, 50));
	printf("p90_us %.2f\n", percentile_us(samples, iterations, 90));
	printf("p99_us %.2f\n", percentile_us(samples, iterations, 99));
	printf("min_us %.2f\n", (double)samples[0] / 1000.0);
	printf("mean_us %.2f\n", sum / (double)iterations / 1000.0);
	printf("load_median_us %.2f\n", load_us);
	/* Throughput over the whole loop, clock reads included. */
	printf("renders_per_s %.0f\n", (double)iterations * 1e9 / (double)total_ns);
	status = EXIT_SUCCESS;
out:
	free(samples);
	kfs_node_free(doc);
	kfs_promise_set_free(&set);
	kfs_buf_free(&input);
	return status;
}

int main(int argc, char **argv)
{
	size_t iterations = DEFAULT_ITERATIONS;
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: %s PROMISES_DIR REQUEST_FILE [ITERATIONS]\n", argv[0]);
		return EXIT_FAILURE;
	}
	if (argc == 4) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(argv[3], &end, 10);
		if (errno || *end || n == 0 || n > MAX_ITERATIONS) {
			fprintf(stderr,
				"bench-render: ITERATIONS: \"%s\" is not a number in 1..%d\n",
				argv[3], MAX_ITERATIONS);
			return EXIT_FAILURE;
		}
		iterations = (size_t)n;
	}
	return run(argv[1], argv[2], iterations);
}
