"""The deterministic preprocessing of simclr/preprocess.py: decoding a file (every PIL mode to the
picture a person sees, checked against the same picture in 8 bits or values computed by hand),
converting channels, resizing and centre-cropping, scaling to [0, 1] and normalising."""

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
    seen_picture,
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


def random_grey(height: int = 5, width: int = 7, seed: int = 1) -> np.ndarray:
    """An 8-bit grey picture holding 0 and 255, the truth its other encodings decode to."""
    grey = np.random.default_rng(seed).integers(0, 256, (height, width), dtype=np.uint8)
    grey.flat[:2] = (0, 255)
    return grey


def decoded(path: Path, channels: int = 1) -> np.ndarray:
    image = decode_image(path, channels)
    return image[0].numpy() if channels == 1 else image.permute(1, 2, 0).numpy()


@pytest.mark.parametrize(("mode", "suffix"), [("I;16", "png"), ("I;16B", "tif"), ("I;16", "tif")])
def test_a_16_bit_picture_decodes_to_its_8_bit_original(
    tmp_path: Path, mode: str, suffix: str
) -> None:
    grey = random_grey()
    Image.fromarray(grey).save(tmp_path / "eight.png")
    dtype = ">u2" if mode == "I;16B" else "<u2"
    stored = (grey.astype(dtype) * 257).tobytes()  # x * 257: the 8-bit picture in 16 bits
    Image.frombytes(mode, grey.shape[::-1], stored).save(tmp_path / f"sixteen.{suffix}")
    assert Image.open(tmp_path / f"sixteen.{suffix}").mode == mode
    for channels in (1, 3):
        eight = decoded(tmp_path / "eight.png", channels)
        assert np.array_equal(decoded(tmp_path / f"sixteen.{suffix}", channels), eight)


@pytest.mark.parametrize("mode", ["I;16", "I;16L", "I;16B"])
def test_16_bit_values_are_divided_by_257_and_rounded(mode: str) -> None:
    values = np.array([[0, 128, 129, 257 * 100, 65535]])  # by hand: 0, 0.498, 0.502, 100, 255
    dtype = ">u2" if mode == "I;16B" else "<u2"
    image = Image.frombytes(mode, (5, 1), values.astype(dtype).tobytes())
    assert np.asarray(seen_picture(image)).tolist() == [[0, 0, 1, 100, 255]]


def test_a_32_bit_integer_picture_is_scaled_by_the_positive_range_of_int32(tmp_path: Path) -> None:
    grey = random_grey()
    step = 8421505  # (2**31 - 1) / 255 = 8421504.996..., so x * step decodes to x
    values = np.minimum(grey.astype(np.int64) * step, 2**31 - 1)  # 255 as int32's maximum
    Image.fromarray(values.astype(np.int32)).save(tmp_path / "int32.tif")
    assert Image.open(tmp_path / "int32.tif").mode == "I"
    assert np.array_equal(decoded(tmp_path / "int32.tif"), grey)
    negative = Image.fromarray(np.array([[-5, -(2**31), 2**31 - 1]], dtype=np.int32))
    assert np.asarray(seen_picture(negative)).tolist() == [[0, 0, 255]]


def test_a_float_picture_within_0_and_1_is_scaled_by_255(tmp_path: Path) -> None:
    grey = np.random.default_rng(4).integers(50, 151, (5, 7), dtype=np.uint8)  # not min..max
    Image.fromarray(grey.astype(np.float32) / 255).save(tmp_path / "float.tif")
    assert Image.open(tmp_path / "float.tif").mode == "F"
    assert np.array_equal(decoded(tmp_path / "float.tif"), grey)
    assert np.array_equal(decoded(tmp_path / "float.tif", channels=3), np.stack([grey] * 3, -1))


def test_a_float_picture_beyond_0_and_1_is_stretched_from_its_min_to_its_max(
    tmp_path: Path,
) -> None:
    grey = random_grey()  # 0 and 255 in it: min -100 and max 920 are 0 and 255
    Image.fromarray(grey.astype(np.float32) * 4 - 100).save(tmp_path / "float.tif")
    assert np.array_equal(decoded(tmp_path / "float.tif"), grey)
    constant = Image.fromarray(np.full((2, 2), 7.5, dtype=np.float32))
    assert np.asarray(seen_picture(constant)).tolist() == [[0, 0], [0, 0]]
    odd = Image.fromarray(np.array([[np.nan, 0.5, np.inf, 1.0]], dtype=np.float32))
    assert np.asarray(seen_picture(odd)).tolist() == [[0, 128, 0, 255]]  # 127.5 rounds to even


