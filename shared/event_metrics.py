"""Prometheus metrics of the event pipeline, registered in a process's own registry."""

from prometheus_client import CollectorRegistry, Counter, Gauge


class RelayMetrics:
    """What the outbox relay did."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.published = Counter(
            "assetflow_events_published_total",
            "Events published to the broker and confirmed, by type.",
            ["type"],
            registry=registry,
        )
        self.publish_failures = Counter(
            "assetflow_events_publish_failures_total",
            "Publish attempts that failed (the events stay in the outbox).",
            registry=registry,
        )
        self.unrouted = Counter(
            "assetflow_events_unrouted_total",
            "Notices confirmed by the broker that no queue was bound to receive, by type.",
            ["type"],
            registry=registry,
        )
        self.backlog = Gauge(
            "assetflow_outbox_backlog", "Events in the outbox waiting to be published.", registry=registry
        )


class ConsumerMetrics:
    """What the worker's consumers did, by consumer."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.consumed = Counter(
            "assetflow_events_consumed_total",
            "Events processed and acknowledged.",
            ["consumer", "outcome"],
            registry=registry,
        )
        self.retried = Counter(
            "assetflow_events_retried_total",
            "Deliveries that failed and were tried again.",
            ["consumer", "reason"],
            registry=registry,
        )
        self.dead_lettered = Counter(
            "assetflow_events_dead_lettered_total",
            "Events sent to the dead-letter queue.",
            ["consumer"],
            registry=registry,
        )
