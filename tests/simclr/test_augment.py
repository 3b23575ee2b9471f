"""The two views t(x), t'(x) of simclr/augment.py: shapes, ranges, and each op on its own."""

from __future__ import annotations

import kornia.augmentation as K
import pytest
import torch
import torch.nn.functional as F

from simclr.augment import SimCLRViews, build_augmentations, view_options
from simclr.config import AugmentConfig

OPS = ("crop", "flip", "color", "grayscale", "blur", "solarize")
SIZE = 16


def config_with(*enabled: str, normalize: bool = False, **probabilities: float) -> AugmentConfig:
    """Only the ops in ``enabled`` switched on, each at the probability given (default: its own)."""
    config = AugmentConfig()
    for op in OPS:
        getattr(config, op).enabled = op in enabled
    for op, p in probabilities.items():
        getattr(config, op).p = p
    config.normalize.enabled = normalize
    return config


def views_of(config: AugmentConfig, channels: int, mean=None, std=None) -> SimCLRViews:
    mean, std = mean or [0.5] * channels, std or [0.25] * channels
    return SimCLRViews.from_config(config, SIZE, channels, mean, std)


def ops_of(config: AugmentConfig, image_size: int, channels: int):
    return build_augmentations(image_size, channels, **view_options(config))


def random_images(batch: int, channels: int, size: int = SIZE, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, channels, size, size), generator=generator).byte()


