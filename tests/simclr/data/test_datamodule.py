"""The LightningDataModule of pretraining (simclr/data/datamodule.py): uint8 training batches in
a seeded order and a labelled validation split for the online probe."""

from __future__ import annotations

import warnings
from pathlib import Path

import lightning as L
import pytest
import torch
from PIL import Image

from simclr.data.datamodule import SimCLRDataModule
from simclr.data.device_decode import decode_batch
from simclr.data.encoded import EncodedBatch, EncodedImages, collate_encoded
from simclr.data.images import ArrayImages, collate
from simclr.data.sampling import EpochSampler
from simclr.errors import DataError
from tests.simclr.jpegs import write_jpegs, write_png


def test_batch_larger_than_the_dataset_is_one_line(
    tmp_path: Path, data_config, mixed_images
) -> None:
    mixed_images.write(tmp_path)
    config = data_config(tmp_path, "folder", path=str(tmp_path), image_size=8, batch_size=5)
    with pytest.raises(DataError, match="data.batch_size=5 exceeds the 4 training images") as error:
        SimCLRDataModule(config).setup()
    assert "\n" not in str(error.value)


def test_fashion_mnist_subset_and_data_module(fashion_mnist_root: Path, data_config) -> None:
    config = data_config(
        fashion_mnist_root,
        "fashion_mnist",
        image_size=16,
        subset=0.01,
        val_subset=50,
        batch_size=32,
    )
    datamodule = SimCLRDataModule(config, seed=3)
    datamodule.setup()
    # 1 % of the 54,000 training images left once val holds 6,000 out; 50 of val's 6,000
    assert (len(datamodule.train_set), len(datamodule.val_set)) == (540, 50)
    assert datamodule.num_classes == 10
    images, labels = next(iter(datamodule.train_dataloader()))
    assert images.shape == (32, 1, 16, 16) and images.dtype == torch.uint8
    assert labels.shape == (32,)


def test_training_batches_are_full_in_the_seeded_order_and_validation_keeps_all(
    cifar10_root, data_config
) -> None:
    root, images, labels = cifar10_root
    config = data_config(root, "cifar10", image_size=32, batch_size=4, val_fraction=0)
    datamodule = SimCLRDataModule(config, 5)  # val_fraction=0: no val, the probe on test
    loader = datamodule.train_dataloader()
    assert isinstance(loader.sampler, EpochSampler) and loader.sampler.seed == 5
    order = list(EpochSampler(10, 4, seed=5))
    batches = list(loader)
    assert [len(batch[0]) for batch in batches] == [4, 4]  # the last 2 images are dropped
    assert torch.equal(torch.cat([b[0] for b in batches]), torch.from_numpy(images[order[:8]]))
    assert torch.cat([b[1] for b in batches]).tolist() == labels[order[:8]].tolist()
    validation = list(datamodule.val_dataloader())
    assert [len(batch[0]) for batch in validation] == [3]  # the test split, in order
    assert torch.equal(validation[0][0], torch.from_numpy(images[10:]))


def test_an_unlabelled_folder_has_no_validation_split_and_no_classes(
    tmp_path: Path, data_config, mixed_images
) -> None:
    mixed_images.write(tmp_path)
    datamodule = SimCLRDataModule(
        data_config(tmp_path, "folder", path=str(tmp_path), image_size=8, batch_size=2)
    )
    assert datamodule.num_classes == 0
    assert datamodule.val_set is None and datamodule.val_dataloader() == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert len(list(datamodule.train_dataloader())) == 2
    assert not isinstance(datamodule.train_set, ArrayImages)  # decoded per image


def test_a_folder_with_splits_pretrains_on_train_and_validates_on_val(
    fashion_mnist_folder, data_config
) -> None:
    folder = fashion_mnist_folder
    config = data_config(
        folder.root, "folder", path=str(folder.path), image_size=28, channels=1, batch_size=8
    )
    datamodule = SimCLRDataModule(config)
    assert datamodule.num_classes == 10
    assert {p.parent.parent.name for p in datamodule.train_set.source.files} == {"train"}
    assert {p.parent.parent.name for p in datamodule.val_set.source.files} == {"val"}
    assert (len(datamodule.train_set), len(datamodule.val_set)) == (200, 100)


def test_a_folder_with_a_held_out_part_pretrains_on_the_rest(tmp_path: Path, data_config) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(10):
            Image.new("L", (8, 8), 20 * i).save(tmp_path / name / f"{i}.png")
    config = data_config(
        tmp_path, "folder", path=str(tmp_path), image_size=8, val_fraction=0.2, batch_size=4
    )
    datamodule = SimCLRDataModule(config)
    datamodule.setup()
    train, val = set(datamodule.train_set.source.files), set(datamodule.val_set.source.files)
    assert (len(train), len(val)) == (16, 4) and not train & val


def test_auto_decodes_in_the_workers_on_a_cpu_and_device_after_the_transfer(
    tmp_path: Path, data_config
) -> None:
    write_jpegs(tmp_path / "train" / "a")
    write_png(tmp_path / "train" / "b" / "png.png")
    write_jpegs(tmp_path / "val" / "a", seed=20)
    write_png(tmp_path / "val" / "b" / "png.png")
    cpu = L.Trainer(accelerator="cpu", devices=1, logger=False)
    loaders = {}
    for decode in ("auto", "device"):
        config = data_config(tmp_path, "folder", path=str(tmp_path), image_size=16, batch_size=4)
        config.decode = decode
        datamodule = SimCLRDataModule(config, seed=1)
        datamodule.trainer = cpu
        loaders[decode] = (datamodule.train_dataloader(), datamodule.val_dataloader())
    for loader in loaders["auto"]:
        assert not isinstance(loader.dataset, EncodedImages) and loader.collate_fn is collate
    for loader in loaders["device"]:
        assert isinstance(loader.dataset, EncodedImages) and loader.collate_fn is collate_encoded
    # the same images in the same seeded order, once decoded where the batch is
    for workers, device in zip(loaders["auto"], loaders["device"]):
        batches = list(zip(workers, device))
        assert len(batches) == len(workers) > 0
        for (images, labels), encoded in batches:
            assert isinstance(encoded, EncodedBatch)
            decoded, decoded_labels = decode_batch(encoded)
            assert torch.equal(decoded, images) and torch.equal(decoded_labels, labels)
