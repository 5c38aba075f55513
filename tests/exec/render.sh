#!/bin/bash
# Image and folder containers through `kratixfs render` and `kratixfs test`: the same manifests
# as the template promise, the KRATIX_* variables, two containers sharing /kratix, what a script
# cannot do in the sandbox, failures and their messages, the marketplace's redis promise.
. "$(dirname "$0")/../cli/lib.sh"
: "${KRATIXFS:?}" "${SOURCE_ROOT:?}"
. "$SOURCE_ROOT/tests/exec/lib.sh"
if ! command -v bwrap >/dev/null || [ ! -x /bin/busybox ]; then
	echo "SKIP: bwrap or busybox-static is missing (make deps)"
	exit 77
fi
P=$SOURCE_ROOT/tests/exec/promises
REQ=$SOURCE_ROOT/tests/exec/request.yaml
test_images "$WORK/layout" "$WORK" || { echo "FAIL: building the test images" >&2; exit 1; }
export KRATIXFS_IMAGES=$WORK/layout XDG_CACHE_HOME=$WORK/cache

render() { "$KRATIXFS" render --promises "$@"; }

# --- the same manifests from an image, a container folder and templates
expect_exit 0 "template render" -- render "$P/template" -f "$REQ"
cp "$WORK/out" "$WORK/template.out"
expect_exit 0 "image render" -- render "$P/image" -f "$REQ"
cmp -s "$WORK/out" "$WORK/template.out" && pass || fail "image output differs from the template's"
expect_exit 0 "folder render" -- render "$P/folder" -f "$REQ"
cmp -s "$WORK/out" "$WORK/template.out" && pass || fail "folder output differs from the template's"
expect_grep "$WORK/out" 'replicas: "3"' "the folder's script filled the template"

# kratixfs test: a golden case of the image promise, computed by the template promise.
cp -r "$P/image/greeting" "$WORK/golden"
mkdir -p "$WORK/golden/test-input" "$WORK/golden/test-output/hello/output"
cp "$REQ" "$WORK/golden/test-input/hello.yaml"
sed -n '/^apiVersion/,$p' "$WORK/template.out" >"$WORK/golden/test-output/hello/output/configmap.yaml"
expect_exit 0 "kratixfs test passes an image promise's golden" -- "$KRATIXFS" test "$WORK/golden"
sed -i 's/size: large/size: small/' "$WORK/golden/test-input/hello.yaml"
expect_exit 1 "kratixfs test fails when the image renders otherwise" -- "$KRATIXFS" test "$WORK/golden"

# --- the environment Kratix gives a container (api/v1alpha1/pipeline_factory.go)
sed -e 's/kind: Greeting/kind: Probe/' "$REQ" >"$WORK/probe.yaml"
mkdir -p "$WORK/k/input"
cp "$WORK/probe.yaml" "$WORK/k/input/object.yaml"
expect_exit 0 "resource workflow" -- render "$P" --kratix "$WORK/k"
cat >"$WORK/want-resource" <<'W'
GREETING=hello
HOME=/root
KRATIX_CLUSTER_SCOPED=false
KRATIX_CRD_PLURAL=probes
KRATIX_OBJECT_GROUP=test.kratixfs.io
KRATIX_OBJECT_KIND=Probe
KRATIX_OBJECT_NAME=hello
KRATIX_OBJECT_NAMESPACE=default
KRATIX_OBJECT_VERSION=v1
KRATIX_PIPELINE_NAME=main
KRATIX_PROMISE_NAME=probe
KRATIX_WORKFLOW_ACTION=configure
KRATIX_WORKFLOW_TYPE=resource
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WHO=hello-hello
W
diff -u "$WORK/want-resource" "$WORK/k/output/env-resource.txt" >&2 && pass ||
	fail "the resource workflow's environment"
expect_grep "$WORK/err" "env TOKEN: valueFrom is not supported" "valueFrom is a warning"
rm -rf "$WORK/k" && mkdir -p "$WORK/k/input"
sed -i 's/^  name: hello/  name: hello\n  labels: {kratix.io\/dry-run: "true"}/' "$WORK/probe.yaml"
cp "$WORK/probe.yaml" "$WORK/k/input/object.yaml"
expect_exit 0 "a dry-run request" -- render "$P" --kratix "$WORK/k"
expect_grep "$WORK/k/output/env-resource.txt" "KRATIX_DRY_RUN=true" "KRATIX_DRY_RUN for a dry-run label"
rm -rf "$WORK/k" && mkdir -p "$WORK/k/input"
cp "$P/probe/promise.yaml" "$WORK/k/input/object.yaml"
expect_exit 0 "promise workflow" -- render "$P" --kratix "$WORK/k"
cat >"$WORK/want-promise" <<'W'
HOME=/root
KRATIX_CLUSTER_SCOPED=true
KRATIX_CRD_PLURAL=promises
KRATIX_OBJECT_GROUP=platform.kratix.io
KRATIX_OBJECT_KIND=Promise
KRATIX_OBJECT_NAME=probe
KRATIX_OBJECT_NAMESPACE=
KRATIX_OBJECT_VERSION=v1alpha1
KRATIX_PIPELINE_NAME=promise-main
KRATIX_PROMISE_NAME=probe
KRATIX_WORKFLOW_ACTION=configure
KRATIX_WORKFLOW_TYPE=promise
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
W
diff -u "$WORK/want-promise" "$WORK/k/output/env-promise.txt" >&2 && pass ||
	fail "the promise workflow's environment"

