# Shared by the command tests: a scratch folder and assertions that say what went wrong.
set -u
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
FAILS=0
PASSES=0

fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
pass() { PASSES=$((PASSES + 1)); }

# expect_exit CODE DESCRIPTION -- COMMAND...: runs COMMAND, output in $WORK/out and $WORK/err.
expect_exit() {
	local want=$1 what=$2; shift 3
	"$@" >"$WORK/out" 2>"$WORK/err"
	local got=$?
	if [ "$got" -ne "$want" ]; then
		fail "$what: exit $got, wanted $want"; sed 's/^/  stderr: /' "$WORK/err" >&2
	else
		pass
	fi
}

# expect_grep FILE PATTERN DESCRIPTION: FILE must contain the fixed string PATTERN.
expect_grep() {
	if grep -qF -- "$2" "$1"; then pass; else
		fail "$3: '$2' not found in $(basename "$1")"; sed 's/^/  | /' "$1" >&2
	fi
}

expect_no_grep() {
	if grep -qF -- "$2" "$1"; then fail "$3: '$2' found in $(basename "$1")"; else pass; fi
}

finish() {
	echo "$PASSES passed, $FAILS failed"
	[ "$FAILS" -eq 0 ]
}
