"""Tests of linear_eval/features/cache.py: the cache key, the check of a cache on disk, and that
stale or damaged features are never served."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from linear_eval.features.cache import (
    array_records,
    cache_key,
    cache_problem,
    load_cached,
    remove_damaged,
)
from linear_eval.features.encoders import load_encoder
from linear_eval.features.extract import extract_features
from linear_eval.features.preprocess import Preprocessing

PREPROCESSING = Preprocessing(16, 1, (0.3,), (0.3,), True)
KEY_ARGUMENTS = {
    "fingerprint": "a" * 64,
    "dataset": "synthetic_eval",
    "split": "test",
    "subset": 10,
    "subset_seed": 0,
    "preprocessing": PREPROCESSING,
    "files": None,
    "dtype": "float16",
}


@pytest.mark.parametrize(
    ("argument", "other"),
    [
        ("fingerprint", "b" * 64),
        ("dataset", "fashion_mnist"),
        ("split", "train"),
        ("subset", 11),
        ("subset", None),
        ("subset_seed", 1),
        ("dtype", "float32"),
        ("preprocessing", Preprocessing(32, 1, (0.3,), (0.3,), True)),
        ("preprocessing", Preprocessing(16, 3, (0.3,), (0.3,), True)),
        ("preprocessing", Preprocessing(16, 1, (0.5,), (0.3,), True)),
        ("preprocessing", Preprocessing(16, 1, (0.3,), (0.3,), False)),
    ],
)
def test_the_key_changes_with_everything_the_features_depend_on(argument: str, other) -> None:
    key = cache_key(**KEY_ARGUMENTS)
    assert key == cache_key(**KEY_ARGUMENTS) and len(key) == 64
    assert cache_key(**{**KEY_ARGUMENTS, argument: other}) != key


def test_the_subset_seed_matters_only_for_a_subset() -> None:
    whole = {**KEY_ARGUMENTS, "subset": None}
    assert cache_key(**whole) == cache_key(**{**whole, "subset_seed": 7})


def test_the_key_of_an_image_folder_follows_its_files(tmp_path: Path) -> None:
    files = [tmp_path / "a.png", tmp_path / "b.png"]
    for path in files:
        path.write_bytes(b"12345")
    arguments = {**KEY_ARGUMENTS, "files": files}
    key = cache_key(**arguments)
    assert key != cache_key(**{**arguments, "files": files[:1]})
    os.utime(files[1], ns=(0, files[1].stat().st_mtime_ns + 10**9))  # touched
    touched = cache_key(**arguments)
    assert touched != key
    files[1].write_bytes(b"123456")  # rewritten with another size
    assert cache_key(**arguments) not in (key, touched)


def _write_cache(directory: Path) -> None:
    """A finished cache of 3 rows as extraction leaves it: the arrays and their records."""
    directory.mkdir()
    np.save(directory / "features.npy", np.arange(6, dtype=np.float16).reshape(3, 2))
    np.save(directory / "labels.npy", np.array([0, 1, -1]))
    np.save(directory / "indices.npy", np.array([0, 2, 5]))
    meta = {"split": "test", "arrays": array_records(directory)}
    (directory / "meta.json").write_text(json.dumps(meta))


def test_a_whole_cache_has_no_problem_and_loads_memory_mapped_as_float32(tmp_path: Path) -> None:
    _write_cache(tmp_path / "key")
    assert cache_problem(tmp_path / "key") is None
    features = load_cached(tmp_path / "key")
    stored = features.representation.stored
    assert isinstance(stored, np.memmap) and stored.dtype == np.float16 and features.from_cache
    representation = features.representation  # what the protocols see: float32
    assert representation.dtype == np.float32 and representation.shape == (3, 2)
    assert representation[1:].dtype == np.float32 and representation[[2, 0]].tolist() == [
        [4, 5],
        [0, 1],
    ]
    assert np.asarray(representation).dtype == np.float32
    assert np.array(representation, dtype=np.float64).dtype == np.float64
    assert features.labels.tolist() == [0, 1, -1] and features.indices.tolist() == [0, 2, 5]
    assert features.meta["split"] == "test" and len(features) == 3


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda d: (d / "meta.json").unlink(), "meta.json is missing or damaged"),
        (lambda d: (d / "meta.json").write_text("{}"), "meta.json is missing or damaged"),
        (lambda d: (d / "indices.npy").unlink(), "indices.npy is missing"),
        (lambda d: (d / "labels.npy").write_bytes(b"xx"), "labels.npy is not a readable array"),
        (
            lambda d: np.save(d / "labels.npy", np.array([1, 1, -1])),  # same shape, other values
            "labels.npy is not the array that was written",
        ),
        (
            lambda d: np.save(d / "features.npy", np.zeros((2, 2), np.float32)),
            "features.npy is not the array that was written",
        ),
    ],
)
def test_a_damaged_cache_is_named_by_its_problem(tmp_path: Path, damage, problem: str) -> None:
    _write_cache(tmp_path / "key")
    damage(tmp_path / "key")
    assert problem in cache_problem(tmp_path / "key")


def test_a_damaged_cache_is_removed_whole(tmp_path: Path) -> None:
    _write_cache(tmp_path / "key")
    remove_damaged(tmp_path / "key")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.usefixtures("single_thread")
def test_a_subset_has_its_own_cache_entry(run_dir: Path, synthetic) -> None:
    loaded = load_encoder(run_dir)
    config = synthetic.eval_config(loaded.pretrain_config)
    whole = extract_features(loaded.extractor, config, "train", None, run_dir / "cache")
    part = extract_features(loaded.extractor, config, "train", 10, run_dir / "cache")
    assert len(part) == 10 and part.directory != whole.directory


@pytest.mark.usefixtures("single_thread")
def test_the_cache_is_reused_when_nothing_changed(
    run_dir: Path, synthetic, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = load_encoder(run_dir)
    config = synthetic.eval_config(loaded.pretrain_config)
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


@pytest.mark.usefixtures("single_thread")
def test_a_changed_checkpoint_is_never_served_stale_features(run_dir: Path, synthetic) -> None:
    loaded = load_encoder(run_dir)
    config = synthetic.eval_config(loaded.pretrain_config)
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


@pytest.mark.usefixtures("single_thread")
def test_changed_preprocessing_gives_new_features(run_dir: Path, synthetic) -> None:
    loaded = load_encoder(run_dir)
    base = synthetic.eval_config(loaded.pretrain_config)
    other = synthetic.eval_config(loaded.pretrain_config, "normalize.mean=[0.5]")
    cache = run_dir / "cache"
    first = extract_features(loaded.extractor, base, "test", None, cache)
    second = extract_features(loaded.extractor, other, "test", None, cache)
    assert first.directory != second.directory and not second.from_cache


@pytest.mark.usefixtures("single_thread")
@pytest.mark.parametrize(
    "damage",
    ["garbage of the same size", "truncated features", "no labels", "no meta", "cut meta"],
)
def test_a_damaged_cache_is_recomputed_with_a_warning(
    run_dir: Path, synthetic, damage: str
) -> None:
    loaded = load_encoder(run_dir)
    config = synthetic.eval_config(loaded.pretrain_config)
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


@pytest.mark.usefixtures("single_thread")
def test_a_float32_cache_of_the_previous_version_is_extracted_again_in_float16(
    run_dir: Path, synthetic, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib
    from dataclasses import asdict

    from linear_eval.features import extract as extract_module

    def version_2_key(fingerprint, dataset, split, subset, subset_seed, preprocessing, files, _):
        content = {  # what cache_key hashed before the features were stored in float16
            "version": 2,
            "encoder": fingerprint,
            "dataset": dataset,
            "split": split,
            "subset": subset,
            "subset_seed": subset_seed if subset is not None else None,
            "files": None,
            "preprocessing": asdict(preprocessing),
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()

    loaded = load_encoder(run_dir)
    old_config = synthetic.eval_config(loaded.pretrain_config, "features.dtype=float32")
    with monkeypatch.context() as patch:
        patch.setattr(extract_module, "cache_key", version_2_key)
        old = extract_features(loaded.extractor, old_config, "test", None, run_dir / "cache")
    assert old.representation.stored.dtype == np.float32
    config = synthetic.eval_config(loaded.pretrain_config)  # today's defaults
    new = extract_features(loaded.extractor, config, "test", None, run_dir / "cache")
    assert not new.from_cache and new.directory != old.directory
    assert new.representation.stored.dtype == np.float16
    np.testing.assert_allclose(new.representation, old.representation, rtol=2**-11, atol=1e-7)
