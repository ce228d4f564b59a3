# Sourced by the container scripts: Podman from Debian (installed when missing), with the
# project's containers.conf (runc, cgroupfs, explicit ulimits, netavark) for every command.
PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CONTAINERS_CONF="$PROJECT_ROOT/docker/podman/containers.conf"
CONTAINER_VAR="${CONTAINER_VAR:-$PROJECT_ROOT/var/containers}"
mkdir -p "$CONTAINER_VAR"

ensure_container_packages() {
  # command:package pairs, installed from Debian when the command is missing.
  local needed=(
    "podman:podman" "runc:runc" "debootstrap:debootstrap" "/usr/lib/podman/netavark:netavark"
    "/usr/lib/podman/aardvark-dns:aardvark-dns" "docker-compose:docker-compose"
  )
  local missing=() pair
  for pair in "${needed[@]}"; do
    local command="${pair%:*}"
    if [[ "$command" == /* ]]; then [ -e "$command" ] && continue
    else command -v "$command" >/dev/null 2>&1 && continue; fi
    missing+=("${pair##*:}")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    local sudo_cmd=""
    if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo_cmd apt-get update -qq
    $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}
