"""Tests of linear_eval/features/preprocess.py: the preprocessing read from the config, its
normalisation module, and the device chosen for f."""

from __future__ import annotations

import pytest
import torch

from linear_eval.config import load_eval_config
from linear_eval.features.preprocess import Preprocessing, select_device


def test_the_preprocessing_is_the_datasets_unless_set(synthetic) -> None:
    pretrain = synthetic.pretrain_config()  # the synthetic dataset's 16 px, its mean and std
    config = synthetic.eval_config(pretrain)
    assert Preprocessing.from_config(config) == Preprocessing(16, 1, (0.3,), (0.3,), True)
    config = synthetic.eval_config(pretrain, "normalize.mean=[0.5]", "normalize.std=[0.25]")
    assert Preprocessing.from_config(config).mean == (0.5,)
    assert not Preprocessing.from_config(
        load_eval_config(None, None, ["normalize.enabled=false"])
    ).normalize


def test_the_module_normalises_unit_images_with_its_statistics() -> None:
    images = torch.full((2, 1, 4, 4), 0.8)
    normalised = Preprocessing(4, 1, (0.3,), (0.5,), True).module()(images)
    torch.testing.assert_close(normalised, torch.full((2, 1, 4, 4), 1.0))
    unchanged = Preprocessing(4, 1, (0.3,), (0.5,), False).module()(images)
    torch.testing.assert_close(unchanged, images)


@pytest.mark.parametrize("name", ["cpu", "auto"])
def test_the_device_is_cuda_only_when_asked_or_available(name: str) -> None:
    expected = "cuda" if name == "auto" and torch.cuda.is_available() else "cpu"
    assert select_device(name) == torch.device(expected)
