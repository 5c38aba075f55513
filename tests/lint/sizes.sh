#!/bin/sh
# The size rules (docs: STYLE, issue 13): no .c file over 800 lines, no function over 80 lines,
# counted from the line of the function's opening '{' to its closing '}'.
#
# usage: sizes.sh ROOT [ALLOWLIST]
#   Scans every .c file under ROOT/src and prints each breach as
#   'path:line: function NAME: N lines (limit 80)' or 'path: N lines (limit 800)', paths relative
#   to ROOT. Exits 1 when there is a breach in a file the ALLOWLIST (one path a line, relative to
#   ROOT; '#' starts a comment) does not name; breaches in listed files are printed as 'allowed:'.
#   A listed file that breaks no rule (or is not there) fails too: the list only shrinks.
#
# It relies on the house style (K&R): a function's header starts at column 0, its '{' and '}'
# stand alone at column 0. A '{' or '}' alone at column 0 that does not fit that shape is an error,
# so that a function written another way is reported instead of passed over.
# KFS_SIZES_LIST=1 also prints every function found, as 'path:line: NAME: N'.
set -eu

root=${1:?usage: sizes.sh ROOT [ALLOWLIST]}
allow=${2:-/dev/null}
max_file=800
max_func=80

[ -d "$root/src" ] || { echo "sizes.sh: no folder $root/src" >&2; exit 2; }
[ -r "$allow" ] || { echo "sizes.sh: cannot read the allowlist $allow" >&2; exit 2; }

files=$(cd "$root" && find src -name '*.c' -type f | LC_ALL=C sort)
[ -n "$files" ] || { echo "sizes.sh: no .c file under $root/src" >&2; exit 2; }

# shellcheck disable=SC2086 # the paths come from find under src/ and hold no spaces
cd "$root" && awk -v list="${KFS_SIZES_LIST:-}" -v max_file="$max_file" -v max_func="$max_func" -v allow="$allow" '
BEGIN {
	while ((getline line < allow) > 0) {
		sub(/#.*/, "", line)
		gsub(/^[ \t]+|[ \t]+$/, "", line)
		if (line != "")
			allowed[line] = 1
	}
	failed = 0
}
function breach(file, msg) {
	if (file in allowed) {
		used[file] = 1
		print "allowed: " msg
	} else {
		print msg
		failed = 1
	}
}
function finish_file() {
	if (cur == "")
		return
	if (infunc)
		breach(cur, cur ":" start ": function " name ": no closing } at column 0")
	if (nlines > max_file)
		breach(cur, cur ": " nlines " lines (limit " max_file ")")
}
FNR == 1 {
	finish_file()
	cur = FILENAME; nlines = 0; infunc = 0; header = ""
}
{ nlines = FNR }
# A line that opens at column 0 with a name and holds "(" starts a function header (its
# parameters may go on over further lines, indented); a ";" ends a prototype or a declaration,
# and a "}" or "#" at column 0 ends whatever came before: no header is pending after them.
!infunc && /^[A-Za-z_]/ && /\(/ { header = $0 }
!infunc && (/;[ \t]*$/ || /^}/ || /^#/) { header = "" }
/^\{[ \t]*$/ {
	if (infunc) {
		breach(cur, cur ":" FNR ": { at column 0 inside function " name " (from line " start ")")
		next
	}
	if (header == "") {
		breach(cur, cur ":" FNR ": { alone at column 0 with no function header above it")
		next
	}
	name = header
	if (match(name, /[A-Za-z_][A-Za-z0-9_]*[ \t]*\(/)) {
		name = substr(name, RSTART, RLENGTH - 1)
		sub(/[ \t]+$/, "", name)
	}
	infunc = 1; start = FNR; header = ""
	next
}
/^}[ \t]*$/ {
	if (!infunc) {
		breach(cur, cur ":" FNR ": } alone at column 0 closes no function (its { not alone at column 0?)")
		next
	}
	infunc = 0
	len = FNR - start + 1
	if (list)
		print cur ":" start ": " name ": " len
	if (len > max_func)
		breach(cur, cur ":" start ": function " name ": " len " lines (limit " max_func ")")
	next
}
END {
	finish_file()
	# An entry that no longer breaks a rule would let its file grow back unnoticed.
	for (f in allowed)
		if (!(f in used)) {
			print allow ": " f ": within the limits (or not found): remove it from the list"
			failed = 1
		}
	exit failed
}
' $files
