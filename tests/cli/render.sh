#!/usr/bin/env bash
# `kratixfs render` as a pipeline container runs it: the /kratix contract, KRATIX_* variables,
# exit codes 0/1/2, and the write errors of docs/mount.md that apply without a mount.
. "$(dirname "$0")/lib.sh"
PROMISES="$SOURCE_ROOT/templates"
unset KRATIX_WORKFLOW_TYPE KRATIX_WORKFLOW_ACTION KRATIX_PROMISE_NAME KRATIX_PIPELINE_NAME

new_kratix() { rm -rf "$WORK/k"; mkdir -p "$WORK/k/input" "$WORK/k/output" "$WORK/k/metadata"; }

# The seed's request: medium gives 2 replicas and a 10Gi claim.
new_kratix
cp "$PROMISES/postgresql/example-resource.yaml" "$WORK/k/input/object.yaml"
expect_exit 0 "render of the seed's request" -- "$KRATIXFS" render --promises "$PROMISES" --kratix "$WORK/k"
sts=$(grep -l "kind: StatefulSet" "$WORK"/k/output/* | head -1)
[ -n "$sts" ] && pass || fail "no StatefulSet in output/"
expect_grep "$sts" "replicas: 2" "StatefulSet replicas for medium"
expect_grep "$sts" "storage: 10Gi" "volume claim for medium"
grep -l "kind: Service$" "$WORK"/k/output/* >/dev/null && pass || fail "no Service in output/"
grep -l "kind: Secret$" "$WORK"/k/output/* >/dev/null && pass || fail "no Secret in output/"
expect_grep "$WORK/k/metadata/status.yaml" "message:" "status message"
expect_no_grep "$WORK/k/metadata/status.yaml" "password:" "status never holds a password"

# Twice in a row: byte-identical.
cp -r "$WORK/k" "$WORK/first"
expect_exit 0 "second render" -- "$KRATIXFS" render --promises "$PROMISES" --kratix "$WORK/k"
diff -r "$WORK/first" "$WORK/k" >/dev/null && pass || fail "two renders differ"

# KRATIX_PIPELINE_NAME names an unknown pipeline: a render failure (exit 2).
KRATIX_PIPELINE_NAME=nope expect_exit 2 "unknown pipeline" -- "$KRATIXFS" render --promises "$PROMISES" --kratix "$WORK/k"
expect_grep "$WORK/err" "pipeline nope is not in the resource configure workflow" "unknown pipeline message"

# size: huge is rejected (exit 1), naming spec.size and the allowed values; outputs untouched.
new_kratix
sed 's/size: medium/size: huge/' "$PROMISES/postgresql/example-resource.yaml" >"$WORK/k/input/object.yaml"
expect_exit 1 "size: huge" -- "$KRATIXFS" render --promises "$PROMISES" --kratix "$WORK/k"
expect_grep "$WORK/err" "spec.size" "error names the field"
expect_grep "$WORK/err" "small, medium, large" "error lists the allowed values"
expect_grep "$WORK/err" "kratixfs: " "error has the kratixfs: prefix"
[ -z "$(ls -A "$WORK/k/output")" ] && pass || fail "a rejected render wrote output"

# Not YAML: exit 1 with the line.
printf 'apiVersion: v1\nkind: [oops\n' >"$WORK/k/input/object.yaml"
expect_exit 1 "not YAML" -- "$KRATIXFS" render --promises "$PROMISES" --kratix "$WORK/k"
expect_grep "$WORK/err" "not valid YAML" "parse error says so"

# Wrong kind: exit 1, listing the kinds served.
printf 'apiVersion: example.com/v1\nkind: Redis\nmetadata: {name: r}\n' >"$WORK/k/input/object.yaml"
expect_exit 1 "unknown kind" -- "$KRATIXFS" render --promises "$PROMISES" --kratix "$WORK/k"
expect_grep "$WORK/err" "kinds served: Postgresql" "unknown kind lists the kinds served"

# Kinds are case-sensitive, as in the API server: the near miss is named.
sed 's/kind: Postgresql/kind: postgresql/' "$PROMISES/postgresql/example-resource.yaml" >"$WORK/k/input/object.yaml"
expect_exit 1 "lower-case kind" -- "$KRATIXFS" render --promises "$PROMISES" --kratix "$WORK/k"
expect_grep "$WORK/err" "kinds are case-sensitive: did you mean Postgresql?" "kind hint"

# Bad name: rejected.
sed 's/name: my-db/name: My_DB/' "$PROMISES/postgresql/example-resource.yaml" >"$WORK/k/input/object.yaml"
expect_exit 1 "bad metadata.name" -- "$KRATIXFS" render --promises "$PROMISES" --kratix "$WORK/k"
expect_grep "$WORK/err" "metadata.name" "bad name names the field"

# Larger than --max-input: exit 1, naming the limit.
cp "$PROMISES/postgresql/example-resource.yaml" "$WORK/k/input/object.yaml"
expect_exit 1 "too large" -- "$KRATIXFS" render --promises "$PROMISES" --kratix "$WORK/k" --max-input 10
expect_grep "$WORK/err" "10-byte limit" "size error names the limit"

# A template error is a render failure (exit 2) naming file, line and path.
cp -r "$PROMISES" "$WORK/promises"
svc=$(grep -rl "kind: Service$" "$WORK/promises/postgresql/workflows/resource")
printf '\nbroken: {{ .spec.nosuchfield }}\n' >>"$svc"
new_kratix
cp "$PROMISES/postgresql/example-resource.yaml" "$WORK/k/input/object.yaml"
expect_exit 2 "template error" -- "$KRATIXFS" render --promises "$WORK/promises" --kratix "$WORK/k"
expect_grep "$WORK/err" ".spec.nosuchfield" "template error names the path"
expect_grep "$WORK/err" "$(basename "$svc")" "template error names the file"

# The promise workflow, chosen by KRATIX_WORKFLOW_TYPE or by a kind: Promise input.
new_kratix
cp "$PROMISES/postgresql/promise.yaml" "$WORK/k/input/object.yaml"
KRATIX_WORKFLOW_TYPE=promise expect_exit 0 "promise workflow" -- "$KRATIXFS" render --promises "$PROMISES" --kratix "$WORK/k"
grep -rl "kind: ServiceAccount" "$WORK/k/output" >/dev/null && pass || fail "promise workflow wrote no ServiceAccount"
KRATIX_WORKFLOW_TYPE=bogus expect_exit 2 "bad KRATIX_WORKFLOW_TYPE" -- "$KRATIXFS" render --promises "$PROMISES" --kratix "$WORK/k"
expect_grep "$WORK/err" "KRATIX_WORKFLOW_TYPE" "bad workflow type is named"

# Missing input: rejected with the path.
rm -f "$WORK/k/input/object.yaml"
expect_exit 1 "missing input" -- "$KRATIXFS" render --promises "$PROMISES" --kratix "$WORK/k"
expect_grep "$WORK/err" "input/object.yaml" "missing input names the file"

# A typo'd field is pruned, as the API server does, and warned of, as kubectl does: exit 0.
new_kratix
sed 's/^  size: medium$/  size: medium\n  sise: large/' "$PROMISES/postgresql/example-resource.yaml" >"$WORK/k/input/object.yaml"
expect_exit 0 "unknown field" -- "$KRATIXFS" render --promises "$PROMISES" --kratix "$WORK/k"
expect_grep "$WORK/err" 'Warning: unknown field "spec.sise"' "pruned field is warned of"
grep -rq sise "$WORK/k/output" && fail "a pruned field reached output/" || pass

# An annotation (any string, for Kubernetes too) holding U+2028 LINE SEPARATOR, then a
# ClusterRoleBinding to cluster-admin: YAML reads U+2028 as a line break, so written unquoted it
# would add a document. It is refused (exit 2); quoted, it is escaped: one ConfigMap.
rm -rf "$WORK/inject"; cp -r "$PROMISES" "$WORK/inject"
note="$WORK/inject/postgresql/workflows/resource/configure/instance-configure/postgresql-configure/templates/output/note.yaml"
[ -d "$(dirname "$note")" ] || fail "no container folder at $(dirname "$note")"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .metadata.name }}-note\ndata:\n  team: {{ .metadata.annotations.team }}\n' >"$note"
LS='\u2028'
new_kratix
{ sed '/^  namespace:/a\  annotations:' "$PROMISES/postgresql/example-resource.yaml" | sed '/^  annotations:/q'
  printf '    team: "acid%s---%sapiVersion: rbac.authorization.k8s.io/v1%skind: ClusterRoleBinding%smetadata: {name: pwned}%sroleRef: {kind: ClusterRole, name: cluster-admin}"\n' $LS $LS $LS $LS $LS
  sed -n '/^spec:/,$p' "$PROMISES/postgresql/example-resource.yaml"; } >"$WORK/k/input/object.yaml"
expect_exit 0 "the request with U+2028 is valid" -- "$KRATIXFS" validate "$PROMISES/postgresql/promise.yaml" "$WORK/k/input/object.yaml"
expect_exit 2 "U+2028 unquoted" -- "$KRATIXFS" render --promises "$WORK/inject" --kratix "$WORK/k"
expect_grep "$WORK/err" ".metadata.annotations.team holds U+2028 LINE SEPARATOR, which YAML reads as a line break; use | quote" "U+2028 named"
grep -rq ClusterRoleBinding "$WORK/k/output" && fail "the injected document was written" || pass
sed -i 's/annotations.team }}/annotations.team | quote }}/' "$note"
new_kratix_keep() { rm -rf "$WORK/k/output" "$WORK/k/metadata"; mkdir -p "$WORK/k/output" "$WORK/k/metadata"; }
new_kratix_keep
expect_exit 0 "U+2028 quoted" -- "$KRATIXFS" render --promises "$WORK/inject" --kratix "$WORK/k"
expect_grep "$WORK/k/output/note.yaml" 'team: "acid\u2028---\u2028apiVersion' "U+2028 escaped"
grep -q $'\xe2\x80\xa8' "$WORK/k/output/note.yaml" && fail "a raw U+2028 was written" || pass
if python3 -c 'import yaml' 2>/dev/null; then
	# PyYAML breaks lines at U+2028: the file must still be one document, one ConfigMap.
	docs=$(python3 -c 'import sys, yaml; print(len([d for d in yaml.safe_load_all(open(sys.argv[1])) if d]))' "$WORK/k/output/note.yaml")
	[ "$docs" = 1 ] && pass || fail "note.yaml holds $docs documents for PyYAML"
fi

# render -f: one request, the outputs as one YAML stream on stdout as helm template prints it
# ("---", "# Source: PIPELINE/PATH", the file), the same bytes as the --kratix mode writes.
SEED=$PROMISES/postgresql/example-resource.yaml
expect_exit 0 "render -f" -- "$KRATIXFS" render -f "$SEED" --promises "$PROMISES"
cp "$WORK/out" "$WORK/stream"
expect_grep "$WORK/stream" "# Source: instance-configure/statefulset.yaml" "each file has its Source line"
[ "$(head -n 2 "$WORK/stream")" = $'---\n# Source: instance-configure/secret.yaml' ] && pass || fail "the stream does not start as helm template's: $(head -n 2 "$WORK/stream")"
[ "$(grep -c '^---$' "$WORK/stream")" -eq 3 ] && pass || fail "not three documents"
new_kratix
cp "$SEED" "$WORK/k/input/object.yaml"
"$KRATIXFS" render --promises "$PROMISES" --kratix "$WORK/k" >/dev/null
for f in "$WORK"/k/output/*; do printf -- '---\n# Source: instance-configure/%s\n' "$(basename "$f")"; cat "$f"; done >"$WORK/expected-stream"
cmp -s "$WORK/expected-stream" "$WORK/stream" && pass || fail "render -f differs from the files --kratix writes"
if python3 -c 'import yaml' 2>/dev/null; then
	kinds=$(python3 -c 'import sys, yaml; print(" ".join(d["kind"] for d in yaml.safe_load_all(open(sys.argv[1]))))' "$WORK/stream")
	[ "$kinds" = "Secret Service StatefulSet" ] && pass || fail "the stream parses as '$kinds'"
fi
# -f - reads stdin; --file is the long form.
expect_exit 0 "render -f -" -- sh -c '"$1" render --promises "$2" -f - <"$3"' sh "$KRATIXFS" "$PROMISES" "$SEED"
cmp -s "$WORK/stream" "$WORK/out" && pass || fail "render -f - differs from render -f FILE"
expect_exit 0 "render --file" -- "$KRATIXFS" render --file="$SEED" --promises "$PROMISES"
cmp -s "$WORK/stream" "$WORK/out" && pass || fail "render --file differs from render -f"
# A Promise document runs the promise workflow, as in the --kratix mode.
expect_exit 0 "render -f promise.yaml" -- "$KRATIXFS" render -f "$PROMISES/postgresql/promise.yaml" --promises "$PROMISES"
expect_grep "$WORK/out" "# Source: promise-configure/serviceaccount.yaml" "the promise workflow's outputs"
# Exit codes as in the --kratix mode: 1 rejected (stdin named), 2 template error, 2 usage.
sed 's/size: medium/size: huge/' "$SEED" >"$WORK/huge.yaml"
expect_exit 1 "render -f of a rejected request" -- sh -c '"$1" render --promises "$2" -f - <"$3"' sh "$KRATIXFS" "$PROMISES" "$WORK/huge.yaml"
expect_grep "$WORK/err" "kratixfs: stdin: spec.size" "the rejection names stdin and the field"
[ ! -s "$WORK/out" ] && pass || fail "a rejected render printed a stream"
expect_exit 1 "render -f of a missing file" -- "$KRATIXFS" render -f "$WORK/nosuch.yaml" --promises "$PROMISES"
expect_grep "$WORK/err" "nosuch.yaml" "the missing file is named"
expect_exit 1 "render -f - larger than --max-input" -- sh -c '"$1" render --promises "$2" --max-input 10 -f - <"$3"' sh "$KRATIXFS" "$PROMISES" "$SEED"
expect_grep "$WORK/err" "10-byte limit" "the stdin limit is named"
expect_exit 2 "render -f with a template error" -- "$KRATIXFS" render -f "$SEED" --promises "$WORK/promises"
expect_grep "$WORK/err" ".spec.nosuchfield" "the template error is printed"
expect_exit 2 "render -f with --kratix" -- "$KRATIXFS" render -f "$SEED" --kratix "$WORK/k"
expect_grep "$WORK/err" "give one of them" "the conflict is explained"
expect_exit 2 "render -f without a file" -- "$KRATIXFS" render -f
expect_exit 2 "render with an unknown option" -- "$KRATIXFS" render --nosuch

expect_exit 0 "--help" -- "$KRATIXFS" render --help
expect_grep "$WORK/out" "KRATIX_WORKFLOW_TYPE" "render --help documents the variables"
# --max-input takes a positive number of bytes, in every command that has it (a negative number
# was once read as a huge one).
for bad in 0 -5 10k ""; do
	expect_exit 2 "render --max-input '$bad'" -- "$KRATIXFS" render --promises "$PROMISES" --max-input "$bad" -f "$SEED"
	expect_grep "$WORK/err" "is not a positive number of bytes (write e.g. --max-input 1048576)" "  ... says what to write"
	expect_exit 2 "render --kratix --max-input '$bad'" -- "$KRATIXFS" render --promises "$PROMISES" --kratix "$WORK/k" --max-input "$bad"
	expect_exit 2 "validate --max-input '$bad'" -- "$KRATIXFS" validate --max-input "$bad" "$PROMISES/postgresql" "$SEED"
done

finish
