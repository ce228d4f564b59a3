#!/bin/sh
# The default user from the environment (as the upstream image takes it), written to a
# config file: never on a command line. Node data stays in /var/lib/rabbitmq (the volume).
set -eu
conf=/etc/rabbitmq/conf.d/10-defaults.conf
{
  echo "loopback_users = none"
  echo "listeners.tcp.default = 5672"
  echo "management.tcp.port = 15672"
  if [ -n "${RABBITMQ_DEFAULT_USER:-}" ]; then
    echo "default_user = $RABBITMQ_DEFAULT_USER"
    echo "default_pass = ${RABBITMQ_DEFAULT_PASS:?RABBITMQ_DEFAULT_PASS is required}"
  fi
} > "$conf"
chmod 600 "$conf"
unset RABBITMQ_DEFAULT_USER RABBITMQ_DEFAULT_PASS
exec "$@"
