"""Prometheus metrics: requests, latency, tokens and cost by model and stage role."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from coe.events import RunEvent, StageFailed, StageFinished


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("coe_requests_total", "HTTP requests", ["route", "model", "status"],
                                registry=self.registry)
        self.latency = Histogram("coe_request_latency_seconds", "Request latency", ["route", "model"],
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
                                 registry=self.registry)
        self.tokens = Counter("coe_tokens_total", "Tokens by model, stage role and direction",
                              ["model", "role", "direction"], registry=self.registry)
        self.cost = Counter("coe_cost_usd_total", "Cost in USD by model and stage role", ["model", "role"],
                            registry=self.registry)
        self.stage_latency = Histogram("coe_stage_latency_seconds", "Stage latency", ["model", "role"],
                                       buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
                                       registry=self.registry)
        self.stage_failures = Counter("coe_stage_failures_total", "Failed stage attempts", ["model", "role"],
                                      registry=self.registry)
        self.open_streams = Gauge("coe_open_streams", "Streams in flight", registry=self.registry)
        self._stage: dict[tuple[str, str], tuple[Any, Any, Any, Any]] = {}  # labelled children, looked up once

    def observe(self, ev: RunEvent) -> None:
        if isinstance(ev, StageFinished):
            key = (ev.model, ev.role)
            c = self._stage.get(key)
            if c is None:
                c = (self.tokens.labels(ev.model, ev.role, "input"), self.tokens.labels(ev.model, ev.role, "output"),
                     self.cost.labels(ev.model, ev.role), self.stage_latency.labels(ev.model, ev.role))
                if len(self._stage) < 10_000:
                    self._stage[key] = c
            c[0].inc(ev.usage.input_tokens)
            c[1].inc(ev.usage.output_tokens)
            c[2].inc(ev.cost.total_usd)
            c[3].observe(ev.latency_ms / 1000)
        elif isinstance(ev, StageFailed):
            self.stage_failures.labels(ev.model, ev.role).inc()
