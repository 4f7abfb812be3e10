"""Security headers on every response of the map service (a small ASGI middleware).

The console (``/console/``) loads only same-origin files: no inline script, no
``eval``, no frames. Swagger UI and ReDoc (``/docs``, ``/redoc``) start with one
inline script of FastAPI's, so those two pages alone allow inline script; they show
the API description, never registry data.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Content-Security-Policy of everything but the API documentation pages.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: The API documentation pages (FastAPI writes an inline start-up script into them).
CSP_DOCS = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
DOC_PATHS = ("/docs", "/redoc")
_CSP_BYTES, _CSP_DOCS_BYTES = CSP.encode(), CSP_DOCS.encode()


class SecurityHeaders:
    """Add CSP, ``X-Frame-Options``, ``X-Content-Type-Options`` and ``Referrer-Policy``.

    Parameters
    ----------
    app
        The ASGI application to wrap.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        csp = _CSP_DOCS_BYTES if path.startswith(DOC_PATHS) else _CSP_BYTES

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower()
                    not in (
                        b"content-security-policy",
                        b"x-frame-options",
                        b"x-content-type-options",
                    )
                ]
                headers += [
                    (b"content-security-policy", csp),
                    (b"x-frame-options", b"DENY"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
