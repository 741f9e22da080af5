"""Wire the production defences into an app, in the order they must run.

Outermost first: the access log, metrics (times everything), security headers (on
every answer, 429 and 413 included) and store-outage 503s (http/outage.py), as one
layer (http/edge.py); then CORS, trusted proxies (the real client IP for what follows),
the body limit, the JSON depth limit, rate limits, then CSRF right before the routes.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from authgate.http.body_limit import BodySizeLimitMiddleware
from authgate.http.credentials import access_cookie_name
from authgate.http.csrf_middleware import CSRF_EXEMPT, CSRF_HEADER, CsrfMiddleware
from authgate.http.edge import EdgeMiddleware
from authgate.http.json_body import JsonBodyLimitMiddleware
from authgate.http.monitoring import metrics_endpoint
from authgate.http.pages import FORM_PATHS
from authgate.http.proxies import TrustedProxyMiddleware
from authgate.http.ratelimit_middleware import RateLimitMiddleware
from authgate.runtime import Runtime

__all__ = ["install_hardening"]

_EXPOSED = ["Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"]


def install_hardening(app: FastAPI, runtime: Runtime) -> None:
    """Add the middleware stack; ``add_middleware`` wraps, so add innermost first."""
    settings = runtime.settings
    if settings.csrf_protection:
        app.add_middleware(
            CsrfMiddleware,
            secure_cookies=settings.secure_cookies,
            allowed_origins=settings.cors_origins,
            # HTML forms cannot send the header; they check their own field (pages/csrf.py).
            exempt_paths=(*CSRF_EXEMPT, *FORM_PATHS),
        )
    if settings.rate_limit_enabled:
        app.add_middleware(
            RateLimitMiddleware,
            limits=runtime.ratelimits,
            audit=runtime.audit,
            on_blocked=runtime.metrics.on_rate_limited,
            authenticator=runtime.authenticator,
            cookie_name=access_cookie_name(settings.secure_cookies),
            share_principal=True,  # the routes' authenticator: require() reuses it
        )
    # Inside the size limit (the body it buffers is bounded), outside the rate limiter
    # (which reads the login email from the body).
    app.add_middleware(JsonBodyLimitMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.trusted_proxies:
        app.add_middleware(
            TrustedProxyMiddleware,
            trusted=settings.trusted_proxies,
            header=settings.forwarded_header,
        )
    if settings.cors_origins:
        # An explicit list: Starlette echoes only a listed origin, never "*" with cookies.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "DELETE"],  # PUT: vault keys
            allow_headers=["Authorization", "Content-Type", CSRF_HEADER],
            expose_headers=_EXPOSED,
            max_age=600,
        )
    # Outermost: the access log (every final status), metrics (time everything), the
    # security headers (every answer, 429, 413 and 503 included) and the store-outage 503
    # (outside everything that may touch a store), as one layer (http/edge.py).
    app.add_middleware(
        EdgeMiddleware,
        access_log=settings.access_log,
        metrics=runtime.metrics if settings.metrics_enabled else None,
        security_headers={
            "content_security_policy": settings.content_security_policy,
            "hsts_max_age": settings.hsts_max_age,
            "always_hsts": settings.is_production,
        }
        if settings.security_headers
        else None,
    )
    if settings.metrics_enabled:
        token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
        app.add_route(
            "/metrics",
            metrics_endpoint(runtime.metrics, token),
            methods=["GET"],
            include_in_schema=False,
        )
