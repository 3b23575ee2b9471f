"""The data section (simclr/data/config.py): its checks, shared with evaluation or pretraining
only, and what it resolves to in the dataset table (channels, normalisation)."""

from __future__ import annotations

import pytest

from simclr.config import ConfigError, load_config
from simclr.data.config import DataConfig, normalization, resolved_channels


@pytest.mark.parametrize(
    "name, channels, resolved",
    [("fashion_mnist", None, 1), ("fashion_mnist", 3, 3), ("cifar10", None, 3), ("stl10", 1, 1)],
)
def test_resolved_channels_is_the_configured_or_the_datasets_own(
    name: str, channels: int | None, resolved: int
) -> None:
    assert resolved_channels(DataConfig(name=name, channels=channels)) == resolved


@pytest.mark.parametrize(
    "name, channels, mean",
    [
        ("fashion_mnist", None, [0.2860]),
        ("fashion_mnist", 3, [0.2860] * 3),
        ("cifar10", None, [0.4914, 0.4822, 0.4465]),
        ("cifar10", 1, [(0.4914 + 0.4822 + 0.4465) / 3]),
    ],
)
def test_normalization_fits_the_channel_count(name: str, channels, mean: list) -> None:
    got_mean, got_std = normalization(DataConfig(name=name, channels=channels))
    assert got_mean == pytest.approx(mean)
    assert len(got_std) == len(mean)
    explicit = normalization(DataConfig(name=name, channels=channels), [0.5], [0.5])
    assert explicit == ([0.5] * len(mean), [0.5] * len(mean))


def test_a_bad_decode_setting_names_the_allowed_ones() -> None:
    with pytest.raises(ConfigError) as error:
        load_config(None, ["data.decode=nvjpeg"])
    assert str(error.value) == "data.decode='nvjpeg' is invalid: allowed: auto, workers, device"
    for decode in ("auto", "workers", "device"):
        assert load_config(None, [f"data.decode={decode}"]).data.decode == decode


def test_data_checks_shared_with_evaluation_leave_out_pretraining_ones() -> None:
    data = DataConfig(batch_size=1, num_workers=-1)
    data.check()  # evaluation sets its own batch size and workers
    with pytest.raises(ConfigError, match="data.batch_size=1 is invalid"):
        data.check_for_pretraining()
    with pytest.raises(ConfigError, match="data.num_workers=-1 is invalid"):
        DataConfig(num_workers=-1).check_for_pretraining()
