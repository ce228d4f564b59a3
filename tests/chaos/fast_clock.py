"""A compressed wall clock for the service's processes: production thresholds, passed in seconds.

The service reads "now" from the wall clock (Django's timezone.now, Celery's ETAs and
expiries, kombu's visibility timeout): run it under fast_clock.c and a 900 s sweeper
threshold passes in 900 / rate real seconds, with no code path of its own. The fake
Stripe, Redis, PostgreSQL and the test process keep real time.

What stays real: anything measured on CLOCK_MONOTONIC — sleeps, socket timeouts, Celery's
task time limits, and beat's wait between ticks. Retries are scheduled on the wall clock
(next_attempt_at, config/retries.py), so they pass at the compressed rate like the
thresholds. The Redis visibility timeout (180 service seconds) is 180 / rate real seconds:
a task running longer than that is restored and runs twice, which every task tolerates;
a scenario under this clock keeps Stripe healthy so tasks stay short.
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
