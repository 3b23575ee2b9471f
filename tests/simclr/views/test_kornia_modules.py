"""Kornia's modules for t ~ T (simclr/views/kornia_modules.py): the blur's kernel size, by hand and
as the module is built."""

from __future__ import annotations

import kornia.augmentation as K
import pytest

from simclr.config import AugmentConfig
from simclr.views.kornia_modules import blur_kernel_size, build_augmentations, view_options


def ops_of(config: AugmentConfig, image_size: int, channels: int):
    return build_augmentations(image_size, channels, **view_options(config))


@pytest.mark.parametrize(
    "image_size, fraction, kernel",
    [
        (224, 0.1, 23),  # 22.4 -> 22, even -> 23
        (96, 0.1, 11),  # 9.6 -> 10 -> 11
        (64, 0.1, 7),  # 6.4 -> 6 -> 7
        (50, 0.1, 5),  # 5, already odd
        (32, 0.1, 3),  # 3.2 -> 3
        (28, 0.1, 3),  # 2.8 -> 3
        (16, 0.1, 3),  # 1.6 -> 2 -> 3
        (8, 0.1, 3),  # 0.8 -> 1, raised to the minimum 3
        (100, 0.25, 25),
    ],
)
def test_blur_kernel_size_by_hand(image_size: int, fraction: float, kernel: int) -> None:
    assert blur_kernel_size(image_size, fraction) == kernel


def test_blur_uses_that_kernel_size() -> None:
    blur = next(op for op in ops_of(AugmentConfig(), 96, 3) if isinstance(op, K.RandomGaussianBlur))
    assert blur.flags["kernel_size"] == 11