def colour_times_intensity(batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose every pixel is one colour scaled by an intensity: hue is the same everywhere."""
    generator = torch.Generator().manual_seed(seed)
    colour = torch.tensor([0.9, 0.5, 0.2]).view(1, 3, 1, 1)
    intensity = 0.2 + 0.8 * torch.rand(batch, 1, SIZE, SIZE, generator=generator)
    return colour * intensity, colour


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("input_size", [SIZE, 24])
def test_views_shape_dtype_and_range(seeded, channels: int, batch: int, input_size: int) -> None:
    images = random_images(batch, channels, input_size)
    config = AugmentConfig()
    config.solarize.enabled = True
    config.normalize.enabled = False
    view1, view2 = views_of(config, channels)(images)
    for view in (view1, view2):
        assert view.shape == (batch, channels, SIZE, SIZE)
        assert view.dtype == torch.float32
        assert view.min() >= 0.0 and view.max() <= 1.0


@pytest.mark.parametrize("channels", [1, 3])
def test_views_differ_from_each_other_and_from_the_input(seeded, channels: int) -> None:
    images = random_images(8, channels)
    config = AugmentConfig()
    config.normalize.enabled = False
    view1, view2 = views_of(config, channels)(images)
    unit = images.float() / 255
    assert not torch.allclose(view1, view2)
    assert not torch.allclose(view1, unit) and not torch.allclose(view2, unit)
    # independent draws for every image, not one draw per batch
    assert all(not torch.allclose(view1[i], view2[i]) for i in range(8))


@pytest.mark.parametrize("channels", [1, 3])
def test_everything_off_gives_the_input_over_255(channels: int) -> None:
    images = random_images(4, channels)
    view1, view2 = views_of(config_with(), channels)(images)
    assert torch.equal(view1, images.float() / 255)
    assert torch.equal(view2, images.float() / 255)


def test_without_crop_other_sizes_are_resized_to_image_size() -> None:
    images = random_images(2, 3, size=40)
    view, _ = views_of(config_with(), 3)(images)
    expected = F.interpolate(
        images.float() / 255, size=(SIZE, SIZE), mode="bilinear", antialias=True
    )
    torch.testing.assert_close(view, expected.clamp(0, 1))


def test_flip_with_p_1_is_exactly_the_mirrored_image() -> None:
    images = random_images(3, 3)
    view1, view2 = views_of(config_with("flip", flip=1.0), 3)(images)
    mirrored = images.float().flip(-1) / 255
    assert torch.equal(view1, mirrored) and torch.equal(view2, mirrored)


def test_crop_of_the_whole_square_is_the_identity() -> None:
    config = config_with("crop")
    config.crop.scale, config.crop.ratio = [1.0, 1.0], [1.0, 1.0]
    images = random_images(3, 3)
    view, _ = views_of(config, 3)(images)
    torch.testing.assert_close(view, images.float() / 255, atol=1e-5, rtol=0)


def test_crop_zooms_in_at_small_scale(seeded) -> None:
    # a crop of at most 10% of a checkerboard enlarged back to 16 px has fewer sign changes
    config = config_with("crop")
    config.crop.scale = [0.05, 0.1]
    board = ((torch.arange(SIZE).view(-1, 1) + torch.arange(SIZE)) % 2 * 255).byte()
    images = board.expand(4, 1, SIZE, SIZE).clone()
    view, _ = views_of(config, 1)(images)
    changes = (view[..., 1:] > 0.5) != (view[..., :-1] > 0.5)
    assert changes.float().mean() < 0.5


@pytest.mark.parametrize("image_size, input_size", [(16, 16), (16, 40)])
def test_batched_crop_equals_kornias_per_image_crop(seeded, image_size, input_size) -> None:
    # the crop is one warp for the whole batch (a GPU runs it in one launch, not one per image);
    # Kornia's per-image crop (cropping_mode="slice") is the truth for the same boxes
    (crop,) = ops_of(config_with("crop"), image_size, 3)
    assert crop.flags["cropping_mode"] == "resample"
    images = torch.rand(8, 3, input_size, input_size)
    batched = crop(images)
    per_image = K.RandomResizedCrop((image_size, image_size), cropping_mode="slice")
    torch.testing.assert_close(batched, per_image(images, params=crop._params), atol=1e-4, rtol=0)


@pytest.mark.parametrize("enabled", [("crop", "flip", "blur"), ("crop",), ("blur",)])
def test_spatial_ops_without_colour_keep_every_pixels_hue(seeded, enabled: tuple) -> None:
    images, colour = colour_times_intensity(6)
    view, _ = views_of(config_with(*enabled, flip=1.0, blur=1.0), 3)(images)
    # every op here treats the channels alike, so each pixel stays the colour times an intensity
    intensity = view[:, :1] / colour[:, :1]
    torch.testing.assert_close(view, intensity * colour, atol=1e-5, rtol=1e-5)


def test_colour_jitter_changes_the_hue(seeded) -> None:
    images, colour = colour_times_intensity(6)
    view, _ = views_of(config_with("color", color=1.0), 3)(images)
    ratio = view[:, 1] / view[:, 0].clamp_min(1e-6)
    assert not torch.allclose(ratio, torch.full_like(ratio, 0.5 / 0.9), atol=1e-3)


def test_grayscale_with_p_1_gives_the_luminance_in_every_channel() -> None:
    images = random_images(3, 3)
    view, _ = views_of(config_with("grayscale", grayscale=1.0), 3)(images)
    unit = images.float() / 255
    luminance = 0.299 * unit[:, 0] + 0.587 * unit[:, 1] + 0.114 * unit[:, 2]
    for channel in range(3):
        torch.testing.assert_close(view[:, channel], luminance, atol=1e-5, rtol=0)


def test_solarize_with_p_1_inverts_pixels_above_the_threshold() -> None:
    config = config_with("solarize", solarize=1.0)
    config.solarize.threshold = 0.3
    images = random_images(3, 3)
    view, _ = views_of(config, 3)(images)
    unit = images.float() / 255
    torch.testing.assert_close(view, torch.where(unit >= 0.3, 1 - unit, unit), atol=1e-6, rtol=0)


def test_blur_keeps_a_constant_image_and_smooths_noise(seeded) -> None:
    config = config_with("blur", blur=1.0)
    config.blur.sigma = [1.5, 2.0]
    views = views_of(config, 1)
    constant = torch.full((2, 1, SIZE, SIZE), 77, dtype=torch.uint8)
    torch.testing.assert_close(views(constant)[0], constant.float() / 255)
    noise = random_images(2, 1)
    assert views(noise)[0].std() < 0.6 * (noise.float() / 255).std()


def test_grayscale_input_gets_brightness_and_contrast_jitter_only() -> None:
    ops = ops_of(AugmentConfig(), SIZE, 1)
    jitters = [op for op in ops if isinstance(op, K.ColorJitter)]
    assert len(jitters) == 1
    jitter = jitters[0]
    assert (jitter.brightness, jitter.contrast, jitter.saturation, jitter.hue) == (0.8, 0.8, 0, 0)
    assert not any(isinstance(op, K.RandomGrayscale) for op in ops)
    colour_ops = ops_of(AugmentConfig(), SIZE, 3)
    colour_jitter = next(op for op in colour_ops if isinstance(op, K.ColorJitter))
    assert (colour_jitter.saturation, colour_jitter.hue) == (0.8, 0.2)
    assert any(isinstance(op, K.RandomGrayscale) for op in colour_ops)


@pytest.mark.parametrize("strength", [0.5, 1.0])
def test_colour_strength_scales_the_jitter(strength: float) -> None:
    config = AugmentConfig()
    config.color.strength = strength
    jitter = next(op for op in ops_of(config, SIZE, 3) if isinstance(op, K.ColorJitter))
    s = strength
    expected = (0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s)
    assert (jitter.brightness, jitter.contrast, jitter.saturation, jitter.hue) == pytest.approx(
        expected
    )
    assert jitter.p == config.color.p


@pytest.mark.parametrize("op", [op for op in OPS if op != "crop"])  # the crop always crops
def test_probability_zero_removes_the_op(op: str) -> None:
    config = AugmentConfig()
    getattr(config, op).enabled = True
    getattr(config, op).p = 0.0
    default_ops = ops_of(AugmentConfig(), SIZE, 3)  # solarize is off by default
    assert len(ops_of(config, SIZE, 3)) == len(default_ops) - (op != "solarize")


@pytest.mark.parametrize("channels", [1, 3])
def test_uint8_and_float_input_give_the_same_views(channels: int) -> None:
    images = random_images(4, channels)
    views = views_of(AugmentConfig(), channels)
    torch.manual_seed(5)
    from_uint8 = views(images)
    torch.manual_seed(5)
    from_float = views(images.float() / 255)
    for a, b in zip(from_uint8, from_float):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_a_torch_seed_reproduces_the_views() -> None:
    images = random_images(4, 3)
    views = views_of(AugmentConfig(), 3)
    torch.manual_seed(1)
    first = views(images)
    torch.manual_seed(1)
    again = views(images)
    torch.manual_seed(2)
    other = views(images)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.allclose(first[0], other[0])


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("chunk_size", [4, 5])  # 5: the last chunk holds the other 2
def test_views_made_in_chunks_are_the_views_of_the_whole_batch(channels, chunk_size) -> None:
    """One draw for all the images, then each op a chunk at a time: the same views (each op
    acts on each image alone), and torch's random state left where the whole batch leaves it."""
    images = random_images(12, channels, size=20)  # 20 px: the crop resamples to 16
    config = config_with(*OPS, normalize=True, grayscale=0.5, blur=0.5, solarize=0.5)
    views = views_of(config, channels)
    torch.manual_seed(3)
    whole = views(images)
    after_whole = torch.get_rng_state()
    torch.manual_seed(3)
    chunked = views(images, chunk_size=chunk_size)
    assert torch.equal(torch.get_rng_state(), after_whole)
    for made, expected in zip(chunked, whole):
        torch.testing.assert_close(made, expected, rtol=1e-6, atol=1e-6)
    assert not torch.allclose(whole[0], whole[1])


@pytest.mark.parametrize(
    "channels, mean, std", [(1, [0.3], [0.2]), (3, [0.1, 0.5, 0.9], [0.5, 0.25, 0.125])]
)
def test_normalisation_uses_the_given_mean_and_std(channels: int, mean: list, std: list) -> None:
    images = random_images(2, channels)
    view, _ = views_of(config_with(normalize=True), channels, mean, std)(images)
    unit = images.float() / 255
    expected = (unit - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)
    torch.testing.assert_close(view, expected)


@pytest.mark.parametrize("shape", [(2, 3, SIZE, SIZE), (3, SIZE, SIZE)])
def test_wrong_channel_count_or_rank_is_refused(shape: tuple) -> None:
    with pytest.raises(ValueError, match="expected images of shape"):
        views_of(AugmentConfig(), 1)(torch.zeros(shape, dtype=torch.uint8))


@pytest.mark.parametrize(("size", "channels"), [(28, 1), (32, 3), (96, 3), (224, 3)])
def test_the_fused_views_dispatch_at_most_400_aten_ops(size: int, channels: int) -> None:
    """Launches, not arithmetic, bound the views of small images on a GPU: the fused path
    dispatches at most 400 aten ops for both views (Kornia's modules: 3,104 to 4,086)."""
    from torch.profiler import ProfilerActivity, profile

    views = SimCLRViews(size, channels)
    images = random_images(4, channels, size)
    views(images)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        views(images)
    ops = sum(1 for event in prof.events() if event.name.startswith("aten::"))
    assert ops <= 400


@pytest.mark.parametrize("channels", [1, 3])
def test_pipelines_and_their_reach_from_config(channels: int) -> None:
    config = AugmentConfig()
    assert views_of(config, channels).pipeline == "fused"
    config.pipeline = "modules"
    views = views_of(config, channels)
    assert views.pipeline == "modules"
    view1, view2 = views(random_images(3, channels))
    assert view1.shape == view2.shape == (3, channels, SIZE, SIZE)
    with pytest.raises(ValueError, match="pipeline='kornia'"):
        SimCLRViews(SIZE, channels, pipeline="kornia")


KORNIA_OP = {
    "crop": K.RandomResizedCrop,
    "flip": K.RandomHorizontalFlip,
    "color": K.ColorJitter,
    "grayscale": K.RandomGrayscale,
    "blur": K.RandomGaussianBlur,
    "solarize": K.RandomSolarize,
}


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("off", OPS)
def test_every_switch_reaches_both_pipelines_alike(seeded, channels: int, off: str) -> None:
    """With one op switched off, the fused path draws it with probability 0 exactly where the
    modules path leaves its Kornia module out, and both make valid views of one seed."""
    enabled = [op for op in OPS if op != off]
    config = config_with(*enabled)
    views = views_of(config, channels)
    d = views.distribution
    drawn = {
        "crop": d.crop,
        "flip": d.flip_p > 0,
        "color": d.color_p > 0,
        "grayscale": d.grayscale_p > 0,
        "blur": d.blur_p > 0,
        "solarize": d.solarize_p > 0,
    }
    present = {op: any(isinstance(m, KORNIA_OP[op]) for m in views.augment) for op in OPS}
    assert drawn == present
    assert not drawn[off]
    images = random_images(4, channels, 20)
    torch.manual_seed(2)
    first = torch.cat(views(images))
    torch.manual_seed(2)
    assert torch.equal(first, torch.cat(views(images)))  # torch.manual_seed reproduces them
    assert first.shape == (8, channels, SIZE, SIZE) and first.min() >= 0 and first.max() <= 1
