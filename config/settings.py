"""The one settings module: every value that differs per deployment comes from the environment."""

from pathlib import Path

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured

# Lets admin, serializer and queryset classes be subscripted for mypy at runtime too.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Local-development defaults. With DEBUG=False none of them is accepted (see the bottom).
DEV_SECRET_KEY = "dev-only-insecure-secret-key"  # noqa: S105
DEV_STRIPE_API_KEY = "sk_test_fake"
DEV_STRIPE_WEBHOOK_SECRET = "whsec_dev_fake"  # noqa: S105

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_celery_results",
    "payments",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's static files under gunicorn without a separate web server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/payments"),
}
# A view must never hold a transaction open while Stripe answers (STYLE.md).
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise expects it before collectstatic
WHITENOISE_USE_FINDERS = DEBUG  # no collectstatic needed while developing

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["payments.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "payments.api_errors.problem_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Payments API",
    "DESCRIPTION": "Take payments with an Idempotency-Key; they are charged through Stripe.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs page are public; the endpoints they describe are not.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Swagger UI served from this service (no CDN: works offline and behind firewalls).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# --- Stripe ---------------------------------------------------------------------------------
STRIPE_API_KEY = env.str("STRIPE_API_KEY", default=DEV_STRIPE_API_KEY)
# Without a real key the service charges against the bundled fake (`manage.py fakestripe`).
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="http://127.0.0.1:12111")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default=DEV_STRIPE_WEBHOOK_SECRET)
STRIPE_TIMEOUT_SECONDS = env.float("STRIPE_TIMEOUT_SECONDS", default=20.0)
# Stripe forgets idempotency keys after 24 h; after that a "create" could charge twice.
STRIPE_IDEMPOTENCY_KEY_LIFETIME_SECONDS = env.int(
    "STRIPE_IDEMPOTENCY_KEY_LIFETIME_SECONDS", default=24 * 3600
)

# --- Celery (reliability defaults live in config/celery.py) ---------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = False  # extended results would copy task args into result rows
# django-celery-beat's DatabaseScheduler, dispatching only while it holds the leader lock.
CELERY_BEAT_SCHEDULER = "config.beat:LeaderDatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
OUTBOX_RELAY_INTERVAL_SECONDS = env.float("OUTBOX_RELAY_INTERVAL_SECONDS", default=5.0)
# Outbox rows younger than this are left to the on_commit fast path.
OUTBOX_RELAY_GRACE_SECONDS = env.float("OUTBOX_RELAY_GRACE_SECONDS", default=5.0)
# A payment unchanged this long while pending/processing gets its charge re-published.
# Longer than the longest retry countdown (300 s), so normal retries are left alone.
STALLED_PAYMENT_SECONDS = env.int("STALLED_PAYMENT_SECONDS", default=600)
STALLED_NOTIFICATION_SECONDS = env.int("STALLED_NOTIFICATION_SECONDS", default=600)
RECOVERY_INTERVAL_SECONDS = env.float("RECOVERY_INTERVAL_SECONDS", default=60.0)
CELERY_BEAT_SCHEDULE = {
    "relay-outbox": {
        "task": "payments.relay_outbox",
        "schedule": OUTBOX_RELAY_INTERVAL_SECONDS,
        "options": {"expires": OUTBOX_RELAY_INTERVAL_SECONDS * 2},
    },
    "recover-stalled-payments": {
        "task": "payments.recover_stalled_payments",
        "schedule": RECOVERY_INTERVAL_SECONDS,
        "options": {"expires": RECOVERY_INTERVAL_SECONDS * 2},
    },
    "recover-unsent-notifications": {
        "task": "notifications.recover_unsent_notifications",
        "schedule": RECOVERY_INTERVAL_SECONDS,
        "options": {"expires": RECOVERY_INTERVAL_SECONDS * 2},
    },
    "expire-idempotency-records": {
        "task": "payments.expire_idempotency_records",
        "schedule": 3600.0,
        "options": {"expires": 1800},
    },
}

# --- Idempotency ----------------------------------------------------------------------------
IDEMPOTENCY_RECORD_TTL_SECONDS = env.int("IDEMPOTENCY_RECORD_TTL_SECONDS", default=24 * 3600)
# A claimed key whose request has not finished after this long is considered abandoned.
IDEMPOTENCY_LOCK_TIMEOUT_SECONDS = env.int("IDEMPOTENCY_LOCK_TIMEOUT_SECONDS", default=60)

# --- Email ----------------------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(BASE_DIR / "var" / "mail"))
EMAIL_HOST = env.str("EMAIL_HOST", default="127.0.0.1")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="payments@example.com")

# --- Telemetry ------------------------------------------------------------------------------
OTEL_SERVICE_NAMESPACE = env.str("OTEL_SERVICE_NAMESPACE", default="payments")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # One INFO line per Stripe request is noise; errors still surface.
        "stripe": {"level": "WARNING"},
    },
}


def _refuse_development_secrets() -> None:
    """With DEBUG off the service must not run on the defaults a laptop uses."""
    insecure = [
        name
        for name, value, dev_value in (
            ("SECRET_KEY", SECRET_KEY, DEV_SECRET_KEY),
            ("STRIPE_API_KEY", STRIPE_API_KEY, DEV_STRIPE_API_KEY),
            ("STRIPE_WEBHOOK_SECRET", STRIPE_WEBHOOK_SECRET, DEV_STRIPE_WEBHOOK_SECRET),
        )
        if not value or value == dev_value
    ]
    if len(SECRET_KEY) < 32 and "SECRET_KEY" not in insecure:
        insecure.append("SECRET_KEY (shorter than 32 characters)")
    if insecure:
        raise ImproperlyConfigured(
            "DEBUG=False needs real secrets in the environment; missing or development "
            "values for: " + ", ".join(insecure)
        )


if not DEBUG:
    _refuse_development_secrets()
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
