#!/usr/bin/env bash
# `make up`: migrate, create the demo client and an admin, then run every process.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
# The local stack is development: settings default to production (DEBUG=False).
export DEBUG="${DEBUG:-True}"
mkdir -p var/mail var/run var/prometheus

echo "==> database"
python scripts/ensure_database.py
python manage.py migrate --noinput | grep -v "^  No migrations" || true
python manage.py collectstatic --noinput >/dev/null

echo "==> demo API client"
python manage.py create_api_client demo --email demo@example.com --rotate-if-exists \
  --quiet-key > var/demo_api_key
chmod 600 var/demo_api_key

if [ ! -f var/admin_password ]; then
  password=$(python -c "import secrets; print(secrets.token_urlsafe(16))")
  if DJANGO_SUPERUSER_PASSWORD="$password" python manage.py createsuperuser --noinput \
      --username admin --email admin@example.com >/dev/null 2>&1; then
    echo "$password" > var/admin_password
    chmod 600 var/admin_password
  fi
fi

web_port="${WEB_PORT:-8000}"
cat <<INFO

  API          http://127.0.0.1:${web_port}/api/v1/payments
  API docs     http://127.0.0.1:${web_port}/api/docs/
  Admin        http://127.0.0.1:${web_port}/admin/   (admin / $(cat var/admin_password 2>/dev/null || echo "your existing password"))
  Health       http://127.0.0.1:${web_port}/healthz   http://127.0.0.1:${web_port}/readyz
  Metrics      http://127.0.0.1:${web_port}/metrics   monitor :9808   workers :9809 :9810
  Fake Stripe  http://127.0.0.1:${FAKESTRIPE_PORT:-12111}/_fake/ledger
  Emails       var/mail/
  Demo key     $(cat var/demo_api_key)   (also in var/demo_api_key; used by 'make demo')

  Stop everything with Ctrl-C.

INFO
exec honcho start -f Procfile
