"""benchmarks/retrieval.py: every index type measured against the exact neighbours, and the
memory-mapped gallery indexed in chunks."""

from __future__ import annotations

from pathlib import Path

import pytest

SMALL = ["--dim", "16", "--num-queries", "40", "--single", "3", "--seed", "0"]


@pytest.mark.slow
def test_each_index_is_measured_against_exact_search(tmp_path: Path, run_script) -> None:
    types = ["--types", "flat", "ivf_flat", "ivf_sq8", "hnsw"]
    report = run_script("retrieval.py", "--sizes", "1024", *types, *SMALL, out=tmp_path / "r.json")
    rows = report["rows"]
    assert {row["type"] for row in rows} == {"flat", "ivf_flat", "ivf_sq8", "hnsw"}
    [flat] = [row for row in rows if row["type"] == "flat"]
    assert flat["recall_at_1"] == flat["recall_at_10"] == 1.0  # the truth it is measured by
    ivf = [row for row in rows if row["type"] == "ivf_flat"]
    widest = max(ivf, key=lambda row: row["value"])
    # 1,024 rows: nlist = 4 sqrt(N) = 128 cells, the largest nprobe tried visits them all
    assert widest["value"] == widest["nlist"] == 128 and widest["recall_at_10"] == 1.0
    for row in rows:
        if row["calibrated"] is not None:  # what simclr index would choose
            chosen = row["calibrated"]["chosen"]["value"]
            assert chosen >= row["calibrated"]["reaching"]
    assert all(row["recall_at_10"] >= 0.95 for row in report["best"])


@pytest.mark.slow
def test_a_memory_mapped_gallery_is_indexed(tmp_path: Path, run_script) -> None:
    report = run_script(
        "retrieval.py", "--streaming", "3000", "--types", "ivf_sq8", *SMALL, out=tmp_path / "s.json"
    )
    [result] = report["streaming"]
    assert result["rows"] == 3000 and result["type"] == "ivf_sq8"
    assert result["features_mib"] == pytest.approx(3000 * 16 * 4 / 2**20, abs=0.1)
