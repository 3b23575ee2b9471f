"""Tests of linear_eval/features/sharded.py: features extracted by several processes, merged into
the cache one process writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from linear_eval.features.encoders import load_encoder
from linear_eval.features.extract import extract_features
from linear_eval.features.rows import FeatureRows
from linear_eval.features.sharded import merge_shards


def _shard(directory: Path, indices: list[int], total: int) -> Path:
    """A shard whose row of dataset index i is (i, -i) with label 10 * i."""
    directory.mkdir(parents=True)
    rows = FeatureRows(directory, total)
    if indices:
        index = np.array(indices)
        rows.append(np.stack([index, -index], 1).astype(np.float32), 10 * index, index)
    rows.close()
    return directory


def test_shards_are_merged_in_dataset_order(tmp_path: Path) -> None:
    # two ranks took every other image; image 3 was unreadable; a third rank read nothing
    shards = [
        _shard(tmp_path / "shards" / "rank0", [0, 2, 4], 3),
        _shard(tmp_path / "shards" / "rank1", [1, 5], 3),
        _shard(tmp_path / "shards" / "rank2", [], 3),
    ]
    out = tmp_path / "merged"
    out.mkdir()
    assert merge_shards(shards, out, total=6) == 5
    indices = np.load(out / "indices.npy")
    assert indices.tolist() == [0, 1, 2, 4, 5]
    assert np.load(out / "labels.npy").tolist() == [0, 10, 20, 40, 50]
    features = np.load(out / "features.npy")
    np.testing.assert_array_equal(features, np.stack([indices, -indices], 1))


@pytest.mark.slow
@pytest.mark.usefixtures("single_thread")
@pytest.mark.filterwarnings("ignore:.*(num_workers|does not have many workers|GPU).*")
def test_two_processes_write_the_cache_of_one(run_dir: Path, synthetic) -> None:
    from linear_eval.protocols.evaluate import evaluate_extractor

    loaded = load_encoder(run_dir)
    one_config = synthetic.eval_config(loaded.pretrain_config, "data.subset=37")
    two_config = synthetic.eval_config(
        loaded.pretrain_config, "data.subset=37", "features.devices=2"
    )
    # 37 images: rank 0 gets 19, rank 1 gets 18, interleaved; merged back in dataset order
    one = extract_features(loaded.extractor, one_config, "train", 37, run_dir / "one")
    two = extract_features(loaded.extractor, two_config, "train", 37, run_dir / "two")
    assert one.directory.name == two.directory.name  # the same cache key
    assert not two.from_cache and len(two) == 37
    assert [p.name for p in two.directory.iterdir() if p.is_dir()] == []  # shards removed
    np.testing.assert_array_equal(two.indices, one.indices)
    np.testing.assert_array_equal(two.labels, one.labels)
    # each rounds its float32 rows to float16: a row on a rounding edge may differ by 2^-10
    np.testing.assert_allclose(two.representation, one.representation, rtol=2**-10, atol=1e-6)

    results = [
        evaluate_extractor(loaded.extractor, config, "all", run_dir / cache)
        for config, cache in ((one_config, "one"), (two_config, "two"))
    ]
    assert results[0]["knn"] == results[1]["knn"]
    assert results[0]["linear"]["top1"] == results[1]["linear"]["top1"]
