#!/bin/bash
# The mount's promises folder reads the kratix CLI's --split layout: a folder with api.yaml,
# dependencies.yaml and workflows/<type>/<action>/workflow.yaml is served like one with a
# promise.yaml (named after its folder), and a folder holding both layouts is refused by name.
. "$(dirname "$0")/lib.sh"
"$KRATIXFS" init promise db --group example.com --kind Database --dir "$WORK/init" >/dev/null
S=$PROMISES/db
mkdir -p "$S/workflows/resource/configure"
cp -r "$WORK/init/workflows/resource/configure/instance-configure" "$S/workflows/resource/configure/"
sed -n '/^  api:$/,/^  workflows:$/p' "$WORK/init/promise.yaml" | sed '1d;$d' | sed 's/^    //' >"$S/api.yaml"
printf '%s\n' '- apiVersion: v1' '  kind: Namespace' '  metadata:' '    name: db-system' >"$S/dependencies.yaml"
sed -n '/^      configure:$/,$p' "$WORK/init/promise.yaml" | sed '1d' | sed 's/^        //' \
	>"$S/workflows/resource/configure/workflow.yaml"
mount_fs
check "the split promise is listed" test -f "$MNT/promises/db/promise.yaml"
check_grep "its promise.yaml is assembled, named after its folder" "$MNT/promises/db/promise.yaml" "name: db"
check_grep "  ... with the CRD of api.yaml" "$MNT/promises/db/promise.yaml" "kind: Database"
check_grep "its dependencies are published" "$MNT/promises/db/output/static/db-dependencies.yaml" "name: db-system"
R=$MNT/requests/example
check "mkdir requests/example" mkdir "$R"
check "cp a request of the split promise" cp "$WORK/init/example-resource.yaml" "$R/object.yaml"
check "it renders as with promise.yaml" diff -r "$WORK/init/test-output/example/output" "$R/output"
check "rm -rf the request" rm -rf "$R"
# Both layouts in one folder: the promise does not load, and its status says why.
cp "$WORK/init/promise.yaml" "$S/promise.yaml"
kill -HUP "$DAEMON_PID"
wait_for 3000 grep -q "holds both promise.yaml and api.yaml" "$MNT/promises/db/status.yaml"
check_grep "a folder with both files names both" "$MNT/promises/db/status.yaml" "holds both promise.yaml and api.yaml"
check "unmount" unmount_fs
finish
