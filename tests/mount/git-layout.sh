#!/bin/bash
# -o destinations=FILE with the real git CLI: destination-selectors.yaml with a `directory` entry
# routes that output sub-folder to its own destination (id5 = md5 of the folder), and each
# filepath mode (nestedByMetadata, none, aggregatedYAML) writes and deletes where Kratix does.
. "$(dirname "$0")/lib.sh"
command -v git >/dev/null || { echo "SKIP: git is missing"; exit 77; }

G() { git --git-dir="$REPO" "$@"; }
count() { G rev-list --count main 2>/dev/null || echo 0; }
files() { G ls-tree -r --name-only main | grep -v /kratix-canary- | sort | tr '\n' ' '; }
# The tree under some folders, without the canary files every destination has.
under() { G ls-tree -r --name-only main -- "$@" | { grep -v /kratix-canary- || true; }; }
# A WorkPlacement's name by Kratix's rules: the Work (buildWorkIdentifier, then five characters:
# kratixfs takes them from the identifier's md5), ".<destination>-", shortID(md5(directory)).
wp() { printf '%s-%s.%s-%s' "$1" "$(printf %s "$1" | md5sum | cut -c1-5)" "$2" "${3:-5058f}"; }
rq() { wp "postgresql-$1-my-namespace-instance-configure" "$2" "${3:-5058f}"; }
lines() { G log -1 --format=%B main | grep . | sort | tr '\n' ' '; }
# destination NAME K=V[,K=V] PATH [MODE [FILENAME]]: one Kratix Destination document.
destination() {
	printf -- '---\napiVersion: platform.kratix.io/v1alpha1\nkind: Destination\n'
	printf 'metadata:\n  name: %s\n  labels:\n' "$1"
	printf '%s\n' "$2" | tr ',' '\n' | sed 's/^\([^=]*\)=\(.*\)$/    \1: \2/'
	printf 'spec:\n  path: %s\n' "$3"
	if [ -n "${4:-}" ]; then
		printf '  filepath:\n    mode: %s\n' "$4"
		[ -n "${5:-}" ] && printf '    filename: %s\n' "$5"
	fi
}
# use NAME: a fresh state folder and repository for the next mount.
use() {
	STATE=$WORK/state-$1
	REPO=$WORK/$1.git
	mkdir -p "$STATE"
}
fresh_request() {
	mkdir "$MNT/requests/$1"
	request "$1" "$2" >"$MNT/requests/$1/object.yaml"
}

# --- routing: the postgresql promise, plus an output sub-folder routed by its own labels -------
T=$PROMISES/postgresql/workflows/resource/configure/instance-configure/postgresql-configure/templates
mkdir -p "$T/output/monitoring"
cat >"$T/output/monitoring/servicemonitor.yaml" <<'EOF'
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ .metadata.name }}
  namespace: {{ .metadata.namespace | quote }}
EOF
cat >"$T/metadata/destination-selectors.yaml" <<'EOF'
- directory: monitoring
  matchLabels:
    environment: monitoring
EOF
{
	destination dev environment=dev clusters/dev
	destination mon environment=monitoring clusters/mon
	destination prod environment=prod clusters/prod
} >"$WORK/routing.yaml"
use routing
mount_fs -o "git=$REPO,destinations=$WORK/routing.yaml"
fresh_request my-db medium
ID5=$(printf monitoring | md5sum | cut -c1-5)
R=resources/my-namespace/postgresql/my-db/instance-configure
check_eq "routing: one commit for the request, one line per WorkPlacement" "$(lines)" \
	"Update from: $(rq my-db dev) Update from: $(rq my-db mon "$ID5") "
check_eq "routing: the root outputs go to the promise's environment=dev destination" \
	"$(under clusters/dev/resources | tr '\n' ' ')" \
	"clusters/dev/$R/5058f/secret.yaml clusters/dev/$R/5058f/service.yaml clusters/dev/$R/5058f/statefulset.yaml "
check_eq "routing: monitoring/ goes to environment=monitoring, under md5(monitoring)[:5], folder kept" \
	"$(under clusters/mon | tr '\n' ' ')" \
	"clusters/mon/$R/$ID5/monitoring/servicemonitor.yaml "
check_grep "routing: the ServiceMonitor is the request's" \
	<(G show "main:clusters/mon/$R/$ID5/monitoring/servicemonitor.yaml") "name: my-db"
