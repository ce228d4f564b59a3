"""The peer: the guide's own snippet as a minimal Django + Celery app, surged like the service.

What a team starts from: a view that saves an order and calls `charge_user.delay`, and a
task with `autoretry_for=(Exception,)`, `retry_backoff=True`, `max_retries=3`, a
`rate_limit` (Celery's, per worker), prefork defaults and no Stripe idempotency key. It
talks to the same fake Stripe as the service, so the surge tells them apart on the same
Stripe. Never part of the product; `make bench` starts it (tests/bench/surge.py).
"""
