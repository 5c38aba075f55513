#!/bin/bash
# The hostile corpus: bad requests for the bundled postgresql promise, each run through
# `kratixfs validate`, `kratixfs render` (on a /kratix-like folder) and the mount (cp into
# requests/my-db/object.yaml), which must agree on the errno and the message.
#
# A case is cases/NAME.yaml (the request itself) or cases/NAME.sh (a script printing it, for
# bytes a text file would hide and for large inputs). Its header says what a user gets:
#   # expect: ERRNO FRAGMENT        ERRNO is OK, EINVAL, EFBIG or EIO (what close() returns);
#                                   FRAGMENT must be in the error (for OK: in the warnings)
#   # expect-validate: ERRNO FRAGMENT   the same for one surface, where it differs
#   # expect-render: ... / # expect-mount: ...
#   # absent: TEXT                  must not appear in any output nor in status.yaml
#   # log: TEXT                     the daemon's log line for the write holds TEXT
#   # xfail-mount: WHY              a known mount bug (counted, reported, not a failure)
# Usage: run.sh [CASE...] (default: every case).
. "$SOURCE_ROOT/tests/mount/lib.sh"
CASES=$SOURCE_ROOT/tests/hostile/cases
PG=$SOURCE_ROOT/templates/postgresql
MAX_SECONDS=${HOSTILE_MAX_SECONDS:-10} # per command: a bomb must be refused fast
MAX_RSS_KB=${HOSTILE_MAX_RSS_KB:-400000} # and in bounded memory (plain builds only)
XFAILS=0

# header FILE KEY: the value of "# KEY: ..." in FILE's first 40 lines.
header() { head -n 40 "$1" | grep -a -m1 "# $2: " | sed "s/.*# $2: //"; }

# errno_text ERRNO: what strerror says, as cp prints it.
errno_text() {
	case $1 in
	EINVAL) echo "Invalid argument" ;;
	EFBIG) echo "File too large" ;;
	EIO) echo "Input/output error" ;;
	*) echo "?" ;;
	esac
}

# exit_for SURFACE ERRNO: the exit status kratixfs validate/render gives for it.
exit_for() {
	case $2 in
	OK) echo 0 ;;
	EIO) [ "$1" = validate ] && echo 0 || echo 2 ;;
	*) echo 1 ;;
	esac
}

# timed OUT ERR COMMAND...: runs COMMAND with a time limit, measuring its peak RSS when
# /usr/bin/time is there; sets RC and RSS.
timed() {
	local out=$1 err=$2
	shift 2
	RSS=0
	if [ -x /usr/bin/time ] && [ -z "${ASAN_OPTIONS:-}${UBSAN_OPTIONS:-}" ]; then
		timeout "$MAX_SECONDS" /usr/bin/time -o "$WORK/rss" -f %M "$@" >"$out" 2>"$err"
		RC=$?
		RSS=$(tail -n 1 "$WORK/rss" 2>/dev/null | grep -E '^[0-9]+$' || echo 0)
	else
		timeout "$MAX_SECONDS" "$@" >"$out" 2>"$err"
		RC=$?
	fi
}

# one_doc_each DIR: every *.yaml under DIR is one YAML document (PyYAML, which breaks lines at
# NEL, LS and PS, when it is installed; libyaml's view is kratixfs's own check).
one_doc_each() {
	python3 -c 'import yaml' 2>/dev/null || return 0
	python3 - "$1" <<'PY'
import os, sys, yaml
bad = []
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        if f.endswith(".yaml"):
            p = os.path.join(root, f)
            n = len([d for d in yaml.safe_load_all(open(p, encoding="utf-8")) if d is not None])
            if n != 1:
                bad.append("%s: %d documents" % (p, n))
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
}

# unescaped FILE: FILE with YAML's \" and \\ undone, to find a message in status.yaml.
unescaped() { sed -e 's/\\"/"/g' -e 's/\\\\/\\/g' "$1"; }

# expect_of CASE SURFACE: "ERRNO FRAGMENT" for SURFACE.
expect_of() {
	local e
	e=$(header "$1" "expect-$2")
	[ -n "$e" ] || e=$(header "$1" expect)
	echo "$e"
}

