#!/usr/bin/env bash
# `kratixfs test`: passes on the bundled promise, fails with a diff when a golden file changes,
# and --update rewrites the goldens; case names with dots, no case at all, several folders,
# --run, --junit, --output json, and exit codes 0 / 1 (a case failed) / 2 (usage, promise).
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

# Case names keep every dot but the extension's: v1.2 and v1.3 are two cases with two goldens
# (cutting at the first dot made both "v1", the second overwriting the first's golden).
rm -rf "$WORK/pg"; cp -r "$SOURCE_ROOT/templates/postgresql" "$WORK/pg"
cp "$WORK/pg/test-input/small.yaml" "$WORK/pg/test-input/v1.2.yaml"
cp "$WORK/pg/test-input/large.yaml" "$WORK/pg/test-input/v1.3.yml"
expect_exit 0 "--update of dotted cases" -- "$KRATIXFS" test --update "$WORK/pg"
expect_grep "$WORK/out" "updated: v1.2" "v1.2 is its own case"
expect_grep "$WORK/out" "updated: v1.3" "v1.3 is its own case"
diff -r "$WORK/pg/test-output/small" "$WORK/pg/test-output/v1.2" >/dev/null && pass || fail "v1.2's golden is not small's"
diff -r "$WORK/pg/test-output/large" "$WORK/pg/test-output/v1.3" >/dev/null && pass || fail "v1.3's golden is not large's"
[ ! -e "$WORK/pg/test-output/v1" ] && pass || fail "a golden named v1 was written"
expect_exit 0 "dotted cases pass" -- "$KRATIXFS" test "$WORK/pg"
# Two files naming one case: refused, not one silently shadowing the other.
cp "$WORK/pg/test-input/small.yaml" "$WORK/pg/test-input/v1.2.yml"
expect_exit 2 "two files, one case" -- "$KRATIXFS" test "$WORK/pg"
expect_grep "$WORK/err" "are both case v1.2" "the clash is named"
rm "$WORK/pg/test-input/v1.2.yml"

# No case at all fails (exit 2), saying where it looked: a missing folder, an empty one.
mkdir -p "$WORK/bare"; cp -r "$WORK/pg/promise.yaml" "$WORK/pg/workflows" "$WORK/bare/"
expect_exit 2 "no test-input folder" -- "$KRATIXFS" test "$WORK/bare"
expect_grep "$WORK/err" "$WORK/bare/test-input does not exist" "says where it looked"
expect_grep "$WORK/out" "0 passed, 0 failed, 1 promise folder not tested" "the summary says so"
mkdir "$WORK/bare/test-input"; echo "not a case" >"$WORK/bare/test-input/README.md"
expect_exit 2 "an empty test-input folder" -- "$KRATIXFS" test "$WORK/bare"
expect_grep "$WORK/err" "$WORK/bare/test-input holds no .yaml file" "says what it found"

# --run: a glob on case names; repeated, any matches; matching nothing is an error.
expect_exit 0 "--run" -- "$KRATIXFS" test --run 'v1.*' --run small "$WORK/pg"
expect_grep "$WORK/out" "ok: v1.2" "--run runs a matching case"
expect_grep "$WORK/out" "ok: small" "a second --run adds its cases"
expect_no_grep "$WORK/out" "ok: medium" "--run skips the others"
expect_grep "$WORK/out" "3 passed, 0 failed" "only the matching cases count"
expect_exit 2 "--run matching nothing" -- "$KRATIXFS" test --run 'nosuch*' "$WORK/pg"
expect_grep "$WORK/err" "matches --run nosuch*" "the pattern is named"

# Several folders in one call: cases shown as PROMISE/CASE; a folder that does not load makes
# the call exit 2 while the others still run.
rm -rf "$WORK/pg2"; cp -r "$SOURCE_ROOT/templates/postgresql" "$WORK/pg2"
expect_exit 0 "two folders" -- "$KRATIXFS" test --run 'postgresql/v1.*' "$WORK/pg" "$WORK/pg2"
expect_grep "$WORK/out" "ok: postgresql/v1.3" "cases are PROMISE/CASE"
expect_grep "$WORK/out" "2 passed, 0 failed" "a PROMISE/CASE glob selects across folders"
expect_exit 2 "a folder that does not load" -- "$KRATIXFS" test "$WORK/pg" "$WORK/nope"
expect_grep "$WORK/out" "ok: postgresql/medium" "the other folder still ran"

