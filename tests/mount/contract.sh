#!/bin/bash
# Kratix's contract through the mount (docs/kratix.md): a request's status persists between
# writes and across a remount and is the next render's .status; output/ shows one file a path
# (the later pipeline's); workflow-control.yaml suspends (nothing committed) and retryAfter runs
# the workflow again; Reconciled says what Kratix's says.
. "$(dirname "$0")/lib.sh"
REPO=$WORK/statestore.git
P=$PROMISES/st
A=$P/workflows/resource/configure/one/a/templates
B=$P/workflows/resource/configure/two/b/templates
mkdir -p "$A/output" "$A/metadata" "$B/output" "$B/metadata"
cat >"$P/promise.yaml" <<'YAML'
apiVersion: platform.kratix.io/v1alpha1
kind: Promise
metadata: {name: st}
spec:
  destinationSelectors: [{matchLabels: {environment: dev}}]
  api:
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata: {name: things.example.org}
    spec:
      group: example.org
      scope: Namespaced
      names: {kind: Thing, plural: things, singular: thing}
      versions:
        - name: v1
          served: true
          storage: true
          schema:
            openAPIV3Schema:
              type: object
              properties:
                spec:
                  type: object
                  properties:
                    mode: {type: string}
  workflows:
    resource:
      configure:
        - metadata: {name: one}
          spec: {containers: [{name: a}]}
        - metadata: {name: two}
          spec: {containers: [{name: b}]}
YAML
printf 'from: one\nmode: {{ .spec.mode }}\n' >"$A/output/shared.yaml"
cat >"$A/metadata/status.yaml" <<'YAML'
{{- if eq .spec.mode "first" }}
first: written-by-first
{{- end }}
lastMode: {{ .spec.mode }}
seenFirst: {{ .status.first | default "none" }}
attempts: {{ add (.status.attempts | default 0) 1 }}
retries: {{ if eq .spec.mode "retry" }}{{ add (.status.retries | default 0) 1 }}{{ else }}0{{ end }}
YAML
cat >"$A/metadata/workflow-control.yaml" <<'YAML'
{{- if eq .spec.mode "suspend" }}
suspend: true
message: waiting for approval
{{- else if and (eq .spec.mode "retry") (lt (.status.retries | default 0) 2) }}
retryAfter: 1s
{{- end }}
YAML
printf 'from: two\n' >"$B/output/shared.yaml"
printf 'twoRan: "yes"\n' >"$B/metadata/status.yaml"

thing() {
	printf 'apiVersion: example.org/v1\nkind: Thing\nmetadata: {name: t1, namespace: team}\n'
	printf 'spec: {mode: %s}\n' "$1"
}
head_of() { git --git-dir="$REPO" rev-parse main 2>/dev/null; }

mount_fs -o "git=$REPO"
R=$MNT/requests/t1
mkdir "$R"
thing first >"$R/object.yaml"
check_grep "the first write's status key" "$R/status.yaml" "first: written-by-first"
thing second >"$R/object.yaml"
check_grep "a key the first render wrote is still there after the second" "$R/status.yaml" \
	"first: written-by-first"
check_grep "the second render saw it as .status" "$R/status.yaml" "seenFirst: written-by-first"
check_grep "pipeline two ran" "$R/status.yaml" "twoRan:"
check_eq "output/ shows the later pipeline's shared.yaml" "$(cat "$R/output/shared.yaml")" \
	"from: two"
check_grep "the log says two pipelines wrote it" "$R/log" \
	"output/shared.yaml: written by pipelines one and two"
check_eq "Git keeps both pipelines' shared.yaml" \
	"$(git --git-dir="$REPO" ls-tree -r --name-only main | grep -c '/shared.yaml$')" 2
check_grep "Reconciled True once committed" "$R/status.yaml" "reason: Reconciled"

check "unmount" unmount_fs
mount_fs -o "git=$REPO"
check_grep "the status persists across a remount" "$R/status.yaml" "first: written-by-first"
check_grep "... and the remount did not render it again" "$R/status.yaml" "attempts: 2"

before=$(head_of)
thing suspend >"$R/object.yaml"
check_eq "suspend: true shows Kratix's Suspended state" "$(cat "$R/phase")" Suspended
check_grep "... Reconciled reason WorkflowSuspended" "$R/status.yaml" "reason: WorkflowSuspended"
check_grep "... with the control file's message" "$R/status.yaml" "waiting for approval"
check_eq "... and nothing is committed" "$(head_of)" "$before"
check_grep "... the outputs in force stay" "$R/output/shared.yaml" "from: two"

thing retry >"$R/object.yaml"
check_eq "retryAfter suspends the request" "$(cat "$R/phase")" Suspended
check "retryAfter runs the workflow again until it completes" \
	wait_for 30000 grep -qx Committed "$R/phase"
check_grep "... each run saw the last one's status" "$R/status.yaml" "retries: 3"
check "... and its outputs are committed" test "$(head_of)" != "$before"
check "unmount" unmount_fs
finish
