"""Failpoints for the chaos suite: make a process die at a named step, never by default.

Each step in STEPS is one `maybe_crash("<step>")` line in the service code. Both ways
to arm them are off unless `PAYMENTS_FAILPOINT_DIR` is set (as in every real
deployment, where a pass costs one global lookup and touches nothing else):

- Once, at one step, across processes and restarts: with `PAYMENTS_FAILPOINT_DIR=<dir>`,
  a file `<dir>/<step>` arms the step. The first process sharing the directory to pass
  it creates `<dir>/<step>.crashed` (O_EXCL: exactly one process wins) and dies; the
  marker outlives it, so the restarted process passes the step and carries on. Arming
  is a file rather than a variable so that one running stack can be armed step after
  step without restarting it (tests/chaos/matrix.py).
- By rate, for a while: a file `<dir>/<step>.rate` holding `0.15` kills 15 % of the
  passes while it exists, so a chaos scenario breaks a running stack for the length of
  its fault window only (a whole load under a 15 % kill rate spends most of its time
  rebooting processes, not testing anything new).

The death is SIGKILL, as `kill -9` would do it: no cleanup, no response, no rollback
but PostgreSQL's. `PAYMENTS_FAILPOINT_KILL=group` kills the whole process group instead
(`kill -9 -<pgid>`): a Celery pool child then takes its worker's main process and its
siblings with it, as a lost host or an OOM-killed container would, so the task's message
is not handed back by the main process and only the recovery sweeper can save the work.
"""

import json
import os
import random
import signal
import time

# Every named step, where it is and what a crash there leaves behind. The crash-point
# matrix drives each one; tests/config/test_failpoints.py checks that this list and the
# code name the same steps.
STEPS: dict[str, str] = {
    # The charge: accepted by the web, charged by a worker.
    "charge.accept_before_commit": "web: payment, event and outbox row written, not committed",
    "charge.before_create_intent": "worker: charge started (committed), nothing at Stripe yet",
    "charge.after_create_intent_before_commit": (
        "worker: intent created and confirmed at Stripe, nothing of it committed"
    ),
    "charge.after_confirm_before_commit": "worker: Stripe decided, the outcome not committed",
    "charge.after_outcome_commit": "worker: outcome and email job committed, task not acked",
    # Refunds: reserved by the web, refunded by a worker.
    "refund.request_before_commit": "web: refund reserved and queued, not committed",
    "refund.before_stripe": "worker: refund attempt counted (committed), nothing at Stripe yet",
    "refund.after_stripe_before_commit": "worker: refunded at Stripe, not settled here",
    "refund.after_outcome_commit": "worker: refund settled and email queued, task not acked",
    # Webhooks: stored by the web, applied by a worker.
    "webhook.before_inbox_commit": "web: event stored in the inbox, not committed",
    "webhook.after_inbox_commit": "web: event committed, Stripe not answered",
    "webhook.before_apply_commit": "worker: event applied, not committed",
    "webhook.after_apply_commit": "worker: event applied and committed, task not acked",
    # Emails.
    "notification.before_send": "worker: notification locked, email not sent",
    "notification.after_send_before_mark_sent": "worker: email sent, not marked sent",
    "notification.after_mark_sent_commit": "worker: email sent and marked, task not acked",
    # The outbox, under every path above.
    "outbox.after_commit_before_publish": "web or worker: outbox row committed, not published",
    "outbox.after_publish_before_mark_published": "web or worker: task published, row unmarked",
}

_ARMING_DIR = os.environ.get("PAYMENTS_FAILPOINT_DIR") or None
_KILL_GROUP = os.environ.get("PAYMENTS_FAILPOINT_KILL") == "group"

CRASHED_SUFFIX = ".crashed"
RATE_SUFFIX = ".rate"


def maybe_crash(step: str) -> None:
    """Die here if this step is armed (see the module docstring); otherwise return."""
    if _ARMING_DIR is not None:
        _crash_once_if_armed(_ARMING_DIR, step)
        rate = _rate_armed_in(_ARMING_DIR, step)
        if rate and random.random() < rate:  # noqa: S311 - chaos, not cryptography
            _die()


def _rate_armed_in(directory: str, step: str) -> float | None:
    try:
        with open(os.path.join(directory, step + RATE_SUFFIX)) as file:
            return float(file.read() or 0)
    except (FileNotFoundError, ValueError):
        return None  # not armed, or caught half-written: this pass lives


def _crash_once_if_armed(directory: str, step: str) -> None:
    armed = os.path.join(directory, step)
    if not os.path.exists(armed):
        return
    try:
        marker = os.open(armed + CRASHED_SUFFIX, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return  # crashed here once already: this is the restarted process, or another one
    # Who died and when, for the test that proves the crash happened at this step.
    with os.fdopen(marker, "w") as file:
        json.dump({"step": step, "pid": os.getpid(), "pgid": os.getpgrp(), "at": time.time()}, file)
    _die()


def _die() -> None:
    if _KILL_GROUP:
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
