"""Intake without a database: streamed chunks, and the checks of a chunk of reports."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from gridgeo.incidents.ingest import normalise, read_chunks
from gridgeo.incidents.intake import check_reports


def test_a_big_csv_is_read_in_bounded_chunks_with_line_numbers(tmp_path):
    path = tmp_path / "big.csv"
    with open(path, "w", encoding="gb18030") as fh:  # GBK-family files from desktop tools
        fh.write("编号,经度,纬度,类别,上报时间,描述\n")
        for i in range(2500):
            fh.write(f"E{i},121.5,25.0,sanitation,2025-11-03 09:00,第{i}条\n")
    sizes, firsts = [], []
    for chunk, lines in read_chunks(path, chunk_rows=1000):
        sizes.append(len(chunk))
        firsts.append(int(lines[0]))
        assert list(chunk.columns)[1] == "经度"
    assert sizes == [1000, 1000, 500] and firsts == [2, 1002, 2002]
    frame = normalise(chunk, tz="Asia/Shanghai")
    assert frame["description"].iloc[0] == "第2000条"
    assert frame["reported_at"].iloc[0] == pd.Timestamp("2025-11-03 01:00", tz="UTC")


def test_checks_collect_every_problem_and_duplicates_across_chunks():
    now = datetime(2025, 11, 10, tzinfo=UTC)
    seen: set[str] = set()
    first = pd.DataFrame(
        {
            "external_id": ["a", "b"],
            "lon": [121.5, 121.5],
            "lat": [25.0, 25.0],
            "reported_at": pd.to_datetime(["2025-11-03", "2025-11-03"], utc=True),
        }
    )
    ok, problems = check_reports(first, now=now, geographic=True, seen_ids=seen)
    assert ok.all() and not problems
    second = pd.DataFrame(
        {
            "external_id": ["b", "c", "d", "e"],
            "lon": [121.5, 25.0, np.nan, 121.5],
            "lat": [25.0, 121.5, 25.0, 25.0],
            "reported_at": pd.to_datetime(
                ["2025-11-03", "2025-11-03", "2025-11-03", "2026-01-01"], utc=True
            ),
        }
    )
    ok, problems = check_reports(
        second, now=now, geographic=True, lines=np.array([10, 11, 12, 13]), seen_ids=seen
    )
    assert not ok.any()
    assert [(p.row, p.rule) for p in problems] == [
        (12, "incident.coordinates.missing"),
        (11, "incident.coordinates.swapped"),
        (13, "incident.reported_at.future"),
        (10, "incident.external_id.duplicate"),
    ]
