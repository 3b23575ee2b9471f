"""The splits of an image folder (simclr/data/folders.py): split subfolders in the ImageNet
layout with one class index in every split, or a seeded held-out part of a folder without them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from simclr.data.config import resolved_spec
from simclr.data.folders import (
    FolderSplits,
    folder_splits,
    held_out_split,
    subfolders_without_images,
)
from simclr.data.images import IMAGE_EXTENSIONS
from simclr.data.readers import read_fashion_mnist
from simclr.data.splits import load_split, subset_indices
from simclr.errors import DataError


def write_classes(folder: Path, counts: dict[str, int], size: int = 8) -> None:
    """``counts[c]`` small grey PNGs in ``folder/c/``, each of its own shade."""
    for name, count in counts.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.new("L", (size, size), 10 * i).save(folder / name / f"{i:03d}.png")


# ----------------------------------------------------------------------------- ImageNet layout


def test_each_split_is_its_subfolder_with_the_same_class_index(
    fashion_mnist_folder, data_config
) -> None:
    folder = fashion_mnist_folder
    config = data_config(folder.root, "folder", path=str(folder.path), image_size=28, channels=1)
    spec = resolved_spec(config)
    assert spec.splits == ("train", "val") and spec.pretrain_split == "train"
    assert (spec.eval_train_split, spec.eval_test_split) == ("train", "val")
    for split, read, count in [("train", "train", 200), ("val", "test", 100)]:
        dataset = load_split(config, split)
        assert len(dataset) == count and dataset.classes == folder.classes
        assert {p.parent.parent.name for p in dataset.source.files} == {split}
        official = read_fashion_mnist(read, root=str(folder.root), download=False)
        indices = subset_indices(len(official), count, seed=0)
        # files sort by class, then by index: the label of each file is the IDX label
        expected = sorted((int(official.labels[i]), i) for i in indices)
        assert dataset.labels.tolist() == [label for label, _ in expected]
        image, label = dataset[0]
        assert torch.equal(image, official.images[expected[0][1]]) and label == expected[0][0]


def test_an_unlabelled_test_folder_is_a_split_and_val_stays_the_test_split(tmp_path: Path):
    write_classes(tmp_path / "train", {"a": 2, "b": 2})
    write_classes(tmp_path / "val", {"a": 1, "b": 1})
    (tmp_path / "test").mkdir()
    Image.new("L", (8, 8)).save(tmp_path / "test" / "x.png")  # ImageNet's test: no classes
    assert folder_splits(tmp_path, None) == FolderSplits(
        ("train", "val", "test"), "train", "train", "val"
    )


def test_class_folders_of_gif_files_are_classes_in_every_split(tmp_path: Path, data_config):
    for split in ("train", "val"):
        for name in ("a", "b"):
            (tmp_path / split / name).mkdir(parents=True)
            Image.new("L", (8, 8), 40).save(tmp_path / split / name / "one.gif")
    splits = folder_splits(tmp_path, None)
    assert (splits.eval_train_split, splits.eval_test_split) == ("train", "val")
    config = data_config(tmp_path, "folder", path=str(tmp_path), image_size=8)
    assert load_split(config, "val").classes == ["a", "b"]


def test_subfolders_without_images_are_named_with_what_they_hold(tmp_path: Path) -> None:
    for name in ("train/cats/a.heic", "train/cats/b.heic", "train/dogs/c.txt", "val/x/d.heic"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("not an image")
    assert folder_splits(tmp_path, None).eval_test_split is None  # unlabelled: no class folders
    assert subfolders_without_images(tmp_path) == (
        "train/cats/, train/dogs/ hold no image files (found 2 .heic, 1 .txt; images are "
        f"{', '.join(IMAGE_EXTENSIONS)})"
    )
    Image.new("L", (4, 4)).save(tmp_path / "train" / "cats" / "e.png")
    assert subfolders_without_images(tmp_path).startswith("train/dogs/ holds no image files")
    Image.new("L", (4, 4)).save(tmp_path / "train" / "dogs" / "f.gif")
    assert subfolders_without_images(tmp_path) == ""
    assert subfolders_without_images(tmp_path / "train" / "cats") == ""  # no subfolders


def test_a_labelled_test_folder_is_the_test_split_when_there_is_no_val(tmp_path: Path) -> None:
    write_classes(tmp_path / "train", {"a": 2, "b": 2})
    write_classes(tmp_path / "test", {"b": 1, "a": 1})
    assert folder_splits(tmp_path, None) == FolderSplits(
        ("train", "test"), "train", "train", "test"
    )


@pytest.mark.parametrize(
    "val_classes, named",
    [({"a": 1}, "val/ lacks b"), ({"a": 1, "b": 1, "c": 1}, "only in val/: c")],
)
def test_class_sets_that_differ_are_one_line_before_any_image_is_read(
    tmp_path: Path, data_config, val_classes: dict[str, int], named: str
) -> None:
    write_classes(tmp_path / "train", {"a": 2, "b": 2})
    write_classes(tmp_path / "val", val_classes)
    config = data_config(tmp_path, "folder", path=str(tmp_path), image_size=8)
    for split in ("train", "val"):
        with pytest.raises(DataError, match="class folders of val/ differ") as error:
            load_split(config, split)
        assert named in str(error.value) and "\n" not in str(error.value)


def test_val_fraction_is_refused_for_a_folder_with_splits(tmp_path: Path) -> None:
    write_classes(tmp_path / "train", {"a": 2})
    with pytest.raises(DataError, match="data.val_fraction=0.2 is for a folder without splits"):
        folder_splits(tmp_path, 0.2)


def test_a_folder_without_splits_is_the_one_split_all(tmp_path: Path, data_config) -> None:
    write_classes(tmp_path, {"train_images": 2, "b": 1})  # a class named train_* is a class
    assert folder_splits(tmp_path, None) == FolderSplits(("all",), "all", None, None)
    config = data_config(tmp_path, "folder", path=str(tmp_path), image_size=8)
    with pytest.raises(DataError, match="split 'train' of folder is unknown: allowed: all"):
        load_split(config, "train")


# ----------------------------------------------------------------------------- held out


COUNTS = {"a": 10, "b": 7, "c": 2, "d": 1}


def test_val_fraction_holds_out_a_seeded_disjoint_class_covering_part(
    tmp_path: Path, data_config
) -> None:
    write_classes(tmp_path, COUNTS)
    config = data_config(tmp_path, "folder", path=str(tmp_path), image_size=8, val_fraction=0.3)
    spec = resolved_spec(config)
    assert spec.splits == ("all", "train", "val") and spec.pretrain_split == "train"
    assert (spec.eval_train_split, spec.eval_test_split) == ("train", "val")
    whole, train, val = (load_split(config, split) for split in ("all", "train", "val"))
    train_files, val_files = set(train.source.files), set(val.source.files)
    assert not train_files & val_files and train_files | val_files == set(whole.source.files)
    assert train.classes == val.classes == ["a", "b", "c", "d"]  # one class index
    held = {name: sum(p.parent.name == name for p in val_files) for name in COUNTS}
    assert held == {"a": 3, "b": 2, "c": 1, "d": 0}  # round(0.3 n), at least one of n >= 2
    assert [p.parent.name for p in val.source.files] == [val.classes[i] for i in val.labels]
    again = load_split(config, "val")
    assert again.source.files == val.source.files  # seeded: the same part every time


def test_the_held_out_part_depends_on_the_seed_and_keeps_one_image_of_each_class() -> None:
    labels = torch.tensor([0] * 50 + [1] * 50 + [2] * 3 + [3])
    train, val = held_out_split(labels, 0.2)
    assert held_out_split(labels, 0.2) == (train, val)
    assert held_out_split(labels, 0.2, seed=1) != (train, val)
    assert sorted(train + val) == list(range(len(labels))) and not set(train) & set(val)
    assert set(labels[val].tolist()) == {0, 1, 2} and set(labels[train].tolist()) == {0, 1, 2, 3}
    assert len(val) == 10 + 10 + 1
    _, small = held_out_split(labels, 0.01)
    assert set(labels[small].tolist()) == {0, 1, 2}  # never an empty class of two or more


def test_a_held_out_part_of_an_unlabelled_folder_cannot_be_evaluated(tmp_path: Path) -> None:
    for i in range(4):
        Image.new("L", (8, 8), i).save(tmp_path / f"{i}.png")
    splits = folder_splits(tmp_path, 0.5)
    assert splits.splits == ("all", "train", "val") and splits.eval_test_split is None
