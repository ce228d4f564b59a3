"""The one settings module: every value that differs per deployment comes from the environment."""

import ipaddress
from datetime import timedelta
from pathlib import Path

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured

from config import task_names
from config.content_security_policy import CONTENT_SECURITY_POLICY as CONTENT_SECURITY_POLICY
from config.development_secrets import refuse_development_secrets

# Lets admin, serializer and queryset classes be subscripted for mypy at runtime too.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Local-development defaults. With DEBUG=False none of them is accepted (see the bottom).
DEV_SECRET_KEY = "dev-only-insecure-secret-key"  # noqa: S105
DEV_STRIPE_API_KEY = "sk_test_fake"
DEV_STRIPE_WEBHOOK_SECRET = "whsec_dev_fake"  # noqa: S105
DEV_API_KEY_HASH_SECRET = "dev-only-api-key-hash-secret"  # noqa: S105

# Production unless told otherwise: `make up` and the test suite turn DEBUG on.
DEBUG = env.bool("DEBUG", default=False)
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
    # Admin login lockout after repeated failures, counted in PostgreSQL (all processes).
    "axes",
    "outbox",
    "payments",
    "notifications",
    "monitoring",
    # A development and test server (`manage.py fakestripe`); it adds no models or URLs.
    "fakestripe",
]

