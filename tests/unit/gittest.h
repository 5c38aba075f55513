/* What the Git unit tests share. */
#ifndef KRATIXFS_TEST_GITTEST_H
#define KRATIXFS_TEST_GITTEST_H

#include <stdio.h>
#include <string.h>

#include "kratixfs/buf.h"
#include "kratixfs/gitstore.h"
#include "kratixfs/hash.h"

/* A WorkPlacement's name by Kratix's rules, computed here rather than by the code under test:
 * the Work is buildWorkIdentifier's "<promise>-<request>-<namespace>-<pipeline>" (request NULL:
 * "<promise>-<pipeline>"; pipeline NULL: the static dependencies, "<promise>-static-deps") plus
 * "-" and five characters (Kratix: random; kratixfs: md5 of the identifier), then
 * scheduler.go's "<work>.<destination>-<shortID(md5(directory))>". */
static inline const char *kratix_wp(char *out, size_t n, const char *promise, const char *request,
				    const char *ns, const char *pipeline, const char *dest,
				    const char *directory)
{
	char id[200], h[33], d[33];
	if (!pipeline)
		snprintf(id, sizeof(id), "%s-static-deps", promise);
	else if (request)
		snprintf(id, sizeof(id), "%s-%s-%s-%s", promise, request, ns, pipeline);
	else
		snprintf(id, sizeof(id), "%s-%s", promise, pipeline);
	kfs_md5_hex(id, h);
	kfs_md5_hex(directory, d);
	struct kfs_buf b = {0};
	kfs_buf_printf(&b, "%s-%.5s.%s-%.5s", id, h, dest, d);
	snprintf(out, n, "%s", b.data);
	kfs_buf_free(&b);
	return out;
}

/* worker-dev (environment: dev), worker-prod (environment: prod, strict) and a-plain (no labels). */
#define THREE_DESTS                                                                                \
	"apiVersion: platform.kratix.io/v1alpha1\n"                                                \
	"kind: Destination\n"                                                                      \
	"metadata: {name: worker-dev, labels: {environment: dev}}\n"                               \
	"spec: {path: dev}\n"                                                                      \
	"---\n"                                                                                    \
	"apiVersion: platform.kratix.io/v1alpha1\n"                                                \
	"kind: Destination\n"                                                                      \
	"metadata: {name: worker-prod, labels: {environment: prod}}\n"                             \
	"spec: {path: prod, strictMatchLabels: true}\n"                                            \
	"---\n"                                                                                    \
	"apiVersion: platform.kratix.io/v1alpha1\n"                                                \
	"kind: Destination\n"                                                                      \
	"metadata: {name: a-plain}\n"

/* One destination of filepath mode none ("flat") and one of aggregatedYAML ("agg"). */
#define MODE_DESTS                                                                                 \
	"kind: Destination\nmetadata: {name: flat}\n"                                             \
	"spec: {path: flat, filepath: {mode: none}}\n---\n"                                        \
	"kind: Destination\nmetadata: {name: agg}\n"                                              \
	"spec: {path: agg, filepath: {mode: aggregatedYAML}}\n"

static inline void dests(const char *text, struct kfs_destinations *d)
{
	struct kfs_error err = {0};
	if (kfs_destinations_parse(text, strlen(text), "destinations.yaml", d, &err) != 0)
		fail_msg("%s", err.msg);
}

#endif
