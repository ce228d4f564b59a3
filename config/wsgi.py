"""WSGI entry point for gunicorn; tracing starts here, once per worker process."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from config import telemetry

telemetry.configure_tracing(service_name="payments-web")
application = get_wsgi_application()
