#!/bin/bash
# --help and --version on every command, and the help, the man pages and the README agreeing:
# every -o option the mount supports is in `kratixfs --help`, and every -o option and sub-command
# there is in kratixfs(8) and README.md.
. "$(dirname "$0")/lib.sh"
: "${KRATIXFS:?set KRATIXFS to the built kratixfs}" "${KRATIXFS_DAEMON:?set KRATIXFS_DAEMON}"
HELPER=$SOURCE_ROOT/mount/mount.kratixfs
MAN=$SOURCE_ROOT/man/kratixfs.8
MAN_HELPER=$SOURCE_ROOT/man/mount.kratixfs.8
README=$SOURCE_ROOT/README.md
export PATH="$(dirname "$KRATIXFS"):$PATH"

# opt NAME PATTERN COMMAND...: COMMAND exits 0 and prints a line matching PATTERN (ERE).
opt() {
	local what=$1 pattern=$2
	shift 2
	check "$what: exit 0" "$@"
	cp "$WORK/out" "$WORK/cmd.out"
	check_grep_e "  ... prints /$pattern/" "$WORK/cmd.out" "$pattern"
}
check_grep_e() {
	if grep -Eq -- "$3" "$2"; then pass "$1"; else
		fail "$1"
		head -n 5 "$2" | sed 's/^/    | /' >&2
	fi
}
VERSION='kratixfs [0-9]+\.[0-9]+\.[0-9]+'
for cmd in "" init promise render test validate; do
	opt "kratixfs $cmd --help" "^Usage: kratixfs $cmd" "$KRATIXFS" $cmd --help
	opt "kratixfs $cmd -h" "^Usage: kratixfs $cmd" "$KRATIXFS" $cmd -h
	opt "kratixfs $cmd --version" "^$VERSION" "$KRATIXFS" $cmd --version
	opt "kratixfs $cmd -V" "^$VERSION" "$KRATIXFS" $cmd -V
done
opt "kratixfs-daemon --help" "^Usage: kratixfs " "$KRATIXFS_DAEMON" --help
opt "kratixfs-daemon --version" "^$VERSION" "$KRATIXFS_DAEMON" --version
opt "mount.kratixfs --help" "fuse\.kratixfs" "$HELPER" --help
opt "mount.kratixfs -h" "^Usage: mount.kratixfs" "$HELPER" -h
opt "mount.kratixfs --version" "$VERSION" "$HELPER" --version
opt "mount.kratixfs -V" "$VERSION" "$HELPER" -V

"$KRATIXFS" --help >"$WORK/help"
"$KRATIXFS_DAEMON" --help >"$WORK/dhelp"
check "kratixfs --help holds every line of the daemon's help" \
	eval "! grep -vxF -f '$WORK/help' '$WORK/dhelp'"
# The -o options of the mount: promises folder, state folder, input limit, the Git store
# (git, git_branch, destinations, git_push), exec_timeout, images and log_level.
for o in promises state max_input git git_branch git_push destinations exec_timeout images log_level; do
	check_grep "kratixfs --help lists -o $o" "$WORK/help" "-o $o="
done
sed -n 's/^ *-o \([a-z_]*\)=.*/\1/p' "$WORK/help" | sort -u >"$WORK/opts"
check "kratixfs --help lists -o options at all" test "$(wc -l <"$WORK/opts")" -ge 9
while read -r o; do
	check_grep "kratixfs(8) documents -o $o" "$MAN" "o $o="
	check_grep "README.md documents -o $o" "$README" "$o="
	check_grep "mount.kratixfs(8) names $o" "$MAN_HELPER" "$o"
done <"$WORK/opts"
for c in init promise render test validate; do
	check_grep "kratixfs(8) documents $c" "$MAN" ".B $c"
	check_grep "README.md documents kratixfs $c" "$README" "kratixfs $c"
done
# The commands' options and exit codes agree between --help, kratixfs(8) and README.md.
for c in init promise render test validate; do
	"$KRATIXFS" $c --help >"$WORK/chelp"
	for o in $(grep -oE -- '--[a-z][a-z-]+' "$WORK/chelp" | sort -u); do
		check_grep "kratixfs(8) documents $c $o" "$MAN" "$(echo "$o" | sed 's/-/\\-/g')"
	done
	check_grep "kratixfs $c --help: exit 2 is a usage error or promise error" \
		<(tr '\n' ' ' <"$WORK/chelp") "2 usage error or promise error"
done
check_grep "kratixfs --help: the commands' exit codes" "$WORK/help" \
	"0 ok, 1 input rejected (or a test case failed), 2 usage"
check_grep "kratixfs(8): the same exit codes" <(tr '\n' ' ' <"$MAN") \
	".B 0 ok, .B 1 input rejected (or a test case failed)"
check_grep "  ... and 2" <(tr '\n' ' ' <"$MAN") ".B 2 usage error or promise error"
check_grep "README.md: the same exit codes" <(tr '\n' ' ' <"$README") \
	"**0** ok, **1** input rejected (or a test case failed), **2** usage error or promise error"
for s in SIGHUP SIGTERM SIGINT; do
	check_grep "kratixfs(8) documents $s" "$MAN" "$s"
	check_grep "kratixfs --help documents $s" "$WORK/help" "$s"
done
for o in nofail _netdev noauto user x-; do
	check_grep "kratixfs --help says mount(8)'s $o is ignored" "$WORK/help" "$o"
	check_grep "kratixfs(8) says so" "$MAN" "$(echo "$o" | sed 's/-/\\-/')"
	check_grep "mount.kratixfs(8) says so" "$MAN_HELPER" "$(echo "$o" | sed 's/-/\\-/')"
done
check_grep "the README's first screen has make demo" <(head -n 12 "$README") "make demo"
check_grep "the README's first screen has make check" <(head -n 12 "$README") "make check"
if command -v groff >/dev/null; then
	for m in "$MAN" "$MAN_HELPER"; do
		check "$(basename "$m"): groff -man -ww finds nothing to warn about" \
			eval "groff -man -ww -z '$m' 2>&1 | (! grep .)"
	done
fi
finish
