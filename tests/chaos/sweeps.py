"""Work a recovery sweeper had to finish: the fault lost the message that would have."""

from collections.abc import Iterable

from django_celery_results.models import TaskResult

from outbox.models import OutboxMessage


def finished_without_their_first_message(task_name: str, object_ids: Iterable[str]) -> int:
    """Objects (payments, refunds) whose first `task_name` message never ran.

    The API queues each task once, through an outbox row whose id is the task id, and
    every run of the task, even a late one that finds its work done, leaves a result row
    (django-celery-results) under that id. No result for the first row's id: the broker
    lost that message, and the work (final, as the checker requires) was finished by
    what queued it again: a recovery sweeper or `payments_replay`. A re-drive alone does
    not count, since a queue slower than the chaos suite's 8 s threshold is re-driven too.
    """
    wanted = {str(object_id) for object_id in object_ids}
    first_message: dict[str, str] = {}
    messages = OutboxMessage.objects.filter(task_name=task_name).order_by("created_at")
    for message_id, args in messages.values_list("id", "args"):
        if args and str(args[0]) in wanted:
            first_message.setdefault(str(args[0]), str(message_id))
    ran = set(
        TaskResult.objects.filter(task_id__in=list(first_message.values())).values_list(
            "task_id", flat=True
        )
    )
    return sum(1 for message_id in first_message.values() if message_id not in ran)