run_case() {
	local file=$1 name input
	name=$(basename "${file%.*}")
	input=$WORK/cases/$name.yaml
	if [[ $file == *.sh ]]; then bash "$file" >"$input"; else cp "$file" "$input"; fi
	local absent xfail logged
	absent=$(header "$file" absent)
	logged=$(header "$file" log)
	xfail=$(header "$file" xfail-mount)
	[ -n "$(header "$file" expect)" ] || { fail "$name: no '# expect:' header"; return; }

	# validate
	local e errno frag want
	e=$(expect_of "$file" validate); errno=${e%% *}; frag=${e#* }; [ "$frag" = "$e" ] && frag=
	timed "$WORK/v.out" "$WORK/v.err" "$KRATIXFS" validate "$PG/promise.yaml" "$input"
	want=$(exit_for validate "$errno")
	if [ "$RC" -eq 124 ]; then fail "$name: validate took more than ${MAX_SECONDS}s"
	elif [ "$RC" -ne "$want" ]; then fail "$name: validate exit $RC, wanted $want ($errno)"; sed 's/^/    | /' "$WORK/v.err" | head -n 5 >&2
	elif [ -n "$frag" ] && ! grep -aqF -- "$frag" "$WORK/v.err"; then fail "$name: validate does not say '$frag'"; sed 's/^/    | /' "$WORK/v.err" | head -n 5 >&2
	else pass "$name: validate $errno${frag:+ ($frag)}"; fi
	[ "$RSS" -le "$MAX_RSS_KB" ] || fail "$name: validate used ${RSS} KB"

	# render, as a pipeline container runs it
	e=$(expect_of "$file" render); errno=${e%% *}; frag=${e#* }; [ "$frag" = "$e" ] && frag=
	rm -rf "$WORK/k"; mkdir -p "$WORK/k/input" "$WORK/k/output" "$WORK/k/metadata"
	cp "$input" "$WORK/k/input/object.yaml"
	timed "$WORK/r.out" "$WORK/r.err" "$KRATIXFS" render --promises "$PROMISES" --kratix "$WORK/k"
	want=$(exit_for render "$errno")
	if [ "$RC" -eq 124 ]; then fail "$name: render took more than ${MAX_SECONDS}s"
	elif [ "$RC" -ne "$want" ]; then fail "$name: render exit $RC, wanted $want ($errno)"; sed 's/^/    | /' "$WORK/r.err" | head -n 5 >&2
	elif [ -n "$frag" ] && ! grep -aqF -- "$frag" "$WORK/r.err"; then fail "$name: render does not say '$frag'"; sed 's/^/    | /' "$WORK/r.err" | head -n 5 >&2
	elif [ "$errno" != OK ] && [ -n "$(ls -A "$WORK/k/output")" ]; then fail "$name: a refused render wrote output/"
	else pass "$name: render $errno"; fi
	[ "$RSS" -le "$MAX_RSS_KB" ] || fail "$name: render used ${RSS} KB"
	# Kept for one PyYAML pass at the end (its start-up is slow).
	[ "$errno" = OK ] && mkdir -p "$WORK/accepted" && cp -r "$WORK/k/output" "$WORK/accepted/$name"

	# the mount: cp into a fresh request folder, as a user would
	e=$(expect_of "$file" mount); errno=${e%% *}; frag=${e#* }; [ "$frag" = "$e" ] && frag=
	local R=$MNT/requests/my-db problem=
	rm -rf "$R" && mkdir "$R" || { fail "$name: mkdir $R"; return; }
	local log_lines
	log_lines=$(wc -l <"$WORK/daemon.log")
	timeout "$MAX_SECONDS" cp "$input" "$R/object.yaml" 2>"$WORK/m.err"
	RC=$?
	if [ "$RC" -eq 124 ]; then problem="cp took more than ${MAX_SECONDS}s"
	elif [ "$errno" = OK ]; then
		if [ "$RC" -ne 0 ]; then problem="cp failed: $(head -c 300 "$WORK/m.err")"
		elif [ "$(cat "$R/phase")" != Rendered ]; then problem="phase $(cat "$R/phase")"
		elif [ -n "$frag" ] && ! unescaped "$R/status.yaml" | grep -aqF -- "$frag"; then
			problem="status.yaml does not say '$frag'"
		elif ! diff -r "$WORK/k/output" "$R/output" >/dev/null; then
			problem="output/ differs from kratixfs render's"
		fi
	else
		if [ "$RC" -eq 0 ]; then problem="cp succeeded"
		elif ! grep -qF "$(errno_text "$errno")" "$WORK/m.err"; then
			problem="cp's error is not $errno: $(head -c 300 "$WORK/m.err")"
		elif [ -n "$frag" ] && ! unescaped "$R/status.yaml" | grep -aqF -- "$frag"; then
			problem="status.yaml does not say '$frag'"
		elif [ "$errno" != EIO ] && [ -n "$(ls -A "$R/output" 2>/dev/null)" ]; then
			problem="a refused request has outputs"
		fi
	fi
	if [ -z "$problem" ] && [ -n "$logged" ] &&
		! tail -n +"$((log_lines + 1))" "$WORK/daemon.log" | grep -qF -- "$logged"; then
		problem="the log does not say '$logged'"
	fi
	# A refused request's message may quote the value; an accepted one's status may not.
	local where=("$R/output" "$WORK/k/output" "$WORK/k/metadata")
	[ "$errno" = OK ] && where+=("$R/status.yaml" "$R/metadata")
	if [ -z "$problem" ] && [ -n "$absent" ] && grep -raqF -- "$absent" "${where[@]}"; then
		problem="'$absent' reached the outputs or status"
	fi
	if [ -z "$problem" ]; then
		pass "$name: mount $errno"
		[ -n "$xfail" ] && echo "XPASS - $name: mount (marked xfail: $xfail)"
	elif [ -n "$xfail" ]; then
		echo "XFAIL - $name: mount: $problem (known: $xfail)"
		XFAILS=$((XFAILS + 1))
	else
		fail "$name: mount: $problem"
		sed 's/^/    | /' "$R/status.yaml" 2>/dev/null | head -n 8 >&2
	fi
}

mkdir -p "$WORK/cases"
mount_fs
if [ $# -gt 0 ]; then
	for c in "$@"; do run_case "$(ls "$CASES/$c".* | head -n 1)"; done
else
	for c in "$CASES"/*.yaml "$CASES"/*.sh; do run_case "$c"; done
fi
# The daemon read every case too: its peak memory stays bounded (the bombs included).
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$DAEMON_PID/status" 2>/dev/null)
if [ -n "$hwm" ] && [ -z "${ASAN_OPTIONS:-}${UBSAN_OPTIONS:-}" ]; then
	[ "$hwm" -le "$MAX_RSS_KB" ] && pass "the daemon's peak memory: $hwm KB" ||
		fail "the daemon's peak memory is $hwm KB (limit $MAX_RSS_KB)"
fi
if [ -d "$WORK/accepted" ]; then
	bad=$(one_doc_each "$WORK/accepted") && pass "accepted cases: every output is one document" ||
		fail "accepted cases: $bad"
fi
check "unmount" unmount_fs
echo "$XFAILS known mount failures (xfail)"
finish
