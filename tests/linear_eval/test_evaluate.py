"""Tests of linear_eval/evaluate.py on a synthetic dataset: every extractor, every protocol, and
the encoder's weights only read."""

from __future__ import annotations

from pathlib import Path

import pytest

from linear_eval.encoders import PRETRAINED, RANDOM_INIT, RAW_PIXELS, load_encoder
from linear_eval.evaluate import evaluate, labelled_splits
from simclr.errors import ConfigError

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize("mode", ["knn", "linear"])
def test_every_evaluation_leaves_the_encoder_bit_identical(
    run_dir: Path, synthetic, bit_identical, mode: str
) -> None:
    loaded = load_encoder(run_dir)
    check = bit_identical(loaded.encoder)
    config = synthetic.eval_config(loaded.pretrain_config, "linear.augment=true")
    report = evaluate(loaded, config, mode, run_dir / "cache")
    check()
    assert list(report["results"]) == [PRETRAINED, RANDOM_INIT, RAW_PIXELS]
    if mode == "linear":
        assert "linear_augmented" in report["results"][PRETRAINED]
        assert "linear_augmented" not in report["results"][RANDOM_INIT]


def test_the_report_holds_every_metric_and_the_raw_pixel_baseline_learns(
    run_dir: Path, synthetic
) -> None:
    loaded = load_encoder(run_dir)
    config = synthetic.eval_config(loaded.pretrain_config)
    report = evaluate(loaded, config, "all", run_dir / "cache")
    raw = report["results"][RAW_PIXELS]
    assert raw["feature_dim"] == 16 * 16
    assert set(raw["knn"]) == {"1", "5", "200"}
    assert raw["knn"]["5"]["top1"] > 0.9  # quadrant classes are trivially told apart by pixels
    assert raw["knn"]["200"]["neighbours"] == 64  # k = 200 on a gallery of 64: every image votes
    assert raw["linear"]["top1"] > 0.9
    assert 0.0 <= raw["linear"]["top1"] <= raw["linear"]["top5"] <= 1.0
    assert raw["train"]["images"] == 64 and raw["test"]["images"] == 32
    assert report["encoder_fingerprint"] == loaded.extractor.fingerprint

    again = evaluate(loaded, config, "knn", run_dir / "cache")
    assert all(r["features_from_cache"] for r in again["results"].values())


def test_baselines_can_be_switched_off(run_dir: Path, synthetic) -> None:
    loaded = load_encoder(run_dir)
    config = synthetic.eval_config(
        loaded.pretrain_config, "baselines.random_init=false", "baselines.raw_pixels=false"
    )
    assert list(evaluate(loaded, config, "knn", run_dir / "cache")["results"]) == [PRETRAINED]


def test_an_unknown_mode_is_refused_before_any_work(run_dir: Path, synthetic) -> None:
    loaded = load_encoder(run_dir)
    config = synthetic.eval_config(loaded.pretrain_config)
    with pytest.raises(ConfigError, match="'nearest' is unknown"):
        evaluate(loaded, config, "nearest", run_dir / "cache")
    assert not (run_dir / "cache").exists()


def test_an_unlabelled_dataset_cannot_be_evaluated(
    run_dir: Path, tmp_path: Path, synthetic
) -> None:
    loaded = load_encoder(run_dir)
    config = synthetic.eval_config(
        loaded.pretrain_config, "data.name=folder", f"data.path={tmp_path}"
    )
    with pytest.raises(ConfigError, match="no labelled train/test splits"):
        labelled_splits(config)
