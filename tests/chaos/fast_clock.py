"""A compressed wall clock for the service's processes: production thresholds, passed in seconds.

The service reads "now" from the wall clock (Django's timezone.now, Celery's ETAs and
expiries, kombu's visibility timeout): run it under fast_clock.c and a 900 s sweeper
threshold passes in 900 / rate real seconds, with no code path of its own. The fake
Stripe, Redis, PostgreSQL and the test process keep real time.

What stays real: anything measured on CLOCK_MONOTONIC — sleeps, socket timeouts, Celery's
task time limits and retry countdowns (kombu's timer), and beat's wait between ticks (at
most 5 s). A countdown of c seconds therefore lasts c·rate service seconds: it must stay
below the Redis visibility timeout (3600 service seconds = 3600 / rate real seconds), or
Redis re-delivers the waiting task; a scenario under this clock keeps Stripe healthy so
retries stay rare and short (the checker's slowest-payment figure shows it).
"""

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SOURCE = Path(__file__).with_name("fast_clock.c")


@dataclass(frozen=True)
class ServiceClock:
    """How the service's wall clock relates to real time: service = base + (real - base)·rate."""

    rate: int = 1
    base: int = 0

    @classmethod
    def starting_now(cls, rate: int) -> "ServiceClock":
        return cls(rate=rate, base=int(time.time()))

    @property
    def compressed(self) -> bool:
        return self.rate != 1

    def to_real(self, service_time: float) -> float:
        return self.base + (service_time - self.base) / self.rate

    def environment(self, shim: Path) -> dict[str, str]:
        return {
            "LD_PRELOAD": str(shim),
            "FAST_CLOCK_BASE": str(self.base),
            "FAST_CLOCK_RATE": str(self.rate),
        }


def build_shim(directory: Path) -> Path:
    """Compile fast_clock.c into `directory` (gcc, a second or so); returns the .so."""
    shim = directory / "fast_clock.so"
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O1", "-Wall", "-o", str(shim), str(SOURCE), "-ldl"],
        check=True,
        capture_output=True,
    )
    return shim
