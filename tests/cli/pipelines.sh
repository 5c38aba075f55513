#!/usr/bin/env bash
# Kratix's contract through the commands: one Work per pipeline (two pipelines writing one path,
# each printed by `kratixfs render -f`, both kept by `kratixfs test`'s goldens), the object's
# status on the Kratix volume, status.yaml and workflow-control.yaml left in metadata/.
. "$(dirname "$0")/lib.sh"
P="$WORK/promises/app"
C=workflows/resource/configure
mkdir -p "$P"
cat >"$P/promise.yaml" <<'YAML'
apiVersion: platform.kratix.io/v1alpha1
kind: Promise
metadata: {name: app}
spec:
  api:
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata: {name: apps.example.org}
    spec:
      group: example.org
      names: {kind: App, plural: apps, singular: app}
      scope: Namespaced
      versions:
        - name: v1
          served: true
          storage: true
          schema:
            openAPIV3Schema:
              type: object
              properties:
                spec: {type: object, properties: {gate: {type: boolean}}}
  workflows:
    resource:
      configure:
        - apiVersion: platform.kratix.io/v1alpha1
          kind: Pipeline
          metadata: {name: first}
          spec: {containers: [{name: one, image: x}]}
        - apiVersion: platform.kratix.io/v1alpha1
          kind: Pipeline
          metadata: {name: second}
          spec: {containers: [{name: two, image: x}]}
YAML
w() { mkdir -p "$(dirname "$P/$1")"; cat >"$P/$1"; }
printf 'from: first\nseen: {{ .status.seen | default "nothing" }}\n' | w $C/first/one/templates/output/shared.yaml
printf 'only: first\n' | w $C/first/one/templates/output/first.yaml
printf 'seen: first\n' | w $C/first/one/templates/metadata/status.yaml
printf '{{ if .spec.gate }}suspend: true\nmessage: gated{{ end }}\n' | w $C/first/one/templates/metadata/workflow-control.yaml
printf 'from: second\nseen: {{ .status.seen }}\n' | w $C/second/two/templates/output/shared.yaml
printf 'apiVersion: example.org/v1\nkind: App\nmetadata: {name: a, namespace: default}\nspec: {}\n' >"$WORK/req.yaml"

# render -f: every Work's files, each under its pipeline's # Source: line, in workflow order.
expect_exit 0 "render -f" -- "$KRATIXFS" render --promises "$WORK/promises" -f "$WORK/req.yaml"
expect_grep "$WORK/out" "# Source: first/shared.yaml" "render prints pipeline first's file"
expect_grep "$WORK/out" "# Source: second/shared.yaml" "render prints pipeline second's file"
[ "$(grep -n 'Source: first/shared' "$WORK/out" | cut -d: -f1)" -lt \
  "$(grep -n 'Source: second/shared' "$WORK/out" | cut -d: -f1)" ] && pass ||
	fail "first's shared.yaml comes before second's"
expect_grep "$WORK/out" "seen: first" "pipeline second reads pipeline first's status"

# A status written in the request is not the object's.
printf 'status: {seen: forged}\n' >>"$WORK/req.yaml"
expect_exit 0 "render -f with a status" -- "$KRATIXFS" render --promises "$WORK/promises" -f "$WORK/req.yaml"
expect_grep "$WORK/err" 'ignored field "status"' "a request's status is dropped with a warning"
expect_grep "$WORK/out" "seen: nothing" "templates do not see the request's status"

# --kratix: input/object.yaml is the object, its status included; output/ holds the union;
# metadata/status.yaml holds what the pipelines wrote, not the object's status.
K="$WORK/kratix"
mkdir -p "$K/input" "$K/output" "$K/metadata"
printf 'apiVersion: example.org/v1\nkind: App\nmetadata: {name: a, namespace: default}\nspec: {}\nstatus:\n  seen: before\n  kratix: {workflows: {}}\n' >"$K/input/object.yaml"
KRATIX_PIPELINE_NAME=first expect_exit 0 "render --kratix" -- \
	env KRATIX_PIPELINE_NAME=first "$KRATIXFS" render --promises "$WORK/promises" --kratix "$K"
expect_grep "$K/output/shared.yaml" "seen: before" "the object's status is read from input/object.yaml"
expect_grep "$K/metadata/status.yaml" "seen: first" "metadata/status.yaml holds the pipeline's status"
expect_no_grep "$K/metadata/status.yaml" "kratix" "metadata/status.yaml does not copy the object's status"
rm -rf "$K/output" "$K/metadata"; mkdir -p "$K/output" "$K/metadata"
expect_exit 0 "render --kratix, all pipelines" -- "$KRATIXFS" render --promises "$WORK/promises" --kratix "$K"
expect_grep "$K/output/shared.yaml" "from: second" "output/ shows the later pipeline's file"
[ -e "$K/output/first.yaml" ] && pass || fail "output/ has pipeline first's other file"

# kratixfs test: output/ is the union, pipelines/<p>/<path> each Work's copy of a shared path.
mkdir -p "$P/test-input"
printf 'apiVersion: example.org/v1\nkind: App\nmetadata: {name: a, namespace: default}\nspec: {}\n' >"$P/test-input/two.yaml"
printf 'apiVersion: example.org/v1\nkind: App\nmetadata: {name: a, namespace: default}\nspec: {gate: true}\nstatus: {seen: earlier}\n' >"$P/test-input/gated.yaml"
expect_exit 0 "test --update" -- "$KRATIXFS" test --update "$P"
G="$P/test-output"
expect_grep "$G/two/output/shared.yaml" "from: second" "the golden's output/ is the union"
expect_grep "$G/two/pipelines/first/shared.yaml" "from: first" "pipeline first's copy is kept"
expect_grep "$G/two/pipelines/second/shared.yaml" "from: second" "pipeline second's copy is kept"
[ ! -e "$G/two/pipelines/first/first.yaml" ] && pass || fail "a path one pipeline writes is not copied"
expect_grep "$G/gated/metadata/workflow-control.yaml" "message: gated" "the golden holds workflow-control.yaml"
[ ! -e "$G/gated/output" ] && pass || fail "a suspending pipeline's files make no Work, and the next does not run"
expect_grep "$G/gated/metadata/status.yaml" "seen: first" "the suspending pipeline's status still merges"
finish