MIDDLEWARE = [
    # First, so it times and counts every response, errors included.
    "config.metrics.RequestMetricsMiddleware",
    # Before anything reads the body (CSRF reads forms, DRF parses JSON).
    "config.request_limits.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.api_headers.ApiNoStoreMiddleware",
    # Serves the admin's static files under gunicorn without a separate web server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username/address before the password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
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
# Web processes (config/gunicorn.py sets DB_POOL_MAX_SIZE) share a psycopg pool among their
# threads, so a host holds WEB_CONCURRENCY x DB_POOL_MAX_SIZE connections, not one per
# thread. Celery's pool children, one task at a time each, keep one persistent connection.
# https://docs.djangoproject.com/en/5.2/ref/databases/#connection-pool
DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=0)
if DB_POOL_MAX_SIZE > 0:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django refuses persistent connections + pool
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": DB_POOL_MAX_SIZE,
        # A request waits this long for a free connection, then fails as a 503.
        "timeout": env.float("DB_POOL_TIMEOUT_SECONDS", default=10.0),
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A database that does not answer fails fast (readiness probes, requests) instead of hanging.
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.int(
    "DB_CONNECT_TIMEOUT_SECONDS", default=5
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise expects it before collectstatic
WHITENOISE_USE_FINDERS = DEBUG  # no collectstatic needed while developing

# --- Hostile clients (README.md, "Security") -------------------------------------------------
# Larger bodies are refused with 413 before anything parses them; a payment is < 40 KB
# and Stripe's events are far below this.
MAX_REQUEST_BODY_BYTES = env.int("MAX_REQUEST_BODY_BYTES", default=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES
# Requests per API key per window, like Stripe's per-key limit (429 + Retry-After).
API_RATE_LIMIT_REQUESTS = env.int("API_RATE_LIMIT_REQUESTS", default=100)
API_RATE_LIMIT_WINDOW_SECONDS = env.int("API_RATE_LIMIT_WINDOW_SECONDS", default=1)
# Failed API authentications per source address per window; past it, that address gets
# 429 for anything carrying credentials until the window ends.
AUTH_FAILURE_LIMIT = env.int("AUTH_FAILURE_LIMIT", default=20)
AUTH_FAILURE_WINDOW_SECONDS = env.int("AUTH_FAILURE_WINDOW_SECONDS", default=300)
# The counters live in Redis so every gunicorn worker and host shares them; without a
# Redis broker they need their own Redis.
_BROKER_URL = env.str("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
RATE_LIMIT_REDIS_URL = env.str(
    "RATE_LIMIT_REDIS_URL",
    default=_BROKER_URL if _BROKER_URL.startswith("redis://") else "redis://127.0.0.1:6379/0",
)
# The proxies whose X-Forwarded-For we believe, as CIDRs ("10.0.0.0/8,fd00::/8"). Empty:
# the client is the connection's peer. Otherwise the client is the right-most
# X-Forwarded-For entry that is not one of them (payments/client_address.py).
TRUSTED_PROXIES = tuple(
    ipaddress.ip_network(cidr, strict=False) for cidr in env.list("TRUSTED_PROXIES", default=[])
)
if "TRUSTED_PROXY_COUNT" in env:
    # Ignoring it would make every client behind the proxy one address, sharing one
    # failed-authentication limit: refuse to start instead.
    raise ImproperlyConfigured(
        "TRUSTED_PROXY_COUNT is gone: list the proxies' networks in TRUSTED_PROXIES instead"
    )
# API keys are stored as HMAC-SHA256(API_KEY_HASH_SECRET, key): a stolen table alone
# cannot be checked against guesses. Changing it invalidates every key.
API_KEY_HASH_SECRET = env.str("API_KEY_HASH_SECRET", default=DEV_API_KEY_HASH_SECRET)
# An API key's last_used_at is written at most this often (not on every request).
API_KEY_LAST_USED_RESOLUTION_SECONDS = env.int("API_KEY_LAST_USED_RESOLUTION_SECONDS", default=60)

# django-axes: the admin login locks a username from an address after this many
# failures, for AXES_COOLOFF_TIME. https://django-axes.readthedocs.io/en/latest/4_configuration.html
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("ADMIN_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The same client address as the API's limits (TRUSTED_PROXIES), not ipware's guess.
AXES_CLIENT_IP_CALLABLE = "payments.client_address.client_ip"

# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips a client's own).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Probes and scrapes come over plain HTTP from inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["payments.authentication.ApiKeyAuthentication"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "payments.api_errors.problem_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["payments.parsers.BoundedJSONParser"],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "payments.authentication.KeyScopePermission",
    ],
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
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "payments.api_schema.forbid_unknown_request_fields",
    ],
}

# --- Stripe ---------------------------------------------------------------------------------
STRIPE_API_KEY = env.str("STRIPE_API_KEY", default=DEV_STRIPE_API_KEY)
# Without a real key the service charges against the bundled fake (`manage.py fakestripe`).
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="http://127.0.0.1:12111")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default=DEV_STRIPE_WEBHOOK_SECRET)
# Every secret a webhook may be signed with: during a rotation both old and new verify.
STRIPE_WEBHOOK_SECRETS = env.list("STRIPE_WEBHOOK_SECRETS", default=[STRIPE_WEBHOOK_SECRET])
# Stripe's default: an older signature timestamp is a replay. https://docs.stripe.com/webhooks#replay-attacks
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env.int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", default=300)
STRIPE_TIMEOUT_SECONDS = env.float("STRIPE_TIMEOUT_SECONDS", default=20.0)
# Stripe forgets idempotency keys after 24 h; after that a "create" could charge twice.
STRIPE_IDEMPOTENCY_KEY_LIFETIME_SECONDS = env.int(
    "STRIPE_IDEMPOTENCY_KEY_LIFETIME_SECONDS", default=24 * 3600
)
# The fleet's Stripe budget (payments/gateways/pacing.py): every worker process takes a
# token from one set of buckets in Redis before each call. Sized from what Stripe grants
# (https://docs.stripe.com/rate-limits; live mode 100/s per account, 25/s per endpoint):
# the total leaves 20/s to operators (admin, commands, the dashboard), each class stays
# under its endpoint's 25/s, reads under Search's 20/s. README "Pacing the fleet".
STRIPE_PACING_ENABLED = env.bool("STRIPE_PACING_ENABLED", default=True)
STRIPE_PACING_REDIS_URL = env.str("STRIPE_PACING_REDIS_URL", default=RATE_LIMIT_REDIS_URL)
STRIPE_PACE_TOTAL_PER_SECOND = env.float("STRIPE_PACE_TOTAL_PER_SECOND", default=80.0)
STRIPE_PACE_CHARGES_PER_SECOND = env.float("STRIPE_PACE_CHARGES_PER_SECOND", default=24.0)
STRIPE_PACE_REFUNDS_PER_SECOND = env.float("STRIPE_PACE_REFUNDS_PER_SECOND", default=20.0)
STRIPE_PACE_READS_PER_SECOND = env.float("STRIPE_PACE_READS_PER_SECOND", default=15.0)
# Tokens of the total a charge may not take: refunds and reads always find these.
STRIPE_PACE_CHARGE_RESERVE = env.float("STRIPE_PACE_CHARGE_RESERVE", default=20.0)
STRIPE_PACE_MAX_IN_FLIGHT = env.int("STRIPE_PACE_MAX_IN_FLIGHT", default=50)
# A bucket holds this many seconds of its rate (the burst a quiet fleet may send).
STRIPE_PACE_BURST_SECONDS = env.float("STRIPE_PACE_BURST_SECONDS", default=1.0)
# A permit of a process killed mid-call comes back after this (above the call's timeouts).
STRIPE_PACE_PERMIT_LEASE_SECONDS = env.float(
    "STRIPE_PACE_PERMIT_LEASE_SECONDS", default=STRIPE_TIMEOUT_SECONDS * 2 + 10
)
# Wait this long in the worker slot for a token; longer, the task gives its slot back.
STRIPE_PACE_MAX_WAIT_SECONDS = env.float("STRIPE_PACE_MAX_WAIT_SECONDS", default=0.25)
STRIPE_PACE_MIN_DEFERRAL_SECONDS = env.float("STRIPE_PACE_MIN_DEFERRAL_SECONDS", default=0.5)
STRIPE_PACE_MAX_DEFERRAL_SECONDS = env.float("STRIPE_PACE_MAX_DEFERRAL_SECONDS", default=60.0)
# After a 429 the class (or, for the account's limits, everything) pauses fleet-wide,
# doubling while 429s recur, up to this.
STRIPE_RATE_LIMITED_MAX_PAUSE_SECONDS = env.float(
    "STRIPE_RATE_LIMITED_MAX_PAUSE_SECONDS", default=30.0
)

