"""Tests of linear_eval/protocols/augmented_probe.py: crops and flips drawn per image without
Kornia, and the crop-and-flip probe that only reads the encoder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from linear_eval.features.encoders import load_encoder
from linear_eval.features.extract import extract_features
from linear_eval.protocols.augmented_probe import CropAndFlip, augmented_linear_probe


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize(("channels", "height", "width"), [(1, 16, 16), (3, 20, 12)])
def test_every_image_is_cropped_to_the_image_size(channels: int, height: int, width: int):
    images = torch.rand(5, channels, height, width)
    views = CropAndFlip(8, [0.08, 1.0])(images)
    assert views.shape == (5, channels, 8, 8) and views.dtype == images.dtype
    assert 0.0 <= views.min() and views.max() <= 1.0


@pytest.mark.usefixtures("seeded")
def test_crops_are_drawn_for_each_image_of_a_batch() -> None:
    images = torch.rand(1, 1, 16, 16).expand(8, -1, -1, -1)  # one image, eight times
    views = CropAndFlip(16, [0.08, 1.0])(images)
    distinct = {tuple(view.flatten().tolist()) for view in views}
    assert len(distinct) == 8


@pytest.mark.usefixtures("seeded")
def test_flips_are_drawn_for_each_image_of_a_batch() -> None:
    image = torch.rand(1, 16, 16)
    # the whole image is the only crop of scale 1: what is left to draw is the flip
    views = CropAndFlip(16, [1.0, 1.0])(image.expand(32, -1, -1, -1))
    flipped = [torch.allclose(v, image.flip(-1), atol=1e-6) for v in views]
    kept = [torch.allclose(v, image, atol=1e-6) for v in views]
    assert all(f != k for f, k in zip(flipped, kept))  # each view is one or the other
    assert 4 < sum(flipped) < 28  # both in one batch, about half each


def test_evaluation_imports_no_kornia() -> None:
    code = "import sys, linear_eval.protocols.augmented_probe; print('kornia' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "False"


@pytest.mark.usefixtures("single_thread", "seeded")
def test_the_probe_reads_the_encoder_only_and_reports_its_settings(
    run_dir: Path, synthetic, bit_identical
) -> None:
    loaded = load_encoder(run_dir)
    config = synthetic.eval_config(loaded.pretrain_config, "linear.augment_epochs=2")
    train = extract_features(loaded.extractor, config, "train", None, run_dir / "cache")
    test = extract_features(loaded.extractor, config, "test", None, run_dir / "cache")
    loaded.encoder.train()
    check = bit_identical(loaded.encoder)
    result = augmented_linear_probe(loaded.extractor, config, train, test, weight_decay=1e-3)
    check()
    assert loaded.encoder.training  # its mode is given back
    assert result["epochs"] == 2 and result["weight_decay"] == 1e-3
    assert 0.0 <= result["top1"] <= result["top5"] <= 1.0


@pytest.mark.usefixtures("single_thread")
def test_the_probe_depends_on_its_seed_alone(run_dir: Path, synthetic) -> None:
    """The crops and flips come from a generator seeded with ``seed``: whatever torch's global
    random state was before, the same seed gives the same probe, and the state is given back."""
    loaded = load_encoder(run_dir)
    config = synthetic.eval_config(loaded.pretrain_config, "linear.augment_epochs=1")
    train = extract_features(loaded.extractor, config, "train", None, run_dir / "cache")
    test = extract_features(loaded.extractor, config, "test", None, run_dir / "cache")
    results = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        state = torch.random.get_rng_state()
        result = augmented_linear_probe(loaded.extractor, config, train, test, weight_decay=0.0)
        assert torch.equal(torch.random.get_rng_state(), state)
        results.append((result["top1"], result["top5"]))
    assert results[0] == results[1]
