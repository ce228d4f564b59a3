"""The peer's whole configuration: its own database, the bench's broker and fake Stripe."""

import os

SECRET_KEY = "peer-benchmark-only"  # a benchmark app on loopback, never deployed
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
INSTALLED_APPS = ["tests.bench.peer"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "tests.bench.peer.urls"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("PEER_DATABASE", "payments_peer"),
        "USER": "postgres",
        "HOST": "127.0.0.1",
        "PORT": 5432,
    }
}
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "http://127.0.0.1:12111")
# The guide's "rate_limit='25/s'": Stripe's per-endpoint limit, per worker as Celery counts it.
PEER_RATE_LIMIT = os.environ.get("PEER_RATE_LIMIT", "25/s")
