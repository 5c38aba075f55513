/* What the Git unit tests share. */
#ifndef KRATIXFS_TEST_GITTEST_H
#define KRATIXFS_TEST_GITTEST_H

#include <string.h>

#include "kratixfs/gitstore.h"

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
