"""Tests of ablation/results.py: the sweep's log, one header and one row a finished run."""

from __future__ import annotations

import csv

from ablation.results import append_result, latest_rows, read_results


def test_results_csv_has_one_header(tmp_path):
    path = tmp_path / "results.csv"
    append_result(path, {"run": "a", "status": "ok"})
    append_result(path, {"run": "b", "status": "failed", "error": "x"})
    with path.open() as handle:
        assert [row[0] for row in csv.reader(handle)] == ["run", "a", "b"]


def test_a_missing_log_reads_as_no_rows(tmp_path):
    assert read_results(tmp_path / "results.csv") == []


def test_the_last_row_of_a_run_is_its_result(tmp_path):
    path = tmp_path / "results.csv"
    append_result(path, {"run": "a", "status": "failed", "error": "x"})
    append_result(path, {"run": "b", "status": "ok"})
    append_result(path, {"run": "a", "status": "ok", "knn_top1": 0.5})
    rows = read_results(path)
    assert [row["run"] for row in rows] == ["a", "b", "a"]
    latest = latest_rows(rows)
    assert latest["a"]["status"] == "ok" and latest["a"]["knn_top1"] == "0.5"
    assert latest["b"]["status"] == "ok"
