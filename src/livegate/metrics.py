"""Prometheus metrics of one node, in their own registry.

Per-event viewer gauges are bounded: only the ``TOP_EVENTS`` most watched
events get a labelled series; the total covers all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE", "TOP_EVENTS", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TOP_EVENTS = 20

ViewerSource = Callable[[], Iterable[tuple[str, int]]]


class _ViewersCollector(Collector):
    def __init__(self, source: ViewerSource) -> None:
        self._source = source

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts = list(self._source())
        total = GaugeMetricFamily(
            "livegate_viewers_total", "Live viewers on this node, all events together."
        )
        total.add_metric([], sum(count for _, count in counts))
        yield total
        top = GaugeMetricFamily(
            "livegate_viewers",
            f"Live viewers on this node of the {TOP_EVENTS} most watched events.",
            labels=["event"],
        )
        for event_id, count in sorted(counts, key=lambda item: -item[1])[:TOP_EVENTS]:
            top.add_metric([event_id], count)
        yield top


class Metrics:
    """Every metric of a node. ``render()`` gives the text exposition format."""

    def __init__(self, viewers: ViewerSource, engine_commands: Callable[[], int]) -> None:
        """``engine_commands()`` counts the commands this node sent its engine so far."""
        self.registry = registry = CollectorRegistry()
        self.connections = Gauge(
            "livegate_connections", "Open WebSocket connections.", registry=registry
        )
        self.connections_opened = Counter(
            "livegate_connections_opened", "WebSocket connections accepted.", registry=registry
        )
        self.refused_upgrades = Counter(
            "livegate_refused_upgrades",
            "WebSocket upgrades refused, by reason (over_capacity, too_many_connections, "
            "rate_limited).",
            ["reason"],
            registry=registry,
        )
        self.aborted_connections = Counter(
            "livegate_aborted_connections",
            "Connections aborted outside a request: header_timeout (no first request "
            "in time), too_many_waiting (the longest waiting, past the cap).",
            ["reason"],
            registry=registry,
        )
        self.joins = Counter("livegate_joins", "Successful joins.", registry=registry)
        self.messages_in = Counter(
            "livegate_messages_in",
            "Client messages received, by type.",
            ["type"],
            registry=registry,
        )
        self.messages_out = Counter(
            "livegate_messages_out",
            "Server messages written, by type.",
            ["type"],
            registry=registry,
        )
        self.deliveries = Counter(
            "livegate_fanout_deliveries",
            "Broadcast messages written to viewers.",
            registry=registry,
        )
        self.fanout_writes = Counter(
            "livegate_fanout_writes",
            "Socket writes that carried them (coalescing puts several messages in one).",
            registry=registry,
        )
        self.reactions = Counter(
            "livegate_reactions",
            "Reactions, by result (accepted or refused).",
            ["result"],
            registry=registry,
        )
        self.errors = Counter(
            "livegate_errors_sent",
            "Error messages sent to clients, by code.",
            ["code"],
            registry=registry,
        )
        self.closes = Counter(
            "livegate_closes",
            "Connections closed by the server, by reason.",
            ["reason"],
            registry=registry,
        )
        self.api_refusals = Counter(
            "livegate_api_refusals",
            "API writes refused because the key's scopes do not allow them, by key name.",
            ["key"],
            registry=registry,
        )
        self.updates = Counter(
            "livegate_updates_published",
            "Score updates accepted through the API.",
            registry=registry,
        )
        self.publish_latency = Histogram(
            "livegate_publish_to_write_seconds",
            "From an update's arrival to its acceptance (validated, stored and published); "
            "with the memory and SQLite engines that includes the fan-out to local viewers.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=registry,
        )
        registry.register(_ViewersCollector(viewers))
        engine = Gauge(
            "livegate_engine_commands",
            "Commands sent to a shared engine (Redis) since start, a pipeline's each counted; "
            "0 for engines in this process. A counter: rate() it.",
            registry=registry,
        )
        engine.set_function(lambda: float(engine_commands()))

    def render(self) -> bytes:
        return generate_latest(self.registry)
