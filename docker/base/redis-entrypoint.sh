#!/bin/sh
# As the upstream image does: `redis-server` without a config file listens on every
# interface of the container, so protected mode (loopback only without a password) is off.
set -eu
if [ "${1:-}" = redis-server ] && [ "${2:-}" = "${2#/}" ]; then
  shift
  exec redis-server --protected-mode no "$@"
fi
exec "$@"