check_eq "routing: nothing for prod (no selector matches it)" \
	"$(under clusters/prod | wc -l)" "0"
check_eq "routing: every destination has Kratix's canary files" \
	"$(G ls-tree -r --name-only main | grep /kratix-canary- | tr '\n' ' ')" \
	"clusters/dev/dependencies/kratix-canary-namespace.yaml clusters/dev/resources/kratix-canary-configmap.yaml clusters/mon/dependencies/kratix-canary-namespace.yaml clusters/mon/resources/kratix-canary-configmap.yaml clusters/prod/dependencies/kratix-canary-namespace.yaml clusters/prod/resources/kratix-canary-configmap.yaml "
check "routing: the promise's dependencies go to dev" \
	G cat-file -e "main:clusters/dev/dependencies/postgresql/promise-configure/5058f/serviceaccount.yaml"
check_eq "routing: the dependencies are not on mon" \
	"$(under clusters/mon/dependencies | wc -l)" "0"
check_eq "routing: Scheduled is True" \
	"$(grep -A1 'type: Scheduled' "$MNT/requests/my-db/status.yaml" | awk '/status:/{print $2}')" \
	'"True"'

# Re-routing: the request's own selectors change (now to prod); the old files must go.
cat >"$T/metadata/destination-selectors.yaml" <<'EOF'
- directory: monitoring
  matchLabels:
    environment: prod
EOF
kill -HUP "$DAEMON_PID"
wait_for 5000 sh -c "git --git-dir='$REPO' ls-tree -r --name-only main -- clusters/prod | grep -q servicemonitor"
check_eq "re-route after reload: monitoring/ moved to prod" \
	"$(under clusters/prod clusters/mon | tr '\n' ' ')" \
	"clusters/prod/$R/$ID5/monitoring/servicemonitor.yaml "
check "re-route: the dev files stay" G cat-file -e "main:clusters/dev/$R/5058f/statefulset.yaml"

n=$(count)
rm -rf "$MNT/requests/my-db"
check_eq "routing: rm -rf is one commit, Delete from: each WorkPlacement" "$(count) $(lines)" \
	"$((n + 1)) Delete from: $(rq my-db dev) Delete from: $(rq my-db prod "$ID5") "
check_eq "routing: rm -rf removes the request from every destination" \
	"$(G ls-tree -r --name-only main | grep -c my-db)" "0"
check "routing: fsck" G fsck --strict --no-dangling --no-progress
check "unmount: the daemon exits 0" unmount_fs
cp -r "$SOURCE_ROOT/templates/postgresql" "$WORK/pristine"
rm -rf "$PROMISES/postgresql"
mv "$WORK/pristine" "$PROMISES/postgresql"

# Selectors no destination has: the request renders, Scheduled says why, nothing is committed.
destination other environment=other clusters/other >"$WORK/other.yaml"
use unscheduled
mount_fs -o "git=$REPO,destinations=$WORK/other.yaml"
fresh_request lonely small
check_grep "no matching destination: Scheduled False names the labels" \
	"$MNT/requests/lonely/status.yaml" "environment=dev"
check_eq "no matching destination: no file of the request is committed" \
	"$(G ls-tree -r --name-only main 2>/dev/null | grep -c lonely)" "0"
check_eq "no matching destination: the phase stays Rendered" "$(cat "$MNT/requests/lonely/phase")" \
	"Rendered"
check_eq "no matching destination: Committed is False, and why" \
	"$(grep -A3 'type: Committed' "$MNT/requests/lonely/status.yaml" |
		awk '/status:|reason:/{printf "%s ", $2}')" '"False" NoMatchingDestination '
check_eq "no matching destination: no commit: field" \
	"$(grep -c '^commit:' "$MNT/requests/lonely/status.yaml")" "0"
check "unmount: the daemon exits 0" unmount_fs
mount_fs -o "git=$REPO,destinations=$WORK/other.yaml"
check_eq "no matching destination, after a restart: still Rendered" \
	"$(cat "$MNT/requests/lonely/phase")" "Rendered"
check "unmount: the daemon exits 0" unmount_fs

