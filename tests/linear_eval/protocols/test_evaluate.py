"""Tests of linear_eval/protocols/evaluate.py on a synthetic dataset: every extractor, every
protocol, and the encoder's weights only read."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from linear_eval.config import adapt_to_encoder
from linear_eval.features.encoders import PRETRAINED, RANDOM_INIT, RAW_PIXELS, load_encoder
from linear_eval.protocols.evaluate import evaluate, final_metrics, labelled_splits, log_to_run
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
    with pytest.raises(ConfigError, match="no labelled train/test splits") as error:
        labelled_splits(config)
    assert "/train/CLASS/" in str(error.value) and "data.val_fraction=0.2" in str(error.value)


def test_class_folders_of_files_that_are_not_images_are_named_not_re_asked_for(
    run_dir: Path, tmp_path: Path, synthetic
) -> None:
    """Laid out as train/CLASS/ and val/CLASS/ already, but of .heic files: the error says what
    it found instead of asking for the layout the folder has."""
    for split in ("train", "val"):
        for name in ("cats", "dogs"):
            (tmp_path / "photos" / split / name).mkdir(parents=True)
            (tmp_path / "photos" / split / name / "1.heic").write_bytes(b"\x00")
    loaded = load_encoder(run_dir)
    photos = tmp_path / "photos"
    config = synthetic.eval_config(
        loaded.pretrain_config, "data.name=folder", f"data.path={photos}"
    )
    with pytest.raises(ConfigError) as error:
        labelled_splits(config)
    message = str(error.value)
    assert "\n" not in message and "/train/CLASS/" not in message
    assert "train/cats/, train/dogs/ hold no image files (found 2 .heic" in message


# ----------------------------------------------------------------------------- image folders
FOLDER_EVAL = ["knn.k=[1,5,20,200]", "baselines.random_init=false", "baselines.raw_pixels=false"]


def test_an_imagenet_layout_folder_gives_the_knn_accuracy_of_the_same_idx_images(
    run_dir: Path, synthetic, fashion_mnist_folder
) -> None:
    loaded = load_encoder(run_dir)
    folder = fashion_mnist_folder
    common = [*FOLDER_EVAL, "data.image_size=28", f"data.root={folder.root}"]
    # the same images: the folder holds what data.subset=200 / val_subset=100 read (seed 0)
    idx = synthetic.eval_config(
        loaded.pretrain_config,
        *common,
        "data.name=fashion_mnist",
        "data.val_fraction=0",  # the folder was drawn from the whole training split
        "data.subset=200",
        "data.val_subset=100",
    )
    from_folder = synthetic.eval_config(
        loaded.pretrain_config, *common, "data.name=folder", f"data.path={folder.path}"
    )
    assert labelled_splits(from_folder) == ("train", "val")
    reports = []
    for config in (idx, from_folder):
        config = adapt_to_encoder(config, loaded.encoder.in_channels, loaded.pretrain_config)
        reports.append(evaluate(loaded, config, "knn", run_dir / "cache"))
    idx_result, folder_result = (report["results"][PRETRAINED] for report in reports)
    assert folder_result["train"]["images"] == 200 and folder_result["test"]["images"] == 100
    assert folder_result["knn"] == idx_result["knn"]
    assert (
        reports[1]["test_split"] == "val"
        and folder_result["train"]["cache"] != (folder_result["test"]["cache"])
    )
    assert 0.3 < idx_result["knn"]["20"]["top1"] < 1  # well above chance (0.1) on 10 classes


def test_a_folder_without_splits_is_evaluated_on_its_held_out_part(
    run_dir: Path, synthetic, fashion_mnist_folder
) -> None:
    loaded = load_encoder(run_dir)
    flat = fashion_mnist_folder.path / "train"  # class folders, no splits
    overrides = [*FOLDER_EVAL, "data.name=folder", f"data.path={flat}", "data.val_fraction=0.25"]
    config = synthetic.eval_config(loaded.pretrain_config, *overrides)
    assert labelled_splits(config) == ("train", "val")
    config = adapt_to_encoder(config, loaded.encoder.in_channels, loaded.pretrain_config)
    result = evaluate(loaded, config, "knn", run_dir / "cache")["results"][PRETRAINED]
    assert result["train"]["images"] + result["test"]["images"] == 200
    assert 45 <= result["test"]["images"] <= 55  # a quarter of each class


# ----------------------------------------------------------------------------- loggers
def logged_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "csv" / "version_0" / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_final_metrics_name_every_accuracy_as_every_logger_accepts_it() -> None:
    result = {
        "feature_dim": 512,
        "knn": {"10": {"top1": 0.8, "top5": 0.9, "neighbours": 10}},
        "linear": {"top1": 0.85, "top5": 0.99, "weight_decay": 0.0, "held_out_top1": {}},
        "linear_augmented": {"top1": 0.86, "top5": 0.98},
    }
    assert final_metrics(result) == {
        "eval/knn_top1_k10": 0.8,
        "eval/knn_top5_k10": 0.9,
        "eval/linear_top1": 0.85,
        "eval/linear_top5": 0.99,
        "eval/linear_augmented_top1": 0.86,
        "eval/linear_augmented_top5": 0.98,
    }


def test_the_pretrained_metrics_go_to_the_runs_loggers_at_its_last_step(
    run_dir: Path, synthetic
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (run_dir / "summary.json").write_text(json.dumps({"global_step": 7}))
    loaded = load_encoder(run_dir)
    config = synthetic.eval_config(loaded.pretrain_config)
    result = evaluate(loaded, config, "knn", run_dir / "cache")["results"][PRETRAINED]
    assert log_to_run(loaded, result) == ["csv", "tensorboard"]  # the run's default loggers
    (row,) = logged_rows(run_dir)
    assert row["step"] == "7"
    for k, knn in result["knn"].items():
        assert float(row[f"eval/knn_top1_k{k}"]) == pytest.approx(knn["top1"])
    (events,) = (run_dir / "tensorboard" / "version_0").glob("events.out.tfevents.*")
    (scalar,) = EventAccumulator(str(events)).Reload().Scalars("eval/knn_top1_k5")
    assert scalar.step == 7 and scalar.value == pytest.approx(result["knn"]["5"]["top1"])


def test_a_checkpoint_is_logged_at_its_own_step(run_dir: Path) -> None:
    path = run_dir / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(path, weights_only=True)
    torch.save({**checkpoint, "global_step": 5}, path)
    result = {"knn": {"20": {"top1": 0.5, "top5": 0.75}}}
    assert log_to_run(load_encoder(path), result) == ["csv", "tensorboard"]
    (row,) = logged_rows(run_dir)
    assert (row["step"], row["eval/knn_top1_k20"]) == ("5", "0.5")


def test_an_encoder_outside_a_run_directory_is_logged_nowhere(
    run_dir: Path, tmp_path: Path
) -> None:
    exported = tmp_path / "exported"
    exported.mkdir()
    for name in ("encoder.pt", "encoder.yaml"):
        shutil.copy(run_dir / name, exported / name)
    assert log_to_run(load_encoder(exported), {"knn": {"20": {"top1": 0.5, "top5": 0.75}}}) == []
    assert sorted(path.name for path in exported.iterdir()) == ["encoder.pt", "encoder.yaml"]


def test_float16_cached_features_give_the_results_of_float32_ones(run_dir: Path, synthetic) -> None:
    loaded = load_encoder(run_dir)
    results = {}
    for dtype in ("float16", "float32"):
        config = synthetic.eval_config(loaded.pretrain_config, f"features.dtype={dtype}")
        report = evaluate(loaded, config, "all", run_dir / "cache")
        results[dtype] = report["results"]
    assert (
        results["float16"][PRETRAINED]["train"]["cache"]
        != (
            results["float32"][PRETRAINED]["train"]["cache"]  # the dtype is part of the cache key
        )
    )
    for name in (PRETRAINED, RAW_PIXELS):
        half, single = results["float16"][name], results["float32"][name]
        assert half["knn"] == single["knn"]  # the quadrant classes are far apart: no vote moves
        # inputs 2^-11 apart train a layer a little apart: at most one of the 32 test images
        for metric in ("top1", "top5"):
            assert abs(half["linear"][metric] - single["linear"][metric]) <= 1 / 32


def test_measure_on_val_measures_the_held_out_part_and_train_never_holds_it(
    run_dir: Path, synthetic, monkeypatch: pytest.MonkeyPatch
) -> None:
    from simclr.data.registry import DATASETS

    held_out = synthetic.spec_with_val()
    monkeypatch.setitem(DATASETS, synthetic.name, held_out)
    loaded = load_encoder(run_dir)
    reports = {
        split: evaluate(
            loaded,
            synthetic.eval_config(
                loaded.pretrain_config, f"measure_on={split}", "few_labels.fractions=[]"
            ),
            "knn",
            run_dir / "cache",
        )
        for split in ("test", "val")
    }
    test, val = (reports[split]["results"][RAW_PIXELS] for split in ("test", "val"))
    # 16 training images a class, 10 % of each (2) held out: 56 train, 8 val; test untouched
    assert (test["train"]["images"], test["test"]["images"]) == (56, 32)
    assert (val["train"]["images"], val["test"]["images"]) == (56, 8)
    assert reports["val"]["test_split"] == "val" and reports["test"]["test_split"] == "test"
    assert test["train"]["cache"] == val["train"]["cache"]  # the same rows, cached once
    train_rows = set(np.load(Path(val["train"]["cache"]) / "indices.npy").tolist())
    assert len(train_rows) == 56


def test_measure_on_val_without_a_val_split_is_one_line(run_dir: Path, synthetic) -> None:
    loaded = load_encoder(run_dir)
    config = synthetic.eval_config(loaded.pretrain_config, "measure_on=val")
    with pytest.raises(ConfigError, match="measure_on='val' needs a validation split") as error:
        labelled_splits(config)
    assert "\n" not in str(error.value)
