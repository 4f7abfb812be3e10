"""Request-body limits of the map service (a small ASGI middleware).

Every write (POST, PUT, PATCH, DELETE) needs a bearer token: without one the answer
is 401 before a byte of the body is read. A write body other than a batch of points
(``/locate/batch`` streams and counts its own, up to ``batch_max_bytes``) is capped at
``json_max_bytes``: a ``Content-Length`` above it is refused at once, a chunked body
as soon as the route's reading passes the cap (413). The body is counted as the route
reads it, never read ahead: a token of the wrong role is refused before any of it is read.
"""

from __future__ import annotations

import json
import re

from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridgeo.i18n import _

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Paths that read their own (large, streamed) bodies.
STREAMED_PATHS = ("/locate/batch",)
#: uploads that stream their body to a file under a limit of their own (GRIDGEO_UPLOAD_MAX_BYTES
#: for grid layers; photos and tracks likewise), so the JSON cap does not apply to them
#: writes the public may make without a token (still capped): reporting an incident and
#: evaluating its handling (满意度评价)
PUBLIC_WRITES = re.compile(r"^/incidents(/\d+/actions/evaluate)?$")
UPLOAD_PATHS = re.compile(r"^/(changes|tracks|incidents/\d+/photos)$")


async def _answer(send: Send, status: int, error: str, detail: str, **headers: str) -> None:
    body = json.dumps({"error": error, "detail": detail}, ensure_ascii=False).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _routed(scope: Scope) -> bool:
    """Whether a route of the app takes this method at this path."""
    app = scope.get("app")
    router = getattr(app, "router", None)
    if router is None:
        return True
    return any(route.matches(scope)[0] == Match.FULL for route in router.routes)


class BodyLimits:
    """Refuse anonymous writes unread and cap write bodies.

    Parameters
    ----------
    app
        The ASGI application to wrap.
    max_bytes
        Largest body of a write other than ``/locate/batch`` (``json_max_bytes``).
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_big(self) -> str:
        # made only for a refusal, in the language of that moment (not on every write)
        return _("the request body is larger than {n} bytes").format(n=self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        if not _routed(scope):  # no such operation: the app's own 404/405
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        path = scope.get("path", "")
        if not headers.get(b"authorization") and not PUBLIC_WRITES.match(path):
            await _answer(
                send,
                401,
                "Unauthorized",
                _("a write needs a token: 'Authorization: Bearer <token>'"),
                **{"WWW-Authenticate": "Bearer", "Connection": "close"},
            )
            return
        if path.startswith(STREAMED_PATHS) or UPLOAD_PATHS.match(path):
            await self.app(scope, receive, send)
            return
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            await _answer(send, 413, "PayloadTooLarge", self._too_big(), Connection="close")
            return
        # read up to the cap, then hand the body on as one message
        # counted as the app reads it, not read ahead: a route may refuse the caller (its
        # role, service.auth.RoleFirst) before asking for a byte of the body
        size = 0

        async def capped() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > self.max_bytes:
                    raise HTTPException(413, self._too_big(), headers={"Connection": "close"})
            return message

        await self.app(scope, capped, send)
