"""Every dataset by name (simclr/data/registry.py): one DatasetSpec entry each, its channels and
normalisation statistics."""

from __future__ import annotations

import dataclasses

import pytest

from simclr.config import DataConfig
from simclr.data.config import resolved_channels
from simclr.data.folders import folder_splits
from simclr.data.readers import read_fashion_mnist, read_folder, read_stl10
from simclr.data.registry import DATASETS, IMAGENET_MEAN, IMAGENET_STD, DatasetSpec, dataset_spec
from simclr.errors import DataError


def test_every_dataset_is_one_entry_with_its_reader_and_splits() -> None:
    assert set(DATASETS) == {"fashion_mnist", "cifar10", "cifar100", "stl10", "folder"}
    assert DATASETS["fashion_mnist"].read is read_fashion_mnist
    assert DATASETS["stl10"].read is read_stl10 and DATASETS["folder"].read is read_folder
    for name, spec in DATASETS.items():
        assert spec.pretrain_split in spec.splits, name
        for split in (spec.eval_train_split, spec.eval_test_split):
            assert split is None or split in spec.splits, name
        assert len(spec.mean) == len(spec.std) == spec.channels, name
    assert DATASETS["stl10"].pretrain_split == "train+unlabeled"
    assert DATASETS["folder"].eval_test_split is None  # unlabelled: no online probe
    assert DATASETS["folder"].layout is folder_splits  # unless data.path has splits
    assert all(spec.layout is None for name, spec in DATASETS.items() if name != "folder")
    assert (DATASETS["folder"].mean, DATASETS["folder"].std) == (IMAGENET_MEAN, IMAGENET_STD)


def test_a_spec_is_made_by_keyword_and_frozen() -> None:
    spec = DatasetSpec(
        read=read_folder,
        channels=3,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        splits=("all",),
        pretrain_split="all",
        eval_train_split=None,
        eval_test_split=None,
        layout=folder_splits,
        held_out_from=None,
        held_out_within=(),
    )
    assert spec == DATASETS["folder"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.channels = 1


def test_an_entry_states_only_where_it_differs_from_train_and_test() -> None:
    """The defaults are a dataset of train and test splits with val held out of train: what
    Fashion-MNIST and CIFAR are, field by field."""
    plain = DatasetSpec(read=read_folder, channels=1, mean=(0.5,), std=(0.5,))
    assert (plain.splits, plain.pretrain_split) == (("train", "test"), "train")
    assert (plain.eval_train_split, plain.eval_test_split) == ("train", "test")
    assert (plain.held_out_from, plain.held_out_within, plain.layout) == ("train", ("train",), None)
    for name in ("fashion_mnist", "cifar10", "cifar100"):
        spec = DATASETS[name]
        assert spec == DatasetSpec(
            read=spec.read, channels=spec.channels, mean=spec.mean, std=spec.std
        )
    stl10 = DATASETS["stl10"]
    assert stl10.pretrain_split == "train+unlabeled" and stl10.held_out_from == "train"


def test_a_registered_dataset_is_found_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = dataclasses.replace(DATASETS["cifar10"], channels=1, mean=(0.5,), std=(0.5,))
    monkeypatch.setitem(DATASETS, "my_set", spec)
    assert dataset_spec("my_set") is spec
    assert resolved_channels(DataConfig(name="my_set")) == 1


def test_an_unknown_dataset_is_one_line_naming_the_allowed_ones() -> None:
    with pytest.raises(DataError, match="data.name='imagenet9' is unknown: allowed: cifar10, "):
        dataset_spec("imagenet9")
