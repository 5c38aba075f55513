#!/usr/bin/env bash
# `kratixfs render` on a Kratix volume as one container of a pipeline pod (--container), on top
# of what the pipeline's earlier containers left in output/ and metadata/, with the object's
# status read from input/object.yaml; --promise; and `kratixfs promise --image`.
. "$(dirname "$0")/lib.sh"
unset KRATIX_WORKFLOW_TYPE KRATIX_WORKFLOW_ACTION KRATIX_PROMISE_NAME KRATIX_PIPELINE_NAME KRATIXFS_PROMISES
export KRATIX_WORKFLOW_TYPE=resource KRATIX_WORKFLOW_ACTION=configure

# A copy of the bundled promise whose resource pipeline has a second template container,
# "extra": one file of its own, one path the first container also writes (service.yaml), a
# status key of its own and one the first also writes (message), and destination selectors.
P=$WORK/promises/postgresql
mkdir -p "$WORK/promises"
cp -r "$SOURCE_ROOT/templates/postgresql" "$P"
python3 - "$P/promise.yaml" <<'EOF'
import sys
path = sys.argv[1]
text = open(path).read()
old = "                image: ghcr.io/kratixfs/postgresql-configure:v0.1.0\n"
assert text.count(old) == 1
text = text.replace(old, old + "              - name: extra\n                image: ghcr.io/example/extra:v1\n")
open(path, "w").write(text)
EOF
X=$P/workflows/resource/configure/instance-configure/extra/templates
mkdir -p "$X/output" "$X/metadata"
printf 'kind: ConfigMap\nmetadata:\n  name: {{ .metadata.name }}-extra\n' >"$X/output/extra.yaml"
printf 'kind: Service\nmetadata:\n  name: {{ .metadata.name }}-from-extra\n' >"$X/output/service.yaml"
printf 'message: extra ran\nextra: true\n' >"$X/metadata/status.yaml"
printf -- '- matchLabels:\n    extra: "yes"\n' >"$X/metadata/destination-selectors.yaml"

# new_volume NAME: $WORK/NAME, a /kratix as Kratix's reader leaves it, for the seed's request
# with the fields the API server adds and a status.
new_volume() {
	local k=$WORK/$1
	rm -rf "$k"
	mkdir -p "$k/input" "$k/output" "$k/metadata"
	{
		sed 's/^metadata:$/metadata:\n  uid: 0d5c1f0e-4a8b-4d4e-9d61-2f1f3c1b7a10\n  resourceVersion: "7"/' \
			"$SOURCE_ROOT/templates/postgresql/example-resource.yaml"
		printf 'status:\n  message: Pending\n  observedGeneration: 1\n'
	} >"$k/input/object.yaml"
	echo "$k"
}
render() { "$KRATIXFS" render --promises "$WORK/promises" "$@"; }

# The whole pipeline in one process, and its two containers one after the other on one volume
# as Kubernetes runs them: the same files, byte for byte.
A=$(new_volume whole)
expect_exit 0 "the whole pipeline" -- render --kratix "$A"
B=$(new_volume split)
expect_exit 0 "container 1 alone" -- render --kratix "$B" --container postgresql-configure
expect_no_grep "$WORK/err" "unknown field" "the object's status is not an unknown field"
[ ! -e "$B/output/extra.yaml" ] && pass || fail "container 1 rendered container 2's file"
expect_exit 0 "then container 2 alone" -- render --kratix "$B" --container extra
expect_grep "$WORK/out" "instance-configure/extra: rendered 2 file(s)" "container 2's log line"
diff -r "$A" "$B" >"$WORK/diff" && pass || { fail "one container at a time differs from the pipeline"; cat "$WORK/diff" >&2; }
expect_grep "$B/metadata/status.yaml" "message: extra ran" "the later container's message replaces"
expect_grep "$B/metadata/status.yaml" "connection:" "the earlier container's status keys stay"
expect_grep "$B/metadata/status.yaml" "extra: true" "the later container's status keys are added"
expect_grep "$B/output/service.yaml" "name: my-db-from-extra" "the later container's file replaces"

# What an earlier container (any image) left: kept, merged.
C=$(new_volume earlier)
printf -- '- matchLabels:\n    env: dev\n' >"$C/metadata/destination-selectors.yaml"
printf 'kept: yes\nmessage: earlier\n' >"$C/metadata/status.yaml"
printf 'kind: Secret\n' >"$C/output/left.yaml"
expect_exit 0 "a container after another image's" -- render --kratix "$C" --container extra
expect_grep "$C/output/left.yaml" "kind: Secret" "the earlier file stays"
expect_grep "$C/metadata/status.yaml" "kept: yes" "the earlier status key stays"
expect_no_grep "$C/metadata/status.yaml" "message: earlier" "the earlier message is replaced"
# The container's destination-selectors.yaml replaces the earlier one, as a file on Kratix's
# shared volume does (appending would list the root directory twice, which Kratix refuses).
[ "$(grep -c matchLabels "$C/metadata/destination-selectors.yaml")" = 1 ] && pass ||
	fail "destination selectors are appended to the earlier ones"