# A render error where files were expected is printed as the error, not as a diff.
rm -rf "$WORK/broken"; cp -r "$SOURCE_ROOT/templates/postgresql" "$WORK/broken"
svc=$(grep -rl "kind: Service$" "$WORK/broken/workflows/resource")
printf '\nbroken: {{ .spec.nosuchfield }}\n' >>"$svc"
expect_exit 1 "render error" -- "$KRATIXFS" test --run my-db "$WORK/broken"
expect_grep "$WORK/out" "render error: " "the render error is printed"
expect_grep "$WORK/out" ".spec.nosuchfield" "  ... naming the path"
expect_no_grep "$WORK/out" "+++ " "  ... and no diff buries it"
rel=${svc#"$WORK/broken/"}
expect_grep "$WORK/out" "render error: $WORK/broken/$rel:" "  ... its file named from the current folder"
# From the folder beside it, the path starts with the folder as given; from inside, as is.
(cd "$WORK" && "$KRATIXFS" test --run my-db broken) >"$WORK/out" 2>&1
expect_grep "$WORK/out" "render error: broken/$rel:" "a relative folder keeps its name"
(cd "$WORK/broken" && "$KRATIXFS" test --run my-db .) >"$WORK/out" 2>&1
expect_grep "$WORK/out" "render error: $rel:" "the current folder adds nothing"
# The golden of a case that must fail keeps paths relative to the promise folder.
mkdir -p "$WORK/broken/test-output/bad"; cp "$WORK/broken/test-input/my-db.yaml" "$WORK/broken/test-input/bad.yaml"
"$KRATIXFS" test --update --run bad "$WORK/broken" >/dev/null 2>&1
[ "$(head -c ${#rel} "$WORK/broken/test-output/bad/error")" = "$rel" ] && pass ||
	fail "the golden's path depends on where the test ran: $(cat "$WORK/broken/test-output/bad/error")"

# --junit FILE: one testcase per case, the diff in the failure; well-formed XML.
sed -i 's/replicas: 2/replicas: 7/' "$(grep -rl "kind: StatefulSet" "$WORK/pg2/test-output/my-db/output")"
expect_exit 1 "--junit with a failure" -- "$KRATIXFS" test --junit "$WORK/junit.xml" "$WORK/pg2"
expect_grep "$WORK/junit.xml" '<testcase classname="postgresql" name="medium"/>' "a passing case"
expect_grep "$WORK/junit.xml" '<failure message="differs from the golden result">' "the failure"
expect_grep "$WORK/junit.xml" "-  replicas: 7" "the failure holds the diff"
expect_grep "$WORK/junit.xml" 'tests="6" failures="1" errors="0"' "the counts"
if command -v python3 >/dev/null; then
	python3 -c 'import sys, xml.dom.minidom as m; d = m.parse(sys.argv[1]); assert len(d.getElementsByTagName("testcase")) == 6' \
		"$WORK/junit.xml" && pass || fail "--junit is not well-formed XML with 6 testcases"
fi
expect_exit 2 "--junit into a missing folder" -- "$KRATIXFS" test --junit "$WORK/nope/j.xml" "$WORK/pg"
expect_grep "$WORK/err" "--junit $WORK/nope/j.xml" "the report's path is named"

# --output json: one object, stdout nothing else; statuses and the diff as message.
expect_exit 2 "--output json, one folder missing" -- "$KRATIXFS" test --output json "$WORK/pg2" "$WORK/nope"
if command -v python3 >/dev/null; then
	python3 - "$WORK/out" "$WORK/pg2" <<'PY' && pass || fail "--output json is not the expected object"
import json, sys
r = json.load(open(sys.argv[1]))
cases = {c["name"]: c for c in r["cases"]}
assert r["passed"] == 5 and r["failed"] == 1, r
assert cases["my-db"]["status"] == "failed" and "-  replicas: 7" in cases["my-db"]["message"]
assert cases["medium"] == {"name": "medium", "promise": "postgresql", "dir": sys.argv[2],
                           "status": "passed", "message": ""}, cases["medium"]
assert len(r["errors"]) == 1 and r["errors"][0]["dir"].endswith("/nope"), r["errors"]
PY
else
	expect_grep "$WORK/out" '"status": "failed"' "json status"
fi
expect_no_grep "$WORK/out" "FAIL:" "no text output in json mode"

# Usage errors: exit 2.
expect_exit 2 "no folder" -- "$KRATIXFS" test
expect_exit 2 "--output yaml" -- "$KRATIXFS" test --output yaml "$WORK/pg"
expect_grep "$WORK/err" "not text or json" "the bad format is named"
expect_exit 2 "unknown option" -- "$KRATIXFS" test --nosuch "$WORK/pg"
finish
