"""benchmarks/large_batch.py: the sweep's runs grouped by setting over seeds, mean and sample
standard deviation computed by hand."""

from __future__ import annotations

import pytest

from tests.benchmarks.conftest import load_benchmark


def load_script():
    return load_benchmark("large_batch")


def test_runs_are_grouped_by_setting_with_mean_and_sample_std() -> None:
    script = load_script()
    per_run = {
        "n256-s0": {"knn10": 0.70, "linear": 0.80},
        "n256-s1": {"knn10": 0.74, "linear": 0.82},
        "n256-s2": {"knn10": 0.72, "linear": 0.84},
        "n1024-sqrt-s0": {"knn10": 0.60, "linear": 0.75},
    }
    summary = script.summarise(per_run)
    assert list(summary) == ["n1024-sqrt", "n256"]
    assert summary["n256"]["seeds"] == 3
    assert summary["n256"]["knn10"]["mean"] == pytest.approx(0.72)
    assert summary["n256"]["knn10"]["std"] == pytest.approx(0.02)  # sqrt((4+4)/2) x 0.01
    assert summary["n256"]["linear"]["std"] == pytest.approx(0.02)
    assert summary["n1024-sqrt"] == {
        "seeds": 1,
        "knn10": {"mean": 0.60, "std": None},
        "linear": {"mean": 0.75, "std": None},
    }


def test_each_larger_batch_and_each_rule_is_compared_seed_by_seed() -> None:
    script = load_script()
    per_run = {
        "n256-s0": {"linear": 0.80},
        "n256-s1": {"linear": 0.82},
        "n256-s2": {"linear": 0.84},
        "n1024-linear-s0": {"linear": 0.79},
        "n1024-linear-s1": {"linear": 0.83},
        "n1024-linear-s2": {"linear": 0.80},
        "n1024-sqrt-s1": {"linear": 0.86},
        "n1024-sqrt-s2": {"linear": 0.82},  # seed 0 missing: paired over seeds 1 and 2 only
        "n2048-sqrt-s0": {"linear": 0.70},  # no n2048-linear: no rule comparison at 2048
    }
    settings = list(script.summarise(per_run))
    pairs = script.comparisons(settings)
    assert sorted(pairs) == sorted(
        [
            ("n1024-linear", "n256"),
            ("n1024-sqrt", "n256"),
            ("n2048-sqrt", "n256"),
            ("n1024-sqrt", "n1024-linear"),
        ]
    )
    found = script.differences(per_run, pairs)
    against_256 = found["n1024-linear - n256"]
    assert against_256["seeds"] == [0, 1, 2]
    assert against_256["linear"]["each"] == pytest.approx([-0.01, 0.01, -0.04])
    assert against_256["linear"]["mean"] == pytest.approx(-0.04 / 3)
    # sample std of -0.01, 0.01, -0.04 by hand: deviations 1/3, 7/3, -8/3 hundredths
    assert against_256["linear"]["std"] == pytest.approx(0.01 * (((1 + 49 + 64) / 9) / 2) ** 0.5)
    rule = found["n1024-sqrt - n1024-linear"]
    assert rule["seeds"] == [1, 2]
    assert rule["linear"]["each"] == pytest.approx([0.03, 0.02])
    assert found["n2048-sqrt - n256"]["seeds"] == [0]
    assert found["n2048-sqrt - n256"]["linear"]["std"] is None
