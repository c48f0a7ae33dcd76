"""The request metrics, counted as plain numbers, read exactly as prometheus_client's own."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from proxy.server.metrics import RequestCollector

# status, mode, seconds: on bucket bounds, between them and past the last one.
ANSWERED = [
    (200, "default-100", 0.001),
    (200, "default-100", 0.005),
    (200, "blue-150", 0.0051),
    (404, "default-100", 0.3),
    (502, "none", 12.0),
    (200, "default-100", 10.0),
]
# The _created series hold the time each series began: they differ between two registries.
_CREATED = re.compile(r"^(\S+_created(?:\{[^}]*\})?) \S+$", re.M)


def theirs() -> CollectorRegistry:
    registry = CollectorRegistry()
    requests = Counter(
        "requests",
        "Requests answered, by HTTP status and reading mode",
        ["status", "mode"],
        namespace="a11y_proxy",
        registry=registry,
    )
    seconds = Histogram(
        "request_duration_seconds",
        "Time from the request to the end of the response",
        namespace="a11y_proxy",
        registry=registry,
    )
    in_flight = Gauge(
        "requests_in_flight",
        "Requests being answered now",
        namespace="a11y_proxy",
        registry=registry,
    )
    for status, mode, duration in ANSWERED:
        requests.labels(str(status), mode).inc()
        seconds.observe(duration)
    in_flight.set(3)
    return registry


def ours() -> CollectorRegistry:
    registry = CollectorRegistry()
    collector = RequestCollector()
    registry.register(collector)
    for status, mode, duration in ANSWERED:
        collector.count(status, mode, duration)
    collector.in_flight = 3
    return registry


@pytest.mark.parametrize("exposition", [generate_latest, generate_openmetrics])
def test_request_metrics_read_as_prometheus_clients_own(
    exposition: Callable[[CollectorRegistry], bytes],
) -> None:
    expected = _CREATED.sub(r"\1 T", exposition(theirs()).decode())
    got = _CREATED.sub(r"\1 T", exposition(ours()).decode())
    assert "a11y_proxy_requests_created" in got
    assert got == expected
