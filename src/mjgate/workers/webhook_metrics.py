"""Prometheus metrics of webhook delivery, in the default registry (served at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ATTEMPTS = Counter(
    "mjgate_webhook_attempts",
    "Webhook POSTs made, by result (ok, http_error, network_error, refused).",
    ["result"],
)
OUTCOMES = Counter(
    "mjgate_webhook_deliveries",
    "Webhook deliveries settled, by outcome (delivered, retry, superseded, dead).",
    ["outcome"],
)
LAG = Histogram(
    "mjgate_webhook_delivery_lag_seconds",
    "From the task change to the receiver's 2xx answer.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400),
)
ATTEMPT_SECONDS = Histogram(
    "mjgate_webhook_attempt_seconds",
    "How long one webhook POST took, answered or not.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
