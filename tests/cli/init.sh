#!/usr/bin/env bash
# `kratixfs init promise`: the folder it writes loads, tests and validates at once, in the layout
# of the bundled promise; bad names and a non-empty folder are refused with exit 2. And the
# kratix CLI's --split layout (api.yaml, dependencies.yaml, workflows/) read by test, validate
# and render --promises, with a folder holding both layouts refused.
. "$(dirname "$0")/lib.sh"
cd "$WORK" || exit 1

expect_exit 0 "init promise" -- "$KRATIXFS" init promise mydb --group example.com --kind Database
expect_grep "$WORK/out" "next: kratixfs test mydb" "says what to run next"
for f in promise.yaml example-resource.yaml test-input/example.yaml \
	workflows/resource/configure/instance-configure/configure/templates/output/configmap.yaml \
	test-output/example/output/configmap.yaml; do
	[ -f "mydb/$f" ] && pass || fail "init did not write mydb/$f"
done
expect_grep mydb/promise.yaml "group: example.com" "the CRD's group"
expect_grep mydb/promise.yaml "kind: Database" "the CRD's kind"
expect_grep mydb/promise.yaml "plural: databases" "the CRD's plural"
expect_grep mydb/promise.yaml "- name: v1alpha1" "the kratix CLI's default version"
expect_grep mydb/promise.yaml "message:" "one example field"
# The golden is the engine's render of the case, not a copy of the template.
expect_grep mydb/test-output/example/output/configmap.yaml "  name: example" "the request's name rendered"
expect_grep mydb/test-output/example/output/configmap.yaml 'message: "Hello from example"' "the field rendered"
expect_no_grep mydb/test-output/example/output/configmap.yaml "{{" "no tag left in the golden"
expect_exit 0 "kratixfs test on the new promise" -- "$KRATIXFS" test mydb
expect_grep "$WORK/out" "1 passed, 0 failed" "its one case passes"
expect_exit 0 "kratixfs validate on the new promise" -- "$KRATIXFS" validate mydb/promise.yaml mydb/test-input/*.yaml
expect_exit 0 "kratixfs render -f with the new promise" -- "$KRATIXFS" render -f mydb/example-resource.yaml --promises .
expect_grep "$WORK/out" "# Source: instance-configure/configmap.yaml" "renders its template"
# Its golden really is checked: a changed template fails the case.
sed -i 's/managed-by: kratix/managed-by: me/' mydb/workflows/resource/configure/instance-configure/configure/templates/output/configmap.yaml
expect_exit 1 "kratixfs test after a template change" -- "$KRATIXFS" test mydb
sed -i 's/managed-by: me/managed-by: kratix/' mydb/workflows/resource/configure/instance-configure/configure/templates/output/configmap.yaml

# --version and --dir; an existing empty folder is fine.
mkdir empty
expect_exit 0 "init --dir into an empty folder" -- "$KRATIXFS" init promise cache --group=cache.example.org --kind=Cache --version v1 --dir empty
expect_grep empty/promise.yaml "- name: v1" "--version used"
expect_grep empty/promise.yaml "name: cache" "named NAME, not after --dir"
expect_exit 0 "kratixfs test on --dir" -- "$KRATIXFS" test empty

# Refused, exit 2, nothing written.
expect_exit 2 "init into a non-empty folder" -- "$KRATIXFS" init promise mydb --group example.com --kind Database
expect_grep "$WORK/err" "mydb exists and is not empty" "says why"
touch afile
expect_exit 2 "init onto a file" -- "$KRATIXFS" init promise x --group example.com --kind X --dir afile
expect_grep "$WORK/err" "afile exists and is not a folder" "says why"
refused() { # refused WHAT MESSAGE ARGS...
	local what=$1 msg=$2; shift 2
	expect_exit 2 "init: $what" -- "$KRATIXFS" init promise "$@"
	expect_grep "$WORK/err" "$msg" "$what: says why"
}
refused "upper-case name" 'promise name "MyDB" is not valid: a DNS-1123 label' MyDB --group example.com --kind Database
refused "name with a dot" 'promise name "my.db" is not valid' my.db --group example.com --kind Database
refused "name too long" "is not valid: a DNS-1123 label of at most 63" "$(printf 'a%.0s' {1..64})" --group example.com --kind Database
refused "group without a dot" '--group "example" is not valid: a DNS-1123 subdomain with at least one dot' db --group example --kind Database
refused "group with upper case" '--group "Example.com" is not valid' db --group Example.com --kind Database
refused "lower-case kind" '--kind "database" is not valid: a Kubernetes kind is UpperCamelCase' db --group example.com --kind database
refused "kind with a dash" '--kind "Data-base" is not valid' db --group example.com --kind Data-base
refused "bad version" '--version "1" is not valid' db --group example.com --kind Database --version 1
refused "no --kind" "NAME, --group and --kind are required" db --group example.com
refused "two names" "unexpected other" db other --group example.com --kind Database
[ ! -e db ] && [ ! -e other ] && pass || fail "a refused init left a folder behind"
expect_exit 2 "init of something else" -- "$KRATIXFS" init widget x
expect_grep "$WORK/err" 'unknown kind of thing to create "widget"' "says what init makes"
expect_exit 0 "init --help" -- "$KRATIXFS" init --help
expect_grep "$WORK/out" "Usage: kratixfs init promise NAME" "init --help"
# A typo of init is refused as one; "mnt", two edits away, still goes to the mount (commands.sh).
expect_exit 2 "kratixfs innit" -- "$KRATIXFS" innit
expect_grep "$WORK/err" 'did you mean "init"?' "innit is a typo of init"

# The --split layout, as `kratix init promise --split` and `kratix add container` write it:
# the folder's name is the promise's name.
mkdir -p split/db/workflows/resource/configure
cp -r mydb/workflows/resource/configure/instance-configure split/db/workflows/resource/configure/
cp -r mydb/test-input split/db/
sed -n '/^  api:$/,/^  workflows:$/p' mydb/promise.yaml | sed '1d;$d' | sed 's/^    //' >split/db/api.yaml
printf '%s\n' '- apiVersion: v1' '  kind: Namespace' '  metadata:' '    name: db-system' >split/db/dependencies.yaml
sed -n '/^      configure:$/,$p' mydb/promise.yaml | sed '1d' | sed 's/^        //' >split/db/workflows/resource/configure/workflow.yaml
expect_grep split/db/api.yaml "kind: CustomResourceDefinition" "api.yaml is the CRD alone"
expect_exit 1 "test of a split promise without goldens" -- "$KRATIXFS" test split/db
expect_exit 0 "test --update of a split promise" -- "$KRATIXFS" test --update split/db
diff -r mydb/test-output split/db/test-output >/dev/null && pass ||
	fail "the split promise renders differently from the same promise.yaml"
expect_exit 0 "test of a split promise" -- "$KRATIXFS" test split/db
expect_exit 0 "validate with api.yaml" -- "$KRATIXFS" validate split/db/api.yaml split/db/test-input/example.yaml
expect_grep "$WORK/out" "kind: Database" "the request printed"
expect_exit 0 "validate with the folder" -- "$KRATIXFS" validate split/db split/db/test-input/example.yaml
expect_exit 0 "render --promises with a split promise" -- "$KRATIXFS" render -f split/db/test-input/example.yaml --promises split
expect_grep "$WORK/out" "# Source: instance-configure/configmap.yaml" "renders from the split folder"
printf 'apiVersion: platform.kratix.io/v1alpha1\nkind: Promise\nmetadata: {name: db}\nspec: {}\n' >split/db/promise.yaml
expect_exit 2 "test of a folder with both layouts" -- "$KRATIXFS" test split/db
expect_grep "$WORK/err" "holds both split/db/promise.yaml and split/db/api.yaml" "names both files, from the current folder"
expect_exit 2 "validate of a folder with both layouts" -- "$KRATIXFS" validate split/db/promise.yaml split/db/test-input/example.yaml
expect_grep "$WORK/err" "holds both promise.yaml and api.yaml" "names both files"
finish
