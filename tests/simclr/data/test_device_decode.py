"""JPEG files decoded where their batch is (simclr/data/device_decode.py), here on the CPU: the
images PIL decodes in the workers, in the batch's order, corrupt files left out with a warning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from simclr.data.device_decode import _decode_jpegs, decode_batch, luminance
from simclr.data.encoded import EncodedBatch, EncodedImages, collate_encoded
from simclr.data.images import collate
from simclr.data.splits import load_split
from tests.simclr.jpegs import (
    photo,
    write_garbage_jpeg,
    write_jpegs,
    write_png,
    write_truncated_jpeg,
)

SIZE = 24


def folder_splits(data_config, root: Path, channels: int | None) -> tuple:
    """(as the workers read it, as it comes encoded): the split of every file below ``root``."""
    config = data_config(root, "folder", path=str(root), image_size=SIZE, channels=channels)
    prepared = load_split(config, "all")
    return prepared, EncodedImages(prepared)


def batch_of(dataset, collate_fn=collate):
    return collate_fn([dataset[index] for index in range(len(dataset))])


def named(caught) -> list[str]:
    """The files named by the warnings of skipped images among ``caught``."""
    messages = [str(w.message) for w in caught if "skipping unreadable image" in str(w.message)]
    return [message.split(": ")[0].split()[-1] for message in messages]


@pytest.mark.parametrize("channels", [None, 1])  # the folder's own 3, and grey
def test_device_decoding_equals_the_workers_decoding(
    tmp_path: Path, data_config, channels: int | None
) -> None:
    jpegs = write_jpegs(tmp_path / "a") + write_jpegs(tmp_path / "b", seed=10)
    png = write_png(tmp_path / "b" / "png.png")
    prepared, encoded_images = folder_splits(data_config, tmp_path, channels)
    workers, encoded = batch_of(prepared), batch_of(encoded_images, collate_encoded)
    assert isinstance(encoded, EncodedBatch) and encoded.files == [str(p) for p in jpegs]
    files = sorted([*jpegs, png])
    assert encoded.is_jpeg.tolist() == [path != png for path in files]

    images, labels = decode_batch(encoded)
    # exact: PIL and torchvision both decode with libjpeg-turbo (integer IDCT, fancy
    # upsampling), and grey is PIL's own luma; measured here, the largest difference is 0
    assert images.shape == (len(files), channels or 3, SIZE, SIZE)
    assert torch.equal(images, workers[0])
    assert torch.equal(labels, workers[1]) and labels.tolist() == [0] * 6 + [1] * 7


def test_beside_device_jpegs_16_bit_and_gif_files_are_decoded_as_their_8_bit_picture(
    tmp_path: Path, data_config
) -> None:
    jpegs = write_jpegs(tmp_path / "a")
    grey = np.random.default_rng(3).integers(0, 256, (30, 20), dtype=np.uint8)
    (tmp_path / "b").mkdir()
    Image.fromarray(grey).save(tmp_path / "b" / "eight.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "b" / "sixteen.png")
    Image.fromarray(grey).save(tmp_path / "b" / "frame.gif")
    prepared, encoded_images = folder_splits(data_config, tmp_path, 1)
    encoded = batch_of(encoded_images, collate_encoded)
    assert encoded.files == [str(path) for path in jpegs] and len(encoded.images) == 3
    images, _ = decode_batch(encoded)
    assert torch.equal(images, batch_of(prepared)[0])
    eight, frame, sixteen = images[len(jpegs) + 0], images[len(jpegs) + 1], images[-1]
    assert [path.name for path in prepared.source.files[len(jpegs) :]] == [
        "eight.png",
        "frame.gif",
        "sixteen.png",
    ]
    assert torch.equal(sixteen, eight) and torch.equal(frame, eight)


def test_torchvision_decodes_the_pixels_pil_decodes(tmp_path: Path) -> None:
    """At full size, before any resizing: the measured tolerance of the test above (0)."""
    jpegs = write_jpegs(tmp_path)
    data = [torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8) for path in jpegs]
    decoded = _decode_jpegs(data, [str(p) for p in jpegs], torch.device("cpu"))
    for path, image in zip(jpegs, decoded):
        with Image.open(path) as pil:
            expected = torch.from_numpy(np.asarray(pil.convert("RGB")).copy()).permute(2, 0, 1)
        assert image.shape == expected.shape, path.name
        difference = (image.int() - expected.int()).abs().max().item()
        assert difference == 0, (path.name, difference)


def test_luminance_is_pils_luma() -> None:
    image = photo((37, 29), "RGB", seed=3)
    rgb = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)
    expected = torch.from_numpy(np.asarray(image.convert("L")).copy())
    assert torch.equal(luminance(rgb), expected[None])
    assert torch.equal(
        luminance(rgb[None].expand(2, -1, -1, -1)), expected[None, None].expand(2, 1, -1, -1)
    )


def test_a_corrupt_jpeg_is_skipped_with_a_warning_naming_it(tmp_path: Path, data_config) -> None:
    good = write_jpegs(tmp_path)
    truncated = write_truncated_jpeg(tmp_path / "1_truncated.jpg")  # its header reads
    garbage = write_garbage_jpeg(tmp_path / "2_garbage.jpg")  # refused by PIL in the worker
    prepared, encoded_images = folder_splits(data_config, tmp_path, None)
    with pytest.warns(UserWarning) as caught:
        workers = batch_of(prepared)
    assert named(caught) == [str(truncated), str(garbage)]
    with pytest.warns(UserWarning) as caught:
        encoded = batch_of(encoded_images, collate_encoded)
    assert named(caught) == [str(garbage)]
    assert encoded.files == [str(path) for path in sorted([*good, truncated])]
    with pytest.warns(UserWarning, match="truncated") as caught:
        images, labels = decode_batch(encoded)
    assert named(caught) == [str(truncated)]
    assert len(images) == len(good) == len(workers[0])
    assert torch.equal(images, workers[0]) and torch.equal(labels, workers[1])


def test_a_batch_of_only_corrupt_files_is_none(tmp_path: Path) -> None:
    files = [write_truncated_jpeg(tmp_path / f"{i}.jpg", seed=i) for i in range(3)]
    data = [torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8) for path in files]
    batch = EncodedBatch(
        jpegs=torch.cat(data),
        jpeg_sizes=[len(d) for d in data],
        files=[str(p) for p in files],
        images=torch.empty((0, 3, SIZE, SIZE), dtype=torch.uint8),
        is_jpeg=torch.ones(3, dtype=torch.bool),
        labels=torch.arange(3),
        image_size=SIZE,
        channels=3,
    )
    with pytest.warns(UserWarning) as caught:
        assert decode_batch(batch) is None
    assert named(caught) == [str(p) for p in files]
