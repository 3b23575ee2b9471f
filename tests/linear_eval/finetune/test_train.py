"""Tests of linear_eval/finetune/train.py: fine-tuning trains every weight of f and the new layer,
with the paper's optimizer, and is seeded."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from linear_eval.features.encoders import load_encoder
from linear_eval.finetune.train import Classifier, FineTune, fit
from linear_eval.finetune_config import FinetuneConfig
from simclr.data.splits import load_split
from simclr.preprocess import Normalize

pytestmark = pytest.mark.usefixtures("single_thread")

SETTINGS = FinetuneConfig(batch_size=8, progress_bar=False)
NORMALIZE = Normalize((0.3,), (0.3,))


def _fit(run_dir: Path, tmp_path: Path, synthetic, seed: int = 0) -> tuple[torch.nn.Module, ...]:
    loaded = load_encoder(run_dir)
    encoder = copy.deepcopy(loaded.encoder)
    classifier = Classifier(encoder, synthetic.classes, Normalize((0.3,), (0.3,)), seed)
    train = load_split(synthetic.pretrain_config().data, "train").subset(list(range(16)))
    fit(classifier, train, SETTINGS, 2, synthetic.size, [0.5, 1.0], tmp_path / "fit", [], "cpu")
    return loaded.encoder, classifier


def test_fine_tuning_changes_every_layer_of_the_encoder(run_dir: Path, tmp_path: Path, synthetic):
    original, classifier = _fit(run_dir, tmp_path, synthetic)
    before, after = original.state_dict(), classifier.encoder.state_dict()
    weights = [name for name, tensor in before.items() if tensor.is_floating_point()]
    changed = [name for name in weights if not torch.equal(before[name], after[name])]
    assert set(changed) == set(weights)  # every weight and BatchNorm statistic was trained
    assert (tmp_path / "fit" / "checkpoints" / "last.ckpt").is_file()


def test_fine_tuning_is_seeded(run_dir: Path, tmp_path: Path, synthetic) -> None:
    first = _fit(run_dir, tmp_path / "a", synthetic)[1].state_dict()
    again = _fit(run_dir, tmp_path / "b", synthetic)[1].state_dict()
    other = _fit(run_dir, tmp_path / "c", synthetic, seed=1)[1].state_dict()
    assert all(torch.equal(first[name], again[name]) for name in first)
    assert not all(torch.equal(first[name], other[name]) for name in first)


def test_the_optimizer_is_sgd_with_nesterov_and_the_scaled_rate(run_dir: Path) -> None:
    encoder = load_encoder(run_dir).encoder
    classifier = Classifier(encoder, 4, Normalize((0.5,), (0.5,)), 0)
    settings = FinetuneConfig(batch_size=512, base_lr=0.05)
    module = FineTune(classifier, settings, 16, [0.5, 1.0], steps=10, train=[])
    optimizer = module.configure_optimizers()["optimizer"]
    group = optimizer.param_groups[0]
    assert isinstance(optimizer, torch.optim.SGD) and group["nesterov"]
    assert group["lr"] == pytest.approx(0.1) and group["weight_decay"] == 0.0  # 0.05 x 512/256
    trained = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert trained == {id(p) for p in classifier.parameters()}  # f is not frozen


def test_two_processes_train_on_the_global_batch_and_hand_the_weights_back(
    run_dir: Path, tmp_path: Path, synthetic
) -> None:
    """finetune.devices=2: two CPU processes over gloo (ddp_spawn) step once per global batch
    of 2 x 4 images, at the rate of that batch, and this process holds what they trained."""
    loaded = load_encoder(run_dir)
    classifier = Classifier(copy.deepcopy(loaded.encoder), synthetic.classes, NORMALIZE, 0)
    settings = FinetuneConfig(batch_size=4, devices=2, schedule="constant", progress_bar=False)
    train = load_split(synthetic.pretrain_config().data, "train").subset(list(range(16)))
    result = fit(classifier, train, settings, 2, synthetic.size, [0.5, 1.0], tmp_path, [], "cpu")
    assert result.steps == 2 * 2  # 16 images / global batch 8, twice
    saved = torch.load(result.checkpoint, map_location="cpu", weights_only=True)
    assert saved["global_step"] == result.steps
    trained = classifier.state_dict()
    for name, tensor in trained.items():
        assert torch.equal(saved["state_dict"][f"classifier.{name}"], tensor), name
    first_layer = loaded.encoder.state_dict()["backbone.conv1.weight"]
    assert not torch.equal(first_layer, trained["encoder.backbone.conv1.weight"])
    group = saved["optimizer_states"][0]["param_groups"][0]
    assert group["lr"] == pytest.approx(0.05 * 8 / 256)  # the global batch's rate
