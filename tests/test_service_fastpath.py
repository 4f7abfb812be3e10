"""Pieces of ``GET /locate``'s fast path that must equal what they stand in for."""

from __future__ import annotations

import random
from urllib.parse import parse_qsl

import pytest

from gridgeo.service.routes_locate import _query_pairs


@pytest.mark.parametrize(
    "query",
    [
        "",
        "lon=121.5&lat=25.0",
        "lon=1&lon=2",
        "a",
        "a=",
        "=b",
        "&&lon=1&",
        "x=1=2",
        "c=a%20b",
        "c=a+b",
    ],
)
def test_query_pairs_are_parse_qsl_s(query):
    assert _query_pairs(query) == parse_qsl(query, keep_blank_values=True)


def test_query_pairs_are_parse_qsl_s_on_random_queries():
    rng = random.Random(7)
    for _ in range(20_000):
        q = "".join(rng.choice("lonat=&%+;1.-e2中") for _ in range(rng.randint(0, 16)))
        assert _query_pairs(q) == parse_qsl(q, keep_blank_values=True), q
