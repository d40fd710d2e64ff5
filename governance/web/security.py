"""Security headers on every response: CSP without inline script, no framing, no sniffing."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def content_security_policy() -> str:
    """The CSP: same-origin scripts and styles only; avatars may come from the forum."""
    forum = _origin(current_app.config.get("DISCOURSE_URL", ""))
    img = " ".join(x for x in ("'self'", "data:", forum) if x)
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {img}",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def add_headers(response: Response) -> Response:
    """Add the security headers (HSTS only when the request came over HTTPS)."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", content_security_policy())
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    if response.mimetype == "text/html":
        # Pages can show personal eligibility; keep them out of shared caches.
        headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    """Register the header hook."""
    app.after_request(add_headers)