# The promise workflow's own destination-selectors.yaml places the promise workflow's outputs,
# never its requests (Kratix stopped passing them on): the request goes by the promise's
# spec.destinationSelectors (environment=dev) alone, to the first such destination by name
# (a-silver), even after a restart, when the requests are rendered again before anything else.
PW=$PROMISES/postgresql/workflows/promise/configure/promise-configure/dependencies/templates
printf -- '- matchLabels:\n    tier: gold\n' >"$PW/metadata/destination-selectors.yaml"
{
	destination a-silver environment=dev silver
	destination gold environment=dev,tier=gold gold
} >"$WORK/tiers.yaml"
use tiers
mount_fs -o "git=$REPO,destinations=$WORK/tiers.yaml"
fresh_request my-db medium
check_eq "promise-workflow selectors: not the request's: it goes to a-silver" \
	"$(G ls-tree -r --name-only main | grep /resources/my-namespace/ | cut -d/ -f1 | sort -u)" "silver"
check_eq "promise-workflow selectors: the promise workflow's outputs go to gold only" \
	"$(G ls-tree -r --name-only main | grep /promise-configure/ | cut -d/ -f1 | sort -u)" "gold"
check_eq "promise-workflow selectors: spec.dependencies only by the promise's (both)" \
	"$(G ls-tree -r --name-only main | grep /static/ | cut -d/ -f1 | sort -u | tr '\n' ' ')" \
	"gold silver "
n=$(count)
head_tiers=$(G rev-parse main)
check "unmount: the daemon exits 0" unmount_fs
mount_fs -o "git=$REPO,destinations=$WORK/tiers.yaml"
sleep 0.5
check_eq "promise-workflow selectors: a restart commits nothing" "$(count)" "$n"
check_eq "promise-workflow selectors: after a restart the request is still on a-silver only" \
	"$(G ls-tree -r --name-only main | grep /resources/my-namespace/ | cut -d/ -f1 | sort -u)" "silver"
check_eq "promise-workflow selectors: a restart keeps the head" "$(G rev-parse main)" "$head_tiers"
check "unmount: the daemon exits 0" unmount_fs
rm -f "$PW/metadata/destination-selectors.yaml"

# A destination labelled kratix.io/dry-run: "true" takes no work, as Kratix routes only dry-run
# works there: the request goes to the other one even though the dry-run one comes first.
{
	destination a-preview 'environment=dev,kratix.io/dry-run="true"' preview
	destination real environment=dev real
} >"$WORK/dryrun.yaml"
use dryrun
mount_fs -o "git=$REPO,destinations=$WORK/dryrun.yaml"
fresh_request my-db small
check_eq "dry-run destination: nothing but its canary files" \
	"$(G ls-tree -r --name-only main -- preview | tr '\n' ' ')" \
	"preview/dependencies/kratix-canary-namespace.yaml preview/resources/kratix-canary-configmap.yaml "
check "dry-run destination: the request is on the other" \
	G cat-file -e "main:real/resources/my-namespace/postgresql/my-db/instance-configure/5058f/statefulset.yaml"
check "unmount: the daemon exits 0" unmount_fs

# --- mode none: files at the destination's root, with a .kratix/ index per WorkPlacement -------
destination flat environment=dev flat none >"$WORK/none.yaml"
use none
mount_fs -o "git=$REPO,destinations=$WORK/none.yaml"
fresh_request my-db medium
check_eq "none: the outputs at <path>/<file>" \
	"$(G ls-tree --name-only main flat/ | grep -v -e '^flat/\.kratix$' -e static -e kratix-canary | tr '\n' ' ')" \
	"flat/secret.yaml flat/secrets-role.yaml flat/service.yaml flat/serviceaccount.yaml flat/statefulset.yaml flat/status-clusterrole.yaml "
check "none: the statefulset is my-db's, medium" \
	sh -c "git --git-dir='$REPO' show main:flat/statefulset.yaml | grep -q 'replicas: 2'"
idx=$(G ls-tree --name-only main flat/.kratix/ | grep 'flat/.kratix/my-namespace-postgresql-my-db-')
check_eq "none: one index for the request, in .kratix/<namespace>-<workplacement>.yaml" \
	"$(printf '%s\n' "$idx" | grep -c '\.yaml$')" "1"
check_eq "none: the index lists the request's files" "$(G show "main:$idx")" \
	"$(printf 'files:\n- flat/secret.yaml\n- flat/service.yaml\n- flat/statefulset.yaml')"