# --- two containers of one pipeline share /kratix/output and /kratix/metadata
sed -e 's/kind: Greeting/kind: Two/' "$REQ" >"$WORK/k2.yaml"
rm -rf "$WORK/k" && mkdir -p "$WORK/k/input" && cp "$WORK/k2.yaml" "$WORK/k/input/object.yaml"
expect_exit 0 "two containers" -- render "$P" --kratix "$WORK/k"
expect_grep "$WORK/k/output/a.yaml" "name: from-first" "the first container's output stays"
expect_grep "$WORK/k/output/b.yaml" 'seen: "from-first"' "the second saw the first's output"
expect_grep "$WORK/k/output/b.yaml" 'status: "first ran"' "the second saw the first's status.yaml"
expect_grep "$WORK/k/metadata/status.yaml" 'second ran after "first ran"' "status.yaml as the second left it"

# --- what a script cannot do, and how failures read
mode() { sed -e 's/kind: Greeting/kind: Probe/' -e "s/size: large/size: large\n  mode: $1/" "$REQ"; }
mode fail >"$WORK/m.yaml"
expect_exit 2 "a script that exits 1 fails the render" -- render "$P" -f "$WORK/m.yaml"
expect_grep "$WORK/err" "container probe: exited with status 1" "the exit status is named"
expect_grep "$WORK/err" "the database is on fire" "the error ends with the script's stderr"
mode hang >"$WORK/m.yaml"
start=$(date +%s)
KRATIXFS_EXEC_TIMEOUT=2 expect_exit 2 "a script past the time limit" -- render "$P" -f "$WORK/m.yaml"
expect_grep "$WORK/err" "killed after 2 s" "the time limit is named"
[ $(($(date +%s) - start)) -lt 10 ] && pass || fail "the hung script was not killed in time"
mode escape >"$WORK/m.yaml"
expect_exit 2 "writing outside /kratix/output fails" -- render "$P" -f "$WORK/m.yaml"
expect_grep "$WORK/err" "cannot write /etc" "the root is read-only"
mode symlink >"$WORK/m.yaml"
expect_exit 2 "a symbolic link in output/ fails" -- render "$P" -f "$WORK/m.yaml"
expect_grep "$WORK/err" "output/passwd.yaml: is a symbolic link" "the link is named"
mode network >"$WORK/m.yaml"
expect_exit 0 "the network probe runs" -- render "$P" -f "$WORK/m.yaml"
expect_grep "$WORK/out" 'interfaces: "lo "' "only the loopback interface"
expect_grep "$WORK/out" "reached: false" "no address is reached"

# --- an image that is not there
sed 's#kratixfs.test/greeting-pipeline:v1#kratixfs.test/missing:v1#' "$P/image/greeting/promise.yaml" >"$WORK/missing.yaml"
mkdir -p "$WORK/pm/greeting" && cp "$WORK/missing.yaml" "$WORK/pm/greeting/promise.yaml"
render "$WORK/pm" -f "$REQ" >"$WORK/out" 2>"$WORK/err" && fail "a missing image renders" || pass
expect_grep "$WORK/err" "kratixfs.test/missing:v1" "the image is named"
expect_grep "$WORK/err" "podman pull" "and how to get it"

# --- the marketplace's redis promise: its internal/configure-pipeline/ folder is found by
# the image's name; its FROM "alpine" here is busybox without yq (mikefarah's yq is packaged
# nowhere this test can reach), so the script runs and fails on its first yq.
mkdir -p "$WORK/redis"
cp -r "$SOURCE_ROOT/tests/fixtures/real-promises/redis" "$WORK/redis/"
expect_exit 2 "redis renders up to its yq" -- render "$WORK/redis" \
	-f "$SOURCE_ROOT/tests/fixtures/real-promises/redis/resource-request.yaml"
expect_grep "$WORK/err" "exited with status 127" "the script ran and stopped"
expect_grep "$WORK/err" "yq: not found" "on its missing yq"
KRATIXFS_IMAGES= render "$WORK/redis" \
	-f "$SOURCE_ROOT/tests/fixtures/real-promises/redis/resource-request.yaml" \
	>"$WORK/out" 2>"$WORK/err" && fail "redis renders without an alpine image" || pass
expect_grep "$WORK/err" "alpine" "names the FROM image"
finish