# --- Celery (reliability defaults live in config/celery.py) ---------------------------------
CELERY_BROKER_URL = _BROKER_URL
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = False  # extended results would copy task args into result rows
# django-celery-beat's DatabaseScheduler, dispatching only while it holds the leader lock.
CELERY_BEAT_SCHEDULER = "config.beat:LeaderDatabaseScheduler"
# TCP keepalives on the beat's lock connection, set on both ends (config/beat.py), so a
# leader host that vanishes without a FIN is noticed in seconds instead of the kernel's 2 h:
# by PostgreSQL, which drops the session and its lock after the idle time plus the probes
# (about 11 s), and by the leader, whose lock check (and any query on the beat's Django
# connection) fails once its packets go unacknowledged for the user timeout (10 s).
BEAT_LOCK_KEEPALIVES_IDLE_SECONDS = env.int("BEAT_LOCK_KEEPALIVES_IDLE_SECONDS", default=5)
BEAT_LOCK_KEEPALIVES_INTERVAL_SECONDS = env.int("BEAT_LOCK_KEEPALIVES_INTERVAL_SECONDS", default=2)
BEAT_LOCK_KEEPALIVES_COUNT = env.int("BEAT_LOCK_KEEPALIVES_COUNT", default=3)
BEAT_LOCK_TCP_USER_TIMEOUT_SECONDS = env.int("BEAT_LOCK_TCP_USER_TIMEOUT_SECONDS", default=10)
CELERY_TIMEZONE = TIME_ZONE
OUTBOX_RELAY_INTERVAL_SECONDS = env.float("OUTBOX_RELAY_INTERVAL_SECONDS", default=5.0)
# Outbox rows younger than this are left to the on_commit fast path.
OUTBOX_RELAY_GRACE_SECONDS = env.float("OUTBOX_RELAY_GRACE_SECONDS", default=5.0)
# Durable work that made no progress this long is re-driven by the recovery sweeper
# (outbox/recovery.py); rows waiting for a scheduled attempt (config/retries.py) are not
# stuck. A dead worker's messages come back sooner, through the monitor (monitoring/orphans.py).
STALLED_PAYMENT_SECONDS = env.int("STALLED_PAYMENT_SECONDS", default=900)
STALLED_REFUND_SECONDS = env.int("STALLED_REFUND_SECONDS", default=900)
STALLED_WEBHOOK_EVENT_SECONDS = env.int("STALLED_WEBHOOK_EVENT_SECONDS", default=900)
STALLED_NOTIFICATION_SECONDS = env.int("STALLED_NOTIFICATION_SECONDS", default=900)
# The relay publishes every OUTBOX_RELAY_INTERVAL_SECONDS; a row still waiting after this
# long means the broker is refusing it.
STALLED_OUTBOX_SECONDS = env.int("STALLED_OUTBOX_SECONDS", default=60)
RECOVERY_INTERVAL_SECONDS = env.float("RECOVERY_INTERVAL_SECONDS", default=60.0)
# Reconciliation with Stripe: how often, how far back, and whether it applies safe fixes.
RECONCILIATION_INTERVAL_SECONDS = env.float("RECONCILIATION_INTERVAL_SECONDS", default=900.0)
RECONCILIATION_WINDOW_SECONDS = env.int("RECONCILIATION_WINDOW_SECONDS", default=2 * 24 * 3600)
RECONCILIATION_FIX = env.bool("RECONCILIATION_FIX", default=True)
# Gateway pages (100 objects each) one chunk task reads: well inside the task time limits.
RECONCILIATION_PAGES_PER_CHUNK = env.int("RECONCILIATION_PAGES_PER_CHUNK", default=20)
# A run whose last chunk is this old lost its chunk message: the sweeper queues it again.
STALLED_RECONCILIATION_SECONDS = env.int("STALLED_RECONCILIATION_SECONDS", default=600)
CELERY_BEAT_SCHEDULE = {
    "reconcile-with-stripe": {
        "task": task_names.RECONCILE_WITH_STRIPE,
        "schedule": RECONCILIATION_INTERVAL_SECONDS,
        "options": {"expires": RECONCILIATION_INTERVAL_SECONDS},
    },
    "relay-outbox": {
        "task": task_names.RELAY_OUTBOX,
        "schedule": OUTBOX_RELAY_INTERVAL_SECONDS,
        "options": {"expires": OUTBOX_RELAY_INTERVAL_SECONDS * 2},
    },
    "recover-stuck-work": {
        "task": task_names.RECOVER_STUCK_WORK,
        "schedule": RECOVERY_INTERVAL_SECONDS,
        "options": {"expires": RECOVERY_INTERVAL_SECONDS * 2},
    },
    "expire-idempotency-records": {
        "task": task_names.EXPIRE_IDEMPOTENCY_RECORDS,
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
# Admin links to traces, e.g. http://127.0.0.1:16686/trace/{trace_id} (Jaeger); '' for none.
TRACING_UI_URL = env.str("TRACING_UI_URL", default="")
# "json": one JSON object per line; either way every record carries trace_id and span_id.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "trace": {"()": "config.logs.TraceContextFilter"},
        "redact": {"()": "config.logs.RedactSecretsFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s trace=%(trace_id)s %(message)s"},
        "json": {"()": "config.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["trace", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Only our handler (trace ids, secrets redacted): Django's default console handler
        # for DEBUG would print every request warning a second time, unredacted.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        # One INFO line per Stripe request is noise; errors still surface.
        "stripe": {"level": "WARNING"},
        # Its start-up banner on every manage.py command is noise; lockouts still show.
        "axes": {"level": "WARNING"},
    },
}

# The monitor, the workers' metrics and heartbeats, Flower: config/process_settings.py.
from config.process_settings import *  # noqa: E402, F403

if not DEBUG:
    refuse_development_secrets(
        [
            ("SECRET_KEY", SECRET_KEY, DEV_SECRET_KEY),
            ("STRIPE_API_KEY", STRIPE_API_KEY, DEV_STRIPE_API_KEY),
            ("STRIPE_WEBHOOK_SECRET", STRIPE_WEBHOOK_SECRET, DEV_STRIPE_WEBHOOK_SECRET),
            ("API_KEY_HASH_SECRET", API_KEY_HASH_SECRET, DEV_API_KEY_HASH_SECRET),
            *(
                ("STRIPE_WEBHOOK_SECRETS", secret, DEV_STRIPE_WEBHOOK_SECRET)
                for secret in STRIPE_WEBHOOK_SECRETS or [""]
            ),
        ],
        secret_key=SECRET_KEY,
    )
