#!/usr/bin/env bash
# Creates a kind cluster with the Gateway API CRDs (experimental channel, for HTTPRoute retry), Istio ambient and
# Waypoint (this repository's image, loaded into kind, installed with the Helm chart or plain manifests).
#
# Needs: docker, kind, kubectl, istioctl (or helm), and network access to the image registries.
# Environment: CLUSTER_NAME, KIND_NODE_IMAGE, GATEWAY_API_VERSION, ISTIO_VERSION, WAYPOINT_IMAGE, INSTALL_WITH (helm|kubectl).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
CLUSTER_NAME="${CLUSTER_NAME:-waypoint-ambient}"
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-kindest/node:v1.34.0}"
GATEWAY_API_VERSION="${GATEWAY_API_VERSION:-v1.6.1}"
ISTIO_VERSION="${ISTIO_VERSION:-1.28.0}"
WAYPOINT_IMAGE="${WAYPOINT_IMAGE:-waypoint:dev}"
INSTALL_WITH="${INSTALL_WITH:-helm}"

need() { command -v "$1" >/dev/null || { echo "setup-kind: '$1' is required" >&2; exit 1; }; }
need docker; need kind; need kubectl

if ! kind get clusters | grep -qx "$CLUSTER_NAME"; then
  kind create cluster --name "$CLUSTER_NAME" --image "$KIND_NODE_IMAGE" --config "$here/kind-config.yaml" --wait 120s
fi
kubectl config use-context "kind-$CLUSTER_NAME"

echo "== Gateway API $GATEWAY_API_VERSION (experimental channel)"
kubectl apply --server-side -f "https://github.com/kubernetes-sigs/gateway-api/releases/download/$GATEWAY_API_VERSION/experimental-install.yaml"

echo "== Istio $ISTIO_VERSION, ambient profile"
if command -v istioctl >/dev/null; then
  istioctl install -y --set profile=ambient --set values.global.istioNamespace=istio-system
else
  need helm
  helm repo add istio https://istio-release.storage.googleapis.com/charts >/dev/null
  helm repo update istio >/dev/null
  helm upgrade --install istio-base istio/base -n istio-system --create-namespace --version "$ISTIO_VERSION" --wait
  helm upgrade --install istiod istio/istiod -n istio-system --version "$ISTIO_VERSION" --set profile=ambient --wait
  helm upgrade --install istio-cni istio/cni -n istio-system --version "$ISTIO_VERSION" --set profile=ambient --wait
  helm upgrade --install ztunnel istio/ztunnel -n istio-system --version "$ISTIO_VERSION" --wait
fi
kubectl -n istio-system rollout status deploy/istiod --timeout=180s
kubectl -n istio-system rollout status ds/ztunnel --timeout=180s

echo "== Waypoint image $WAYPOINT_IMAGE"
docker build -t "$WAYPOINT_IMAGE" "$root"
kind load docker-image "$WAYPOINT_IMAGE" --name "$CLUSTER_NAME"

echo "== Waypoint ($INSTALL_WITH)"
repository="${WAYPOINT_IMAGE%:*}"; tag="${WAYPOINT_IMAGE##*:}"
if [ "$INSTALL_WITH" = helm ]; then
  need helm
  helm upgrade --install waypoint "$root/manifests/charts/waypoint" -n waypoint-system --create-namespace \
    --set image.repository="$repository" --set image.tag="$tag" --set image.pullPolicy=Never --wait
else
  kubectl apply -f "$root/manifests/crds/"
  kubectl apply -f "$root/manifests/install/namespace.yaml"
  kubectl apply -f "$root/manifests/install/"
  kubectl -n waypoint-system set image deploy/waypoint-controller controller="$WAYPOINT_IMAGE"
  kubectl -n waypoint-system set env deploy/waypoint-controller Waypoint__Controller__AgentImage="$WAYPOINT_IMAGE" Waypoint__Controller__ImagePullPolicy=Never
fi
kubectl -n waypoint-system rollout status deploy/waypoint-controller --timeout=180s
kubectl wait --for=condition=Accepted gatewayclass/kgateway-waypoint --timeout=60s
echo "setup-kind: cluster kind-$CLUSTER_NAME is ready"
