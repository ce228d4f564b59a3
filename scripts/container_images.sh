#!/usr/bin/env bash
# Base images built from Debian's packages, since no image registry is reachable here:
# a `debootstrap --variant=minbase bookworm` root imported into Podman, then Python 3.11,
# PostgreSQL 15, Redis 7.0 and RabbitMQ 3.10 on it (docker/base/). Each image is tagged
# with a hash of its recipe and built only when that tag is missing, so a second run
# costs nothing and an edited recipe rebuilds what depends on it.
# Writes var/containers/images.env: the image names compose takes (POSTGRES_IMAGE, ...).
set -euo pipefail
source "$(dirname "$0")/podman_env.sh"
cd "$PROJECT_ROOT"
ensure_container_packages

MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

# The root's recipe: what debootstrap gets and the apt settings written into it (below).
DEBIAN_RECIPE="debootstrap --variant=minbase bookworm; Check-Valid-Until false; no recommends"
debian_image="localhost/payments-debian:bookworm-$(echo "$DEBIAN_RECIPE" | sha256sum | cut -c1-12)"
if ! podman image exists "$debian_image"; then
  started=$SECONDS
  root="$(mktemp -d /var/tmp/payments-debootstrap.XXXXXX)"
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$CONTAINER_VAR/debootstrap.log" 2>&1 \
    || { tail -n 20 "$CONTAINER_VAR/debootstrap.log" >&2; exit 1; }
  # The mirror may serve a snapshot whose Release files are past their Valid-Until.
  printf '%s\n' 'Acquire::Check-Valid-Until "false";' 'APT::Install-Recommends "false";' \
    > "$root/etc/apt/apt.conf.d/90payments"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" --numeric-owner -c . | podman import --quiet - "$debian_image" >/dev/null
  rm -rf "$root"
  trap - EXIT
  echo "built $debian_image in $((SECONDS - started)) s"
fi

images_env="$CONTAINER_VAR/images.env"
: >"$images_env.new"
for name in python postgres redis rabbitmq; do
  recipe=(docker/base/Containerfile."$name")
  [ -f "docker/base/$name-entrypoint.sh" ] && recipe+=("docker/base/$name-entrypoint.sh")
  image="localhost/payments-$name:$(echo "$debian_image" | cat - "${recipe[@]}" | sha256sum | cut -c1-12)"
  if ! podman image exists "$image"; then
    started=$SECONDS
    # --network host: apt reaches Debian's mirror as the host does (the build's only traffic).
    # --format docker: OCI images drop HEALTHCHECK.
    podman build --quiet --format docker --network host --build-arg DEBIAN_IMAGE="$debian_image" \
      -f "docker/base/Containerfile.$name" -t "$image" docker/base >/dev/null
    echo "built $image in $((SECONDS - started)) s"
  fi
  echo "${name^^}_IMAGE=$image" >>"$images_env.new"
done
mv "$images_env.new" "$images_env"
cat "$images_env"
