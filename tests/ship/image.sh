#!/bin/bash
# The same promise in a real cluster: `make image` builds the bundled promise's pipeline image
# (FROM scratch, with buildah), and its root, run under bubblewrap with a /kratix laid out as
# Kratix's reader lays it out (the whole object, its status included; empty output/ and
# metadata/; the KRATIX_* variables of a pipeline pod), renders exactly `kratixfs test`'s goldens.
# The promise.yaml that `kratixfs promise --image` prints names the image, runs each template
# container with the arguments the test runs, and still loads.
. "$(dirname "$0")/lib.sh"
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root (buildah's storage, bwrap)"
	exit 77
fi
for tool in buildah bwrap yq python3; do
	if ! command -v $tool >/dev/null; then
		echo "SKIP: $tool is missing (make deps installs it)"
		exit 77
	fi
done

TREE=$WORK/tree
IMG=localhost/kratixfs-ship-test-$$:t
copy_tree "$TREE"
at_exit "buildah rmi -f $IMG"
if make -C "$TREE" image IMAGE="$IMG" >"$WORK/image.log" 2>&1; then
	pass "make image IMAGE=$IMG builds the bundled promise's image"
else
	fail "make image IMAGE=$IMG builds the bundled promise's image"
	tail -n 30 "$WORK/image.log" >&2
	exit 1
fi
KFS=$TREE/build/kratixfs
PROMISE=$TREE/templates/postgresql
check "kratixfs test passes on the goldens the image is compared with" "$KFS" test "$PROMISE"

# The image: FROM scratch, so its only layer holds all it has.
buildah inspect --type image "$IMG" >"$WORK/inspect.json"
python3 - "$WORK/inspect.json" "$WORK" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
open(sys.argv[2] + "/entrypoint", "w").write("\n".join(d["OCIv1"]["config"].get("Entrypoint") or []))
open(sys.argv[2] + "/user", "w").write(d["OCIv1"]["config"].get("User", ""))
open(sys.argv[2] + "/layers", "w").write(str(len(d["OCIv1"]["rootfs"]["diff_ids"])))
EOF
[ -s "$WORK/entrypoint" ] && pass "the image has an entrypoint" || fail "the image has no entrypoint"
check "the image runs as a numeric user that is not root (runAsNonRoot)" \
	grep -qxE '[1-9][0-9]*(:[0-9]+)?' "$WORK/user"
check "the image is one layer: FROM scratch and one COPY" test "$(cat "$WORK/layers")" = 1
ctr=$(buildah from --pull-never "$IMG")
at_exit "buildah rm $ctr"
ROOT=$(buildah mount "$ctr")
at_exit "buildah umount $ctr"
check "the image holds the promise folder" test -f "$ROOT/usr/share/kratixfs/promises/postgresql/promise.yaml"
LOADER=$(ldd "$KFS" | awk '$1 ~ /^\// { print $1 }')
check "the image holds the dynamic loader $LOADER" test -f "$ROOT$LOADER"
check "the image holds nothing but kratixfs, its libraries, the promise and /kratix" test -z \
	"$(cd "$ROOT" && find . -mindepth 1 -maxdepth 1 | grep -vxE './(usr|lib|lib64|kratix)' | tr '\n' ' ')"
mapfile -t ENTRY <"$WORK/entrypoint"

# The promise.yaml for the cluster.
"$KFS" promise --image "$IMG" "$PROMISE" >"$WORK/promise.yaml" 2>"$WORK/promise.err"
check "kratixfs promise --image exits 0" test -s "$WORK/promise.yaml"
CONTAINERS='.spec.workflows[][][].spec.containers[]'
check "every pipeline container names the image" test \
	"$(yq -r "[$CONTAINERS | .image] | unique | join(\" \")" "$WORK/promise.yaml")" = "$IMG"
check "and nothing else changed" test \
	"$(yq -c -S "del($CONTAINERS.image, $CONTAINERS.args, $CONTAINERS.command)" "$WORK/promise.yaml")" = \
	"$(yq -c -S "del($CONTAINERS.image, $CONTAINERS.args, $CONTAINERS.command)" "$PROMISE/promise.yaml")"
check "the printed promise.yaml still loads with kratixfs validate" \
	"$KFS" validate "$WORK/promise.yaml" "$PROMISE/example-resource.yaml"

# kratix_volume CASE: $WORK/k-CASE, a /kratix as Kratix's reader leaves it for test case CASE:
# input/object.yaml is the object as the API server returns it (keys sorted, as Kratix's
# reader marshals them), with the fields the server adds and a status from an earlier run.
kratix_volume() {
	local k=$WORK/k-$1
	mkdir -p "$k/input" "$k/output" "$k/metadata"
	chmod 0777 "$k/output" "$k/metadata" # emptyDir volumes are world-writable
	yq -y -S '.metadata += {uid: "9d2c47b4-2b1e-4c55-8a43-0c8f2f6e6a11", resourceVersion: "48213",
		generation: 3, creationTimestamp: "2026-12-01T09:30:00Z",
		managedFields: [{manager: "kubectl-client-side-apply", operation: "Update",
			apiVersion: .apiVersion, fieldsType: "FieldsV1"}]}
		| .status = {message: "Pending", observedGeneration: 2,
			conditions: [{type: "ConfigureWorkflowCompleted", status: "False",
				reason: "PipelinesInProgress", message: "Pipelines are still in progress",
				lastTransitionTime: "2026-12-01T09:30:01Z"}]}' \
		"$PROMISE/test-input/$1.yaml" >"$k/input/object.yaml"
	echo "$k"
}

