"""Structured logs and metrics (Powertools for AWS Lambda, run on FC).

Logs: one JSON line per decision on stdout, with the invocation's request id, function and
service appended to every line. Metrics: EMF JSON on stdout (FC ships stdout to SLS),
gathered during the invocation and flushed once at its end. Workers never touch the metric
set (it is shared class state in Powertools); they report outcomes and the handler turns the
totals into metrics from one thread.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics

    from snapstack.invocation import Invocation

SERVICE = "snapstack"
NAMESPACE = os.environ.get("SNAPSTACK_METRICS_NAMESPACE", "snapstack")
_logger: Logger | None = None
_logger_lock = threading.Lock()


class _CurrentStdout(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is now (a handler bound at creation misses redirection)."""

    @property
    def stream(self) -> object:
        return sys.stdout

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def get_logger() -> Logger:
    """The process-wide Powertools logger (created on first use)."""
    global _logger  # noqa: PLW0603 - one logger per process, built lazily for cold start
    with _logger_lock:  # two invocations starting at once must not build two half-made loggers
        if _logger is not None:
            return _logger
        from aws_lambda_powertools import Logger

        _logger = Logger(
            service=SERVICE,
            level=os.environ.get("SNAPSTACK_LOG_LEVEL", "INFO"),
            logger_handler=_CurrentStdout(),
        )
    return _logger


def bind_invocation(invocation: Invocation) -> Logger:
    """Tag every following log line with this invocation's identity.

    The keys are process-wide, which matches FC's built-in Python runtime: one invocation per
    instance at a time. Concurrent invocations in one process (local tests) may mix them.
    """
    logger = get_logger()
    logger.remove_keys(["request_id", "function", "fc_service"])
    logger.append_keys(
        request_id=invocation.request_id,
        function=invocation.function_name,
        fc_service=invocation.service_name,
    )
    return logger


@dataclass
class Latency:
    """API latencies as a running count, sum and maximum: the same size after 10 calls or 200,000."""

    count: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0

    def add(self, ms: float) -> None:
        """One more call's latency, in milliseconds."""
        self.count += 1
        self.total_ms += ms
        self.max_ms = max(self.max_ms, ms)

    @classmethod
    def of(cls, values: Iterable[float]) -> Latency:
        """The summary of ``values``."""
        latency = cls()
        for ms in values:
            latency.add(ms)
        return latency


def emit_metrics(
    invocation: Invocation,
    dimensions: Mapping[str, str],
    counts: Mapping[str, float],
    latencies_ms: Iterable[float] | Latency,
) -> None:
    """Flush one EMF blob for the invocation: counts, and API latency as mean and max."""
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    metrics: Metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
    metrics.clear_metrics()
    metrics.add_dimension(name="function", value=invocation.function_name)
    for name, label in dimensions.items():
        metrics.add_dimension(name=name, value=label or "none")
    for name, count in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)
    latency = latencies_ms if isinstance(latencies_ms, Latency) else Latency.of(latencies_ms)
    if latency.count:
        # EMF caps values per metric at 100; a 5,000-disk run reports the shape, not each call.
        metrics.add_metric(
            name="ApiLatency", unit=MetricUnit.Milliseconds, value=latency.total_ms / latency.count
        )
        metrics.add_metric(name="ApiLatencyMax", unit=MetricUnit.Milliseconds, value=latency.max_ms)
    metrics.flush_metrics()


def log_fields(**fields: Any) -> dict[str, Any]:
    """Drop empty fields so each line carries only what the decision knows."""
    return {k: v for k, v in fields.items() if v is not None}
