#!/usr/bin/env bash
# A real Kubernetes control plane on loopback for end-to-end tests: etcd, kube-apiserver
# (--authorization-mode=Node,RBAC, audit webhook into kubetrail, log backend to a file as well)
# and kube-controller-manager with the clusterrole-aggregation, serviceaccount,
# serviceaccount-token and namespace controllers. Binaries from build.sh (cached).
#
#   cluster.sh start WEBHOOK_URL   generate credentials and start; prints KUBETRAIL_E2E_DIR=<dir>
#   cluster.sh stop DIR            stop what start started (by PID) and delete DIR
#
# DIR then holds: admin.kubeconfig (client certificate in system:masters), tokens.csv (static
# tokens of test humans: alice-token → alice in dev-team, bob-token → bob), ca.crt, the audit
# log (audit.log), each component's log, and env (APISERVER_URL=…). See README.md here.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

wait_for() { # wait_for WHAT SECONDS COMMAND…
  local what=$1 secs=$2; shift 2
  for _ in $(seq 1 $((secs * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "cluster.sh: $what not ready within ${secs}s; see the logs in $DIR" >&2
  return 1
}

start() {
  local webhook=$1
  BIN="$(bash "$REPO/test/infra/k8s/build.sh")"
  DIR="$(mktemp -d "${TMPDIR:-/tmp}/kubetrail-e2e-XXXXXX")"
  cd "$DIR"
  local etcd_port etcd_peer api_port kcm_port
  etcd_port=$(free_port); etcd_peer=$(free_port); api_port=$(free_port); kcm_port=$(free_port)

  # Credentials: a CA, the serving certificate, an admin certificate in system:masters, the
  # controller manager's certificate, service-account signing keys and static tokens.
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj "/CN=kubetrail-e2e-ca" 2>/dev/null
  cert() { # cert NAME SUBJECT EXTENSIONS
    openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
    printf '%s\n' "$3" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  }
  cert apiserver "/CN=kube-apiserver" "subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes.default.svc
extendedKeyUsage=serverAuth"
  cert admin "/CN=e2e-admin/O=system:masters" "extendedKeyUsage=clientAuth"
  cert kcm "/CN=system:kube-controller-manager" "extendedKeyUsage=clientAuth"
  openssl genrsa -out sa.key 2048 2>/dev/null && openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  cat > tokens.csv <<'TOKENS'
alice-token,alice,u-alice,"dev-team"
bob-token,bob,u-bob,
carol-token,carol,u-carol,"qa"
dave-token,dave,u-dave
erin-token,erin,u-erin,"sre"
TOKENS

  local server="https://127.0.0.1:$api_port"
  kubeconfig() { # kubeconfig FILE USER-YAML
    cat > "$1" <<KC
apiVersion: v1
kind: Config
clusters: [{name: e2e, cluster: {server: "$server", certificate-authority: "$DIR/ca.crt"}}]
users: [{name: u, user: $2}]
contexts: [{name: e2e, context: {cluster: e2e, user: u}}]
current-context: e2e
KC
  }
  kubeconfig admin.kubeconfig "{client-certificate: \"$DIR/admin.crt\", client-key: \"$DIR/admin.key\"}"
  kubeconfig kcm.kubeconfig "{client-certificate: \"$DIR/kcm.crt\", client-key: \"$DIR/kcm.key\"}"
  cat > audit-webhook.kubeconfig <<KC
apiVersion: v1
kind: Config
clusters: [{name: kubetrail, cluster: {server: "$webhook"}}]
users: [{name: apiserver, user: {}}]
contexts: [{name: kubetrail, context: {cluster: kubetrail, user: apiserver}}]
current-context: kubetrail
KC

  "$BIN/etcd" --name e2e --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-cluster "e2e=http://127.0.0.1:$etcd_peer" --unsafe-no-fsync --log-level warn > etcd.log 2>&1 &
  echo $! > etcd.pid
  wait_for etcd 30 curl -sf "http://127.0.0.1:$etcd_port/health"

  "$BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
    --tls-cert-file=apiserver.crt --tls-private-key-file=apiserver.key \
    --client-ca-file=ca.crt --token-auth-file=tokens.csv \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file=sa.pub --service-account-signing-key-file=sa.key \
    --service-cluster-ip-range=10.0.0.0/24 \
    --authorization-mode=Node,RBAC \
    --audit-policy-file="$REPO/deploy/audit-policy.yaml" \
    --audit-log-path="$DIR/audit.log" --audit-log-format=json \
    --audit-webhook-config-file=audit-webhook.kubeconfig \
    --audit-webhook-mode=batch --audit-webhook-batch-max-wait=1s \
    > apiserver.log 2>&1 &
  echo $! > apiserver.pid
  wait_for kube-apiserver 120 sh -c "curl -sk --cacert ca.crt '$server/readyz' | grep -qx ok"

  "$BIN/kube-controller-manager" --kubeconfig=kcm.kubeconfig \
    --authentication-kubeconfig=kcm.kubeconfig --authorization-kubeconfig=kcm.kubeconfig \
    --use-service-account-credentials=true --service-account-private-key-file=sa.key --root-ca-file=ca.crt \
    --leader-elect=false --bind-address=127.0.0.1 --secure-port="$kcm_port" \
    --controllers=clusterrole-aggregation,serviceaccount,serviceaccount-token,namespace \
    > controller-manager.log 2>&1 &
  echo $! > controller-manager.pid
  wait_for kube-controller-manager 60 curl -sk "https://127.0.0.1:$kcm_port/healthz"

  printf 'APISERVER_URL=%s\nE2E_DIR=%s\n' "$server" "$DIR" > env
  echo "KUBETRAIL_E2E_DIR=$DIR"
}

stop() {
  DIR=$1
  for p in controller-manager apiserver etcd; do
    if [ -f "$DIR/$p.pid" ]; then
      local pid; pid=$(cat "$DIR/$p.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  case "$DIR" in */kubetrail-e2e-*) rm -rf "$DIR" ;; esac
}

case "${1:-}" in
  start) start "${2:?usage: cluster.sh start WEBHOOK_URL}" ;;
  stop) stop "${2:?usage: cluster.sh stop DIR}" ;;
  *) echo "usage: cluster.sh start WEBHOOK_URL | stop DIR" >&2; exit 2 ;;
esac
