"""Prometheus metrics of one service instance (its own registry, so several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info


class ServiceMetrics:
    """Request counts and latencies per route, scored events, model identity."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "fedrisk_http_requests_total",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "fedrisk_http_request_seconds",
            "Time to answer, by route (server side).",
            ["route"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
            registry=self.registry,
        )
        self.scored = Counter("fedrisk_scores_total", "Scores returned, by model.", ["model"], registry=self.registry)
        self.errors = Counter("fedrisk_errors_total", "Error responses by code.", ["code"], registry=self.registry)
        self.in_flight = Gauge("fedrisk_requests_in_flight", "Requests being served.", registry=self.registry)
        self.model = Info("fedrisk_model", "The loaded stress model.", registry=self.registry)
