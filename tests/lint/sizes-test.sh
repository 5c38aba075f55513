#!/bin/sh
# The size checker's own test: small trees with a function of 80 lines and one of 81, a file of
# 800 lines and one of 801, a multi-line header, a function not in the house style, an allowlist.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
check=$here/sizes.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# body N: a function body of N lines counted from '{' to '}'.
body() { awk -v n="$1" 'BEGIN { print "{"; for (i = 0; i < n - 2; i++) print "\tx++;"; print "}" }'; }

# run TREE [ALLOW]: the checker's output in $out and its exit status in $rc.
run() { rc=0; out=$("$check" "$@" 2>&1) || rc=$?; }

expect_line() {
	printf '%s\n' "$out" | grep -qxF "$1" || fail "$2: no line '$1' in: $out"
}

# A short function and one of exactly 80 lines, the second with its parameters on two lines.
mkdir -p "$tmp/ok/src/core"
{
	echo 'static int x;'
	echo 'static int short_one(void)'
	body 3
	echo
	echo 'int at_limit(int a,'
	echo '	     int b)'
	body 80
} > "$tmp/ok/src/core/a.c"
run "$tmp/ok"
[ "$rc" = 0 ] || fail "80 lines: exit $rc, want 0: $out"
[ -z "$out" ] || fail "80 lines: printed '$out', want nothing"
KFS_SIZES_LIST=1 run "$tmp/ok"
expect_line "src/core/a.c:3: short_one: 3" "list"
expect_line "src/core/a.c:9: at_limit: 80" "list"

# The same with one line more in the second function.
mkdir -p "$tmp/long/src/cli"
{
	echo 'static int short_one(void)'
	body 3
	echo 'static const char *
too_long(const char *s)'
	body 81
} > "$tmp/long/src/cli/b.c"
run "$tmp/long"
[ "$rc" = 1 ] || fail "81 lines: exit $rc, want 1"
expect_line "src/cli/b.c:7: function too_long: 81 lines (limit 80)" "81 lines"
[ "$(printf '%s\n' "$out" | wc -l)" = 1 ] || fail "81 lines: more than one breach: $out"

# A file of 800 lines passes, 801 fails; the allowlist turns the failure into a note.
mkdir -p "$tmp/big/src/fs"
awk 'BEGIN { for (i = 0; i < 800; i++) print "int v" i ";" }' > "$tmp/big/src/fs/c.c"
run "$tmp/big"
[ "$rc" = 0 ] || fail "800-line file: exit $rc, want 0: $out"
echo 'int one_more;' >> "$tmp/big/src/fs/c.c"
run "$tmp/big"
[ "$rc" = 1 ] || fail "801-line file: exit $rc, want 1"
expect_line "src/fs/c.c: 801 lines (limit 800)" "801-line file"
printf '# owned elsewhere\nsrc/fs/c.c\n' > "$tmp/allow.txt"
run "$tmp/big" "$tmp/allow.txt"
[ "$rc" = 0 ] || fail "allowlisted: exit $rc, want 0: $out"
expect_line "allowed: src/fs/c.c: 801 lines (limit 800)" "allowlisted"
# The allowlist names files, not folders or prefixes.
printf 'src/fs\nsrc/fs/c\n' > "$tmp/allow.txt"
run "$tmp/big" "$tmp/allow.txt"
[ "$rc" = 1 ] || fail "allowlist by prefix: exit $rc, want 1"
expect_line "src/fs/c.c: 801 lines (limit 800)" "allowlist by prefix"

# A listed file within the limits is a stale entry: an error, so that the list only shrinks.
printf 'src/fs/c.c\nsrc/fs/gone.c\n' > "$tmp/allow.txt"
run "$tmp/ok" "$tmp/allow.txt"
[ "$rc" = 1 ] || fail "stale allowlist: exit $rc, want 1"
expect_line "$tmp/allow.txt: src/fs/c.c: within the limits (or not found): remove it from the list" "stale"
expect_line "$tmp/allow.txt: src/fs/gone.c: within the limits (or not found): remove it from the list" "stale"

# A function whose '{' ends its header line cannot be measured: an error, not a pass.
mkdir -p "$tmp/style/src/core"
printf 'int f(void) {\n\treturn 0;\n}\n' > "$tmp/style/src/core/d.c"
run "$tmp/style"
[ "$rc" = 1 ] || fail "brace on the header line: exit $rc, want 1"
expect_line "src/core/d.c:3: } alone at column 0 closes no function (its { not alone at column 0?)" "style"

# An unclosed function is an error too.
printf 'int f(void)\n{\n\treturn 0;\n' > "$tmp/style/src/core/d.c"
run "$tmp/style"
[ "$rc" = 1 ] || fail "unclosed: exit $rc, want 1"
expect_line "src/core/d.c:2: function f: no closing } at column 0" "unclosed"

[ "$fails" = 0 ] || exit 1
echo "sizes.sh: all cases pass"
