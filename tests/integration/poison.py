"""A task that kills the process running it, every time: the poison message of the chaos suite.

Loaded only by test workers (`celery worker --include tests.integration.poison`).
"""

import os
import signal

from celery import shared_task


@shared_task(name="chaos.poison", acks_late=True, reject_on_worker_lost=True)
def poison() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
