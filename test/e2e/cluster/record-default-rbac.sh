#!/usr/bin/env bash
# Records the default RBAC of a fresh cluster started by cluster.sh (all four kinds, as the
# apiserver serves them once the aggregation controller has filled admin, edit and view) into
# test/fixtures/rbac/default-rbac-<version>.json: a v1 List of the four typed lists.
#   record-default-rbac.sh DIR      (DIR as printed by cluster.sh start, before any test ran)
set -euo pipefail
DIR=${1:?usage: record-default-rbac.sh DIR}
. "$DIR/env"
REPO="$(cd "$(dirname "$0")/../../.." && pwd)"
get() { curl -sf --cacert "$DIR/ca.crt" --cert "$DIR/admin.crt" --key "$DIR/admin.key" "$APISERVER_URL$1"; }
for _ in $(seq 1 100); do get /apis/rbac.authorization.k8s.io/v1/clusterroles/view | grep -q '"verbs"' && break; sleep 0.3; done
version=$(get /version | node -e "process.stdout.write(JSON.parse(require('fs').readFileSync(0,'utf8')).gitVersion)")
out="$REPO/test/fixtures/rbac/default-rbac-$version.json"
{
  printf '{"apiVersion":"v1","kind":"List","metadata":{"kubernetesVersion":"%s"},"items":[' "$version"
  sep=''
  for kind in clusterroles clusterrolebindings roles rolebindings; do
    printf '%s' "$sep"; get "/apis/rbac.authorization.k8s.io/v1/$kind"; sep=','
  done
  printf ']}\n'
} | node -e "const l=JSON.parse(require('fs').readFileSync(0,'utf8')); for (const t of l.items) for (const o of t.items) { delete o.metadata.managedFields; delete o.metadata.resourceVersion; delete o.metadata.uid; delete o.metadata.creationTimestamp; } process.stdout.write(JSON.stringify(l, null, 1) + '\n')" > "$out"
echo "$out"
