"""Tests of linear_eval/features/extract.py: the frozen encoder's features of a split, written whole
or not at all, with unreadable images skipped and counted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from linear_eval.config import load_eval_config
from linear_eval.features.encoders import load_encoder, raw_pixels
from linear_eval.features.extract import _Indexed, extract_features
from linear_eval.features.preprocess import Preprocessing
from simclr.data.images import ArrayImages, GatheredBatch, collate
from simclr.preprocess import Normalize

pytestmark = pytest.mark.usefixtures("single_thread")

# float16 keeps 11 significant bits: a value is stored within a relative 2^-11 of itself
FLOAT16_ROUNDING = 2**-11
ROUNDING = {"float16": FLOAT16_ROUNDING, "float32": 0.0}


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_features_are_the_frozen_encoder_output_on_normalised_images(
    run_dir: Path, synthetic, dtype: str
) -> None:
    loaded = load_encoder(run_dir)
    config = synthetic.eval_config(loaded.pretrain_config, f"features.dtype={dtype}")
    loaded.encoder.train()  # extraction must switch BatchNorm to its running statistics
    features = extract_features(loaded.extractor, config, "test", None, run_dir / "cache")
    assert loaded.encoder.training  # and restore the mode afterwards

    images = synthetic.images("test")
    encoder = load_encoder(run_dir).encoder.eval()
    with torch.no_grad():
        expected = encoder(Normalize((0.3,), (0.3,))(images.images)).numpy()
    assert isinstance(features.representation.stored, np.memmap)
    assert features.representation.stored.dtype == dtype
    assert features.representation.dtype == np.float32  # what every protocol reads
    rtol = 1e-4 + ROUNDING[dtype]  # batched float32 maths differs by 1e-4, then the rounding
    np.testing.assert_allclose(features.representation, expected, rtol=rtol, atol=1e-5)
    assert np.array_equal(features.labels, images.labels.numpy())
    assert np.array_equal(features.indices, np.arange(synthetic.counts["test"]))
    assert features.classes == images.classes
    assert not features.from_cache


def test_in_memory_images_come_in_one_gather_with_their_indices() -> None:
    images = torch.arange(5 * 4, dtype=torch.uint8).view(5, 1, 2, 2)
    dataset = _Indexed(ArrayImages(images, torch.tensor([3, 1, 4, 1, 5])))
    gathered = dataset.__getitems__([4, 0, 2])
    assert isinstance(gathered, GatheredBatch)
    images_of, labels_of, indices_of = collate(gathered)  # passed through as it is
    assert torch.equal(images_of, images[[4, 0, 2]])
    assert labels_of.tolist() == [5, 3, 4] and indices_of.tolist() == [4, 0, 2]
    loaded = list(DataLoader(dataset, batch_size=2, collate_fn=collate))
    assert [b[2].tolist() for b in loaded] == [[0, 1], [2, 3], [4]]
    assert torch.equal(torch.cat([b[0] for b in loaded]), images)
    assert torch.cat([b[1] for b in loaded]).tolist() == [3, 1, 4, 1, 5]


def test_an_interrupted_extraction_leaves_no_cache(run_dir: Path, synthetic) -> None:
    loaded = load_encoder(run_dir)
    config = synthetic.eval_config(loaded.pretrain_config, "features.batch_size=4")
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
    assert not features.from_cache and len(features) == synthetic.counts["test"]


@pytest.mark.parametrize("by", ["this process", "a process that was killed"])
def test_an_interrupted_extraction_resumes_from_its_last_checkpoint(
    run_dir: Path, synthetic, tmp_path: Path, by: str
) -> None:
    loaded = load_encoder(run_dir)
    settings = ["features.batch_size=4", "features.checkpoint_rows=8"]
    config = synthetic.eval_config(loaded.pretrain_config, *settings)
    whole = extract_features(loaded.extractor, config, "test", None, tmp_path / "whole")
    calls = []

    def counted_forward(images: torch.Tensor) -> torch.Tensor:
        calls.append(len(images))
        if len(calls) == 6:  # after 5 batches: 20 rows, checkpoints at 8 and 16
            raise KeyboardInterrupt
        return loaded.encoder.backbone(images)

    loaded.encoder.forward = counted_forward
    cache = run_dir / "cache"
    with pytest.raises(KeyboardInterrupt):
        extract_features(loaded.extractor, config, "test", None, cache)
    [partial] = cache.iterdir()
    assert json.loads((partial / "progress.json").read_text())["rows"] == 16
    if by == "a process that was killed":  # no process has this id
        partial.rename(partial.with_name(partial.name.rsplit("-", 1)[0] + "-999999999"))
    calls.clear()
    features = extract_features(loaded.extractor, config, "test", None, cache)
    total = synthetic.counts["test"]
    assert features.meta["resumed_at"] == 16 and sum(calls) == total - 16  # only the rest read
    assert [p.name for p in cache.iterdir()] == [features.directory.name]  # no partial left
    np.testing.assert_array_equal(features.representation, whole.representation)
    np.testing.assert_array_equal(features.indices, whole.indices)
    np.testing.assert_array_equal(features.labels, whole.labels)


def test_extraction_leaves_the_encoder_bit_identical(
    run_dir: Path, synthetic, bit_identical
) -> None:
    loaded = load_encoder(run_dir)
    loaded.encoder.train()
    check = bit_identical(loaded.encoder)
    config = synthetic.eval_config(loaded.pretrain_config)
    extract_features(loaded.extractor, config, "train", None, run_dir / "cache")
    check()


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
    rtol = 1e-5 + FLOAT16_ROUNDING
    np.testing.assert_allclose(features.representation[1, :64], expected, rtol=rtol)

    # a file that changes on disk changes the key
    Image.fromarray(np.full((10, 12, 3), 30, np.uint8)).save(tmp_path / "images" / "a" / "1.png")
    (tmp_path / "images" / "b" / "broken.png").unlink()
    rebuilt = extract_features(raw_pixels(), config, "all", None, tmp_path / "cache")
    assert not rebuilt.from_cache and rebuilt.directory != features.directory


def test_what_a_killed_extraction_left_is_removed_at_the_next(run_dir: Path, synthetic) -> None:
    loaded = load_encoder(run_dir)
    config = synthetic.eval_config(loaded.pretrain_config)
    cache = run_dir / "cache"
    stale = cache / "0123abcd.partial-999999999"  # no process has this id
    (stale / "sub").mkdir(parents=True)
    features = extract_features(loaded.extractor, config, "test", None, cache)
    assert not stale.exists()
    assert sorted(p.name for p in cache.iterdir()) == [features.directory.name]


def test_the_cache_key_tells_apart_the_splits_and_held_out_parts_of_a_folder(
    tmp_path: Path,
) -> None:
    for name, count in (("a", 6), ("b", 6)):
        (tmp_path / "images" / name).mkdir(parents=True)
        for i in range(count):
            image = np.full((8, 8), 20 * i + (100 if name == "b" else 0), np.uint8)
            Image.fromarray(image).save(tmp_path / "images" / name / f"{i}.png")
    common = ["data.name=folder", f"data.path={tmp_path / 'images'}", "data.image_size=8"]
    common += ["features.progress_bar=false", "features.num_workers=0"]

    def features(split: str, fraction: float):
        config = load_eval_config(None, None, [*common, f"data.val_fraction={fraction}"])
        return extract_features(raw_pixels(), config, split, None, tmp_path / "cache")

    train, val = features("train", 0.5), features("val", 0.5)
    assert train.meta["split"] == "train" and val.meta["split"] == "val"
    assert train.directory != val.directory and not set(train.paths) & set(val.paths)
    assert len(train) == len(val) == 6 and set(val.labels.tolist()) == {0, 1}
    other = features("val", 0.34)  # another fraction: other files, another key
    assert other.directory not in (train.directory, val.directory) and len(other) == 4
    assert features("val", 0.5).from_cache  # the same part: its cache


def test_an_unreadable_image_of_a_split_subfolder_is_skipped_and_counted(tmp_path: Path) -> None:
    for split in ("train", "val"):
        for name, value in (("a", 0), ("b", 200)):
            (tmp_path / "images" / split / name).mkdir(parents=True)
            image = np.full((8, 8), value, np.uint8)
            Image.fromarray(image).save(tmp_path / "images" / split / name / "1.png")
    (tmp_path / "images" / "val" / "b" / "broken.png").write_bytes(b"not an image")
    overrides = ["data.name=folder", f"data.path={tmp_path / 'images'}", "data.image_size=8"]
    overrides += ["features.progress_bar=false", "features.num_workers=0"]
    config = load_eval_config(None, None, overrides)
    with pytest.warns(UserWarning, match="skipped 1 of 3 images"):
        features = extract_features(raw_pixels(), config, "val", None, tmp_path / "cache")
    assert features.labels.tolist() == [0, 1] and features.meta["split"] == "val"
