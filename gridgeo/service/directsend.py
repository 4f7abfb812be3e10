"""Large parts of a streamed answer handed to uvicorn's transport without its copy.

A streamed answer has no ``Content-Length``: uvicorn (httptools) frames each part in
HTTP/1.1 chunked encoding by joining ``b"%x\\r\\n" % size``, the part and ``b"\\r\\n"``
into a new bytes object, a copy of every answer byte on the event loop (a 5 M-point
GeoParquet answer, 340 MB: 0.06–0.28 s of CPU in isolation, the most when the fresh
bytes fault their pages in). :class:`DirectChunks` writes the same three pieces to the
transport one after the other (uvloop sends the part from where it is, or keeps a
reference to what the socket did not take yet) after uvicorn's own ``send`` of an empty
part has done its checks and flow control. The bytes on the wire are the same. Anything
else (another server, the h11 protocol, a ``HEAD``, a small or last part, a
length-delimited answer) goes through ``send`` unchanged.

A part written this way is referenced by the transport until the socket has taken it:
a :class:`~gridgeo.locate.csvout.BufferPool` buffer is not handed out again before (the
pool reuses only buffers nothing else refers to).
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Parts from this size on are written directly (a smaller one's copy costs less than
#: the second call to uvicorn's ``send``).
DIRECT_FROM = 64 << 10

#: The class whose bound ``send`` is recognised, and what is used of it.
_CYCLE = ("uvicorn.protocols.http.httptools_impl", "RequestResponseCycle")
_NEEDED = ("transport", "chunked_encoding", "response_started", "response_complete", "disconnected")
_EMPTY_PART: Message = {"type": "http.response.body", "body": b"", "more_body": True}


def _cycle(send: Send) -> Any:
    """uvicorn's httptools request cycle whose ``send`` this is (else None)."""
    cycle = getattr(send, "__self__", None)
    kind = type(cycle)
    if (kind.__module__, kind.__name__) != _CYCLE or not all(hasattr(cycle, a) for a in _NEEDED):
        return None
    return cycle


def direct_send(scope: Scope, send: Send) -> Send:
    """``send``, or, under uvicorn's httptools protocol, a ``send`` that writes each large
    part of a chunked answer (more to come) without joining it to its frame.

    Parameters
    ----------
    scope
        The request's ASGI scope.
    send
        The server's ``send``.

    Returns
    -------
    callable
        An ASGI ``send``.
    """
    cycle = _cycle(send) if scope["type"] == "http" and scope.get("method") != "HEAD" else None
    if cycle is None:
        return send

    async def direct(message: Message) -> None:
        body = message.get("body", b"") if message["type"] == "http.response.body" else b""
        size = memoryview(body).nbytes if body else 0
        if (
            size < DIRECT_FROM
            or not message.get("more_body", False)
            or not cycle.response_started
            or cycle.response_complete
            or not cycle.chunked_encoding
        ):
            await send(message)
            return
        await send(_EMPTY_PART)  # uvicorn's checks; waits while the client is behind
        if not cycle.disconnected and not cycle.response_complete:
            # three writes, not writelines: uvloop copies what writelines cannot send at
            # once, while a part given to write alone is kept by reference until sent
            transport = cycle.transport
            transport.write(b"%x\r\n" % size)
            transport.write(body)
            transport.write(b"\r\n")

    return direct


class DirectChunks:
    """ASGI middleware: :func:`direct_send` for every HTTP request (it must get the
    server's own ``send``: outside every other middleware).

    Parameters
    ----------
    app
        The ASGI application to wrap.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, direct_send(scope, send))
