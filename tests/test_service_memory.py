"""The server's memory stays bounded under oversized requests (issue 14, item 4).

The real service runs in uvicorn in a subprocess on 127.0.0.1; its peak RSS
(``VmHWM`` in ``/proc/<pid>/status``) is read before and after each request. An
oversized CSV batch is refused while it streams in (413 after the point limit, not
after parsing everything); an oversized JSON body is refused at the cap; a write
without a token is refused before its body is read.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.db

TOKEN = "memory-test-admin-token"
MAX_POINTS = 50_000
MIB = 1 << 20
#: What the server may grow by while refusing a request of 100+ MiB.
BOUND = 40 * MIB


def _kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {key} in /proc/{pid}/status")


@pytest.fixture(scope="module")
def server(db_url):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    code = textwrap.dedent(
        f"""
        import uvicorn
        from gridgeo.service import create_app
        from gridgeo.service.settings import ServiceSettings
        from gridgeo.settings import Settings
        app = create_app(
            Settings(database_url={db_url!r}),
            ServiceSettings(admin_token={TOKEN!r}, listen=False, batch_max_points={MAX_POINTS},
                            json_max_bytes=1 << 20),
        )
        uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning")
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code in (200, 503):
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the service did not start in its subprocess")
        time.sleep(0.2)
    yield base, proc.pid
    proc.terminate()
    proc.wait(timeout=20)


def _csv_stream(rows: int, chunk_rows: int = 20_000):
    yield b"lon,lat\n"
    line = b"121.5000001,25.0000001\n"
    for start in range(0, rows, chunk_rows):
        yield line * min(chunk_rows, rows - start)


def test_oversized_csv_batch_is_refused_while_streaming(server):
    base, pid = server
    # warm up: one small batch, so imports and arenas are counted before
    r = httpx.post(
        f"{base}/locate/batch",
        content=b"lon,lat\n121.5,25.0\n",
        headers={"Content-Type": "text/csv", "Authorization": f"Bearer {TOKEN}"},
    )
    assert r.status_code == 200, r.text
    before = _kib(pid, "VmHWM")
    rows = 5_000_000  # ~115 MiB of CSV, 100 times the point limit
    t0 = time.monotonic()
    try:
        r = httpx.post(
            f"{base}/locate/batch",
            content=_csv_stream(rows),
            headers={"Content-Type": "text/csv", "Authorization": f"Bearer {TOKEN}"},
            timeout=60,
        )
        status, detail = r.status_code, r.json()["detail"]
    except httpx.HTTPError:  # the server may close the connection after its 413
        status, detail = 413, "at most (connection closed after the answer)"
    elapsed = time.monotonic() - t0
    grew = _kib(pid, "VmHWM") - before
    assert status == 413 and "at most" in detail
    assert grew < BOUND, f"peak RSS grew by {grew / MIB:.0f} MiB"
    assert elapsed < 30
    assert httpx.get(f"{base}/health").status_code in (200, 503)


def test_oversized_json_body_is_413_and_anonymous_write_is_401_unread(server):
    base, pid = server
    before = _kib(pid, "VmHWM")
    big = b'{"name": "' + b"x" * (50 * MIB) + b'"}'
    r = httpx.post(
        f"{base}/departments",
        content=big,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
        timeout=60,
    )
    assert r.status_code == 413
    assert "x" * 100 not in r.text

    def chunks():
        for _ in range(50):
            yield b"x" * MIB

    try:
        r = httpx.post(
            f"{base}/categories",
            content=chunks(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
            timeout=60,
        )
        assert r.status_code == 413
    except httpx.HTTPError:
        pass  # refused mid-body: the connection closes after the 413
    r = httpx.post(
        f"{base}/coverage", content=big, headers={"Content-Type": "application/json"}, timeout=60
    )
    assert r.status_code == 401
    assert _kib(pid, "VmHWM") - before < BOUND


def test_422_does_not_echo_the_input(server):
    base, _pid = server
    secret = "王小明-13800000000"
    r = httpx.post(
        f"{base}/departments",
        json={"name": "科室", "is_sample": secret},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert r.status_code == 422
    assert secret not in r.text
    assert r.json()["detail"][0]["loc"] == ["body", "is_sample"]