def test_a_one_bit_picture_is_black_and_white(tmp_path: Path) -> None:
    grey = np.where(random_grey() > 127, 255, 0).astype(np.uint8)
    Image.fromarray(grey).convert("1").save(tmp_path / "bits.png")
    assert Image.open(tmp_path / "bits.png").mode == "1"
    assert np.array_equal(decoded(tmp_path / "bits.png"), grey)


def test_transparent_pixels_show_the_white_background(tmp_path: Path) -> None:
    # by hand: c * a / 255 + 255 * (255 - a) / 255, exact for a = 51 and c a multiple of 5
    colour, alpha = (100, 200, 5), np.array([[0, 51, 255]], dtype=np.uint8)
    rgba = np.zeros((1, 3, 4), dtype=np.uint8)
    rgba[..., :3], rgba[..., 3] = colour, alpha
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    assert Image.open(tmp_path / "rgba.png").mode == "RGBA"
    expected = [[255, 255, 255], [224, 244, 205], list(colour)]
    assert decoded(tmp_path / "rgba.png", channels=3).tolist() == [expected]
    Image.fromarray(rgba[..., [0, 3]]).save(tmp_path / "la.png")
    assert Image.open(tmp_path / "la.png").mode == "LA"
    assert decoded(tmp_path / "la.png").tolist() == [[255, 224, 100]]
    palette = Image.frombytes("PA", (3, 1), bytes([1, 0, 1, 51, 1, 255]))
    palette.putpalette([0, 0, 0, *colour])  # every pixel is colour 1, under alpha 0, 51, 255
    assert np.asarray(seen_picture(palette)).tolist() == [expected]


def test_a_palette_picture_shows_its_colours_and_its_transparent_entry_as_white(
    tmp_path: Path,
) -> None:
    colours = random_rgb(2, 3)
    Image.fromarray(colours).save(tmp_path / "rgb.png")
    palette = Image.fromarray(colours).convert("P", palette=Image.Palette.ADAPTIVE, colors=256)
    palette.save(tmp_path / "palette.png")
    assert Image.open(tmp_path / "palette.png").mode == "P"
    assert np.array_equal(decoded(tmp_path / "palette.png", 3), decoded(tmp_path / "rgb.png", 3))
    assert np.array_equal(decoded(tmp_path / "palette.png"), decoded(tmp_path / "rgb.png"))
    index = np.asarray(palette)[0, 0]
    palette.save(tmp_path / "transparent.png", transparency=int(index))
    expected = decoded(tmp_path / "rgb.png", 3).copy()
    expected[np.asarray(palette) == index] = 255
    assert np.array_equal(decoded(tmp_path / "transparent.png", 3), expected)


def test_a_cmyk_picture_shows_its_rgb_colours(tmp_path: Path) -> None:
    # by hand: no ink is white, full black ink black, full cyan (0, 255, 255), and so on
    inks = [(0, 0, 0, 0), (0, 0, 0, 255), (255, 0, 0, 0), (0, 255, 0, 0), (0, 0, 255, 0)]
    rgb = [[255, 255, 255], [0, 0, 0], [0, 255, 255], [255, 0, 255], [255, 255, 0]]
    image = Image.new("CMYK", (len(inks), 1))
    image.putdata(inks)
    image.save(tmp_path / "cmyk.tif")
    assert decoded(tmp_path / "cmyk.tif", channels=3).tolist() == [rgb]


def test_gif_and_webp_decode_to_their_picture_the_first_frame_of_an_animation(
    tmp_path: Path,
) -> None:
    grey, other = random_grey(), random_grey(seed=2)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    frames = [Image.fromarray(grey), Image.fromarray(other)]
    frames[0].save(tmp_path / "animated.gif", save_all=True, append_images=frames[1:])
    assert Image.open(tmp_path / "animated.gif").n_frames == 2
    Image.fromarray(grey).save(tmp_path / "lossless.webp", lossless=True)
    for name in ("animated.gif", "lossless.webp"):
        for channels in (1, 3):
            assert np.array_equal(
                decoded(tmp_path / name, channels), decoded(tmp_path / "grey.png", channels)
            )


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
