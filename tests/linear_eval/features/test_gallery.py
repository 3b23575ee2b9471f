"""Tests of linear_eval/features/gallery.py: what the gallery commands load from their command
line."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace

import pytest

from linear_eval.config import load_eval_config
from linear_eval.features.gallery import cache_dir, gallery_features, gallery_name, load


def _args(run_dir: Path, *overrides: str, **options) -> argparse.Namespace:
    settings = {"checkpoint": str(run_dir), "config": None, "folder": None, "split": None}
    return argparse.Namespace(**{**settings, **options}, overrides=list(overrides))


@pytest.mark.usefixtures("single_thread")
def test_the_gallery_is_the_labelled_training_split_by_default(run_dir: Path, synthetic) -> None:
    args = _args(run_dir, *synthetic.eval_overrides, "data.subset=10")
    loaded, config, features = gallery_features(args)
    assert features.meta["split"] == "train" and len(features) == 10
    assert features.directory.parent == run_dir / "features" == cache_dir(loaded, config)
    assert gallery_name(config, features) == "synthetic_eval-train-10"

    args = _args(run_dir, *synthetic.eval_overrides, split="test")
    _, config, features = gallery_features(args)
    assert gallery_name(config, features) == "synthetic_eval-test" and len(features) == 32


def test_a_folder_gallery_is_preprocessed_for_the_encoder(run_dir: Path, tmp_path: Path) -> None:
    args = _args(run_dir, "data.subset=5", f"features.cache_dir={tmp_path / 'c'}", folder=tmp_path)
    loaded, config = load(args)
    assert config.data.name == "folder" and config.data.path == str(tmp_path)
    assert config.data.subset == 5  # set for the folder: honoured, not dropped silently
    assert config.data.channels == loaded.encoder.in_channels == 1
    assert config.normalize.mean == [0.3] and config.normalize.std == [0.3]  # the run's stats
    assert cache_dir(loaded, config) == tmp_path / "c"


def test_a_fractional_subset_and_a_plus_make_a_file_name() -> None:
    config = load_eval_config(None, None, ["data.name=stl10"])
    features = SimpleNamespace(meta={"split": "train+unlabeled", "subset": 0.5})
    assert gallery_name(config, features) == "stl10-train_unlabeled-0.5"
