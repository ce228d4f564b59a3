#!/usr/bin/env bash
# System tools the test suite needs that pip cannot provide: promtool (alert rule tests) and
# nft (the beat failover test black-holes a connection the way a vanished host would).
set -euo pipefail

if ! command -v promtool >/dev/null 2>&1; then
  echo "installing promtool (Debian package prometheus)"
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  # No recommends: only the binaries, not the node exporter or a running service.
  $sudo_cmd apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
if ! command -v nft >/dev/null 2>&1; then
  echo "installing nft (Debian package nftables)"
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends nftables >/dev/null
fi
promtool --version | head -n 1
nft --version
