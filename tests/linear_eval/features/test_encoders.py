"""Tests of linear_eval/features/encoders.py: loading f, fingerprints, baselines, frozen mode."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from linear_eval.features.encoders import (
    RAW_PIXELS,
    fingerprint,
    frozen,
    load_encoder,
    random_encoder,
    raw_pixels,
)
from simclr.errors import ConfigError

pytestmark = pytest.mark.usefixtures("single_thread")


def test_checkpoint_and_exported_encoder_load_the_same_weights(run_dir: Path, synthetic) -> None:
    from_checkpoint = load_encoder(run_dir / "checkpoints" / "last.ckpt")
    from_export = load_encoder(run_dir / "encoder.pt")
    from_dir = load_encoder(run_dir)
    assert from_checkpoint.extractor.fingerprint == from_export.extractor.fingerprint
    assert from_dir.source == run_dir / "encoder.pt"
    assert from_checkpoint.run_dir == from_export.run_dir == run_dir
    images = torch.randn(2, 1, synthetic.size, synthetic.size)
    with frozen(from_checkpoint.encoder), frozen(from_export.encoder):
        assert torch.equal(from_checkpoint.encoder(images), from_export.encoder(images))
    assert from_export.pretrain_config is not None
    assert from_export.pretrain_config.data.name == from_checkpoint.pretrain_config.data.name


def test_fingerprint_changes_with_any_weight_or_buffer(run_dir: Path) -> None:
    encoder = load_encoder(run_dir).encoder
    original = fingerprint(encoder)
    with torch.no_grad():
        encoder.backbone.layer4[1].conv2.weight[0, 0, 0, 0] += 1e-6
    changed_weight = fingerprint(encoder)
    encoder.backbone.bn1.running_mean[0] += 1.0
    assert len({original, changed_weight, fingerprint(encoder)}) == 3


def test_random_encoder_is_seeded_and_not_the_pretrained_one(run_dir: Path) -> None:
    pretrained = load_encoder(run_dir)
    state = torch.get_rng_state()
    first = random_encoder(pretrained.encoder, seed=3)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left alone
    assert first.fingerprint == random_encoder(pretrained.encoder, seed=3).fingerprint
    assert first.fingerprint != random_encoder(pretrained.encoder, seed=4).fingerprint
    assert first.fingerprint != pretrained.extractor.fingerprint
    assert first.model.describe() == pretrained.encoder.describe()


@pytest.mark.parametrize("residual", [True, False])
def test_random_init_of_a_wide_small_resnet_is_the_same_network(residual: bool) -> None:
    from simclr.encoder import Encoder

    like = Encoder("cifar_resnet20", in_channels=1, residual=residual, width=2, shortcut="B")
    baseline = random_encoder(like, seed=0).model
    assert baseline.describe() == like.describe()  # width, shortcut and plainness kept
    shapes = {name: tensor.shape for name, tensor in like.state_dict().items()}
    assert {name: tensor.shape for name, tensor in baseline.state_dict().items()} == shapes


def test_raw_pixels_flatten_the_image() -> None:
    extractor = raw_pixels()
    images = torch.arange(24.0).view(2, 3, 2, 2)
    assert extractor.name == RAW_PIXELS
    assert torch.equal(extractor.model(images), images.view(2, 12))


def test_frozen_restores_the_mode_and_blocks_gradients() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2)).train()
    with frozen(model):
        assert not model.training
        assert not model(torch.randn(3, 2)).requires_grad
    assert model.training


def test_missing_or_foreign_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_encoder(tmp_path / "nothing.ckpt")
    with pytest.raises(ConfigError, match="no encoder.pt"):
        load_encoder(tmp_path)
    torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
    with pytest.raises(ConfigError, match="not a simclr pretraining checkpoint"):
        load_encoder(tmp_path / "other.ckpt")
    torch.save({}, tmp_path / "encoder.pt")
    with pytest.raises(ConfigError, match="encoder.yaml"):
        load_encoder(tmp_path / "encoder.pt")


def test_unreadable_checkpoints_are_one_line_config_errors(tmp_path):
    from simclr.encoder import Encoder

    corrupt = tmp_path / "last.ckpt"
    corrupt.write_bytes(b"not a torch file")
    with pytest.raises(ConfigError, match="not a readable PyTorch file"):
        load_encoder(corrupt)
    exported = tmp_path / "encoder.pt"
    torch.save(Encoder("resnet18", "small", 1).backbone.state_dict(), exported)
    (tmp_path / "encoder.yaml").write_text("name: resnet34\nstem: small\nin_channels: 1\n")
    with pytest.raises(ConfigError, match="weights do not fit the encoder") as caught:
        load_encoder(exported)
    assert "\n" not in str(caught.value)
