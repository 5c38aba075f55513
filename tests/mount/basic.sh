#!/bin/bash
# The everyday paths: cp a request in, read the manifests, rewrite it with shell redirections.
. "$(dirname "$0")/lib.sh"
mount_fs
R=$MNT/requests/my-db

check "mkdir requests/my-db" mkdir "$R"
check "cp the seed request into object.yaml" cp "$SEED" "$R/object.yaml"
check_grep "statefulset has replicas: 2" "$R/output/statefulset.yaml" "replicas: 2"
check_grep "statefulset asks for 10Gi" "$R/output/statefulset.yaml" "storage: 10Gi"
check_eq "phase is Rendered" "$(cat "$R/phase")" "Rendered"
check "object.yaml reads back what cp wrote" cmp "$SEED" "$R/object.yaml"
check "diff -r output against the golden my-db case" diff -r "$GOLDEN/my-db/output" "$R/output"
check "diff -r metadata against the golden my-db case" diff -r "$GOLDEN/my-db/metadata" "$R/metadata"
check_eq "readdir lists object.yaml first (rm -rf order)" \
	"$(ls -f "$R" | grep -v '^\.\.\?$' | head -n 1)" "object.yaml"

bad=""
for f in "$R"/output/* "$R"/status.yaml "$R"/phase "$R"/object.yaml; do
	lsz=$(ls -l "$f" | awk '{print $5}')
	[ "$lsz" = "$(wc -c <"$f")" ] && [ "$(stat -c %s "$f")" = "$lsz" ] || bad="$bad $f"
done
check_eq "ls -l and stat sizes match wc -c" "$bad" ""
check_eq "stat: generated files are 0444" "$(stat -c %a "$R/output/statefulset.yaml")" "444"
check_eq "stat: object.yaml is 0644" "$(stat -c %a "$R/object.yaml")" "644"
check_eq "stat: a request is a directory" "$(stat -c %F "$R")" "directory"
check_eq "find lists the three outputs" \
	"$(cd "$MNT" && find requests/my-db/output -type f | sort | tr '\n' ' ')" \
	"requests/my-db/output/secret.yaml requests/my-db/output/service.yaml requests/my-db/output/statefulset.yaml "

request my-db small >"$WORK/small.yaml"
check "echo/cat > object.yaml (small)" sh -c "cat '$WORK/small.yaml' > '$R/object.yaml'"
check_grep "small: replicas: 1" "$R/output/statefulset.yaml" "replicas: 1"
check_grep "small: storage 1Gi" "$R/output/statefulset.yaml" "storage: 1Gi"

grep -v 'size:' "$SEED" >"$WORK/nosize.yaml"
check "object.yaml without size via >" sh -c "cat '$WORK/nosize.yaml' > '$R/object.yaml'"
check ">> appends '  size: large'" sh -c "echo '  size: large' >> '$R/object.yaml'"
check_grep "after >>: replicas: 3" "$R/output/statefulset.yaml" "replicas: 3"
check_eq "after >>: object.yaml is the concatenation" \
	"$(md5sum <"$R/object.yaml")" "$( (cat "$WORK/nosize.yaml"; echo '  size: large') | md5sum)"

check "printf in pieces into one open file" sh -c \
	"{ head -n 7 '$SEED'; printf '  si'; printf 'ze: sm'; printf 'all\n'; } > '$R/object.yaml'"
check_grep "pieces: replicas: 1" "$R/output/statefulset.yaml" "replicas: 1"

cp "$R/output/statefulset.yaml" "$WORK/before"
check "writing the same bytes again succeeds" sh -c "cat '$R/object.yaml' > '$WORK/same'; cat '$WORK/same' > '$R/object.yaml'"
gen=$(awk '/^generation:/{print $2}' "$R/status.yaml")
check "writing the same bytes a third time" sh -c "cat '$WORK/same' > '$R/object.yaml'"
check_eq "same bytes: generation unchanged" "$(awk '/^generation:/{print $2}' "$R/status.yaml")" "$gen"

# The pipeline slot at the root.
check "cp the seed into input/object.yaml" cp "$SEED" "$MNT/input/object.yaml"
check "root slot output matches golden my-db" diff -r "$GOLDEN/my-db/output" "$MNT/output"
check_grep "root status.yaml counts the request" "$MNT/status.yaml" "total: 1"
check "promises/ lists postgresql" test -d "$MNT/promises/postgresql"
check "promises/postgresql/promise.yaml is readable" grep -q "kind: Promise" "$MNT/promises/postgresql/promise.yaml"
check "promises/postgresql/output has the dependencies" \
	sh -c "ls -R '$MNT/promises/postgresql/output' | grep -q yaml"
check "df works on the mount" df "$MNT"
check_fails "xattrs are unsupported (setxattr)" python3 -c \
	"import os; os.setxattr('$R/object.yaml', 'user.x', b'1')"
check_grep "  ... with EOPNOTSUPP" "$WORK/err" "not supported"
check_fails "xattrs are unsupported (listxattr)" python3 -c \
	"import os; os.listxattr('$R/output/statefulset.yaml')"

# One fd reads one snapshot even when the request is rewritten under it.
exec 3<"$R/status.yaml"
head -c 10 <&3 >/dev/null
request my-db large >"$R/object.yaml"
check "an open status.yaml keeps its snapshot" sh -c "cat <&3 | grep -q 'replicas\|phase\|generation'"
exec 3<&-
check_grep "large after rewrite" "$R/output/statefulset.yaml" "replicas: 3"

check "unmount" unmount_fs
finish
