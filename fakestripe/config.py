"""Command-line flags and the settings they make, shared by `manage.py fakestripe` and `-m`."""

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import profiles
from .idempotency import DEFAULT_TTL_SECONDS

DEFAULT_PORT = 12111
DEFAULT_HOST = "127.0.0.1"


@dataclass(frozen=True)
class ServerConfig:
    port: int = DEFAULT_PORT
    host: str = DEFAULT_HOST
    state_path: Path | None = None
    webhook_urls: tuple[str, ...] = ()
    webhook_secret: str | None = None
    # Event types the --webhook-url endpoints subscribe to (Stripe's enabled_events).
    webhook_events: tuple[str, ...] = ("*",)
    idempotency_ttl_seconds: float = DEFAULT_TTL_SECONDS
    webhook_retry_base_seconds: float = 1.0
    webhook_max_attempts: int = 8
    verbose: bool = False
    # Latency and limits: `live` (Stripe's pace) unless a test asks for `zero`.
    profile: str = profiles.LIVE
    # Overrides of the profile's limits and latency (None: the profile's own).
    account_rate: float | None = None
    endpoint_rate: float | None = None
    max_concurrency: int | None = None
    latency_scale: float = 1.0
    latency_seed: int | None = None

    def start_profile(self) -> profiles.Profile:
        """The profile the flags ask for, restored by `POST /_fake/reset`."""
        limits: dict[str, float | int] = {}
        if self.account_rate is not None:
            limits["account_rate"] = self.account_rate
        if self.endpoint_rate is not None:
            limits["endpoint_rate"] = self.endpoint_rate
        if self.max_concurrency is not None:
            limits["max_concurrency"] = self.max_concurrency
        return profiles.from_json(
            {
                "name": self.profile,
                "limits": limits,
                "latency_scale": self.latency_scale,
                "seed": self.latency_seed,
            },
            profiles.named(self.profile),
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port (0 picks a free one; the listening line prints it)",
    )
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="address to listen on; 0.0.0.0 only inside a container (docker/compose.yaml)",
    )
    parser.add_argument(
        "--state",
        type=Path,
        default=None,
        help="journal file: state survives restarts, including kill -9",
    )
    parser.add_argument(
        "--webhook-url",
        action="append",
        default=[],
        help="deliver every event to this URL (repeat for more endpoints)",
    )
    parser.add_argument(
        "--webhook-events",
        default="*",
        help="comma-separated event types the --webhook-url endpoints subscribe to, as "
        "Stripe's enabled_events (payment_intent.succeeded,charge.*); default every event",
    )
    parser.add_argument(
        "--webhook-secret",
        default=None,
        help="signing secret (whsec_...) for --webhook-url endpoints; generated if omitted",
    )
    parser.add_argument(
        "--idempotency-ttl",
        type=float,
        default=DEFAULT_TTL_SECONDS,
        help="seconds an Idempotency-Key is remembered (Stripe: 24 h)",
    )
    parser.add_argument(
        "--webhook-retry-base",
        type=float,
        default=1.0,
        help="seconds before the first webhook retry; doubles each attempt",
    )
    parser.add_argument(
        "--webhook-max-attempts",
        type=int,
        default=8,
        help="delivery attempts per event and endpoint before giving up",
    )
    parser.add_argument(
        "--profile",
        choices=profiles.NAMES,
        default=profiles.LIVE,
        help="live: Stripe's latency and rate limits (default); zero: instant and unlimited",
    )
    parser.add_argument(
        "--account-rate",
        type=float,
        default=None,
        help="requests a second for the whole account (live: 100; 0: no limit)",
    )
    parser.add_argument(
        "--endpoint-rate",
        type=float,
        default=None,
        help="requests a second per endpoint (live: 25; 0: no limit)",
    )
    parser.add_argument(
        "--max-concurrency",
        type=int,
        default=None,
        help="requests in flight before 429 global-concurrency (live: 100; 0: no limit)",
    )
    parser.add_argument(
        "--latency-scale",
        type=float,
        default=1.0,
        help="multiply every latency of the profile (0: none)",
    )
    parser.add_argument(
        "--latency-seed", type=int, default=None, help="seed of the latency draws (repeatable)"
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")


def config_from_options(options: Mapping[str, Any]) -> ServerConfig:
    return ServerConfig(
        port=options["port"],
        host=options["host"],
        state_path=options["state"],
        webhook_urls=tuple(options["webhook_url"] or ()),
        webhook_secret=options["webhook_secret"],
        webhook_events=tuple(
            event.strip() for event in options["webhook_events"].split(",") if event.strip()
        ),
        idempotency_ttl_seconds=options["idempotency_ttl"],
        webhook_retry_base_seconds=options["webhook_retry_base"],
        webhook_max_attempts=options["webhook_max_attempts"],
        verbose=options["verbose"],
        profile=options["profile"],
        account_rate=options["account_rate"],
        endpoint_rate=options["endpoint_rate"],
        max_concurrency=options["max_concurrency"],
        latency_scale=options["latency_scale"],
        latency_seed=options["latency_seed"],
    )
