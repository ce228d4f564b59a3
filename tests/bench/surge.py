"""Black Friday: an open-loop surge of checkouts, then a trickle until the backlog drains.

`SURGE_RATE` payments/s are offered for `SURGE_SECONDS`, then `TRICKLE_RATE`/s until every
accepted payment is final (or nothing moved for `STALL_SECONDS`). Open loop: request i is
due at its slot whatever the earlier ones do, and its latency counts from then. A sampler
reads, once a second, how many payments are final and what Stripe has answered, so the
run is a time series: offered, accepted and charged per second, the backlog, Stripe's
429s, and accept p50/p99 per 5 s window.

The same surge runs against the service as `make up` lays it out and against the peer
(tests/bench/peer), each with its own fake Stripe in the live profile.
"""

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.bench.measure import percentile

SURGE_RATE = 100.0
SURGE_SECONDS = 120.0
TRICKLE_RATE = 10.0
# After the surge, give up on a backlog that has not moved for this long (the peer's
# payments whose retries ran out never finish).
STALL_SECONDS = 60.0
# Most the run may last after the surge, drained or not.
DRAIN_LIMIT_SECONDS = 900.0
WINDOW_SECONDS = 5
# Enough senders that a slow answer never delays the next due request.
SENDERS = 256


@dataclass(frozen=True)
class Target:
    """What is surged: where to POST, and how to count what is final."""

    name: str
    post_url: str
    headers: dict[str, str]
    body: dict[str, Any]
    final_count: Callable[[], int]
    stripe_counts: Callable[[], dict[str, int]]


@dataclass
class Sample:
    at: float
    final: int
    stripe: dict[str, int]


@dataclass
class SurgeRun:
    name: str
    offered: list[float] = field(default_factory=list)  # due times, from start
    accepted: list[tuple[float, float]] = field(default_factory=list)  # (answered at, latency)
    errors: list[tuple[float, str]] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    surge_ended: float = 0.0
    ended: float = 0.0


def run(
    target: Target,
    *,
    surge_seconds: float = SURGE_SECONDS,
    drain_limit_seconds: float = DRAIN_LIMIT_SECONDS,
) -> SurgeRun:
    result = SurgeRun(target.name)
    lock = threading.Lock()
    local = threading.local()
    stop_offering = threading.Event()
    start = time.perf_counter() + 0.5

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers.update(target.headers)
        return local.session  # type: ignore[no-any-return]

    def send(due: float) -> None:
        delay = start + due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        try:
            response = session().post(
                target.post_url,
                json=target.body,
                headers={"Idempotency-Key": str(uuid.uuid4())},
                timeout=30,
            )
            outcome = "" if response.status_code == 202 else str(response.status_code)
        except requests.RequestException as error:
            outcome = type(error).__name__
        answered = time.perf_counter() - start
        with lock:
            if outcome:
                result.errors.append((answered, outcome))
            else:
                result.accepted.append((answered, answered - due))

    def due_times() -> list[float]:
        surge = [i / SURGE_RATE for i in range(int(SURGE_RATE * surge_seconds))]
        trickle_count = int(TRICKLE_RATE * drain_limit_seconds)
        trickle = [surge_seconds + i / TRICKLE_RATE for i in range(trickle_count)]
        return surge + trickle

    def offer() -> None:
        with ThreadPoolExecutor(SENDERS) as pool:
            for due in due_times():
                if stop_offering.is_set():
                    break
                # Hand each request to the pool shortly before it is due, so a stop
                # leaves nothing queued behind it.
                while start + due - time.perf_counter() > 1.0 and not stop_offering.is_set():
                    time.sleep(0.05)
                result.offered.append(due)
                pool.submit(send, due)

    offering = threading.Thread(target=offer, name="surge-offer")
    offering.start()
    try:
        sample_until_drained(target, result, start, surge_seconds, drain_limit_seconds, lock)
    finally:
        # Whatever ended the sampling (drained, stalled, an error), the offering stops.
        stop_offering.set()
        offering.join()
    result.ended = time.perf_counter() - start
    # The trickle's last answers, and what they finish.
    time.sleep(2)
    result.samples.append(
        Sample(time.perf_counter() - start, target.final_count(), target.stripe_counts())
    )
    return result


