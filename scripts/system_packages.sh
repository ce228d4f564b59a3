#!/usr/bin/env bash
# System tools the tests need that pip cannot provide, installed from Debian when missing:
#   promtool            alert rule tests (package prometheus)
#   nft                 the beat failover test black-holes a connection like a vanished host
#   chromium, chromedriver   the admin browser test (never a browser downloaded by pip)
set -euo pipefail

# command:package pairs; a package is installed when its command is missing.
needed=(
  "promtool:prometheus"
  "nft:nftables"
  "chromium:chromium"
  "chromedriver:chromium-driver"
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
  # No recommends: only the tools, not services or desktop extras.
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
promtool --version | head -n 1
