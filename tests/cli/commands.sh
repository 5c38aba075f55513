#!/usr/bin/env bash
# The command line as a whole: a command's typo fails with "did you mean" and never reaches the
# daemon (it used to mount on ./rendr), while a folder, ./NAME and mount(8)'s SOURCE MOUNTPOINT
# still go to it; usage errors exit 2 in every command; and no output holds an escape code when
# it is not a terminal (kratixfs prints no colour at all).
. "$(dirname "$0")/lib.sh"
PROMISES="$SOURCE_ROOT/templates"
cd "$WORK" || exit 1

# Typos of a command: exit 2, the nearest command named, whether or not the folder exists.
for typo in rendr rnder tset tests valdate validat; do
	expect_exit 2 "kratixfs $typo" -- "$KRATIXFS" "$typo"
done
expect_exit 2 "kratixfs rendr" -- "$KRATIXFS" rendr
[ "$(cat "$WORK/err")" = 'kratixfs: unknown command "rendr"; did you mean "render"?' ] && pass ||
	fail "the typo message is '$(cat "$WORK/err")'"
expect_exit 2 "kratixfs valdate" -- "$KRATIXFS" valdate -o state="$WORK/s"
expect_grep "$WORK/err" 'did you mean "validate"?' "the nearest command"
# A folder named like a near miss is still refused, with the way to mount on it.
mkdir rendr
expect_exit 2 "kratixfs rendr with ./rendr a folder" -- "$KRATIXFS" rendr
expect_grep "$WORK/err" 'unknown command "rendr"; did you mean "render"?' "refused though the folder exists"
expect_grep "$WORK/err" "to mount on the folder rendr, write ./rendr" "says how to mount there"
# A word that is neither a command nor a folder: unknown, with the commands listed.
expect_exit 2 "kratixfs frobnicate" -- "$KRATIXFS" frobnicate
expect_grep "$WORK/err" 'unknown command "frobnicate" (commands: init, promise, render, test, validate' "lists the commands"
expect_no_grep "$WORK/err" "did you mean" "no far-fetched suggestion"

# What goes to the daemon: an existing folder, ./NAME, an option, mount(8)'s SOURCE MOUNTPOINT
# (a path or the placeholder "none"/"kratixfs"). A bad -o log_level makes the daemon itself
# answer, at once and without mounting: its message proves the hand-over.
mkdir mnt
daemon_answers() {
	expect_exit 1 "$1" -- "$@"
	expect_grep "$WORK/err" "-o log_level=bogus: must be one of" "$1 reaches the daemon"
}
daemon_answers "$KRATIXFS" mnt -o log_level=bogus
daemon_answers "$KRATIXFS" ./rendr -o log_level=bogus
daemon_answers "$KRATIXFS" -o log_level=bogus mnt
daemon_answers "$KRATIXFS" none mnt -o log_level=bogus
daemon_answers "$KRATIXFS" kratixfs mnt -o log_level=bogus
daemon_answers "$KRATIXFS" "$PROMISES" "$WORK/mnt" -o log_level=bogus
# A promises folder named promises, one letter from the promise command, is still a SOURCE.
mkdir promises
daemon_answers "$KRATIXFS" promises mnt -o log_level=bogus
grep -q " $WORK/" /proc/mounts && fail "something was mounted under $WORK" || pass

# Usage errors are exit 2 in every command; --help of each states the same exit codes.
expect_exit 2 "kratixfs without arguments" -- "$KRATIXFS"
expect_exit 2 "render --nosuch" -- "$KRATIXFS" render --nosuch
expect_exit 2 "render EXTRA" -- "$KRATIXFS" render extra
expect_exit 2 "test without a folder" -- "$KRATIXFS" test
expect_exit 2 "validate --nosuch" -- "$KRATIXFS" validate --nosuch a b
expect_exit 2 "validate with one file" -- "$KRATIXFS" validate "$PROMISES/postgresql/promise.yaml"
expect_exit 2 "validate of a promise that does not load" -- "$KRATIXFS" validate "$WORK/nosuch.yaml" "$PROMISES/postgresql/example-resource.yaml"
for cmd in render test validate; do
	"$KRATIXFS" $cmd --help >"$WORK/help"
	expect_grep "$WORK/help" "Exit status: 0 " "$cmd --help states its exit codes"
	tr '\n' ' ' <"$WORK/help" | grep -qE "1 [a-z ]*(rejected|failed|invalid).*2 usage error" && pass ||
		fail "$cmd --help: exit codes are not 0 / 1 / 2 usage error"
done
"$KRATIXFS" --help >"$WORK/help"
expect_grep "$WORK/help" "0 ok, 1 input rejected (or a test case failed), 2 usage" "kratixfs --help states them"

# No escape codes when the output is not a terminal, in any command, passing or failing (a
# request's own ESC byte stays escaped in the YAML printed back).
cp -r "$PROMISES/postgresql" pg
sed -i 's/replicas: 2/replicas: 7/' "$(grep -rl "kind: StatefulSet" pg/test-output/my-db/output)"
printf 'apiVersion: example.com/v1\nkind: Redis\nmetadata: {name: "\\e[31mr"}\n' >esc.yaml
sed 's/^  size: medium$/  size: medium\n  sise: "\\e[31m"/' "$PROMISES/postgresql/example-resource.yaml" >typo.yaml
sed 's/^  name: my-db$/  name: my-db\n  annotations: {a: "\\e[31m"}/' "$PROMISES/postgresql/example-resource.yaml" >ann.yaml
expect_exit 0 "validate of a request holding ESC" -- "$KRATIXFS" validate pg/promise.yaml ann.yaml
expect_grep "$WORK/out" 'a: "\x1B[31m"' "the ESC byte is printed escaped"
for args in "test pg" "test --output json pg" "render -f typo.yaml --promises $PROMISES" \
	"render -f esc.yaml --promises $PROMISES" "validate pg/promise.yaml typo.yaml esc.yaml ann.yaml" "render -f ann.yaml --promises $PROMISES" \
	"rendr" "--help" "render --help" "test --help" "validate --help"; do
	"$KRATIXFS" $args >"$WORK/out" 2>"$WORK/err"
	cat "$WORK/out" "$WORK/err" | grep -q $'\x1b' && fail "kratixfs $args printed an escape code" || pass
done
finish
