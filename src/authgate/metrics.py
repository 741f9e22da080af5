"""Prometheus metrics, one registry per app so several apps (and tests) never collide.

Security events are counted from the audit trail (one place where they all pass), token
verification failures from the authenticator, and latency by route template (never the
raw path, whose cardinality an attacker controls).
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # Set by `authgate serve --workers N`: prometheus-client then writes every sample
        # to a file there, and a scrape answers the sum over all workers.
        self._multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.logins = Counter(
            "authgate_logins",
            "Login attempts by outcome and reason.",
            ["outcome", "reason"],
            registry=r,
        )
        self.tokens_issued = Counter(
            "authgate_tokens_issued", "Tokens issued, by type.", ["type"], registry=r
        )
        self.tokens_refreshed = Counter(
            "authgate_tokens_refreshed", "Successful refresh-token rotations.", registry=r
        )
        self.sessions_revoked = Counter(
            "authgate_sessions_revoked", "Sessions revoked, by reason.", ["reason"], registry=r
        )
        self.refresh_reuse = Counter(
            "authgate_refresh_reuse_detected",
            "Rotated refresh tokens presented again.",
            registry=r,
        )
        self.device_mismatch = Counter(
            "authgate_device_mismatch",
            "Refresh tokens presented from another device.",
            registry=r,
        )
        self.ratelimit_rejections = Counter(
            "authgate_ratelimit_rejections",
            "Requests answered 429, by group.",
            ["group"],
            registry=r,
        )
        self.verification_failures = Counter(
            "authgate_token_verification_failures",
            "Access tokens refused, by reason.",
            ["reason"],
            registry=r,
        )
        self.task_failures = Counter(
            "authgate_background_task_failures",
            "Background task failures (each logged, the task restarted), by task.",
            ["task"],
            registry=r,
        )
        self.authserver_events = Counter(
            "authgate_authserver_events",
            "Authorization server events: authorize, consent, consent_denied, grant, "
            "client_registered, code_reused.",
            ["event"],
            registry=r,
        )
        self.approvals = Counter(
            "authgate_approvals",
            "Human approvals of agent actions (CIBA), by outcome: requested, approved, "
            "denied, expired, token_issued, used.",
            ["outcome"],
            registry=r,
        )
        self.approval_notices = Counter(
            "authgate_approval_notices",
            "Approval pings and webhooks sent, by kind and outcome (sent, failed).",
            ["kind", "outcome"],
            registry=r,
        )
        self.latency = Histogram(
            "authgate_http_request_duration_seconds",
            "Request latency by method, route template and status class.",
            ["method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )

    def on_audit(self, event: str, detail: dict[str, Any]) -> None:
        """Count the security events that pass through the audit trail."""
        if event == "login.success":
            self.logins.labels("success", "ok").inc()
            self.tokens_issued.labels("access").inc()
            self.tokens_issued.labels("refresh").inc()
        elif event == "login.failure":
            self.logins.labels("failure", str(detail.get("reason", "invalid_credentials"))).inc()
        elif event == "oauth.failure":
            self.logins.labels("failure", "oauth").inc()
        elif event == "token.refresh":
            self.tokens_refreshed.inc()
            self.tokens_issued.labels("access").inc()
            self.tokens_issued.labels("refresh").inc()
        elif event == "session.revoked":
            self.sessions_revoked.labels(str(detail.get("reason", "unknown"))).inc()
        elif event == "token.reuse_detected":
            self.refresh_reuse.inc()
        elif event in ("token.device_mismatch", "access.device_mismatch"):
            self.device_mismatch.inc()
        elif event.startswith("approval."):
            self.approvals.labels(event.removeprefix("approval.")).inc()
        elif event.startswith("authserver."):
            self.authserver_events.labels(event.removeprefix("authserver.")).inc()

    def on_approval_notice(self, kind: str, outcome: str) -> None:
        self.approval_notices.labels(kind, outcome).inc()

    def on_rejected_token(self, reason: str) -> None:
        self.verification_failures.labels(reason).inc()

    def on_rate_limited(self, group: str) -> None:
        self.ratelimit_rejections.labels(group).inc()

    def on_task_failure(self, task: str) -> None:
        self.task_failures.labels(task).inc()

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.latency.labels(method, route, f"{status // 100}xx").observe(seconds)

    def exposition(self) -> bytes:
        if self._multiprocess_dir is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        # prometheus-client leaves this constructor unannotated.
        MultiProcessCollector(merged, path=self._multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(merged)
