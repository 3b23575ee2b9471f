"""The validation split held out of a registered dataset's training split (simclr.data.held_out):
the same rows for every run, class-stratified, disjoint from train, never pretrained on unless
asked, and what the online probe measures."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from simclr.config import ConfigError
from simclr.data.config import resolved_spec
from simclr.data.datamodule import SimCLRDataModule
from simclr.data.held_out import split_identity
from simclr.data.splits import load_split
from tests.simclr.data.conftest import random_uint8, write_stl10_images


def rows_of(images: torch.Tensor) -> set[bytes]:
    return {image.numpy().tobytes() for image in images}


def test_val_is_a_tenth_of_each_class_of_train_and_disjoint_from_it(
    fashion_mnist_root: Path, data_config
) -> None:
    config = data_config(fashion_mnist_root, "fashion_mnist")
    assert resolved_spec(config).splits == ("train", "test", "val")
    whole = load_split(config, "train", with_held_out=True)
    train, val = load_split(config, "train"), load_split(config, "val")
    assert (len(whole), len(train), len(val)) == (60_000, 54_000, 6_000)
    assert torch.bincount(val.labels).tolist() == [600] * 10  # 10 % of each class's 6,000
    # the two parts partition the training split: every image on exactly one side
    assert torch.equal(
        torch.bincount(train.labels) + torch.bincount(val.labels), torch.bincount(whole.labels)
    )
    whole_rows, train_rows, val_rows = (
        rows_of(whole.images),
        rows_of(train.images),
        rows_of(val.images),
    )
    assert not train_rows & val_rows and train_rows | val_rows == whole_rows


def test_val_is_the_same_rows_whatever_the_seed_and_subset_draws_from_the_rest(
    fashion_mnist_root: Path, data_config
) -> None:
    config = data_config(fashion_mnist_root, "fashion_mnist", val_fraction=0.05)
    first, other = load_split(config, "val", seed=0), load_split(config, "val", seed=123)
    assert len(first) == 3_000 and torch.equal(first.images, other.images)
    subset = load_split(config, "train", subset=500, seed=4)
    assert len(subset) == 500 and not rows_of(subset.images) & rows_of(first.images)


def test_val_fraction_0_holds_nothing_out(fashion_mnist_root: Path, data_config) -> None:
    config = data_config(fashion_mnist_root, "fashion_mnist", val_fraction=0)
    assert "val" not in resolved_spec(config).splits
    assert len(load_split(config, "train")) == 60_000


def test_pretraining_skips_val_and_the_online_probe_measures_on_it(
    fashion_mnist_root: Path, data_config
) -> None:
    config = data_config(fashion_mnist_root, "fashion_mnist", image_size=28, batch_size=32)
    datamodule = SimCLRDataModule(config, seed=1)
    datamodule.setup()
    val = load_split(config, "val")
    assert len(datamodule.train_set) == 54_000
    assert torch.equal(datamodule.val_set.images, val.images)  # not the test split
    assert not rows_of(datamodule.train_set.images) & rows_of(val.images)
    config.pretrain_on_val = True
    with_val = SimCLRDataModule(config, seed=1)
    with_val.setup()
    assert len(with_val.train_set) == 60_000 and torch.equal(with_val.val_set.images, val.images)


def test_stl10_pretraining_split_loses_the_held_out_rows_and_keeps_the_unlabelled(
    tmp_path: Path, register_checksums, data_config
) -> None:
    images = random_uint8((12, 3, 96, 96), seed=5)
    folder = tmp_path / "stl10_binary"
    write_stl10_images(folder / "train_X.bin", images[:8])
    (folder / "train_y.bin").write_bytes(bytes([1, 1, 1, 1, 2, 2, 2, 2]))
    write_stl10_images(folder / "unlabeled_X.bin", images[8:])
    (folder / "class_names.txt").write_text("\n".join(f"c{i}" for i in range(10)))
    register_checksums(folder)
    config = data_config(tmp_path, "stl10", image_size=96, val_fraction=0.5)
    train, val = load_split(config, "train"), load_split(config, "val")
    both = load_split(config, "train+unlabeled")
    assert (len(train), len(val), len(both)) == (4, 4, 8)
    assert torch.bincount(val.labels).tolist() == [2, 2]
    unlabelled = rows_of(torch.from_numpy(images[8:]))
    assert rows_of(both.images) == rows_of(train.images) | unlabelled
    assert rows_of(train.images) | rows_of(val.images) == rows_of(torch.from_numpy(images[:8]))
    assert not rows_of(both.images) & rows_of(val.images)


def test_split_identity_tells_train_without_val_from_the_whole(
    fashion_mnist_root: Path, data_config
) -> None:
    config = data_config(fashion_mnist_root, "fashion_mnist")
    spec = resolved_spec(config)
    assert split_identity(spec, "train", None) == "train|val_fraction=0.1"
    assert split_identity(spec, "val", 0.2) == "val|val_fraction=0.2"
    assert split_identity(spec, "test", None) == "test"
    assert (
        split_identity(
            resolved_spec(data_config(fashion_mnist_root, "fashion_mnist", val_fraction=0)),
            "train",
            0,
        )
        == "train"
    )


@pytest.mark.parametrize("fraction", [1.0, -0.1, 2.0])
def test_a_fraction_outside_0_1_is_one_line_naming_the_key(data_config, fraction) -> None:
    config = data_config(Path("data"), "fashion_mnist", val_fraction=fraction)
    with pytest.raises(ConfigError, match=r"data\.val_fraction=.*\[0, 1\)") as error:
        config.check()
    assert "\n" not in str(error.value)
