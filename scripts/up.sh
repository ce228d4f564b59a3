#!/usr/bin/env bash
# `make up`: migrate, create the demo client and an admin, then supervise every process.
#
# Ports, the data directory and the database come from the environment, so a second stack
# (a test, another checkout) runs next to this one: WEB_PORT, REDIS_PORT, FAKESTRIPE_PORT,
# CELERY_MONITOR_PORT, WORKER1_METRICS_PORT, WORKER2_METRICS_PORT, CHARGES1_METRICS_PORT,
# CHARGES2_METRICS_PORT, FLOWER_PORT, VAR_DIR, DATABASE_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
project_dir="$PWD"
export VENV_BIN="${VENV_BIN:-$project_dir/.venv/bin}"
export PATH="$VENV_BIN:$PATH"
# The local stack is development: settings default to production (DEBUG=False).
export DEBUG="${DEBUG:-True}"

export VAR_DIR="${VAR_DIR:-var}"
case "$VAR_DIR" in /*) ;; *) VAR_DIR="$project_dir/$VAR_DIR" ;; esac
export WEB_PORT="${WEB_PORT:-8000}"
export REDIS_PORT="${REDIS_PORT:-6380}"
export REDIS_MAXMEMORY="${REDIS_MAXMEMORY:-256mb}"
export FAKESTRIPE_PORT="${FAKESTRIPE_PORT:-12111}"
# live: Stripe's latency and rate limits (docs/fakestripe.md); zero: instant and unlimited.
export FAKESTRIPE_PROFILE="${FAKESTRIPE_PROFILE:-live}"
export CELERY_MONITOR_PORT="${CELERY_MONITOR_PORT:-9808}"
export WORKER1_METRICS_PORT="${WORKER1_METRICS_PORT:-9809}"
export WORKER2_METRICS_PORT="${WORKER2_METRICS_PORT:-9810}"
export CHARGES1_METRICS_PORT="${CHARGES1_METRICS_PORT:-9811}"
export CHARGES2_METRICS_PORT="${CHARGES2_METRICS_PORT:-9812}"
# The charge workers' pool and size (supervisord.conf says why prefork, 12 each).
export CHARGES_POOL="${CHARGES_POOL:-prefork}"
export CHARGES_CONCURRENCY="${CHARGES_CONCURRENCY:-12}"
# Workers yield the CPU to the web (0 = same priority).
export WORKER_NICE="${WORKER_NICE:-10}"
export FLOWER_PORT="${FLOWER_PORT:-5555}"
export STRIPE_WEBHOOK_SECRET="${STRIPE_WEBHOOK_SECRET:-whsec_dev_fake}"
# The fake delivers what production subscribes to (README, "With real Stripe"): the events
# the service acts on, not every event (three times the webhook traffic per charge).
export STRIPE_WEBHOOK_EVENTS="${STRIPE_WEBHOOK_EVENTS:-$(python -c \
  'from payments.gateways.stripe.webhooks import HANDLED_EVENT_TYPES as e; print(",".join(e))')}"
# Every process of this stack talks to this stack's Redis and fake Stripe, whatever .env says.
export CELERY_BROKER_URL="redis://127.0.0.1:${REDIS_PORT}/0"
export STRIPE_API_BASE="http://127.0.0.1:${FAKESTRIPE_PORT}"
export EMAIL_FILE_PATH="${EMAIL_FILE_PATH:-$VAR_DIR/mail}"

# The web processes share their port (SO_REUSEPORT), so a port already taken by another
# stack would be shared silently: refuse instead.
for name in WEB_PORT REDIS_PORT FAKESTRIPE_PORT CELERY_MONITOR_PORT WORKER1_METRICS_PORT \
    WORKER2_METRICS_PORT CHARGES1_METRICS_PORT CHARGES2_METRICS_PORT FLOWER_PORT; do
  if (exec 3<>"/dev/tcp/127.0.0.1/${!name}") 2>/dev/null; then
    echo "port ${!name} ($name) is in use: stop what listens there or set $name" >&2
    exit 1
  fi
done
mkdir -p "$VAR_DIR"/{mail,run,log,redis,prometheus}
# Both web processes write their samples here; empty it once per stack (config/gunicorn.py).
rm -rf "$VAR_DIR/prometheus/web"

echo "==> database"
python scripts/ensure_database.py
python manage.py migrate --noinput | grep -v "^  No migrations" || true
python manage.py collectstatic --noinput >/dev/null

echo "==> demo API client"
python manage.py create_api_client demo --email demo@example.com --rotate-if-exists \
  --quiet-key > "$VAR_DIR/demo_api_key"
chmod 600 "$VAR_DIR/demo_api_key"

new_secret() { python -c "import secrets; print(secrets.token_urlsafe(16))"; }
if [ ! -f "$VAR_DIR/admin_password" ]; then
  password=$(new_secret)
  if DJANGO_SUPERUSER_PASSWORD="$password" python manage.py createsuperuser --noinput \
      --username admin --email admin@example.com >/dev/null 2>&1; then
    echo "$password" > "$VAR_DIR/admin_password"
    chmod 600 "$VAR_DIR/admin_password"
  fi
fi
if [ ! -f "$VAR_DIR/flower_password" ]; then
  (umask 077 && new_secret > "$VAR_DIR/flower_password")
fi
# Flower reads its basic auth from the environment, never from its command line (ps shows that).
export FLOWER_BASIC_AUTH="flower:$(cat "$VAR_DIR/flower_password")"

cat <<INFO

  API          http://127.0.0.1:${WEB_PORT}/api/v1/payments
  API docs     http://127.0.0.1:${WEB_PORT}/api/docs/
  Admin        http://127.0.0.1:${WEB_PORT}/admin/   (admin / $(cat "$VAR_DIR/admin_password" 2>/dev/null || echo "your existing password"))
  Flower       http://127.0.0.1:${FLOWER_PORT}/   (flower / $(cat "$VAR_DIR/flower_password"); read-only)
  Health       http://127.0.0.1:${WEB_PORT}/healthz   http://127.0.0.1:${WEB_PORT}/readyz
  Metrics      http://127.0.0.1:${WEB_PORT}/metrics   monitor :${CELERY_MONITOR_PORT}   workers :${WORKER1_METRICS_PORT} :${WORKER2_METRICS_PORT} :${CHARGES1_METRICS_PORT} :${CHARGES2_METRICS_PORT}
  Fake Stripe  http://127.0.0.1:${FAKESTRIPE_PORT}/_fake/ledger
  Redis        redis-cli -p ${REDIS_PORT}   (AOF in ${VAR_DIR}/redis)
  Emails       ${VAR_DIR}/mail/
  Logs         ${VAR_DIR}/log/<process>.log
  Processes    make ps   (a crashed one is restarted)
  Demo key     $(cat "$VAR_DIR/demo_api_key")   (also in ${VAR_DIR}/demo_api_key; used by 'make demo')

  Stop everything with Ctrl-C.

INFO
exec supervisord -c scripts/supervisord.conf
