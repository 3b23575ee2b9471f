"""benchmarks/chunked.py: one step at each batch in chunks and in one pass, each in a fresh
process; the one pass skipped where the extrapolated peak would not fit."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "chunked.py"


@pytest.mark.slow
def test_every_batch_is_measured_in_chunks_and_in_one_pass(tmp_path: Path, run_script) -> None:
    arguments = ["--batches", "8", "--chunk", "4", "--steps", "1"]
    report = run_script("chunked.py", *arguments, out=tmp_path / "chunked.json")
    assert [(r["batch"], r["chunk"]) for r in report["chunked"]] == [(8, 4)]
    assert [(r["batch"], r["chunk"]) for r in report["one_pass"]] == [(8, None)]
    for result in report["chunked"] + report["one_pass"]:
        assert result["peak_mib"] > 0 and len(result["seconds"]) == 1
    assert set(report["time_ratios"]) == {"8"}


def test_the_one_pass_runs_only_where_the_extrapolated_peak_fits() -> None:
    spec = importlib.util.spec_from_file_location("benchmark_chunked", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    measured = [{"batch": 256, "peak_mib": 1000.0}, {"batch": 1024, "peak_mib": 3000.0}]
    # 3000 + (2000 / 768) x 3072 = 11,000 MiB at 4096
    assert script.fits(measured, 4096, limit_mib=12_000)
    assert not script.fits(measured, 4096, limit_mib=10_000)
    assert script.fits(measured[:1], 4096, limit_mib=1)  # one point: nothing to extrapolate