# run_image CASE TYPE PIPELINE: the image's entrypoint, with the args the printed promise.yaml
# gives the pipeline's container, under bwrap as user 65532 (the image's USER), with only the
# variables a Kratix pipeline pod sets (api/v1alpha1/pipeline_factory.go, defaultEnvVars).
run_image() {
	local k=$WORK/k-$1 type=$2 pipeline=$3
	local -a args
	mapfile -t args < <(yq -r ".spec.workflows.$type.configure[] |
		select(.metadata.name == \"$pipeline\") | .spec.containers[0].args[]" "$WORK/promise.yaml")
	local name ns kind
	name=$(yq -r .metadata.name "$k/input/object.yaml")
	ns=$(yq -r '.metadata.namespace // ""' "$k/input/object.yaml")
	kind=$(yq -r .kind "$k/input/object.yaml")
	bwrap --unshare-user --uid 65532 --gid 65532 --ro-bind "$ROOT" / --bind "$k" /kratix \
		--clearenv --setenv KRATIX_WORKFLOW_ACTION configure --setenv KRATIX_WORKFLOW_TYPE "$type" \
		--setenv KRATIX_PROMISE_NAME postgresql --setenv KRATIX_PIPELINE_NAME "$pipeline" \
		--setenv KRATIX_OBJECT_KIND "$kind" --setenv KRATIX_OBJECT_NAME "$name" \
		--setenv KRATIX_OBJECT_NAMESPACE "$ns" --setenv KRATIX_CLUSTER_SCOPED false \
		"${ENTRY[@]}" "${args[@]}" >"$WORK/run-$1.out" 2>"$WORK/run-$1.err" ||
		{ cat "$WORK/run-$1.err"; return 1; }
}

for c in "my-db resource instance-configure" "medium resource instance-configure" \
	"promise promise promise-configure"; do
	set -- $c
	k=$(kratix_volume "$1")
	check "case $1: the image renders the $2 workflow's $3 on /kratix" run_image "$1" "$2" "$3"
	check "case $1: output/ is the golden, byte for byte" diff -r "$PROMISE/test-output/$1/output" "$k/output"
	check "case $1: metadata/ is the golden, byte for byte" \
		diff -r "$PROMISE/test-output/$1/metadata" "$k/metadata"
	check_no_grep "case $1: the object's status is its status, not an unknown field" \
		"$WORK/run-$1.err" "unknown field"
done

# A later container of a pipeline: the files an earlier one left stay, status.yaml merges.
k=$(kratix_volume my-db)
rm -rf "$k/output" "$k/metadata"
mkdir -p "$k/output/earlier" "$k/metadata"
printf 'kind: ConfigMap\n' >"$k/output/earlier/cm.yaml"
printf 'message: from the earlier container\nearlier: kept\n' >"$k/metadata/status.yaml"
check "a second container on the same volume" run_image my-db resource instance-configure
check "  keeps the earlier container's output" test "$(cat "$k/output/earlier/cm.yaml")" = "kind: ConfigMap"
check "  adds its own" diff "$PROMISE/test-output/my-db/output/service.yaml" "$k/output/service.yaml"
check "  merges status.yaml: the earlier key kept" test "$(yq -r .earlier "$k/metadata/status.yaml")" = kept
check "  and the golden's keys replacing the same keys" test \
	"$(yq -c -S 'del(.earlier)' "$k/metadata/status.yaml")" = \
	"$(yq -c -S . "$PROMISE/test-output/my-db/metadata/status.yaml")"

finish
