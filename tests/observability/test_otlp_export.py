"""Spans leave the processes over OTLP/HTTP: a receiver on loopback decodes what real web and
worker processes export (opentelemetry-proto) and finds one trace per payment."""

import gzip
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from notifications.models import Notification, NotificationStatus
from payments import services
from tests import processes
from tests.integration.conftest import api_session, post_payment, wait_for, wait_for_final_status

pytestmark = pytest.mark.integration

TRACERESPONSE = re.compile(r"00-([0-9a-f]{32})-[0-9a-f]{16}-0[0-3]")


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    kind: int
    trace_id: str
    attributes: dict[str, str]


@dataclass
class OtlpReceiver:
    """The OTLP/HTTP traces endpoint (POST /v1/traces, protobuf), keeping what arrives."""

    url: str
    spans: list[ReceivedSpan] = field(default_factory=list)
    # (path, content type) of every request, checked by the test (not in the server thread).
    requests: set[tuple[str, str]] = field(default_factory=set)

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        return [span for span in list(self.spans) if span.trace_id == trace_id]


def _value(any_value: object) -> str:
    kind = any_value.WhichOneof("value")  # type: ignore[attr-defined]
    return str(getattr(any_value, kind)) if kind else ""


@pytest.fixture
def otlp_receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            receiver.requests.add((self.path, self.headers["Content-Type"]))
            request = ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        receiver.spans.append(
                            ReceivedSpan(
                                service=resource["service.name"],
                                name=span.name,
                                kind=span.kind,
                                trace_id=span.trace_id.hex(),
                                attributes={a.key: _value(a.value) for a in span.attributes},
                            )
                        )
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def exporting_stack(otlp_receiver: OtlpReceiver, transactional_db: None, tmp_path: Path):
    """Redis, fake Stripe, one worker and gunicorn, all exporting to the receiver."""
    (tmp_path / "mail").mkdir()
    with (
        processes.redis_server(tmp_path) as broker_url,
        processes.fakestripe(tmp_path, profile="zero") as stripe,
    ):
        env = {
            **processes.test_environment(broker_url),
            "STRIPE_API_BASE": stripe,
            "EMAIL_FILE_PATH": str(tmp_path / "mail"),
            # The SDK's own variables: where to send, and a short batch delay for the test.
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.url,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }
        worker = processes.celery_worker("otlp", env, tmp_path)
        try:
            with processes.gunicorn(env, tmp_path) as web_url:
                wait_for(lambda: "ready." in (tmp_path / "otlp.log").read_text(), timeout=60)
                yield web_url
        finally:
            processes.stop(worker)


def test_one_payment_is_one_exported_trace_from_request_to_receipt(otlp_receiver, exporting_stack):
    _, api_key = services.create_api_client(name="otlp")
    response = post_payment(exporting_stack, api_session(api_key))
    assert response.status_code == 202
    trace_id = TRACERESPONSE.fullmatch(response.headers["traceresponse"])[1]
    payment_id = response.json()["id"]
    assert wait_for_final_status(payment_id).status == "succeeded"
    wait_for(
        lambda: Notification.objects.filter(
            subject=f"payment:{payment_id}", status=NotificationStatus.SENT
        ).exists()
    )

    def complete_trace() -> list[ReceivedSpan] | None:
        spans = otlp_receiver.trace(trace_id)
        names = {span.name for span in spans}
        wanted = {"run/payments.charge_payment", "run/notifications.send_notification"}
        return (
            spans if wanted <= names and any(s.service == "payments-web" for s in spans) else None
        )

    spans = wait_for(complete_trace, timeout=30)

    assert otlp_receiver.requests == {("/v1/traces", "application/x-protobuf")}
    web = [s for s in spans if s.service == "payments-web" and s.kind == Span.SPAN_KIND_SERVER]
    assert [s.name for s in web] == ["POST api/v1/payments"]
    worker = {s.name for s in spans if s.service == "payments-worker"}
    assert {"run/payments.charge_payment", "run/notifications.send_notification"} <= worker
    assert "stripe.payment_intents.create" in worker
    assert "stripe.payment_intents.confirm" not in worker  # one call creates and confirms
    sql = [s for s in spans if s.attributes.get("db.system") == "postgresql"]
    assert {s.service for s in sql} == {"payments-web", "payments-worker"}
    stripe_calls = [s for s in spans if s.name.startswith("stripe.")]
    assert {s.attributes["payment.id"] for s in stripe_calls} == {payment_id}