def sample_until_drained(
    target: Target,
    result: SurgeRun,
    start: float,
    surge_seconds: float,
    drain_limit_seconds: float,
    lock: threading.Lock,
) -> None:
    """Once a second: what is final and what Stripe answered, until the backlog drains."""
    last_progress = (0, time.perf_counter())
    while True:
        time.sleep(max(0.0, start + len(result.samples) + 1 - time.perf_counter()))
        now = time.perf_counter() - start
        sample = Sample(now, target.final_count(), target.stripe_counts())
        result.samples.append(sample)
        if sample.final != last_progress[0]:
            last_progress = (sample.final, time.perf_counter())
        if now < surge_seconds:
            continue
        result.surge_ended = surge_seconds
        with lock:
            accepted = len(result.accepted)
        drained = sample.final >= accepted and now > surge_seconds + WINDOW_SECONDS
        stalled = time.perf_counter() - last_progress[1] > STALL_SECONDS
        if drained or stalled or now > surge_seconds + drain_limit_seconds:
            return


def per_second(times: list[float], length: int) -> list[int]:
    counts = [0] * length
    for at in times:
        if 0 <= int(at) < length:
            counts[int(at)] += 1
    return counts


def series(result: SurgeRun) -> dict[str, list[float]]:
    """Per-second series for the plot and the report."""
    length = int(result.samples[-1].at) + 1
    final = [0] * length
    stripe_429 = [0] * length
    previous_final, previous_429 = 0, 0
    for sample in result.samples:
        second = min(length - 1, int(sample.at))
        final[second] += sample.final - previous_final
        stripe_429[second] += sample.stripe.get("429", 0) - previous_429
        previous_final, previous_429 = sample.final, sample.stripe.get("429", 0)
    accepted = per_second([at for at, _ in result.accepted], length)
    backlog, owed = [], 0
    for second in range(length):
        owed += accepted[second] - final[second]
        backlog.append(owed)
    return {
        "offered": per_second(result.offered, length),
        "accepted": accepted,
        "final": final,
        "backlog": backlog,
        "stripe_429": stripe_429,
    }


def windows(result: SurgeRun) -> list[dict[str, float]]:
    """Accept p50 and p99 per WINDOW_SECONDS window, by the time each answer came."""
    by_window: dict[int, list[float]] = {}
    for answered, latency in result.accepted:
        by_window.setdefault(int(answered // WINDOW_SECONDS), []).append(latency)
    return [
        {
            "start": window * WINDOW_SECONDS,
            "p50_ms": percentile(values, 0.50) * 1000,
            "p99_ms": percentile(values, 0.99) * 1000,
        }
        for window, values in sorted(by_window.items())
    ]


def summary(result: SurgeRun, *, charged_twice: int, limit_per_second: float) -> dict[str, Any]:
    """The figures the issue's targets name, from one run."""
    surge_latencies = [lat for at, lat in result.accepted if at <= result.surge_ended]
    final_at_surge_end = next(
        (s.final for s in result.samples if s.at >= result.surge_ended), result.samples[-1].final
    )
    # The drain ends with the sampling (backlog empty, stalled or out of time), not with
    # the last look taken after the trickle stopped.
    last = [sample for sample in result.samples if sample.at <= result.ended][-1]
    drain_seconds = max(1e-9, last.at - result.surge_ended)
    stripe_calls = last.stripe.get("requests", 0)
    accepted = len(result.accepted)
    return {
        "offered": len(result.offered),
        "accepted": accepted,
        "errors": len(result.errors),
        "error_kinds": sorted({kind for _, kind in result.errors}),
        "surge_accept_p50_ms": percentile(surge_latencies, 0.50) * 1000,
        "surge_accept_p99_ms": percentile(surge_latencies, 0.99) * 1000,
        "final_during_surge_per_s": final_at_surge_end / max(1e-9, result.surge_ended),
        "drain_per_s": (last.final - final_at_surge_end) / drain_seconds,
        "drain_share_of_limit": (last.final - final_at_surge_end)
        / drain_seconds
        / limit_per_second,
        "drained_in_s": drain_seconds,
        "stripe_requests": stripe_calls,
        "stripe_429": last.stripe.get("429", 0),
        "stripe_429_share": last.stripe.get("429", 0) / stripe_calls if stripe_calls else 0.0,
        "not_final": accepted - result.samples[-1].final,
        "charged_twice": charged_twice,
    }
