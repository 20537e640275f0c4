"""The response headers every page and answer carries, the proxy in front, the rate limiter."""

from __future__ import annotations

from flask import Flask
from flask_talisman import Talisman
from werkzeug.middleware.proxy_fix import ProxyFix

from timebank.extensions import limiter

# Scripts only from our own files (no inline script, no eval); styles from our files plus the
# few computed `style=` attributes (a progress bar's width); images from our files and the
# data: URIs Bootstrap's CSS uses for its icons. Nothing may frame the site.
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}

PERMISSIONS_POLICY = {"camera": "()", "microphone": "()", "geolocation": "()", "payment": "()"}


def init_security(app: Flask) -> None:
    proxies = int(app.config["PROXY_COUNT"])
    if proxies:
        # Behind nginx or a load balancer: the client's address (rate limits, lockout) and
        # the scheme (secure cookies, HSTS) come from the proxy's X-Forwarded-* headers.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies,
                                x_host=proxies, x_port=proxies)
    # One Talisman per app: it keeps its options (and the app) on itself.
    app.extensions["talisman"] = Talisman(
        app,
        force_https=bool(app.config["FORCE_HTTPS"]),
        session_cookie_secure=bool(app.config["SESSION_COOKIE_SECURE"]),
        session_cookie_http_only=bool(app.config["SESSION_COOKIE_HTTPONLY"]),
        session_cookie_samesite=app.config["SESSION_COOKIE_SAMESITE"],
        content_security_policy=CONTENT_SECURITY_POLICY,
        frame_options="DENY",
        referrer_policy="same-origin",
        permissions_policy=PERMISSIONS_POLICY,
        feature_policy={},
        document_policy={},
        x_content_type_options=True,
    )
    limiter.init_app(app)
