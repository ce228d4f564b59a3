"""Did each fault meet work in flight? A fault that hit an idle service proved nothing."""

import math
from typing import TYPE_CHECKING

from payments import transitions
from payments.models import ApiClient, Payment, PaymentEvent
from tests.chaos.fast_clock import ServiceClock

if TYPE_CHECKING:
    from tests.chaos.checker import ChaosReport


def check_work_in_flight(report: "ChaosReport", client: ApiClient, clock: ServiceClock) -> None:
    """Count, per fault window, the accepted payments that had no outcome yet during it.

    A payment is in flight from its row's creation to its first outcome, both read on the
    service's clock and turned into real time, the clock the fault windows were taken on.
    """
    outcome_at: dict[str, float] = {}
    for payment_id, at in (
        PaymentEvent.objects.filter(
            payment__client=client, to_status__in=transitions.CHARGE_OUTCOMES
        )
        .order_by("id")
        .values_list("payment_id", "created_at")
    ):
        outcome_at.setdefault(str(payment_id), at.timestamp())
    spans = []
    for payment_id, created_at in Payment.objects.filter(client=client).values_list(
        "pk", "created_at"
    ):
        accepted = created_at.timestamp()
        finished = outcome_at.get(str(payment_id), math.inf)
        spans.append((accepted, finished))
    report.in_flight_per_window = [
        sum(
            1
            for accepted, finished in spans
            if clock.to_real(accepted) < end and clock.to_real(finished) > start
        )
        for start, end in report.fault_windows
    ]
    report.idle_fault_windows = report.in_flight_per_window.count(0)
    finished_spans = [finished - accepted for accepted, finished in spans if finished < math.inf]
    if finished_spans:
        slowest = max(finished_spans)
        report.slowest_service_seconds = round(slowest, 2)
        report.slowest_real_seconds = round(slowest / clock.rate, 2)
    report.clock_rate = clock.rate
