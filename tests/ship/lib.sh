# shellcheck shell=bash
# Shared by the 'ship' tests: what a newcomer and an operator do with the project, run on a temp
# copy of the source tree with its own build folder, so that nothing fights the outer build.
set -u
: "${SOURCE_ROOT:?set SOURCE_ROOT to the source tree}"

WORK=$(mktemp -d /tmp/kratixfs-ship.XXXXXX)
PASSES=0
FAILS=0
CLEANUPS=

# at_exit COMMAND: run COMMAND (a string) on exit, last registered first.
at_exit() { CLEANUPS="$1; $CLEANUPS"; }
cleanup() {
	eval "$CLEANUPS" >/dev/null 2>&1
	if [ -n "${KEEP:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

pass() { echo "ok   - $1"; PASSES=$((PASSES + 1)); }
fail() { echo "FAIL - $1" >&2; FAILS=$((FAILS + 1)); }

# check DESCRIPTION COMMAND...: passes when COMMAND succeeds; shows its output when not.
check() {
	local what=$1
	shift
	if "$@" >"$WORK/out" 2>&1; then pass "$what"; else
		fail "$what"
		sed 's/^/    | /' "$WORK/out" | tail -n 30 >&2
	fi
}

# check_grep DESCRIPTION FILE PATTERN: FILE holds the fixed string PATTERN.
check_grep() {
	if grep -qF -- "$3" "$2" 2>/dev/null; then pass "$1"; else
		fail "$1: '$3' not in $2"
		sed 's/^/    | /' "$2" 2>/dev/null | tail -n 8 >&2
	fi
}

# check_no_grep DESCRIPTION FILE PATTERN: FILE does not hold PATTERN.
check_no_grep() {
	if grep -qF -- "$3" "$2" 2>/dev/null; then
		fail "$1: '$3' is in $2"
		grep -nF -- "$3" "$2" | head -n 5 | sed 's/^/    | /' >&2
	else pass "$1"; fi
}

need_root_fuse() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP: needs root (mount(8), unshare, make deps)"
		exit 77
	fi
	if [ ! -c /dev/fuse ]; then
		echo "SKIP: /dev/fuse is missing"
		exit 77
	fi
}

# copy_tree DIR: the source tree without build folders, .git or a demo mount, as a fresh clone
# would have it (untracked new files included).
copy_tree() {
	mkdir -p "$1"
	tar -C "$SOURCE_ROOT" --exclude='./build*' --exclude=./kratix --exclude=./.git -cf - . |
		tar -C "$1" -xf -
}

# A make run from the outer `make check` must not inherit its jobserver or its variables
# (make exports those given on its command line, e.g. BUILD=).
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES BUILD BUILD_ASAN PREFIX DESTDIR

# install_copy PREFIX: a copy of the tree, built and installed with `make install DESTDIR=...`;
# sets TREE and DEST.
install_copy() {
	TREE=$WORK/tree
	DEST=$WORK/dest
	copy_tree "$TREE"
	if make -C "$TREE" install PREFIX="$1" DESTDIR="$DEST" >"$WORK/install.log" 2>&1; then
		pass "make install PREFIX=$1 DESTDIR=... succeeds"
	else
		fail "make install PREFIX=$1 DESTDIR=... succeeds"
		tail -n 30 "$WORK/install.log" >&2
		exit 1
	fi
}

# wait_for MILLISECONDS COMMAND...: polls COMMAND until it succeeds.
wait_for() {
	local ms=$1
	shift
	local end=$(($(date +%s%N) + ms * 1000000))
	while [ "$(date +%s%N)" -lt "$end" ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	"$@" >/dev/null 2>&1
}

# alive PID: the process exists and is not a zombie.
alive() { grep -qs '^State:[^Z]*$' "/proc/$1/status"; }
# gone PID: PID was a process id and that process has exited.
gone() { [ -n "$1" ] && ! alive "$1"; }

finish() {
	echo "$PASSES passed, $FAILS failed"
	[ "$FAILS" -eq 0 ]
}
