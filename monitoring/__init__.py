"""Operational signals: broker reads, database reads, Celery events, and the exporter."""
