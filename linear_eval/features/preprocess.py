"""What is done to an image before f, and where f runs.

Evaluation preprocesses every image as the linear evaluation protocol does (SimCLR section 4,
appendix B.6): resized to a square of ``data.image_size``, converted to the encoder's channel
count and normalised, no augmentation. The same :class:`Preprocessing` is recorded with cached
features and with an index, so queries are preprocessed as their gallery was.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from linear_eval.config import EvalConfig
from simclr.data.config import normalization, resolved_channels
from simclr.preprocess import Normalize


@dataclass(frozen=True)
class Preprocessing:
    """What is done to an image before f: resize to a square, convert channels, normalise."""

    image_size: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    normalize: bool

    @classmethod
    def from_config(cls, config: EvalConfig) -> Preprocessing:
        mean, std = normalization(config.data, config.normalize.mean, config.normalize.std)
        channels = resolved_channels(config.data)
        enabled = config.normalize.enabled
        return cls(config.data.image_size, channels, tuple(mean), tuple(std), enabled)

    def module(self) -> Normalize:
        return Normalize(self.mean, self.std, enabled=self.normalize)


def select_device(name: str) -> torch.device:
    """``features.device``: auto (cuda when available, else cpu), cpu or cuda."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
