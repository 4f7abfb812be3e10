"""The set-up step that compiles the kernels ahead (``python -m gridgeo.warmup``)."""

from __future__ import annotations

from gridgeo import warmup


def test_warm_up_runs_every_path_and_leaves_the_kernels_compiled():
    from gridgeo.locate import _kernels, csvout, parquetin, parquetout, points
    from gridgeo.tracks import _kernels as track_kernels

    assert warmup.warm_up() > 0
    # the paths a request takes compiled: parallel and serial locate, the border
    # distance's candidate-edge cells, both writers, the tracks' attribution
    for kernel in (
        _kernels.locate_fill,
        _kernels.locate_fill_sorted,
        _kernels.border_distance,
        _kernels.border_distance_serial,
        _kernels.dist_cell_counts,
        csvout._assemble,
        csvout._assemble_lines,
        parquetout._present_entries,
        parquetout._bit_packed,
        parquetout._compact8,
        parquetout._row_number_texts,
        parquetin._hybrid,
        points._line_starts,
        points._all_valid,
        track_kernels.classify_legs,
        track_kernels.fix_days,
    ):
        assert kernel.signatures, kernel


def test_a_failing_warm_up_is_reported_and_does_not_stop_the_set_up(monkeypatch, capsys):
    def broken() -> float:
        raise RuntimeError("no kernels today")

    monkeypatch.setattr(warmup, "warm_up", broken)
    assert warmup.main() == 0
    err = capsys.readouterr().err
    assert "no kernels today" in err and "first use" in err
