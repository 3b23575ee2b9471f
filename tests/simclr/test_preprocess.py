"""The deterministic preprocessing of simclr/preprocess.py: decoding a file, converting channels,
resizing and centre-cropping, scaling to [0, 1] and normalising."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from simclr.preprocess import (
    UNREADABLE_IMAGE,
    Normalize,
    decode_image,
    prepare_image,
    to_unit_float,
)


def random_rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luma, L = (299 R + 587 G + 114 B) / 1000, as an integer image."""
    r, g, b = (rgb[..., channel].astype(np.float64) for channel in range(3))
    return np.rint((299 * r + 587 * g + 114 * b) / 1000)


# ----------------------------------------------------------------------------- decode_image


def test_decode_image_keeps_every_pixel_of_an_rgb_file_as_channels_height_width(
    tmp_path: Path,
) -> None:
    pixels = random_rgb(5, 7)  # not square: the height must come first
    Image.fromarray(pixels).save(tmp_path / "image.png")
    image = decode_image(tmp_path / "image.png", channels=3)
    assert image.dtype == torch.uint8 and image.shape == (3, 5, 7)
    assert image.is_contiguous()
    assert torch.equal(image, torch.from_numpy(pixels).permute(2, 0, 1))


def test_decode_image_to_one_channel_is_the_luminance(tmp_path: Path) -> None:
    pixels = random_rgb(6, 4, seed=1)
    Image.fromarray(pixels).save(tmp_path / "image.png")
    image = decode_image(str(tmp_path / "image.png"), channels=1)
    assert image.dtype == torch.uint8 and image.shape == (1, 6, 4)
    difference = image[0].double().numpy() - luma(pixels)
    assert np.abs(difference).max() <= 1  # PIL rounds in fixed point


def test_decode_image_of_a_grey_file_copies_the_grey_level_into_three_channels(
    tmp_path: Path,
) -> None:
    grey = np.random.default_rng(2).integers(0, 256, (4, 9), dtype=np.uint8)
    Image.fromarray(grey, mode="L").save(tmp_path / "grey.png")
    image = decode_image(tmp_path / "grey.png", channels=3)
    assert torch.equal(image, torch.from_numpy(grey).expand(3, 4, 9))
    assert torch.equal(decode_image(tmp_path / "grey.png", channels=1)[0], torch.from_numpy(grey))


@pytest.mark.parametrize("mode", ["RGBA", "P"])
def test_decode_image_converts_other_colour_modes_to_rgb(tmp_path: Path, mode: str) -> None:
    colour = (200, 100, 50)
    if mode == "RGBA":
        Image.new("RGBA", (3, 2), (*colour, 255)).save(tmp_path / "image.png")
    else:
        palette = Image.new("P", (3, 2), 0)
        palette.putpalette([*colour, *[0] * 765])  # colour 0 of the palette
        palette.save(tmp_path / "image.png")
    image = decode_image(tmp_path / "image.png", channels=3)
    assert torch.equal(image, torch.tensor(colour, dtype=torch.uint8).view(3, 1, 1).expand(3, 2, 3))


def test_decode_image_raises_an_unreadable_image_error_for_what_is_not_an_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "text.png").write_bytes(b"not an image")
    truncated = tmp_path / "truncated.png"
    Image.fromarray(random_rgb(32, 32)).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:60])
    Image.new("L", (300, 300)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300 * 300 // 3)  # over twice the limit
    for name in ("text.png", "truncated.png", "bomb.png", "absent.png"):
        with pytest.raises(UNREADABLE_IMAGE):
            decode_image(tmp_path / name, channels=3)


# ----------------------------------------------------------------------------- prepare_image


def test_prepare_image_converts_channels_and_crops_the_centre() -> None:
    grey = torch.arange(40 * 20, dtype=torch.uint8).view(1, 40, 20)  # 40 tall, 20 wide
    assert torch.equal(prepare_image(grey, 20, 3), grey.expand(3, 40, 20)[:, 10:30])
    rgb = torch.tensor([255, 0, 0], dtype=torch.uint8).view(3, 1, 1).expand(3, 8, 8)
    assert prepare_image(rgb, 8, 1).unique().tolist() == [76]  # 0.299 * 255
    assert prepare_image(grey, 10, 1).shape == (1, 10, 10)


def test_prepare_image_of_a_batch_equals_image_by_image() -> None:
    batch = torch.from_numpy(random_rgb(24, 30)).permute(2, 0, 1).expand(2, 3, 24, 30).clone()
    batch[1] = 255 - batch[1]
    prepared = prepare_image(batch, 12, 1)
    assert prepared.shape == (2, 1, 12, 12) and prepared.dtype == torch.uint8
    for index in range(2):
        assert torch.equal(prepared[index], prepare_image(batch[index], 12, 1))


# ----------------------------------------------------------------------------- to_unit_float


def test_to_unit_float_scales_uint8_and_keeps_float() -> None:
    images = torch.tensor([0, 51, 255], dtype=torch.uint8)
    unit = to_unit_float(images)
    assert unit.dtype == torch.float32
    assert unit.tolist() == pytest.approx([0.0, 0.2, 1.0])
    floats = torch.tensor([0.25, 0.5], dtype=torch.float64)
    assert to_unit_float(floats).dtype == torch.float32
    assert to_unit_float(floats).tolist() == [0.25, 0.5]  # taken as already in [0, 1]


# ----------------------------------------------------------------------------- Normalize


@pytest.mark.parametrize(
    "channels, mean, std", [(1, [0.3], [0.2]), (3, [0.1, 0.5, 0.9], [0.5, 0.25, 0.125])]
)
def test_normalize_uses_the_given_mean_and_std(channels: int, mean: list, std: list) -> None:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (2, channels, 16, 16), generator=generator).byte()
    unit = images.float() / 255
    expected = (unit - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)
    torch.testing.assert_close(Normalize(mean, std)(images), expected)
    torch.testing.assert_close(Normalize(mean, std)(unit), expected)
    assert torch.equal(Normalize(mean, std, enabled=False)(images), unit)
