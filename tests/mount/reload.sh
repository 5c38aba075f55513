#!/bin/bash
# Live promises: editing a template re-renders within a second without a remount; a promise.yaml
# that no longer loads keeps the last good version and says why.
. "$(dirname "$0")/lib.sh"
mount_fs
R=$MNT/requests/my-db
mkdir "$R" && cp "$SEED" "$R/object.yaml"
T=$(find "$PROMISES/postgresql/workflows/resource" -path '*templates/output/statefulset.yaml')

start=$(date +%s%N)
echo "# edited-by-reload-test" >>"$T"
if wait_for 1000 grep -q "edited-by-reload-test" "$R/output/statefulset.yaml"; then
	pass "an edited template shows in output/ within 1 s ($((($(date +%s%N) - start) / 1000000)) ms)"
else
	fail "an edited template shows in output/ within 1 s"
fi

mkdir -p "$(dirname "$T")/extra"
echo "kind: ConfigMap" >"$(dirname "$T")/extra/cm.yaml"
check "a template in a new sub-folder shows within 1 s" \
	wait_for 1000 test -f "$R/output/extra/cm.yaml"

cp -r "$R/output" "$WORK/out-before"
cp "$PROMISES/postgresql/promise.yaml" "$WORK/promise.yaml"
echo "spec: [broken" >"$PROMISES/postgresql/promise.yaml"
check "a broken promise.yaml is reported in promises/postgresql/status.yaml within 1 s" \
	wait_for 1000 grep -q "promise.yaml" "$MNT/promises/postgresql/status.yaml"
sed 's/^/    | /' "$MNT/promises/postgresql/status.yaml" | head -n 8
sleep 0.3
check "outputs stay while the promise is broken" diff -r "$WORK/out-before" "$R/output"
request my-db large >"$WORK/large.yaml"
check "requests still render with the last good promise" cp "$WORK/large.yaml" "$R/object.yaml"
check_grep "  ... replicas: 3" "$R/output/statefulset.yaml" "replicas: 3"

cp "$WORK/promise.yaml" "$PROMISES/postgresql/promise.yaml"
check "the fixed promise.yaml clears the error within 1 s" \
	wait_for 1000 grep -q 'phase: Available' "$MNT/promises/postgresql/status.yaml"
check "unmount" unmount_fs
finish
