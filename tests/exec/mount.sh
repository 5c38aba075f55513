#!/bin/bash
# Image and folder containers through the mount: a request renders with an image pipeline as with
# templates, an edit of a container folder's script re-renders live, a failing or hung script
# fails close() with EIO and keeps the outputs, and says why in log and status.yaml.
. "$(dirname "$0")/../mount/lib.sh"
. "$SOURCE_ROOT/tests/exec/lib.sh"
if ! command -v bwrap >/dev/null || [ ! -x /bin/busybox ]; then
	echo "SKIP: bwrap or busybox-static is missing (make deps)"
	exit 77
fi
P=$SOURCE_ROOT/tests/exec/promises
REQ=$SOURCE_ROOT/tests/exec/request.yaml
test_images "$WORK/layout" "$WORK/img" || { fail "building the test images"; finish; }
rm -rf "$PROMISES" && mkdir -p "$PROMISES"
cp -r "$P/image/greeting" "$P/probe" "$P/two" "$PROMISES/"
"$KRATIXFS" render --promises "$P/template" -f "$REQ" | sed -n '/^apiVersion/,$p' >"$WORK/want.yaml"
mount_fs -o "exec_timeout=2,images=$WORK/layout"

# --- the seed's pattern in an image: the template promise's manifest
R=$MNT/requests/hello
mkdir "$R"
check "a request with an image pipeline is accepted" cp "$REQ" "$R/object.yaml"
check "it renders the template promise's manifest" diff -u "$WORK/want.yaml" "$R/output/configmap.yaml"
check_grep "its log has what the script printed" "$R/log" "rendered hello (large)"

# --- a kratix CLI container folder: an edit of its script re-renders every request
T=$MNT/requests/pair
mkdir "$T"
sed -e 's/kind: Greeting/kind: Two/' -e 's/^  name: hello/  name: pair/' "$REQ" >"$WORK/two.yaml"
check "a two-container request is accepted" cp "$WORK/two.yaml" "$T/object.yaml"
check_grep "the second container saw the first's output" "$T/output/b.yaml" 'seen: "from-first"'
check_grep "the skipped RUN is in the log" "$T/log" "RUN skipped: "
check_grep "  ... naming its Dockerfile line" "$T/log" "pair/first/Dockerfile:2: RUN apk add --no-cache yq"
S=$PROMISES/two/workflows/resource/configure/pair/first/scripts/pipeline.sh
start=$(date +%s%N)
sed -i 's/name: from-first/name: edited-live/' "$S"
if wait_for 5000 grep -q 'seen: "edited-live"' "$T/output/b.yaml"; then
	pass "an edited pipeline.sh re-renders the request ($((($(date +%s%N) - start) / 1000000)) ms)"
else
	fail "an edited pipeline.sh re-renders the request"
	sed 's/^/    | /' "$T/output/b.yaml" "$T/log" >&2
fi
check_grep "  ... and the first container's own output" "$T/output/a.yaml" "name: edited-live"

# --- a script that exits 1: close() fails with EIO, the outputs stay, stderr is reported
Q=$MNT/requests/probe
mkdir "$Q"
mode() { sed -e 's/kind: Greeting/kind: Probe/' -e "s/^  name: hello/  name: probe/" \
	-e "s/size: large/size: large\n  mode: $1/" "$REQ"; }
mode ok >"$WORK/ok.yaml"
check "a probe request renders" cp "$WORK/ok.yaml" "$Q/object.yaml"
check_grep "  ... its output" "$Q/output/ok.yaml" "name: probe"
mode fail >"$WORK/fail.yaml"
/usr/bin/python3 - "$WORK/fail.yaml" "$Q/object.yaml" >"$WORK/close.txt" 2>&1 <<'PY'
import errno, os, sys
data = open(sys.argv[1], "rb").read()
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_TRUNC)
os.write(fd, data)
try:
    os.close(fd)
    print("closed")
except OSError as e:
    print(errno.errorcode[e.errno])
PY
check_eq "close() of a failing script's request fails with EIO" "$(cat "$WORK/close.txt")" "EIO"
check_grep "the outputs stay" "$Q/output/ok.yaml" "name: probe"
check "  ... and the failed run's partial output is not shown" test ! -e "$Q/output/partial.yaml"
check_grep "the script's stderr is in log" "$Q/log" "probe: the database is on fire"
check_grep "its last lines are in status.yaml" "$Q/status.yaml" "the database is on fire"
check_grep "  ... with the exit status" "$Q/status.yaml" "exited with status 1"

# --- a script that hangs past -o exec_timeout=2
mode hang >"$WORK/hang.yaml"
start=$(date +%s)
check_fails "a hung script fails close()" cp "$WORK/hang.yaml" "$Q/object.yaml"
took=$(($(date +%s) - start))
if [ "$took" -le $((8 * ${KFS_WAIT_SCALE:-1})) ]; then pass "  ... after the limit ($took s)"; else
	fail "  ... after the limit: took $took s"; fi
check_grep "  ... saying so in status.yaml" "$Q/status.yaml" "killed after 2 s"
check_grep "the outputs still stay" "$Q/output/ok.yaml" "name: probe"
# --- the marketplace's redis promise: its internal/configure-pipeline/ runs (on a busybox
# "alpine" without yq, so it fails), and an edit of its execute-pipeline re-renders live
cp -r "$SOURCE_ROOT/tests/fixtures/real-promises/redis" "$PROMISES/"
check "the redis promise loads" wait_for 3000 test -d "$MNT/promises/redis"
D=$MNT/requests/example
mkdir "$D"
sed 's/^  name: .*/  name: example/' "$SOURCE_ROOT/tests/fixtures/real-promises/redis/resource-request.yaml" >"$WORK/redis.yaml"
check_fails "a redis request fails on the missing yq" cp "$WORK/redis.yaml" "$D/object.yaml"
check_grep "  ... yq: not found, in the log" "$D/log" "yq: not found"
check_grep "  ... after its RUN lines were skipped" "$D/log" "configure-pipeline/Dockerfile:7: RUN apk update"
X=$PROMISES/redis/internal/configure-pipeline/execute-pipeline
printf '#!/bin/sh\nsed "s/NAME_PLACEHOLDER/$KRATIX_OBJECT_NAME/" /tmp/transfer/redis-instance.yaml >/kratix/output/redis-instance.yaml\n' >"$X"
if wait_for 5000 grep -q "name: example" "$D/output/redis-instance.yaml"; then
	pass "an edit of internal/configure-pipeline/execute-pipeline re-renders the request"
else
	fail "an edit of internal/configure-pipeline/execute-pipeline re-renders the request"
	sed 's/^/    | /' "$D/status.yaml" "$D/log" >&2
fi
check "unmount" unmount_fs
finish
