"""`celery -A tests.bench.peer.celery_app worker`: prefork, Celery's defaults otherwise."""

import os

import django
from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.bench.peer.settings")
django.setup()

app = Celery("peer")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["tests.bench.peer"])
