#!/usr/bin/env bash
# `make e2e-kind`: set up kind + Istio ambient + Waypoint (unless SKIP_SETUP=1), deploy the test apps, run the
# ambient e2e suite against the cluster's kubeconfig, and delete the cluster unless KEEP_CLUSTER=1.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
CLUSTER_NAME="${CLUSTER_NAME:-waypoint-ambient}"
export CLUSTER_NAME

if [ "${SKIP_SETUP:-0}" != 1 ]; then
  bash "$here/setup-kind.sh"
fi

kubeconfig="$(mktemp)"
trap 'rm -f "$kubeconfig"; if [ "${KEEP_CLUSTER:-0}" != 1 ] && [ "${SKIP_SETUP:-0}" != 1 ]; then kind delete cluster --name "$CLUSTER_NAME"; fi' EXIT
kind get kubeconfig --name "$CLUSTER_NAME" > "$kubeconfig"

KUBECONFIG="$kubeconfig" kubectl apply -f "$here/testdata/apps.yaml"
KUBECONFIG="$kubeconfig" kubectl -n ambient-e2e rollout status deploy --timeout=180s

WAYPOINT_E2E_KUBECONFIG="$kubeconfig" dotnet test "$here/Waypoint.Ambient.E2E.Tests" -c Release \
  --logger "console;verbosity=normal" -- RunConfiguration.TreatNoTestsAsError=true
