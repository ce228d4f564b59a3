"""`manage.py demo`: send a handful of payments through the running service and show the outcome."""

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from payments import transitions
from payments.currencies import format_amount


@dataclass
class Step:
    label: str
    payment_method: str
    amount: int = 2_000
    currency: str = "usd"


class Command(BaseCommand):
    help = "Send demo payments to the running stack (see `make up`) and print what happened."

    def add_arguments(self, parser: CommandParser) -> None:
        # The stack `make up` started, wherever its WEB_PORT and VAR_DIR put it.
        port = os.environ.get("WEB_PORT", "8000")
        parser.add_argument("--base-url", default=f"http://127.0.0.1:{port}")
        parser.add_argument(
            "--api-key", default="", help="defaults to var/demo_api_key written by `make up`"
        )
        parser.add_argument(
            "--timeout", type=float, default=30.0, help="seconds to wait per payment"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.base_url = options["base_url"].rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {self._api_key(options['api_key'])}"
        self.timeout = options["timeout"]
        try:
            self.session.get(f"{self.base_url}/api/v1/payments?limit=1", timeout=5)
        except requests.ConnectionError as error:
            raise CommandError(
                f"nothing answers at {self.base_url}; start it with `make up`"
            ) from error

        rows = [
            self._pay(Step("card accepted", "pm_card_visa")),
            self._pay(Step("card declined", "pm_card_chargeDeclined")),
            self._pay(Step("insufficient funds", "pm_card_chargeDeclinedInsufficientFunds")),
            self._pay(Step("3-D Secure required", "pm_card_authenticationRequired")),
            self._pay(Step("yen, no minor unit", "pm_card_visa", amount=1_500, currency="jpy")),
            *self._retry_and_conflict(),
        ]
        self._print_table(rows)

    def _api_key(self, given: str) -> str:
        if given:
            return given
        key_file = Path(settings.BASE_DIR) / os.environ.get("VAR_DIR", "var") / "demo_api_key"
        if not key_file.exists():
            raise CommandError("no --api-key and no var/demo_api_key: run `make up` first")
        return key_file.read_text().strip()

    def _post(self, key: str, body: dict[str, Any]) -> requests.Response:
        return self.session.post(
            f"{self.base_url}/api/v1/payments",
            json=body,
            headers={"Idempotency-Key": key},
            timeout=10,
        )

    def _body(self, step: Step) -> dict[str, Any]:
        return {
            "amount": step.amount,
            "currency": step.currency,
            "payment_method": step.payment_method,
            "customer_email": "customer@example.com",
            "description": f"demo: {step.label}",
        }

    def _pay(self, step: Step) -> list[str]:
        key = f"demo-{uuid.uuid4()}"
        response = self._post(key, self._body(step))
        if response.status_code != 202:
            return [step.label, str(response.status_code), "-", response.text[:60], "-"]
        payment = self._wait_terminal(response.json()["id"])
        return [
            step.label,
            str(response.status_code),
            payment["status"],
            payment["failure_code"] or format_amount(payment["amount"], payment["currency"]),
            payment["trace_id"],
        ]

    def _retry_and_conflict(self) -> list[list[str]]:
        key = f"demo-{uuid.uuid4()}"
        body = self._body(Step("retried request", "pm_card_visa", amount=4_200))
        first = self._post(key, body)
        if first.status_code == 202:
            self._wait_terminal(first.json()["id"])
        again = self._post(key, body)
        same_bytes = "same body" if again.content == first.content else "DIFFERENT body"
        replayed = again.headers.get("Idempotent-Replayed", "false")
        conflict = self._post(key, {**body, "amount": 9_900})
        return [
            ["retry, same key", str(again.status_code), f"replayed={replayed}", same_bytes, "-"],
            [
                "same key, new body",
                str(conflict.status_code),
                conflict.headers.get("Content-Type", ""),
                conflict.json().get("code", ""),
                "-",
            ],
        ]

    def _wait_terminal(self, payment_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            payment: dict[str, Any] = self.session.get(
                f"{self.base_url}/api/v1/payments/{payment_id}", timeout=5
            ).json()
            if payment["status"] in transitions.CHARGE_FINISHED or time.monotonic() > deadline:
                return payment
            time.sleep(0.2)

    def _print_table(self, rows: list[list[str]]) -> None:
        header = ["case", "HTTP", "status", "detail", "trace id"]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        line = "  ".join(f"{{:<{w}}}" for w in widths)
        self.stdout.write(line.format(*header))
        self.stdout.write(line.format(*("-" * w for w in widths)))
        for row in rows:
            self.stdout.write(line.format(*row))
