"""Fault injection for chaos runs: 500s, 429s, latency and answers lost after execution."""

import enum
import fnmatch
import random
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .errors import JsonObject, invalid_request


class Fault(enum.Enum):
    NONE = "none"
    ERROR_500 = "500"
    ERROR_429 = "429"
    DROP = "drop"  # execute, then close the connection without answering


@dataclass(frozen=True)
class FaultDecision:
    fault: Fault = Fault.NONE
    latency_seconds: float = 0.0
    retry_after_seconds: int = 1


NO_FAULT = FaultDecision()


@dataclass(frozen=True)
class FaultConfig:
    """What `POST /_fake/faults` accepts; every field is optional."""

    # Probabilities per matching request (one draw, so they add up to at most 1):
    error_rate: float = 0.0  # 500 api_error before executing
    rate_limit_rate: float = 0.0  # 429 rate_limit with Retry-After, before executing
    drop_rate: float = 0.0  # execute, then close the connection without answering
    # Added to every matching request, while it holds its idempotency key.
    latency_ms: float = 0.0
    retry_after_seconds: int = 1
    # Glob patterns on the path (`/v1/payment_intents/*/confirm`); empty means every /v1 path.
    paths: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    # Inject at most this many 500/429/drop faults, then behave (None: no limit).
    max_faults: int | None = None
    seed: int | None = None
    _path_patterns: tuple[re.Pattern[str], ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JsonObject) -> "FaultConfig":
        known = {name for name in cls.__dataclass_fields__ if not name.startswith("_")}
        unknown = sorted(set(data) - known)
        if unknown:
            raise invalid_request(f"Unknown fault setting: {unknown[0]}", param=unknown[0])
        values: dict[str, Any] = dict(data)
        for name in ("paths", "methods"):
            if not isinstance(values.get(name) or [], list):
                raise invalid_request(f"{name} must be a list", param=name)
        values["paths"] = tuple(values.get("paths") or ())
        values["methods"] = tuple(method.upper() for method in values.get("methods") or ())
        config = cls(**values)
        for name in ("error_rate", "rate_limit_rate", "drop_rate"):
            if not 0.0 <= getattr(config, name) <= 1.0:
                raise invalid_request(f"{name} must be between 0 and 1", param=name)
        total = config.error_rate + config.rate_limit_rate
        if total + config.drop_rate > 1.0:
            raise invalid_request("fault probabilities must add up to at most 1")
        if config.latency_ms < 0:
            raise invalid_request("latency_ms must not be negative", param="latency_ms")
        patterns = tuple(re.compile(fnmatch.translate(path)) for path in config.paths)
        object.__setattr__(config, "_path_patterns", patterns)
        return config

    def to_json(self) -> JsonObject:
        return {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in vars(self).items()
            if not name.startswith("_")
        }

    def applies_to(self, method: str, path: str) -> bool:
        if self.methods and method not in self.methods:
            return False
        return not self._path_patterns or any(p.match(path) for p in self._path_patterns)


class FaultInjector:
    """Rolls the dice for each /v1 request; thread-safe so the control API can swap configs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.configure(FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        with self._lock:
            self.config = config
            self._random = random.Random(config.seed)  # noqa: S311 - chaos, not crypto
            self.injected: Counter[str] = Counter()
            self._active = (
                config.latency_ms > 0
                or config.error_rate > 0
                or config.rate_limit_rate > 0
                or config.drop_rate > 0
            )

    def roll(self, method: str, path: str) -> FaultDecision:
        if not self._active:
            return NO_FAULT
        with self._lock:
            config = self.config
            if not config.applies_to(method, path):
                return NO_FAULT
            latency = config.latency_ms / 1000
            if latency:
                self.injected["latency"] += 1
            fault = self._pick(config)
            if fault is not Fault.NONE:
                self.injected[fault.value] += 1
            return FaultDecision(fault, latency, config.retry_after_seconds)

    def _pick(self, config: FaultConfig) -> Fault:
        spent = sum(self.injected[f.value] for f in (Fault.ERROR_500, Fault.ERROR_429, Fault.DROP))
        if config.max_faults is not None and spent >= config.max_faults:
            return Fault.NONE
        draw = self._random.random()
        for fault, probability in (
            (Fault.ERROR_429, config.rate_limit_rate),
            (Fault.ERROR_500, config.error_rate),
            (Fault.DROP, config.drop_rate),
        ):
            if draw < probability:
                return fault
            draw -= probability
        return Fault.NONE

    def status(self) -> JsonObject:
        with self._lock:
            return {"config": self.config.to_json(), "injected": dict(self.injected)}
