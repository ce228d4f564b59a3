"""The transactional outbox every app publishes Celery tasks through."""
