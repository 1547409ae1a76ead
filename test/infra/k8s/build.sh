#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and etcd at pinned versions from the Go module
# proxy, into ~/.cache/kubetrail/k8s-<version>/bin; does nothing when they are there already.
# k8s.io/kubernetes cannot be `go install`ed (its go.mod replaces every staging module with a
# local path), so a throwaway wrapper module replaces each staging module with its published
# v0.X.Y and builds the commands from there. Cold: some 400 MB of modules and 15-20 minutes
# on 2 cores; warm: nothing. Prints the bin folder.
set -euo pipefail
K=1.34.4
S=0.34.4
C="${KUBETRAIL_CACHE:-$HOME/.cache/kubetrail}"
W="$C/k8s-$K/src"
B="$C/k8s-$K/bin"
if [ -x "$B/kube-apiserver" ] && [ -x "$B/kube-controller-manager" ] && [ -x "$B/etcd" ]; then
  echo "$B"
  exit 0
fi
command -v go >/dev/null || { echo "build.sh: Go is needed to build kube-apiserver (https://go.dev/dl)" >&2; exit 1; }
mkdir -p "$W" "$B"
export GOFLAGS=-mod=mod GOMODCACHE="$C/gomod" GOCACHE="$C/gobuild" CGO_ENABLED=0
cd "$W"
[ -f go.mod ] || go mod init local/k8sbins >/dev/null 2>&1
for m in api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider \
  cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api \
  cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms \
  kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics \
  mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller; do
  go mod edit -replace="k8s.io/$m=k8s.io/$m@v$S"
done
go get "k8s.io/kubernetes/cmd/kube-apiserver@v$K" "k8s.io/kubernetes/cmd/kube-controller-manager@v$K" >&2
LD="-s -w -X k8s.io/component-base/version.gitVersion=v$K -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34"
[ -x "$B/etcd" ] || go build -trimpath -ldflags "-s -w" -o "$B/etcd" go.etcd.io/etcd/server/v3 >&2
[ -x "$B/kube-apiserver" ] || go build -trimpath -ldflags "$LD" -o "$B/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2
[ -x "$B/kube-controller-manager" ] || go build -trimpath -ldflags "$LD" -o "$B/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager >&2
echo "$B"
