"""The dataset classes and the one collate of simclr/data/images.py: in-memory gathers, image
folders of any colour mode (GIF and WebP among their files), unreadable files skipped with a
warning, a folder of no images told what it holds."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from simclr.data.datamodule import SimCLRDataModule
from simclr.data.images import (
    ArrayImages,
    GatheredBatch,
    ImageFolder,
    LabelledSubset,
    PreparedImages,
    collate,
    num_classes_of,
)
from simclr.data.splits import load_split
from simclr.errors import DataError


def images_of(dataset) -> torch.Tensor:
    return torch.stack([dataset[i][0] for i in range(len(dataset))])


def array_images(count: int = 10) -> ArrayImages:
    images = torch.arange(count * 3 * 4 * 4, dtype=torch.int64).view(count, 3, 4, 4) % 256
    return ArrayImages(images.to(torch.uint8), torch.arange(count) % 3, ["a", "b", "c"])


# ----------------------------------------------------------------------------- folders


@pytest.mark.parametrize("channels", [1, 3])
def test_folder_with_class_subfolders(
    tmp_path: Path, data_config, mixed_images, channels: int
) -> None:
    mixed_images.write(tmp_path / "cats")
    mixed_images.write(tmp_path / "dogs")
    Image.new("RGB", (9, 9), mixed_images.rgb).save(tmp_path / "loose.png")
    dataset = load_split(
        data_config(tmp_path, "folder", path=str(tmp_path), image_size=16, channels=channels), "all"
    )
    assert len(dataset) == 9
    assert dataset.source.classes == ["cats", "dogs"] == dataset.classes
    assert sorted(dataset.labels.tolist()) == [-1] + [0] * 4 + [1] * 4
    for index in range(len(dataset)):
        image, label = dataset[index]
        assert image.shape == (channels, 16, 16) and image.dtype == torch.uint8
        path = dataset.source.files[index]
        assert label == {"cats": 0, "dogs": 1}.get(path.parent.name, -1)
        if path.name == "grey.jpg":
            expected = torch.full_like(image, mixed_images.grey)  # L -> RGB copies the grey level
        else:
            colour = mixed_images.rgb if channels == 3 else (mixed_images.grey,)
            expected = torch.tensor(colour, dtype=torch.uint8).view(-1, 1, 1).expand_as(image)
        assert (image.int() - expected.int()).abs().max() <= 1, path.name  # JPEG rounding


def test_flat_folder_is_unlabelled(tmp_path: Path, data_config, mixed_images) -> None:
    mixed_images.write(tmp_path)
    dataset = load_split(data_config(tmp_path, "folder", path=str(tmp_path), image_size=8), "all")
    assert len(dataset) == 4 and dataset.labels.tolist() == [-1] * 4
    assert num_classes_of(dataset) == 0


def test_corrupt_image_is_skipped_with_a_warning_naming_it(
    tmp_path: Path, data_config, mixed_images
) -> None:
    mixed_images.write(tmp_path)
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
    config = data_config(tmp_path, "folder", path=str(tmp_path), image_size=8, batch_size=2)
    dataset = load_split(config, "all")
    index = dataset.source.files.index(corrupt)
    with pytest.warns(UserWarning, match="broken.png"):
        assert dataset[index] is None

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loader = DataLoader(dataset, batch_size=2, collate_fn=collate)
        seen = sum(len(images) for images, _ in loader)
        datamodule = SimCLRDataModule(config)
        epoch = list(datamodule.train_dataloader())
    assert seen == 4  # the five files less the corrupt one
    assert len(epoch) == 2 and all(images.dtype == torch.uint8 for images, _ in epoch)


def test_a_decompression_bomb_is_skipped_with_a_warning(
    tmp_path: Path, data_config, mixed_images, monkeypatch
) -> None:
    mixed_images.write(tmp_path)
    Image.new("L", (300, 300)).save(tmp_path / "bomb.png")
    # more than twice PIL's pixel limit: PIL raises DecompressionBombError rather than decode
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300 * 300 // 3)
    config = data_config(tmp_path, "folder", path=str(tmp_path), image_size=8, batch_size=2)
    dataset = load_split(config, "all")
    bomb = dataset.source.files.index(tmp_path / "bomb.png")
    with pytest.warns(UserWarning, match="bomb.png"):
        assert dataset[bomb] is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loader = DataLoader(dataset, batch_size=2, collate_fn=collate)
        assert sum(len(images) for images, _ in loader) == 4  # the other files all decode


def test_a_batch_of_only_unreadable_files_is_none(tmp_path: Path, mixed_images) -> None:
    mixed_images.write(tmp_path)  # sorted: grey.jpg palette.png rgb.png rgba.png
    for name in ("a.png", "b.png"):  # sorted first: the whole first batch of 2
        (tmp_path / name).write_bytes(b"not an image")
    dataset = PreparedImages(ImageFolder(tmp_path, channels=3), image_size=8, channels=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batches = list(DataLoader(dataset, batch_size=2, collate_fn=collate))
    assert batches[0] is None
    assert [len(batch[0]) for batch in batches[1:]] == [2, 2]


def test_folder_errors(tmp_path: Path, data_config) -> None:
    with pytest.raises(DataError, match="is not a directory"):
        load_split(data_config(tmp_path, "folder", path=str(tmp_path / "absent")), "all")
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match="holds no image files"):
        load_split(data_config(tmp_path, "folder", path=str(tmp_path)), "all")


def test_a_folder_of_no_images_is_told_what_it_holds_and_what_is_accepted(tmp_path: Path):
    for name in ("a/notes.txt", "a/more.TXT", "b/table.csv", "b/README", "c/photo.heic"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("not an image")
    with pytest.raises(DataError) as raised:
        ImageFolder(tmp_path)
    message = str(raised.value)
    assert "\n" not in message
    found = "found 1 .csv, 1 .heic, 2 .txt, 1 without extension"
    assert f"data.path={str(tmp_path)!r} holds no image files ({found}; images are " in message
    assert all(extension in message for extension in (".jpg", ".png", ".gif", ".webp", ".tif"))
    assert "CLASS" not in message and "lay" not in message  # no layout it already has
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"holds no image files \(found no files; images are"):
        ImageFolder(tmp_path / "empty")


def test_gif_and_webp_files_are_images_of_their_class_folders(tmp_path: Path) -> None:
    grey = np.arange(36, dtype=np.uint8).reshape(6, 6) * 7
    (tmp_path / "gifs").mkdir()
    (tmp_path / "webps").mkdir()
    frames = [Image.fromarray(grey), Image.fromarray(255 - grey)]
    frames[0].save(tmp_path / "gifs" / "animated.GIF", save_all=True, append_images=frames[1:])
    Image.fromarray(grey).save(tmp_path / "webps" / "lossless.webp", lossless=True)
    folder = ImageFolder(tmp_path, channels=1)
    assert folder.classes == ["gifs", "webps"] and folder.labels.tolist() == [0, 1]
    for index in range(2):
        image, _ = folder[index]
        assert torch.equal(image[0], torch.from_numpy(grey))  # the first frame of the GIF


def test_a_subset_of_a_folder_keeps_its_labels_and_classes(tmp_path: Path, mixed_images) -> None:
    mixed_images.write(tmp_path / "cats")
    mixed_images.write(tmp_path / "dogs")
    folder = ImageFolder(tmp_path)
    subset = LabelledSubset(folder, [6, 1, 4])
    assert subset.labels.tolist() == [folder.labels[i].item() for i in (6, 1, 4)] == [1, 0, 1]
    assert subset.classes == ["cats", "dogs"]
    assert torch.equal(subset[0][0], folder[6][0])


# ----------------------------------------------------------------------------- in memory


def test_in_memory_batches_are_one_gather_equal_to_image_by_image(cifar10_root, data_config):
    root, images, labels = cifar10_root
    dataset = load_split(data_config(root, "cifar10", image_size=32), "train")
    batch = dataset.__getitems__([7, 2, 2, 9])
    batch_images, batch_labels = batch
    assert torch.equal(batch_images, torch.stack([dataset[i][0] for i in [7, 2, 2, 9]]))
    assert batch_labels.tolist() == [dataset[i][1] for i in [7, 2, 2, 9]]
    loader = DataLoader(dataset, batch_size=4, collate_fn=collate)
    batches = list(loader)
    assert [len(images) for images, _ in batches] == [4, 4, 2]
    assert torch.equal(torch.cat([b[0] for b in batches]), torch.from_numpy(images[:10]))
    assert torch.cat([b[1] for b in batches]).tolist() == labels[:10].tolist()


def test_array_images_refuse_what_is_not_uint8_n_c_h_w() -> None:
    with pytest.raises(DataError, match="expected uint8 images"):
        ArrayImages(torch.zeros(2, 1, 4, 4), torch.zeros(2))
    with pytest.raises(DataError, match="expected uint8 images"):
        ArrayImages(torch.zeros(1, 4, 4, dtype=torch.uint8), torch.zeros(1))


def test_array_images_subset_and_prepared_keep_labels_and_classes() -> None:
    dataset = array_images()
    subset = dataset.subset([4, 0])
    assert torch.equal(subset.images, dataset.images[[4, 0]])
    assert subset.labels.tolist() == [1, 0] and subset.classes == ["a", "b", "c"]
    assert dataset.prepared(4, 3).images is dataset.images  # already the size: no copy
    prepared = dataset.prepared(6, 1)
    assert prepared.images.shape == (10, 1, 6, 6) and torch.equal(prepared.labels, dataset.labels)


# ----------------------------------------------------------------------------- collate


def test_a_gathered_batch_is_a_tuple_passed_through_as_it_is() -> None:
    dataset = array_images()
    gathered = dataset.__getitems__([3, 1])
    assert isinstance(gathered, GatheredBatch) and isinstance(gathered, tuple)
    images, labels = collate(gathered)
    assert images is gathered[0] and labels is gathered[1]  # no copy, no re-stacking
    assert type(collate(gathered)) is tuple


def test_collate_drops_unreadable_samples_and_stacks_the_rest() -> None:
    first, second = (torch.full((1, 2, 2), 5, dtype=torch.uint8), 3), (torch.zeros(1, 2, 2), 7)
    images, labels = collate([None, first, None, second])
    assert images.shape == (2, 1, 2, 2) and labels.tolist() == [3, 7]
    assert torch.equal(images[0], first[0].float())


def test_collate_of_only_unreadable_samples_is_none() -> None:
    assert collate([None, None, None]) is None


def test_num_classes_is_the_largest_label_plus_one_and_zero_without_labels() -> None:
    assert num_classes_of(array_images()) == 3
    unlabelled = ArrayImages(torch.zeros(3, 1, 2, 2, dtype=torch.uint8), torch.full((3,), -1))
    assert num_classes_of(unlabelled) == 0
    assert num_classes_of(unlabelled.subset([])) == 0
