#!/usr/bin/env bash
# `kratixfs validate` on real Kratix promises that nobody here wrote, and on broken requests.
. "$(dirname "$0")/lib.sh"
R="$FIXTURES/real-promises"

for p in redis app-as-a-service runtime postgresql; do
	expect_exit 0 "$p: its own example request is valid" -- "$KRATIXFS" validate "$R/$p/promise.yaml" "$R/$p/resource-request.yaml"
done

# Defaults are applied and printed.
"$KRATIXFS" validate "$R/app-as-a-service/promise.yaml" "$R/app-as-a-service/resource-request.yaml" >"$WORK/app" 2>"$WORK/app.err"
expect_grep "$WORK/app" "port: 8080" "app: spec.service.port kept"
"$KRATIXFS" validate "$R/postgresql/promise.yaml" "$R/postgresql/resource-request.yaml" >"$WORK/pg" 2>/dev/null
expect_grep "$WORK/pg" "namespace: default" "postgresql: spec.namespace default applied"
"$KRATIXFS" validate "$R/redis/promise.yaml" "$R/redis/resource-request.yaml" >"$WORK/redis" 2>/dev/null
expect_grep "$WORK/redis" "size: small" "redis: request printed"
# app's promise carries `regex:`, a keyword the API server does not know: a warning, once.
expect_grep "$WORK/app.err" "regex" "unenforced keyword is reported"
[ "$(grep -c regex "$WORK/app.err")" -eq 1 ] && pass || fail "the regex warning is not printed exactly once"

# runtime: a request without the required image, a wrong enum and a wrong type: every error listed.
cat >"$WORK/bad-runtime.yaml" <<'YAML'
apiVersion: marketplace.kratix.io/v1alpha1
kind: Runtime
metadata:
  name: bad
spec:
  lifecycle: qa
  replicas: two
YAML
expect_exit 1 "runtime: broken request" -- "$KRATIXFS" validate "$R/runtime/promise.yaml" "$WORK/bad-runtime.yaml"
expect_grep "$WORK/err" "spec.image" "missing required field named"
expect_grep "$WORK/err" "spec.lifecycle" "wrong enum named"
expect_grep "$WORK/err" "prod, dev, staging, testing" "enum values listed"
expect_grep "$WORK/err" "spec.replicas" "wrong type named"

# redis: pattern ^(small|large)$ enforced; its CRD's kind is lower-case, and kinds are
# case-sensitive.
printf 'apiVersion: marketplace.kratix.io/v1alpha1\nkind: redis\nmetadata: {name: r}\nspec: {size: medium}\n' >"$WORK/r.yaml"
expect_exit 1 "redis: pattern" -- "$KRATIXFS" validate "$R/redis/promise.yaml" "$WORK/r.yaml"
expect_grep "$WORK/err" "spec.size" "pattern error names the field"

# Wrong version and wrong kind.
sed 's|marketplace.kratix.io/v1alpha1|marketplace.kratix.io/v9|' "$R/redis/resource-request.yaml" >"$WORK/v9.yaml"
expect_exit 1 "unserved version" -- "$KRATIXFS" validate "$R/redis/promise.yaml" "$WORK/v9.yaml"
expect_grep "$WORK/err" "v1alpha1" "version error lists the served version"

# Several documents in one file, one bad: exit 1, the good one still printed.
{ cat "$R/redis/resource-request.yaml"; echo "---"; cat "$WORK/r.yaml"; } >"$WORK/two.yaml"
expect_exit 1 "stream with one bad request" -- "$KRATIXFS" validate "$R/redis/promise.yaml" "$WORK/two.yaml"
expect_grep "$WORK/out" "name: example" "the valid document is printed"
expect_grep "$WORK/err" "document 2" "the bad document is named"

# A typo'd field: pruned from the printed request and warned of on stderr, as kubectl does;
# the exit status stays 0.
PG="$SOURCE_ROOT/templates/postgresql"
sed 's/^  size: medium$/  size: medium\n  sise: large/' "$PG/example-resource.yaml" >"$WORK/typo.yaml"
expect_exit 0 "unknown field" -- "$KRATIXFS" validate "$PG/promise.yaml" "$WORK/typo.yaml"
expect_grep "$WORK/err" "typo.yaml: Warning: unknown field \"spec.sise\"" "unknown field warned of"
expect_no_grep "$WORK/out" "sise" "unknown field pruned"

# Names are Kubernetes names: the namespace a DNS-1123 label, the name a DNS-1123 subdomain,
# the kind case-sensitive; kubectl's words.
for ns in 'a/b' '..' '.git' '""' 'UPPER_case' '"{{ x }}"'; do
	sed "s|^  namespace: .*|  namespace: $ns|" "$PG/example-resource.yaml" >"$WORK/ns.yaml"
	expect_exit 1 "namespace $ns" -- "$KRATIXFS" validate "$PG/promise.yaml" "$WORK/ns.yaml"
	expect_grep "$WORK/err" "metadata.namespace: Invalid value: " "namespace $ns refused"
	expect_grep "$WORK/err" "a lowercase RFC 1123 label must consist of" "namespace $ns: the rule"
done
sed 's/^  name: my-db$/  name: My_DB/' "$PG/example-resource.yaml" >"$WORK/name.yaml"
expect_exit 1 "bad name" -- "$KRATIXFS" validate "$PG/promise.yaml" "$WORK/name.yaml"
expect_grep "$WORK/err" 'metadata.name: Invalid value: "My_DB": a lowercase RFC 1123 subdomain' "bad name refused"
sed 's/^kind: Postgresql$/kind: PostgreSQL/' "$PG/example-resource.yaml" >"$WORK/kind.yaml"
expect_exit 1 "kind in another case" -- "$KRATIXFS" validate "$PG/promise.yaml" "$WORK/kind.yaml"
expect_grep "$WORK/err" 'kind: Invalid value: "PostgreSQL": kinds are case-sensitive; promise postgresql serves Postgresql' "kind case"

# Larger than --max-input (1 MiB by default, as render and the mount): refused unread.
expect_exit 1 "too large" -- "$KRATIXFS" validate --max-input 100 "$PG/promise.yaml" "$PG/example-resource.yaml"
expect_grep "$WORK/err" "is larger than the 100-byte limit (--max-input)" "size limit named"
expect_exit 0 "--max-input=BYTES" -- "$KRATIXFS" validate --max-input=1000 "$PG/promise.yaml" "$PG/example-resource.yaml"

# Not a promise.
expect_exit 2 "not a promise" -- "$KRATIXFS" validate "$R/redis/resource-request.yaml" "$R/redis/resource-request.yaml"
expect_grep "$WORK/err" "not a Kratix Promise" "not-a-promise message"
expect_exit 0 "--help" -- "$KRATIXFS" validate --help
finish
