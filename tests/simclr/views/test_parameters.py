"""The parameters of simclr/views/parameters.py against the distributions Kornia's modules draw
from: 10^5 draws of each parameter from each, one two-sample test per parameter (a fixed seed,
so the outcome is fixed), and the same test rejecting a deliberately changed setting."""

from __future__ import annotations

import dataclasses
from collections import Counter

import kornia.augmentation as K
import pytest
import torch
from scipy import stats

from simclr.views.parameters import ViewDistribution, draw_view_parameters

DRAWS, HEIGHT, WIDTH = 100_000, 28, 36  # a non-square input: the crop's fallback is not whole
ALPHA = 1e-3  # a p-value below this rejects "same distribution"
PAPER = ViewDistribution(solarize_p=0.2)


def ours(distribution: ViewDistribution, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    p = draw_view_parameters(distribution, DRAWS, HEIGHT, WIDTH)
    on = p.jitter
    return {
        "crop x0": p.box[:, 0],
        "crop y0": p.box[:, 1],
        "crop width": p.box[:, 2],
        "crop height": p.box[:, 3],
        "flip": p.flip.float(),
        "jitter": on.float(),
        "brightness": p.jitter_factors[on, 0],
        "contrast": p.jitter_factors[on, 1],
        "saturation": p.jitter_factors[on, 2],
        "hue": p.jitter_factors[on, 3],
        "grayscale": p.grayscale.float(),
        "blur": p.blur.float(),
        "sigma": p.sigma,
        "solarize": p.solarize.float(),
    }


def kornias(d: ViewDistribution, seed: int = 1) -> dict[str, torch.Tensor]:
    """The same parameters from the modules simclr.augment.build_augmentations makes."""
    torch.manual_seed(seed)
    shape = torch.Size([DRAWS, 3, HEIGHT, WIDTH])
    crop = K.RandomResizedCrop((8, 8), d.crop_scale, d.crop_ratio, cropping_mode="resample")
    box = crop.forward_parameters(shape)["src"]
    jitter_module = K.ColorJitter(d.brightness, d.contrast, d.saturation, d.hue, p=d.color_p)
    jitter = jitter_module.forward_parameters(shape)
    on = jitter["batch_prob"] > 0.5
    blur = K.RandomGaussianBlur(3, tuple(d.blur_sigma), p=d.blur_p).forward_parameters(shape)
    return {
        "crop x0": box[:, 0, 0],
        "crop y0": box[:, 0, 1],
        "crop width": box[:, 1, 0] - box[:, 0, 0] + 1,
        "crop height": box[:, 2, 1] - box[:, 0, 1] + 1,
        "flip": _gate(K.RandomHorizontalFlip(p=d.flip_p), shape),
        "jitter": on.float(),
        "brightness": jitter["brightness_factor"][on],
        "contrast": jitter["contrast_factor"][on],
        "saturation": jitter["saturation_factor"][on],
        "hue": jitter["hue_factor"][on],
        "grayscale": _gate(K.RandomGrayscale(p=d.grayscale_p), shape),
        "blur": blur["batch_prob"].float(),
        "sigma": blur["sigma"],
        "solarize": _gate(K.RandomSolarize(0.1, 0.1, p=d.solarize_p), shape),
    }


def _gate(module, shape: torch.Size) -> torch.Tensor:
    return module.forward_parameters(shape)["batch_prob"].float()


def p_value(a: torch.Tensor, b: torch.Tensor) -> float:
    """Two-sample Kolmogorov-Smirnov (exact on gates, conservative on integer crop sizes)."""
    return stats.ks_2samp(a.double().numpy(), b.double().numpy()).pvalue


@pytest.fixture(scope="module")
def kornia_paper() -> dict[str, torch.Tensor]:
    return kornias(PAPER)


@pytest.fixture(scope="module")
def ours_paper() -> dict[str, torch.Tensor]:
    return ours(PAPER)


def test_every_parameter_has_kornias_distribution(ours_paper, kornia_paper) -> None:
    p_values = {name: p_value(ours_paper[name], kornia_paper[name]) for name in kornia_paper}
    rejected = {name: p for name, p in p_values.items() if p < ALPHA}
    assert not rejected, rejected


CHANGES = [
    ("crop width", "crop_scale", (0.1, 1.0)),
    ("crop height", "crop_ratio", (0.6, 4 / 3)),
    ("flip", "flip_p", 0.48),
    ("jitter", "color_p", 0.78),
    ("brightness", "brightness", 0.75),
    ("contrast", "contrast", 0.85),
    ("saturation", "saturation", 0.75),
    ("hue", "hue", 0.19),
    ("grayscale", "grayscale_p", 0.21),
    ("sigma", "blur_sigma", (0.1, 1.9)),
    ("solarize", "solarize_p", 0.21),
]


@pytest.mark.parametrize(("name", "setting", "value"), CHANGES)
def test_a_changed_setting_is_rejected(kornia_paper, name: str, setting: str, value) -> None:
    """The test above has the power to see a small change of any one setting."""
    changed = ours(dataclasses.replace(PAPER, **{setting: value}))
    assert p_value(changed[name], kornia_paper[name]) < ALPHA


def test_jitter_orders_are_uniform_permutations_one_per_view() -> None:
    """Kornia draws one order of the four jitter steps per call (a view of the batch): so does
    the fused path, one per group, each of the 24 permutations equally often."""
    torch.manual_seed(0)
    counts = Counter()
    for _ in range(1200):
        p = draw_view_parameters(PAPER, 4, HEIGHT, WIDTH, groups=2)
        assert len(p.orders) == 2 and all(sorted(order) == [0, 1, 2, 3] for order in p.orders)
        counts.update(tuple(order) for order in p.orders)
    assert len(counts) == 24
    assert stats.chisquare(list(counts.values())).pvalue > ALPHA


def test_the_same_seed_draws_the_same_parameters() -> None:
    first, second = ours(PAPER, seed=4), ours(PAPER, seed=4)
    for name in first:
        assert torch.equal(first[name], second[name]), name
    assert not torch.equal(first["sigma"], ours(PAPER, seed=5)["sigma"])
