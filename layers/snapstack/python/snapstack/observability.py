"""Structured logs and metrics (Powertools for AWS Lambda, run on FC).

Logs: one JSON line per decision on stdout, with the invocation's request id, function and
service appended to every line. Metrics: EMF JSON on stdout (FC ships stdout to SLS),
gathered during the invocation and flushed once at its end. Workers never touch the metric
set (it is shared class state in Powertools); they report outcomes and the handler turns the
totals into metrics from one thread.

Lines that call for a person carry an ``alert`` field naming what happened (``InvocationFailed``
here; the reconciler's ``SlotAbandoned`` and ``RpoBreach``): template.yml's SLS alerts search for
it (README "Metrics and alerts").
"""

from __future__ import annotations

import json
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
#: The ``alert`` field of a line saying the invocation failed and FC will deliver it again.
INVOCATION_FAILED = "InvocationFailed"
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

    def handle(self, record: logging.LogRecord) -> bool:
        """Format outside the handler's lock, write under it, flush after it: ``Handler.handle``
        holds the lock through the JSON formatting and the flush's system call, and the
        fan-out's workers queued behind it (4.1 % of their time for the formatting, then 6.9 %
        for the flush: the holder waited for the GIL after the call with the lock held; py-spy
        samples, ``bench.fanout``). Lines still never interleave: each is written whole under
        the lock, and the stream's own buffer lock orders the flushes."""
        if not self.filter(record):
            return False
        try:
            line = self.format(record) + self.terminator
        except RecursionError:
            raise
        except Exception:  # what ``StreamHandler.emit`` does with a record it cannot format
            self.handleError(record)
            return True
        stream = self.stream
        try:
            with self.lock:  # type: ignore[union-attr]  # made by Handler.__init__, never None here
                stream.write(line)  # type: ignore[attr-defined]
            stream.flush()  # type: ignore[attr-defined]
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
        return True


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
    *,
    seconds: Mapping[str, float] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Flush one EMF blob for the invocation: counts, and API latency as mean and max.

    ``latencies_ms``: each API call's latency, or their running ``Latency`` summary.
    ``seconds``: durations (an age, a delay), in the Seconds unit. ``metadata``: high-cardinality
    values (a disk id) kept in the blob for searches, never as dimensions.
    """
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    metrics: Metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
    metrics.clear_metrics()
    metrics.add_dimension(name="function", value=invocation.function_name)
    for name, label in dimensions.items():
        metrics.add_dimension(name=name, value=label or "none")
    for name, count in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)
    for name, value in (seconds or {}).items():
        metrics.add_metric(name=name, unit=MetricUnit.Seconds, value=value)
    for key, text in (metadata or {}).items():
        metrics.add_metadata(key=key, value=text)
    latency = latencies_ms if isinstance(latencies_ms, Latency) else Latency.of(latencies_ms)
    if latency.count:
        # EMF caps values per metric at 100; a 5,000-disk run reports the shape, not each call.
        metrics.add_metric(
            name="ApiLatency", unit=MetricUnit.Milliseconds, value=latency.total_ms / latency.count
        )
        metrics.add_metric(name="ApiLatencyMax", unit=MetricUnit.Milliseconds, value=latency.max_ms)
    publish_metrics(metrics)


def publish_metrics(metrics: Metrics) -> None:
    """Print the metric set as one EMF line, each metric recorded once as a bare number.

    Powertools writes every value as an array (``"SnapshotsFailed": [1.0]``). EMF allows a number
    or an array of numbers for a metric's member (https://docs.aws.amazon.com/AmazonCloudWatch/
    latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html, "Target members"),
    but SLS cannot index a JSON field whose value is an array
    (https://www.alibabacloud.com/help/tc/sls/data-types, JSON type): a one-value array becomes its
    number, so the log store's index can sum it. ``POWERTOOLS_METRICS_DISABLED`` is honoured as by
    ``Metrics.flush_metrics``.
    """
    from aws_lambda_powertools.metrics.functions import is_metrics_disabled

    blob: dict[str, Any] = dict(metrics.serialize_metric_set())
    metrics.clear_metrics()
    if is_metrics_disabled():
        return
    for directive in blob["_aws"]["CloudWatchMetrics"]:
        for metric in directive["Metrics"]:
            value = blob.get(metric["Name"])
            if isinstance(value, list) and len(value) == 1:
                blob[metric["Name"]] = value[0]
    print(json.dumps(blob, separators=(",", ":")))


def log_fields(**fields: Any) -> dict[str, Any]:
    """Drop empty fields so each line carries only what the decision knows."""
    return {k: v for k, v in fields.items() if v is not None}
