/* What the template tests share: a parsed request with the values, promise and workflow of a
 * template's context. Include after cmocka.h. Each test file defines `request` (its YAML) and
 * TMPLTEST_PIPELINE (the workflow's pipeline name) before including this. */
#ifndef KRATIXFS_TMPLTEST_H
#define KRATIXFS_TMPLTEST_H

#include <stdlib.h>
#include <string.h>

#include "kratixfs/doc.h"
#include "kratixfs/template.h"

struct fix {
	struct kfs_node *req, *values, *promise, *workflow;
	struct kfs_tcontext ctx;
};

static struct kfs_node *parse(const char *yaml)
{
	struct kfs_node *n = NULL;
	struct kfs_error err = {0};
	if (kfs_doc_parse(yaml, strlen(yaml), "test.yaml", &n, &err))
		fail_msg("parse: %s", err.msg);
	return n;
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	f->req = parse(request);
	f->values = parse("storage: 10Gi\nreplicas: 2\n");
	f->promise = parse("name: postgresql\nversion: v1.2.0\n");
	f->workflow = parse("type: resource\naction: configure\npipeline: " TMPLTEST_PIPELINE "\n");
	f->ctx = (struct kfs_tcontext){f->req, f->values, f->promise, f->workflow};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	kfs_node_free(f->req);
	kfs_node_free(f->values);
	kfs_node_free(f->promise);
	kfs_node_free(f->workflow);
	free(f);
	return 0;
}

#endif
