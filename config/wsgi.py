"""WSGI entry point for gunicorn; tracing starts here, once per worker process."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from config import telemetry

telemetry.configure_tracing(service_name="payments-web")
application = get_wsgi_application()

# After the app is loaded (the outbox needs Django's models): publishes leave the response
# path (outbox/services.py).
from outbox import services as outbox  # noqa: E402

outbox.publish_in_background()
