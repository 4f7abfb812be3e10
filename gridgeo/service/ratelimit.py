"""Per-client rate limits of the map service (token buckets in a small ASGI middleware).

Two buckets per client address:

- anonymous requests (no ``Authorization`` header) spend from a bucket refilled at
  ``rate_limit_per_s`` up to ``rate_limit_burst``; callers with a token are not slowed;
- every 401 answer to a request *with* an ``Authorization`` header (a wrong, revoked or
  malformed token) spends from a second, small bucket (``auth_failures_per_min``, burst
  ``auth_failures_burst``): once it is empty, requests with a token from that address get
  429 without a token lookup, so guessing tokens costs minutes, not milliseconds. A 401
  without any token ("this needs a token") guesses nothing and is not counted.

A 429 says when to come back (``Retry-After``). The buckets live in memory, per process;
at most ``max_clients`` addresses are tracked (the least recently seen are dropped).
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridgeo.i18n import _


@dataclass
class Bucket:
    """A token bucket: ``rate`` tokens per second, at most ``burst``."""

    rate: float
    burst: float
    tokens: float
    stamp: float

    def _fill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, now: float, amount: float = 1.0) -> bool:
        """Spend ``amount`` if there is that much; whether it was spent."""
        self._fill(now)
        if self.tokens >= amount:
            self.tokens -= amount
            return True
        return False

    def empty(self, now: float) -> bool:
        self._fill(now)
        return self.tokens < 1.0

    def wait(self) -> int:
        """Whole seconds until one token is back."""
        return max(1, math.ceil((1.0 - self.tokens) / self.rate)) if self.rate > 0 else 60


class _Buckets:
    def __init__(self, rate: float, burst: float, max_clients: int) -> None:
        self.rate, self.burst, self.max_clients = rate, burst, max_clients
        self.table: OrderedDict[str, Bucket] = OrderedDict()

    def get(self, key: str, now: float) -> Bucket:
        bucket = self.table.get(key)
        if bucket is None:
            bucket = Bucket(self.rate, self.burst, self.burst, now)
            self.table[key] = bucket
            if len(self.table) > self.max_clients:
                self.table.popitem(last=False)
        else:
            self.table.move_to_end(key)
        return bucket


async def _too_many(send: Send, wait: int, detail: str) -> None:
    body = json.dumps({"error": "TooManyRequests", "detail": detail}, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(wait).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RateLimit:
    """Token-bucket rate limits per client address (see the module docstring).

    Parameters
    ----------
    app
        The ASGI application to wrap.
    per_s, burst
        Anonymous requests per second and burst; ``per_s <= 0`` turns the limit off.
    failures_per_min, failures_burst
        401 answers to token-bearing requests per minute and burst before they get 429;
        ``failures_per_min <= 0`` turns this off.
    max_clients
        Addresses tracked at most.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        per_s: float,
        burst: float,
        failures_per_min: float,
        failures_burst: float,
        max_clients: int = 100_000,
    ) -> None:
        self.app = app
        self.public = _Buckets(per_s, burst, max_clients) if per_s > 0 else None
        self.failures = (
            _Buckets(failures_per_min / 60.0, failures_burst, max_clients)
            if failures_per_min > 0
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (self.public is None and self.failures is None):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        now = time.monotonic()
        has_token = any(k == b"authorization" for k, _ in scope.get("headers") or [])
        if has_token and self.failures is not None:
            failed = self.failures.get(client, now)
            if failed.empty(now):
                await _too_many(
                    send,
                    failed.wait(),
                    _("too many failed tokens from this address; try again later"),
                )
                return
        elif not has_token and self.public is not None:
            bucket = self.public.get(client, now)
            if not bucket.take(now):
                await _too_many(
                    send,
                    bucket.wait(),
                    _("too many requests from this address; try again later"),
                )
                return
        if self.failures is None or not has_token:  # only wrong tokens are failures
            await self.app(scope, receive, send)
            return

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                self.failures.get(client, time.monotonic()).take(time.monotonic())
            await send(message)

        await self.app(scope, receive, watch)