check "none: the promise's index exists too" \
	sh -c "git --git-dir='$REPO' ls-tree --name-only main flat/.kratix/ | grep -q kratix-platform-system-postgresql"
request my-db small >"$MNT/requests/my-db/object.yaml"
check "none: a rewrite replaces the file" \
	sh -c "git --git-dir='$REPO' show main:flat/statefulset.yaml | grep -q 'replicas: 1'"
n=$(count)
cp "$MNT/requests/my-db/object.yaml" "$WORK/same.yaml"
cp "$WORK/same.yaml" "$MNT/requests/my-db/object.yaml"
check_eq "none: the same content, no commit" "$(count)" "$n"
before=$(G rev-parse main)
rm -rf "$MNT/requests/my-db"
check_eq "none: rm -rf removes the files and the index, nothing else" \
	"$(G diff --name-status "$before" main | sort | tr '\t\n' ' ')" \
	"D $idx D flat/secret.yaml D flat/service.yaml D flat/statefulset.yaml "
check_eq "none: rm -rf: Delete from: <its WorkPlacement>" "$(G log -1 --format=%s main)" \
	"Delete from: $(rq my-db flat)"
check_eq "none: the index is named after it" "$idx" "flat/.kratix/my-namespace-$(rq my-db flat).yaml"
check "none: fsck" G fsck --strict --no-dangling --no-progress
check "unmount: the daemon exits 0" unmount_fs

# --- aggregatedYAML: every workload of the destination in one file -----------------------------
destination all environment=dev agg aggregatedYAML everything.yaml >"$WORK/agg.yaml"
use agg
mount_fs -o "git=$REPO,destinations=$WORK/agg.yaml"
fresh_request db-a small
fresh_request db-b large
check_eq "aggregatedYAML: one file, spec.filepath.filename, and its parts index outside agg/" \
	"$(files)" ".kratixfs/aggregated/agg/everything.yaml.parts agg/everything.yaml "
check_eq "aggregatedYAML: a plain join, as Kratix writes it: no kratixfs lines" \
	"$(G show main:agg/everything.yaml | grep -c kratixfs)" "0"
G show main:agg/everything.yaml >"$WORK/all.yaml"
check_eq "aggregatedYAML: both requests' StatefulSets" \
	"$(awk '/^kind: StatefulSet/ { s = 1 } s && /^  name:/ { print $2; s = 0 }' "$WORK/all.yaml" |
		sort | tr '\n' ' ')" \
	"db-a db-b "
check_eq "aggregatedYAML: both Services and Secrets" \
	"$(grep -c -e '^kind: Service$' -e '^kind: Secret$' "$WORK/all.yaml")" "4"
check_grep "aggregatedYAML: the promise's dependencies are in it" "$WORK/all.yaml" \
	"kind: ServiceAccount"
check_grep "aggregatedYAML: and the static ones" "$WORK/all.yaml" "name: postgresql-system"
check "aggregatedYAML: documents are joined by ---" grep -qx -- '---' "$WORK/all.yaml"
if command -v yq >/dev/null 2>&1; then
	check "aggregatedYAML: the file parses as a YAML stream" yq -e . "$WORK/all.yaml"
fi
n=$(count)
head_agg=$(G rev-parse main)
check "unmount: the daemon exits 0" unmount_fs
mount_fs -o "git=$REPO,destinations=$WORK/agg.yaml"
sleep 0.5
check_eq "aggregatedYAML: a restart commits nothing" "$(count)" "$n"
check_eq "aggregatedYAML: a restart keeps the head" "$(G rev-parse main)" "$head_agg"
check "aggregatedYAML: after the restart the file still holds db-a" \
	sh -c "git --git-dir='$REPO' show main:agg/everything.yaml | grep -q 'name: db-a'"
request db-b small >"$MNT/requests/db-b/object.yaml"
G show main:agg/everything.yaml >"$WORK/all.yaml"
check_eq "aggregatedYAML: after the restart, a change keeps the other request's part" \
	"$(grep -c 'instance: db-a' "$WORK/all.yaml")" "$(grep -c 'instance: db-b' "$WORK/all.yaml")"
