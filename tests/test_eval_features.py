"""Tests of linear_eval/features.py: correct features, the cache's reuse and invalidation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from eval_fixtures import (
    COUNTS,
    assert_bit_identical,
    eval_config,
    snapshot,
    synthetic_images,
)
from PIL import Image

from linear_eval.config import load_eval_config
from linear_eval.encoders import load_encoder, raw_pixels
from linear_eval.features import Preprocessing, extract_features
from simclr.augment import Normalize

pytest_plugins = ["eval_fixtures"]
pytestmark = pytest.mark.usefixtures("single_thread")


def test_features_are_the_frozen_encoder_output_on_normalised_images(run_dir: Path) -> None:
    loaded = load_encoder(run_dir)
    config = eval_config(loaded.pretrain_config)
    loaded.encoder.train()  # extraction must switch BatchNorm to its running statistics
    features = extract_features(loaded.extractor, config, "test", None, run_dir / "cache")
    assert loaded.encoder.training  # and restore the mode afterwards

    images = synthetic_images("test")
    encoder = load_encoder(run_dir).encoder.eval()
    with torch.no_grad():
        expected = encoder(Normalize((0.3,), (0.3,))(images.images)).numpy()
    assert isinstance(features.representation, np.memmap)
    np.testing.assert_allclose(features.representation, expected, rtol=1e-4, atol=1e-5)
    assert np.array_equal(features.labels, images.labels.numpy())
    assert np.array_equal(features.indices, np.arange(COUNTS["test"]))
    assert features.classes == images.classes
    assert not features.from_cache


def test_a_subset_has_its_own_cache_entry(run_dir: Path) -> None:
    loaded = load_encoder(run_dir)
    config = eval_config(loaded.pretrain_config)
    whole = extract_features(loaded.extractor, config, "train", None, run_dir / "cache")
    part = extract_features(loaded.extractor, config, "train", 10, run_dir / "cache")
    assert len(part) == 10 and part.directory != whole.directory


def test_the_cache_is_reused_when_nothing_changed(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = load_encoder(run_dir)
    config = eval_config(loaded.pretrain_config)
    first = extract_features(loaded.extractor, config, "test", None, run_dir / "cache")
    stamp = (first.directory / "features.npy").stat().st_mtime_ns

    calls = []
    original_forward = loaded.encoder.forward
    monkeypatch.setattr(loaded.encoder, "forward", lambda x: calls.append(1) or original_forward(x))
    again = load_encoder(run_dir)  # a new process would load the same weights again
    second = extract_features(again.extractor, config, "test", None, run_dir / "cache")
    third = extract_features(loaded.extractor, config, "test", None, run_dir / "cache")
    assert second.from_cache and third.from_cache and not calls
    assert second.directory == first.directory
    assert (first.directory / "features.npy").stat().st_mtime_ns == stamp
    assert np.array_equal(second.representation, first.representation)


def test_a_changed_checkpoint_is_never_served_stale_features(run_dir: Path) -> None:
    loaded = load_encoder(run_dir)
    config = eval_config(loaded.pretrain_config)
    before = extract_features(loaded.extractor, config, "test", None, run_dir / "cache")
    before_values = np.array(before.representation)

    # "continue training": the exported encoder gets new weights at the same path
    state = torch.load(run_dir / "encoder.pt")
    state["layer4.1.conv2.weight"] = state["layer4.1.conv2.weight"] * 1.5
    torch.save(state, run_dir / "encoder.pt")
    changed = load_encoder(run_dir)
    after = extract_features(changed.extractor, config, "test", None, run_dir / "cache")
    assert not after.from_cache
    assert after.directory != before.directory
    assert not np.allclose(after.representation, before_values)


def test_changed_preprocessing_gives_new_features(run_dir: Path) -> None:
    loaded = load_encoder(run_dir)
    base = eval_config(loaded.pretrain_config)
    other = eval_config(loaded.pretrain_config, "normalize.mean=[0.5]")
    cache = run_dir / "cache"
    first = extract_features(loaded.extractor, base, "test", None, cache)
    second = extract_features(loaded.extractor, other, "test", None, cache)
    assert first.directory != second.directory and not second.from_cache


def test_an_interrupted_extraction_leaves_no_cache(run_dir: Path) -> None:
    loaded = load_encoder(run_dir)
    config = eval_config(loaded.pretrain_config, "features.batch_size=4")
    calls = []

    def failing_forward(images: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return loaded.encoder.backbone(images)

    loaded.encoder.forward = failing_forward
    with pytest.raises(KeyboardInterrupt):
        extract_features(loaded.extractor, config, "test", None, run_dir / "cache")
    assert list((run_dir / "cache").iterdir()) == []
    del loaded.encoder.forward
    features = extract_features(loaded.extractor, config, "test", None, run_dir / "cache")
    assert not features.from_cache and len(features) == COUNTS["test"]


def test_extraction_leaves_the_encoder_bit_identical(run_dir: Path) -> None:
    loaded = load_encoder(run_dir)
    loaded.encoder.train()
    before = snapshot(loaded.encoder)
    config = eval_config(loaded.pretrain_config)
    extract_features(loaded.extractor, config, "train", None, run_dir / "cache")
    assert_bit_identical(loaded.encoder, before)


def test_an_image_folder_skips_unreadable_files_and_keeps_paths(tmp_path: Path) -> None:
    for name, value in (("a/1.png", 0), ("a/2.png", 90), ("b/3.png", 200)):
        (tmp_path / "images" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((10, 12, 3), value, np.uint8)).save(tmp_path / "images" / name)
    (tmp_path / "images" / "b" / "broken.png").write_bytes(b"not an image")
    config = load_eval_config(
        None,
        None,
        [
            "data.name=folder",
            f"data.path={tmp_path / 'images'}",
            "data.image_size=8",
            "features.progress_bar=false",
            "features.num_workers=0",
        ],
    )
    with pytest.warns(UserWarning) as caught:
        features = extract_features(raw_pixels(), config, "all", None, tmp_path / "cache")
    messages = [str(w.message) for w in caught]
    assert any("broken.png" in m for m in messages)
    assert any("skipped 1 of 4 images" in m for m in messages)  # and the count at the end
    assert [Path(p).name for p in features.paths] == ["1.png", "2.png", "3.png"]
    assert features.labels.tolist() == [0, 0, 1]
    assert features.representation.shape == (3, 3 * 8 * 8)
    preprocessing = Preprocessing.from_config(config)
    expected = (90 / 255 - preprocessing.mean[0]) / preprocessing.std[0]
    np.testing.assert_allclose(features.representation[1, :64], expected, rtol=1e-5)

    # a file that changes on disk changes the key
    Image.fromarray(np.full((10, 12, 3), 30, np.uint8)).save(tmp_path / "images" / "a" / "1.png")
    (tmp_path / "images" / "b" / "broken.png").unlink()
    rebuilt = extract_features(raw_pixels(), config, "all", None, tmp_path / "cache")
    assert not rebuilt.from_cache and rebuilt.directory != features.directory


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*(num_workers|does not have many workers|GPU).*")
def test_two_processes_write_the_cache_of_one(run_dir: Path) -> None:
    from linear_eval.evaluate import evaluate_extractor

    loaded = load_encoder(run_dir)
    one_config = eval_config(loaded.pretrain_config, "data.subset=37")
    two_config = eval_config(loaded.pretrain_config, "data.subset=37", "features.devices=2")
    # 37 images: rank 0 gets 19, rank 1 gets 18, interleaved; merged back in dataset order
    one = extract_features(loaded.extractor, one_config, "train", 37, run_dir / "one")
    two = extract_features(loaded.extractor, two_config, "train", 37, run_dir / "two")
    assert one.directory.name == two.directory.name  # the same cache key
    assert not two.from_cache and len(two) == 37
    assert [p.name for p in two.directory.iterdir() if p.is_dir()] == []  # shards removed
    np.testing.assert_array_equal(two.indices, one.indices)
    np.testing.assert_array_equal(two.labels, one.labels)
    np.testing.assert_allclose(two.representation, one.representation, rtol=1e-5, atol=1e-6)

    results = [
        evaluate_extractor(loaded.extractor, config, "all", run_dir / cache)
        for config, cache in ((one_config, "one"), (two_config, "two"))
    ]
    assert results[0]["knn"] == results[1]["knn"]
    assert results[0]["linear"]["top1"] == results[1]["linear"]["top1"]


@pytest.mark.parametrize(
    "damage",
    ["garbage of the same size", "truncated features", "no labels", "no meta", "cut meta"],
)
def test_a_damaged_cache_is_recomputed_with_a_warning(run_dir: Path, damage: str) -> None:
    loaded = load_encoder(run_dir)
    config = eval_config(loaded.pretrain_config)
    first = extract_features(loaded.extractor, config, "test", None, run_dir / "cache")
    expected = np.array(first.representation)
    directory = first.directory
    features = directory / "features.npy"
    if damage == "garbage of the same size":
        size = features.stat().st_size
        header = features.read_bytes()[:128]  # a valid .npy header, other numbers
        features.write_bytes(header + np.random.default_rng(0).bytes(size - 128))
    elif damage == "truncated features":
        features.write_bytes(features.read_bytes()[:300])
    elif damage == "no labels":
        (directory / "labels.npy").unlink()
    elif damage == "no meta":
        (directory / "meta.json").unlink()
    else:
        (directory / "meta.json").write_text((directory / "meta.json").read_text()[:40])
    with pytest.warns(UserWarning, match="recomputing it"):
        again = extract_features(loaded.extractor, config, "test", None, run_dir / "cache")
    assert not again.from_cache and again.directory == directory
    np.testing.assert_array_equal(np.array(again.representation), expected)
    # and the recomputed cache is used as it is from then on
    assert extract_features(loaded.extractor, config, "test", None, run_dir / "cache").from_cache


def test_what_a_killed_extraction_left_is_removed_at_the_next(run_dir: Path) -> None:
    loaded = load_encoder(run_dir)
    config = eval_config(loaded.pretrain_config)
    cache = run_dir / "cache"
    stale = cache / "0123abcd.partial-999999999"  # no process has this id
    (stale / "sub").mkdir(parents=True)
    features = extract_features(loaded.extractor, config, "test", None, cache)
    assert not stale.exists()
    assert sorted(p.name for p in cache.iterdir()) == [features.directory.name]
