"""Work a recovery sweeper had to queue again: the fault lost its first message."""

from collections import Counter
from collections.abc import Iterable

from outbox.models import OutboxMessage


def queued_again(task_name: str, object_ids: Iterable[str]) -> int:
    """Objects whose task has more than one outbox row.

    The API (or the webhook endpoint) queues each task once through the outbox, and the
    relay re-publishes that same row; only a recovery sweeper (or payments_replay) adds
    a second row for the same object.
    """
    queued = Counter(
        str(args[0])
        for args in OutboxMessage.objects.filter(task_name=task_name).values_list("args", flat=True)
        if args
    )
    return sum(1 for object_id in object_ids if queued[str(object_id)] > 1)