rm -rf "$MNT/requests/db-a"
G show main:agg/everything.yaml >"$WORK/all.yaml"
check_eq "aggregatedYAML: rm -rf db-a: Delete from: <its WorkPlacement>" \
	"$(G log -1 --format=%s main)" "Delete from: $(rq db-a all)"
check_eq "aggregatedYAML: db-a's part is gone" "$(grep -c 'db-a' "$WORK/all.yaml")" "0"
check_grep "aggregatedYAML: db-b's part stays" "$WORK/all.yaml" "name: db-b"
rm -rf "$MNT/requests/db-b"
check_grep "aggregatedYAML: with no request left, the dependencies stay" \
	<(G show main:agg/everything.yaml) "kind: ServiceAccount"
check "aggregatedYAML: fsck" G fsck --strict --no-dangling --no-progress
check "unmount: the daemon exits 0" unmount_fs

# --- aggregatedYAML after a restart where a request no longer renders: its part stays -----------
use agg-restart
mount_fs -o "git=$REPO,destinations=$WORK/agg.yaml"
fresh_request keep-a small
fresh_request keep-b large
check "unmount: the daemon exits 0" unmount_fs
cp "$PROMISES/postgresql/promise.yaml" "$WORK/promise.yaml.orig"
# small is gone: keep-a's input no longer validates
sed -i -e 's/- small$/- tiny/' -e 's/default: small$/default: medium/' "$PROMISES/postgresql/promise.yaml"
mount_fs -o "git=$REPO,destinations=$WORK/agg.yaml"
check_eq "aggregatedYAML, restart: keep-a no longer renders" \
	"$(cat "$MNT/requests/keep-a/phase")" "Error"
check_eq "aggregatedYAML, restart: its part stays in the file" \
	"$(G show main:agg/everything.yaml | grep -c '^  name: keep-a$')" \
	"$(G show main:agg/everything.yaml | grep -c '^  name: keep-b$')"
request keep-b medium >"$MNT/requests/keep-b/object.yaml"
check_grep "aggregatedYAML, restart: keep-b's change is committed" \
	<(G show main:agg/everything.yaml) "replicas: 2"
check_eq "aggregatedYAML, restart: and keep-a's part still stays" \
	"$(G show main:agg/everything.yaml | grep -c '^  name: keep-a$')" \
	"$(G show main:agg/everything.yaml | grep -c '^  name: keep-b$')"
check "unmount: the daemon exits 0" unmount_fs
cp "$WORK/promise.yaml.orig" "$PROMISES/postgresql/promise.yaml"

# --- what `kubectl get destinations,gitstatestores -o yaml` gives: a List, paths in the store's --
cat >"$WORK/list.yaml" <<'EOF'
apiVersion: v1
kind: List
items:
- apiVersion: platform.kratix.io/v1alpha1
  kind: GitStateStore
  metadata: {name: default}
  spec:
    branch: main
    path: platform/
    url: https://git.example.com/state.git
    gitAuthor: {name: platform-bot, email: bot@example.com}
- apiVersion: platform.kratix.io/v1alpha1
  kind: Destination
  metadata:
    name: dev
    labels: {environment: dev}
  spec:
    path: dev
    stateStoreRef: {kind: GitStateStore, name: default}
EOF
use list
mount_fs -o "git=$REPO,destinations=$WORK/list.yaml"
fresh_request st1 small
check "state store: the request's files are under the GitStateStore's spec.path" \
	G cat-file -e "main:platform/dev/resources/my-namespace/postgresql/st1/instance-configure/5058f/statefulset.yaml"
check "state store: and the promise's dependencies" \
	G cat-file -e "main:platform/dev/dependencies/postgresql/5058f/static/postgresql-dependencies.yaml"
check_eq "state store: every commit is signed by its spec.gitAuthor" \
	"$(G log --format='%an <%ae>|%cn <%ce>' main | sort -u)" \
	"platform-bot <bot@example.com>|platform-bot <bot@example.com>"
check "unmount: the daemon exits 0" unmount_fs
check_fails "state store: another branch than the store's is refused at start" \
	timeout 20 "$KRATIXFS" -f -o "promises=$PROMISES,state=$STATE,git=$REPO,git_branch=prod" \
	-o "destinations=$WORK/list.yaml" "$MNT"
check_grep "state store: and the error says what to change" "$WORK/err" \
	"destination dev is on GitStateStore default, which writes branch main, but kratixfs writes prod"
finish
