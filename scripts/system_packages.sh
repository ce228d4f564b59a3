#!/usr/bin/env bash
# System tools the tests need that pip cannot provide, installed from Debian when missing:
#   promtool            alert rule tests (package prometheus)
#   nft                 the beat failover test black-holes a connection like a vanished host
#   chromium, chromedriver   the admin browser test (never a browser downloaded by pip)
#   docker-compose      parses and resolves docker/compose*.yaml (no Docker engine needed)
set -euo pipefail

# command:package pairs; a package is installed when its command is missing.
needed=(
  "promtool:prometheus"
  "nft:nftables"
  "chromium:chromium"
  "chromedriver:chromium-driver"
  "docker-compose:docker-compose"
)

missing=()
for pair in "${needed[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  # No recommends: only the tools, not services, desktop extras or a Docker engine.
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
promtool --version | head -n 1
docker-compose version --short
# `kubectl kustomize` renders docker/k8s (tests/deploy/test_kubernetes.py). The machine image
# ships kubectl; Debian's kubernetes-client is too old (kustomize v2) for the overlays, and
# no kustomize binary is packaged on PyPI, npm or Debian.
if ! command -v kubectl >/dev/null 2>&1; then
  echo "kubectl is missing: install kubectl >= 1.21 (kustomize v4+) for the Kubernetes checks" >&2
  exit 1
fi
kubectl version --client 2>/dev/null | grep -i kustomize
