"""The augment section (simclr/config/augment.py): each op's subsection checks its own values."""

from __future__ import annotations

import pytest

from simclr.config import ConfigError
from simclr.config.augment import AugmentConfig


def test_augment_check_covers_every_op() -> None:
    config = AugmentConfig()
    config.solarize.threshold = 1.5
    with pytest.raises(ConfigError, match="augment.solarize.threshold=1.5"):
        config.check()
    config = AugmentConfig()
    config.normalize.std = [0.5, 0.0, 0.5]
    with pytest.raises(ConfigError, match="augment.normalize.std"):
        config.check()
    config = AugmentConfig()
    config.color.strength = 3.0  # hue jitter 0.6 > 0.5
    with pytest.raises(ConfigError, match="augment.color.strength=3.0"):
        config.check()
