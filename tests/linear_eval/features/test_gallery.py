"""Tests of linear_eval/features/gallery.py: the encoder, settings and gallery features the
gallery commands load."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from linear_eval.config import load_eval_config
from linear_eval.features.gallery import cache_dir, gallery_features, gallery_name, load_evaluation


@pytest.mark.usefixtures("single_thread")
def test_the_gallery_is_the_labelled_training_split_by_default(run_dir: Path, synthetic) -> None:
    loaded, config = load_evaluation(run_dir, None, [*synthetic.eval_overrides, "data.subset=10"])
    features = gallery_features(loaded, config)
    assert features.meta["split"] == "train" and len(features) == 10
    assert features.directory.parent == run_dir / "features" == cache_dir(loaded, config)
    assert gallery_name(config, features) == "synthetic_eval-train-10"

    loaded, config = load_evaluation(run_dir, None, synthetic.eval_overrides)
    features = gallery_features(loaded, config, "test")
    assert gallery_name(config, features) == "synthetic_eval-test" and len(features) == 32


def test_a_folder_gallery_is_preprocessed_for_the_encoder(run_dir: Path, tmp_path: Path) -> None:
    overrides = ["data.subset=5", f"features.cache_dir={tmp_path / 'c'}"]
    loaded, config = load_evaluation(run_dir, None, overrides, folder=tmp_path)
    assert config.data.name == "folder" and config.data.path == str(tmp_path)
    assert config.data.subset == 5  # set for the folder: honoured, not dropped silently
    assert config.data.channels == loaded.encoder.in_channels == 1
    assert config.normalize.mean == [0.3] and config.normalize.std == [0.3]  # the run's stats
    assert cache_dir(loaded, config) == tmp_path / "c"


def test_a_fractional_subset_and_a_plus_make_a_file_name() -> None:
    config = load_eval_config(None, None, ["data.name=stl10"])
    features = SimpleNamespace(meta={"split": "train+unlabeled", "subset": 0.5})
    assert gallery_name(config, features) == "stl10-train_unlabeled-0.5"


@pytest.mark.parametrize("name", ["null", "2024", "[a,b]", "true", "x=y"])
def test_a_folder_is_assigned_as_it_is_named_never_parsed_as_text(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """As key=value text, a folder named null would arrive as None, 2024 as an int and [a,b]
    as a list: the folder is assigned, and so are the values of ``settings``."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).mkdir()
    _, config = load_evaluation(
        run_dir, None, [], folder=name, settings={"plot": {"method": "pca"}}
    )
    assert config.data.name == "folder" and config.data.path == name
    assert config.plot.method == "pca"
