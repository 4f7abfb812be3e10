"""Streamed answers' large parts written to uvicorn's transport without its join
(gridgeo.service.directsend): the same bytes on the wire."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest
from live_server import live_server
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route

from gridgeo.locate.csvout import BufferPool
from gridgeo.service import directsend
from gridgeo.service.directsend import DirectChunks, direct_send

pytest.importorskip("httptools")

#: Parts of the answer: large ones from a reused pool buffer (overwritten for the next
#: part as soon as the pool hands it out again), small ones, an empty one. The first two
#: follow each other: with a pool that reused a buffer the transport still holds, the
#: second would overwrite the first before it is sent (the slow client sees to that).
_SIZES = (3_000_000, 2_500_000, 10, 0, 2_000_000, 70_000, 5, 4 << 20)


#: Addresses of the pool buffers the parts were written into (reuse happened: fewer).
_USED: list[int] = []


def _parts(pool: BufferPool):
    for i, n in enumerate(_SIZES):
        buf = pool.take(n)
        buf[:n] = (np.arange(n) * (i + 7)) % 251
        _USED.append(buf.ctypes.data)
        view = memoryview(buf)[:n]
        del buf  # the pool's test of "no other reference" sees the view's only
        yield view


def _expected() -> bytes:
    return b"".join(
        ((np.arange(n) * (i + 7)) % 251).astype(np.uint8).tobytes() for i, n in enumerate(_SIZES)
    )


async def _answer(request):
    return StreamingResponse(_parts(BufferPool(2)), media_type="application/octet-stream")


def _raw(base: str, method: str = "GET") -> bytes:
    """The whole HTTP/1.1 response, framing included; read by a slow client (a small
    receive buffer, nothing read for a while): the server's transport holds parts."""
    host, port = base.removeprefix("http://").split(":")
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect((host, int(port)))
        s.sendall(f"{method} /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        time.sleep(0.3)
        got = []
        while part := s.recv(1 << 20):
            got.append(part)
    return b"".join(got)


def _body(raw: bytes) -> tuple[bytes, bytes]:
    """(headers without the date, the chunked body decoded)."""
    head, rest = raw.split(b"\r\n\r\n", 1)
    assert b"transfer-encoding: chunked" in head.lower()
    out = []
    while True:
        size, rest = rest.split(b"\r\n", 1)
        n = int(size, 16)
        if n == 0:
            assert rest == b"\r\n"
            break
        out.append(rest[:n])
        assert rest[n : n + 2] == b"\r\n"
        rest = rest[n + 2 :]
    lines = [ln for ln in head.split(b"\r\n") if not ln.lower().startswith(b"date:")]
    return b"\r\n".join(lines), b"".join(out)


def test_direct_parts_give_the_same_bytes_on_the_wire(monkeypatch):
    _USED.clear()
    taken = []
    cycle = directsend._cycle
    monkeypatch.setattr(directsend, "_cycle", lambda send: taken.append(cycle(send)) or taken[-1])
    app = Starlette(routes=[Route("/a", _answer, methods=["GET", "HEAD"])])
    with live_server(app) as base:
        plain = _raw(base)
        plain_head = _raw(base, "HEAD")
    with live_server(DirectChunks(app)) as base:
        direct = _raw(base)
        head = _raw(base, "HEAD")
    assert taken and taken[0] is not None  # uvicorn's httptools cycle: the parts written directly
    assert len(set(_USED)) < len(_USED)  # pool buffers were handed out again
    assert direct == plain.replace(_date(plain), _date(direct))
    assert _body(direct)[1] == _expected()
    assert head == plain_head.replace(_date(plain_head), _date(head))  # no body


def _date(raw: bytes) -> bytes:
    return next(ln for ln in raw.split(b"\r\n") if ln.lower().startswith(b"date:"))


def test_every_part_written_directly_when_the_threshold_is_zero(monkeypatch):
    monkeypatch.setattr(directsend, "DIRECT_FROM", 1)
    app = DirectChunks(Starlette(routes=[Route("/a", _answer)]))
    with live_server(app) as base:
        assert _body(_raw(base))[1] == _expected()


def test_another_servers_send_is_left_as_it_is():
    async def send(message):
        pass

    http = {"type": "http", "method": "GET"}
    assert direct_send(http, send) is send
    assert direct_send({"type": "websocket"}, send) is send

    class RequestResponseCycle:  # the name without uvicorn's module
        transport = chunked_encoding = response_started = response_complete = None
        disconnected = False

        async def send(self, message):
            pass

    other = RequestResponseCycle().send
    assert direct_send(http, other) is other


def test_the_service_stack_is_wrapped_outside_starlettes_own():
    """The service's app hands the server's own ``send`` to :class:`DirectChunks` (outside
    Starlette's error middleware, which wraps ``send``); built without a database."""
    from gridgeo.service import create_app
    from gridgeo.service.settings import ServiceSettings
    from gridgeo.settings import Settings

    app = create_app(
        Settings(database_url="postgresql://nobody@127.0.0.1:1/none"), ServiceSettings()
    )
    stack = app.build_middleware_stack()
    assert isinstance(stack, DirectChunks)
    assert type(stack.app).__name__ == "ServerErrorMiddleware"


def test_off_by_setting_leaves_starlettes_stack_as_it_is(monkeypatch):
    """``GRIDGEO_DIRECT_SEND=0`` (the escape hatch should a uvicorn release change what
    :mod:`gridgeo.service.directsend` reads): no wrapper, uvicorn's own ``send``."""
    from gridgeo.service import create_app
    from gridgeo.service.settings import ServiceSettings
    from gridgeo.settings import Settings

    monkeypatch.setenv("GRIDGEO_DIRECT_SEND", "0")
    app = create_app(
        Settings(database_url="postgresql://nobody@127.0.0.1:1/none"), ServiceSettings()
    )
    stack = app.build_middleware_stack()
    assert not isinstance(stack, DirectChunks)
    assert type(stack).__name__ == "ServerErrorMiddleware"
