#!/bin/bash
# Errors reach close(): rejected input (EINVAL), too large (EFBIG); the previous outputs stay.
# Generated files are read-only for root too; feedback accepts only its words.
. "$(dirname "$0")/lib.sh"
mount_fs -o max_input=4096
R=$MNT/requests/my-db
mkdir "$R" && cp "$SEED" "$R/object.yaml"
cp -r "$R/output" "$WORK/out-before"

request my-db huge >"$WORK/huge.yaml"
check_fails "cp of a request with size: huge fails" cp "$WORK/huge.yaml" "$R/object.yaml"
check_grep "  ... cp says Invalid argument" "$WORK/err" "Invalid argument"
check_fails "shell redirection of size: huge fails" sh -c "cat '$WORK/huge.yaml' > '$R/object.yaml'"
check_grep "status.yaml explains it (spec.size)" "$R/status.yaml" "spec.size"
check "status.yaml has a rejected condition" grep -qi "reject" "$R/status.yaml"
check_eq "phase keeps the previous phase (EINVAL keeps outputs)" "$(cat "$R/phase")" "Rendered"
check "object.yaml keeps the previous content" cmp "$SEED" "$R/object.yaml"
check "the previous outputs are untouched" diff -r "$WORK/out-before" "$R/output"

# Shell builtins (echo, printf, :) lose close()'s error: the shell restores its fd with dup2,
# which closes silently. External tools (coreutils check close) report it, as here.
check_fails "not YAML is refused" sh -c "env printf 'a: [b\n' > '$R/object.yaml'"
check_grep "  ... printf reports EINVAL" "$WORK/err" "Invalid argument"
check_fails "a different metadata.name is refused" sh -c \
	"sed 's/name: my-db/name: other/' '$SEED' > '$R/object.yaml'"
check_fails "truncate -s0 object.yaml is refused" truncate -s0 "$R/object.yaml"
: >"$R/object.yaml"
check_grep "': >' (a builtin, error lost) still explains it in status.yaml" "$R/status.yaml" \
	"no YAML document"
check "object.yaml keeps the seed after all that" cmp "$SEED" "$R/object.yaml"
check "after all that, outputs still untouched" diff -r "$WORK/out-before" "$R/output"

head -c 5000 /dev/zero | tr '\0' '#' >"$WORK/big"
check_fails "5000 bytes over max_input=4096 fail" cp "$WORK/big" "$R/object.yaml"
check_grep "  ... with EFBIG (File too large)" "$WORK/err" "too large"
check "object.yaml still the seed after EFBIG" cmp "$SEED" "$R/object.yaml"

check_fails "mkdir of a bad name (Bad_Name)" mkdir "$MNT/requests/Bad_Name"
check_grep "  ... EINVAL" "$WORK/err" "Invalid argument"
check_fails "mkdir of an existing request" mkdir "$R"
check_grep "  ... EEXIST" "$WORK/err" "exists"
check_fails "object.yaml in a request that does not exist" cp "$SEED" "$MNT/requests/nope/object.yaml"
check_fails "a plain file directly in requests/" sh -c "echo x > '$MNT/requests/file'"

# Read-only as root.
O=$R/output/statefulset.yaml
check_fails "echo x > output/statefulset.yaml" sh -c "echo x > '$O'"
check_grep "  ... Read-only file system" "$WORK/err" "Read-only"
check_fails "echo x >> output/statefulset.yaml" sh -c "echo x >> '$O'"
check_fails "rm output/statefulset.yaml" rm -f "$O"
check_fails "chmod 666 output/statefulset.yaml" chmod 666 "$O"
check_fails "touch output/statefulset.yaml" touch "$O"
check_fails "truncate -s0 output/statefulset.yaml" truncate -s0 "$O"
check_fails "mv output/statefulset.yaml" mv "$O" "$R/output/x.yaml"
check_fails "create output/new.yaml" sh -c "echo x > '$R/output/new.yaml'"
check_fails "mkdir in output/" mkdir "$R/output/sub"
check_fails "mkdir inside a request" mkdir "$R/sub"
check_fails "rmdir output/ of a request with an object" rmdir "$R/output"
check_fails "rmdir the request while it has an object" rmdir "$R"
check_fails "echo x > status.yaml" sh -c "echo x > '$R/status.yaml'"
check_fails "echo x > phase" sh -c "echo x > '$R/phase'"
check_fails "test -w output/statefulset.yaml (access W_OK)" test -w "$O"
check "test -w object.yaml" test -w "$R/object.yaml"
check_fails "echo x > promises/postgresql/promise.yaml" sh -c "echo x > '$MNT/promises/postgresql/promise.yaml'"
check_fails "echo x > /status.yaml" sh -c "echo x > '$MNT/status.yaml'"
check "outputs survived every attempt" diff -r "$WORK/out-before" "$R/output"

# Feedback from the GitOps side.
check "echo Applied > feedback" sh -c "echo Applied > '$R/feedback'"
check_eq "phase Applied" "$(cat "$R/phase")" "Applied"
check "echo Ready > feedback" sh -c "echo Ready > '$R/feedback'"
check_eq "phase Ready" "$(cat "$R/phase")" "Ready"
check_fails "echo bogus > feedback fails" sh -c "/bin/echo bogus > '$R/feedback'"
check_grep "  ... EINVAL" "$WORK/err" "Invalid argument"
check_fails "Ready @99 (a stale/future generation) fails" sh -c "/bin/echo 'Ready @99' > '$R/feedback'"
check_eq "phase still Ready" "$(cat "$R/phase")" "Ready"

check "unmount" unmount_fs
finish
