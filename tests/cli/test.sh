#!/usr/bin/env bash
# `kratixfs test`: passes on the bundled promise, fails with a diff when a golden file changes,
# and --update rewrites the goldens.
. "$(dirname "$0")/lib.sh"
cp -r "$SOURCE_ROOT/templates/postgresql" "$WORK/pg"

expect_exit 0 "bundled promise passes" -- "$KRATIXFS" test "$WORK/pg"
last=$(tail -n 1 "$WORK/out")
[[ "$last" =~ ^[1-9][0-9]*\ passed,\ 0\ failed$ ]] && pass || fail "last line is '$last'"

# Change one golden file: the case fails and the diff shows the line.
sts=$(grep -rl "kind: StatefulSet" "$WORK/pg/test-output/my-db/output" | head -1)
sed -i 's/replicas: 2/replicas: 7/' "$sts"
expect_exit 1 "changed golden fails" -- "$KRATIXFS" test "$WORK/pg"
expect_grep "$WORK/out" "FAIL: my-db" "the failing case is named"
expect_grep "$WORK/out" "-  replicas: 7" "diff shows the golden line"
expect_grep "$WORK/out" "+  replicas: 2" "diff shows the rendered line"
expect_grep "$WORK/out" "1 failed" "summary counts the failure"

# A missing golden file and an extra one both show up.
rm "$sts"
echo "extra: true" >"$WORK/pg/test-output/my-db/output/extra.yaml"
expect_exit 1 "missing and extra files" -- "$KRATIXFS" test "$WORK/pg"
expect_grep "$WORK/out" "--- /dev/null" "a file the golden lacks is shown as new"
expect_grep "$WORK/out" "+++ /dev/null" "a golden file no longer rendered is shown as gone"

# --update restores them; then the suite passes again.
expect_exit 0 "--update" -- "$KRATIXFS" test --update "$WORK/pg"
expect_grep "$WORK/out" "updated: my-db" "update names the case"
[ ! -e "$WORK/pg/test-output/my-db/output/extra.yaml" ] && pass || fail "--update left a stale file"
expect_exit 0 "passes after update" -- "$KRATIXFS" test "$WORK/pg"
diff -r "$SOURCE_ROOT/templates/postgresql/test-output" "$WORK/pg/test-output" >/dev/null && pass || fail "--update changed the goldens"

# A case that must be rejected: test-output/<case>/error holds the message.
sed 's/size: .*/size: huge/' "$WORK/pg/test-input/my-db.yaml" >"$WORK/pg/test-input/huge.yaml"
expect_exit 1 "new case without golden fails" -- "$KRATIXFS" test "$WORK/pg"
expect_exit 0 "--update records the error" -- "$KRATIXFS" test --update "$WORK/pg"
expect_grep "$WORK/pg/test-output/huge/error" "spec.size" "the recorded error names the field"
expect_exit 0 "error case passes" -- "$KRATIXFS" test "$WORK/pg"

# A promise folder that does not load: exit 2 with the reason.
expect_exit 2 "missing promise" -- "$KRATIXFS" test "$WORK/nope"
expect_grep "$WORK/err" "promise.yaml" "load error names the file"
finish
