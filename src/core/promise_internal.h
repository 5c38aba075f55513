/* What the parts of promise loading share (private to core): promise.c loads promises,
 * promise_split.c assembles the --split layout, promise_admit.c checks requests. */
#ifndef KRATIXFS_PROMISE_INTERNAL_H
#define KRATIXFS_PROMISE_INTERNAL_H

#include "kratixfs/promise.h"

/* Appends the Pipelines of list to wf, or only checks them when wf is NULL. file and where
 * place the list for messages: "promise.yaml" and "spec.workflows.resource.configure", or a
 * split layout's workflow file and "" (the file holds nothing else). */
int kfs_promise_add_pipelines(struct kfs_workflow *wf, const struct kfs_node *list,
			      const char *file, const char *where, struct kfs_error *err);
/* The Promise document of the split layout in dir, named after the folder. */
int kfs_promise_assemble_split(const char *dir, struct kfs_node **out, struct kfs_error *err);
/* The promise's kind when request names it in another case, for a hint; else NULL. */
const char *kfs_promise_kind_in_other_case(const struct kfs_promise *p,
					   const struct kfs_node *request);

/* Reads each container's image, command, args and env from the Promise document into the
 * workflows' containers (file names the document in messages). */
int kfs_promise_container_specs(struct kfs_promise *p, const char *file, struct kfs_error *err);
/* The marketplace's pipeline folder for a container image: internal/<base>/ where <base> is the
 * image's last path part without tag, or that without a leading "<promise>-"; NULL if neither
 * is a folder. */
char *kfs_promise_internal_folder(const char *promise_dir, const char *promise_name,
				  const char *image);

#endif
