"""Tests of linear_eval/evaluate.py, report.py and augmented_probe.py on a synthetic dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eval_fixtures import (
    assert_bit_identical,
    eval_config,
    snapshot,
)

from linear_eval.encoders import PRETRAINED, RANDOM_INIT, RAW_PIXELS, load_encoder
from linear_eval.evaluate import evaluate, labelled_splits
from linear_eval.report import format_table, write_report
from simclr.config import ConfigError

pytest_plugins = ["eval_fixtures"]
pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize("mode", ["knn", "linear"])
def test_every_evaluation_leaves_the_encoder_bit_identical(run_dir: Path, mode: str) -> None:
    loaded = load_encoder(run_dir)
    before = snapshot(loaded.encoder)
    config = eval_config(loaded.pretrain_config, "linear.augment=true")
    report = evaluate(loaded, config, mode, run_dir / "cache")
    assert_bit_identical(loaded.encoder, before)
    assert list(report["results"]) == [PRETRAINED, RANDOM_INIT, RAW_PIXELS]
    if mode == "linear":
        assert "linear_augmented" in report["results"][PRETRAINED]
        assert "linear_augmented" not in report["results"][RANDOM_INIT]


def test_the_report_holds_every_metric_and_the_raw_pixel_baseline_learns(run_dir: Path) -> None:
    loaded = load_encoder(run_dir)
    config = eval_config(loaded.pretrain_config)
    report = evaluate(loaded, config, "all", run_dir / "cache")
    raw = report["results"][RAW_PIXELS]
    assert raw["feature_dim"] == 16 * 16
    assert set(raw["knn"]) == {"1", "5", "200"}
    assert raw["knn"]["5"]["top1"] > 0.9  # quadrant classes are trivially told apart by pixels
    assert raw["linear"]["top1"] > 0.9
    assert raw["train"]["images"] == 64 and raw["test"]["images"] == 32
    assert report["encoder_fingerprint"] == loaded.extractor.fingerprint

    again = evaluate(loaded, config, "knn", run_dir / "cache")
    assert all(r["features_from_cache"] for r in again["results"].values())

    table = format_table(report)
    # k = 200 on a gallery of 64: every image votes, and the table says so
    assert "kNN k=200 (all 64) top-1" in table and "kNN k=5 top-1" in table
    assert "linear top-5" in table
    assert f"{100 * raw['linear']['top1']:.2f}" in table


def test_baselines_can_be_switched_off(run_dir: Path) -> None:
    loaded = load_encoder(run_dir)
    config = eval_config(
        loaded.pretrain_config, "baselines.random_init=false", "baselines.raw_pixels=false"
    )
    assert list(evaluate(loaded, config, "knn", run_dir / "cache")["results"]) == [PRETRAINED]


def test_eval_json_keeps_earlier_results_of_the_same_encoder(run_dir: Path) -> None:
    loaded = load_encoder(run_dir)
    config = eval_config(loaded.pretrain_config, "baselines.random_init=false")
    write_report(evaluate(loaded, config, "knn", run_dir / "cache"), run_dir)
    path = write_report(evaluate(loaded, config, "linear", run_dir / "cache"), run_dir)
    saved = json.loads(path.read_text())
    assert {"knn", "linear"} <= set(saved["results"][PRETRAINED])


def test_an_unlabelled_dataset_cannot_be_evaluated(run_dir: Path, tmp_path: Path) -> None:
    loaded = load_encoder(run_dir)
    config = eval_config(loaded.pretrain_config, "data.name=folder", f"data.path={tmp_path}")
    with pytest.raises(ConfigError, match="no labelled train/test splits"):
        labelled_splits(config)
