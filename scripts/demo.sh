#!/usr/bin/env bash
# `make demo`: the main job, for real, on this machine.
#   1. bootstrap the toolchain (Pulumi CLI, Node language host, Kubernetes provider, kube-apiserver, etcd)
#   2. start the local control plane (loopback only)
#   3. `pulumi up --yes` the `local` stack (region eu-west) with tenants.yaml
#   4. print what exists per tenant, read back from the API server
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$(bash scripts/ensure-node.sh):$PATH"
t0=$SECONDS

echo "==> [1/4] toolchain"
bash scripts/bootstrap-toolchain.sh
# shellcheck disable=SC1091
source .work/toolchain.env

echo "==> [2/4] local control plane"
bash scripts/local-up.sh k8s
# shellcheck disable=SC1091
source .work/local.env
# shellcheck disable=SC1091
source scripts/lib/local-stack.sh

echo "==> [3/4] pulumi up --stack local"
pulumi stack select --create local --non-interactive >/dev/null
# --refresh: the control plane may have been reset since the last demo (make test starts a fresh one).
pulumi up --yes --refresh --stack local --non-interactive --skip-preview --suppress-progress

echo "==> [4/4] what exists per tenant (kubeconfig: $KUBECONFIG)"
./tenantctl report --stack local
echo
echo "Done in $((SECONDS - t0))s. Check it yourself:"
echo "  kubectl --kubeconfig $KUBECONFIG get ns -L tenant,tier,collectverything.com/lifecycle,collectverything.com/deletion-date"
echo "  kubectl --kubeconfig $KUBECONFIG -n e-commerce-client-abc get resourcequota,limitrange,networkpolicy,role,rolebinding,hpa,cronjob,ingress,pvc"
echo "Stop the control plane with: make local-down"
