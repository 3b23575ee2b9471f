"""The fused ops of simclr/views/ops.py against the Kornia modules they replace: for the same
parameters, the same images to 1e-5, op by op and composed (the independent truth here is
Kornia's own implementation, handed our parameters through its ``params`` argument)."""

from __future__ import annotations

import kornia.augmentation as K
import pytest
import torch

from simclr.augment import SimCLRViews, blur_kernel_size
from simclr.views import ops as view_ops
from simclr.views.parameters import ViewDistribution, ViewParameters, draw_view_parameters

SIZE, INPUT, BATCH = 12, 20, 24
TOLERANCE = dict(rtol=0, atol=1e-5)
HALF = ViewDistribution(  # every gate at one half, so that each op meets on and off images
    flip_p=0.5, color_p=0.5, grayscale_p=0.5, blur_p=0.5, solarize_p=0.5
)


def images_with_ties(channels: int, size: int = INPUT, seed: int = 0) -> torch.Tensor:
    """[0, 1] images of few levels, so that channels tie and grey pixels occur (hue's edges)."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.randint(0, 4, (BATCH // 2, channels, size, size), generator=generator) / 3
    fine = torch.rand(BATCH // 2, channels, size, size, generator=generator)
    return torch.cat([coarse, fine])


def drawn(channels: int, seed: int = 0, distribution: ViewDistribution = HALF) -> ViewParameters:
    torch.manual_seed(seed)
    if channels == 1:
        distribution = ViewDistribution(**{**distribution.__dict__, "saturation": 0, "hue": 0})
    return draw_view_parameters(distribution, BATCH, INPUT, INPUT)


def shape_of(images: torch.Tensor) -> torch.Tensor:
    return torch.tensor(images.shape)


def kornia_crop_params(p: ViewParameters, images: torch.Tensor) -> dict:
    x0, y0, w, h = p.box.unbind(dim=1)
    x1, y1 = x0 + w - 1, y0 + h - 1
    src = torch.stack([x0, y0, x1, y0, x1, y1, x0, y1], dim=1).view(-1, 4, 2)
    corners = torch.tensor([[0, 0], [SIZE - 1, 0], [SIZE - 1, SIZE - 1], [0, SIZE - 1]])
    n = len(images)
    return {
        "src": src,
        "dst": corners.float().expand(n, 4, 2),
        "input_size": torch.tensor([INPUT, INPUT]).expand(n, 2),
        "output_size": torch.tensor([SIZE, SIZE]).expand(n, 2),
        "batch_prob": torch.ones(n),
        "forward_input_shape": shape_of(images),
    }


def kornia_jitter_params(p: ViewParameters, images: torch.Tensor, order) -> dict:
    factors = p.jitter_factors
    return {
        "brightness_factor": factors[:, 0],
        "contrast_factor": factors[:, 1],
        "saturation_factor": factors[:, 2],
        "hue_factor": factors[:, 3],
        "order": torch.tensor(order),
        "batch_prob": p.jitter.float(),
        "forward_input_shape": shape_of(images),
    }


def gate(on: torch.Tensor, images: torch.Tensor, **params) -> dict:
    return {"batch_prob": on.float(), "forward_input_shape": shape_of(images), **params}


def kornia_crop_and_flip(images: torch.Tensor, p: ViewParameters) -> torch.Tensor:
    crop = K.RandomResizedCrop((SIZE, SIZE), cropping_mode="resample")
    cropped = crop(images, params=kornia_crop_params(p, images))
    return K.RandomHorizontalFlip()(cropped, params=gate(p.flip, cropped))


def kornia_jitter(images: torch.Tensor, p: ViewParameters, order) -> torch.Tensor:
    jitter = K.ColorJitter(0.8, 0.8, 0.8, 0.2, p=0.5)
    return jitter(images, params=kornia_jitter_params(p, images, order))


def kornia_blur(images: torch.Tensor, p: ViewParameters) -> torch.Tensor:
    kernel = blur_kernel_size(SIZE, 0.3)
    blur = K.RandomGaussianBlur(kernel, (0.1, 2.0), p=0.5)
    return blur(images, params=gate(p.blur, images, sigma=p.sigma))


def kornia_solarize(images: torch.Tensor, p: ViewParameters, threshold: float) -> torch.Tensor:
    solarize = K.RandomSolarize(thresholds=(threshold, threshold), additions=0.0, p=0.5)
    params = gate(
        p.solarize, images, thresholds=torch.full((BATCH,), threshold), additions=torch.zeros(BATCH)
    )
    return solarize(images, params=params)


CONSTANTS = (view_ops.luma_weights(), view_ops.hue_offsets())


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("seed", [0, 1])
def test_crop_and_flip_is_kornias_resample_crop_then_flip(channels: int, seed: int) -> None:
    images, p = images_with_ties(channels, seed=seed), drawn(channels, seed)
    assert p.flip.any() and not p.flip.all()
    fused = view_ops.crop_and_flip(images, p.box, p.flip, view_ops.sampling_grid(SIZE))
    torch.testing.assert_close(fused, kornia_crop_and_flip(images, p), **TOLERANCE)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("order", [(0, 1, 2, 3), (3, 2, 1, 0), (2, 3, 0, 1), (1, 0, 3, 2)])
def test_jitter_is_kornias_color_jitter_in_each_order(channels: int, order) -> None:
    images, p = images_with_ties(channels, size=SIZE), drawn(channels)
    assert p.jitter.any() and not p.jitter.all()
    fused = view_ops.jitter_rows(images, p, slice(0, BATCH), order, CONSTANTS)
    torch.testing.assert_close(fused, kornia_jitter(images, p, order), **TOLERANCE)


@pytest.mark.parametrize("step", range(4))
def test_each_jitter_step_alone_is_kornias(step: int) -> None:
    images, p = images_with_ties(3, size=SIZE, seed=2), drawn(3, seed=2)
    fused = view_ops.jitter_rows(images, p, slice(0, BATCH), [step], CONSTANTS)
    jitter = K.ColorJitter(0.8, 0.8, 0.8, 0.2, p=0.5, order=[step])
    expected = jitter(images, params=kornia_jitter_params(p, images, [step]))
    torch.testing.assert_close(fused, expected, **TOLERANCE)


def test_grayscale_is_kornias_random_grayscale() -> None:
    images, p = images_with_ties(3, size=SIZE), drawn(3)
    fused = view_ops.grayscale(images, p.grayscale, view_ops.luma_weights())
    expected = K.RandomGrayscale(p=0.5)(images, params=gate(p.grayscale, images))
    torch.testing.assert_close(fused, expected, **TOLERANCE)


@pytest.mark.parametrize("channels", [1, 3])
def test_blur_is_kornias_gaussian_blur_with_each_images_sigma(channels: int) -> None:
    images, p = images_with_ties(channels, size=SIZE), drawn(channels)
    taps = view_ops.blur_taps(blur_kernel_size(SIZE, 0.3))
    fused = view_ops.gaussian_blur(images, taps, p.sigma, p.blur)
    torch.testing.assert_close(fused, kornia_blur(images, p), **TOLERANCE)


@pytest.mark.parametrize("threshold", [0.5, 0.3])
def test_solarize_is_kornias_random_solarize(threshold: float) -> None:
    images, p = images_with_ties(3, size=SIZE), drawn(3)
    fused = view_ops.solarize(images, threshold, p.solarize)
    torch.testing.assert_close(fused, kornia_solarize(images, p, threshold), **TOLERANCE)


@pytest.mark.parametrize("channels", [1, 3])
def test_the_fused_views_are_the_kornia_modules_composed(channels: int) -> None:
    """The whole of t ~ T: SimCLRViews' fused path against Kornia's modules one after the
    other, with the fused path's own parameters, every op on, solarization included (before
    the normalisation, a fixed affine map that would only scale the tolerance)."""
    gates = dict(flip_p=0.5, color_p=0.5, grayscale_p=0.5, blur_p=0.5, solarize_p=0.5)
    views = SimCLRViews(SIZE, channels, blur_kernel_fraction=0.3, normalize=False, **gates)
    images = (images_with_ties(channels) * 255).round().byte()
    torch.manual_seed(5)
    unit = views.resized(images)
    p = views.draw(unit)
    fused = views.finish(view_ops.jitter(views.geometry(unit, p), p, CONSTANTS), p)
    expected = []
    for group, order in enumerate(p.orders):
        rows = slice(group * BATCH, (group + 1) * BATCH)
        fields = {k: [order] if k == "orders" else v[rows] for k, v in p.__dict__.items()}
        part = ViewParameters(**fields)
        x = kornia_crop_and_flip(unit, part)
        x = kornia_jitter(x, part, order)
        if channels == 3:
            x = K.RandomGrayscale(p=0.5)(x, params=gate(part.grayscale, x))
        x = kornia_solarize(kornia_blur(x, part), part, 0.5)
        expected.append(views.normalize(x.clamp(0, 1)))
    torch.testing.assert_close(fused, torch.cat(expected), **TOLERANCE)
