"""Prometheus metrics of one process, on a registry of its own (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages_in = Counter(
            "vrep_messages_in_total",
            "Inbound messages handled, by channel and skill.",
            ["channel", "skill"],
            registry=self.registry,
        )
        self.messages_out = Counter(
            "vrep_messages_out_total",
            "Replies handed to a channel sender, by channel and skill.",
            ["channel", "skill"],
            registry=self.registry,
        )
        self.handling_seconds = Histogram(
            "vrep_handling_seconds",
            "Time from dequeue to replies delivered, per message.",
            ["channel"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.errors = Counter(
            "vrep_errors_total", "Errors by where they happened.", ["where"], registry=self.registry
        )
        self.queue_depth = Gauge(
            "vrep_queue_depth",
            "Unacknowledged entries per queue.",
            ["queue"],
            registry=self.registry,
        )
        self.queue_alert = Gauge(
            "vrep_queue_alert",
            "1 while a queue's unacknowledged depth exceeds VREP_QUEUE_ALERT_DEPTH, else 0.",
            ["queue"],
            registry=self.registry,
        )
        self.events = Counter(
            "vrep_events_total",
            "Domain events (callbacks rejected, kf send failures, handoffs, cases, ...).",
            ["event"],
            registry=self.registry,
        )

        # --- human handoff (skills/handoff) -------------------------------------------------
        self.handoff_events = Counter(
            "vrep_handoff_events_total",
            "Handoff lifecycle events (requested, offered, taken_over, released, ...), by reason.",
            ["event", "reason"],
            registry=self.registry,
        )
        self.handoff_takeover_seconds = Histogram(
            "vrep_handoff_takeover_seconds",
            "Time from the escalation request to a rep taking the conversation over.",
            ["reason"],
            buckets=(30, 60, 120, 300, 600, 1200, 1800, 3600, 4 * 3600, 24 * 3600),
            registry=self.registry,
        )
        self.handoff_declines = Counter(
            "vrep_handoff_declines_total",
            "Handoff cards declined by a rep.",
            ["reason"],
            registry=self.registry,
        )
        self.handoff_sla_breaches = Counter(
            "vrep_handoff_sla_breaches_total",
            "Handoff offers nobody answered within the SLA, by stage (rep, backup, pool).",
            ["stage"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