expect_grep "$C/metadata/destination-selectors.yaml" 'extra:' "the later container's selector replaces"
expect_no_grep "$C/metadata/destination-selectors.yaml" "env: dev" "the earlier selector is replaced"
# A container that writes no destination-selectors.yaml leaves the earlier file as it is.
E=$(new_volume nosel)
printf -- '- matchLabels:\n    env: dev\n' >"$E/metadata/destination-selectors.yaml"
expect_exit 0 "a container writing no selectors" -- render --kratix "$E" --container postgresql-configure
expect_grep "$E/metadata/destination-selectors.yaml" "env: dev" "the earlier selectors stay"
printf -- '- not a map\n' >"$C/metadata/status.yaml"
expect_exit 2 "an earlier status.yaml that is not a map" -- render --kratix "$C" --container extra
expect_grep "$WORK/err" "metadata/status.yaml: an earlier container left a array, not a map" "names the file"

# Errors name what to fix.
D=$(new_volume errors)
expect_exit 2 "an unknown container" -- render --kratix "$D" --container nope
expect_grep "$WORK/err" "pipeline instance-configure of promise postgresql has no container named nope" "unknown container message"
KRATIX_PIPELINE_NAME=nope expect_exit 2 "an unknown pipeline" -- render --kratix "$D" --container extra
expect_grep "$WORK/err" "pipeline nope is not in the resource configure workflow of promise postgresql" "unknown pipeline message"
expect_exit 2 "--promise with --promises" -- render --kratix "$D" --promise "$P"
printf 'status: [1]\n' >>"$D/input/object.yaml"
sed -i '/^status:$/,/observedGeneration/d' "$D/input/object.yaml"
expect_exit 1 "a status that is not a map" -- render --kratix "$D"
expect_grep "$WORK/err" "status: must be a map" "bad status message"

# --promise: one promise folder; KRATIX_PROMISE_NAME must name it.
E=$(new_volume one)
expect_exit 0 "--promise DIR" -- "$KRATIXFS" render --kratix "$E" --promise "$P" --container extra
[ -f "$E/output/extra.yaml" ] && pass || fail "--promise did not render"
KRATIX_PROMISE_NAME=redis expect_exit 2 "KRATIX_PROMISE_NAME is another promise" -- \
	"$KRATIXFS" render --kratix "$E" --promise "$P"
expect_grep "$WORK/err" "KRATIX_PROMISE_NAME is redis, but --promise $P holds promise postgresql" "names both"

# A template container's workflow-control.yaml reaches the volume in Kratix's fields, for
# Kratix's work-creator to read; without one, none is written.
[ ! -e "$A/metadata/workflow-control.yaml" ] && pass || fail "a workflow-control.yaml nobody asked for"
printf 'suspend: {{ eq .spec.size "large" }}\nretryAfter: 90s\nmessage: waiting for {{ .metadata.name }}\n' \
	>"$X/metadata/workflow-control.yaml"
W=$(new_volume control)
expect_exit 0 "a container asking to retry" -- render --kratix "$W" --container extra
expect_grep "$W/metadata/workflow-control.yaml" "retryAfter: 90s" "retryAfter written"
expect_grep "$W/metadata/workflow-control.yaml" "message: waiting for my-db" "message written"
expect_no_grep "$W/metadata/workflow-control.yaml" "suspend: true" "a false suspend is not written as true"
rm "$X/metadata/workflow-control.yaml"

# kratixfs promise --image: every template container runs the image, with its name as argument.
expect_exit 0 "promise --image" -- "$KRATIXFS" promise --image reg.example/pg:1 "$P"
cp "$WORK/out" "$WORK/promise.yaml"
[ "$(grep -c 'image: reg.example/pg:1' "$WORK/promise.yaml")" = 3 ] && pass ||
	fail "not every template container names the image"
expect_no_grep "$WORK/promise.yaml" "ghcr.io" "no container keeps its old image"
python3 - "$WORK/promise.yaml" >"$WORK/args" <<'EOF'
import re, sys
# The args lines after each container name, in order.
text = open(sys.argv[1]).read()
for m in re.finditer(r'- name: (\S+)\n\s+image: \S+\n\s+args:\n\s+- "--container"\n\s+- (\S+)\n', text):
    print(m.group(1), m.group(2))
EOF
[ "$(tr '\n' ' ' <"$WORK/args")" = "dependencies dependencies postgresql-configure postgresql-configure extra extra " ] &&
	pass || { fail "each container's args name it"; cat "$WORK/args" >&2; }
expect_exit 0 "the printed promise.yaml validates a request" -- \
	"$KRATIXFS" validate "$WORK/promise.yaml" "$SOURCE_ROOT/templates/postgresql/example-resource.yaml"
expect_exit 2 "promise without --image" -- "$KRATIXFS" promise "$P"
expect_exit 2 "promise with an image with a space" -- "$KRATIXFS" promise --image "a b" "$P"
expect_grep "$WORK/err" 'is not an image reference' "bad image message"
mkdir -p "$WORK/not-a-promise"
expect_exit 2 "promise with a folder that is not a promise" -- "$KRATIXFS" promise --image x "$WORK/not-a-promise"

finish
