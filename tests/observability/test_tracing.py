"""One trace per payment: returned to the client, on every row, in the logs, linked from admin."""

import json
import re

import pytest
from django.test import override_settings

from notifications.models import Notification
from payments.models import Payment
from tests.factories import PaymentFactory
from tests.integration.conftest import wait_for, wait_for_final_status
from tests.observability.conftest import pay

# W3C Trace Context Level 2: flags 01 = sampled; the SDK also sets 02 ("random trace id").
TRACERESPONSE = re.compile(r"00-(?P<trace_id>[0-9a-f]{32})-(?P<span_id>[0-9a-f]{16})-0[13]")


@pytest.mark.integration
def test_the_trace_id_reaches_the_client_every_row_and_the_logs(observed_stack, api_key):
    response = pay(observed_stack, api_key)
    payment_id = response.json()["id"]

    payment = wait_for_final_status(payment_id)
    notification = wait_for(
        lambda: Notification.objects.filter(subject=f"payment:{payment_id}").first()
    )

    header = TRACERESPONSE.fullmatch(response.headers["traceresponse"])
    assert header, response.headers["traceresponse"]
    trace_id = header["trace_id"]
    assert payment.trace_id == trace_id
    assert {event.trace_id for event in payment.events.all()} == {trace_id}
    assert payment.events.count() == 3
    assert notification.trace_id == trace_id

    def worker_records() -> list[dict]:
        log = (observed_stack.directory / "observed.log").read_text()
        return [json.loads(line) for line in log.splitlines() if line.startswith("{")]

    # The worker logs "succeeded" after the task's last write: wait for the line itself.
    wait_for(lambda: any(record["trace_id"] == trace_id for record in worker_records()))
    assert all({"trace_id", "span_id"} <= record.keys() for record in worker_records())
    spans = [s for s in observed_stack.spans() if s["context"]["trace_id"] == f"0x{trace_id}"]
    stripe_spans = [s for s in spans if s["name"].startswith("stripe.payment_intents")]
    assert {s["attributes"]["payment.id"] for s in stripe_spans} == {payment_id}
    assert all(s["attributes"]["stripe.request_id"].startswith("req_") for s in stripe_spans)


@override_settings(TRACING_UI_URL="http://127.0.0.1:16686/trace/{trace_id}")
def test_the_admin_links_a_payment_to_its_trace(admin_client, db):
    payment = PaymentFactory(trace_id="4bf92f3577b34da6a3ce929d0e0e4736")
    payment.events.create(to_status="pending", actor="test", trace_id=payment.trace_id)

    page = admin_client.get(f"/admin/payments/payment/{payment.pk}/change/").content.decode()

    link = '<a href="http://127.0.0.1:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736"'
    assert page.count(link) == 2  # the payment and its event
    assert Payment.objects.get(pk=payment.pk).trace_id in page
